// An idle process has sparse queue samples and probes (the idle timer's, every 2 s, instead of
// every 100 and 50 ms): analyze-trace must read the stretches without them as idle, not as
// missing data or as threadpool pressure.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { expectCleanExit, removeTempDirs, requireBuild, ROOT, runFixture, tempDir } from './fixtures/recorder/harness.js';

const CLI = join(ROOT, 'dist/cli/analyze-trace.js');

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('reads an idle process with sparse samples as idle: no pressure, no holes', async () => {
  const path = join(tempDir(), 'idle.bin');
  const run = await runFixture('../analyze/idle-process.mjs', { path, idleMs: 5000 }, { timeoutMs: 60_000 });
  expectCleanExit(run);
  const json = spawnSync(process.execPath, [CLI, path, '--json'], { encoding: 'utf8', timeout: 30_000 });
  const r = JSON.parse(json.stdout) as TraceReport;
  const main = r.threads.find((t) => t.threadId === 1)!;
  // The loop slept: almost all of the time is idle in the poll, in few iterations.
  expect(main.utilization).not.toBeNull();
  expect(main.utilization!).toBeLessThan(0.05);
  expect(main.idleNs).toBeGreaterThan(4e9);
  // A few probes (5 s at 50 ms would be 100), all fast; no pressure, no burst.
  expect(r.threadpool.delay.count).toBeGreaterThanOrEqual(1);
  expect(r.threadpool.delay.count).toBeLessThan(20);
  expect(r.threadpool.pressure.flagged).toBe(false);
  expect(r.threadpool.bursts.items).toEqual([]);
  // Seconds without a probe are empty buckets (count 0, delay 0), not pressure.
  const empty = r.threadpool.series.buckets.filter((b) => b.count === 0);
  expect(empty.length).toBeGreaterThan(0);
  for (const b of empty) expect(b.p90Ns).toBe(0);
  expect(r.findings.map((f) => f.kind).filter((k) => k.startsWith('threadpool'))).toEqual([]);
  const text = spawnSync(process.execPath, [CLI, path], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
  expect(text.stdout).toMatch(/No long tasks, idle workers or threadpool pressure/);
}, 90_000);
