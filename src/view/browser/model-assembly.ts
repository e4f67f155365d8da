// Joins the parts of a trace that decode workers built on their own (each from a run of whole
// rotated files, which decode alone) into the viewer's model, in trace order: columns are chained
// (chunks are never copied), counters concatenated, the busy stretch that spans two parts is
// restored from the first part's open run and the next part's first POLL_START, an operation that
// spans parts from the operations open at one part's end and the OPERATION_END a later part could
// not pair, long tasks get the operations of either kind that overlap them, and then the level of
// detail is built over the whole trace. With one part this is the whole of finishing a model.

import type { TraceHeader } from '../../format/records.js';
import { addBins, binStretches, buildMaxLevels, chooseBinNs, emptyBins, levelsFrom, type Bins } from './lod.js';
import type { BusyLevel, CounterSeries, LongTaskInfo, OperationInfo, StackSampleInfo, ThreadLane, TimelineModel } from './model.js';
import type { SpanChunk } from './span-column.js';

const UTILIZATION_BIN_NS = 100e6;
const MAX_DIAGNOSTICS = 100;
/** Operations are kept up to this count; more would be objects per record. */
export const MAX_OPERATIONS = 200_000;

export interface PartCounter {
  name: string;
  unit: CounterSeries['unit'];
  timeNs: Float64Array;
  value: Float32Array;
}

export interface PartLane {
  threadId: number;
  name: string;
  /** The name came from the trace rather than being the default one. */
  named: boolean;
  isMain: boolean;
  busy: SpanChunk[];
  busyCount: number;
  /** The finest level of detail of this part's stretches, built in the worker that decoded them. */
  bins: Bins;
  gc: SpanChunk[];
  gcPauses: number;
  /** events waiting, active handles, active requests. */
  counters: PartCounter[];
  iterations: number;
  busyTotalNs: number;
  /** The busy stretch still open at the part's end (after its last POLL_END), with what fell in it. */
  open: { runStartNs: number; runIoNs: number; pollEndNs: number; stacks: { timeNs: number; frames: string[] }[]; gcNs: number } | undefined;
  /** The part's first POLL_START of this loop, when nothing of the loop came before it. */
  leadPollStartNs: number | undefined;
}

/** An OPERATION_END whose OPERATION_START was not in its part, and where it falls among the part's operations. */
export interface PartOperationEnd {
  threadId: number;
  operationId: number;
  endNs: number;
  status: number;
  /** The index in the part's operations it would have had (they are in order of their ends). */
  at: number;
}

export interface ModelPart {
  header: TraceHeader | undefined;
  records: number;
  minNs: number;
  maxNs: number;
  lanes: PartLane[];
  threadpool: PartCounter;
  longTasks: LongTaskInfo[];
  /** Operations that began and ended in the part, in order of their ends. */
  operations: OperationInfo[];
  /** Operations begun in the part (or carried into it) and not ended by its end, names resolved. */
  openOperations: { threadId: number; operationId: number; startNs: number; name: string }[];
  endsWithoutStart: PartOperationEnd[];
  stacks: StackSampleInfo[];
  diagnostics: string[];
}

/** The buffers of a part's columns, to transfer it to another thread without a copy. */
export function partBuffers(part: ModelPart): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  const spans = (chunks: SpanChunk[]) => {
    for (const c of chunks) {
      out.push(c.startOffNs.buffer as ArrayBuffer, c.durNs.buffer as ArrayBuffer);
      if (c.ioShare.length > 0) out.push(c.ioShare.buffer as ArrayBuffer);
    }
  };
  for (const lane of part.lanes) {
    spans(lane.busy);
    out.push(lane.bins.busyNs.buffer as ArrayBuffer, lane.bins.ioNs.buffer as ArrayBuffer);
    spans(lane.gc);
    for (const c of lane.counters) out.push(c.timeNs.buffer as ArrayBuffer, c.value.buffer as ArrayBuffer);
  }
  out.push(part.threadpool.timeNs.buffer as ArrayBuffer, part.threadpool.value.buffer as ArrayBuffer);
  // Chunks share their arena's buffers: each buffer is listed once.
  return [...new Set(out)];
}

export function assembleModel(parts: ModelPart[], longTaskNs: number, info: { bytes: number; files: string[]; decodeMs: number }): { model: TimelineModel; transfer: ArrayBuffer[] } {
  // A set: span chunks share their arenas' buffers, and a transfer list names each buffer once.
  const buffers = new Set<ArrayBuffer>();
  const keep = <T extends Float64Array | Float32Array | Uint32Array | Uint16Array>(a: T): T => {
    buffers.add(a.buffer as ArrayBuffer);
    return a;
  };
  let minNs = Infinity;
  let maxNs = -Infinity;
  for (const p of parts) {
    if (p.minNs < minNs) minNs = p.minNs;
    if (p.maxNs > maxNs) maxNs = p.maxNs;
  }
  const startNs = Number.isFinite(minNs) ? minNs : 0;
  const endNs = Number.isFinite(maxNs) ? Math.max(maxNs, startNs + 1) : 1;

  const { operations, spanning } = joinOperations(parts);
  const longTasks: LongTaskInfo[] = [];
  /** Long tasks made here, of a stretch that spans two parts: their operations are found below. */
  const stitchedTasks: LongTaskInfo[] = [];
  const ids = [...new Set(parts.flatMap((p) => p.lanes.map((l) => l.threadId)))].sort((a, b) => a - b);
  const threads: ThreadLane[] = [];
  for (const threadId of ids) {
    const pieces = parts.map((p) => p.lanes.find((l) => l.threadId === threadId));
    const busy: SpanChunk[] = [];
    const stitched: SpanChunk[] = [];
    const gc: SpanChunk[] = [];
    let busyCount = 0;
    let iterations = 0;
    let busyTotalNs = 0;
    let gcPauses = 0;
    let name = '';
    let named = false;
    let isMain = false;
    for (let i = 0; i < pieces.length; i++) {
      const lane = pieces[i];
      if (lane === undefined) continue;
      const before = i > 0 ? pieces[i - 1]?.open : undefined;
      const lead = lane.leadPollStartNs;
      if (before !== undefined && lead !== undefined && lead >= before.pollEndNs) {
        // The stretch from the previous part's last POLL_END to this part's first POLL_START.
        const durNs = lead - before.runStartNs;
        const span = oneSpan(before.runStartNs, durNs, before.runIoNs);
        busy.push(span);
        stitched.push(span);
        busyCount++;
        iterations++;
        busyTotalNs += durNs;
        if (durNs >= longTaskNs) {
          const task: LongTaskInfo = {
            index: 0,
            threadId,
            startNs: before.runStartNs,
            endNs: lead,
            ioNs: before.runIoNs,
            timersNs: lead - before.pollEndNs,
            gcNs: before.gcNs,
            stacks: before.stacks.filter((s) => s.timeNs >= before.runStartNs && s.timeNs <= lead),
            operations: [],
          };
          longTasks.push(task);
          stitchedTasks.push(task);
        }
      }
      longTasks.push(...parts[i]!.longTasks.filter((lt) => lt.threadId === threadId));
      busy.push(...lane.busy);
      gc.push(...lane.gc);
      busyCount += lane.busyCount;
      iterations += lane.iterations;
      busyTotalNs += lane.busyTotalNs;
      gcPauses += lane.gcPauses;
      if (name === '' || (!named && lane.named)) {
        name = lane.name;
        named = lane.named;
        isMain = lane.isMain;
      }
    }
    for (const c of busy) {
      keep(c.startOffNs);
      keep(c.durNs);
      if (c.ioShare.length > 0) keep(c.ioShare);
    }
    for (const c of gc) {
      keep(c.startOffNs);
      keep(c.durNs);
    }
    // The finest level: each part's bins (built in parallel by the decode workers), folded onto
    // the grid the whole trace wants, plus the stretches across part boundaries.
    let binNs = chooseBinNs(busyCount, endNs - startNs);
    for (const l of pieces) if (l !== undefined && l.bins.binNs > binNs) binNs = l.bins.binNs;
    const bins = emptyBins(binNs, startNs, endNs);
    for (const l of pieces) if (l !== undefined) addBins(bins, l.bins);
    binStretches(bins, stitched);
    const levels = levelsFrom(bins);
    for (const l of levels) {
      keep(l.busyNs);
      keep(l.ioNs);
    }
    const counters = [0, 1, 2].map((k) => series(pieces.flatMap((l) => (l === undefined ? [] : [l.counters[k]!])), keep));
    counters.push(series([utilizationFrom(levels, bins.firstBin * bins.binNs)], keep));
    const levelStartNs = bins.firstBin * bins.binNs;
    threads.push({ threadId, name, isMain, busy, levels, levelStartNs, gc, gcPauses, counters, iterations, busyTotalNs });
  }
  // Long tasks in time order, numbered as the page refers to them.
  longTasks.sort((a, b) => a.startNs - b.startNs || a.threadId - b.threadId);
  longTasks.forEach((lt, i) => (lt.index = i));
  attachOperations(longTasks, stitchedTasks, operations, spanning);

  const header = parts.find((p) => p.header !== undefined)?.header;
  const model: TimelineModel = {
    serviceName: header?.serviceName ?? '',
    pid: header?.pid ?? null,
    traceId: header?.traceId ?? '',
    originUnixMs: header === undefined ? 0 : unixMs(header.originWallUnixNs),
    startNs,
    endNs,
    records: parts.reduce((n, p) => n + p.records, 0),
    bytes: info.bytes,
    files: info.files,
    longTaskNs,
    threads,
    counters: [series(parts.map((p) => p.threadpool), keep)],
    longTasks,
    operations,
    stacks: parts.flatMap((p) => p.stacks),
    diagnostics: parts.flatMap((p) => p.diagnostics).slice(0, MAX_DIAGNOSTICS),
    decodeMs: info.decodeMs,
  };
  return { model, transfer: [...buffers] };
}

/**
 * The parts' operations in trace order, each part's in order of their ends, and the operations that
 * span parts: begun in one (open at its end) and ended in a later one, whose OPERATION_END that part
 * could not pair. They are paired by operationId, unique in a trace, as one decode of the whole
 * trace pairs them (a lost frame between the two does not make the pair uncertain, unlike the two
 * POLL records of a busy stretch), and put where that decode would have them.
 */
function joinOperations(parts: ModelPart[]): { operations: OperationInfo[]; spanning: OperationInfo[] } {
  const open = new Map<number, { threadId: number; startNs: number; name: string }>();
  const operations: OperationInfo[] = [];
  const spanning: OperationInfo[] = [];
  const add = (op: OperationInfo): boolean => operations.length < MAX_OPERATIONS && operations.push(op) > 0;
  for (const p of parts) {
    let k = 0;
    const ends = p.endsWithoutStart;
    for (let i = 0; i <= p.operations.length; i++) {
      for (; k < ends.length && ends[k]!.at <= i; k++) {
        const e = ends[k]!;
        const o = open.get(e.operationId);
        if (o === undefined || o.threadId !== e.threadId) continue;
        open.delete(e.operationId);
        const op = { threadId: e.threadId, operationId: e.operationId, name: o.name || `operation ${e.operationId}`, startNs: o.startNs, endNs: e.endNs, status: e.status };
        if (add(op)) spanning.push(op);
      }
      if (i < p.operations.length) add(p.operations[i]!);
    }
    for (const o of p.openOperations) open.set(o.operationId, o);
  }
  return { operations, spanning };
}

/**
 * Gives long tasks the operations their parts could not: each operation that spans parts goes to
 * the long tasks of its thread it overlaps, and a long task made from a stretch that spans parts
 * gets every operation of its thread that overlaps it. A task's list stays in order of the
 * operations' ends, as one decode builds it.
 */
function attachOperations(longTasks: LongTaskInfo[], stitched: LongTaskInfo[], operations: OperationInfo[], spanning: OperationInfo[]): void {
  if (spanning.length === 0 && stitched.length === 0) return;
  const changed = new Set<LongTaskInfo>();
  const attach = (lt: LongTaskInfo, op: OperationInfo): void => {
    if (op.startNs > lt.endNs || op.endNs < lt.startNs || lt.operations.some((o) => o.operationId === op.operationId)) return;
    lt.operations.push({ name: op.name, operationId: op.operationId, status: op.status, startNs: op.startNs, endNs: op.endNs });
    changed.add(lt);
  };
  // A thread's long tasks are its busy stretches: they do not overlap, so in order of their starts
  // they are in order of their ends too, and the ones an operation overlaps are found by search.
  const byThread = new Map<number, LongTaskInfo[]>();
  for (const lt of longTasks) {
    let list = byThread.get(lt.threadId);
    if (list === undefined) byThread.set(lt.threadId, (list = []));
    list.push(lt);
  }
  for (const op of spanning) {
    const list = byThread.get(op.threadId) ?? [];
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.endNs < op.startNs) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < list.length && list[i]!.startNs <= op.endNs; i++) attach(list[i]!, op);
  }
  for (const lt of stitched) for (const op of operations) if (op.threadId === lt.threadId) attach(lt, op);
  for (const lt of changed) lt.operations.sort((a, b) => a.endNs - b.endNs);
}

function oneSpan(startNs: number, durNs: number, ioNs: number): SpanChunk {
  const ioShare = new Uint16Array(1);
  if (durNs > 0) ioShare[0] = Math.round((Math.min(ioNs, durNs) / durNs) * 65535);
  return { baseNs: startNs, startOffNs: new Uint32Array(1), durNs: Float32Array.of(durNs), ioShare, totalNs: durNs };
}

/** One counter from its pieces in trace order (a copy only when there are several), with its max levels. */
function series(pieces: PartCounter[], keep: <T extends Float64Array | Float32Array>(a: T) => T): CounterSeries {
  const first = pieces[0]!;
  let timeNs = first.timeNs;
  let value = first.value;
  if (pieces.length > 1) {
    const n = pieces.reduce((k, p) => k + p.timeNs.length, 0);
    timeNs = new Float64Array(n);
    value = new Float32Array(n);
    let at = 0;
    for (const p of pieces) {
      timeNs.set(p.timeNs, at);
      value.set(p.value, at);
      at += p.timeNs.length;
    }
  }
  const maxLevels = buildMaxLevels(timeNs, value);
  keep(timeNs);
  keep(value);
  for (const l of maxLevels) {
    keep(l.timeNs);
    keep(l.value);
  }
  return { name: first.name, unit: first.unit, timeNs, value, maxLevels };
}

/** The utilization counter: busy share per bin of the level whose bins are nearest 100 ms. */
function utilizationFrom(levels: BusyLevel[], startNs: number): PartCounter {
  let best = levels[0];
  for (const l of levels) if (best === undefined || Math.abs(Math.log(l.binNs / UTILIZATION_BIN_NS)) < Math.abs(Math.log(best.binNs / UTILIZATION_BIN_NS))) best = l;
  const n = best?.busyNs.length ?? 0;
  const timeNs = new Float64Array(n);
  const value = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    timeNs[i] = startNs + i * best!.binNs;
    value[i] = Math.min(1, best!.busyNs[i]! / best!.binNs);
  }
  return { name: 'utilization', unit: 'ratio', timeNs, value };
}

function unixMs(wallNs: bigint): number {
  const ms = wallNs / 1_000_000n;
  return Number(ms) + Number(wallNs - ms * 1_000_000n) / 1e6;
}
