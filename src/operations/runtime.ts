// The per-thread operations runtime: sampler, metrics, exporters and trace sink, configured by
// startOperations() (or startRuntimeTelemetry's `operations` option). Without a runtime,
// traced() runs its function with a no-op operation.

import { threadId } from 'node:worker_threads';
import { parseBaggage, type Baggage } from './baggage.js';
import { CompositeExporter, type OperationExporter } from './exporters.js';
import { MetricsRegistry, type MetricsSnapshot } from './metrics.js';
import { Operation, type OperationHooks } from './operation.js';
import type { Sampler, SamplingInput } from './samplers.js';
import type { TraceSink } from './sink.js';
import { parseTraceParent, parseTraceState, type TraceStateEntry } from './trace-context.js';

export interface RuntimeConfig {
  sampler: Sampler;
  exporters: OperationExporter[];
  sink: TraceSink | undefined;
  maxOperationNames: number;
  metricsIntervalMs: number;
  onMetrics: ((snapshot: MetricsSnapshot) => void) | undefined;
  /** Exporter, sink and onMetrics failures: counted, then reported here. */
  onError: (error: unknown, where: string) => void;
}

/** Incoming W3C headers to continue (a remote parent). */
export interface IncomingContext {
  traceparent?: string | string[] | undefined;
  tracestate?: string | string[] | undefined;
  baggage?: string | string[] | undefined;
}

/** Operation ids are unique within a trace: the thread's Node id in the high bits, a counter below. */
const THREAD_ID_SCALE = 2 ** 32;

export class OperationsRuntime implements OperationHooks {
  readonly metrics: MetricsRegistry;
  readonly sampler: Sampler;
  private readonly exporter: CompositeExporter;
  private readonly hasExporters: boolean;
  private sink: TraceSink | undefined;
  private readonly config: RuntimeConfig;
  private nextOperation = 1;
  private readonly idBase = threadId * THREAD_ID_SCALE;
  private metricsTimer: NodeJS.Timeout | undefined;
  sinkErrors = 0;
  /** One reused input: samplers are called synchronously and must not keep it. */
  private readonly samplingInput = new LazySamplingInput();

  constructor(config: RuntimeConfig) {
    this.config = config;
    this.sampler = config.sampler;
    this.metrics = new MetricsRegistry(config.maxOperationNames);
    this.exporter = new CompositeExporter(config.exporters, (error) => {
      this.metrics.exporterErrors++;
      config.onError(error, 'exporter');
    });
    this.hasExporters = config.exporters.length > 0;
    this.sink = config.sink;
    if (config.onMetrics !== undefined && config.metricsIntervalMs > 0) {
      this.metricsTimer = setInterval(() => this.emitMetrics(), config.metricsIntervalMs);
      this.metricsTimer.unref();
    }
  }

  /** Starts an operation. `parent` is the local parent; `incoming` a remote one (wins when valid). */
  begin(name: string, parent: Operation | undefined, incoming: IncomingContext | undefined, extraBaggage: Baggage | undefined, root: boolean): Operation {
    let traceId: string | undefined;
    let parentSpanId: string | Operation | undefined;
    let remote = false;
    let parentSampled = false;
    let baggage: Baggage | undefined;
    let traceState: readonly TraceStateEntry[] | undefined;
    const remoteParent = incoming === undefined ? undefined : parseTraceParent(firstHeader(incoming.traceparent));
    if (remoteParent !== undefined) {
      traceId = remoteParent.traceId;
      parentSpanId = remoteParent.parentSpanId;
      remote = true;
      parentSampled = remoteParent.sampled;
      traceState = parseTraceState(incoming!.tracestate);
      baggage = parseBaggage(incoming!.baggage);
    } else if (parent !== undefined && !root) {
      parentSpanId = parent;
      parentSampled = parent.sampled;
      baggage = parent.baggage;
      traceState = parent.traceState;
    } else {
      // The trace id is made when first read (by a ratio sampler, a sink, an exporter, headers).
      // Baggage travels without a trace parent too (W3C baggage is independent of trace context).
      if (incoming !== undefined) baggage = parseBaggage(incoming.baggage);
    }
    if (extraBaggage !== undefined) baggage = { ...baggage, ...extraBaggage };
    const op = new Operation(
      name,
      this.idBase + this.nextOperation++,
      traceId,
      undefined,
      parentSpanId,
      remote,
      false,
      baggage,
      traceState,
      this.metrics.statsFor(name),
      this,
    );
    const input = this.samplingInput;
    input.op = op;
    input.name = name;
    if (parentSpanId === undefined) input.parent = undefined;
    else {
      input.parentDecision.sampled = parentSampled;
      input.parentDecision.remote = remote;
      input.parent = input.parentDecision;
    }
    try {
      op.sampled = this.sampler.shouldSample(input) === true;
    } catch (error) {
      this.config.onError(error, 'sampler');
    }
    input.op = undefined;
    const sampled = op.sampled;
    op.stats.started();
    if (sampled) {
      if (this.sink !== undefined) this.toSink(op, true);
      if (this.hasExporters) this.exporter.onStart(op);
    }
    return op;
  }

  /** OperationHooks: called once when an operation ends. */
  ended(op: Operation): void {
    if (!op.sampled) return;
    if (this.sink !== undefined) this.toSink(op, false);
    if (this.hasExporters) this.exporter.onEnd(op);
  }

  setSink(sink: TraceSink | undefined): void {
    this.sink = sink;
  }

  get traceSink(): TraceSink | undefined {
    return this.sink;
  }

  /** @internal Errors of callback mode go where the runtime's other failures go. */
  reportError(error: unknown, where: string): void {
    this.config.onError(error, where);
  }

  snapshot(): MetricsSnapshot {
    return this.metrics.snapshot();
  }

  async flush(): Promise<void> {
    await this.exporter.flush();
  }

  async shutdown(): Promise<void> {
    if (this.metricsTimer !== undefined) clearInterval(this.metricsTimer);
    this.metricsTimer = undefined;
    await this.exporter.shutdown();
  }

  private emitMetrics(): void {
    try {
      this.config.onMetrics?.(this.snapshot());
    } catch (error) {
      this.config.onError(error, 'onMetrics');
    }
  }

  private toSink(op: Operation, start: boolean): void {
    try {
      if (start) this.sink!.operationStart(op);
      else this.sink!.operationEnd(op);
    } catch (error) {
      this.sinkErrors++;
      this.config.onError(error, 'trace');
    }
  }
}

/** The trace id is read from the operation only if the sampler asks for it. */
class LazySamplingInput implements SamplingInput {
  op: Operation | undefined = undefined;
  name = '';
  parent: { sampled: boolean; remote: boolean } | undefined = undefined;
  readonly parentDecision = { sampled: false, remote: false };
  get traceId(): string {
    return this.op!.traceId;
  }
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  // Several traceparent headers make the header invalid (RFC 7230 would join them with commas).
  if (Array.isArray(value)) return value.length === 1 ? value[0] : undefined;
  return value;
}

let current: OperationsRuntime | undefined;

export function activeRuntime(): OperationsRuntime | undefined {
  return current;
}

export function setActiveRuntime(runtime: OperationsRuntime | undefined): void {
  current = runtime;
}
