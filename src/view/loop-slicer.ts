// Turns a stream of decoded records into the intervals that every visual output draws: per event
// loop, each poll phase (blocked, then I/O callbacks), each busy stretch, GC pauses, operations,
// and utilization per time bucket. It pairs POLL_START with POLL_END the way the analysis does
// (docs/FORMAT.md 6.1 and 6.3: never across DROPPED, RESUMED or a lost frame), holds a few numbers
// per thread and nothing per record, so the Perfetto and Chrome exports stream traces of any size
// and the browser's decode worker fills its columns from it.
//
// Runs in Node and in the browser: it imports no Node module.

import type { PollEndRecord, TraceRecord } from '../format/records.js';

/** What a consumer of the slicer receives. Every time is nanoseconds since the trace's origin. */
export interface LoopSink {
  /** A poll phase: blocked from pollStartNs for blockedNs, then I/O callbacks until pollEndNs. */
  poll?(threadId: number, pollStartNs: number, blockedNs: number, pollEndNs: number): void;
  /**
   * A busy stretch ended at a POLL_START: from the end of blocking in the previous poll through its
   * I/O callbacks (ioNs) and the timers and immediates after it (timersNs) to endNs.
   */
  busy?(threadId: number, startNs: number, endNs: number, ioNs: number, timersNs: number): void;
  gc?(threadId: number, startNs: number, durationNs: number, gcType: number): void;
  stack?(threadId: number, timeNs: number, stackId: number): void;
  /** An operation that ended; startNs is -1 when its start was not seen. */
  operation?(threadId: number, operationId: number, startNs: number, endNs: number, name: string, status: number): void;
  /** The share of a bucket of bucketNs that the thread was busy, when the bucket is over. */
  utilization?(threadId: number, bucketStartNs: number, ratio: number): void;
}

export interface LoopSlicerOptions {
  /** Width of the utilization buckets. Default 100 ms. */
  utilizationBucketNs?: number;
}

const NONE = -1;

class ThreadState {
  pollStartNs = NONE;
  pollEndNs = NONE;
  /** The end of blocking in the open stretch's poll, or NONE. */
  runStartNs = NONE;
  runIoNs = 0;
  bucketStartNs = NONE;
  bucketBusyNs = 0;
  /** The first POLL_START of the thread, when nothing of it came before (no poll, no gap). */
  leadPollStartNs = NONE;
  /** Whether any poll record or gap of this thread has been seen. */
  started = false;
  /** Operations begun and not yet ended: id to [startNs, nameStringId]. */
  readonly operations = new Map<number, [number, number]>();
}

export class LoopSlicer {
  readonly strings = new Map<number, string>();
  private readonly threads: (ThreadState | undefined)[] = [];
  private readonly sink: LoopSink;
  private readonly bucketNs: number;

  constructor(sink: LoopSink, options: LoopSlicerOptions = {}) {
    this.sink = sink;
    this.bucketNs = options.utilizationBucketNs ?? 100e6;
    this.tracksUtilization = sink.utilization !== undefined;
  }

  private readonly tracksUtilization: boolean;
  /** A frame was lost: no later POLL_START can close a run from before (see boundary()). */
  private lostFrame = false;

  /** Breaks every thread's pairing: a frame was lost, so records of any thread may be missing. */
  gapAll(): void {
    this.lostFrame = true;
    for (const s of this.threads) if (s !== undefined) this.gap(s);
  }

  /** The decoder's reused POLL_START and POLL_END objects, recognised by identity (see onRecord). */
  private pollStartRecord: TraceRecord | undefined;
  private pollEndRecord: TraceRecord | undefined;

  readonly onRecord = (r: TraceRecord): void => {
    // The two commonest records are recognised by identity before r.type is read: TraceDecoder
    // reuses one object per record type, and a load of .type sees every record shape (slow).
    if (r === this.pollStartRecord) return this.pollStart(r.threadId, r.timeNs);
    if (r === this.pollEndRecord) return this.pollEnd(r.threadId, r.timeNs, (r as PollEndRecord).blockedNs);
    const id = r.threadId;
    switch (r.type) {
      case 'pollStart':
        this.pollStartRecord = r;
        return this.pollStart(id, r.timeNs);
      case 'pollEnd':
        this.pollEndRecord = r;
        return this.pollEnd(id, r.timeNs, r.blockedNs);
      case 'gcPause':
        if (id !== 0) this.sink.gc?.(id, r.timeNs - r.durationNs, r.durationNs, r.gcType);
        return;
      case 'stackSample':
        if (id !== 0) this.sink.stack?.(id, r.timeNs, r.stackId);
        return;
      case 'operationStart':
        this.state(id).operations.set(r.operationId, [r.timeNs, r.nameStringId]);
        return;
      case 'operationEnd': {
        const s = this.state(id);
        const open = s.operations.get(r.operationId);
        s.operations.delete(r.operationId);
        const name = open === undefined ? '' : (this.strings.get(open[1]) ?? `string ${open[1]}`);
        this.sink.operation?.(id, r.operationId, open === undefined ? NONE : open[0], r.timeNs, name, r.status);
        return;
      }
      case 'dropped':
      case 'resumed':
        if (id !== 0) this.gap(this.state(id));
        return;
      case 'threadStop':
        if (id !== 0) {
          const s = this.state(id);
          this.gap(s);
          this.closeBucket(id, s);
        }
        return;
      case 'stringDef':
        this.strings.set(r.stringId, r.value);
        return;
      default:
        return;
    }
  };

  pollStart(id: number, t: number): void {
    if (id === 0) return;
    const s = this.threads[id] ?? this.state(id);
    if (!s.started) {
      s.started = true;
      if (!this.lostFrame) s.leadPollStartNs = t;
    }
    if (s.pollEndNs !== NONE && s.runStartNs !== NONE && t >= s.pollEndNs) {
      if (this.tracksUtilization) this.addBusy(id, s, s.pollEndNs, t);
      this.sink.busy?.(id, s.runStartNs, t, s.runIoNs, t - s.pollEndNs);
    }
    s.pollStartNs = t;
    s.pollEndNs = NONE;
    s.runStartNs = NONE;
    s.runIoNs = 0;
  }

  pollEnd(id: number, t: number, blockedNs: number): void {
    if (id === 0) return;
    const s = this.threads[id] ?? this.state(id);
    s.started = true;
    if (s.pollStartNs !== NONE && t >= s.pollStartNs) {
      const phaseNs = t - s.pollStartNs;
      const b = blockedNs < phaseNs ? blockedNs : phaseNs;
      this.sink.poll?.(id, s.pollStartNs, b, t);
      s.runStartNs = s.pollStartNs + b;
      s.runIoNs = t - s.runStartNs;
      if (this.tracksUtilization) this.addBusy(id, s, s.runStartNs, t);
      s.pollEndNs = t;
    } else {
      s.runStartNs = NONE;
      s.pollEndNs = NONE;
    }
    s.pollStartNs = NONE;
  }

  /** Reports the utilization buckets still open. */
  finish(): void {
    this.threads.forEach((s, id) => {
      if (s !== undefined) this.closeBucket(id, s);
    });
  }

  private state(threadId: number): ThreadState {
    let s = this.threads[threadId];
    if (s === undefined) {
      s = new ThreadState();
      this.threads[threadId] = s;
    }
    return s;
  }

  /**
   * Where a thread stands at the end of a part of a trace decoded on its own (the viewer decodes
   * rotated files in parallel): the busy stretch still open after its last POLL_END, and the first
   * POLL_START of the part when nothing of the thread came before it. A stretch that spans two
   * parts is the first part's open run closed by the next part's lead POLL_START.
   */
  boundary(): { threadId: number; open: { runStartNs: number; runIoNs: number; pollEndNs: number } | undefined; leadPollStartNs: number | undefined }[] {
    const out = [];
    for (let id = 1; id < this.threads.length; id++) {
      const s = this.threads[id];
      if (s === undefined) continue;
      const open = s.pollEndNs !== NONE && s.runStartNs !== NONE ? { runStartNs: s.runStartNs, runIoNs: s.runIoNs, pollEndNs: s.pollEndNs } : undefined;
      out.push({ threadId: id, open, leadPollStartNs: s.leadPollStartNs === NONE ? undefined : s.leadPollStartNs });
    }
    return out;
  }

  /**
   * The operations begun and not ended so far, with their names (for a part of a trace decoded on
   * its own: the part where one ends pairs its OPERATION_END with them by operationId, unique in a
   * trace, as one decode of the whole trace does).
   */
  openOperations(): { threadId: number; operationId: number; startNs: number; name: string }[] {
    const out = [];
    for (let id = 0; id < this.threads.length; id++) {
      const s = this.threads[id];
      if (s === undefined) continue;
      for (const [operationId, [startNs, nameId]] of s.operations) out.push({ threadId: id, operationId, startNs, name: this.strings.get(nameId) ?? `string ${nameId}` });
    }
    return out;
  }

  private gap(s: ThreadState): void {
    s.started = true;
    s.pollStartNs = NONE;
    s.pollEndNs = NONE;
    s.runStartNs = NONE;
    s.runIoNs = 0;
  }

  /** Adds a busy span to the utilization buckets, splitting it at bucket edges. */
  private addBusy(threadId: number, s: ThreadState, startNs: number, endNs: number): void {
    if (this.sink.utilization === undefined || !(endNs > startNs)) return;
    const width = this.bucketNs;
    if (s.bucketStartNs === NONE) s.bucketStartNs = Math.floor(startNs / width) * width;
    let from = Math.max(startNs, s.bucketStartNs);
    while (endNs > s.bucketStartNs + width) {
      const edge = s.bucketStartNs + width;
      if (from < edge) s.bucketBusyNs += edge - from;
      this.sink.utilization(threadId, s.bucketStartNs, Math.min(1, s.bucketBusyNs / width));
      s.bucketStartNs = edge;
      s.bucketBusyNs = 0;
      from = Math.max(from, edge);
    }
    if (endNs > from) s.bucketBusyNs += endNs - from;
  }

  private closeBucket(threadId: number, s: ThreadState): void {
    if (s.bucketStartNs === NONE) return;
    this.sink.utilization?.(threadId, s.bucketStartNs, Math.min(1, s.bucketBusyNs / this.bucketNs));
    s.bucketStartNs = NONE;
    s.bucketBusyNs = 0;
  }
}
