// The report that analyze-trace produces: the shape of `analyze-trace --json`, documented field by
// field in docs/ANALYZE-JSON.md. Every duration is in integer nanoseconds (fields end in Ns),
// every ratio is between 0 and 1, and every point in time is given three ways: trace time (ns since
// the trace's origin), Unix milliseconds and an ISO 8601 string in UTC.
//
// Stability: fields are only added within a schemaVersion; a rename, removal or change of meaning
// increases it. Consumers should ignore fields they do not know.

import type { LongTaskOperation, OperationsReport } from './operations.js';
import type { SourceMapSummary } from './source-maps.js';

export type { SourceMapSummary };

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
  /** Sampled stacks of all long tasks together: where the blocked time went, by function. */
  blockingCode: BlockingCodeReport;
  /** Which scripts of sampled frames were mapped through source maps, and which could not be. */
  sourceMaps: SourceMapSummary;
  /** looptrace's own CPU cost from SELF_COST records; null when the trace has none. */
  selfCost: SelfCostReport | null;
  /** Results of --fail-on conditions; empty when none were given. */
  checks: CheckResult[];
  /** Operations (traced() and HTTP) when the trace holds any, or filters were given. */
  operations?: OperationsReport;
}

/** What the recorder could measure (header keys 13-15, docs/FORMAT.md 3.2). */
export interface TraceCapabilities {
  /** The header's capability bits, or null when the recorder predates them (format 1.0). */
  bits: number | null;
  /** THREAD_SCHED records: off-CPU time splits into runnable and waiting. */
  schedstat: boolean;
  /** STACK_SAMPLE records while a loop is busy. */
  stacks: boolean;
  /** GC_PAUSE records. */
  gc: boolean;
  /** The recorder's reason why a capability is missing (header key 14), or null. */
  note: string | null;
  /** A loop busy for thresholdNs gets its first sample, then one every intervalNs; null when not recorded. */
  stackSampling: { thresholdNs: number; intervalNs: number } | null;
}

/** A frame of a sampled stack. */
export interface CallFrame {
  /** The function's name as V8 reports it; "" for an anonymous function. */
  function: string;
  /** The script as V8 reports it: an absolute path, a file: URL, node:…, or "" (no script). */
  url: string;
  /** 1-based; 0 when unknown. */
  line: number;
  column: number;
  /** Where this code was written, from the script's source map; null without one. */
  original: { source: string; line: number; column: number; name: string | null } | null;
}

/** A sampled stack of a long task. */
export interface SampledStack {
  stackId: number;
  samples: number;
  /** Frames as "function (script:line:column)", innermost first, as recorded; [] when the stack is not defined in the trace. */
  frames: string[];
  /** The same frames with their parts and source-mapped positions. */
  callFrames: CallFrame[];
  /** The time these samples stand for (each sample: until the next sample or the task's end; a late sample also its lag). */
  weightNs: number;
  /** The largest lag of these samples: the thread was outside JavaScript (in native code) that long before one. */
  maxLagNs: number;
}

/** Where a task (or a share of blocked time) was spent: the innermost frame of user code and the frames above it. */
export interface BlockingSite {
  /** The innermost frame whose script is not Node's own (node:…) nor empty; the top frame when there is none. */
  frame: CallFrame;
  /** The frames above it, innermost first (e.g. JSON.stringify, or execSync in node:child_process); [] when it is the top frame. */
  above: CallFrame[];
  /** "JSON.stringify ← sendPage (/srv/src/http.ts:51:9)", unescaped. */
  text: string;
}

/** The three-way split of a long task's measured wall time. */
export interface TimeSplit {
  /** The wall time that THREAD_CPU records measured (blocked poll time excluded). */
  wallNs: number;
  onCpuNs: number;
  /** wallNs - onCpuNs: waiting plus runnable. */
  offCpuNs: number;
  /** Runnable but not running (descheduled, waiting for a core); null when the recorder did not read scheduler statistics. */
  runnableNs: number | null;
  /** Asleep in a blocking call (sync I/O, Atomics.wait, execSync); null when the recorder did not read scheduler statistics. */
  waitingNs: number | null;
}

/** The trace's origin on both clocks (header key 3, docs/FORMAT.md 3.3). */
export interface ClockAnchor {
  /** uv_hrtime (the clock of process.hrtime) at the origin, in ns, as a decimal string: it can pass 2^53. */
  originMonoNs: string;
  /** Wall-clock ns since the Unix epoch at the origin, as a decimal string. */
  originWallUnixNs: string;
  /** The same wall-clock origin in ms since the Unix epoch (with a fraction) and as ISO 8601 UTC. */
  originUnixMs: number;
  originIso: string;
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
  /**
   * The header's clock anchor, to line up the traced process's own clock readings with trace
   * times: a `process.hrtime.bigint()` reading minus `originMonoNs` is a trace time (`…Ns`).
   * Null when no header was read.
   */
  clockAnchor: ClockAnchor | null;
  /** The --since/--until window in trace time and as ISO 8601; null where open. */
  window: { sinceNs: number | null; untilNs: number | null; sinceIso: string | null; untilIso: string | null };
  /** Records inside the window (the decoder's total is decode.records). */
  records: number;
  /** What the recorder could measure. */
  capabilities: TraceCapabilities;
  /**
   * worker_threads ids of workers the recorder saw created but could not trace (made from a
   * Worker class taken before telemetry started), in order of creation.
   */
  untracedWorkers: number[];
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
  /** Whether frames were mapped through source maps (--no-source-maps turns it off). */
  sourceMaps: boolean;
  /** The --thread patterns the report is limited to; null when it covers every thread. */
  threads: string[] | null;
  /** The --serving-threads patterns: workers whose names match serve requests; null when none were given. */
  servingThreads: string[] | null;
}

export type Severity = 'critical' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  kind: 'long-task' | 'worker-capacity' | 'unbalanced-pool' | 'idle-worker' | 'threadpool-pressure' | 'threadpool-burst' | 'dropped-records' | 'damaged-trace' | 'untraced-workers';
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

export type ThreadRole = 'main' | 'serving' | 'background';

export interface ThreadReport {
  /** looptrace's thread id: 1 is the main thread, 2 and up workers in start order. */
  threadId: number;
  /** worker_threads' threadId (0 for the main thread), or null when the trace does not say. */
  nodeThreadId: number | null;
  kind: 'main' | 'worker' | 'unknown';
  /**
   * What the loop is for, which decides how much its long tasks matter: the main thread serves
   * requests; so does a worker on which operations began or that --serving-threads names; other
   * workers are background work.
   */
  role: ThreadRole;
  name: string;
  firstNs: number;
  lastNs: number;
  stoppedNs: number | null;
  stopReason: 'exited' | 'terminated' | 'telemetry-stopped' | null;
  /** POLL_END records: one per loop iteration. */
  iterations: number;
  /** Time running callbacks (I/O callbacks and timers/immediates) vs idle, waiting for I/O in the poll. */
  busyNs: number;
  idleNs: number;
  /** The same as idleNs, under its schema-1 name (kept for compatibility). */
  blockedNs: number;
  /** busyNs / (busyNs + idleNs), or null when neither was measured. */
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
  /** CPU time over the busy stretches that carried a THREAD_CPU record; runnableNs (of wallNs) is null without scheduler statistics. */
  cpu: { cpuNs: number; wallNs: number; ratio: number | null; runnableNs: number | null };
  /** GC pauses of the thread: count, total, longest, and total over busy time; null when the recorder did not record GC pauses. */
  gc: { pauses: number; totalNs: number; maxNs: number; busyShare: number | null } | null;
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
  /** on CPU / runnable / waiting over the measured wall time; null when no THREAD_CPU measured the task. */
  split: TimeSplit | null;
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
  /** GC pauses inside the task; share is totalNs / durationNs. */
  gc: { pauses: number; totalNs: number; share: number } | null;
  /** Sampled stacks, most samples first, at most 10. */
  stacks: SampledStack[];
  /** All samples of the task (stacks beyond those listed included). */
  samples: number;
  /** The time the samples stand for, from the first sample to the task's end. */
  sampledNs: number;
  /** The largest sample lag in the task. */
  maxLagNs: number;
  /** Where the most sampled stack was: null without samples. */
  blocking: BlockingSite | null;
  /**
   * Outermost callbacks that began inside the task, from callback-mode records (CALLBACK_START):
   * more than one says the task was many callbacks run back to back, not one long callback. Null
   * when no callback record fell inside the task (callback mode off then).
   */
  callbacks: number | null;
  /** Operations that ran (or were open) on the thread during the task; absent when none. */
  operations?: { items: LongTaskOperation[]; more: number };
}

/** The sampled time of all long tasks together, by where it was spent. */
export interface BlockingCodeReport {
  /** Long tasks with samples, and all their samples and sampled time. */
  longTasks: number;
  samples: number;
  sampledNs: number;
  /** Self time: by blocking site (the top frames down to the first frame of user code), most time first. */
  self: BlockingCodeEntry[];
  /** Total time: by function (name and script), counted once per sample when anywhere on the stack, most time first. */
  total: BlockingCodeEntry[];
}

export interface BlockingCodeEntry {
  /** The site (self) or the function's hottest frame (total). */
  site: BlockingSite;
  samples: number;
  weightNs: number;
  /** weightNs / sampledNs. */
  share: number;
}

export interface LongTasksReport {
  thresholdNs: number;
  /** Every long task in the window, listed or not. */
  count: number;
  totalNs: number;
  /** The worst, longest first, at most options.top. */
  items: LongTask[];
  /**
   * Per thread with long tasks: its worst, longest first, at most options.top each, so that busy
   * workers never crowd the main thread out of the list. The main thread first, then by worst task.
   */
  byThread: ThreadLongTasks[];
}

export interface ThreadLongTasks {
  threadId: number;
  threadName: string;
  count: number;
  totalNs: number;
  items: LongTask[];
}

export interface PoolMember {
  threadId: number;
  name: string;
  utilization: number | null;
  busyNs: number;
  /** Idle, waiting for I/O in the poll; blockedNs is the same under its schema-1 name. */
  idleNs: number;
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
  /**
   * Severe short pressure: runs of probes delayed at least p90ThresholdNs, less than a second apart,
   * that waited at least queuedThresholdNs in all with a longest wait at least 10× the median
   * delay; outside sustained episodes. The most queued first.
   */
  bursts: { queuedThresholdNs: number; items: ThreadpoolBurst[] };
}

export interface ThreadpoolBurst {
  /** From when the first delayed probe was queued to when the last one ran. */
  startNs: number;
  endNs: number;
  durationNs: number;
  startUnixMs: number;
  startIso: string;
  /** Delayed probes in the burst, their summed and their longest wait. */
  probes: number;
  queuedNs: number;
  maxNs: number;
}

export interface CheckResult {
  expression: string;
  violated: boolean;
  /** The measured value in the unit of the condition's metric (ns, a ratio or a count), or null when the trace has no data for it. */
  actual: number | null;
  message: string;
}
