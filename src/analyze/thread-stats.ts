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

import { LogLinearHistogram } from './histogram.js';
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

/** At most this many distinct stacks are kept per busy stretch for attribution. */
const MAX_STACKS_PER_RUN = 5;

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
  gcPauses: number;
  gcNs: number;
  stackIds: number[];
  stackCounts: number[];
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

  /** First and last record inside the window; -1 until one arrives. */
  firstNs = -1;
  lastNs = -1;
  stoppedNs = -1;
  stopReason = -1;

  iterations = 0;
  busyNs = 0;
  blockedNs = 0;
  eventsTotal = 0;
  pollsWithWaiting = 0;
  waitingTotal = 0;
  maxWaiting = 0;
  queueSamples = 0;
  maxActiveHandles = 0;
  maxActiveRequests = 0;
  cpuNs = 0;
  cpuWallNs = 0;
  droppedRecords = 0;
  gaps = 0;
  longTaskCount = 0;
  longTaskTotalNs = 0;
  longTaskMaxNs = 0;
  /** Every busy stretch that overlaps the window. */
  readonly stretches = new LogLinearHistogram();
  readonly activity: BucketColumns;

  private readonly ctx: TrackerContext;
  private readonly sinceNs: number;
  private readonly untilNs: number;
  /** The open poll phase's POLL_START, or -1. */
  private pollStartNs = -1;
  /** The open stretch's POLL_END, or -1. */
  private pollEndNs = -1;
  /** Where the current busy stretch began (end of blocking), or -1. */
  private runStartNs = -1;
  private runIoNs = 0;
  private runCpuNs = 0;
  private runCpuWallNs = 0;
  private runGcPauses = 0;
  private runGcNs = 0;
  private runStackIds: number[] | null = null;
  private runStackCounts: number[] | null = null;
  private lastBlockedNs = 0;
  /** The latest POLL_START or POLL_END: a THREAD_CPU at the same time measures what it ended. */
  private boundaryNs = -1;
  private boundaryIsStart = false;
  /** A long stretch that just ended at a POLL_START, waiting for the THREAD_CPU that may follow. */
  private pending: BusyRun | null = null;

  constructor(threadId: number, ctx: TrackerContext) {
    this.threadId = threadId;
    this.ctx = ctx;
    this.sinceNs = ctx.sinceNs;
    this.untilNs = ctx.untilNs;
    this.activity = new BucketColumns(ctx.grid, ACTIVITY_COLUMNS);
  }

  pollStart(t: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    if (this.pollEndNs >= 0) {
      this.addBusy(this.pollEndNs, t);
      const start = this.runStartNs;
      const durationNs = t - start;
      if (t > this.sinceNs && start < this.untilNs) {
        this.stretches.record(durationNs);
        if (durationNs >= this.ctx.longTaskNs) this.pending = this.makeRun(start, t, 'poll');
      }
    }
    this.pollStartNs = t;
    this.pollEndNs = -1;
    this.resetRun();
    this.boundaryNs = t;
    this.boundaryIsStart = true;
  }

  pollEnd(t: number, blockedNs: number, events: number, eventsWaiting: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    const inWindow = t >= this.sinceNs && t <= this.untilNs;
    if (inWindow) {
      this.iterations++;
      this.eventsTotal += events;
      this.activity.addAt(Activity.Polls, t, 1);
      if (eventsWaiting > 0) {
        this.pollsWithWaiting++;
        this.waitingTotal += eventsWaiting;
        if (eventsWaiting > this.maxWaiting) this.maxWaiting = eventsWaiting;
        this.activity.addAt(Activity.WaitingPolls, t, 1);
      }
    }
    const pollStart = this.pollStartNs;
    if (pollStart >= 0) {
      const phaseNs = t - pollStart;
      const b = blockedNs < phaseNs ? blockedNs : phaseNs;
      const blockedEnd = pollStart + b;
      this.addBlocked(pollStart, blockedEnd);
      if (b >= this.ctx.idleNs) this.addSpan(Activity.IdleNs, pollStart, blockedEnd);
      this.addBusy(blockedEnd, t);
      this.runStartNs = blockedEnd;
      this.runIoNs = t - blockedEnd;
      this.lastBlockedNs = b;
    } else {
      // Unpaired (after a gap): the poll phase's length is unknown, so the stretch starts here.
      this.runStartNs = t;
      this.runIoNs = 0;
      this.lastBlockedNs = blockedNs;
    }
    this.pollEndNs = t;
    this.pollStartNs = -1;
    this.boundaryNs = t;
    this.boundaryIsStart = false;
  }

  threadCpu(t: number, wallNs: number, cpuNs: number): void {
    let coveredNs = wallNs;
    if (t === this.boundaryNs) {
      if (this.boundaryIsStart) {
        // Measures the stretch that this POLL_START ended.
        if (this.pending !== null) {
          this.pending.cpuNs += cpuNs;
          this.pending.cpuWallNs += coveredNs;
        }
      } else {
        // Measures the poll phase: the blocked part of it burned no CPU, so leave it out.
        coveredNs = wallNs > this.lastBlockedNs ? wallNs - this.lastBlockedNs : 0;
        if (this.pollEndNs >= 0) {
          this.runCpuNs += cpuNs;
          this.runCpuWallNs += coveredNs;
        }
      }
    }
    if (t >= this.sinceNs && t <= this.untilNs) {
      this.cpuNs += cpuNs;
      this.cpuWallNs += coveredNs;
    }
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
    this.runGcPauses++;
    this.runGcNs += durationNs;
  }

  stackSample(t: number, stackId: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    if (this.runStackIds === null || this.runStackCounts === null) {
      this.runStackIds = [];
      this.runStackCounts = [];
    }
    const i = this.runStackIds.indexOf(stackId);
    if (i >= 0) this.runStackCounts[i]!++;
    else if (this.runStackIds.length < MAX_STACKS_PER_RUN) {
      this.runStackIds.push(stackId);
      this.runStackCounts.push(1);
    }
  }

  dropped(t: number, droppedRecords: number): void {
    if (t >= this.sinceNs && t <= this.untilNs) this.droppedRecords += droppedRecords;
    this.gap();
  }

  /** A pause (RESUMED), dropped records or a lost frame: records in between are missing. */
  gap(): void {
    if (this.pending !== null) this.flushPending();
    this.pollStartNs = -1;
    this.pollEndNs = -1;
    this.boundaryNs = -1;
    this.resetRun();
    this.gaps++;
  }

  threadStop(t: number, reason: number): void {
    if (this.pending !== null) this.flushPending();
    this.touch(t);
    this.stoppedNs = t;
    this.stopReason = reason;
    // The stop is stamped when the writer noticed it, not when the loop ended, so an open stretch
    // is not measured up to it.
    this.pollStartNs = -1;
    this.pollEndNs = -1;
    this.resetRun();
  }

  /** Ends the thread's analysis: a stretch still open at the end of the trace is measured up to it. */
  finish(traceEndNs: number): void {
    if (this.pending !== null) this.flushPending();
    if (this.pollEndNs < 0 || this.stoppedNs >= 0) return;
    const end = Math.min(traceEndNs, this.untilNs);
    const start = this.runStartNs;
    if (!(end > start) || end <= this.sinceNs) return;
    this.addBusy(this.pollEndNs, end);
    if (end - start >= this.ctx.longTaskNs) {
      this.pending = this.makeRun(start, end, 'trace-end');
      this.flushPending();
    }
    this.pollEndNs = -1;
  }

  private makeRun(startNs: number, endNs: number, endedBy: BusyRun['endedBy']): BusyRun {
    const ioNs = this.runIoNs;
    return {
      threadId: this.threadId,
      startNs,
      endNs,
      ioNs,
      timersNs: endNs - startNs - ioNs,
      cpuNs: this.runCpuNs,
      cpuWallNs: this.runCpuWallNs,
      gcPauses: this.runGcPauses,
      gcNs: this.runGcNs,
      stackIds: this.runStackIds ?? [],
      stackCounts: this.runStackCounts ?? [],
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
    this.runStartNs = -1;
    this.runIoNs = 0;
    this.runCpuNs = 0;
    this.runCpuWallNs = 0;
    if (this.runGcPauses !== 0) {
      this.runGcPauses = 0;
      this.runGcNs = 0;
    }
    if (this.runStackIds !== null) {
      this.runStackIds = null;
      this.runStackCounts = null;
    }
  }

  private touch(t: number): void {
    if (t < this.sinceNs || t > this.untilNs) return;
    if (this.firstNs < 0) this.firstNs = t;
    if (t > this.lastNs) this.lastNs = t;
  }

  private addBusy(a: number, b: number): void {
    if (a < this.sinceNs) a = this.sinceNs;
    if (b > this.untilNs) b = this.untilNs;
    if (b <= a) return;
    this.busyNs += b - a;
    this.activity.addSpan(Activity.BusyNs, a, b);
  }

  private addBlocked(a: number, b: number): void {
    if (a < this.sinceNs) a = this.sinceNs;
    if (b > this.untilNs) b = this.untilNs;
    if (b <= a) return;
    this.blockedNs += b - a;
    this.activity.addSpan(Activity.BlockedNs, a, b);
  }

  private addSpan(column: number, a: number, b: number): void {
    if (a < this.sinceNs) a = this.sinceNs;
    if (b > this.untilNs) b = this.untilNs;
    if (b > a) this.activity.addSpan(column, a, b);
  }
}
