// Worker teardown with stack requests in flight: 200 workers, each terminated while blocked in
// native code with the watchdog's interrupt still pending, must not crash the process.

import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { decodeTraceFile, describeRun, expectCleanExit, expectNoDiagnostics, ofType, removeTempDirs, requireBuild, result, runFixture, tempDir, TIME_SCALE } from './fixtures/recorder/harness.js';

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('200 workers terminated with a stack request pending: no crash, and the trace decodes', async () => {
  const path = join(tempDir(), 'terminate.bin');
  const run = await runFixture('../attribution/terminate-pending.mjs', { path, workers: 200, concurrency: 8, seed: 7 }, { timeoutMs: 120_000 });
  expectCleanExit(run);
  const out = result<{ terminated: number; stackRequests: number }>(run);
  expect(out.terminated).toBe(200);
  // The requests were really made while workers were busy (a starved watchdog makes fewer, so
  // this asks for many, not for one per worker).
  expect(out.stackRequests, describeRun(run)).toBeGreaterThanOrEqual(50);
  const trace = decodeTraceFile(path);
  expectNoDiagnostics(trace);
  const stops = ofType(trace.records, 'threadStop').filter((r) => r.threadId > 1);
  expect(stops.filter((r) => r.reason === 1)).toHaveLength(200);
}, 150_000 * TIME_SCALE);
