// The options of startRuntimeTelemetry(), with their defaults, checked before anything starts.

import { invalidOption, TelemetryError } from './errors.js';
import { MAX_SERVICE_NAME_BYTES, utf8Bytes } from './name-limits.js';
import { checkWriter, type TraceWriter } from './writers.js';
import { resolveOperationsOptions, type OperationsOptions } from '../operations/options.js';

export interface RuntimeTelemetryOptions {
  /** Where the trace goes. Required. */
  writer: TraceWriter;
  /** Recorded in the file header, to tell services apart; at most 256 bytes of UTF-8. Default: none. */
  serviceName?: string;
  /** Start recording at once. Default true; enable() starts it later. */
  enabled?: boolean;
  /** How often the writer thread writes; bounds what SIGKILL can lose. Default 100 ms. */
  flushIntervalMs?: number;
  /** How often each loop's active handles, requests and events waiting are sampled. Default 100 ms; 0 turns it off. */
  queueSampleIntervalMs?: number;
  /** How often a no-op task probes the libuv threadpool's queue delay. Default 50 ms; 0 turns it off. */
  threadpoolProbeIntervalMs?: number;
  /** Busy stretches and I/O phases at least this long get a thread CPU time record. Default 2 ms. */
  cpuThresholdMs?: number;
  /**
   * A loop busy this long gets its JavaScript stack sampled, then every `stackIntervalMs` while it
   * stays busy, so each long task carries a small profile. Default 30 ms (below the analyzer's
   * 50 ms long-task threshold); 0 turns stack sampling off.
   */
  stackThresholdMs?: number;
  /** Time between stack samples of a loop that stays busy. Default 10 ms. */
  stackIntervalMs?: number;
  /** Frames kept per stack, innermost first. Default 32. */
  stackDepth?: number;
  /** Record every V8 garbage-collection pause (GC_PAUSE records). Default true. */
  gcPauses?: boolean;
  /**
   * Read each thread's scheduler statistics (Linux), to tell runnable from waiting (THREAD_SCHED
   * records): one pread of /proc/thread-self/schedstat beside each rate-limited CPU-time read.
   * Default true.
   */
  schedulerStats?: boolean;
  /** Records each thread's buffer holds before it drops (rounded up to a power of two). Default 8192. */
  threadBufferRecords?: number;
  /** Trace worker threads created after start without code in the worker. Default true. */
  traceWorkers?: boolean;
  /** Flush on process.exit(), an uncaught exception, SIGTERM and SIGINT. Default true. */
  exitHandlers?: boolean;
  /**
   * When the environment refuses a start (no usable native addon, a trace directory that cannot
   * be created or written), throw a TelemetryError from startRuntimeTelemetry(). Default false:
   * the failure is reported through onError, the 'error' event or a process warning, and the
   * returned handle is inert; its stats().startError says why.
   */
  throwOnStartError?: boolean;
  /** Called with every error; telemetry has turned itself off when it is called. */
  onError?: (error: TelemetryError) => void;
  /** Traced operations: traced(), HTTP, sampling, metrics, exporters (true for the defaults). Default off. */
  operations?: boolean | OperationsOptions;
}

export type ResolvedOptions = Required<Omit<RuntimeTelemetryOptions, 'serviceName' | 'onError' | 'operations'>> &
  Pick<RuntimeTelemetryOptions, 'serviceName' | 'onError'> & { operations: OperationsOptions | undefined };

const KNOWN = new Set([
  'writer',
  'serviceName',
  'enabled',
  'flushIntervalMs',
  'queueSampleIntervalMs',
  'threadpoolProbeIntervalMs',
  'cpuThresholdMs',
  'threadBufferRecords',
  'stackThresholdMs',
  'stackIntervalMs',
  'stackDepth',
  'gcPauses',
  'schedulerStats',
  'traceWorkers',
  'exitHandlers',
  'throwOnStartError',
  'onError',
  'operations',
]);

export function resolveOptions(options: unknown): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw invalidOption('options', 'an object with a writer', options);
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) throw invalidOption(key, `one of ${[...KNOWN].join(', ')} (unknown option)`, o[key]);
  }
  if (o['serviceName'] !== undefined && typeof o['serviceName'] !== 'string') throw invalidOption('serviceName', 'a string', o['serviceName']);
  if (typeof o['serviceName'] === 'string' && utf8Bytes(o['serviceName']) > MAX_SERVICE_NAME_BYTES) {
    throw new TelemetryError(
      'INVALID_OPTION',
      `looptrace: option serviceName must be at most ${MAX_SERVICE_NAME_BYTES} bytes of UTF-8, got a string of ${utf8Bytes(o['serviceName'])} bytes starting ${JSON.stringify(o['serviceName'].slice(0, 40))}`,
    );
  }
  if (o['onError'] !== undefined && typeof o['onError'] !== 'function') throw invalidOption('onError', 'a function', o['onError']);
  return {
    writer: checkWriter(o['writer']),
    serviceName: o['serviceName'] as string | undefined,
    enabled: bool(o, 'enabled', true),
    flushIntervalMs: number(o, 'flushIntervalMs', 100, 1, 60_000),
    queueSampleIntervalMs: number(o, 'queueSampleIntervalMs', 100, 0, 3_600_000, true),
    threadpoolProbeIntervalMs: number(o, 'threadpoolProbeIntervalMs', 50, 0, 3_600_000, true),
    cpuThresholdMs: number(o, 'cpuThresholdMs', 2, 0.01, 60_000),
    threadBufferRecords: number(o, 'threadBufferRecords', 8192, 64, 1 << 22, true),
    stackThresholdMs: number(o, 'stackThresholdMs', 30, 0, 3_600_000),
    stackIntervalMs: number(o, 'stackIntervalMs', 10, 1, 3_600_000),
    stackDepth: number(o, 'stackDepth', 32, 1, 256, true),
    gcPauses: bool(o, 'gcPauses', true),
    schedulerStats: bool(o, 'schedulerStats', true),
    traceWorkers: bool(o, 'traceWorkers', true),
    exitHandlers: bool(o, 'exitHandlers', true),
    throwOnStartError: bool(o, 'throwOnStartError', false),
    onError: o['onError'] as ((error: TelemetryError) => void) | undefined,
    operations: operationsOption(o['operations']),
  };
}

/** Checked here so that a bad operations option fails before anything starts. */
function operationsOption(value: unknown): OperationsOptions | undefined {
  if (value === undefined || value === false) return undefined;
  resolveOperationsOptions(value);
  return value === true ? {} : (value as OperationsOptions);
}

function bool(o: Record<string, unknown>, name: string, fallback: boolean): boolean {
  const v = o[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') throw invalidOption(name, 'true or false', v);
  return v;
}

function number(o: Record<string, unknown>, name: string, fallback: number, min: number, max: number, integer = false): number {
  const v = o[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw invalidOption(name, `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`, v);
  }
  return v;
}
