// Long tasks: busy stretches at or above the threshold, counted all and kept worst first in a
// bounded heap, then described with their phase, their CPU share and whatever attribution the
// trace holds.

import type { StackResolver } from './attribution.js';
import type { CpuVerdict, LongTask, LongTaskAttribution, LongTasksReport, ThreadLongTasks, TimeSplit } from './report.js';
import type { BusyRun } from './thread-stats.js';
import { TopK } from './top-k.js';
import type { WallClock } from './wall-clock.js';

/** At or above this share of its wall time on CPU, a task was computing. */
export const CPU_BOUND_RATIO = 0.8;
/** At or below this share, the thread was mostly waiting (a synchronous call) or descheduled. */
export const OFF_CPU_RATIO = 0.2;

/** A long task lists at most this many of its sampled stacks (all are counted). */
const MAX_LISTED_STACKS = 10;

/** Looks up what a long task's attribution refers to: thread names, stacks, and what the recorder measured. */
export interface AttributionLookup {
  threadName(threadId: number): string;
  stacks: StackResolver;
  /** Whether the recorder read scheduler statistics: without them, runnable and waiting are not told apart. */
  schedstat: boolean;
}

export class LongTaskCollector {
  readonly thresholdNs: number;
  private readonly top: number;
  /** Per thread: its count, total and worst runs, so any selection of threads has an exact top list. */
  private readonly byThread = new Map<number, { count: number; totalNs: number; worst: TopK<BusyRun> }>();

  constructor(thresholdNs: number, top: number) {
    this.thresholdNs = thresholdNs;
    this.top = top;
  }

  add(run: BusyRun): void {
    let mine = this.byThread.get(run.threadId);
    if (mine === undefined) this.byThread.set(run.threadId, (mine = { count: 0, totalNs: 0, worst: new TopK<BusyRun>(this.top, (r) => r.endNs - r.startNs) }));
    mine.count++;
    mine.totalNs += run.endNs - run.startNs;
    mine.worst.offer(run);
  }

  /** The long tasks of the selected threads (all by default); isMain orders the per-thread lists. */
  report(clock: WallClock, lookup: AttributionLookup, selected: (threadId: number) => boolean = () => true, isMain: (threadId: number) => boolean = (id) => id === 1): LongTasksReport {
    let count = 0;
    let totalNs = 0;
    const overall = new TopK<BusyRun>(this.top, (r) => r.endNs - r.startNs);
    const described = new Map<BusyRun, LongTask>();
    const describe = (run: BusyRun): LongTask => {
      let task = described.get(run);
      if (task === undefined) described.set(run, (task = describeRun(run, clock, lookup)));
      return task;
    };
    const byThread: ThreadLongTasks[] = [];
    for (const [threadId, mine] of this.byThread) {
      if (!selected(threadId)) continue;
      count += mine.count;
      totalNs += mine.totalNs;
      const runs = mine.worst.sorted();
      // The overall top K is within the union of the per-thread top Ks.
      for (const run of runs) overall.offer(run);
      byThread.push({ threadId, threadName: lookup.threadName(threadId), count: mine.count, totalNs: mine.totalNs, items: runs.map(describe) });
    }
    const worstNs = (t: ThreadLongTasks): number => t.items[0]?.durationNs ?? 0;
    byThread.sort((a, b) => Number(isMain(b.threadId)) - Number(isMain(a.threadId)) || worstNs(b) - worstNs(a) || a.threadId - b.threadId);
    return { thresholdNs: this.thresholdNs, count, totalNs, items: overall.sorted().map(describe), byThread };
  }
}

export function describeRun(run: BusyRun, clock: WallClock, lookup: AttributionLookup): LongTask {
  const durationNs = run.endNs - run.startNs;
  const cpu = run.cpuWallNs > 0 ? { cpuNs: run.cpuNs, wallNs: run.cpuWallNs, ratio: Math.min(1, run.cpuNs / run.cpuWallNs) } : null;
  const unixMs = clock.unixMs(run.startNs);
  return {
    threadId: run.threadId,
    threadName: lookup.threadName(run.threadId),
    startNs: run.startNs,
    endNs: run.endNs,
    durationNs,
    startUnixMs: roundMs(unixMs),
    startIso: clock.iso(run.startNs),
    phase: run.ioNs > run.timersNs ? 'io-callbacks' : 'timers-immediates',
    ioCallbacksNs: run.ioNs,
    timersImmediatesNs: run.timersNs,
    cpu,
    verdict: cpuVerdict(cpu?.ratio ?? null),
    split: timeSplit(run, lookup.schedstat),
    endedBy: run.endedBy,
    attribution: attribution(run, durationNs, lookup),
  };
}

/** on CPU / runnable / waiting over the wall time that THREAD_CPU measured. */
export function timeSplit(run: BusyRun, schedstat: boolean): TimeSplit | null {
  if (run.cpuWallNs <= 0) return null;
  const wallNs = run.cpuWallNs;
  const onCpuNs = Math.min(run.cpuNs, wallNs);
  const offCpuNs = wallNs - onCpuNs;
  const runnableNs = schedstat ? Math.min(run.runnableNs, offCpuNs) : null;
  return { wallNs, onCpuNs, offCpuNs, runnableNs, waitingNs: runnableNs === null ? null : offCpuNs - runnableNs };
}

function attribution(run: BusyRun, durationNs: number, lookup: AttributionLookup): LongTaskAttribution {
  const s = run.samples;
  const stacks = (s?.stacks ?? []).slice(0, MAX_LISTED_STACKS).map((w) => ({
    stackId: w.stackId,
    samples: w.samples,
    frames: lookup.stacks.recordedText(w.stackId),
    callFrames: lookup.stacks.frames(w.stackId),
    weightNs: w.weightNs,
    maxLagNs: w.maxLagNs,
  }));
  const top = stacks[0];
  return {
    gc: run.gcPauses > 0 ? { pauses: run.gcPauses, totalNs: run.gcNs, share: durationNs > 0 ? run.gcNs / durationNs : 0 } : null,
    stacks,
    samples: s?.samples ?? 0,
    sampledNs: s?.sampledNs ?? 0,
    maxLagNs: s?.maxLagNs ?? 0,
    blocking: top === undefined ? null : lookup.stacks.site(top.stackId),
    callbacks: run.callbacks,
  };
}

export function cpuVerdict(ratio: number | null): CpuVerdict {
  if (ratio === null) return 'unknown';
  if (ratio >= CPU_BOUND_RATIO) return 'cpu-bound';
  if (ratio <= OFF_CPU_RATIO) return 'off-cpu';
  return 'mixed';
}

/** Unix milliseconds to the microsecond, so JSON stays short and exact enough. */
export function roundMs(unixMs: number): number {
  return Math.round(unixMs * 1000) / 1000;
}
