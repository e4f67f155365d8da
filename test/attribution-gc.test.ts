// GC pauses on the timeline: a program that forces major GCs among an allocation churn. The
// GC_PAUSE records must agree with Node's own PerformanceObserver('gc') entries over the same run:
// counts and total pause within 10%, major GCs counted the same way.

import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeTraceFile, describeRun, expectCleanExit, expectNoDiagnostics, MS, ofType, removeTempDirs, requireBuild, result, runFixture, tempDir, TIME_SCALE } from './fixtures/recorder/harness.js';

const MAJOR = 4; // V8's kGCTypeMarkSweepCompact

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('GC_PAUSE records agree with PerformanceObserver("gc") within 10% (count and total pause)', async () => {
  const path = join(tempDir(), 'gc.bin');
  const run = await runFixture('../attribution/gc.mjs', { path, rounds: 30 }, { execArgv: ['--expose-gc'], timeoutMs: 60_000 });
  expectCleanExit(run);
  const out = result<{ entries: { kind: number; durationMs: number }[]; attribution: { gcPauses: boolean } }>(run);
  expect(out.attribution.gcPauses, describeRun(run)).toBe(true);
  const trace = decodeTraceFile(path);
  expectNoDiagnostics(trace);
  const pauses = ofType(trace.records, 'gcPause', 1);
  const observed = out.entries;
  const majorObserved = observed.filter((e) => e.kind === MAJOR).length;
  const majorRecorded = pauses.filter((p) => p.gcType === MAJOR).length;
  expect(majorObserved).toBeGreaterThanOrEqual(30);
  expect(Math.abs(majorRecorded - majorObserved) / majorObserved, `major: recorded ${majorRecorded}, observed ${majorObserved}`).toBeLessThanOrEqual(0.1);
  // Telemetry starts before the observer and stops after it: it may see a few more pauses.
  expect(Math.abs(pauses.length - observed.length) / observed.length, `all: recorded ${pauses.length}, observed ${observed.length}`).toBeLessThanOrEqual(0.1);
  const recordedMs = pauses.reduce((sum, p) => sum + p.durationNs, 0) / MS;
  const observedMs = observed.reduce((sum, e) => sum + e.durationMs, 0);
  expect(Math.abs(recordedMs - observedMs) / observedMs, `total pause: recorded ${recordedMs.toFixed(2)} ms, observed ${observedMs.toFixed(2)} ms`).toBeLessThanOrEqual(0.1);
}, 90_000 * TIME_SCALE);
