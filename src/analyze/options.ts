// The thresholds of the analyses, their defaults, and their validation. The CLI's flags map onto
// these one for one (docs/ANALYZE-JSON.md echoes them in every report).

import type { OperationsAnalysisOptions } from './operations.js';
import { checkThreadPattern, ThreadPatternError } from './thread-select.js';

export interface AnalysisOptions {
  /** A busy stretch at least this long is a long task. Default 50 ms. */
  longTaskNs?: number;
  /** A worker blocked in one poll at least this long counts as idle. Default 20 ms. */
  idleNs?: number;
  /** A thread at or above this utilization (busy / (busy + blocked)) in a window counts as saturated. Default 0.8. */
  saturation?: number;
  /** Threadpool pressure: p90 probe delay at or above this in a second. Default 10 ms. */
  threadpoolP90Ns?: number;
  /** Threadpool pressure is flagged when it lasts at least this long. Default 3 s. */
  threadpoolSustainNs?: number;
  /** How many long tasks and idle episodes the report lists (all are counted). Default 10. */
  top?: number;
  /** Only this part of the trace (trace time, ns since the origin) is analyzed. */
  sinceNs?: number;
  untilNs?: number;
  /** Bucket cap of the activity and threadpool time series. Default 240. */
  maxSeriesBuckets?: number;
  /** Operation filters and the trace id whose tree to build (src/analyze/operations.ts). */
  operations?: OperationsAnalysisOptions;
  /** Map frames of built code through source maps found on disk next to their scripts. Default true. */
  sourceMaps?: boolean;
  /**
   * Report only threads whose name matches one of these globs ("main", "worker*"; "main" also picks
   * the main thread by kind). Every thread section and the findings are limited to them. Default: all.
   */
  threads?: readonly string[];
  /**
   * Workers whose names match one of these globs serve requests (role "serving"): their long tasks
   * rank with the main thread's. Other workers are background work. Default: none.
   */
  servingThreads?: readonly string[];
}

export type ResolvedAnalysisOptions = Required<Omit<AnalysisOptions, 'sinceNs' | 'untilNs' | 'operations' | 'threads' | 'servingThreads'>> & {
  sinceNs: number;
  untilNs: number;
  operations: OperationsAnalysisOptions;
  /** Empty: every thread. */
  threads: readonly string[];
  servingThreads: readonly string[];
};

export const DEFAULT_ANALYSIS_OPTIONS = {
  longTaskNs: 50e6,
  idleNs: 20e6,
  saturation: 0.8,
  threadpoolP90Ns: 10e6,
  threadpoolSustainNs: 3e9,
  top: 10,
  maxSeriesBuckets: 240,
  sourceMaps: true,
} as const;

/** Fills in defaults and rejects nonsense with a RangeError that names the option and value. */
export function resolveAnalysisOptions(options: AnalysisOptions = {}): ResolvedAnalysisOptions {
  const d = DEFAULT_ANALYSIS_OPTIONS;
  const resolved: ResolvedAnalysisOptions = {
    longTaskNs: check('longTaskNs', options.longTaskNs ?? d.longTaskNs, (v) => v > 0),
    idleNs: check('idleNs', options.idleNs ?? d.idleNs, (v) => v > 0),
    saturation: check('saturation', options.saturation ?? d.saturation, (v) => v > 0 && v <= 1),
    threadpoolP90Ns: check('threadpoolP90Ns', options.threadpoolP90Ns ?? d.threadpoolP90Ns, (v) => v > 0),
    threadpoolSustainNs: check('threadpoolSustainNs', options.threadpoolSustainNs ?? d.threadpoolSustainNs, (v) => v > 0),
    top: check('top', options.top ?? d.top, (v) => Number.isInteger(v) && v >= 0),
    maxSeriesBuckets: check('maxSeriesBuckets', options.maxSeriesBuckets ?? d.maxSeriesBuckets, (v) => Number.isInteger(v) && v >= 2),
    sourceMaps: checkBoolean('sourceMaps', options.sourceMaps ?? d.sourceMaps),
    sinceNs: check('sinceNs', options.sinceNs ?? -Infinity, (v) => !Number.isNaN(v)),
    untilNs: check('untilNs', options.untilNs ?? Infinity, (v) => !Number.isNaN(v)),
    operations: options.operations ?? {},
    threads: checkThreads('threads', options.threads),
    servingThreads: checkThreads('servingThreads', options.servingThreads),
  };
  if (!(resolved.sinceNs < resolved.untilNs)) {
    throw new RangeError(`looptrace: sinceNs (${resolved.sinceNs}) must be before untilNs (${resolved.untilNs})`);
  }
  return resolved;
}

function checkThreads(name: string, threads: readonly string[] | undefined): readonly string[] {
  if (threads === undefined) return [];
  if (!Array.isArray(threads)) throw new RangeError(`looptrace: analysis option ${name} must be an array of name patterns, got ${JSON.stringify(threads) ?? String(threads)}`);
  try {
    return threads.map(checkThreadPattern);
  } catch (error) {
    if (error instanceof ThreadPatternError) throw new RangeError(`looptrace: analysis option ${name}: ${error.message}`);
    throw error;
  }
}

function checkBoolean(name: string, value: boolean): boolean {
  if (typeof value !== 'boolean') throw new RangeError(`looptrace: analysis option ${name} must be true or false, got ${JSON.stringify(value) ?? String(value)}`);
  return value;
}

function check(name: string, value: number, ok: (v: number) => boolean): number {
  if (typeof value !== 'number' || !ok(value)) {
    throw new RangeError(`looptrace: analysis option ${name} cannot be ${JSON.stringify(value) ?? String(value)}`);
  }
  return value;
}
