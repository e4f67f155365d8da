// Options from LOOPTRACE_* environment variables, for the zero-code start (looptrace/register).
// A variable that is wrong never stops the application: it becomes a warning that names it, and
// its default is used. The table here is the one the README documents.

import { isAbsolute, join, resolve } from 'node:path';
import { cutName, MAX_SERVICE_NAME_BYTES, utf8Bytes } from './name-limits.js';
import type { RuntimeTelemetryOptions } from './options.js';
import { WORKER_NAME_ENV, WORKER_SCRIPT_ENV } from './thread-name.js';
import { RotatingWriter, MIN_FILE_BYTES } from './writers.js';

export interface EnvironmentConfig {
  /** False when LOOPTRACE_OFF asks for no telemetry at all. */
  start: boolean;
  /** The directory the trace files go to. */
  directory: string;
  maxFileBytes: number;
  maxTotalBytes: number;
  options: Omit<RuntimeTelemetryOptions, 'writer' | 'onError'>;
  /** LOOPTRACE_OTEL: true or false when set; undefined leaves the choice to OTEL_EXPORTER_OTLP_*ENDPOINT. */
  otel: boolean | undefined;
  /** LOOPTRACE_OTEL_LONG_TASK_MS: the long-task threshold of the OpenTelemetry bridge. */
  otelLongTaskMs: number | undefined;
  /** One message per variable that was unknown or wrong, naming it. */
  warnings: string[];
}

/** The directory used when LOOPTRACE_DIR is not set, relative to the working directory. */
export const DEFAULT_DIRECTORY = 'looptrace-traces';

type Kind = 'boolean' | 'bytes' | 'ms' | 'integer' | 'string' | 'path';

interface Variable {
  kind: Kind;
  /** Inclusive bounds of a number. */
  min?: number;
  max?: number;
}

/** Every variable looptrace/register reads. */
export const VARIABLES: Record<string, Variable> = {
  LOOPTRACE_OFF: { kind: 'boolean' },
  LOOPTRACE_DIR: { kind: 'path' },
  LOOPTRACE_MAX_FILE_BYTES: { kind: 'bytes', min: MIN_FILE_BYTES, max: Number.MAX_SAFE_INTEGER },
  LOOPTRACE_MAX_TOTAL_BYTES: { kind: 'bytes', min: MIN_FILE_BYTES, max: Number.MAX_SAFE_INTEGER },
  LOOPTRACE_SERVICE_NAME: { kind: 'string' },
  LOOPTRACE_ENABLED: { kind: 'boolean' },
  LOOPTRACE_FLUSH_INTERVAL_MS: { kind: 'ms', min: 1, max: 60_000 },
  LOOPTRACE_QUEUE_SAMPLE_INTERVAL_MS: { kind: 'integer', min: 0, max: 3_600_000 },
  LOOPTRACE_THREADPOOL_PROBE_INTERVAL_MS: { kind: 'integer', min: 0, max: 3_600_000 },
  LOOPTRACE_CPU_THRESHOLD_MS: { kind: 'ms', min: 0.01, max: 60_000 },
  LOOPTRACE_THREAD_BUFFER_RECORDS: { kind: 'integer', min: 64, max: 1 << 22 },
  LOOPTRACE_STACK_THRESHOLD_MS: { kind: 'ms', min: 0, max: 3_600_000 },
  LOOPTRACE_STACK_INTERVAL_MS: { kind: 'ms', min: 1, max: 3_600_000 },
  LOOPTRACE_STACK_DEPTH: { kind: 'integer', min: 1, max: 256 },
  LOOPTRACE_GC_PAUSES: { kind: 'boolean' },
  LOOPTRACE_SCHEDULER_STATS: { kind: 'boolean' },
  LOOPTRACE_TRACE_WORKERS: { kind: 'boolean' },
  LOOPTRACE_EXIT_HANDLERS: { kind: 'boolean' },
  LOOPTRACE_OTEL: { kind: 'boolean' },
  LOOPTRACE_OTEL_LONG_TASK_MS: { kind: 'ms', min: 0.01, max: 3_600_000 },
};

const UNITS: Record<string, number> = { '': 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 };

export function readEnvironment(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): EnvironmentConfig {
  const warnings: string[] = [];
  for (const name of Object.keys(env)) {
    if (name.startsWith('LOOPTRACE_') && !(name in VARIABLES) && name !== WORKER_SCRIPT_ENV && name !== WORKER_NAME_ENV) {
      warnings.push(`${name} is not a looptrace variable (ignored); known: ${Object.keys(VARIABLES).join(', ')}`);
    }
  }
  const read = <T>(name: string, parse: (raw: string, v: Variable) => T | string): T | undefined => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return undefined;
    const parsed = parse(raw.trim(), VARIABLES[name]!);
    if (typeof parsed === 'string' && VARIABLES[name]!.kind !== 'string' && VARIABLES[name]!.kind !== 'path') {
      warnings.push(`${name}=${JSON.stringify(raw)} is not valid: ${parsed}; using the default`);
      return undefined;
    }
    return parsed as T;
  };
  const bool = (name: string): boolean | undefined => read<boolean>(name, parseBoolean);
  const num = (name: string): number | undefined => read<number>(name, parseNumber);

  const dirRaw = read<string>('LOOPTRACE_DIR', (raw) => raw);
  const directory = dirRaw === undefined ? resolve(cwd, DEFAULT_DIRECTORY) : isAbsolute(dirRaw) ? dirRaw : resolve(cwd, dirRaw);
  let maxFileBytes = num('LOOPTRACE_MAX_FILE_BYTES') ?? 8 << 20;
  let maxTotalBytes = num('LOOPTRACE_MAX_TOTAL_BYTES') ?? 64 << 20;
  if (maxTotalBytes < maxFileBytes) {
    warnings.push(`LOOPTRACE_MAX_TOTAL_BYTES (${maxTotalBytes}) is less than LOOPTRACE_MAX_FILE_BYTES (${maxFileBytes}); using ${maxTotalBytes} for both`);
    maxFileBytes = maxTotalBytes;
  }
  const options: EnvironmentConfig['options'] = {};
  const serviceName = read<string>('LOOPTRACE_SERVICE_NAME', (raw) => raw);
  if (serviceName !== undefined && utf8Bytes(serviceName) > MAX_SERVICE_NAME_BYTES) {
    options.serviceName = cutName(serviceName, MAX_SERVICE_NAME_BYTES);
    warnings.push(`LOOPTRACE_SERVICE_NAME is ${utf8Bytes(serviceName)} bytes long; cut to ${MAX_SERVICE_NAME_BYTES} bytes: ${JSON.stringify(options.serviceName)}`);
  } else if (serviceName !== undefined) options.serviceName = serviceName;
  const set = <K extends keyof EnvironmentConfig['options']>(key: K, value: EnvironmentConfig['options'][K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set('enabled', bool('LOOPTRACE_ENABLED'));
  set('flushIntervalMs', num('LOOPTRACE_FLUSH_INTERVAL_MS'));
  set('queueSampleIntervalMs', num('LOOPTRACE_QUEUE_SAMPLE_INTERVAL_MS'));
  set('threadpoolProbeIntervalMs', num('LOOPTRACE_THREADPOOL_PROBE_INTERVAL_MS'));
  set('cpuThresholdMs', num('LOOPTRACE_CPU_THRESHOLD_MS'));
  set('threadBufferRecords', num('LOOPTRACE_THREAD_BUFFER_RECORDS'));
  set('stackThresholdMs', num('LOOPTRACE_STACK_THRESHOLD_MS'));
  set('stackIntervalMs', num('LOOPTRACE_STACK_INTERVAL_MS'));
  set('stackDepth', num('LOOPTRACE_STACK_DEPTH'));
  set('gcPauses', bool('LOOPTRACE_GC_PAUSES'));
  set('schedulerStats', bool('LOOPTRACE_SCHEDULER_STATS'));
  set('traceWorkers', bool('LOOPTRACE_TRACE_WORKERS'));
  set('exitHandlers', bool('LOOPTRACE_EXIT_HANDLERS'));
  const otel = bool('LOOPTRACE_OTEL');
  const otelLongTaskMs = num('LOOPTRACE_OTEL_LONG_TASK_MS');
  return { start: bool('LOOPTRACE_OFF') !== true, directory, maxFileBytes, maxTotalBytes, options, otel, otelLongTaskMs, warnings };
}

/** The writer of a zero-code start: rotating files named trace.*.bin in the directory. */
export function environmentWriter(config: EnvironmentConfig): RotatingWriter {
  return new RotatingWriter(join(config.directory, 'trace.bin'), { maxFileBytes: config.maxFileBytes, maxTotalBytes: config.maxTotalBytes });
}

function parseBoolean(raw: string): boolean | string {
  const v = raw.toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return 'expected 1, true, yes, on, 0, false, no or off';
}

function parseNumber(raw: string, v: Variable): number | string {
  let value: number;
  if (v.kind === 'bytes') {
    const m = /^(\d+)\s*([kmg]?)(?:i?b)?$/i.exec(raw);
    if (m === null) return 'expected a number of bytes such as 8388608, 8M or 512k';
    value = Number(m[1]) * UNITS[m[2]!.toLowerCase()]!;
  } else {
    value = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(raw) ? Number(raw) : Number.NaN;
  }
  const integer = v.kind !== 'ms';
  if (!Number.isFinite(value) || (integer && !Number.isSafeInteger(value))) return `expected ${integer ? 'an integer' : 'a number'}`;
  if (value < v.min! || value > v.max!) return `expected ${integer ? 'an integer' : 'a number'} from ${v.min} to ${v.max}`;
  return value;
}
