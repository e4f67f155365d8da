// Spans: each sampled operation becomes an OpenTelemetry span with looptrace's trace context, and
// each long task becomes a span, child of the operation that was running, carrying the top frame
// of its stack and its CPU split. Both go through the application's TracerProvider.
//
// The operation spans come from an operations exporter (src/operations/exporters.ts); the long
// tasks from the writer thread's queue (native/thread_metrics.h), taken when the recorder wakes
// JavaScript for them. Every call into OpenTelemetry is guarded.

import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type HrTime, type Tracer, type TracerProvider } from '@opentelemetry/api';
import type { NativeLongTask } from '../binding.js';
import type { OperationExporter } from '../operations/exporters.js';
import type { OperationData } from '../operations/operation.js';
import type { Guard } from './guard.js';
import { withIds } from './ids.js';
import { SCOPE_NAME, SCOPE_VERSION } from './metrics.js';

/** The name of long-task spans. */
export const LONG_TASK_SPAN_NAME = 'looptrace.long_task';

export class SpanCounters {
  /** Operation spans started. */
  operationSpans = 0;
  /** Long-task spans started. */
  longTaskSpans = 0;
  /** Spans whose ids the TracerProvider chose itself (it does not use LooptraceIdGenerator). */
  idMismatches = 0;
  /** Long tasks lost because JavaScript did not take them before the native queue filled. */
  longTasksDropped = 0;
}

/** Turns sampled operations into spans of `tracerProvider`. */
export class OtelSpanExporter implements OperationExporter {
  private readonly tracer: Tracer;

  constructor(tracerProvider: TracerProvider, private readonly guard: Guard, private readonly counters: SpanCounters) {
    this.tracer = tracerProvider.getTracer(SCOPE_NAME, SCOPE_VERSION);
  }

  onEnd(op: OperationData): void {
    // Guarded here, so that an OpenTelemetry error is counted by the bridge; the operations
    // runtime's own guard stays as a second line.
    this.guard.run('operation span', () => this.export(op));
  }

  private export(op: OperationData): void {
    const parent = op.parentSpanId === undefined
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId: op.traceId, spanId: op.parentSpanId, traceFlags: op.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: op.remoteParent });
    const attributes: Attributes = { ...op.attributes, 'looptrace.operation.id': op.operationId };
    const server = op.attributes['http.request.method'] !== undefined && op.attributes['http.response.status_code'] !== undefined;
    const span = withIds(op.traceId, op.spanId, () =>
      this.tracer.startSpan(op.name, { startTime: op.startTimeMs, kind: server ? SpanKind.SERVER : SpanKind.INTERNAL, attributes }, parent),
    );
    this.counters.operationSpans++;
    const context = span.spanContext();
    if (context.spanId !== op.spanId || context.traceId !== op.traceId) {
      this.counters.idMismatches++;
      span.setAttribute('looptrace.trace_id', op.traceId);
      span.setAttribute('looptrace.span_id', op.spanId);
    }
    for (const event of op.events) span.addEvent(event.name, event.attributes ?? {}, event.timeMs);
    const endMs = op.startTimeMs + op.durationNs / 1e6;
    if (op.error !== undefined) {
      const e = op.error;
      span.addEvent('exception', { 'exception.type': e.name, 'exception.message': e.message, ...(e.stack === undefined ? {} : { 'exception.stacktrace': e.stack }) }, endMs);
    }
    if (op.status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, ...(op.error === undefined ? {} : { message: op.error.message }) });
    else if (op.status === 'cancelled') span.setAttribute('looptrace.operation.status', 'cancelled');
    span.end(endMs);
  }
}

/** Turns the recorder's long tasks into spans of `tracerProvider`. */
export class LongTaskSpans {
  private readonly tracer: Tracer;

  constructor(tracerProvider: TracerProvider, private readonly guard: Guard, private readonly counters: SpanCounters) {
    this.tracer = tracerProvider.getTracer(SCOPE_NAME, SCOPE_VERSION);
  }

  export(tasks: readonly NativeLongTask[], droppedSoFar: number): void {
    this.counters.longTasksDropped = droppedSoFar;
    for (const task of tasks) this.guard.run('long-task span', () => this.exportOne(task));
  }

  private exportOne(task: NativeLongTask): void {
    const attributes: Attributes = {
      'thread.id': task.nodeThreadId,
      'thread.name': task.threadName,
      'looptrace.long_task.io_ns': task.ioNs,
      'looptrace.long_task.gc_ns': task.gcNs,
      'looptrace.long_task.stack_samples': task.stackSamples,
    };
    // The CPU split over the wall time the thread's CPU clock measured: on CPU, runnable (waiting
    // for a core) and the rest off CPU (blocked in a system call, a lock, a page fault).
    if (task.cpuWallNs > 0) {
      attributes['looptrace.long_task.measured_ns'] = task.cpuWallNs;
      attributes['looptrace.long_task.cpu_ns'] = task.cpuNs;
      attributes['looptrace.long_task.runnable_ns'] = task.runnableNs;
      attributes['looptrace.long_task.off_cpu_ns'] = Math.max(0, task.cpuWallNs - task.cpuNs - task.runnableNs);
    }
    if (task.functionName !== undefined) {
      attributes['code.function'] = task.functionName === '' ? '(anonymous)' : task.functionName;
      if (task.scriptName !== undefined && task.scriptName !== '') attributes['code.filepath'] = task.scriptName;
      if (task.line !== undefined && task.line > 0) attributes['code.lineno'] = task.line;
      if (task.column !== undefined && task.column > 0) attributes['code.column'] = task.column;
    }
    if (task.operationId !== 0) attributes['looptrace.operation.id'] = task.operationId;
    let parent = ROOT_CONTEXT;
    const c = task.context;
    if (c !== undefined && c.length === 33) {
      const hex = Buffer.from(c.buffer, c.byteOffset, c.length).toString('hex');
      const traceId = hex.slice(0, 32);
      const spanId = hex.slice(32, 48);
      // The long task is a child of the operation's own span.
      parent = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId, traceFlags: c[32]! & 1 ? TraceFlags.SAMPLED : TraceFlags.NONE, isRemote: false });
    }
    const span = this.tracer.startSpan(LONG_TASK_SPAN_NAME, { startTime: hrTime(task.startUnixNs), kind: SpanKind.INTERNAL, attributes }, parent);
    this.counters.longTaskSpans++;
    span.end(hrTime(task.endUnixNs));
  }
}

/** Unix nanoseconds (a double) as OpenTelemetry's [seconds, nanoseconds]. */
function hrTime(unixNs: number): HrTime {
  const seconds = Math.floor(unixNs / 1e9);
  return [seconds, Math.max(0, Math.min(999_999_999, Math.round(unixNs - seconds * 1e9)))];
}
