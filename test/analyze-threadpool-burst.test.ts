// A real sub-second threadpool burst (pbkdf2 calls saturating a pool of two threads for a fraction
// of a second) is found with the default thresholds: a threadpool-burst finding with its window,
// not "no threadpool pressure".

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { describeRun, expectCleanExit, removeTempDirs, requireBuild, result, ROOT, runFixture, tempDir } from './fixtures/recorder/harness.js';

const CLI = join(ROOT, 'dist/cli/analyze-trace.js');

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('finds a sub-second pbkdf2 burst by default, with its window', async () => {
  const path = join(tempDir(), 'burst.bin');
  const run = await runFixture('../analyze/pbkdf2-burst.mjs', { path, calls: 8, callMs: 80 }, { timeoutMs: 60_000, env: { UV_THREADPOOL_SIZE: '2' } });
  expectCleanExit(run);
  const { burstMs } = result<{ burstMs: number }>(run);
  expect(burstMs, describeRun(run)).toBeLessThan(3000);
  const json = spawnSync(process.execPath, [CLI, path, '--json'], { encoding: 'utf8', timeout: 30_000 });
  const r = JSON.parse(json.stdout) as TraceReport;
  expect(r.threadpool.threadpoolSize).toBe(2);
  // Shorter than the 3 s sustain: no sustained pressure, but a burst.
  expect(r.threadpool.pressure.flagged).toBe(false);
  const burst = r.threadpool.bursts.items[0];
  expect(burst, JSON.stringify(r.threadpool.delay)).toBeDefined();
  expect(burst!.queuedNs).toBeGreaterThanOrEqual(100e6);
  // The burst lies within the calls' span (from 400 ms after start, plus their duration and slack).
  expect(burst!.durationNs).toBeLessThan(burstMs * 1e6 + 200e6);
  expect(r.findings.map((f) => f.kind)).toContain('threadpool-burst');
  const text = spawnSync(process.execPath, [CLI, path], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
  expect(text.stdout).toMatch(/The libuv threadpool was saturated in a short burst: from \d\d:\d\d:\d\d\.\d{3} for/);
  expect(text.stdout).toMatch(/▲ burst from/);
  expect(text.stdout).not.toMatch(/✔ No long tasks, idle workers or threadpool pressure/);
}, 90_000);
