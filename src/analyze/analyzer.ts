// TraceAnalyzer: one pass over one trace's records (from any decoder source), dispatching each to
// its thread's state machine and to the threadpool analysis, then finish() assembles the report.
// Memory stays bounded whatever the trace's length: per-thread counters, histograms, capped time
// series and top-K heaps; nothing grows per record.

import type { DecoderCallbacks, DecoderStats } from '../format/decoder.js';
import { describeDiagnostic, type SourcedDiagnostic, type TraceDiagnostic } from '../format/diagnostics.js';
import { Capability } from '../format/constants.js';
import type { PollEndRecord, PollStartRecord, StackFrame, TraceHeader, TraceRecord } from '../format/records.js';
import { BlockingCodeCollector, StackResolver } from './attribution.js';
import { UNTRACED_WORKER_MARK } from '../format/reserved-marks.js';
import { buildFindings } from './findings.js';
import { analyzeIdleWorkers } from './idle-workers.js';
import { LongTaskCollector, roundMs, type AttributionLookup } from './long-tasks.js';
import { resolveAnalysisOptions, type AnalysisOptions, type ResolvedAnalysisOptions } from './options.js';
import { ANALYZE_SCHEMA_VERSION, type DecodeInfo, type DiagnosticEntry, type ThreadReport, type ThreadRole, type TraceCapabilities, type TraceFileEntry, type TraceReport } from './report.js';
import { SelfCostAccumulator } from './self-cost.js';
import { SourceMapResolver } from './source-maps.js';
import { ThreadTracker, type TrackerContext } from './thread-stats.js';
import { ThreadpoolAnalyzer } from './threadpool.js';
import { OperationsAnalyzer } from './operations.js';
import { BucketGrid } from './time-series.js';
import { clockAnchorOf, WallClock } from './wall-clock.js';
import { threadMatcher } from './thread-select.js';

export const GENERATOR = 'looptrace/0.1.0 analyze-trace';

/** Diagnostics listed in a report; the rest are counted. */
const MAX_LISTED_DIAGNOSTICS = 50;
/** Activity buckets start this wide and double when the trace outgrows the cap. */
const ACTIVITY_BUCKET_NS = 100e6;
/** Activity series get this many times the report series' cap: they drive the idle-worker search. */
const ACTIVITY_CAP_FACTOR = 4;
const STOP_REASONS = ['exited', 'terminated', 'telemetry-stopped'] as const;

export class TraceAnalyzer {
  readonly options: ResolvedAnalysisOptions;
  private header: TraceHeader | undefined;
  private clock: WallClock | undefined;
  private lastFileIndex = -1;
  private readonly files: TraceFileEntry[] = [];
  private readonly trackers: (ThreadTracker | undefined)[] = [];
  private grid: BucketGrid | undefined;
  private ctx: TrackerContext | undefined;
  private readonly longTasks: LongTaskCollector;
  private readonly blockingCode = new BlockingCodeCollector();
  /** Capability bits of the trace's headers, OR-ed (null: no header had key 13), and the latest note and sampling settings. */
  private capabilityBits: number | null = null;
  private attributionNote: string | null = null;
  private stackSampling: TraceCapabilities['stackSampling'] = null;
  private readonly threadpool: ThreadpoolAnalyzer;
  private readonly selfCost = new SelfCostAccumulator();
  private readonly strings = new Map<number, string>();
  /** worker_threads ids of workers marked untraced (a Set: rotated files may repeat nothing, but merged inputs may). */
  /** Threads on which operations began: their loops serve requests (role "serving"). */
  private readonly operationThreads = new Set<number>();
  private readonly untracedWorkers = new Set<number>();
  private readonly stacks = new Map<number, StackFrame[]>();
  private readonly diagnostics: DiagnosticEntry[] = [];
  private diagnosticsOmitted = 0;
  private corruptFrames = 0;
  private truncated = 0;
  private foreignSkipping = false;
  private readonly sinceNs: number;
  private readonly untilNs: number;
  /** Records seen, and records inside the window (counted by see(), only when there is a window). */
  private recordCount = 0;
  private recordsInWindow = 0;
  private readonly windowed: boolean;
  private firstInWindowNs = Infinity;
  private lastInWindowNs = -Infinity;
  /** The latest POLL_START and POLL_END record objects (see onRecord). */
  private pollStartRecord: PollStartRecord | undefined;
  private pollEndRecord: PollEndRecord | undefined;
  /** Latest time of any record: where a stretch still open at the end is measured to. */
  private maxTimeNs = 0;
  private readonly operations: OperationsAnalyzer;

  constructor(options: AnalysisOptions = {}) {
    this.options = resolveAnalysisOptions(options);
    this.sinceNs = this.options.sinceNs;
    this.untilNs = this.options.untilNs;
    this.windowed = Number.isFinite(this.sinceNs) || Number.isFinite(this.untilNs);
    this.longTasks = new LongTaskCollector(this.options.longTaskNs, this.options.top);
    this.threadpool = new ThreadpoolAnalyzer({
      p90ThresholdNs: this.options.threadpoolP90Ns,
      sustainNs: this.options.threadpoolSustainNs,
      maxSeriesBuckets: this.options.maxSeriesBuckets,
      top: this.options.top,
    });
    this.operations = new OperationsAnalyzer(this.options.operations, this.sinceNs, this.untilNs);
    this.operations.useStrings(this.strings);
  }

  /** Callbacks for a TraceDecoder that feed this analyzer. */
  callbacks(): Required<DecoderCallbacks> {
    return {
      onRecord: this.onRecord,
      onHeader: (h) => this.onHeader(h),
      onDiagnostic: (d) => this.onDiagnostic(d),
    };
  }

  /** Lists a file in the report (its path and size); the driver calls this as it opens each file. */
  addFile(entry: TraceFileEntry): void {
    this.files.push(entry);
  }

  onHeader(h: TraceHeader): void {
    if (this.header !== undefined && h.traceId !== this.header.traceId) {
      // One analyzer reads one trace: records of another are skipped, and said so.
      this.foreignSkipping = true;
      this.addDiagnostic({ kind: 'foreign-trace', source: null, offset: 0, message: `skipped a file of another trace (${h.traceId}); analyze each trace separately` });
      return;
    }
    this.foreignSkipping = false;
    if (this.header === undefined) this.clock = new WallClock(h.originWallUnixNs);
    else if (h.fileIndex !== this.lastFileIndex + 1) this.gapAll();
    this.header = h;
    this.lastFileIndex = h.fileIndex;
    if (h.capabilities !== undefined) this.capabilityBits = (this.capabilityBits ?? 0) | h.capabilities;
    if (h.attributionNote !== undefined && h.attributionNote !== '') this.attributionNote = h.attributionNote;
    if (h.stackSampling !== undefined) this.stackSampling = { ...h.stackSampling };
    for (const thread of h.threads) this.describeThread(thread.threadId, thread.nodeThreadId, thread.kind, thread.name);
  }

  onDiagnostic(d: TraceDiagnostic | SourcedDiagnostic): void {
    if (d.kind === 'corrupt-frame') this.corruptFrames++;
    if (d.kind === 'truncated') this.truncated++;
    // A lost frame may have held any thread's records: no pairing across it (docs/FORMAT.md 6.3).
    if (d.kind === 'corrupt-frame' || d.kind === 'truncated' || d.kind === 'bad-magic' || d.kind === 'malformed-header') this.gapAll();
    this.addDiagnostic({ kind: d.kind, source: 'source' in d && d.source !== undefined ? d.source : null, offset: d.offset, message: describeDiagnostic(d) });
  }

  /**
   * Takes one record. An arrow function, so a decoder can call it directly, and each case reads
   * the record's fields itself: there a property load sees one record shape, not eighteen.
   */
  readonly onRecord = (r: TraceRecord): void => {
    if (this.foreignSkipping) return;
    // TraceDecoder hands out one reused object per record type, so the two commonest records are
    // recognised by identity, before reading r.type (a load that sees every record shape, and is
    // slow for it). Records that are not the decoder's reused objects take the switch below.
    if (r === this.pollStartRecord) {
      this.recordCount++;
      if (this.windowed) this.see(r.timeNs);
      if (r.threadId !== 0) this.tracker(r.threadId).pollStart(r);
      return;
    }
    if (r === this.pollEndRecord) {
      this.recordCount++;
      if (this.windowed) this.see(r.timeNs);
      if (r.threadId !== 0) this.tracker(r.threadId).pollEnd(r);
      return;
    }
    switch (r.type) {
      // Without a window, the threads' trackers keep the first and last times of their records,
      // so the commonest records skip see().
      case 'pollStart':
        this.pollStartRecord = r;
        this.recordCount++;
        if (this.windowed) this.see(r.timeNs);
        if (r.threadId !== 0) this.tracker(r.threadId).pollStart(r);
        return;
      case 'pollEnd':
        this.pollEndRecord = r;
        this.recordCount++;
        if (this.windowed) this.see(r.timeNs);
        if (r.threadId !== 0) this.tracker(r.threadId).pollEnd(r);
        return;
      case 'threadCpu':
        this.recordCount++;
        if (this.windowed) this.see(r.timeNs);
        if (r.threadId !== 0) this.tracker(r.threadId).threadCpu(r);
        return;
      case 'queueSample': {
        this.recordCount++;
        const t = r.timeNs;
        if (this.windowed) this.see(t);
        if (r.threadId !== 0) this.tracker(r.threadId).queueSample(t, r.activeHandles, r.activeRequests);
        return;
      }
      case 'threadpoolProbe': {
        this.recordCount++;
        const t = r.timeNs;
        this.see(t);
        if (t >= this.sinceNs && t <= this.untilNs) this.threadpool.probe(t, r.queueDelayNs);
        return;
      }
      default:
        this.recordCount++;
        this.see(r.timeNs);
        this.rareRecord(r);
    }
  };

  /** Records that come a few times per second at most. */
  private rareRecord(r: TraceRecord): void {
    const t = r.timeNs;
    switch (r.type) {
      case 'gcPause':
        if (r.threadId !== 0) this.tracker(r.threadId).gcPause(t, r.durationNs);
        break;
      case 'stackSample':
        if (r.threadId !== 0) this.tracker(r.threadId).stackSample(t, r.stackId, r.reason, r.lagNs);
        break;
      case 'threadSched':
        if (r.threadId !== 0) this.tracker(r.threadId).threadSched(t, r.runnableNs);
        break;
      case 'dropped':
        if (r.threadId !== 0) this.tracker(r.threadId).dropped(t, r.droppedRecords);
        break;
      case 'resumed':
        if (r.threadId !== 0) this.tracker(r.threadId).gap();
        break;
      case 'selfCost':
        if (t >= this.sinceNs && t <= this.untilNs) this.selfCost.add(r.threadId, r.component, r.cpuNs);
        break;
      case 'threadStart':
        this.describeThread(r.threadId, r.nodeThreadId, r.kind, this.strings.get(r.nameStringId) ?? '');
        break;
      case 'threadStop':
        if (r.threadId !== 0) this.tracker(r.threadId).threadStop(t, r.reason);
        break;
      case 'clockSync':
        this.wallClock().addSync(t, r.wallOffsetNs);
        break;
      case 'stringDef':
        this.strings.set(r.stringId, r.value);
        break;
      case 'mark':
        if (this.strings.get(r.nameStringId) === UNTRACED_WORKER_MARK) this.untracedWorkers.add(r.value);
        break;
      case 'stackDef':
        this.stacks.set(r.stackId, r.frames);
        break;
      case 'traceContext':
        this.operations.traceContext(r);
        break;
      case 'operationStart':
        this.operations.operationStart(r);
        if (r.threadId !== 0) this.operationThreads.add(r.threadId);
        break;
      case 'callbackStart':
        if (r.threadId !== 0) this.tracker(r.threadId).callbackStart(t);
        break;
      case 'callbackEnd':
        if (r.threadId !== 0) this.tracker(r.threadId).callbackEnd(t);
        break;
      case 'operationEnd':
        this.operations.operationEnd(r);
        break;
      default:
        break;
    }
  }

  private see(t: number): void {
    if (t > this.maxTimeNs) this.maxTimeNs = t;
    if (t >= this.sinceNs && t <= this.untilNs) {
      this.recordsInWindow++;
      if (t < this.firstInWindowNs) this.firstInWindowNs = t;
      if (t > this.lastInWindowNs) this.lastInWindowNs = t;
    }
  }

  /** Ends the pass and assembles the report. decoderStats fills the report's decode section. */
  finish(decoderStats?: DecoderStats): TraceReport {
    const clock = this.wallClock();
    const trackers = this.trackers.filter((t): t is ThreadTracker => t !== undefined);
    if (!this.windowed) {
      // The commonest records skipped see(): their times are in the trackers.
      this.recordsInWindow = this.recordCount;
      for (const t of trackers) {
        if (t.firstNs >= 0 && t.firstNs < this.firstInWindowNs) this.firstInWindowNs = t.firstNs;
        if (t.lastNs > this.lastInWindowNs) this.lastInWindowNs = t.lastNs;
        if (t.lastNs > this.maxTimeNs) this.maxTimeNs = t.lastNs;
      }
    }
    for (const t of trackers) t.finish(this.maxTimeNs);
    const capabilities = this.capabilities();
    const sourceMaps = new SourceMapResolver(this.options.sourceMaps);
    const stacks = new StackResolver(this.strings, this.stacks, sourceMaps);
    const lookup: AttributionLookup = {
      threadName: (id) => this.threadName(id),
      stacks,
      schedstat: capabilities.schedstat,
    };
    const filtered = this.options.threads.length > 0;
    const matches = threadMatcher(this.options.threads);
    const selectedTracker = (t: ThreadTracker): boolean => !filtered || matches({ name: this.threadName(t.threadId), kind: kindName(t.kind, t.threadId) });
    const selectedIds = new Set(trackers.filter(selectedTracker).map((t) => t.threadId));
    const selected = (threadId: number): boolean => !filtered || selectedIds.has(threadId);
    const isMain = (threadId: number): boolean => kindName(this.trackers[threadId]?.kind ?? -1, threadId) === 'main';
    const serving = threadMatcher(this.options.servingThreads);
    const roleOf = (t: ThreadTracker): ThreadRole => {
      const kind = kindName(t.kind, t.threadId);
      if (kind === 'main') return 'main';
      if (this.options.servingThreads.length > 0 && serving({ name: this.threadName(t.threadId), kind })) return 'serving';
      // A worker on which operations (requests, traced units of work) began serves them.
      return this.operationThreads.has(t.threadId) ? 'serving' : 'background';
    };
    const threads = trackers.filter((t) => (t.firstNs >= 0 || t.busyNs + t.blockedNs > 0) && selected(t.threadId)).map((t) => threadReport(t, capabilities, roleOf(t)));
    const longTasks = this.longTasks.report(clock, lookup, selected, isMain);
    for (const task of new Set([...longTasks.items, ...longTasks.byThread.flatMap((t) => t.items)])) {
      const ops = this.operations.forTask(task.threadId, task.startNs, this.strings);
      if (ops.items.length > 0) task.attribution.operations = ops;
    }
    const blockingCode = this.blockingCode.report(stacks, filtered ? selected : undefined);
    const threadBlocking = new Map(threads.map((t) => [t.threadId, this.blockingCode.topSite(t.threadId, stacks)] as const));
    const window = { sinceNs: this.sinceNs, untilNs: this.untilNs };
    const idleWorkers = analyzeIdleWorkers(trackers, this.grid, { idleNs: this.options.idleNs, saturation: this.options.saturation, top: this.options.top, ...window, ...(filtered ? { selected: selectedTracker } : {}) }, clock);
    const threadpool = this.threadpool.report(this.header?.threadpoolSize ?? null, clock, window);
    const decode: DecodeInfo = {
      bytes: decoderStats?.bytes ?? this.files.reduce((sum, f) => sum + f.bytes, 0),
      frames: decoderStats?.frames ?? 0,
      records: decoderStats?.records ?? this.recordsInWindow,
      corruptFrames: decoderStats?.corruptFrames ?? this.corruptFrames,
      truncated: decoderStats?.truncated ?? this.truncated,
      unknownRecords: decoderStats?.unknownRecords ?? 0,
      diagnostics: this.diagnostics,
      diagnosticsOmitted: this.diagnosticsOmitted,
    };
    const h = this.header;
    const empty = this.recordsInWindow === 0;
    const startNs = empty ? 0 : this.firstInWindowNs;
    const endNs = empty ? 0 : this.lastInWindowNs;
    return {
      schemaVersion: ANALYZE_SCHEMA_VERSION,
      generator: GENERATOR,
      trace: {
        traceId: h?.traceId ?? '',
        serviceName: nonEmpty(h?.serviceName),
        pid: h?.pid ?? null,
        hostname: nonEmpty(h?.hostname),
        nodeVersion: nonEmpty(h?.nodeVersion),
        platform: nonEmpty(h?.platform),
        producer: nonEmpty(h?.producer),
        threadpoolSize: h?.threadpoolSize ?? null,
        files: this.files,
        startNs,
        endNs,
        durationNs: endNs - startNs,
        startUnixMs: roundMs(clock.unixMs(startNs)),
        endUnixMs: roundMs(clock.unixMs(endNs)),
        startIso: clock.iso(startNs),
        endIso: clock.iso(endNs),
        clockAnchor: h === undefined ? null : clockAnchorOf(h),
        window: {
          sinceNs: Number.isFinite(this.sinceNs) ? this.sinceNs : null,
          untilNs: Number.isFinite(this.untilNs) ? this.untilNs : null,
          sinceIso: Number.isFinite(this.sinceNs) ? clock.iso(this.sinceNs) : null,
          untilIso: Number.isFinite(this.untilNs) ? clock.iso(this.untilNs) : null,
        },
        records: this.recordsInWindow,
        capabilities,
        untracedWorkers: [...this.untracedWorkers],
      },
      decode,
      options: {
        longTaskNs: this.options.longTaskNs,
        idleNs: this.options.idleNs,
        saturation: this.options.saturation,
        threadpoolP90Ns: this.options.threadpoolP90Ns,
        threadpoolSustainNs: this.options.threadpoolSustainNs,
        top: this.options.top,
        sourceMaps: this.options.sourceMaps,
        threads: filtered ? [...this.options.threads] : null,
        servingThreads: this.options.servingThreads.length > 0 ? [...this.options.servingThreads] : null,
      },
      findings: buildFindings({ threads, longTasks, idleWorkers, threadpool, decode, threadBlocking, untracedWorkers: this.untracedWorkers.size, saturation: this.options.saturation }),
      threads,
      longTasks,
      idleWorkers,
      threadpool,
      blockingCode,
      sourceMaps: sourceMaps.summary(),
      selfCost: this.selfCost.report((id) => this.threadName(id)),
      checks: [],
      ...(this.operations.seen || this.options.operations.traceId !== undefined || this.options.operations.filter !== undefined
        ? { operations: this.operations.report(this.strings, clock, (id) => this.threadName(id)) }
        : {}),
    };
  }

  /** The trace's wall clock (the first header's anchor); the epoch when no header was read. */
  wallClock(): WallClock {
    return (this.clock ??= new WallClock(0n));
  }

  threadName(threadId: number): string {
    const t = this.trackers[threadId];
    return t !== undefined && t.name !== '' ? t.name : threadId === 1 ? 'main' : `thread ${threadId}`;
  }

  private capabilities(): TraceCapabilities {
    const bits = this.capabilityBits;
    return {
      bits,
      schedstat: bits !== null && (bits & Capability.SchedStats) !== 0,
      stacks: bits !== null && (bits & Capability.StackSamples) !== 0,
      gc: bits !== null && (bits & Capability.GcPauses) !== 0,
      note: this.attributionNote,
      stackSampling: this.stackSampling,
    };
  }

  private tracker(threadId: number): ThreadTracker {
    return this.trackers[threadId] ?? this.createTracker(threadId);
  }

  private createTracker(threadId: number): ThreadTracker {
    if (this.ctx === undefined) {
      // The grid starts a second before the first record, so frames of other threads that arrive
      // slightly out of order still land in their own bucket.
      const firstNs = Math.max(0, (this.header?.fileStartNs ?? this.maxTimeNs) - 1e9, Number.isFinite(this.sinceNs) ? this.sinceNs : 0);
      this.grid = new BucketGrid(Math.floor(firstNs / ACTIVITY_BUCKET_NS) * ACTIVITY_BUCKET_NS, ACTIVITY_BUCKET_NS, this.options.maxSeriesBuckets * ACTIVITY_CAP_FACTOR);
      this.ctx = {
        sinceNs: this.sinceNs,
        untilNs: this.untilNs,
        longTaskNs: this.options.longTaskNs,
        idleNs: this.options.idleNs,
        grid: this.grid,
        onLongRun: (run) => {
          this.operations.longRun(run);
          this.longTasks.add(run);
          this.blockingCode.add(run);
        },
      };
    }
    const t = new ThreadTracker(threadId, this.ctx);
    this.trackers[threadId] = t;
    if (threadId === 1) {
      t.kind = 0;
      t.name = 'main';
    }
    return t;
  }

  private describeThread(threadId: number, nodeThreadId: number, kind: number, name: string): void {
    if (threadId === 0) return;
    const t = this.tracker(threadId);
    t.nodeThreadId = nodeThreadId;
    t.kind = kind;
    if (name !== '') t.name = name;
    else if (t.name === '') t.name = kind === 0 ? 'main' : `worker ${nodeThreadId}`;
  }

  private gapAll(): void {
    for (const t of this.trackers) t?.gap();
  }

  private addDiagnostic(entry: DiagnosticEntry): void {
    if (this.diagnostics.length < MAX_LISTED_DIAGNOSTICS) this.diagnostics.push(entry);
    else this.diagnosticsOmitted++;
  }
}

/** The main thread by kind, or thread 1 when the trace never said its kind. */
function kindName(kind: number, threadId: number): 'main' | 'worker' | 'unknown' {
  return kind === 0 || (kind === -1 && threadId === 1) ? 'main' : kind === 1 ? 'worker' : 'unknown';
}

function threadReport(t: ThreadTracker, caps: TraceCapabilities, role: ThreadRole): ThreadReport {
  const s = t.stretches.summary();
  const total = t.busyNs + t.blockedNs;
  return {
    threadId: t.threadId,
    nodeThreadId: t.nodeThreadId,
    kind: t.kind === 0 ? 'main' : t.kind === 1 ? 'worker' : 'unknown',
    role,
    name: t.name === '' ? `thread ${t.threadId}` : t.name,
    firstNs: Math.max(0, t.firstNs),
    lastNs: Math.max(0, t.lastNs),
    stoppedNs: t.stoppedNs >= 0 ? t.stoppedNs : null,
    stopReason: t.stopReason >= 0 ? (STOP_REASONS[t.stopReason] ?? null) : null,
    iterations: t.iterations,
    busyNs: t.busyNs,
    idleNs: t.blockedNs,
    blockedNs: t.blockedNs,
    utilization: total > 0 ? t.busyNs / total : null,
    busyStretch: { count: s.count, p50Ns: s.p50Ns, p90Ns: s.p90Ns, p99Ns: s.p99Ns, maxNs: s.maxNs, meanNs: s.meanNs },
    events: {
      total: t.eventsTotal,
      perIteration: t.iterations > 0 ? t.eventsTotal / t.iterations : 0,
      pollsWithWaiting: t.pollsWithWaiting,
      maxWaiting: t.maxWaiting,
      meanWaiting: t.iterations > 0 ? t.waitingTotal / t.iterations : 0,
    },
    queue: { samples: t.queueSamples, maxActiveHandles: t.maxActiveHandles, maxActiveRequests: t.maxActiveRequests },
    cpu: { cpuNs: t.cpuNs, wallNs: t.cpuWallNs, ratio: t.cpuWallNs > 0 ? Math.min(1, t.cpuNs / t.cpuWallNs) : null, runnableNs: caps.schedstat ? t.runnableNs : null },
    // A trace whose recorder did not record GC says nothing about it: null, not 0 pauses.
    gc: caps.gc || t.gcPauses > 0 ? { pauses: t.gcPauses, totalNs: t.gcNs, maxNs: t.gcMaxNs, busyShare: t.busyNs > 0 ? Math.min(1, t.gcNs / t.busyNs) : null } : null,
    droppedRecords: t.droppedRecords,
    gaps: t.gaps,
    longTasks: { count: t.longTaskCount, totalNs: t.longTaskTotalNs, maxNs: t.longTaskMaxNs },
  };
}

function nonEmpty(value: string | undefined): string | null {
  return value === undefined || value === '' ? null : value;
}
