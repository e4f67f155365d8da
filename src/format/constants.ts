// Wire constants of the looptrace trace format. docs/FORMAT.md is the specification; section
// numbers below refer to it.

/** Section 3.1: the 8 bytes every trace file starts with ("\x89LTRACE\n"). */
export const FILE_MAGIC: Uint8Array = Uint8Array.of(0x89, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 0x0a);

/** Section 3.2: the version this codec writes and the major version it reads. */
export const FORMAT_MAJOR = 1;
export const FORMAT_MINOR = 2;

/** Section 4: the sync bytes that open every frame, as a little-endian u32. */
export const FRAME_SYNC = Uint8Array.of(0xf5, 0x4c, 0x54, 0x46);
export const FRAME_HEADER_BYTES = 12;
export const MAX_FRAME_BODY_BYTES = 1 << 20;
/** Writers keep frames at or below this size (section 4). */
export const TARGET_FRAME_BODY_BYTES = 64 << 10;

export const FrameKind = {
  Header: 0x01,
  Records: 0x02,
} as const;

export const HeaderKey = {
  TraceId: 1,
  FileIndex: 2,
  ClockAnchor: 3,
  FileStartNs: 4,
  Pid: 5,
  Hostname: 6,
  NodeVersion: 7,
  ServiceName: 8,
  Producer: 9,
  Thread: 10,
  Platform: 11,
  ThreadpoolSize: 12,
  Capabilities: 13,
  AttributionNote: 14,
  StackSampling: 15,
} as const;

/** Section 3.2, header key 13: what the recorder could measure. */
export const Capability = {
  /** THREAD_SCHED records are written: off-CPU time splits into runnable and waiting. */
  SchedStats: 1,
  /** STACK_SAMPLE records are written while a loop is busy. */
  StackSamples: 2,
  /** GC_PAUSE records are written. */
  GcPauses: 4,
} as const;

/** Section 5: a tag is shape (bits 7..5) | type (bits 4..0). */
export const SHAPE_SHIFT = 5;
export const TYPE_MASK = 0x1f;
export const SHAPE_BYTES = 7;
export const MAX_COUNTED_FIELDS = 6;
export const EXTENDED_TYPE = 31;

/** Section 6: record type codes. */
export const RecordCode = {
  PollStart: 1,
  PollEnd: 2,
  ThreadCpu: 3,
  QueueSample: 4,
  ThreadpoolProbe: 5,
  GcPause: 6,
  StackSample: 7,
  CallbackStart: 8,
  CallbackEnd: 9,
  OperationStart: 10,
  OperationEnd: 11,
  Mark: 12,
  UserQueueSample: 13,
  Dropped: 14,
  ThreadStart: 15,
  ThreadStop: 16,
  ClockSync: 17,
  Resumed: 18,
  ThreadSched: 19,
  SelfCost: 20,
  StringDef: 24,
  StackDef: 25,
  TraceContext: 26,
} as const;
export type RecordCode = (typeof RecordCode)[keyof typeof RecordCode];

export const ThreadKind = { Main: 0, Worker: 1 } as const;
export const ThreadStopReason = { Exited: 0, Terminated: 1, TelemetryStopped: 2 } as const;
export const StackSampleReason = { BlockedLoop: 0, User: 1 } as const;
/** SELF_COST components (docs/FORMAT.md 6.3). */
export const SelfCostComponent = { Process: 0, Writer: 1, Watchdog: 2, Hooks: 3, Timers: 4, Stacks: 5 } as const;

/** The process stream (section 2): records that belong to no event loop. */
export const PROCESS_THREAD_ID = 0;
/** The main thread's loop always has this id (section 2). */
export const MAIN_THREAD_ID = 1;

/** Largest value a record field may hold (section 2). */
export const MAX_FIELD_VALUE = Number.MAX_SAFE_INTEGER;
