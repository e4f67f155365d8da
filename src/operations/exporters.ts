// Exporters receive sampled operations as they start and end. The interface is small on purpose:
// a batching exporter (OTLP) buffers in onEnd and sends in flush/shutdown. Calls are isolated by
// the runtime: an exporter that throws or rejects is counted and never reaches the application.

import type { OperationData } from './operation.js';

export interface OperationExporter {
  /** A sampled operation started (the "start" lifecycle event). */
  onStart?(op: OperationData): void;
  /** A sampled operation ended: op.status says completed, failed or cancelled. */
  onEnd(op: OperationData): void;
  /** Sends whatever is buffered. */
  flush?(): void | Promise<void>;
  /** Flushes and releases resources; no calls follow. */
  shutdown?(): void | Promise<void>;
}

/** Drops everything (the default when no exporter is configured: metrics and the trace only). */
export class NoopExporter implements OperationExporter {
  onEnd(): void {}
}

/**
 * Keeps every finished operation in memory, for tests ("test mode"): started() and finished()
 * return what was seen, in order. Bounded by `maxOperations` (default 100,000; the oldest go first).
 */
export class InMemoryExporter implements OperationExporter {
  private readonly startedOps: OperationData[] = [];
  private readonly finishedOps: OperationData[] = [];
  private readonly maxOperations: number;

  constructor(options: { maxOperations?: number } = {}) {
    this.maxOperations = options.maxOperations ?? 100_000;
  }
  onStart(op: OperationData): void {
    this.startedOps.push(op);
    if (this.startedOps.length > this.maxOperations) this.startedOps.shift();
  }
  onEnd(op: OperationData): void {
    this.finishedOps.push(op);
    if (this.finishedOps.length > this.maxOperations) this.finishedOps.shift();
  }
  started(): readonly OperationData[] {
    return this.startedOps;
  }
  finished(): readonly OperationData[] {
    return this.finishedOps;
  }
  /** Finished operations with this name. */
  byName(name: string): OperationData[] {
    return this.finishedOps.filter((op) => op.name === name);
  }
  reset(): void {
    this.startedOps.length = 0;
    this.finishedOps.length = 0;
  }
}

export interface LifecycleCallbacks {
  onStart?: (op: OperationData) => void;
  onComplete?: (op: OperationData) => void;
  onFail?: (op: OperationData) => void;
  onCancel?: (op: OperationData) => void;
  /** Every end, whatever the status (after the status-specific callback). */
  onEnd?: (op: OperationData) => void;
}

/** Calls the application's functions for each lifecycle event. */
export class CallbackExporter implements OperationExporter {
  constructor(private readonly callbacks: LifecycleCallbacks) {}
  onStart(op: OperationData): void {
    this.callbacks.onStart?.(op);
  }
  onEnd(op: OperationData): void {
    const c = this.callbacks;
    if (op.status === 'completed') c.onComplete?.(op);
    else if (op.status === 'failed') c.onFail?.(op);
    else if (op.status === 'cancelled') c.onCancel?.(op);
    c.onEnd?.(op);
  }
}

/**
 * Hands every event to each of its exporters. Each call is guarded on its own, so one exporter
 * that throws does not keep the others from seeing the event.
 */
export class CompositeExporter implements OperationExporter {
  /** Calls into member exporters that threw or rejected. */
  errors = 0;
  constructor(
    readonly exporters: readonly OperationExporter[],
    private readonly onError: (error: unknown) => void = () => {},
  ) {}
  onStart(op: OperationData): void {
    for (const e of this.exporters) if (e.onStart !== undefined) this.guard(() => e.onStart!(op));
  }
  onEnd(op: OperationData): void {
    for (const e of this.exporters) this.guard(() => e.onEnd(op));
  }
  async flush(): Promise<void> {
    await Promise.all(this.exporters.map((e) => this.guardAsync(() => e.flush?.())));
  }
  async shutdown(): Promise<void> {
    await Promise.all(this.exporters.map((e) => this.guardAsync(() => e.shutdown?.())));
  }
  private guard(call: () => unknown): void {
    try {
      const r = call();
      if (r !== null && typeof r === 'object' && typeof (r as Promise<unknown>).then === 'function') {
        (r as Promise<unknown>).then(undefined, (error) => this.failed(error));
      }
    } catch (error) {
      this.failed(error);
    }
  }
  private async guardAsync(call: () => unknown): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.failed(error);
    }
  }
  private failed(error: unknown): void {
    this.errors++;
    try {
      this.onError(error);
    } catch {
      // The error reporter itself must not reach the application either.
    }
  }
}

export function isExporter(value: unknown): value is OperationExporter {
  return typeof value === 'object' && value !== null && typeof (value as OperationExporter).onEnd === 'function';
}
