// The options of startRuntimeTelemetry(), with their defaults, checked before anything starts.

import { invalidOption, TelemetryError } from './errors.js';
import { MAX_SERVICE_NAME_BYTES, utf8Bytes } from './name-limits.js';
import { checkWriter, NullWriter, type TraceWriter } from './writers.js';
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
  /**
   * Serve a live view of this process's loops (the viewer page, updated every second over
   * Server-Sent Events) on an HTTP port with a random token; its URL is telemetry.liveUrl. Reads
   * the trace only while a page is connected. Needs a writer that keeps the trace (not a
   * NullWriter). Default off.
   */
  live?: LiveOptions;
}

export interface LiveOptions {
  /** TCP port; 0 picks a free one. Default 0. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1 (this machine only). */
  host?: string;
  /** Busy stretches at least this long are shown as long tasks. Default 50 ms. */
  longTaskMs?: number;
}

export interface ResolvedLiveOptions {
  port: number;
  host: string;
  longTaskNs: number;
}

export type ResolvedOptions = Required<Omit<RuntimeTelemetryOptions, 'serviceName' | 'onError' | 'operations' | 'live'>> &
  Pick<RuntimeTelemetryOptions, 'serviceName' | 'onError'> & { operations: OperationsOptions | undefined; live: ResolvedLiveOptions | undefined };

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
  'live',
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
    live: liveOption(o['live'], o['writer']),
  };
}

const LIVE_KNOWN = new Set(['port', 'host', 'longTaskMs']);

function liveOption(value: unknown, writer: unknown): ResolvedLiveOptions | undefined {
  if (value === undefined || value === false) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidOption('live', 'an object such as { port: 0 }', value);
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!LIVE_KNOWN.has(key)) throw invalidOption(`live.${key}`, `one of ${[...LIVE_KNOWN].join(', ')} (unknown option)`, o[key]);
  }
  const port = o['port'] ?? 0;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw invalidOption('live.port', 'an integer from 0 to 65535 (0 picks a free port)', port);
  const host = o['host'] ?? '127.0.0.1';
  if (typeof host !== 'string' || host.length === 0 || host.includes('/')) throw invalidOption('live.host', 'an IP address or host name', host);
  const longTaskMs = o['longTaskMs'] ?? 50;
  if (typeof longTaskMs !== 'number' || !Number.isFinite(longTaskMs) || longTaskMs <= 0 || longTaskMs > 3_600_000) throw invalidOption('live.longTaskMs', 'a number of milliseconds above 0', longTaskMs);
  if (writer instanceof NullWriter) throw invalidOption('live', 'used with a writer that keeps the trace (a RotatingWriter, SimpleBinaryWriter or an object with write()), not a NullWriter', value);
  return { port, host, longTaskNs: longTaskMs * 1e6 };
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
