// The metrics bridge (looptrace/otel) on the OpenTelemetry SDK's own MeterProvider and in-memory
// exporter, in a child process with a worker: the semantic-convention names, units and
// attributes, and values checked against Node's own numbers (event-loop utilization per thread,
// PerformanceObserver's GC entries) and against the trace file that the same run wrote.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeTraces, resolveInput } from '../src/analyze/index.js';
import { describeRun, expectCleanExit, removeTempDirs, requireBuild, result, runFixture, tempDir, type RunResult } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeTempDirs);

interface Point {
  attributes: Record<string, string | number>;
  value: number | { count: number; sum: number; min: number; max: number; buckets: { boundaries: number[]; counts: number[] } };
}
interface Exported {
  unit: string;
  type: string;
  scope: string;
  points: Point[];
}
interface Output {
  first: Record<string, Exported>;
  second: Record<string, Exported>;
  mainElu: number;
  workerElu: number;
  workerThreadId: number;
  secondAtUnixMs: number;
  /** PerformanceObserver's GC entries from telemetry's start to the second collection. */
  gcEntries: { kind: number; durationMs: number; startMs: number }[];
  bridge: { collections: number; errors: number };
}

let run: RunResult;
let out: Output;
let tracePath: string;

beforeAll(async () => {
  tracePath = join(tempDir('looptrace-otel-'), 'trace.bin');
  run = await runFixture('../otel/metrics-app.mjs', { path: tracePath }, { execArgv: ['--expose-gc'], timeoutMs: 60_000 });
  out = result<Output>(run);
}, 90_000);

const point = (m: Exported | undefined, attributes: Record<string, string | number>): Point | undefined =>
  m?.points.find((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v));
const num = (p: Point | undefined): number => p?.value as number;

describe('OpenTelemetry metrics from the recorder', () => {
  it('runs cleanly and serves both collections without an OpenTelemetry error', () => {
    expectCleanExit(run);
    expect(out.bridge.collections, describeRun(run)).toBe(2);
    expect(out.bridge.errors).toBe(0);
  });

  it('uses the semantic conventions names, units and instrument types, in the looptrace scope', () => {
    const m = out.second;
    const expected: Record<string, [string, string]> = {
      'nodejs.eventloop.utilization': ['1', 'OBSERVABLE_GAUGE'],
      'nodejs.eventloop.time': ['s', 'OBSERVABLE_COUNTER'],
      'nodejs.eventloop.delay.min': ['s', 'OBSERVABLE_GAUGE'],
      'nodejs.eventloop.delay.max': ['s', 'OBSERVABLE_GAUGE'],
      'nodejs.eventloop.delay.mean': ['s', 'OBSERVABLE_GAUGE'],
      'nodejs.eventloop.delay.stddev': ['s', 'OBSERVABLE_GAUGE'],
      'nodejs.eventloop.delay.p50': ['s', 'OBSERVABLE_GAUGE'],
      'nodejs.eventloop.delay.p90': ['s', 'OBSERVABLE_GAUGE'],
      'nodejs.eventloop.delay.p99': ['s', 'OBSERVABLE_GAUGE'],
      'v8js.gc.duration': ['s', 'HISTOGRAM'],
      'looptrace.eventloop.busy_stretch.duration': ['s', 'HISTOGRAM'],
      'looptrace.eventloop.long_tasks': ['{task}', 'OBSERVABLE_COUNTER'],
      'looptrace.eventloop.long_task.time': ['s', 'OBSERVABLE_COUNTER'],
      'looptrace.threadpool.queue_delay': ['s', 'HISTOGRAM'],
      'looptrace.eventloop.events_waiting': ['{event}', 'OBSERVABLE_GAUGE'],
      'looptrace.records.dropped': ['{record}', 'OBSERVABLE_COUNTER'],
    };
    for (const [name, [unit, type]] of Object.entries(expected)) {
      expect(m[name], name).toBeDefined();
      expect([m[name]!.unit, m[name]!.type, m[name]!.scope], name).toEqual([unit, type, 'looptrace']);
    }
  });

  it('reports each thread with its name and Node thread id', () => {
    const u = out.second['nodejs.eventloop.utilization']!;
    expect(u.points.map((p) => p.attributes).sort((a, b) => Number(a['thread.id']) - Number(b['thread.id']))).toEqual([
      { 'thread.id': 0, 'thread.name': 'main' },
      { 'thread.id': out.workerThreadId, 'thread.name': 'elu-worker' },
    ]);
    const time = out.second['nodejs.eventloop.time']!;
    expect(time.points.map((p) => p.attributes['nodejs.eventloop.state']).sort()).toEqual(['active', 'active', 'idle', 'idle']);
  });

  it('utilization is within 1 point of Node’s eventLoopUtilization on the main thread and in the worker', () => {
    const u = out.second['nodejs.eventloop.utilization']!;
    const main = num(point(u, { 'thread.name': 'main' }));
    const worker = num(point(u, { 'thread.name': 'elu-worker' }));
    // Both loops alternate busy and idle slices: far from 0 and 1, so the comparison means something.
    expect(out.mainElu).toBeGreaterThan(0.2);
    expect(out.mainElu).toBeLessThan(0.95);
    expect(out.workerElu).toBeGreaterThan(0.2);
    expect(out.workerElu).toBeLessThan(0.95);
    expect(Math.abs(main - out.mainElu), `bridge ${main}, Node ${out.mainElu}`).toBeLessThanOrEqual(0.01);
    expect(Math.abs(worker - out.workerElu), `bridge ${worker}, Node ${out.workerElu}`).toBeLessThanOrEqual(0.01);
  });

  it('event-loop time only grows, and the busy-stretch histogram adds up to the active time', () => {
    for (const thread of ['main', 'elu-worker']) {
      for (const state of ['active', 'idle']) {
        const before = num(point(out.first['nodejs.eventloop.time'], { 'thread.name': thread, 'nodejs.eventloop.state': state }));
        const after = num(point(out.second['nodejs.eventloop.time'], { 'thread.name': thread, 'nodejs.eventloop.state': state }));
        expect(after, `${thread} ${state}`).toBeGreaterThan(before);
      }
      const active = num(point(out.second['nodejs.eventloop.time'], { 'thread.name': thread, 'nodejs.eventloop.state': 'active' }));
      const stretches = point(out.second['looptrace.eventloop.busy_stretch.duration'], { 'thread.name': thread })!.value as { sum: number; count: number };
      // Active time is the busy stretches plus the I/O part of the first poll, counted before any
      // stretch closed.
      expect(Math.abs(stretches.sum - active), thread).toBeLessThan(0.05);
      expect(stretches.count, thread).toBeGreaterThan(100);
    }
  });

  it('delay statistics are ordered and come from the interval’s busy stretches', () => {
    const g = (name: string): number => num(point(out.second[`nodejs.eventloop.delay.${name}`], { 'thread.name': 'main' }));
    expect(g('min')).toBeLessThanOrEqual(g('p50'));
    expect(g('p50')).toBeLessThanOrEqual(g('p90'));
    expect(g('p90')).toBeLessThanOrEqual(g('p99'));
    expect(g('p99')).toBeLessThanOrEqual(g('max'));
    // The 120 ms spin is the longest stretch of the interval (to within a bucket's 12.5%).
    expect(g('max')).toBeGreaterThan(0.12 * 0.875);
    expect(g('max')).toBeLessThan(0.5);
    expect(g('stddev')).toBeGreaterThan(0);
  });

  it('long tasks agree with the long tasks analyze-trace finds in the same trace', () => {
    const [report] = analyzeTraces(resolveInput([tracePath]).traces, { longTaskNs: 50e6, top: 10_000 });
    // The stretch that ran the second collection may itself become long after it.
    const mainTasks = report!.longTasks.items.filter((t) => t.threadName === 'main' && t.startUnixMs + t.durationNs / 1e6 < out.secondAtUnixMs);
    const count = num(point(out.second['looptrace.eventloop.long_tasks'], { 'thread.name': 'main' }));
    const seconds = num(point(out.second['looptrace.eventloop.long_task.time'], { 'thread.name': 'main' }));
    expect(count).toBeGreaterThanOrEqual(1);
    expect(count).toBe(mainTasks.length);
    expect(seconds).toBeCloseTo(mainTasks.reduce((s, t) => s + t.durationNs, 0) / 1e9, 6);
  });

  it('GC durations agree with PerformanceObserver’s gc entries, by v8js.gc.type', () => {
    const kinds: Record<string, number[]> = { minor: [1, 2], major: [4], incremental: [8], weakcb: [16] };
    const gc = out.second['v8js.gc.duration']!;
    let compared = 0;
    for (const [type, bits] of Object.entries(kinds)) {
      const entries = out.gcEntries.filter((e) => bits.includes(e.kind));
      const p = point(gc, { 'thread.name': 'main', 'v8js.gc.type': type });
      if (entries.length === 0) {
        expect(p, type).toBeUndefined();
        continue;
      }
      const h = p!.value as { count: number; sum: number };
      const observedS = entries.reduce((s, e) => s + e.durationMs, 0) / 1000;
      expect(h.count, type).toBe(entries.length);
      expect(Math.abs(h.sum - observedS), `${type}: bridge ${h.sum} s, PerformanceObserver ${observedS} s`).toBeLessThanOrEqual(Math.max(0.1 * observedS, 0.0005));
      compared++;
    }
    // The fixture ran two full GCs and allocated enough for scavenges.
    expect(compared).toBeGreaterThanOrEqual(2);
    expect(point(gc, { 'thread.name': 'main', 'v8js.gc.type': 'major' })).toBeDefined();
  });
});
