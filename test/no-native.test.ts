// Without any usable native addon (no compiler at install, build scripts ignored, an unsupported
// platform): starting telemetry never breaks the application, and the decoder and analyze-trace,
// which are pure TypeScript, still work.

import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeAppRun, makeApp, packageWithoutNative, removeApps, runNode } from './fixtures/production/app.js';
import { expectNoStackTrace, requireBuild, ROOT } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeApps);

describe('a package with no native addon', () => {
  it('start returns an inert handle that says why, and the app runs on', async () => {
    const dir = makeApp(
      {
        'app.cjs': `
const { startRuntimeTelemetry, RotatingWriter } = require('looptrace');
const errors = [];
const t = startRuntimeTelemetry({ writer: new RotatingWriter(__dirname + '/traces/trace.bin'), onError: (e) => errors.push(e.code) });
setTimeout(() => {
  process.stdout.write('RESULT ' + JSON.stringify({ errors, stats: t.stats() }) + '\\n');
}, 20);
`,
      },
      packageWithoutNative(),
    );
    const run = await runNode(dir, ['app.cjs']);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.result['errors']).toEqual(['NATIVE_UNAVAILABLE']);
    expect(run.result['stats']).toMatchObject({ running: false, startError: expect.stringMatching(/cannot load the native addon/) });
  });

  it('the zero-code preload warns once and the app runs on', async () => {
    const dir = makeApp({ 'app.mjs': "setTimeout(() => console.log('app ran'), 20);" }, packageWithoutNative());
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs']);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stdout).toContain('app ran');
    expectNoStackTrace(run.stderr);
    expect(run.stderr.match(/cannot load the native addon/g)?.length, run.stderr).toBe(1);
  });

  it('analyze-trace reads a trace recorded elsewhere', async () => {
    const pkg = packageWithoutNative();
    const dir = makeApp({}, pkg);
    const run = await runNode(dir, [join(pkg, 'dist/cli/analyze-trace.js'), '--json', join(ROOT, 'test/vectors/rotated-0.bin')]);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(() => JSON.parse(run.stdout)).not.toThrow();
  });

  it('looptrace/format and looptrace/analyze decode and analyze without native code; the root exports no binding', async () => {
    const dir = makeApp(
      {
        'tool.mjs': `
import { readFileSync } from 'node:fs';
import { decodeBytes } from 'looptrace/format';
import { analyzeTraces, resolveInput } from 'looptrace/analyze';
const root = await import('looptrace');
const d = decodeBytes(readFileSync(process.argv[2]));
const [report] = analyzeTraces(resolveInput([process.argv[2]]).traces);
process.stdout.write('RESULT ' + JSON.stringify({ records: d.records.length, threads: report.threads.length, loadBinding: typeof root.loadBinding }) + '\\n');
`,
      },
      packageWithoutNative(),
    );
    const run = await runNode(dir, ['tool.mjs', join(ROOT, 'test/vectors/rotated-0.bin')]);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.result['records']).toBeGreaterThan(0);
    expect(run.result['threads']).toBeGreaterThan(0);
    expect(run.result['loadBinding']).toBe('undefined');
  });
});
