// startOperations(): turns operations on for this thread (without a trace file, for services
// that want metrics and exporters only, and for tests); startRuntimeTelemetry's `operations`
// option calls it with the native trace sink.

import { TelemetryError } from '../recorder/errors.js';
import { HttpInstrumentation } from './http.js';
import { CallbackRecorder, type CallbackSink, type CallbackWindow } from './callbacks.js';
import { invalidArgument } from './errors.js';
import type { MetricsSnapshot } from './metrics.js';
import { resolveOperationsOptions, type OperationsOptions } from './options.js';
import { activeRuntime, OperationsRuntime, setActiveRuntime } from './runtime.js';
import type { TraceSink } from './sink.js';
import type { NativeBinding } from '../binding.js';
import { createNativeSink } from './native-sink.js';

export class Operations {
  private readonly runtime: OperationsRuntime;
  private readonly http: HttpInstrumentation | undefined;
  private stopped = false;

  /** @internal Use startOperations() or startRuntimeTelemetry({ operations }). */
  constructor(runtime: OperationsRuntime, http: HttpInstrumentation | undefined) {
    this.runtime = runtime;
    this.http = http;
  }

  /** Per-operation counts and duration percentiles, for every operation (sampled or not). */
  metrics(): MetricsSnapshot {
    return this.runtime.snapshot();
  }

  /** Asks every exporter to send what it has buffered. */
  async flush(): Promise<void> {
    await this.runtime.flush();
  }

  get isRunning(): boolean {
    return !this.stopped;
  }

  /** Turns operations off on this thread: traced() runs functions untraced from now on. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.callbackRecorder?.close();
    this.http?.uninstall();
    if (activeRuntime() === this.runtime) setActiveRuntime(undefined);
    await this.runtime.shutdown();
  }

  /** @internal */
  setSink(sink: TraceSink | undefined): void {
    this.callbackRecorder?.close();
    this.callbackRecorder = undefined;
    this.runtime.setSink(sink);
  }

  private callbackRecorder: CallbackRecorder | undefined;

  /**
   * Callback mode for a window: every callback's start and end, resource type and operation go
   * into the trace until durationMs have passed (or window.stop()). Calling again while a window
   * is open extends it. Needs a trace to write into (startRuntimeTelemetry with operations).
   */
  recordCallbacks(options: { durationMs: number }): CallbackWindow {
    if (typeof options !== 'object' || options === null) throw invalidArgument('recordCallbacks() options', 'an object { durationMs }', options);
    const sink = this.runtime.traceSink;
    if (this.stopped || sink?.callbackStart === undefined || sink.callbackEnd === undefined || sink.resourceTypeId === undefined) {
      throw new TelemetryError('INVALID_OPTION', 'looptrace: recordCallbacks() writes callbacks into the trace: start telemetry with the operations option (and a recorder that supports callback records) first');
    }
    this.callbackRecorder ??= new CallbackRecorder(
      sink as CallbackSink,
      (error) => this.runtime.reportError(error, 'callback recorder'),
    );
    return this.callbackRecorder.record(options.durationMs);
  }
}

/**
 * Turns operations on for this thread. Throws a TelemetryError for an invalid option or when
 * operations are already on in this thread.
 */
export function startOperations(options: OperationsOptions = {}, internal?: { sink?: TraceSink; onError?: (error: TelemetryError) => void }): Operations {
  const resolved = resolveOperationsOptions(options);
  if (activeRuntime() !== undefined) {
    throw new TelemetryError('ALREADY_RUNNING', 'looptrace: operations are already on in this thread; call stop() on the running instance first');
  }
  const reported = new Set<string>();
  const runtime = new OperationsRuntime({
    sampler: resolved.sampler,
    exporters: resolved.exporters,
    sink: resolved.trace ? internal?.sink : undefined,
    maxOperationNames: resolved.maxOperationNames,
    metricsIntervalMs: resolved.metricsIntervalMs,
    onMetrics: resolved.onMetrics,
    onError: (error, where) => {
      // Counted every time (metrics().exporterErrors); reported once per place, so an exporter
      // that throws on every operation does not flood the application with warnings.
      if (reported.has(where)) return;
      reported.add(where);
      const message = `looptrace: an operations ${where} threw and was isolated: ${(error as Error)?.message ?? String(error)}`;
      const wrapped = new TelemetryError('OPERATIONS_CALLBACK_THREW', message, { cause: error });
      try {
        if (internal?.onError !== undefined) internal.onError(wrapped);
        else process.emitWarning(message, { code: 'LOOPTRACE_OPERATIONS_CALLBACK_THREW' });
      } catch {
        // Reporting must not throw into the application either.
      }
    },
  });
  const http = resolved.http === undefined ? undefined : new HttpInstrumentation(resolved.http);
  http?.install();
  setActiveRuntime(runtime);
  return new Operations(runtime, http);
}

/** @internal startRuntimeTelemetry's `operations` option: operations that also write into the trace. */
export function startOperationsForTelemetry(options: OperationsOptions, binding: NativeBinding, onError: (error: TelemetryError) => void): Operations {
  return startOperations(options, { sink: createNativeSink(binding), onError });
}
