// The report that analyze-trace produces: the shape of `analyze-trace --json`, documented field by
// field in docs/ANALYZE-JSON.md. Every duration is in integer nanoseconds (fields end in Ns),
// every ratio is between 0 and 1, and every point in time is given three ways: trace time (ns since
// the trace's origin), Unix milliseconds and an ISO 8601 string in UTC.
//
// Stability: fields are only added within a schemaVersion; a rename, removal or change of meaning
// increases it. Consumers should ignore fields they do not know.

/** The version of this shape. docs/ANALYZE-JSON.md describes version 1. */
export const ANALYZE_SCHEMA_VERSION = 1;

import type { SelfCostReport } from './self-cost.js';

export interface TraceReport {
  schemaVersion: number;
  /** What wrote the report, for example "looptrace/0.1.0 analyze-trace". */
  generator: string;
  trace: TraceInfo;
  decode: DecodeInfo;
  options: ReportOptions;
  /** The answers, worst first: what blocked which loop, idle workers, threadpool pressure, data loss. */
  findings: Finding[];
  threads: ThreadReport[];
  longTasks: LongTasksReport;
  idleWorkers: IdleWorkersReport;
  threadpool: ThreadpoolReport;
  /** looptrace's own CPU cost from SELF_COST records; null when the trace has none. */
  selfCost: SelfCostReport | null;
  /** Results of --fail-on conditions; empty when none were given. */
  checks: CheckResult[];
}

export interface TraceInfo {
  /** 32 hex digits, the same in every file of the trace. */
  traceId: string;
  serviceName: string | null;
  pid: number | null;
  hostname: string | null;
  nodeVersion: string | null;
  platform: string | null;
  producer: string | null;
  /** UV_THREADPOOL_SIZE in effect when the trace was recorded, when the recorder wrote it. */
  threadpoolSize: number | null;
  files: TraceFileEntry[];
  /** The analyzed span: from the first to the last record inside the window. */
  startNs: number;
  endNs: number;
  durationNs: number;
  startUnixMs: number;
  endUnixMs: number;
  startIso: string;
  endIso: string;
  /** The --since/--until window in trace time and as ISO 8601; null where open. */
  window: { sinceNs: number | null; untilNs: number | null; sinceIso: string | null; untilIso: string | null };
  /** Records inside the window (the decoder's total is decode.records). */
  records: number;
}

export interface TraceFileEntry {
  path: string;
  fileIndex: number;
  bytes: number;
}

export interface DecodeInfo {
  bytes: number;
  frames: number;
  records: number;
  corruptFrames: number;
  truncated: number;
  unknownRecords: number;
  /** The first diagnostics, each with the decoder's description. */
  diagnostics: DiagnosticEntry[];
  /** Diagnostics beyond those listed. */
  diagnosticsOmitted: number;
}

export interface DiagnosticEntry {
  kind: string;
  source: string | null;
  offset: number;
  message: string;
}

export interface ReportOptions {
  longTaskNs: number;
  idleNs: number;
  saturation: number;
  threadpoolP90Ns: number;
  threadpoolSustainNs: number;
  top: number;
}

export type Severity = 'critical' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  kind: 'long-task' | 'unbalanced-pool' | 'idle-worker' | 'threadpool-pressure' | 'dropped-records' | 'damaged-trace';
  /** The thread the finding is about, when there is one. */
  threadId: number | null;
  message: string;
  /** Time lost or at stake, used to order findings worst first. */
  impactNs: number;
}

export interface Percentiles {
  count: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  maxNs: number;
  meanNs: number;
}

export interface ThreadReport {
  /** looptrace's thread id: 1 is the main thread, 2 and up workers in start order. */
  threadId: number;
  /** worker_threads' threadId (0 for the main thread), or null when the trace does not say. */
  nodeThreadId: number | null;
  kind: 'main' | 'worker' | 'unknown';
  name: string;
  firstNs: number;
  lastNs: number;
  stoppedNs: number | null;
  stopReason: 'exited' | 'terminated' | 'telemetry-stopped' | null;
  /** POLL_END records: one per loop iteration. */
  iterations: number;
  /** Time running callbacks (I/O callbacks and timers/immediates) vs blocked waiting for I/O. */
  busyNs: number;
  blockedNs: number;
  /** busyNs / (busyNs + blockedNs), or null when neither was measured. */
  utilization: number | null;
  /** Uninterrupted busy stretches: from the end of blocking in one poll to the start of the next poll. */
  busyStretch: Percentiles;
  events: {
    /** I/O events delivered by polls. */
    total: number;
    perIteration: number;
    /** Polls that found events already waiting: the loop was behind. */
    pollsWithWaiting: number;
    maxWaiting: number;
    meanWaiting: number;
  };
  queue: { samples: number; maxActiveHandles: number; maxActiveRequests: number };
  /** CPU time over the busy stretches that carried a THREAD_CPU record. */
  cpu: { cpuNs: number; wallNs: number; ratio: number | null };
  droppedRecords: number;
  /** Times the busy/blocked pairing was broken (dropped records, a pause, a lost frame). */
  gaps: number;
  longTasks: { count: number; totalNs: number; maxNs: number };
}

export type CpuVerdict = 'cpu-bound' | 'mixed' | 'off-cpu' | 'unknown';

export interface LongTask {
  threadId: number;
  threadName: string;
  startNs: number;
  endNs: number;
  durationNs: number;
  startUnixMs: number;
  startIso: string;
  /** The phase that took most of the stretch. */
  phase: 'timers-immediates' | 'io-callbacks';
  /** The I/O-callback part of the poll phase that began the stretch (POLL_START to POLL_END minus blocked time). */
  ioCallbacksNs: number;
  /** From POLL_END to the next POLL_START: timers, immediates, close and pending callbacks. */
  timersImmediatesNs: number;
  cpu: { cpuNs: number; wallNs: number; ratio: number } | null;
  /** cpu-bound: ratio >= 0.8; off-cpu: <= 0.2 (a synchronous wait or descheduled); unknown: no THREAD_CPU record. */
  verdict: CpuVerdict;
  /** 'poll': ended when the loop polled again; 'trace-end': still running when the trace ends (a lower bound). */
  endedBy: 'poll' | 'trace-end';
  attribution: LongTaskAttribution;
}

/**
 * What else the trace says about a long task. Today's recorder writes phase and CPU only; GC pauses
 * and stack samples are read when a trace holds them. Later versions add keys here (callbacks,
 * operations); consumers should ignore keys they do not know.
 */
export interface LongTaskAttribution {
  gc: { pauses: number; totalNs: number } | null;
  stacks: { stackId: number; samples: number; frames: string[] }[];
}

export interface LongTasksReport {
  thresholdNs: number;
  /** Every long task in the window, listed or not. */
  count: number;
  totalNs: number;
  /** The worst, longest first, at most options.top. */
  items: LongTask[];
}

export interface PoolMember {
  threadId: number;
  name: string;
  utilization: number | null;
  busyNs: number;
  blockedNs: number;
}

export interface WorkerPool {
  /** Workers running the same script form a pool: the script part of their names. */
  script: string;
  threadIds: number[];
  /** The time all members were alive together. */
  spanNs: number;
  members: PoolMember[];
  busiestThreadId: number;
  busiestName: string;
  /** The busiest member is at least 50% busy and twice as busy as the median of the others. */
  unbalanced: boolean;
  summary: string;
}

export interface IdleEpisode {
  threadId: number;
  threadName: string;
  startNs: number;
  endNs: number;
  durationNs: number;
  startUnixMs: number;
  startIso: string;
  /** Time the worker spent blocked in polls of at least idleNs within the episode. */
  idleNs: number;
  /** The busiest other thread over the episode. */
  peer: {
    threadId: number;
    name: string;
    utilization: number;
    pollsWithWaiting: number;
    reason: 'saturated' | 'events-waiting';
  };
}

export interface IdleWorkersReport {
  idleThresholdNs: number;
  saturation: number;
  /** Resolution of the episode search. */
  bucketNs: number;
  pools: WorkerPool[];
  episodes: { count: number; totalIdleNs: number; items: IdleEpisode[] };
}

export interface ThreadpoolBucket {
  startNs: number;
  startUnixMs: number;
  startIso: string;
  count: number;
  p50Ns: number;
  p90Ns: number;
  maxNs: number;
}

export interface PressureEpisode {
  startNs: number;
  endNs: number;
  durationNs: number;
  startUnixMs: number;
  startIso: string;
  peakP90Ns: number;
  maxNs: number;
}

export interface ThreadpoolReport {
  threadpoolSize: number | null;
  /** Delay from queueing a no-op task on the libuv threadpool until a pool thread ran it. */
  delay: Percentiles;
  series: { bucketNs: number; buckets: ThreadpoolBucket[] };
  pressure: {
    /** Whether any episode lasted at least sustainNs. */
    flagged: boolean;
    p90ThresholdNs: number;
    sustainNs: number;
    /** Seconds of pressure in all, sustained or not. */
    totalNs: number;
    /** Sustained episodes, longest first. */
    episodes: PressureEpisode[];
    /** What to try, when flagged. */
    advice: string[];
  };
}

export interface CheckResult {
  expression: string;
  violated: boolean;
  /** The measured value in the unit of the condition's metric (ns, a ratio or a count), or null when the trace has no data for it. */
  actual: number | null;
  message: string;
}
