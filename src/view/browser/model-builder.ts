// Builds the viewer's columnar model from decoded records, in the decode worker: busy stretches
// from the LoopSlicer into chunked typed columns, GC pauses, counters, and the few objects worth
// keeping whole (long tasks with their stacks and operations, stack samples, operations). part()
// seals the columns of what it decoded, for assembleModel() (model-assembly.ts) to join with the
// parts other workers decoded and to build the level of detail.

import type { PollCallbacks, TraceDecoder } from '../../format/decoder.js';
import type { TraceHeader, TraceRecord } from '../../format/records.js';
import { LoopSlicer } from '../loop-slicer.js';
import { formatStack } from '../stack-format.js';
import { F32Column, F64Column } from './chunked-column.js';
import { assembleModel, MAX_OPERATIONS, type ModelPart, type PartCounter, type PartLane, type PartOperationEnd } from './model-assembly.js';
import { binStretches, chooseBinNs, emptyBins } from './lod.js';
import type { CounterSeries, LongTaskInfo, OperationInfo, StackSampleInfo, TimelineModel } from './model.js';
import { SpanColumnBuilder, type SpanChunk } from './span-column.js';

/** Stack samples are kept up to this count (operations: MAX_OPERATIONS); more would be objects per record. */
const MAX_STACK_SAMPLES = 100_000;

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
}

class LaneBuilder {
  name: string;
  /** The name came from the trace (a header or THREAD_START), not the default. */
  named = false;
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
  /** OPERATION_ENDs whose start this builder did not see (for assembleModel: it began in an earlier part). */
  private readonly endsWithoutStart: PartOperationEnd[] = [];
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
        if (startNs < 0) {
          if (this.endsWithoutStart.length < MAX_OPERATIONS) this.endsWithoutStart.push({ threadId, operationId, endNs, status, at: this.operations.length });
          return;
        }
        if (this.operations.length >= MAX_OPERATIONS) return;
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
      if (t.name !== '') {
        lane.name = t.name;
        lane.named = true;
      }
      lane.isMain = t.kind === 0;
    }
  };

  /**
   * POLL_START and POLL_END (nearly all records) as plain numbers, straight from the decoder's
   * record loop (its PollCallbacks): no record object, no look at a record's type.
   */
  readonly pollCallbacks: PollCallbacks = {
    onPollStart: (threadId, timeNs) => {
      if (timeNs > this.maxNs) this.maxNs = timeNs;
      if (timeNs < this.minNs) this.minNs = timeNs;
      this.slicer.pollStart(threadId, timeNs);
    },
    onPollEnd: (threadId, timeNs, blockedNs, _events, eventsWaiting) => {
      if (timeNs > this.maxNs) this.maxNs = timeNs;
      this.pollEnd(threadId, timeNs, blockedNs, eventsWaiting);
    },
  };

  readonly onRecord = (r: TraceRecord): void => {
    this.records++;
    const t = r.timeNs;
    if (t > this.maxNs) this.maxNs = t;
    if (t < this.minNs) this.minNs = t;
    switch (r.type) {
      case 'pollStart':
        this.slicer.pollStart(r.threadId, t);
        return;
      case 'pollEnd':
        this.pollEnd(r.threadId, t, r.blockedNs, r.eventsWaiting);
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
        if (name) {
          lane.name = name;
          lane.named = true;
        }
        lane.isMain = r.kind === 0;
        break;
      }
      default:
        break;
    }
  };

  private pollEnd(id: number, timeNs: number, blockedNs: number, eventsWaiting: number): void {
    this.slicer.pollEnd(id, timeNs, blockedNs);
    if (id === 0) return;
    const lane = this.lanes[id] ?? this.lane(id);
    if (lane.lastWaiting !== eventsWaiting) {
      lane.lastWaiting = eventsWaiting;
      lane.eventsWaiting.add(timeNs, eventsWaiting);
    }
  }

  diagnostic(message: string, lostFrame: boolean): void {
    if (lostFrame) this.slicer.gapAll();
    if (this.diagnostics.length < 100) this.diagnostics.push(message);
  }

  /** The whole model of what was decoded (one part: the files were decoded in one worker). */
  finish(info: { bytes: number; files: string[]; decodeMs: number }): { model: TimelineModel; transfer: ArrayBuffer[] } {
    return assembleModel([this.part()], this.longTaskNs, info);
  }

  /**
   * What this builder decoded, as a part of a trace: sealed columns with no level of detail yet
   * (assembleModel() joins the parts in trace order and builds it); partBuffers() lists its buffers.
   */
  part(): ModelPart {
    const spans = (b: SpanColumnBuilder): SpanChunk[] => {
      b.release();
      return b.chunks;
    };
    const points = (c: CounterBuilder): PartCounter => ({ name: c.name, unit: c.unit, timeNs: c.timeNs.seal(), value: c.value.seal() });
    const boundary = new Map(this.slicer.boundary().map((b) => [b.threadId, b]));
    const spanNs = Number.isFinite(this.minNs) ? this.maxNs - this.minNs : 0;
    const lanes: PartLane[] = [];
    for (const lane of this.lanes) {
      if (lane === undefined || lane.threadId === 0) continue;
      const b = boundary.get(lane.threadId);
      const busy = spans(lane.busy);
      // The finest level of detail of this part, on the grid of multiples of its bin width.
      const bins = emptyBins(chooseBinNs(lane.busy.length, spanNs), busy[0]?.baseNs ?? 0, lastEndNs(busy));
      binStretches(bins, busy);
      lanes.push({
        threadId: lane.threadId,
        name: lane.name,
        named: lane.named,
        isMain: lane.isMain,
        busy,
        busyCount: lane.busy.length,
        bins,
        gc: spans(lane.gc),
        gcPauses: lane.gc.length,
        counters: [lane.eventsWaiting, lane.activeHandles, lane.activeRequests].map(points),
        iterations: lane.iterations,
        busyTotalNs: lane.busyTotalNs,
        open: b?.open === undefined ? undefined : { ...b.open, stacks: lane.pendingStacks, gcNs: lane.pendingGcNs },
        leadPollStartNs: b?.leadPollStartNs,
      });
    }
    const part: ModelPart = {
      header: this.header,
      // POLL_START and POLL_END bypass onRecord: the decoder counts every record.
      records: this.decoder?.stats.records ?? this.records,
      minNs: this.minNs,
      maxNs: this.maxNs,
      lanes,
      threadpool: points(this.threadpool),
      longTasks: this.longTasks,
      operations: this.operations,
      openOperations: this.slicer.openOperations(),
      endsWithoutStart: this.endsWithoutStart,
      stacks: this.stacks,
      diagnostics: this.diagnostics,
    };
    return part;
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


/** Where the last stretch of a column ends (0 when it has none). */
function lastEndNs(chunks: readonly SpanChunk[]): number {
  const c = chunks[chunks.length - 1];
  if (c === undefined || c.startOffNs.length === 0) return 0;
  const i = c.startOffNs.length - 1;
  return c.baseNs + c.startOffNs[i]! + c.durNs[i]!;
}
