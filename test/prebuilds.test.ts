// An installed package whose install script never ran (pnpm's ignored build scripts, npm's
// allowScripts, --ignore-scripts) still records, from the prebuilt binaries that
// scripts/prebuild.mjs places where node-gyp-build looks: prebuilds/<platform>-<arch>/looptrace.node
// (N-API, any Node) and native/attribution/prebuilds/<platform>-<arch>/looptrace_v8.abi<N>.node.
// Here the binaries of this checkout's build stand in for prebuildify's output under those names.

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeAppRun, makeApp, removeApps, runNode } from './fixtures/production/app.js';
import { decodeTraceFiles, ofType, requireBuild, ROOT } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeApps);

const platform = `${process.platform}-${process.arch}`;

/** The package as installed from a tarball with prebuilds, before (or without) its install script. */
function packageWithPrebuilds(): string {
  const dir = mkdtempSync(join(tmpdir(), 'looptrace-prebuilt-'));
  for (const f of ['package.json', 'dist', 'scripts', 'binding.gyp']) cpSync(join(ROOT, f), join(dir, f), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  mkdirSync(join(dir, 'prebuilds', platform), { recursive: true });
  cpSync(join(ROOT, 'build/Release/looptrace.node'), join(dir, 'prebuilds', platform, 'looptrace.node'));
  const v8 = join(ROOT, 'native/attribution/build/Release/looptrace_v8.node');
  if (existsSync(v8)) {
    mkdirSync(join(dir, 'native/attribution/prebuilds', platform), { recursive: true });
    cpSync(v8, join(dir, 'native/attribution/prebuilds', platform, `looptrace_v8.abi${process.versions.modules}.node`));
  }
  return dir;
}

describe('prebuilt binaries', () => {
  it('an app records with no install script run and no build/ directory', async () => {
    const pkg = packageWithPrebuilds();
    expect(existsSync(join(pkg, 'build'))).toBe(false);
    const dir = makeApp({ 'app.mjs': 'setTimeout(() => {}, 100);' }, pkg);
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { LOOPTRACE_STACK_THRESHOLD_MS: '0', LOOPTRACE_GC_PAUSES: '0' });
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr, describeAppRun(run)).toBe('');
    const trace = await decodeTraceFiles(readdirSync(join(dir, 'looptrace-traces')).map((f) => join(dir, 'looptrace-traces', f)));
    expect(ofType(trace.records, 'pollStart').length).toBeGreaterThan(0);
  });

  it('the prebuilt attribution part for this Node ABI samples stacks', async () => {
    const pkg = packageWithPrebuilds();
    expect(existsSync(join(pkg, 'build'))).toBe(false);
    // A 300 ms block on the main thread: with the attribution part loaded, it gets stack samples.
    const dir = makeApp({ 'app.mjs': "function blockCpu() { const s = Date.now(); while (Date.now() - s < 300); }\nsetTimeout(blockCpu, 20); setTimeout(() => {}, 400);" }, pkg);
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { LOOPTRACE_STACK_THRESHOLD_MS: '20' });
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr, describeAppRun(run)).toBe('');
    const report = spawnSync(process.execPath, [join(ROOT, 'dist/cli/analyze-trace.js'), '--json', join(dir, 'looptrace-traces')], { encoding: 'utf8' });
    expect(report.status, report.stderr).toBe(0);
    expect((JSON.parse(report.stdout) as { trace: { records: number } }).trace.records).toBeGreaterThan(0);
    const trace = await decodeTraceFiles(readdirSync(join(dir, 'looptrace-traces')).map((f) => join(dir, 'looptrace-traces', f)));
    expect(ofType(trace.records, 'stackSample').length, 'stack samples from the prebuilt attribution part').toBeGreaterThan(0);
  });

  it('the install script uses a prebuilt binary that loads instead of compiling', () => {
    const pkg = packageWithPrebuilds();
    const out = spawnSync(process.execPath, [join(pkg, 'scripts/build-native.mjs')], { cwd: pkg, encoding: 'utf8', env: { ...process.env, LOOPTRACE_BUILD_FROM_SOURCE: undefined } });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain(`using the prebuilt prebuilds/${platform}/looptrace.node`);
    // The core was not compiled (the attribution part is, where it has no prebuild for this ABI).
    expect(existsSync(join(pkg, 'build'))).toBe(false);
  });
});
