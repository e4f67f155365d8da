// Without the attribution part (looptrace_v8.node missing, or built for another Node.js), telemetry
// starts and records everything else; stats() and the trace header say why there are no stacks.

import { cpSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeTraceFile, describeRun, expectCleanExit, expectNoDiagnostics, ofType, removeTempDirs, requireBuild, result, ROOT, runFixture, tempDir } from './fixtures/recorder/harness.js';

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('a package without looptrace_v8.node records loops, no stacks, and says why', async () => {
  const dir = tempDir();
  const packageDir = join(dir, 'looptrace');
  mkdirSync(packageDir);
  cpSync(join(ROOT, 'package.json'), join(packageDir, 'package.json'));
  // A copy, not a link: the package finds its root from the real path of dist/.
  cpSync(join(ROOT, 'dist'), join(packageDir, 'dist'), { recursive: true });
  symlinkSync(join(ROOT, 'build'), join(packageDir, 'build'));
  symlinkSync(join(ROOT, 'node_modules'), join(packageDir, 'node_modules'));
  const path = join(dir, 'degraded.bin');
  const run = await runFixture('../attribution/degraded.mjs', { packageDir, path });
  expectCleanExit(run);
  const out = result<{ attribution: { stacks: boolean; gcPauses: boolean; note?: string }; records: number; errors: string[] }>(run);
  expect(out.errors).toEqual([]);
  expect(out.records).toBeGreaterThan(0);
  expect(out.attribution.stacks, describeRun(run)).toBe(false);
  expect(out.attribution.gcPauses).toBe(false);
  expect(out.attribution.note).toMatch(/no stacks and no GC pauses: the attribution part \(looptrace_v8\.node\) for Node v\d+/);
  const trace = decodeTraceFile(path);
  expectNoDiagnostics(trace);
  expect(ofType(trace.records, 'pollEnd', 1).length).toBeGreaterThan(0);
  expect(ofType(trace.records, 'stackSample')).toEqual([]);
  expect(ofType(trace.records, 'gcPause')).toEqual([]);
});
