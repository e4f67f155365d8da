// The metrics bridge: OpenTelemetry instruments whose values come from the recorder's per-thread
// aggregates (native/thread_metrics.h), read once per collection in a batch observable callback.
// No timer and no hook is added to any loop: the writer thread computes the aggregates from the
// records it drains anyway, and JavaScript reads them only when the application's MeterProvider
// collects.

import type { Attributes, BatchObservableResult, Histogram, HrTime, Meter, MeterProvider, Observable } from '@opentelemetry/api';
import { loadBinding, type NativeBinding, type NativeHistogram, type NativeThreadAggregates } from '../binding.js';
import { BUCKETS, HistogramCursor, intervalStats, type BucketDelta } from './histogram.js';
import type { Guard } from './guard.js';

/** The meter's name and version (the instrumentation scope). */
export const SCOPE_NAME = 'looptrace';
export const SCOPE_VERSION = '0.1.0';

/** v8js.gc.type values, in the order of the native GC histograms. */
const GC_TYPES = ['minor', 'major', 'incremental', 'weakcb'] as const;

// Bucket boundaries advised to the SDK, in seconds. GC: the semantic conventions' advice.
const GC_BOUNDARIES_S = [0.01, 0.1, 1, 10];
const DURATION_BOUNDARIES_S = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One thread's state between collections. */
interface ThreadCursor {
  attributes: Attributes;
  lastActiveNs: number;
  lastIdleNs: number;
  stretches: HistogramCursor;
  gc: HistogramCursor[];
  threadpool: HistogramCursor;
}

export class MetricsBridge {
  private readonly meter: Meter;
  private readonly cursors = new Map<number, ThreadCursor>();
  private readonly observables: Observable[];
  private readonly callback: (result: BatchObservableResult) => void;
  private readonly gcDuration: Histogram;
  private readonly threadpoolDelay: Histogram;
  private readonly o: ReturnType<MetricsBridge['createObservables']>;
  /** Collections served, for tests and stats. */
  collections = 0;

  constructor(
    meterProvider: MeterProvider,
    private readonly binding: NativeBinding,
    private readonly guard: Guard,
    private readonly ensureAggregation: () => void,
  ) {
    this.meter = meterProvider.getMeter(SCOPE_NAME, SCOPE_VERSION);
    const m = this.meter;
    this.gcDuration = m.createHistogram('v8js.gc.duration', {
      unit: 's',
      description: 'Garbage collection duration.',
      advice: { explicitBucketBoundaries: GC_BOUNDARIES_S },
    });
    this.threadpoolDelay = m.createHistogram('looptrace.threadpool.queue_delay', {
      unit: 's',
      description: "Time the threadpool probe's work item waited in libuv's threadpool queue before a thread took it.",
      advice: { explicitBucketBoundaries: DURATION_BOUNDARIES_S },
    });
    this.o = this.createObservables(m);
    this.observables = Object.values(this.o);
    this.callback = (result) => this.guard.run('metrics collection', () => this.observe(result));
    m.addBatchObservableCallback(this.callback, this.observables);
  }

  private createObservables(m: Meter) {
    return {
      utilization: m.createObservableGauge('nodejs.eventloop.utilization', { unit: '1', description: 'Event loop utilization: the share of time the loop was not waiting in its poll, since the previous collection.' }),
      time: m.createObservableCounter('nodejs.eventloop.time', { unit: 's', description: 'Cumulative duration of time the event loop has been in each state.' }),
      delayMin: m.createObservableGauge('nodejs.eventloop.delay.min', { unit: 's', description: 'Event loop minimum delay (shortest busy stretch since the previous collection).' }),
      delayMax: m.createObservableGauge('nodejs.eventloop.delay.max', { unit: 's', description: 'Event loop maximum delay (longest busy stretch since the previous collection).' }),
      delayMean: m.createObservableGauge('nodejs.eventloop.delay.mean', { unit: 's', description: 'Event loop mean delay (busy stretches since the previous collection).' }),
      delayStddev: m.createObservableGauge('nodejs.eventloop.delay.stddev', { unit: 's', description: 'Event loop standard deviation delay (busy stretches since the previous collection).' }),
      delayP50: m.createObservableGauge('nodejs.eventloop.delay.p50', { unit: 's', description: 'Event loop 50 percentile delay (busy stretches since the previous collection).' }),
      delayP90: m.createObservableGauge('nodejs.eventloop.delay.p90', { unit: 's', description: 'Event loop 90 percentile delay (busy stretches since the previous collection).' }),
      delayP99: m.createObservableGauge('nodejs.eventloop.delay.p99', { unit: 's', description: 'Event loop 99 percentile delay (busy stretches since the previous collection).' }),
      longTasks: m.createObservableCounter('looptrace.eventloop.long_tasks', { unit: '{task}', description: 'Busy stretches that reached the long-task threshold.' }),
      longTaskTime: m.createObservableCounter('looptrace.eventloop.long_task.time', { unit: 's', description: 'Total duration of the long tasks.' }),
      iterations: m.createObservableCounter('looptrace.eventloop.iterations', { unit: '{iteration}', description: 'Event loop iterations (polls).' }),
      eventsWaiting: m.createObservableGauge('looptrace.eventloop.events_waiting', { unit: '{event}', description: 'I/O events already waiting when the latest poll began (the loop was behind).' }),
      dropped: m.createObservableCounter('looptrace.records.dropped', { unit: '{record}', description: "Trace records lost because the thread's buffer was full." }),
    };
  }

  private observe(result: BatchObservableResult): void {
    this.collections++;
    this.ensureAggregation();
    const threads = this.binding.threadAggregates();
    const live = new Set<number>();
    const o = this.o;
    for (const t of threads) {
      live.add(t.threadId);
      const c = this.cursorOf(t);
      const a = c.attributes;
      result.observe(o.time, t.activeNs / 1e9, { ...a, 'nodejs.eventloop.state': 'active' });
      result.observe(o.time, t.idleNs / 1e9, { ...a, 'nodejs.eventloop.state': 'idle' });
      const active = t.activeNs - c.lastActiveNs;
      const idle = t.idleNs - c.lastIdleNs;
      if (active >= 0 && idle >= 0 && active + idle > 0) result.observe(o.utilization, active / (active + idle), a);
      c.lastActiveNs = t.activeNs;
      c.lastIdleNs = t.idleNs;
      const stretches = c.stretches.advance(t.stretches);
      const s = intervalStats(stretches);
      if (s !== undefined) {
        result.observe(o.delayMin, s.minNs / 1e9, a);
        result.observe(o.delayMax, s.maxNs / 1e9, a);
        result.observe(o.delayMean, s.meanNs / 1e9, a);
        result.observe(o.delayStddev, s.stddevNs / 1e9, a);
        result.observe(o.delayP50, s.p50Ns / 1e9, a);
        result.observe(o.delayP90, s.p90Ns / 1e9, a);
        result.observe(o.delayP99, s.p99Ns / 1e9, a);
      }
      result.observe(o.longTasks, t.longTasks, a);
      result.observe(o.longTaskTime, t.longTaskNs / 1e9, a);
      result.observe(o.iterations, t.iterations, a);
      result.observe(o.eventsWaiting, t.eventsWaiting, a);
      result.observe(o.dropped, t.droppedRecords, a);
      // Histograms are synchronous instruments in the OpenTelemetry API: the values that arrived
      // since the previous collection are recorded now. The SDK runs observable callbacks before
      // it collects synchronous instruments, so they are part of this same collection. GC pauses
      // and threadpool probes are a few per second, cheap to replay; busy stretches are thousands
      // a second under load (about 1 µs each to replay), so their histogram comes from
      // looptraceMetricProducer() instead, built from the native buckets at no cost per stretch.
      for (let kind = 0; kind < GC_TYPES.length; kind++) {
        replay(this.gcDuration, c.gc[kind]!.advance(t.gc[kind] as NativeHistogram), { ...a, 'v8js.gc.type': GC_TYPES[kind]! });
      }
      replay(this.threadpoolDelay, c.threadpool.advance(t.threadpoolDelay), a);
    }
    // Threads that ended: forget their cursors, so that memory follows the live threads.
    for (const id of this.cursors.keys()) if (!live.has(id)) this.cursors.delete(id);
  }

  private cursorOf(t: NativeThreadAggregates): ThreadCursor {
    let c = this.cursors.get(t.threadId);
    // A thread id seen again after a restart (activeNs went back): start over.
    if (c !== undefined && (t.activeNs < c.lastActiveNs || t.idleNs < c.lastIdleNs)) c = undefined;
    if (c === undefined) {
      c = {
        attributes: { 'thread.id': t.nodeThreadId, 'thread.name': t.name },
        lastActiveNs: 0,
        lastIdleNs: 0,
        stretches: new HistogramCursor(),
        gc: GC_TYPES.map(() => new HistogramCursor()),
        threadpool: new HistogramCursor(),
      };
      this.cursors.set(t.threadId, c);
    }
    return c;
  }

  shutdown(): void {
    try {
      this.meter.removeBatchObservableCallback(this.callback, this.observables);
    } catch {
      // A meter that cannot remove callbacks (a no-op meter) has nothing to remove.
    }
  }
}

const BUSY_STRETCH_METRIC = {
  name: 'looptrace.eventloop.busy_stretch.duration',
  description: 'Duration of each busy stretch of the event loop: from the end of blocking in one poll to the start of the next, how long new I/O had to wait.',
  unit: 's',
};

/** The busy-stretch histogram's bounds: every power of two from 1024 ns to 2^41 ns, in seconds. */
const OCTAVE_BOUNDARIES_S = Array.from({ length: 32 }, (_, k) => 2 ** (10 + k) / 1e9);

/** A MetricProducer (sdk-metrics' interface) as this module needs it, without importing the SDK. */
export interface LooptraceMetricProducer {
  collect(options?: { timeoutMillis?: number }): Promise<{ resourceMetrics: { resource: unknown; scopeMetrics: unknown[] }; errors: unknown[] }>;
}

/**
 * The busy-stretch histogram (looptrace.eventloop.busy_stretch.duration) as a MetricProducer of
 * the OpenTelemetry SDK: give it to the reader (`new PeriodicExportingMetricReader({ exporter,
 * metricProducers: [looptraceMetricProducer()] })`). It turns the native buckets into one
 * cumulative histogram point per thread at each collection, however many stretches there were;
 * counts per power-of-two bucket and sums are exact. It reports while a bridge is running.
 */
export function looptraceMetricProducer(): LooptraceMetricProducer {
  const started = new Map<number, HrTime>();
  return {
    async collect() {
      let threads: NativeThreadAggregates[] = [];
      try {
        threads = loadBinding().threadAggregates();
      } catch (error) {
        return { resourceMetrics: { resource: undefined, scopeMetrics: [] }, errors: [error] };
      }
      const now = hrNow();
      const live = new Set<number>();
      const dataPoints = threads.map((t) => {
        live.add(t.threadId);
        let start = started.get(t.threadId);
        if (start === undefined) started.set(t.threadId, (start = now));
        const counts = new Array<number>(OCTAVE_BOUNDARIES_S.length + 1).fill(0);
        let count = 0;
        let sumNs = 0;
        const h = t.stretches;
        for (let i = 0; i + 2 < h.length; i += 3) {
          const index = h[i]!;
          counts[index === 0 ? 0 : Math.min(OCTAVE_BOUNDARIES_S.length, 1 + Math.floor((index - 1) / 8))]! += h[i + 1]!;
          count += h[i + 1]!;
          sumNs += h[i + 2]!;
        }
        return {
          startTime: start,
          endTime: now,
          attributes: { 'thread.id': t.nodeThreadId, 'thread.name': t.name },
          value: { buckets: { boundaries: OCTAVE_BOUNDARIES_S, counts }, count, sum: sumNs / 1e9, hasMinMax: false },
        };
      });
      for (const id of started.keys()) if (!live.has(id)) started.delete(id);
      const metric = {
        descriptor: { ...BUSY_STRETCH_METRIC, type: 'HISTOGRAM', valueType: 1 /* ValueType.DOUBLE */ },
        aggregationTemporality: 1 /* AggregationTemporality.CUMULATIVE */,
        dataPointType: 0 /* DataPointType.HISTOGRAM */,
        dataPoints,
      };
      return {
        resourceMetrics: { resource: undefined, scopeMetrics: dataPoints.length === 0 ? [] : [{ scope: { name: SCOPE_NAME, version: SCOPE_VERSION }, metrics: [metric] }] },
        errors: [],
      };
    },
  };
}

function hrNow(): HrTime {
  const ms = performance.timeOrigin + performance.now();
  const seconds = Math.floor(ms / 1000);
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)];
}

// Bucket count of the native histograms, checked against the octave mapping above.
if (BUCKETS !== 1 + 32 * 8) throw new Error('looptrace: native histogram layout changed');

/** Records each bucket's new values at their mean: counts, buckets and sums stay exact. */
function replay(histogram: Histogram, deltas: readonly BucketDelta[], attributes: Attributes): void {
  for (const d of deltas) {
    const valueS = d.sumNs / d.count / 1e9;
    for (let i = 0; i < d.count; i++) histogram.record(valueS, attributes);
  }
}
