// The per-thread state machine: it pairs each thread's POLL_START and POLL_END records (never
// across a gap, docs/FORMAT.md 6.3) into blocked time, I/O-callback time and busy stretches, and
// keeps the thread's counters, its busy-stretch histogram and its activity per time bucket.
//
// A loop iteration looks like this on the wire:
//
//   POLL_START ... POLL_END(blockedNs) ... POLL_START
//   |--- poll phase ---------|--- timers, immediates, close and pending callbacks ---|
//   |-- blocked --|-- I/O ---|
//
// A "busy stretch" is the uninterrupted time the loop did not wait: from the end of blocking in one
// poll (its I/O callbacks) through the timers and immediates that follow, to the next POLL_START.
// That is how long any new I/O had to wait, which is what a long task means to users. The part
// before POLL_END and the part after it are kept apart so a long task can name its phase.

import type { PollEndRecord, PollStartRecord, ThreadCpuRecord } from '../format/records.js';
import { LogLinearHistogram } from './histogram.js';
import { StretchSampler, type RunSamples } from './stack-samples.js';
import { BucketColumns, type BucketGrid } from './time-series.js';

/** The columns of each thread's activity series (nanoseconds, or counts for the last two). */
export const Activity = {
  BusyNs: 0,
  BlockedNs: 1,
  /** Blocked time in polls that blocked for at least idleNs. */
  IdleNs: 2,
  Polls: 3,
  /** Polls that found I/O events already waiting. */
  WaitingPolls: 4,
} as const;
const ACTIVITY_COLUMNS = 5;

/** Slots of ThreadTracker's number array. */
const S = {
  FirstNs: 0,
  LastNs: 1,
  BusyNs: 2,
  BlockedNs: 3,
  /** The open poll phase's POLL_START, or -1. */
  PollStartNs: 4,
  /** The open stretch's POLL_END, or -1. */
  PollEndNs: 5,
  /** Where the current busy stretch began (end of blocking), or -1. */
  RunStartNs: 6,
  RunIoNs: 7,
  RunCpuNs: 8,
  RunCpuWallNs: 9,
  LastBlockedNs: 10,
  /** The latest POLL_START or POLL_END: a THREAD_CPU at the same time measures what it ended. */
  BoundaryNs: 11,
  CpuNs: 12,
  CpuWallNs: 13,
  /** The end of a stretch being made into a BusyRun. */
  RunEndNs: 14,
  /** Arguments of addClippedSpan(): see there. */
  SpanStartNs: 15,
  SpanEndNs: 16,
} as const;
const SLOT_COUNT = 17;

/** A busy stretch that reached the long-task threshold. */
export interface BusyRun {
  threadId: number;
  startNs: number;
  endNs: number;
  ioNs: number;
  timersNs: number;
  /** CPU time measured over the stretch, and the wall time that measurement covered. */
  cpuNs: number;
  cpuWallNs: number;
  /** Of cpuWallNs, the time the thread was runnable but not running (THREAD_SCHED records). */
  runnableNs: number;
  gcPauses: number;
  /** GC pause time inside the stretch. */
  gcNs: number;
  /** The stretch's stack samples (reason 0: taken because the loop was busy), or null without any. */
  samples: RunSamples | null;
  /** Outermost callbacks that began in the stretch (callback mode), or null when no callback record fell in it. */
  callbacks: number | null;
  endedBy: 'poll' | 'trace-end';
}

export interface TrackerContext {
  sinceNs: number;
  untilNs: number;
  longTaskNs: number;
  idleNs: number;
  grid: BucketGrid;
  onLongRun: (run: BusyRun) => void;
}

export class ThreadTracker {
  readonly threadId: number;
  nodeThreadId: number | null = null;
  /** 0 main, 1 worker, -1 not known (a thread seen only in records). */
  kind = -1;
  name = '';

  stoppedNs = -1;
  stopReason = -1;

  iterations = 0;
  eventsTotal = 0;
  pollsWithWaiting = 0;
  waitingTotal = 0;
  maxWaiting = 0;
  queueSamples = 0;
  maxActiveHandles = 0;
  maxActiveRequests = 0;
  droppedRecords = 0;
  gaps = 0;
  longTaskCount = 0;
  longTaskTotalNs = 0;
  longTaskMaxNs = 0;
  /** GC pauses of the thread inside the window. */
  gcPauses = 0;
  gcNs = 0;
  gcMaxNs = 0;
  /** Runnable time (THREAD_SCHED) over the measured wall time of cpuWallNs, inside the window. */
  runnableNs = 0;
  /** Every busy stretch that overlaps the window. */
  readonly stretches = new LogLinearHistogram();
  readonly activity: BucketColumns;

  private readonly ctx: TrackerContext;
  private readonly sinceNs: number;
  private readonly untilNs: number;
  /** Whether a --since/--until window is set: without one, spans need no clipping. */
  private readonly windowed: boolean;
  private readonly longTaskNs: number;
  private readonly idleNs: number;
  /**
   * The numbers that the per-record paths read and write (times and sums, doubles beyond the
   * small-integer range), indexed by the constants of S. The slots also carry the arguments of the
   * helpers that are not inlined (RunEndNs, SpanStartNs, SpanEndNs): a double passed to a call
   * that the compiler does not inline is boxed, and the compiler may box it on every record, the
   * branch with the call taken or not. Removing those boxes removed most of the analysis' garbage
   * collection.
   */
  private readonly n = new Float64Array(SLOT_COUNT);
  private runGcPauses = 0;
  private runGcNs = 0;
  /** Callback mode: nesting depth, outermost callbacks begun in the stretch, and callback records seen in it. */
  private callbackDepth = 0;
  private runCallbacks = 0;
  private runCallbackRecords = 0;
  private runRunnableNs = 0;
  private sampler: StretchSampler | null = null;
  /**
   * Where the latest THREAD_CPU went, for the THREAD_SCHED that follows it at the same time:
   * 0 nowhere, 1 the pending run, 2 the open stretch; and the time and wall it measured.
   */
  private cpuTarget = 0;
  private cpuTimeNs = -1;
  private cpuRoomNs = 0;
  private cpuInWindow = false;
  private boundaryIsStart = false;
  /** A long stretch that just ended at a POLL_START, waiting for the THREAD_CPU that may follow. */
  private pending: BusyRun | null = null;

  constructor(threadId: number, ctx: TrackerContext) {
    this.threadId = threadId;
    this.ctx = ctx;
    this.sinceNs = ctx.sinceNs;
    this.untilNs = ctx.untilNs;
    this.windowed = Number.isFinite(ctx.sinceNs) || Number.isFinite(ctx.untilNs);
    this.longTaskNs = ctx.longTaskNs;
    this.idleNs = ctx.idleNs;
    this.activity = new BucketColumns(ctx.grid, ACTIVITY_COLUMNS);
    const n = this.n;
    n[S.FirstNs] = -1;
    n[S.LastNs] = -1;
    n[S.PollStartNs] = -1;
    n[S.PollEndNs] = -1;
    n[S.RunStartNs] = -1;
    n[S.BoundaryNs] = -1;
  }

  /** First and last record inside the window; -1 until one arrives. */
  get firstNs(): number {
    return this.n[S.FirstNs]!;
  }

  get lastNs(): number {
    return this.n[S.LastNs]!;
  }

  /** Time running callbacks, and time blocked waiting for I/O, inside the window. */
  get busyNs(): number {
    return this.n[S.BusyNs]!;
  }

  get blockedNs(): number {
    return this.n[S.BlockedNs]!;
  }

  /** CPU time over measured busy time (THREAD_CPU records), and the wall time it covers. */
  get cpuNs(): number {
    return this.n[S.CpuNs]!;
  }

  get cpuWallNs(): number {
    return this.n[S.CpuWallNs]!;
  }

  // pollStart() and pollEnd() run for nearly every record. They take the decoder's record object
  // rather than its numbers: a time is a double, and passing a double to a call that the compiler
  // does not inline allocates a box for it, millions of times. For the same reason they write the
  // common path out in full instead of calling small helpers.

  pollStart(r: PollStartRecord): void {
    const t = r.timeNs;
    const n = this.n;
    if (this.pending !== null) this.flushPending();
    if (t > n[S.LastNs]! && t >= this.sinceNs && t <= this.untilNs) {
      n[S.LastNs] = t;
      if (n[S.FirstNs]! < 0) n[S.FirstNs] = t;
    }
    const pollEnd = n[S.PollEndNs]!;
    if (pollEnd >= 0) {
      if (this.windowed) {
        n[S.SpanStartNs] = pollEnd;
        n[S.SpanEndNs] = t;
        this.addClippedSpan(Activity.BusyNs);
      } else {
        n[S.BusyNs]! += t - pollEnd;
        this.activity.addSpan(Activity.BusyNs, pollEnd, t);
      }
      const start = n[S.RunStartNs]!;
      const durationNs = t - start;
      if (t > this.sinceNs && start < this.untilNs) {
        this.stretches.record(durationNs);
        if (durationNs >= this.longTaskNs) {
          n[S.RunEndNs] = t;
          this.pending = this.makeRun('poll');
        }
      }
    }
    n[S.PollStartNs] = t;
    n[S.PollEndNs] = -1;
    n[S.RunStartNs] = -1;
    n[S.RunIoNs] = 0;
    n[S.RunCpuNs] = 0;
    n[S.RunCpuWallNs] = 0;
    if (this.runGcPauses !== 0 || this.sampler !== null || this.runRunnableNs !== 0 || this.runCallbackRecords !== 0) this.resetAttribution();
    n[S.BoundaryNs] = t;
    this.boundaryIsStart = true;
  }

  pollEnd(r: PollEndRecord): void {
    const t = r.timeNs;
    const n = this.n;
    if (this.pending !== null) this.flushPending();
    if (t > n[S.LastNs]! && t >= this.sinceNs && t <= this.untilNs) {
      n[S.LastNs] = t;
      if (n[S.FirstNs]! < 0) n[S.FirstNs] = t;
    }
    const inWindow = !this.windowed || (t >= this.sinceNs && t <= this.untilNs);
    if (inWindow) {
      this.iterations++;
      this.eventsTotal += r.events;
      const eventsWaiting = r.eventsWaiting;
      if (eventsWaiting > 0) {
        this.pollsWithWaiting++;
        this.waitingTotal += eventsWaiting;
        if (eventsWaiting > this.maxWaiting) this.maxWaiting = eventsWaiting;
        this.activity.addAt(Activity.WaitingPolls, t, 1);
      }
    }
    const pollStart = n[S.PollStartNs]!;
    const blockedNs = r.blockedNs;
    if (pollStart >= 0) {
      const phaseNs = t - pollStart;
      const b = blockedNs < phaseNs ? blockedNs : phaseNs;
      const blockedEnd = pollStart + b;
      if (this.windowed) {
        n[S.SpanStartNs] = pollStart;
        n[S.SpanEndNs] = blockedEnd;
        this.addClippedSpan(Activity.BlockedNs);
        n[S.SpanStartNs] = blockedEnd;
        n[S.SpanEndNs] = t;
        this.addClippedSpan(Activity.BusyNs);
        if (inWindow) this.activity.addAt(Activity.Polls, t, 1);
      } else {
        n[S.BlockedNs]! += b;
        n[S.BusyNs]! += t - blockedEnd;
        this.activity.addSplitSpan(Activity.BlockedNs, Activity.BusyNs, Activity.Polls, pollStart, blockedEnd, t);
      }
      if (b >= this.idleNs) {
        n[S.SpanStartNs] = pollStart;
        n[S.SpanEndNs] = blockedEnd;
        this.addClippedSpan(Activity.IdleNs);
      }
      n[S.RunStartNs] = blockedEnd;
      n[S.RunIoNs] = t - blockedEnd;
      n[S.LastBlockedNs] = b;
    } else {
      // Unpaired (after a gap): the poll phase's length is unknown, so the stretch starts here.
      if (inWindow) this.activity.addAt(Activity.Polls, t, 1);
      n[S.RunStartNs] = t;
      n[S.RunIoNs] = 0;
      n[S.LastBlockedNs] = blockedNs;
    }
    n[S.PollEndNs] = t;
    n[S.PollStartNs] = -1;
    n[S.BoundaryNs] = t;
    this.boundaryIsStart = false;
  }

  threadCpu(r: ThreadCpuRecord): void {
    const t = r.timeNs;
    const wallNs = r.wallNs;
    const cpuNs = r.cpuNs;
    const n = this.n;
    let coveredNs = wallNs;
    this.cpuTarget = 0;
    if (t === n[S.BoundaryNs]) {
      if (this.boundaryIsStart) {
        // Measures the stretch that this POLL_START ended.
        if (this.pending !== null) {
          this.pending.cpuNs += cpuNs;
          this.pending.cpuWallNs += coveredNs;
          this.cpuTarget = 1;
        }
      } else {
        // Measures the poll phase: the blocked part of it burned no CPU, so leave it out.
        const blocked = n[S.LastBlockedNs]!;
        coveredNs = wallNs > blocked ? wallNs - blocked : 0;
        if (n[S.PollEndNs]! >= 0) {
          n[S.RunCpuNs]! += cpuNs;
          n[S.RunCpuWallNs]! += coveredNs;
          this.cpuTarget = 2;
        }
      }
    }
    this.cpuTimeNs = t;
    this.cpuRoomNs = coveredNs > cpuNs ? coveredNs - cpuNs : 0;
    this.cpuInWindow = t >= this.sinceNs && t <= this.untilNs;
    if (this.cpuInWindow) {
      n[S.CpuNs]! += cpuNs;
      n[S.CpuWallNs]! += coveredNs;
    }
  }

  /**
   * THREAD_SCHED: of the THREAD_CPU just before it (same time), runnableNs was spent waiting for a
   * core. It goes where that THREAD_CPU went, and never beyond the off-CPU part it measured (a
   * poll phase's blocked part is left out of the measurement, as above).
   */
  threadSched(t: number, runnableNs: number): void {
    if (t !== this.cpuTimeNs) return;
    const ns = runnableNs < this.cpuRoomNs ? runnableNs : this.cpuRoomNs;
    this.cpuRoomNs -= ns;
    if (this.cpuTarget === 1 && this.pending !== null) this.pending.runnableNs += ns;
    else if (this.cpuTarget === 2) this.runRunnableNs += ns;
    if (this.cpuInWindow) this.runnableNs += ns;
  }

  queueSample(t: number, activeHandles: number, activeRequests: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    if (t < this.sinceNs || t > this.untilNs) return;
    this.queueSamples++;
    if (activeHandles > this.maxActiveHandles) this.maxActiveHandles = activeHandles;
    if (activeRequests > this.maxActiveRequests) this.maxActiveRequests = activeRequests;
  }

  gcPause(t: number, durationNs: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    if (t >= this.sinceNs && t <= this.untilNs) {
      this.gcPauses++;
      this.gcNs += durationNs;
      if (durationNs > this.gcMaxNs) this.gcMaxNs = durationNs;
    }
    this.runGcPauses++;
    this.runGcNs += durationNs;
  }

  /** CALLBACK_START: an outermost one is one more callback of the stretch. */
  callbackStart(t: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    if (this.callbackDepth === 0) this.runCallbacks++;
    this.callbackDepth++;
    this.runCallbackRecords++;
  }

  callbackEnd(t: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    if (this.callbackDepth > 0) this.callbackDepth--;
    this.runCallbackRecords++;
  }

  /** A stack sample; only those taken because the loop was busy (reason 0) describe a stretch. */
  stackSample(t: number, stackId: number, reason: number, lagNs: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    if (reason !== 0) return;
    (this.sampler ??= new StretchSampler()).add(t, stackId, lagNs);
  }

  dropped(t: number, droppedRecords: number): void {
    if (t >= this.sinceNs && t <= this.untilNs) this.droppedRecords += droppedRecords;
    this.gap();
  }

  /** A pause (RESUMED), dropped records or a lost frame: records in between are missing. */
  gap(): void {
    if (this.pending !== null) this.flushPending();
    this.n[S.PollStartNs] = -1;
    this.n[S.PollEndNs] = -1;
    this.n[S.BoundaryNs] = -1;
    this.resetRun();
    this.callbackDepth = 0;
    this.gaps++;
  }

  threadStop(t: number, reason: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    this.stoppedNs = t;
    this.stopReason = reason;
    // The stop is stamped when the writer noticed it, not when the loop ended, so an open stretch
    // is not measured up to it.
    this.n[S.PollStartNs] = -1;
    this.n[S.PollEndNs] = -1;
    this.resetRun();
  }

  /** Ends the thread's analysis: a stretch still open at the end of the trace is measured up to it. */
  finish(traceEndNs: number): void {
    if (this.pending !== null) this.flushPending();
    const pollEnd = this.n[S.PollEndNs]!;
    if (pollEnd < 0 || this.stoppedNs >= 0) return;
    const end = Math.min(traceEndNs, this.untilNs);
    const start = this.n[S.RunStartNs]!;
    if (!(end > start) || end <= this.sinceNs) return;
    this.addClipped(Activity.BusyNs, pollEnd, end);
    if (end - start >= this.longTaskNs) {
      this.n[S.RunEndNs] = end;
      this.pending = this.makeRun('trace-end');
      this.flushPending();
    }
    this.n[S.PollEndNs] = -1;
  }

  /** The current stretch, from RunStartNs to RunEndNs, as a BusyRun. */
  private makeRun(endedBy: BusyRun['endedBy']): BusyRun {
    const startNs = this.n[S.RunStartNs]!;
    const endNs = this.n[S.RunEndNs]!;
    const ioNs = this.n[S.RunIoNs]!;
    // GC pauses end at their record: only the part after the stretch began is its time.
    let gcNs = this.runGcNs;
    if (gcNs > endNs - startNs) gcNs = endNs - startNs;
    return {
      threadId: this.threadId,
      startNs,
      endNs,
      ioNs,
      timersNs: endNs - startNs - ioNs,
      cpuNs: this.n[S.RunCpuNs]!,
      cpuWallNs: this.n[S.RunCpuWallNs]!,
      runnableNs: this.runRunnableNs,
      gcPauses: this.runGcPauses,
      gcNs,
      samples: this.sampler === null ? null : this.sampler.finish(startNs, endNs),
      callbacks: this.runCallbackRecords > 0 ? this.runCallbacks : null,
      endedBy,
    };
  }

  private flushPending(): void {
    const run = this.pending!;
    this.pending = null;
    const durationNs = run.endNs - run.startNs;
    this.longTaskCount++;
    this.longTaskTotalNs += durationNs;
    if (durationNs > this.longTaskMaxNs) this.longTaskMaxNs = durationNs;
    this.ctx.onLongRun(run);
  }

  private resetRun(): void {
    const n = this.n;
    n[S.RunStartNs] = -1;
    n[S.RunIoNs] = 0;
    n[S.RunCpuNs] = 0;
    n[S.RunCpuWallNs] = 0;
    this.resetAttribution();
  }

  private resetAttribution(): void {
    this.runCallbacks = 0;
    this.runCallbackRecords = 0;
    this.runGcPauses = 0;
    this.runGcNs = 0;
    this.runRunnableNs = 0;
    this.sampler = null;
  }

  private touch(t: number): void {
    const n = this.n;
    if (t > n[S.LastNs]! && t >= this.sinceNs && t <= this.untilNs) {
      n[S.LastNs] = t;
      if (n[S.FirstNs]! < 0) n[S.FirstNs] = t;
    }
  }

  /** Adds the part of [a, b) inside the window to a column, and busy or blocked time to the totals. */
  private addClipped(column: number, a: number, b: number): void {
    this.n[S.SpanStartNs] = a;
    this.n[S.SpanEndNs] = b;
    this.addClippedSpan(column);
  }

  /**
   * addClipped() for the per-record paths, with the span in the SpanStartNs and SpanEndNs slots:
   * passed as arguments to a call that is not inlined, the times would be boxed on every record,
   * window or not (see BucketColumns.args).
   */
  private addClippedSpan(column: number): void {
    let a = this.n[S.SpanStartNs]!;
    let b = this.n[S.SpanEndNs]!;
    if (a < this.sinceNs) a = this.sinceNs;
    if (b > this.untilNs) b = this.untilNs;
    if (b <= a) return;
    if (column === Activity.BusyNs) this.n[S.BusyNs]! += b - a;
    else if (column === Activity.BlockedNs) this.n[S.BlockedNs]! += b - a;
    this.activity.addSpan(column, a, b);
  }
}
