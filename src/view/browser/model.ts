// The viewer's model: what the decode worker builds and hands to the page. Everything that grows
// with the trace is a typed array (one column per field, never an object per record); only the
// few long tasks, stack samples and operations are objects. Times are nanoseconds since the
// trace's origin; durations are Float32 (relative precision 6e-8).

import type { TraceReport } from '../../analyze/report.js';
import type { SpanChunk } from './span-column.js';

/** Busy time per bin at one level of detail: bin i covers [startNs + i*binNs, +binNs). */
export interface BusyLevel {
  binNs: number;
  /** Busy nanoseconds in each bin, and the part of them in I/O callbacks. */
  busyNs: Float32Array;
  ioNs: Float32Array;
}

export interface ThreadLane {
  threadId: number;
  name: string;
  isMain: boolean;
  /** Busy stretches in time order (span-column.ts: 10 bytes a stretch). */
  busy: SpanChunk[];
  /** Coarser and coarser sums of busy time (each level's bins twice as wide as the previous). */
  levels: BusyLevel[];
  levelStartNs: number;
  gc: SpanChunk[];
  gcPauses: number;
  /** Counter series of this loop, by name. */
  counters: CounterSeries[];
  iterations: number;
  busyTotalNs: number;
}

/** A counter: points (time, value), plus max levels for drawing many points per pixel. */
export interface CounterSeries {
  name: string;
  unit: 'ns' | 'count' | 'ratio';
  timeNs: Float64Array;
  value: Float32Array;
  /** Level k holds the max of blocks of 4^(k+1) points, with each block's first time. */
  maxLevels: { timeNs: Float64Array; value: Float32Array }[];
}

export interface LongTaskInfo {
  index: number;
  threadId: number;
  startNs: number;
  endNs: number;
  ioNs: number;
  timersNs: number;
  gcNs: number;
  stacks: { timeNs: number; frames: string[] }[];
  operations: { name: string; operationId: number; status: number; startNs: number; endNs: number }[];
}

export interface OperationInfo {
  threadId: number;
  operationId: number;
  name: string;
  startNs: number;
  endNs: number;
  status: number;
}

export interface StackSampleInfo {
  threadId: number;
  timeNs: number;
  frames: string[];
}

export interface TimelineModel {
  serviceName: string;
  pid: number | null;
  traceId: string;
  /** Wall-clock milliseconds since the Unix epoch at the trace's origin. */
  originUnixMs: number;
  startNs: number;
  endNs: number;
  records: number;
  bytes: number;
  files: string[];
  longTaskNs: number;
  threads: ThreadLane[];
  /** Process-wide counters (threadpool delay). */
  counters: CounterSeries[];
  longTasks: LongTaskInfo[];
  operations: OperationInfo[];
  stacks: StackSampleInfo[];
  diagnostics: string[];
  decodeMs: number;
  /** Where the load time went: in the decoder and model (the slowest worker), in joining the parts, how many chunks came, and how many workers decoded. */
  timings?: { decodeMs: number; finishMs: number; chunks: number; workers: number };
}

/** Messages from the worker to the page: the model first, then analyze-trace's report of the trace. */
export type WorkerMessage =
  | { type: 'progress'; bytes: number; totalBytes: number }
  | { type: 'model'; model: TimelineModel }
  | { type: 'report'; report: TraceReport }
  | { type: 'error'; message: string };

/** What the page asks the decode worker for. */
export type LoadRequest = (
  | { type: 'files'; files: File[] }
  /** runUrl: the server's /run, which sends several files back to back (files=INDEX:BYTES,...; INDEX in urls). */
  | { type: 'urls'; urls: { name: string; url: string }[]; runUrl: string }
) & {
  longTaskNs: number;
  /** Also run analyze-trace's analysis for the findings list (a second pass). */
  analyze: boolean;
  /** Threads to decode with, when the page was asked for a number (?threads=N). */
  threads?: number;
};

/**
 * The message to the decode worker: the request, and MessagePorts to helper workers started by the
 * page (typed loosely: this module is also compiled for Node, without the DOM's types).
 */
export type WorkerRequest = LoadRequest & { helpers: unknown[] };
