// OTLP export with the official OpenTelemetry packages, configured by the standard OTEL_*
// variables: looptrace builds a MeterProvider and a TracerProvider of its own (not registered
// globally, so an application's own OpenTelemetry setup is left alone) and starts the bridge on
// them. The packages are optional: each one missing is named in a warning, and the trace files
// are written as before.
//
// Memory stays bounded when the collector is unreachable: spans wait in a queue of at most
// OTEL_BSP_MAX_QUEUE_SIZE (default 2048), one export at a time; a metric export that fails is
// dropped (the next one carries the cumulative values again). Every span and metric point that
// did not reach the collector is counted.

import { createRequire } from 'node:module';
import { hostname } from 'node:os';
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { startOpenTelemetry, type OpenTelemetryBridge, type OpenTelemetryOptions } from './bridge.js';
import { LooptraceIdGenerator } from './ids.js';
import { looptraceMetricProducer } from './metrics.js';
import { BoundedSpanProcessor, CountingMetricExporter, ExportCounters, type MetricExporterLike, type SpanExporterLike } from './export-queue.js';

const require = createRequire(import.meta.url);

export interface OtlpOptions {
  /**
   * The environment looptrace reads for its choices (default process.env): which signals, which
   * protocol, the resource, the export interval and the span queue. The OTLP exporters read the
   * endpoint, headers, timeout and compression from process.env themselves.
   */
  env?: NodeJS.ProcessEnv;
  /** Options of the bridge (metrics, longTaskSpans, longTaskMs, onError); the providers are made here. */
  bridge?: Omit<OpenTelemetryOptions, 'meterProvider' | 'tracerProvider'>;
  /** Hears each warning (a missing package, an unsupported protocol); default: a process warning. */
  onWarning?: (message: string) => void;
}

export interface OtlpExportStats {
  /** Spans that did not reach the collector: the queue was full, or their export failed. */
  droppedSpans: number;
  /** Metric data points whose export failed. */
  droppedMetricPoints: number;
  /** Spans and metric points exported successfully. */
  exportedSpans: number;
  exportedMetricPoints: number;
  /** Export attempts that failed (an unreachable collector, a rejected request). */
  failedExports: number;
  /** Spans waiting in the bounded queue. */
  queuedSpans: number;
}

/** What startOtlpExport() started. */
export class OtlpExport {
  /** @internal */
  constructor(
    readonly bridge: OpenTelemetryBridge,
    readonly meterProvider: MeterProvider | undefined,
    readonly tracerProvider: TracerProvider | undefined,
    private readonly counters: ExportCounters,
    private readonly queue: BoundedSpanProcessor | undefined,
    private readonly closers: (() => Promise<unknown>)[],
    private readonly flushers: (() => Promise<unknown>)[],
  ) {}

  stats(): OtlpExportStats {
    return { ...this.counters, queuedSpans: this.queue?.queued ?? 0 };
  }

  /** Sends what is buffered now (metrics collected and exported, queued spans). */
  async flush(): Promise<void> {
    await Promise.all(this.flushers.map((f) => f().catch(() => undefined)));
  }

  /** Sends a last collection and the queued spans, then stops the bridge and the providers. */
  async shutdown(): Promise<void> {
    // The bridge still reports during this flush: stopping it first would send an empty export.
    await this.flush();
    await this.bridge.shutdown();
    await Promise.all(this.closers.map((c) => c().catch(() => undefined)));
  }
}

/** True when the environment asks for OTLP export: LOOPTRACE_OTEL=1, or an OTLP endpoint is set (and LOOPTRACE_OTEL is not 0). */
export function otlpRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const flag = (env['LOOPTRACE_OTEL'] ?? '').trim().toLowerCase();
  if (['0', 'false', 'off', 'no'].includes(flag)) return false;
  if (['1', 'true', 'on', 'yes'].includes(flag)) return true;
  return nonEmpty(env['OTEL_EXPORTER_OTLP_ENDPOINT']) || nonEmpty(env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT']) || nonEmpty(env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']);
}

/**
 * Builds OTLP metric and span export from the standard OTEL_* variables and starts the bridge on
 * it. Returns undefined (after a warning that names the missing package) when the SDK packages
 * are not installed. Never throws for a problem of the environment.
 */
export function startOtlpExport(options: OtlpOptions = {}): OtlpExport | undefined {
  const warn = options.onWarning ?? ((message: string) => process.emitWarning(message, { code: 'LOOPTRACE_OTEL' }));
  try {
    return startOtlp(options, warn);
  } catch (error) {
    // A package of another major version, a setting the SDK refuses: say so, and export nothing.
    warn(`looptrace: OTLP export did not start: ${(error as Error)?.message ?? String(error)}; trace files are still written`);
    return undefined;
  }
}

function startOtlp(options: OtlpOptions, warn: (message: string) => void): OtlpExport | undefined {
  const env = options.env ?? process.env;
  if (isTrue(env['OTEL_SDK_DISABLED'])) {
    warn('looptrace: OTEL_SDK_DISABLED is true: no OTLP export (trace files are still written)');
    return undefined;
  }
  const wantMetrics = (env['OTEL_METRICS_EXPORTER'] ?? 'otlp').split(',').map((s) => s.trim()).includes('otlp');
  const wantTraces = (env['OTEL_TRACES_EXPORTER'] ?? 'otlp').split(',').map((s) => s.trim()).includes('otlp');
  const resources = load('@opentelemetry/resources', warn, 'no OTLP export');
  if (resources === undefined) return undefined;
  const resource = makeResource(resources, env);
  const counters = new ExportCounters();
  const closers: (() => Promise<unknown>)[] = [];
  const flushers: (() => Promise<unknown>)[] = [];

  let meterProvider: MeterProvider | undefined;
  if (wantMetrics) {
    const sdk = load('@opentelemetry/sdk-metrics', warn, 'no OTLP metrics');
    const protocol = protocolOf(env, 'METRICS', warn);
    const exporterPackage = protocol === 'http/json' ? '@opentelemetry/exporter-metrics-otlp-http' : '@opentelemetry/exporter-metrics-otlp-proto';
    const exporters = sdk === undefined ? undefined : load(exporterPackage, warn, 'no OTLP metrics');
    if (sdk !== undefined && exporters !== undefined) {
      const exporter = new CountingMetricExporter(new (exporters['OTLPMetricExporter'] as new () => MetricExporterLike)(), counters);
      const intervalMs = positiveInt(env['OTEL_METRIC_EXPORT_INTERVAL'], 60_000);
      const reader = new (sdk['PeriodicExportingMetricReader'] as new (o: object) => object)({
        exporter,
        metricProducers: [looptraceMetricProducer()],
        exportIntervalMillis: intervalMs,
        // The SDK wants the timeout no longer than the interval.
        exportTimeoutMillis: Math.min(positiveInt(env['OTEL_METRIC_EXPORT_TIMEOUT'], 30_000), intervalMs),
      });
      const provider = new (sdk['MeterProvider'] as new (o: object) => MeterProvider & { shutdown(): Promise<void>; forceFlush(): Promise<void> })({ resource, readers: [reader] });
      meterProvider = provider;
      closers.push(() => provider.shutdown());
      flushers.push(() => provider.forceFlush());
    }
  }

  let tracerProvider: TracerProvider | undefined;
  let queue: BoundedSpanProcessor | undefined;
  if (wantTraces) {
    const sdk = load('@opentelemetry/sdk-trace-base', warn, 'no OTLP spans');
    const protocol = protocolOf(env, 'TRACES', warn);
    const exporterPackage = protocol === 'http/json' ? '@opentelemetry/exporter-trace-otlp-http' : '@opentelemetry/exporter-trace-otlp-proto';
    const exporters = sdk === undefined ? undefined : load(exporterPackage, warn, 'no OTLP spans');
    if (sdk !== undefined && exporters !== undefined) {
      const exporter = new (exporters['OTLPTraceExporter'] as new () => SpanExporterLike)();
      queue = new BoundedSpanProcessor(exporter, counters, {
        maxQueueSize: positiveInt(env['OTEL_BSP_MAX_QUEUE_SIZE'], 2048),
        maxExportBatchSize: positiveInt(env['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'], 512),
        scheduledDelayMs: positiveInt(env['OTEL_BSP_SCHEDULE_DELAY'], 5000),
      });
      const provider = new (sdk['BasicTracerProvider'] as new (o: object) => TracerProvider & { shutdown(): Promise<void>; forceFlush(): Promise<void> })({
        resource,
        // looptrace's samplers decided already: every span that reaches the provider is kept.
        sampler: new (sdk['AlwaysOnSampler'] as new () => object)(),
        idGenerator: new LooptraceIdGenerator(),
        spanProcessors: [queue],
      });
      tracerProvider = provider;
      closers.push(() => provider.shutdown());
      flushers.push(() => provider.forceFlush());
    }
  }
  if (meterProvider === undefined && tracerProvider === undefined) return undefined;
  const bridge = startOpenTelemetry({
    ...options.bridge,
    ...(meterProvider === undefined ? { metrics: false } : { meterProvider }),
    ...(tracerProvider === undefined ? { longTaskSpans: false } : { tracerProvider }),
  });
  return new OtlpExport(bridge, meterProvider, tracerProvider, counters, queue, closers, flushers);
}

type Module = Record<string, unknown>;

function load(name: string, warn: (message: string) => void, consequence: string): Module | undefined {
  try {
    return require(name) as Module;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && String((error as Error).message).includes(name);
    warn(missing
      ? `looptrace: OpenTelemetry export needs the package ${name} (npm install ${name}): ${consequence}; trace files are still written`
      : `looptrace: the package ${name} did not load (${(error as Error).message}): ${consequence}; trace files are still written`);
    return undefined;
  }
}

function makeResource(resources: Module, env: NodeJS.ProcessEnv): object {
  type Resource = { merge(other: Resource | null): Resource };
  const fromAttributes = resources['resourceFromAttributes'] as (a: Record<string, string | number>) => Resource;
  const base = (resources['defaultResource'] as () => Resource)();
  // The environment's attributes (OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME) win over the
  // process's own; read here from `env` so that a caller's environment is the one used.
  const attributes: Record<string, string | number> = { 'process.pid': process.pid, 'host.name': hostname(), 'process.runtime.name': 'nodejs', 'process.runtime.version': process.versions.node };
  for (const pair of (env['OTEL_RESOURCE_ATTRIBUTES'] ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    const value = pair.slice(at + 1).trim();
    if (key === '') continue;
    try {
      attributes[key] = decodeURIComponent(value);
    } catch {
      attributes[key] = value;
    }
  }
  const service = env['OTEL_SERVICE_NAME'];
  if (nonEmpty(service)) attributes['service.name'] = service!.trim();
  return base.merge(fromAttributes(attributes));
}

function protocolOf(env: NodeJS.ProcessEnv, signal: 'METRICS' | 'TRACES', warn: (message: string) => void): 'http/protobuf' | 'http/json' {
  const value = (env[`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'] ?? 'http/protobuf').trim();
  if (value === 'http/protobuf' || value === 'http/json') return value;
  warn(`looptrace: OTLP protocol ${JSON.stringify(value)} is not supported (http/protobuf or http/json); using http/protobuf`);
  return 'http/protobuf';
}

function positiveInt(value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

function nonEmpty(value: string | undefined): boolean {
  return value !== undefined && value.trim() !== '';
}

function isTrue(value: string | undefined): boolean {
  return (value ?? '').trim().toLowerCase() === 'true';
}
