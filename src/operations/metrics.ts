// Per-operation metrics, counted for every operation whether sampled or not, in bounded memory:
// at most `maxNames` names are tracked one by one; operations with any further name are counted
// together under OTHER_OPERATIONS.

import { DurationHistogram } from './duration-histogram.js';

/** The bucket that collects operations whose names came after the cap was reached. */
export const OTHER_OPERATIONS = '(other)';

export interface OperationMetrics {
  /** Operations started. */
  count: number;
  /** Started and not yet ended. */
  active: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** failed / (completed + failed + cancelled); 0 before any has ended. */
  failureRate: number;
  /** Duration percentiles of ended operations, within the histogram's 1% relative error. */
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
  /** Exact. */
  maxNs: number;
}

export interface MetricsSnapshot {
  /** When the snapshot was taken (ms since the epoch). */
  timestampMs: number;
  operations: Record<string, OperationMetrics>;
  /** Distinct names that went to OTHER_OPERATIONS because the cap was reached. */
  overflowedNames: number;
  /** Calls into exporters that threw or rejected; each was isolated from the application. */
  exporterErrors: number;
}

export type OperationStatus = 'completed' | 'failed' | 'cancelled';

export class NameStats {
  count = 0;
  active = 0;
  completed = 0;
  failed = 0;
  cancelled = 0;
  readonly durations = new DurationHistogram();

  started(): void {
    this.count++;
    this.active++;
  }

  ended(status: OperationStatus, durationNs: number): void {
    this.active--;
    this[status]++;
    this.durations.record(durationNs);
  }

  snapshot(): OperationMetrics {
    const ended = this.completed + this.failed + this.cancelled;
    return {
      count: this.count,
      active: this.active,
      completed: this.completed,
      failed: this.failed,
      cancelled: this.cancelled,
      failureRate: ended === 0 ? 0 : this.failed / ended,
      p50Ns: this.durations.quantileNs(0.5),
      p90Ns: this.durations.quantileNs(0.9),
      p99Ns: this.durations.quantileNs(0.99),
      maxNs: this.durations.maxNs,
    };
  }
}

export class MetricsRegistry {
  private readonly byName = new Map<string, NameStats>();
  private readonly other = new NameStats();
  private readonly maxNames: number;
  private overflowed = 0;
  /** Remembered so that a name seen twice past the cap counts once; bounded like the map. */
  private readonly recentOverflow = new Set<string>();
  exporterErrors = 0;

  constructor(maxNames: number) {
    this.maxNames = maxNames;
  }

  /** The stats an operation of this name counts into. */
  statsFor(name: string): NameStats {
    const existing = this.byName.get(name);
    if (existing !== undefined) return existing;
    if (this.byName.size < this.maxNames) {
      const stats = new NameStats();
      this.byName.set(name, stats);
      return stats;
    }
    if (!this.recentOverflow.has(name)) {
      this.overflowed++;
      if (this.recentOverflow.size >= this.maxNames) this.recentOverflow.clear();
      this.recentOverflow.add(name);
    }
    return this.other;
  }

  snapshot(): MetricsSnapshot {
    const operations: Record<string, OperationMetrics> = Object.create(null);
    for (const [name, stats] of this.byName) operations[name] = stats.snapshot();
    if (this.other.count > 0) operations[OTHER_OPERATIONS] = this.other.snapshot();
    return { timestampMs: Date.now(), operations, overflowedNames: this.overflowed, exporterErrors: this.exporterErrors };
  }

  get trackedNames(): number {
    return this.byName.size;
  }
}
