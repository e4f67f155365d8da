// Synchronous waits, end to end through analyze-trace: a 200 ms Atomics.wait and a 150 ms
// execSync('sleep 0.15'), each in a named function. Each is a long task whose three-way split
// says waiting (not on CPU, not runnable), and whose sampled stacks name the caller; a stack that
// V8 could only give once the thread was back in JavaScript says how late it was.

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { expectCleanExit, MS, removeTempDirs, requireBuild, result, ROOT, runFixture, tempDir, traceTime, decodeTraceFile } from './fixtures/recorder/harness.js';

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('each wait is a long task that reads waiting, with stacks that name the waiting function', async () => {
  const path = join(tempDir(), 'waits.bin');
  const run = await runFixture('../attribution/waits.mjs', { path }, { timeoutMs: 30_000 });
  expectCleanExit(run);
  const { windows } = result<{ windows: Record<'atomicsWait' | 'execSync', { from: string; to: string }> }>(run);
  const header = decodeTraceFile(path).headers[0]!;
  expect(header.capabilities! & 1, 'the recorder read scheduler statistics').toBe(1);
  const json = execFileSync(process.execPath, [join(ROOT, 'dist/cli/analyze-trace.js'), path, '--json', '--long-task-ms', '100'], { encoding: 'utf8' });
  const report = JSON.parse(json) as TraceReport;
  for (const [window, caller] of [['atomicsWait', 'waitForLock'], ['execSync', 'runChild']] as const) {
    const from = traceTime(header, windows[window].from);
    const to = traceTime(header, windows[window].to);
    const task = report.longTasks.items.find((t) => t.threadId === 1 && t.startNs <= from + MS && t.startNs + t.durationNs >= to - MS);
    expect(task, `${window}: no long task covers ${from}..${to}: ${JSON.stringify(report.longTasks.items.map((t) => [t.startNs, t.durationNs]))}`).toBeDefined();
    const split = task!.split!;
    expect(split.runnableNs, `${window}: the split has runnable time`).not.toBeNull();
    expect(split.waitingNs! / split.wallNs, `${window}: ${JSON.stringify(split)}`).toBeGreaterThan(0.5);
    expect(split.onCpuNs / split.wallNs, window).toBeLessThan(0.3);
    const stacks = task!.attribution.stacks;
    expect(stacks.length, window).toBeGreaterThanOrEqual(1);
    const named = stacks.filter((s) => s.callFrames.some((f) => f.function === caller));
    // Every stack that has frames names the caller. A stack without frames was taken when V8
    // next ran an interrupt check after the native call returned, outside any function (newer
    // Node.js versions get there only in the microtask queue): it must then say how late it was.
    for (const s of stacks) {
      if (s.callFrames.length > 0) expect(s.callFrames.map((f) => f.function), window).toContain(caller);
      else expect(s.maxLagNs, `${window}: a stack without frames`).toBeGreaterThanOrEqual(50 * MS);
    }
    if (window === 'atomicsWait') {
      // Atomics.wait serves interrupts while it waits: samples every 10 ms, each naming the caller.
      expect(named.reduce((n, s) => n + s.samples, 0), window).toBeGreaterThanOrEqual(3);
      expect(task!.attribution.blocking?.frame.function).toBe(caller);
    }
  }
}, 60_000);
