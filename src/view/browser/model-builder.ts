// Builds the viewer's columnar model from decoded records, in the decode worker: busy stretches
// from the LoopSlicer into chunked typed columns, GC pauses, counters, and the few objects worth
// keeping whole (long tasks with their stacks and operations, stack samples, operations). finish()
// seals the columns, builds the level-of-detail sums and lists the buffers to transfer.

import type { TraceDecoder } from '../../format/decoder.js';
import type { PollEndRecord, TraceHeader, TraceRecord } from '../../format/records.js';
import { LoopSlicer } from '../loop-slicer.js';
import { formatStack } from '../stack-format.js';
import { F32Column, F64Column } from './chunked-column.js';
import type { BusyLevel, CounterSeries, LongTaskInfo, OperationInfo, StackSampleInfo, ThreadLane, TimelineModel } from './model.js';
import { SpanColumnBuilder, type SpanChunk } from './span-column.js';
import { buildBusyLevels, buildMaxLevels } from './lod.js';

/** Stack samples and operations are kept up to these counts; more would be objects per record. */
const MAX_STACK_SAMPLES = 100_000;
const MAX_OPERATIONS = 200_000;
const UTILIZATION_BIN_NS = 100e6;

class CounterBuilder {
  readonly timeNs = new F64Column();
  readonly value = new F32Column();
  constructor(
    readonly name: string,
    readonly unit: CounterSeries['unit'],
  ) {}
  add(t: number, v: number): void {
    this.timeNs.push(t);
    this.value.push(v);
  }
  seal(): CounterSeries {
    const timeNs = this.timeNs.seal();
    const value = this.value.seal();
    return { name: this.name, unit: this.unit, timeNs, value, maxLevels: buildMaxLevels(timeNs, value) };
  }
}

class LaneBuilder {
  name: string;
  isMain: boolean;
  readonly busy = new SpanColumnBuilder(true);
  readonly gc = new SpanColumnBuilder(false);
  readonly eventsWaiting = new CounterBuilder('events waiting', 'count');
  readonly activeHandles = new CounterBuilder('active handles', 'count');
  readonly activeRequests = new CounterBuilder('active requests', 'count');
  lastWaiting = -1;
  iterations = 0;
  busyTotalNs = 0;
  /** Stack samples and GC since the last busy stretch ended, for the long task they fall in. */
  pendingStacks: { timeNs: number; frames: string[] }[] = [];
  pendingGcNs = 0;
  constructor(
    readonly threadId: number,
    name: string,
    isMain: boolean,
  ) {
    this.name = name;
    this.isMain = isMain;
  }
}

export class ModelBuilder {
  readonly slicer: LoopSlicer;
  private readonly lanes: (LaneBuilder | undefined)[] = [];
  private readonly threadpool = new CounterBuilder('threadpool delay', 'ns');
  private readonly longTasks: LongTaskInfo[] = [];
  private readonly operations: OperationInfo[] = [];
  private readonly stacks: StackSampleInfo[] = [];
  private readonly diagnostics: string[] = [];
  private header: TraceHeader | undefined;
  private records = 0;
  private minNs = Infinity;
  private maxNs = -Infinity;
  private decoder: TraceDecoder | undefined;

  constructor(private readonly longTaskNs: number) {
    this.slicer = new LoopSlicer({
      busy: (threadId, startNs, endNs, ioNs, timersNs) => {
        const lane = this.lanes[threadId] ?? this.lane(threadId);
        const dur = endNs - startNs;
        lane.busy.push(startNs, dur, ioNs);
        lane.iterations++;
        lane.busyTotalNs += dur;
        if (dur >= this.longTaskNs) {
          const inside = (t: number) => t >= startNs && t <= endNs;
          this.longTasks.push({
            index: this.longTasks.length,
            threadId,
            startNs,
            endNs,
            ioNs,
            timersNs,
            gcNs: lane.pendingGcNs,
            stacks: lane.pendingStacks.filter((s) => inside(s.timeNs)),
            operations: this.operations
              .slice(-1000)
              .filter((o) => o.threadId === threadId && o.startNs <= endNs && o.endNs >= startNs)
              .map((o) => ({ name: o.name, operationId: o.operationId, status: o.status, startNs: o.startNs, endNs: o.endNs })),
          });
        }
        if (lane.pendingStacks.length > 0) lane.pendingStacks = [];
        if (lane.pendingGcNs !== 0) lane.pendingGcNs = 0;
      },
      gc: (threadId, startNs, durationNs) => {
        const lane = this.lane(threadId);
        lane.gc.push(startNs, durationNs);
        lane.pendingGcNs += durationNs;
      },
      stack: (threadId, timeNs, stackId) => {
        const frames = formatStack(this.decoder?.stacks.get(stackId), this.decoder?.strings ?? new Map());
        const lane = this.lane(threadId);
        if (lane.pendingStacks.length < 64) lane.pendingStacks.push({ timeNs, frames });
        if (this.stacks.length < MAX_STACK_SAMPLES) this.stacks.push({ threadId, timeNs, frames });
      },
      operation: (threadId, operationId, startNs, endNs, name, status) => {
        if (startNs < 0 || this.operations.length >= MAX_OPERATIONS) return;
        const op = { threadId, operationId, name: name || `operation ${operationId}`, startNs, endNs, status };
        this.operations.push(op);
        // An operation that ends after the long task it contains: attach it now.
        for (let i = this.longTasks.length - 1; i >= 0 && i >= this.longTasks.length - 50; i--) {
          const lt = this.longTasks[i]!;
          if (lt.threadId === threadId && startNs <= lt.endNs && endNs >= lt.startNs && !lt.operations.some((o) => o.operationId === operationId)) {
            lt.operations.push({ name: op.name, operationId, status, startNs, endNs });
          }
        }
      },
    });
  }

  attach(decoder: TraceDecoder): void {
    this.decoder = decoder;
  }

  readonly onHeader = (h: TraceHeader): void => {
    this.header ??= h;
    for (const t of h.threads) {
      const lane = this.lane(t.threadId);
      if (t.name !== '') lane.name = t.name;
      lane.isMain = t.kind === 0;
    }
  };

  /** The decoder's reused POLL_START and POLL_END objects, recognised by identity (see onRecord). */
  private pollStartRecord: TraceRecord | undefined;
  private pollEndRecord: PollEndRecord | undefined;

  readonly onRecord = (r: TraceRecord): void => {
    this.records++;
    const t = r.timeNs;
    if (t > this.maxNs) this.maxNs = t;
    if (t < this.minNs) this.minNs = t;
    // The commonest records first, by identity: reading r.type sees every record shape (slow).
    if (r === this.pollStartRecord) {
      this.slicer.pollStart(r.threadId, t);
      return;
    }
    if (r === this.pollEndRecord) {
      this.pollEnd(this.pollEndRecord);
      return;
    }
    switch (r.type) {
      case 'pollStart':
        this.pollStartRecord = r;
        this.slicer.pollStart(r.threadId, t);
        return;
      case 'pollEnd':
        this.pollEndRecord = r;
        this.pollEnd(r);
        return;
      default:
        this.slicer.onRecord(r);
    }
    switch (r.type) {
      case 'queueSample': {
        const lane = this.lane(r.threadId);
        lane.activeHandles.add(t, r.activeHandles);
        lane.activeRequests.add(t, r.activeRequests);
        break;
      }
      case 'threadpoolProbe':
        this.threadpool.add(t, r.queueDelayNs);
        break;
      case 'threadStart': {
        const lane = this.lane(r.threadId);
        const name = this.decoder?.threads.get(r.threadId)?.name;
        if (name) lane.name = name;
        lane.isMain = r.kind === 0;
        break;
      }
      default:
        break;
    }
  };

  private pollEnd(r: PollEndRecord): void {
    const id = r.threadId;
    this.slicer.pollEnd(id, r.timeNs, r.blockedNs);
    if (id === 0) return;
    const lane = this.lanes[id] ?? this.lane(id);
    if (lane.lastWaiting !== r.eventsWaiting) {
      lane.lastWaiting = r.eventsWaiting;
      lane.eventsWaiting.add(r.timeNs, r.eventsWaiting);
    }
  }

  diagnostic(message: string, lostFrame: boolean): void {
    if (lostFrame) this.slicer.gapAll();
    if (this.diagnostics.length < 100) this.diagnostics.push(message);
  }

  finish(info: { bytes: number; files: string[]; decodeMs: number }): { model: TimelineModel; transfer: ArrayBuffer[] } {
    this.slicer.finish();
    const transfer: ArrayBuffer[] = [];
    const keep = <T extends Float64Array | Float32Array | Uint32Array | Uint16Array>(a: T): T => {
      transfer.push(a.buffer as ArrayBuffer);
      return a;
    };
    const keepSpans = (b: SpanColumnBuilder): SpanChunk[] => {
      b.close();
      for (const c of b.chunks) {
        keep(c.startOffNs);
        keep(c.durNs);
        if (c.ioShare.length > 0) keep(c.ioShare);
      }
      return b.chunks;
    };
    const startNs = Number.isFinite(this.minNs) ? this.minNs : 0;
    const endNs = Number.isFinite(this.maxNs) ? Math.max(this.maxNs, startNs + 1) : 1;
    const sealCounter = (c: CounterBuilder): CounterSeries => {
      const s = c.seal();
      keep(s.timeNs);
      keep(s.value);
      for (const l of s.maxLevels) {
        keep(l.timeNs);
        keep(l.value);
      }
      return s;
    };
    const threads: ThreadLane[] = [];
    for (const lane of this.lanes) {
      if (lane === undefined || lane.threadId === 0) continue;
      const busy = keepSpans(lane.busy);
      const levels = buildBusyLevels(busy, lane.busy.length, startNs, endNs);
      for (const l of levels) {
        keep(l.busyNs);
        keep(l.ioNs);
      }
      const counters = [lane.eventsWaiting, lane.activeHandles, lane.activeRequests].map(sealCounter);
      counters.push(sealCounter(utilizationFrom(levels, startNs)));
      const gcPauses = lane.gc.length;
      threads.push({
        threadId: lane.threadId,
        name: lane.name,
        isMain: lane.isMain,
        busy,
        levels,
        levelStartNs: startNs,
        gc: keepSpans(lane.gc),
        gcPauses,
        counters,
        iterations: lane.iterations,
        busyTotalNs: lane.busyTotalNs,
      });
    }
    const h = this.header;
    const model: TimelineModel = {
      serviceName: h?.serviceName ?? '',
      pid: h?.pid ?? null,
      traceId: h?.traceId ?? '',
      originUnixMs: h === undefined ? 0 : unixMs(h.originWallUnixNs),
      startNs,
      endNs,
      records: this.records,
      bytes: info.bytes,
      files: info.files,
      longTaskNs: this.longTaskNs,
      threads,
      counters: [sealCounter(this.threadpool)],
      longTasks: this.longTasks,
      operations: this.operations,
      stacks: this.stacks,
      diagnostics: this.diagnostics,
      decodeMs: info.decodeMs,
    };
    return { model, transfer };
  }

  private lane(threadId: number): LaneBuilder {
    let lane = this.lanes[threadId];
    if (lane === undefined) {
      lane = new LaneBuilder(threadId, threadId === 1 ? 'main' : `thread ${threadId}`, threadId === 1);
      this.lanes[threadId] = lane;
    }
    return lane;
  }
}

/** The utilization counter: busy share per bin of the level whose bins are nearest 100 ms. */
function utilizationFrom(levels: BusyLevel[], startNs: number): CounterBuilder {
  const c = new CounterBuilder('utilization', 'ratio');
  let best = levels[0];
  for (const l of levels) if (best === undefined || Math.abs(Math.log(l.binNs / UTILIZATION_BIN_NS)) < Math.abs(Math.log(best.binNs / UTILIZATION_BIN_NS))) best = l;
  if (best === undefined) return c;
  for (let i = 0; i < best.busyNs.length; i++) c.add(startNs + i * best.binNs, Math.min(1, best.busyNs[i]! / best.binNs));
  return c;
}

function unixMs(wallNs: bigint): number {
  const ms = wallNs / 1_000_000n;
  return Number(ms) + Number(wallNs - ms * 1_000_000n) / 1e6;
}
