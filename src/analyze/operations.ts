// Operations in a trace: OPERATION_START / OPERATION_END records with their TRACE_CONTEXT
// definitions, read in one streaming pass in bounded memory. It reports per-name counts, failure
// rates and duration percentiles; names the operations that were running on a thread during each
// long task; lists operations that match a filter (name pattern, status, duration, window), the
// last N; and builds the tree of one trace id.
//
// Joining long tasks to operations goes by thread and time. An operation whose start or end record
// falls inside the busy stretch certainly ran JavaScript in it ("ran"); one that was merely open
// across it ("open") may have been waiting. The report says which evidence each one has.

import { DurationHistogram } from '../operations/duration-histogram.js';
import { namePattern } from '../operations/samplers.js';
import type { OperationEndRecord, OperationStartRecord, TraceContextRecord } from '../format/records.js';
import { roundMs } from './long-tasks.js';
import type { BusyRun } from './thread-stats.js';
import type { WallClock } from './wall-clock.js';

export type OperationStatusName = 'completed' | 'failed' | 'cancelled' | 'open';
/** OPERATION_END status codes (docs/FORMAT.md). */
const STATUS_NAMES: Record<number, OperationStatusName> = { 0: 'completed', 1: 'failed', 2: 'cancelled' };

export interface OperationFilter {
  /** Name pattern with `*` wildcards. */
  name?: string;
  status?: OperationStatusName;
  /** Only operations at least this long. */
  minDurationNs?: number;
  /** Keep the last N matches (by end time). Default 20. */
  last?: number;
}

export interface OperationsAnalysisOptions {
  filter?: OperationFilter;
  /** Build the operation tree of this trace id. */
  traceId?: string;
  /** Names listed one by one in byName; the rest are summed as "(other)". Default 200. */
  maxNames?: number;
  /**
   * Keep up to this many operations with a trace context, grouped by W3C trace id, for joining
   * traces across processes (--merge). When full, the oldest trace id's operations make room.
   * Default 0: none kept.
   */
  indexTraces?: number;
}

export interface OperationEntry {
  operationId: number;
  name: string;
  status: OperationStatusName;
  threadId: number;
  threadName: string;
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  sampled: boolean | null;
  startNs: number;
  /** Null while still open at the end of the trace. */
  endNs: number | null;
  durationNs: number | null;
  /** Wall-clock start: comparable across processes (startNs is this trace's own clock). */
  startUnixMs: number;
  startIso: string;
}

export interface OperationNameStats {
  name: string;
  count: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Started in the trace and not ended by its end. */
  open: number;
  failureRate: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  maxNs: number;
}

export interface OperationTreeNode extends OperationEntry {
  children: OperationTreeNode[];
}

export interface OperationsReport {
  /** Operations started inside the window. */
  count: number;
  ended: number;
  open: number;
  /** By count, most first; names past maxNames are summed into "(other)". */
  byName: OperationNameStats[];
  /** Percentiles are within this relative error. */
  percentileRelativeError: number;
  matches: { filter: OperationFilter & { last: number }; total: number; items: OperationEntry[] } | null;
  tree: { traceId: string; operations: number; roots: OperationTreeNode[]; truncated: boolean } | null;
  /**
   * Operations with a trace context kept for a join across processes (options.indexTraces), in
   * no particular order; truncated when older trace ids were dropped to stay within the bound.
   * Absent unless asked for; src/analyze/merge.ts consumes it and removes it from the report.
   */
  indexed?: { operations: OperationEntry[]; truncated: boolean };
}

/** What ran during a long task (LongTask.attribution.operations). */
export interface LongTaskOperation {
  name: string;
  operationId: number;
  traceId: string | null;
  spanId: string | null;
  parentSpanId: string | null;
  /**
   * ran: its start or end record is inside the task, or that of an operation under it, so it
   * certainly ran in it; open: it was open across the task (it may have been waiting).
   */
  evidence: 'ran' | 'open';
  /**
   * How long the operation, or the longest operation under it, ran entirely inside the task
   * (start and end both inside): the share of the task it certainly accounts for. 0 when none did.
   */
  insideNs: number;
}

interface OpenOp {
  operationId: number;
  nameStringId: number;
  threadId: number;
  startNs: number;
}

interface EndedOp extends OpenOp {
  endNs: number;
  status: number;
}

interface ContextDef {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  traceFlags: number;
}

/** An operation kept for a join across processes, with its context (contexts are dropped once an operation ends). */
interface IndexedOp {
  op: OpenOp | EndedOp;
  ctx: ContextDef;
}

/** Bounds, so that memory stays flat however long the trace. */
const MAX_OPEN = 100_000;
const MAX_CONTEXTS = 200_000;
const RECENT_PER_THREAD = 256;
const MAX_TREE_OPERATIONS = 10_000;
const MAX_TASK_OPERATIONS = 8;
const MAX_ATTRIBUTED_RUNS = 10_000;
const NO_PARENT = '0000000000000000';

export class OperationsAnalyzer {
  private readonly open = new Map<number, OpenOp>();
  private readonly contexts = new Map<number, ContextDef>();
  private readonly recent: EndedOp[][] = [];
  private readonly names = new Map<number, { count: number; completed: number; failed: number; cancelled: number; open: number; durations: DurationHistogram }>();
  private readonly matches: EndedOp[] = [];
  private matchTotal = 0;
  private readonly treeOps: Array<EndedOp | OpenOp> = [];
  private treeTruncated = false;
  private readonly byRun = new Map<string, LongTaskOperation[]>();
  private readonly traceIndex = new Map<string, IndexedOp[]>();
  private indexedCount = 0;
  private indexTruncated = false;
  private started = 0;
  private endedCount = 0;
  private readonly filter: (OperationFilter & { last: number }) | undefined;
  private readonly filterPattern: RegExp | undefined;
  private readonly traceId: string | undefined;
  private readonly maxNames: number;

  constructor(
    private readonly options: OperationsAnalysisOptions,
    private readonly sinceNs: number,
    private readonly untilNs: number,
  ) {
    this.filter = options.filter === undefined ? undefined : { ...options.filter, last: options.filter.last ?? 20 };
    this.filterPattern = options.filter?.name === undefined ? undefined : namePattern(options.filter.name);
    this.traceId = options.traceId;
    this.maxNames = options.maxNames ?? 200;
  }

  /** True once any operation record was seen: the report then has an operations section. */
  get seen(): boolean {
    return this.started > 0 || this.endedCount > 0;
  }

  traceContext(r: TraceContextRecord): void {
    if (this.contexts.size >= MAX_CONTEXTS) this.contexts.delete(this.contexts.keys().next().value!);
    this.contexts.set(r.operationId, { traceId: r.traceId, spanId: r.spanId, parentSpanId: r.parentSpanId, traceFlags: r.traceFlags });
  }

  operationStart(r: OperationStartRecord): void {
    if (r.timeNs > this.untilNs) return;
    if (this.open.size >= MAX_OPEN) this.open.delete(this.open.keys().next().value!);
    this.open.set(r.operationId, { operationId: r.operationId, nameStringId: r.nameStringId, threadId: r.threadId, startNs: r.timeNs });
  }

  operationEnd(r: OperationEndRecord): void {
    const op = this.open.get(r.operationId);
    if (op === undefined) return; // its start came before the window or before this file set
    this.open.delete(r.operationId);
    const ended: EndedOp = { ...op, endNs: r.timeNs, status: r.status };
    let recent = this.recent[op.threadId];
    if (recent === undefined) this.recent[op.threadId] = recent = [];
    // Recently ended operations (and their contexts) stay for the long-task join: a busy stretch
    // is reported when it ends, after the operations that ran in it.
    recent.push(ended);
    if (recent.length > RECENT_PER_THREAD) {
      const old = recent.shift()!;
      if (!this.keepsContext(old.operationId)) this.contexts.delete(old.operationId);
    }
    if (ended.endNs < this.sinceNs) return;
    this.started++;
    this.endedCount++;
    this.count(ended, r.status);
    this.consider(ended);
    this.index(ended);
  }

  /** Keeps an operation for the join across processes, the oldest trace ids giving way when full. */
  private index(op: OpenOp | EndedOp): void {
    const cap = this.options.indexTraces ?? 0;
    if (cap <= 0) return;
    const ctx = this.contexts.get(op.operationId);
    if (ctx === undefined) return;
    while (this.indexedCount >= cap) {
      const [oldest, ops] = this.traceIndex.entries().next().value!;
      this.traceIndex.delete(oldest);
      this.indexedCount -= ops.length;
      this.indexTruncated = true;
    }
    let ops = this.traceIndex.get(ctx.traceId);
    if (ops === undefined) this.traceIndex.set(ctx.traceId, (ops = []));
    ops.push({ op, ctx });
    this.indexedCount++;
  }

  /** Called when a thread's busy stretch turned out to be a long task: what ran in it. */
  longRun(run: BusyRun): void {
    const found: LongTaskOperation[] = [];
    const add = (op: OpenOp, endNs: number | undefined): void => {
      if (op.startNs > run.endNs || (endNs !== undefined && endNs < run.startNs)) return;
      const ctx = this.contexts.get(op.operationId);
      const startsInside = op.startNs >= run.startNs;
      const endsInside = endNs !== undefined && endNs <= run.endNs;
      found.push({
        name: String(op.nameStringId),
        operationId: op.operationId,
        traceId: ctx?.traceId ?? null,
        spanId: ctx?.spanId ?? null,
        parentSpanId: ctx === undefined || ctx.parentSpanId === NO_PARENT ? null : ctx.parentSpanId,
        evidence: startsInside || endsInside ? 'ran' : 'open',
        insideNs: startsInside && endsInside ? endNs - op.startNs : 0,
      });
    };
    for (const op of this.recent[run.threadId] ?? []) add(op, op.endNs);
    for (const op of this.open.values()) if (op.threadId === run.threadId) add(op, undefined);
    if (found.length === 0) return;
    // An operation under which another ran entirely inside the task ran in it too (the child
    // started in its context), for at least as long.
    const bySpan = new Map<string, LongTaskOperation>();
    for (const f of found) if (f.spanId !== null) bySpan.set(f.spanId, f);
    for (const f of found) {
      if (f.insideNs === 0) continue;
      let parent = f.parentSpanId === null ? undefined : bySpan.get(f.parentSpanId);
      for (let depth = 0; parent !== undefined && depth < 64; depth++) {
        parent.evidence = 'ran';
        if (parent.insideNs < f.insideNs) parent.insideNs = f.insideNs;
        parent = parent.parentSpanId === null ? undefined : bySpan.get(parent.parentSpanId);
      }
    }
    // Most time inside first, then evidence, then the innermost (latest started).
    found.sort((a, b) => b.insideNs - a.insideNs || (a.evidence === b.evidence ? b.operationId - a.operationId : a.evidence === 'ran' ? -1 : 1));
    if (this.byRun.size >= MAX_ATTRIBUTED_RUNS) this.byRun.delete(this.byRun.keys().next().value!);
    this.byRun.set(`${run.threadId}:${run.startNs}`, found);
  }

  /** The operations of a long task, names resolved; [] when none was running. */
  forTask(threadId: number, startNs: number, strings: ReadonlyMap<number, string>): { items: LongTaskOperation[]; more: number } {
    const found = this.byRun.get(`${threadId}:${startNs}`) ?? [];
    const items = found.slice(0, MAX_TASK_OPERATIONS).map((o) => ({ ...o, name: strings.get(Number(o.name)) ?? `operation ${o.name}` }));
    return { items, more: Math.max(0, found.length - items.length) };
  }

  report(strings: ReadonlyMap<number, string>, clock: WallClock, threadName: (id: number) => string): OperationsReport {
    // Operations still open at the end count as started and open.
    for (const op of this.open.values()) {
      if (op.startNs < this.sinceNs) continue;
      this.started++;
      const stats = this.nameStats(op.nameStringId);
      stats.count++;
      stats.open++;
      if (this.traceId !== undefined && this.contexts.get(op.operationId)?.traceId === this.traceId) this.addTreeOp(op);
      this.index(op);
      if (this.filter?.status === 'open' && this.filter.minDurationNs === undefined && this.matchesName(op)) this.addMatch({ ...op, endNs: -1, status: -1 });
    }
    const entry = (op: OpenOp | EndedOp, known?: ContextDef): OperationEntry => {
      const ctx = known ?? this.contexts.get(op.operationId);
      const endNs = 'endNs' in op && op.endNs >= 0 ? op.endNs : null;
      return {
        operationId: op.operationId,
        name: strings.get(op.nameStringId) ?? `operation ${op.nameStringId}`,
        status: 'status' in op && op.status >= 0 ? (STATUS_NAMES[op.status] ?? 'failed') : 'open',
        threadId: op.threadId,
        threadName: threadName(op.threadId),
        traceId: ctx?.traceId ?? null,
        spanId: ctx?.spanId ?? null,
        parentSpanId: ctx === undefined || ctx.parentSpanId === NO_PARENT ? null : ctx.parentSpanId,
        sampled: ctx === undefined ? null : (ctx.traceFlags & 1) === 1,
        startNs: op.startNs,
        endNs,
        durationNs: endNs === null ? null : endNs - op.startNs,
        startUnixMs: roundMs(clock.unixMs(op.startNs)),
        startIso: clock.iso(op.startNs),
      };
    };
    const named = [...this.names.entries()].map(([id, s]) => ({ name: strings.get(id) ?? `operation ${id}`, s }));
    named.sort((a, b) => b.s.count - a.s.count || (a.name < b.name ? -1 : 1));
    const byName: OperationNameStats[] = named.slice(0, this.maxNames).map(({ name, s }) => nameReport(name, s));
    if (named.length > this.maxNames) {
      const other = { count: 0, completed: 0, failed: 0, cancelled: 0, open: 0, durations: new DurationHistogram() };
      for (const { s } of named.slice(this.maxNames)) {
        other.count += s.count;
        other.completed += s.completed;
        other.failed += s.failed;
        other.cancelled += s.cancelled;
        other.open += s.open;
      }
      byName.push({ ...nameReport('(other)', other), p50Ns: 0, p90Ns: 0, p99Ns: 0, maxNs: Math.max(...named.slice(this.maxNames).map((n) => n.s.durations.maxNs)) });
    }
    return {
      count: this.started,
      ended: this.endedCount,
      open: this.started - this.endedCount,
      byName,
      percentileRelativeError: 0.01,
      matches: this.filter === undefined ? null : { filter: this.filter, total: this.matchTotal, items: this.matches.map((op) => entry(op)) },
      tree: this.traceId === undefined ? null : { traceId: this.traceId, operations: this.treeOps.length, roots: buildTree(this.treeOps.map((op) => entry(op))), truncated: this.treeTruncated },
      ...((this.options.indexTraces ?? 0) > 0
        ? { indexed: { operations: [...this.traceIndex.values()].flatMap((ops) => ops.map(({ op, ctx }) => entry(op, ctx))), truncated: this.indexTruncated } }
        : {}),
    };
  }

  private count(op: EndedOp, status: number): void {
    const stats = this.nameStats(op.nameStringId);
    stats.count++;
    const name = STATUS_NAMES[status] ?? 'failed';
    if (name === 'completed') stats.completed++;
    else if (name === 'cancelled') stats.cancelled++;
    else stats.failed++;
    stats.durations.record(op.endNs - op.startNs);
  }

  private nameStats(nameStringId: number) {
    let stats = this.names.get(nameStringId);
    if (stats === undefined) this.names.set(nameStringId, (stats = { count: 0, completed: 0, failed: 0, cancelled: 0, open: 0, durations: new DurationHistogram() }));
    return stats;
  }

  private consider(op: EndedOp): void {
    if (this.traceId !== undefined && this.contexts.get(op.operationId)?.traceId === this.traceId) this.addTreeOp(op);
    const f = this.filter;
    if (f === undefined) return;
    if (f.status !== undefined && (STATUS_NAMES[op.status] ?? 'failed') !== f.status) return;
    if (f.minDurationNs !== undefined && op.endNs - op.startNs < f.minDurationNs) return;
    if (!this.matchesName(op)) return;
    this.addMatch(op);
  }

  private addMatch(op: EndedOp): void {
    this.matchTotal++;
    this.matches.push(op);
    this.kept.add(op.operationId);
    if (this.matches.length > this.filter!.last) {
      const dropped = this.matches.shift()!;
      this.kept.delete(dropped.operationId);
    }
  }

  /**
   * The analyzer's string table, live: STRING_DEF records come before the records that use them,
   * so a name filter can be checked as each operation ends.
   */
  useStrings(strings: ReadonlyMap<number, string>): void {
    this.strings = strings;
  }

  private strings: ReadonlyMap<number, string> = new Map();
  /** Operation ids whose contexts the report still needs (tree and matches). */
  private readonly kept = new Set<number>();

  private matchesName(op: OpenOp): boolean {
    if (this.filterPattern === undefined) return true;
    const name = this.strings.get(op.nameStringId);
    return name !== undefined && this.filterPattern.test(name);
  }

  /** Contexts of operations kept for the report stay; others are dropped once ended. */
  private keepsContext(operationId: number): boolean {
    return this.kept.has(operationId);
  }

  private addTreeOp(op: OpenOp | EndedOp): void {
    if (this.treeOps.length >= MAX_TREE_OPERATIONS) {
      this.treeTruncated = true;
      return;
    }
    this.treeOps.push(op);
    this.kept.add(op.operationId);
  }
}

function nameReport(name: string, s: { count: number; completed: number; failed: number; cancelled: number; open: number; durations: DurationHistogram }): OperationNameStats {
  const ended = s.completed + s.failed + s.cancelled;
  return {
    name,
    count: s.count,
    completed: s.completed,
    failed: s.failed,
    cancelled: s.cancelled,
    open: s.open,
    failureRate: ended === 0 ? 0 : s.failed / ended,
    p50Ns: Math.round(s.durations.quantileNs(0.5)),
    p90Ns: Math.round(s.durations.quantileNs(0.9)),
    p99Ns: Math.round(s.durations.quantileNs(0.99)),
    maxNs: s.durations.maxNs,
  };
}

/** Parents by span id; an operation whose parent is not in the set (remote, or outside the window) is a root. */
function buildTree(entries: OperationEntry[]): OperationTreeNode[] {
  const nodes = entries.map((e) => ({ ...e, children: [] as OperationTreeNode[] }));
  const bySpan = new Map<string, OperationTreeNode>();
  for (const n of nodes) if (n.spanId !== null) bySpan.set(n.spanId, n);
  const roots: OperationTreeNode[] = [];
  for (const n of nodes) {
    const parent = n.parentSpanId === null ? undefined : bySpan.get(n.parentSpanId);
    if (parent !== undefined && parent !== n) parent.children.push(n);
    else roots.push(n);
  }
  const sort = (list: OperationTreeNode[]): void => {
    list.sort((a, b) => a.startNs - b.startNs);
    for (const n of list) sort(n.children);
  };
  sort(roots);
  return roots;
}
