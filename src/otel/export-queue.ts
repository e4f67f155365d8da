// The two pieces between the SDK and the OTLP exporters that make a lost collector cheap and
// visible: a span processor with a bounded queue and one export at a time, and a metric exporter
// wrapper that counts what failed. Structural types only: the SDK packages are optional.

/** ExportResult of @opentelemetry/core: code 0 success, 1 failed. */
interface ExportResult {
  code: number;
  error?: Error;
}

/** The part of a ReadableSpan this file reads. */
interface SpanLike {
  spanContext(): { traceFlags: number };
}

export interface SpanExporterLike {
  export(spans: SpanLike[], resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

export interface MetricExporterLike {
  export(metrics: unknown, resultCallback: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
  selectAggregationTemporality?(instrumentType: unknown): unknown;
  selectAggregation?(instrumentType: unknown): unknown;
}

export class ExportCounters {
  droppedSpans = 0;
  droppedMetricPoints = 0;
  exportedSpans = 0;
  exportedMetricPoints = 0;
  failedExports = 0;
}

export interface QueueOptions {
  maxQueueSize: number;
  maxExportBatchSize: number;
  scheduledDelayMs: number;
}

/**
 * A SpanProcessor (sdk-trace-base's interface) that batches ended, sampled spans. At most
 * maxQueueSize spans wait; more are dropped and counted. One export runs at a time, so a collector
 * that does not answer holds one batch, never a growing pile of requests.
 */
export class BoundedSpanProcessor {
  private queue: SpanLike[] = [];
  private exporting = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly waiters: (() => void)[] = [];

  constructor(private readonly exporter: SpanExporterLike, private readonly counters: ExportCounters, private readonly options: QueueOptions) {}

  get queued(): number {
    return this.queue.length;
  }

  onStart(): void {}

  onEnd(span: SpanLike): void {
    if (this.closed || (span.spanContext().traceFlags & 1) === 0) return;
    if (this.queue.length >= this.options.maxQueueSize) {
      this.counters.droppedSpans++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.options.maxExportBatchSize) this.exportNext();
    else this.schedule();
  }

  async forceFlush(): Promise<void> {
    while (this.queue.length > 0 || this.exporting) {
      if (!this.exporting) this.exportNext();
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async shutdown(): Promise<void> {
    if (this.closed) return;
    await this.forceFlush();
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.exporter.shutdown();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.exporting) return;
    // Unref'd: pending spans never keep the process alive (shutdown() sends them).
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.exportNext();
    }, this.options.scheduledDelayMs).unref();
  }

  private exportNext(): void {
    if (this.exporting || this.queue.length === 0) {
      this.wake();
      return;
    }
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    const batch = this.queue.splice(0, this.options.maxExportBatchSize);
    this.exporting = true;
    let answered = false;
    const done = (result: ExportResult): void => {
      if (answered) return;
      answered = true;
      this.exporting = false;
      if (result.code === 0) this.counters.exportedSpans += batch.length;
      else {
        this.counters.droppedSpans += batch.length;
        this.counters.failedExports++;
      }
      if (this.queue.length >= this.options.maxExportBatchSize) this.exportNext();
      else if (this.queue.length > 0) this.schedule();
      this.wake();
    };
    try {
      this.exporter.export(batch, done);
    } catch (error) {
      done({ code: 1, error: error as Error });
    }
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

/** Wraps an OTLP metric exporter to count the data points it sent and those it could not. */
export class CountingMetricExporter implements MetricExporterLike {
  readonly selectAggregationTemporality?: (instrumentType: unknown) => unknown;
  readonly selectAggregation?: (instrumentType: unknown) => unknown;

  constructor(private readonly inner: MetricExporterLike, private readonly counters: ExportCounters) {
    if (inner.selectAggregationTemporality !== undefined) this.selectAggregationTemporality = (t) => inner.selectAggregationTemporality!(t);
    if (inner.selectAggregation !== undefined) this.selectAggregation = (t) => inner.selectAggregation!(t);
  }

  export(metrics: unknown, resultCallback: (result: ExportResult) => void): void {
    const points = countPoints(metrics);
    let answered = false;
    const done = (result: ExportResult): void => {
      if (answered) return;
      answered = true;
      if (result.code === 0) this.counters.exportedMetricPoints += points;
      else {
        this.counters.droppedMetricPoints += points;
        this.counters.failedExports++;
      }
      resultCallback(result);
    };
    try {
      this.inner.export(metrics, done);
    } catch (error) {
      done({ code: 1, error: error as Error });
    }
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush();
  }
}

function countPoints(resourceMetrics: unknown): number {
  let n = 0;
  const scopes = (resourceMetrics as { scopeMetrics?: { metrics?: { dataPoints?: unknown[] }[] }[] })?.scopeMetrics ?? [];
  for (const scope of scopes) for (const metric of scope.metrics ?? []) n += metric.dataPoints?.length ?? 0;
  return n;
}
