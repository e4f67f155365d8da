// --fail-on conditions: "metric op value" checked against a report, for CI. Parsing rejects
// anything it cannot read exactly (an unknown metric, a duration without a unit) with a message
// that names the expression, so a typo never passes silently.

import { DURATION_UNITS, parseDuration } from './durations.js';
import { formatCount, formatDuration, formatPercent, timeOfDay } from './format.js';
import type { CheckResult, ThreadReport, TraceReport } from './report.js';
import { checkThreadPattern, threadMatcher, ThreadPatternError } from './thread-select.js';

type Kind = 'duration' | 'ratio' | 'count';

interface Measured {
  value: number | null;
  /** Where the value comes from, for the message ("main at 14:03:07.123"). */
  where?: string;
}

interface Metric {
  kind: Kind;
  /** Measured over the threads a "THREAD:" prefix selects; metrics without it are process-wide. */
  perThread?: (threads: readonly ThreadReport[], report: TraceReport) => Measured;
  /** What the value is, in a phrase: "the longest busy stretch". */
  what: string;
  /** Said when the trace holds no data for the metric. */
  noData?: string;
  measure(report: TraceReport): Measured;
}

const METRICS: Record<string, Metric> = {
  'long-task': {
    kind: 'duration',
    what: 'the longest busy stretch',
    noData: 'no loop iterations in the trace',
    measure: (r) => {
      let best: Measured = { value: null };
      for (const t of r.threads) {
        if (t.busyStretch.count > 0 && (best.value === null || t.busyStretch.maxNs > best.value)) best = { value: t.busyStretch.maxNs, where: t.name };
      }
      const worst = r.longTasks.items[0];
      if (worst !== undefined && (best.value === null || worst.durationNs >= best.value)) {
        best = { value: worst.durationNs, where: `${worst.threadName} at ${timeOfDay(worst.startIso)}` };
      }
      return best;
    },
    perThread: (threads, r) => {
      let best: Measured = { value: null };
      for (const t of threads) {
        if (t.busyStretch.count > 0 && (best.value === null || t.busyStretch.maxNs > best.value)) best = { value: t.busyStretch.maxNs, where: t.name };
        const worst = r.longTasks.byThread.find((x) => x.threadId === t.threadId)?.items[0];
        if (worst !== undefined && (best.value === null || worst.durationNs >= best.value)) best = { value: worst.durationNs, where: `${worst.threadName} at ${timeOfDay(worst.startIso)}` };
      }
      return best;
    },
  },
  'long-tasks': {
    kind: 'count',
    what: 'the number of long tasks',
    measure: (r) => ({ value: r.longTasks.count }),
    perThread: (threads) => ({ value: threads.reduce((sum, t) => sum + t.longTasks.count, 0) }),
  },
  utilization: {
    kind: 'ratio',
    what: 'the highest thread utilization',
    noData: 'no loop iterations in the trace',
    measure: (r) => highestUtilization(r.threads),
    perThread: (threads) => highestUtilization(threads),
  },
  'main-utilization': {
    kind: 'ratio',
    what: "the main thread's utilization",
    noData: 'the main thread has no loop iterations in the trace',
    measure: (r) => ({ value: r.threads.find((t) => t.kind === 'main')?.utilization ?? null }),
  },
  'threadpool-p50': threadpoolMetric('p50Ns', 'the median threadpool queueing delay'),
  'threadpool-p90': threadpoolMetric('p90Ns', 'the p90 threadpool queueing delay'),
  'threadpool-p99': threadpoolMetric('p99Ns', 'the p99 threadpool queueing delay'),
  'threadpool-max': threadpoolMetric('maxNs', 'the longest threadpool queueing delay'),
  'threadpool-pressure': { kind: 'count', what: 'the number of sustained threadpool-pressure episodes', measure: (r) => ({ value: r.threadpool.pressure.episodes.length }) },
  'idle-workers': { kind: 'count', what: 'the number of idle-worker episodes', measure: (r) => ({ value: r.idleWorkers.episodes.count }) },
  'unbalanced-pools': { kind: 'count', what: 'the number of unbalanced worker pools', measure: (r) => ({ value: r.idleWorkers.pools.filter((p) => p.unbalanced).length }) },
  dropped: {
    kind: 'count',
    what: 'the number of dropped records',
    measure: (r) => ({ value: r.threads.reduce((sum, t) => sum + t.droppedRecords, 0) }),
    perThread: (threads) => ({ value: threads.reduce((sum, t) => sum + t.droppedRecords, 0) }),
  },
  corrupt: { kind: 'count', what: 'the number of corrupt frames and truncated tails', measure: (r) => ({ value: r.decode.corruptFrames + r.decode.truncated }) },
};

function highestUtilization(threads: readonly ThreadReport[]): Measured {
  let best: Measured = { value: null };
  for (const t of threads) {
    if (t.utilization !== null && (best.value === null || t.utilization > best.value)) best = { value: t.utilization, where: t.name };
  }
  return best;
}

function threadpoolMetric(field: 'p50Ns' | 'p90Ns' | 'p99Ns' | 'maxNs', what: string): Metric {
  return {
    kind: 'duration',
    what,
    noData: 'the trace has no threadpool probes',
    measure: (r) => ({ value: r.threadpool.delay.count > 0 ? r.threadpool.delay[field] : null }),
  };
}

export const FAIL_ON_METRICS: readonly string[] = Object.keys(METRICS);

type Operator = '>' | '>=' | '<' | '<=';

export interface FailOnCondition {
  expression: string;
  /** The thread pattern of a "THREAD:METRIC…" condition (a glob over thread names); undefined for all threads. */
  thread?: string;
  metric: string;
  operator: Operator;
  /** In the metric's unit: nanoseconds, a ratio (0..1) or a count. */
  threshold: number;
}

export class FailOnError extends Error {
  override name = 'FailOnError';
}

const SHAPE = /^\s*(?:(.*):)?([a-z][a-z0-9-]*)\s*(>=|<=|>|<)\s*(\S.*?)\s*$/s;

/** Metrics that a "THREAD:" prefix can limit to some threads. */
export const PER_THREAD_METRICS: readonly string[] = Object.keys(METRICS).filter((k) => METRICS[k]!.perThread !== undefined);

/**
 * Parses "long-task>100ms", "utilization>=90%", "dropped>0", and per thread "main:long-task>100ms"
 * or "worker*:utilization>0.9". Throws FailOnError naming the expression.
 */
export function parseFailOn(expression: string): FailOnCondition {
  const bad = (why: string): FailOnError => new FailOnError(`--fail-on ${JSON.stringify(expression)}: ${why}`);
  const m = SHAPE.exec(expression);
  if (m === null) throw bad(`expected [THREAD:]METRIC OP VALUE, for example long-task>100ms or main:long-task>100ms (OP is >, >=, < or <=; metrics: ${FAIL_ON_METRICS.join(', ')})`);
  const [, thread, name, operator, valueText] = m as unknown as [string, string | undefined, string, Operator, string];
  const metric = METRICS[name];
  if (metric === undefined) throw bad(`unknown metric ${JSON.stringify(name)}; known metrics: ${FAIL_ON_METRICS.join(', ')}`);
  if (thread !== undefined) {
    try {
      checkThreadPattern(thread);
    } catch (error) {
      if (error instanceof ThreadPatternError) throw bad(error.message);
      throw error;
    }
    if (metric.perThread === undefined) throw bad(`${name} is not measured per thread, so it takes no THREAD: prefix; per-thread metrics: ${PER_THREAD_METRICS.join(', ')}`);
  }
  let threshold: number | undefined;
  if (metric.kind === 'duration') {
    threshold = parseDuration(valueText);
    if (threshold === undefined) {
      throw bad(/^\d+(\.\d+)?$/.test(valueText) ? `${name} is a duration: give ${valueText} a unit (${DURATION_UNITS}), for example ${name}${operator}${valueText}ms` : `${JSON.stringify(valueText)} is not a duration (a number and a unit: ${DURATION_UNITS})`);
    }
  } else if (metric.kind === 'ratio') {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(valueText);
    threshold = pct !== null ? Number(pct[1]) / 100 : /^(\d+(\.\d+)?|\.\d+)$/.test(valueText) ? Number(valueText) : undefined;
    if (threshold === undefined || threshold > 1) throw bad(`${name} is a ratio: give a number from 0 to 1 or a percentage, for example ${name}${operator}0.9 or ${name}${operator}90%; got ${JSON.stringify(valueText)}`);
  } else {
    threshold = /^\d+$/.test(valueText) ? Number(valueText) : undefined;
    if (threshold === undefined) throw bad(`${name} is a count: give a whole number, for example ${name}${operator}0; got ${JSON.stringify(valueText)}`);
  }
  return { expression: expression.trim(), ...(thread === undefined ? {} : { thread }), metric: name, operator, threshold };
}

/** Checks each condition against a report. */
export function evaluateFailOn(report: TraceReport, conditions: readonly FailOnCondition[]): CheckResult[] {
  return conditions.map((c) => {
    const metric = METRICS[c.metric]!;
    let measured0: Measured;
    if (c.thread === undefined) measured0 = metric.measure(report);
    else {
      const matches = threadMatcher([c.thread]);
      const threads = report.threads.filter(matches);
      if (threads.length === 0) {
        const names = report.threads.map((t) => t.name).join(', ');
        return { expression: c.expression, violated: false, actual: null, message: `${c.expression}: not checked: no thread matches ${JSON.stringify(c.thread)} (threads: ${names === '' ? 'none' : names})` };
      }
      measured0 = metric.perThread!(threads, report);
    }
    const { value, where } = measured0;
    if (value === null) return { expression: c.expression, violated: false, actual: null, message: `${c.expression}: not checked: ${metric.noData ?? 'no data'}` };
    const violated = c.operator === '>' ? value > c.threshold : c.operator === '>=' ? value >= c.threshold : c.operator === '<' ? value < c.threshold : value <= c.threshold;
    const shown = metric.kind === 'duration' ? formatDuration(value) : metric.kind === 'ratio' ? formatPercent(value) : formatCount(value);
    const measured = `${metric.what} was ${shown}${where === undefined ? '' : ` (${where})`}`;
    return { expression: c.expression, violated, actual: value, message: violated ? `${c.expression} violated: ${measured}` : `${c.expression} ok: ${measured}` };
  });
}
