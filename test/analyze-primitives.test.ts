// The building blocks of the analyses: the log-linear histogram, the top-K heap, the bucket grid
// and its downsampling, the wall clock, and the parsers of durations, times and --fail-on.

import { describe, expect, it } from 'vitest';
import {
  BucketColumns,
  BucketGrid,
  FailOnError,
  LogLinearHistogram,
  TopK,
  WallClock,
  formatDuration,
  parseDuration,
  parseFailOn,
  parseTimeSpec,
} from '../src/analyze/index.js';
import { Rng } from './helpers.js';

describe('LogLinearHistogram', () => {
  it('counts values below 2^subBucketBits exactly', () => {
    const h = new LogLinearHistogram(6);
    for (let v = 0; v < 64; v++) h.record(v);
    expect(h.count).toBe(64);
    expect(h.percentile(0.5)).toBe(31);
    expect(h.percentile(0)).toBe(0);
    expect(h.percentile(1)).toBe(63);
    expect(h.min).toBe(0);
    expect(h.max).toBe(63);
    expect(h.sum).toBe((63 * 64) / 2);
  });

  it('reports a single value exactly at every quantile (clamped to min and max)', () => {
    for (const v of [64, 1000, 5_000_000, 2 ** 31 + 7, 3e12, Number.MAX_SAFE_INTEGER]) {
      const h = new LogLinearHistogram();
      h.record(v);
      for (const q of [0, 0.5, 0.9, 0.99, 1]) expect(h.percentile(q)).toBe(v);
    }
  });

  it('keeps every percentile within 2^-subBucketBits of the true nearest-rank value', () => {
    const rng = new Rng(7);
    for (const bits of [3, 6]) {
      const h = new LogLinearHistogram(bits);
      const values: number[] = [];
      for (let i = 0; i < 5000; i++) {
        const v = Math.floor(2 ** (rng.float() * 40));
        values.push(v);
        h.record(v);
      }
      values.sort((a, b) => a - b);
      for (const q of [0.01, 0.25, 0.5, 0.9, 0.99, 0.999]) {
        const exact = values[Math.max(0, Math.ceil(q * values.length) - 1)]!;
        const got = h.percentile(q);
        expect(got).toBeGreaterThanOrEqual(exact);
        expect(got).toBeLessThanOrEqual(exact + exact / 2 ** bits + 1);
      }
      expect(h.percentile(1)).toBe(values.at(-1));
    }
  });

  it('puts every integer in a bucket whose highest value is at or above it and within the precision', () => {
    const h = new LogLinearHistogram(6);
    for (const v of [64, 65, 127, 128, 129, 255, 256, 1e6, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 5, 2 ** 52 + 3]) {
      const top = h.highestIn(h.indexOf(v));
      expect(top).toBeGreaterThanOrEqual(v);
      expect(top - v).toBeLessThanOrEqual(v / 64);
      // The bucket below ends below v.
      expect(h.highestIn(h.indexOf(v) - 1)).toBeLessThan(v);
    }
  });

  it('merges histograms as if all values had been recorded in one', () => {
    const a = new LogLinearHistogram();
    const b = new LogLinearHistogram();
    const all = new LogLinearHistogram();
    for (let i = 1; i <= 1000; i++) {
      (i % 3 === 0 ? a : b).record(i * 997);
      all.record(i * 997);
    }
    a.merge(b);
    expect(a.summary()).toEqual(all.summary());
    expect(() => a.merge(new LogLinearHistogram(4))).toThrow(/cannot merge/);
  });

  it('treats negative values as 0 and is empty after reset', () => {
    const h = new LogLinearHistogram();
    h.record(-5);
    expect(h.max).toBe(0);
    expect(h.percentile(0.5)).toBe(0);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.summary()).toEqual({ count: 0, minNs: 0, maxNs: 0, meanNs: 0, p50Ns: 0, p90Ns: 0, p99Ns: 0 });
  });
});

describe('TopK', () => {
  it('keeps the K largest, largest first, and counts everything offered', () => {
    const top = new TopK<number>(3, (x) => x);
    for (const x of [5, 1, 9, 3, 7, 9, 2]) top.offer(x);
    expect(top.sorted()).toEqual([9, 9, 7]);
    expect(top.seen).toBe(7);
    expect(top.accepts(8)).toBe(true);
    expect(top.accepts(7)).toBe(false);
  });

  it('keeps nothing with a capacity of 0', () => {
    const top = new TopK<number>(0, (x) => x);
    top.offer(1);
    expect(top.sorted()).toEqual([]);
    expect(top.seen).toBe(1);
  });
});

describe('BucketGrid and BucketColumns', () => {
  it('spreads spans over the buckets they cover', () => {
    const grid = new BucketGrid(1000, 100, 16);
    const cols = new BucketColumns(grid, 2);
    cols.addSpan(0, 1050, 1080); // inside bucket 0
    cols.addSpan(0, 1090, 1310); // buckets 0..3
    cols.addAt(1, 1250, 7);
    expect([0, 1, 2, 3].map((b) => cols.get(0, b))).toEqual([30 + 10, 100, 100, 10]);
    expect(cols.get(1, 2)).toBe(7);
    expect(cols.firstBucket).toBe(0);
    expect(cols.endBucket).toBe(4);
  });

  it('doubles the bucket width past the cap and merges pairs, keeping every total', () => {
    const grid = new BucketGrid(0, 10, 4);
    const a = new BucketColumns(grid, 1);
    const b = new BucketColumns(grid, 1);
    a.addSpan(0, 0, 35); // buckets 0..3 at width 10
    b.addAt(0, 15, 1);
    a.addSpan(0, 45, 50); // bucket 4: the grid doubles to width 20
    expect(grid.widthNs).toBe(20);
    expect([0, 1, 2].map((i) => a.get(0, i))).toEqual([20, 15, 5]);
    expect(b.get(0, 0)).toBe(1);
    a.addAt(0, 170, 1); // bucket 8 at width 20: doubles twice more, to width 80
    expect(grid.widthNs).toBe(80);
    expect([a.get(0, 0), a.get(0, 1), a.get(0, 2)]).toEqual([40, 0, 1]);
  });

  it('grows storage backwards for a time before its first bucket', () => {
    const grid = new BucketGrid(0, 10, 100);
    const cols = new BucketColumns(grid, 1);
    cols.addAt(0, 55, 1);
    cols.addAt(0, 15, 2);
    expect(cols.firstBucket).toBe(1);
    expect([1, 5].map((b) => cols.get(0, b))).toEqual([2, 1]);
  });
});

describe('WallClock', () => {
  it('adds the latest clock-sync correction at or before a time', () => {
    const clock = new WallClock(1_700_000_000_000_000_000n);
    expect(clock.iso(0)).toBe('2023-11-14T22:13:20.000Z');
    clock.addSync(10e9, 5e6);
    clock.addSync(20e9, -3e6);
    expect(clock.unixMs(1e9)).toBeCloseTo(1_700_000_001_000 + 5, 6); // before the first sync: the first one
    expect(clock.unixMs(15e9)).toBeCloseTo(1_700_000_015_000 + 5, 6);
    expect(clock.unixMs(25e9)).toBeCloseTo(1_700_000_025_000 - 3, 6);
    expect(clock.timeNsAt(1_700_000_025_000 - 3)).toBeCloseTo(25e9, -3);
  });

  it('keeps sub-millisecond precision of a nanosecond anchor', () => {
    const clock = new WallClock(1_700_000_000_123_456_789n);
    expect(clock.originUnixMs).toBeCloseTo(1_700_000_000_123.456789, 5);
  });
});

describe('parsers', () => {
  it('parseDuration reads number-unit parts and rejects bare numbers', () => {
    expect(parseDuration('100ms')).toBe(100e6);
    expect(parseDuration('1.5s')).toBe(1.5e9);
    expect(parseDuration('1m30s')).toBe(90e9);
    expect(parseDuration('250us')).toBe(250e3);
    expect(parseDuration('2h')).toBe(7200e9);
    expect(parseDuration('100')).toBeUndefined();
    expect(parseDuration('ms')).toBeUndefined();
    expect(parseDuration('10 parsecs')).toBeUndefined();
  });

  it('parseTimeSpec reads ISO times and offsets', () => {
    expect(parseTimeSpec('+5s')).toEqual({ kind: 'offset', ns: 5e9, text: '+5s' });
    expect(parseTimeSpec('1500ms')).toEqual({ kind: 'offset', ns: 1.5e9, text: '1500ms' });
    expect(parseTimeSpec('2024-05-01T12:00:00Z')).toEqual({ kind: 'wall', unixMs: Date.UTC(2024, 4, 1, 12), text: '2024-05-01T12:00:00Z' });
    expect(parseTimeSpec('2024-05-01T12:00:00.250+02:00')).toEqual({ kind: 'wall', unixMs: Date.UTC(2024, 4, 1, 10, 0, 0, 250), text: '2024-05-01T12:00:00.250+02:00' });
    expect(parseTimeSpec('yesterday')).toBeUndefined();
    expect(parseTimeSpec('2024-13-45T99:00:00Z')).toBeUndefined();
  });

  it('parseFailOn reads each metric kind and names the expression when it cannot', () => {
    expect(parseFailOn('long-task>100ms')).toEqual({ expression: 'long-task>100ms', metric: 'long-task', operator: '>', threshold: 100e6 });
    expect(parseFailOn('utilization >= 90%').threshold).toBeCloseTo(0.9);
    expect(parseFailOn('main-utilization<0.5')).toMatchObject({ operator: '<', threshold: 0.5 });
    expect(parseFailOn('dropped>0')).toMatchObject({ metric: 'dropped', threshold: 0 });
    expect(() => parseFailOn('long-task>100')).toThrow(/"long-task>100".*give 100 a unit/);
    expect(() => parseFailOn('latency>1ms')).toThrow(/unknown metric "latency"/);
    expect(() => parseFailOn('utilization>1.5')).toThrow(/ratio/);
    expect(() => parseFailOn('dropped>1.5')).toThrow(/whole number/);
    expect(() => parseFailOn('long-task=100ms')).toThrow(FailOnError);
  });

  it('formatDuration keeps three significant figures and drops a whole fraction', () => {
    expect(formatDuration(50e6)).toBe('50 ms');
    expect(formatDuration(2.8e9)).toBe('2.80 s');
    expect(formatDuration(123456)).toBe('123 µs');
    expect(formatDuration(500)).toBe('500 ns');
    expect(formatDuration(200e9)).toBe('3 min 20 s');
  });
});
