// startOpenTelemetry(): the bridge between the recorder and the application's OpenTelemetry
// providers. Metrics read the writer thread's per-thread aggregates at collection time; spans come
// from an operations exporter and from the long tasks the writer queues.

import { metrics, trace, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { loadBinding, type NativeBinding } from '../binding.js';
import { onTraceStarted, onWriterNotify } from '../recorder/recorder-listeners.js';
import { TelemetryError } from '../recorder/errors.js';
import type { OperationExporter } from '../operations/exporters.js';
import { Guard } from './guard.js';
import { MetricsBridge } from './metrics.js';
import { LongTaskSpans, OtelSpanExporter, SpanCounters } from './spans.js';

export interface OpenTelemetryOptions {
  /** Where the metrics go. Default: the global MeterProvider of @opentelemetry/api. */
  meterProvider?: MeterProvider;
  /** Where the spans go. Default: the global TracerProvider of @opentelemetry/api. */
  tracerProvider?: TracerProvider;
  /** Report the runtime metrics. Default true. */
  metrics?: boolean;
  /** Report each long task as a span. Default true. */
  longTaskSpans?: boolean;
  /** A busy stretch this long is a long task (metrics and spans). Default 50. */
  longTaskMs?: number;
  /** Hears each OpenTelemetry error once per place (collection, span); default: a process warning. */
  onError?: (error: unknown, where: string) => void;
}

export interface OpenTelemetryStats {
  /** Metric collections served. */
  collections: number;
  operationSpans: number;
  longTaskSpans: number;
  /** Long tasks lost because the bridge did not take them before the native queue (256) filled. */
  longTasksDropped: number;
  /** Operation spans whose ids the TracerProvider chose itself (it does not use LooptraceIdGenerator). */
  idMismatches: number;
  /** Calls into OpenTelemetry that threw or rejected (never passed to the application). */
  errors: number;
}

let active: OpenTelemetryBridge | undefined;

/**
 * Starts the bridge. Pass `bridge.spanExporter` to the `operations.exporters` option of
 * startRuntimeTelemetry() for operation spans. Throws a TelemetryError on a bad option or when a
 * bridge is already running in this process.
 */
export function startOpenTelemetry(options: OpenTelemetryOptions = {}): OpenTelemetryBridge {
  const o = checkOptions(options);
  if (active !== undefined) {
    throw new TelemetryError('ALREADY_RUNNING', 'looptrace: the OpenTelemetry bridge is already running; call shutdown() on it first');
  }
  let binding: NativeBinding | undefined;
  try {
    binding = loadBinding();
  } catch (error) {
    // Without the native part there is nothing to measure; spans of operations still work.
    process.emitWarning(`looptrace: OpenTelemetry metrics and long-task spans are off: ${(error as Error).message}`, { code: 'LOOPTRACE_OTEL' });
  }
  active = new OpenTelemetryBridge(o, binding);
  return active;
}

export class OpenTelemetryBridge {
  /** An operations exporter: each sampled operation becomes a span. */
  readonly spanExporter: OperationExporter;
  private readonly guard: Guard;
  private readonly counters = new SpanCounters();
  private readonly metricsBridge: MetricsBridge | undefined;
  private readonly longTasks: LongTaskSpans | undefined;
  private readonly removers: (() => void)[] = [];
  private stopped = false;

  /** @internal Use startOpenTelemetry(). */
  constructor(private readonly options: ResolvedOptions, private readonly binding: NativeBinding | undefined) {
    this.guard = new Guard(options.onError);
    this.spanExporter = new OtelSpanExporter(options.tracerProvider, this.guard, this.counters);
    if (binding !== undefined) {
      if (options.metrics) {
        this.metricsBridge = this.guard.run('metrics setup', () => new MetricsBridge(options.meterProvider, binding, this.guard, () => this.ensureAggregation()));
      }
      if (options.longTaskSpans) {
        this.longTasks = new LongTaskSpans(options.tracerProvider, this.guard, this.counters);
        this.removers.push(onWriterNotify(() => this.takeLongTasks()));
      }
      this.removers.push(onTraceStarted(() => this.ensureAggregation()));
      this.ensureAggregation();
      // Long tasks queued before the bridge started (looptrace/register turns aggregation on at
      // start, before the OpenTelemetry packages have loaded).
      this.takeLongTasks();
    }
  }

  stats(): OpenTelemetryStats {
    return {
      collections: this.metricsBridge?.collections ?? 0,
      operationSpans: this.counters.operationSpans,
      longTaskSpans: this.counters.longTaskSpans,
      longTasksDropped: this.counters.longTasksDropped,
      idMismatches: this.counters.idMismatches,
      errors: this.guard.errors,
    };
  }

  /** Stops reading the recorder; the providers are the application's and stay as they are. */
  async shutdown(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (active === this) active = undefined;
    for (const remove of this.removers) remove();
    this.takeLongTasks();
    this.metricsBridge?.shutdown();
    try {
      this.binding?.setAggregation(false, 0, false);
    } catch {
      // Nothing running.
    }
  }

  /** Turns the writer's aggregates on for the running trace (a no-op when they already are). */
  private ensureAggregation(): void {
    if (this.stopped || this.binding === undefined) return;
    const o = this.options;
    this.guard.run('aggregation', () => this.binding!.setAggregation(true, o.longTaskMs, o.longTaskSpans));
  }

  private takeLongTasks(): void {
    if (this.longTasks === undefined || this.binding === undefined) return;
    const taken = this.guard.run('long tasks', () => this.binding!.takeLongTasks());
    if (taken !== undefined && taken.tasks.length + taken.dropped > 0) this.longTasks.export(taken.tasks, taken.dropped);
  }
}

interface ResolvedOptions {
  meterProvider: MeterProvider;
  tracerProvider: TracerProvider;
  metrics: boolean;
  longTaskSpans: boolean;
  longTaskMs: number;
  onError: (error: unknown, where: string) => void;
}

const KNOWN = new Set(['meterProvider', 'tracerProvider', 'metrics', 'longTaskSpans', 'longTaskMs', 'onError']);

function checkOptions(options: unknown): ResolvedOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw bad('options', 'an object', options);
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) if (!KNOWN.has(key)) throw new TelemetryError('INVALID_OPTION', `looptrace: unknown option ${JSON.stringify(key)} of startOpenTelemetry(); known: ${[...KNOWN].join(', ')}`);
  const meterProvider = o['meterProvider'] ?? metrics.getMeterProvider();
  if (typeof (meterProvider as MeterProvider).getMeter !== 'function') throw bad('meterProvider', 'a MeterProvider (an object with getMeter())', o['meterProvider']);
  const tracerProvider = o['tracerProvider'] ?? trace.getTracerProvider();
  if (typeof (tracerProvider as TracerProvider).getTracer !== 'function') throw bad('tracerProvider', 'a TracerProvider (an object with getTracer())', o['tracerProvider']);
  for (const key of ['metrics', 'longTaskSpans']) {
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw bad(key, 'a boolean', o[key]);
  }
  const longTaskMs = o['longTaskMs'] ?? 50;
  if (typeof longTaskMs !== 'number' || !Number.isFinite(longTaskMs) || longTaskMs <= 0 || longTaskMs > 3_600_000) {
    throw bad('longTaskMs', 'a number of milliseconds above 0 and at most 3600000', longTaskMs);
  }
  if (o['onError'] !== undefined && typeof o['onError'] !== 'function') throw bad('onError', 'a function', o['onError']);
  const onError = (o['onError'] as ResolvedOptions['onError'] | undefined) ?? ((error: unknown, where: string) => {
    process.emitWarning(`looptrace: OpenTelemetry ${where} failed (counted in stats().errors; reported once): ${(error as Error)?.message ?? String(error)}`, { code: 'LOOPTRACE_OTEL' });
  });
  return {
    meterProvider: meterProvider as MeterProvider,
    tracerProvider: tracerProvider as TracerProvider,
    metrics: (o['metrics'] as boolean | undefined) ?? true,
    longTaskSpans: (o['longTaskSpans'] as boolean | undefined) ?? true,
    longTaskMs,
    onError,
  };
}

function bad(name: string, expected: string, value: unknown): TelemetryError {
  let shown: string;
  try {
    shown = typeof value === 'function' ? 'a function' : JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return new TelemetryError('INVALID_OPTION', `looptrace: option ${name} of startOpenTelemetry() must be ${expected}; got ${shown}`);
}
