// A CPU block on a core shared with two busy processes: the long task's split shows runnable time
// (descheduled, waiting for the core), not waiting, through analyze-trace.

import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { decodeTraceFile, expectCleanExit, MS, removeTempDirs, requireBuild, result, ROOT, runFixture, tempDir, traceTime } from './fixtures/recorder/harness.js';

beforeAll(() => {
  requireBuild();
  // taskset (util-linux) pins the fixture and its burners to one CPU.
  expect(spawnSync('taskset', ['-c', '0', 'true']).status, 'taskset is needed for this test').toBe(0);
});
afterAll(() => removeTempDirs());

it('a CPU block that competes for its core reads runnable', async () => {
  const path = join(tempDir(), 'contended.bin');
  const run = await runFixture('../attribution/contended.mjs', { path }, { timeoutMs: 30_000, wrap: (argv) => ['taskset', '-c', '0', ...argv] });
  expectCleanExit(run);
  const { window } = result<{ window: { from: string; to: string } }>(run);
  const header = decodeTraceFile(path).headers[0]!;
  const report = JSON.parse(execFileSync(process.execPath, [join(ROOT, 'dist/cli/analyze-trace.js'), path, '--json', '--long-task-ms', '100'], { encoding: 'utf8' })) as TraceReport;
  const from = traceTime(header, window.from);
  const to = traceTime(header, window.to);
  const task = report.longTasks.items.find((t) => t.threadId === 1 && t.startNs <= from + MS && t.startNs + t.durationNs >= to - MS);
  expect(task, JSON.stringify(report.longTasks.items.map((t) => [t.startNs, t.durationNs]))).toBeDefined();
  const split = task!.split!;
  // Three runnable processes on one core: this thread runs about a third of the time.
  expect(split.runnableNs! / split.wallNs, JSON.stringify(split)).toBeGreaterThan(0.3);
  expect(split.waitingNs! / split.wallNs, JSON.stringify(split)).toBeLessThan(0.15);
}, 60_000);
