// Decoded record and header types (docs/FORMAT.md sections 3 and 6) and the table that maps each
// counted record type to its wire code and field names.

import { RecordCode } from './constants.js';

/** Nanoseconds since the trace's origin (docs/FORMAT.md section 2). */
export type Nanoseconds = number;

interface RecordBase {
  /** The event loop the record belongs to: 1 is the main thread, 0 the process stream. */
  threadId: number;
  timeNs: Nanoseconds;
}

export interface PollStartRecord extends RecordBase {
  type: 'pollStart';
}
export interface PollEndRecord extends RecordBase {
  type: 'pollEnd';
  blockedNs: Nanoseconds;
  events: number;
  eventsWaiting: number;
}
export interface ThreadCpuRecord extends RecordBase {
  type: 'threadCpu';
  wallNs: Nanoseconds;
  cpuNs: Nanoseconds;
}
/** Of the wallNs of the THREAD_CPU just before it (same time), runnableNs was spent runnable but not running. */
export interface ThreadSchedRecord extends RecordBase {
  type: 'threadSched';
  runnableNs: Nanoseconds;
}
export interface QueueSampleRecord extends RecordBase {
  type: 'queueSample';
  activeHandles: number;
  activeRequests: number;
  eventsWaiting: number;
}
export interface ThreadpoolProbeRecord extends RecordBase {
  type: 'threadpoolProbe';
  queueDelayNs: Nanoseconds;
}
export interface GcPauseRecord extends RecordBase {
  type: 'gcPause';
  durationNs: Nanoseconds;
  gcType: number;
}
export interface StackSampleRecord extends RecordBase {
  type: 'stackSample';
  stackId: number;
  reason: number;
  /** How long after the request the stack was taken: time the thread spent outside JavaScript. */
  lagNs: Nanoseconds;
}
export interface CallbackStartRecord extends RecordBase {
  type: 'callbackStart';
  asyncId: number;
  resourceTypeStringId: number;
  siteStackId: number;
}
export interface CallbackEndRecord extends RecordBase {
  type: 'callbackEnd';
  asyncId: number;
  /** The operation the callback ran for, as it ended (0: none, or a format 1.1 trace). */
  operationId: number;
}
export interface OperationStartRecord extends RecordBase {
  type: 'operationStart';
  operationId: number;
  nameStringId: number;
}
export interface OperationEndRecord extends RecordBase {
  type: 'operationEnd';
  operationId: number;
  status: number;
}
export interface MarkRecord extends RecordBase {
  type: 'mark';
  nameStringId: number;
  value: number;
}
export interface UserQueueSampleRecord extends RecordBase {
  type: 'userQueueSample';
  nameStringId: number;
  depth: number;
}
export interface DroppedRecord extends RecordBase {
  type: 'dropped';
  droppedRecords: number;
}
export interface ThreadStartRecord extends RecordBase {
  type: 'threadStart';
  nodeThreadId: number;
  nameStringId: number;
  kind: number;
}
export interface ThreadStopRecord extends RecordBase {
  type: 'threadStop';
  reason: number;
}
export interface ClockSyncRecord extends RecordBase {
  type: 'clockSync';
  wallOffsetNs: Nanoseconds;
}
export interface ResumedRecord extends RecordBase {
  type: 'resumed';
}
export interface SelfCostRecord extends RecordBase {
  type: 'selfCost';
  /** SelfCostComponent: 0 the whole process, 1 writer, 2 watchdog, 3 hooks, 4 timers, 5 stacks. */
  component: number;
  /** CPU time of that component since the previous SELF_COST of it in the same stream. */
  cpuNs: Nanoseconds;
}
export interface StringDefRecord extends RecordBase {
  type: 'stringDef';
  stringId: number;
  value: string;
}
export interface StackFrame {
  functionNameStringId: number;
  scriptStringId: number;
  line: number;
  column: number;
}
export interface StackDefRecord extends RecordBase {
  type: 'stackDef';
  stackId: number;
  frames: StackFrame[];
}
export interface TraceContextRecord extends RecordBase {
  type: 'traceContext';
  operationId: number;
  /** 32 lowercase hex digits. */
  traceId: string;
  /** 16 lowercase hex digits. */
  spanId: string;
  /** 16 lowercase hex digits; all zeros when the operation has no parent. */
  parentSpanId: string;
  traceFlags: number;
}

export type CountedRecord =
  | PollStartRecord
  | PollEndRecord
  | ThreadCpuRecord
  | QueueSampleRecord
  | ThreadpoolProbeRecord
  | GcPauseRecord
  | StackSampleRecord
  | CallbackStartRecord
  | CallbackEndRecord
  | OperationStartRecord
  | OperationEndRecord
  | MarkRecord
  | UserQueueSampleRecord
  | DroppedRecord
  | ThreadStartRecord
  | ThreadStopRecord
  | ClockSyncRecord
  | ResumedRecord
  | ThreadSchedRecord
  | SelfCostRecord;
export type DefinitionRecord = StringDefRecord | StackDefRecord | TraceContextRecord;
export type TraceRecord = CountedRecord | DefinitionRecord;
export type RecordTypeName = TraceRecord['type'];

export interface CountedTypeInfo {
  code: number;
  type: CountedRecord['type'];
  /** Field names in wire order (docs/FORMAT.md section 6). */
  fields: readonly string[];
  /** Names of the fields that are zigzag-encoded. */
  signed: readonly string[];
}

function counted(code: number, type: CountedRecord['type'], fields: readonly string[], signed: readonly string[] = []): CountedTypeInfo {
  return { code, type, fields, signed };
}

/** Every counted record type, indexed by wire code. */
export const COUNTED_TYPES: readonly CountedTypeInfo[] = [
  counted(RecordCode.PollStart, 'pollStart', []),
  counted(RecordCode.PollEnd, 'pollEnd', ['blockedNs', 'events', 'eventsWaiting']),
  counted(RecordCode.ThreadCpu, 'threadCpu', ['wallNs', 'cpuNs']),
  counted(RecordCode.QueueSample, 'queueSample', ['activeHandles', 'activeRequests', 'eventsWaiting']),
  counted(RecordCode.ThreadpoolProbe, 'threadpoolProbe', ['queueDelayNs']),
  counted(RecordCode.GcPause, 'gcPause', ['durationNs', 'gcType']),
  counted(RecordCode.StackSample, 'stackSample', ['stackId', 'reason', 'lagNs']),
  counted(RecordCode.CallbackStart, 'callbackStart', ['asyncId', 'resourceTypeStringId', 'siteStackId']),
  counted(RecordCode.CallbackEnd, 'callbackEnd', ['asyncId', 'operationId']),
  counted(RecordCode.OperationStart, 'operationStart', ['operationId', 'nameStringId']),
  counted(RecordCode.OperationEnd, 'operationEnd', ['operationId', 'status']),
  counted(RecordCode.Mark, 'mark', ['nameStringId', 'value'], ['value']),
  counted(RecordCode.UserQueueSample, 'userQueueSample', ['nameStringId', 'depth']),
  counted(RecordCode.Dropped, 'dropped', ['droppedRecords']),
  counted(RecordCode.ThreadStart, 'threadStart', ['nodeThreadId', 'nameStringId', 'kind']),
  counted(RecordCode.ThreadStop, 'threadStop', ['reason']),
  counted(RecordCode.ClockSync, 'clockSync', ['wallOffsetNs'], ['wallOffsetNs']),
  counted(RecordCode.Resumed, 'resumed', []),
  counted(RecordCode.ThreadSched, 'threadSched', ['runnableNs']),
  counted(RecordCode.SelfCost, 'selfCost', ['component', 'cpuNs']),
];

export const COUNTED_BY_TYPE: ReadonlyMap<string, CountedTypeInfo> = new Map(COUNTED_TYPES.map((t) => [t.type, t]));

export const DEFINITION_CODES = {
  stringDef: RecordCode.StringDef,
  stackDef: RecordCode.StackDef,
  traceContext: RecordCode.TraceContext,
} as const;

/** A thread (event loop) as the header's thread table or a THREAD_START record describes it. */
export interface ThreadInfo {
  threadId: number;
  /** worker_threads' threadId: 0 for the main thread. */
  nodeThreadId: number;
  /** 0 main thread, 1 worker (ThreadKind). */
  kind: number;
  name: string;
}

/** Header key 15: a loop busy for thresholdNs gets its first stack sample, then one every intervalNs. */
export interface StackSamplingInfo {
  thresholdNs: Nanoseconds;
  intervalNs: Nanoseconds;
}

/** The file header (docs/FORMAT.md section 3.2). */
export interface TraceHeader {
  formatMajor: number;
  formatMinor: number;
  /** 32 lowercase hex digits, the same in every file of one trace. */
  traceId: string;
  fileIndex: number;
  /** uv_hrtime at the trace's origin. */
  originMonoNs: bigint;
  /** Wall-clock nanoseconds since the Unix epoch at the trace's origin. */
  originWallUnixNs: bigint;
  fileStartNs: Nanoseconds;
  pid?: number;
  hostname?: string;
  nodeVersion?: string;
  serviceName?: string;
  producer?: string;
  platform?: string;
  threadpoolSize?: number;
  /** Bit set of Capability (key 13): absent in files of recorders that predate it. */
  capabilities?: number;
  /** Why a capability is missing (key 14). */
  attributionNote?: string;
  /** Stack sampling settings (key 15). */
  stackSampling?: StackSamplingInfo;
  threads: ThreadInfo[];
}

/** What an encoder needs to write a header: the version fields default to this codec's. */
export type TraceHeaderInit = Omit<TraceHeader, 'formatMajor' | 'formatMinor'> & { formatMajor?: number; formatMinor?: number };
