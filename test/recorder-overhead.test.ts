// Nothing left running that need not run, and the recorder's account of its own cost
// (docs/COMPARE-OVERHEAD.md): behaviour, not timing. A disabled process shows no wake-ups of
// looptrace's threads and no timer ticks on its loop (counted from /proc); a thread that exits
// while disabled still gets its THREAD_STOP without stop(); stats() gives selfCpuNs and
// selfCpuRatio, and the trace carries SELF_COST records that analyze-trace adds up.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeTraces, resolveInput } from '../src/analyze/index.js';
import { renderText } from '../src/cli/render-text.js';
import { palette } from '../src/cli/ansi.js';
import type { SelfCpuStats, TelemetryStats } from '../src/index.js';
import {
  decodeTraceFile,
  expectCleanExit,
  ofType,
  removeTempDirs,
  requireBuild,
  result,
  runFixture,
  tempDir,
  type Trace,
} from './fixtures/recorder/harness.js';

const onLinux = existsSync('/proc/self/task');

interface Truth {
  requests: number;
  busyStats: TelemetryStats;
  disabledSwitches: Record<string, number>;
  enabledSwitches: Record<string, number>;
  enabledStats: TelemetryStats;
  finalStats: TelemetryStats;
}

describe.runIf(onLinux)('enabled and idle: nothing wakes but the idle timer', () => {
  let truth: { seconds: number; counts: Record<string, number>; stacks: boolean; records: number };

  beforeAll(async () => {
    requireBuild();
    const run = await runFixture('overhead-enabled-idle.mjs', { dir: tempDir(), settleMs: 500, quietMs: 3000 });
    expectCleanExit(run);
    truth = result(run);
  });

  // Counts of sleeps that ended over 3 s, not timings. Ticking on the clock, the defaults woke
  // the writer 10 times a second, the stack watchdog every stackThresholdMs / 2 (65 a second) and
  // the main loop 30 times a second (queue-sample and probe timers, each probe's completion).
  // Following the loops, each idle-timer wake-up (every 2 s) wakes each of them a few times.
  it('the writer sleeps until a loop records something', () => {
    expect(truth.records).toBeGreaterThan(0);
    expect(truth.counts['looptrace-write']).toBeLessThanOrEqual(12);
  });

  it('the stack watchdog parks while every loop sleeps in its poll', () => {
    expect(truth.stacks).toBe(true);
    // Parked, it is woken only by a thread entering JavaScript (the idle timer and its probe are
    // native) and glances at the loops every 5 s as a safety bound (native/watchdog.cc
    // kParkedLookMs). The fixture's own timers that open and close the window enter JavaScript:
    // each is a wake-up and a look a threshold later, 4 in all. With the 100 ms glances this
    // replaced it was about 30, and ticking on the clock 190.
    expect(truth.counts['looptrace-watch']).toBeLessThanOrEqual(6);
  });

  it("the main loop is woken by looptrace's idle timer only, not at the sampling intervals", () => {
    // The idle timer and its probe's completion, plus Node's own (V8's delayed tasks).
    expect(truth.counts['main']).toBeLessThanOrEqual(20);
  });
});

describe.runIf(onLinux)('disable(): nothing left running', () => {
  let truth: Truth;
  let trace: Trace;
  let snapshot: Trace;
  let path: string;

  beforeAll(async () => {
    requireBuild();
    const dir = tempDir();
    path = join(dir, 'idle.bin');
    const run = await runFixture('overhead-idle.mjs', { path, snapshotPath: join(dir, 'snapshot.bin'), requests: 100, quietMs: 1000 });
    expectCleanExit(run);
    truth = result<Truth>(run);
    trace = decodeTraceFile(path);
    snapshot = decodeTraceFile(join(dir, 'snapshot.bin'));
  });
  afterAll(removeTempDirs);

  it('wakes neither the writer nor the watchdog for a second while disabled', () => {
    expect(truth.disabledSwitches['looptrace-write']).toBe(0);
    // The watchdog exists when the V8 part loaded (stacks on by default); it sleeps too.
    if (truth.busyStats.attribution.stacks) expect(truth.disabledSwitches['looptrace-watch']).toBe(0);
  });

  it('stops the loop timers: the main thread sleeps through the disabled second', () => {
    // Running, the sample (100 ms) and probe (50 ms) timers wake it at least 30 times a second,
    // and each probe's completion once more: 50. Stopped, what is left is Node's own (the
    // fixture's sleep, a worker's messages, V8's tasks): a few.
    expect(truth.disabledSwitches['main']).toBeLessThan(20);
  });

  it('wakes the writer again after enable(), and records arrive', () => {
    expect(truth.enabledSwitches['looptrace-write']).toBeGreaterThan(0);
    expect(truth.enabledStats.records).toBeGreaterThan(truth.busyStats.records);
  });

  it("writes the THREAD_STOP of a worker that exits while disabled, without stop()", () => {
    const workers = ofType(trace.records, 'threadStart').map((r) => r.threadId);
    const headerWorkers = [...new Set(trace.records.map((r) => r.threadId))].filter((id) => id > 1);
    const workerIds = new Set([...workers, ...headerWorkers]);
    expect(workerIds.size).toBeGreaterThan(0);
    const stops = ofType(snapshot.records, 'threadStop').filter((r) => workerIds.has(r.threadId));
    expect(stops.length).toBe(1);
    expect(stops[0]!.reason).toBe(0);
  });

  it('gives selfCpuNs and selfCpuRatio in stats(), consistent with their parts', () => {
    for (const s of [truth.busyStats, truth.enabledStats, truth.finalStats]) {
      const parts: SelfCpuStats = s.selfCpu;
      expect(s.selfCpuNs).toBe(parts.writerNs + parts.watchdogNs + parts.hooksNs + parts.timersNs + parts.stacksNs);
      expect(parts.processNs).toBeGreaterThan(0);
      expect(s.selfCpuRatio).toBeCloseTo(s.selfCpuNs / parts.processNs, 12);
      expect(s.selfCpuRatio).toBeGreaterThan(0);
      expect(s.selfCpuRatio).toBeLessThan(0.5);
    }
    const busy = truth.busyStats.selfCpu;
    // A hundred requests: the hooks ran hundreds of times and the writer drained them.
    expect(truth.requests).toBe(100);
    expect(busy.hooksNs).toBeGreaterThan(0);
    expect(busy.writerNs).toBeGreaterThan(0);
    expect(busy.timersNs).toBeGreaterThan(0);
    // Counters only grow.
    expect(truth.finalStats.selfCpuNs).toBeGreaterThanOrEqual(truth.enabledStats.selfCpuNs);
    expect(truth.finalStats.selfCpu.processNs).toBeGreaterThanOrEqual(truth.enabledStats.selfCpu.processNs);
  });

  it('writes SELF_COST records that add up to what stats() said at the end', () => {
    const costs = ofType(trace.records, 'selfCost');
    const sum = (component: number, threadId?: number): number =>
      costs.filter((r) => r.component === component && (threadId === undefined || r.threadId === threadId)).reduce((a, r) => a + r.cpuNs, 0);
    // Process stream: the process's CPU, the writer's, the watchdog's; thread streams: the rest.
    for (const r of costs) expect(r.threadId === 0 ? [0, 1, 2] : [3, 4, 5]).toContain(r.component);
    const final = truth.finalStats.selfCpu;
    expect(sum(3)).toBeGreaterThan(0);
    expect(sum(3)).toBeLessThanOrEqual(final.hooksNs);
    expect(sum(4)).toBeLessThanOrEqual(final.timersNs);
    // The writer's last SELF_COST is written in its final pass, just before its last clock read.
    expect(sum(1)).toBeGreaterThan(0);
    expect(sum(1)).toBeLessThanOrEqual(final.writerNs);
    expect(sum(0)).toBeGreaterThan(0);
  });

  it("analyze-trace reports looptrace's own cost, in --json and as text", () => {
    const [report] = analyzeTraces(resolveInput([path]).traces);
    const sc = report!.selfCost;
    expect(sc).not.toBeNull();
    expect(sc!.cpuNs).toBe(sc!.parts.writer.cpuNs + sc!.parts.watchdog.cpuNs + sc!.parts.hooks.cpuNs + sc!.parts.timers.cpuNs + sc!.parts.stacks.cpuNs);
    expect(sc!.ratio).toBeCloseTo(sc!.cpuNs / sc!.processCpuNs, 12);
    expect(sc!.threads.map((t) => t.threadId)).toContain(1);
    const text = renderText([report!], palette(false));
    expect(text).toMatch(/looptrace's own cost: \d+\.\d\d% of CPU \(.*hooks \d+\.\d\d%/);
    expect(text).toMatch(/ {2}main \(thread 1\): \d+\.\d\d%/);
  });
});
