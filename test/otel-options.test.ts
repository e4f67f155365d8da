// Bad input to looptrace/otel's public functions: a clear TelemetryError naming the option and
// the value, never a stack trace from inside; and the bucket layout that JavaScript shares with
// native/thread_metrics.h.

import { describe, expect, it } from 'vitest';
import { startOpenTelemetry } from '../src/otel/index.js';
import { bucketLowerNs, bucketUpperNs, BUCKETS, intervalStats } from '../src/otel/histogram.js';

describe('startOpenTelemetry options', () => {
  it.each([
    [{ longTaskMs: -1 }, /option longTaskMs of startOpenTelemetry\(\) must be a number of milliseconds above 0 and at most 3600000; got -1/],
    [{ longTaskMs: 'fast' }, /option longTaskMs .* got "fast"/],
    [{ meterProvider: {} }, /option meterProvider of startOpenTelemetry\(\) must be a MeterProvider \(an object with getMeter\(\)\); got \{\}/],
    [{ tracerProvider: 3 }, /option tracerProvider .* must be a TracerProvider .*; got 3/],
    [{ metrics: 'yes' }, /option metrics of startOpenTelemetry\(\) must be a boolean; got "yes"/],
    [{ onError: 1 }, /option onError .* must be a function; got 1/],
    [{ longtaskMs: 10 }, /unknown option "longtaskMs" of startOpenTelemetry\(\); known: meterProvider, tracerProvider, metrics, longTaskSpans, longTaskMs, onError/],
    [null, /option options of startOpenTelemetry\(\) must be an object; got null/],
  ])('%j is refused with a message naming it', (options, message) => {
    expect(() => startOpenTelemetry(options as never)).toThrowError(message);
    try {
      startOpenTelemetry(options as never);
    } catch (error) {
      expect((error as { code?: string }).code).toBe('INVALID_OPTION');
    }
  });

  it('a second bridge while one runs is refused; after shutdown() one starts again', async () => {
    const first = startOpenTelemetry({ metrics: false, longTaskSpans: false });
    expect(() => startOpenTelemetry()).toThrowError(/already running; call shutdown\(\) on it first/);
    await first.shutdown();
    const second = startOpenTelemetry({ metrics: false, longTaskSpans: false });
    await second.shutdown();
  });
});

describe('histogram buckets shared with the native side', () => {
  it('bucket 0 holds values under 1024 ns, then 8 buckets per power of two, each at most 12.5% wide', () => {
    expect(BUCKETS).toBe(257);
    expect([bucketLowerNs(0), bucketUpperNs(0)]).toEqual([0, 1024]);
    expect([bucketLowerNs(1), bucketLowerNs(8), bucketLowerNs(9)]).toEqual([1024, 1920, 2048]);
    for (let i = 1; i < BUCKETS - 1; i++) {
      expect(bucketUpperNs(i)).toBeGreaterThan(bucketLowerNs(i));
      expect((bucketUpperNs(i) - bucketLowerNs(i)) / bucketLowerNs(i)).toBeLessThanOrEqual(0.125);
    }
    expect(bucketUpperNs(BUCKETS - 1)).toBe(Infinity);
  });

  it('interval statistics: exact mean, percentiles at bucket means, single values exact', () => {
    const s = intervalStats([
      { index: 18, count: 1, sumNs: 5000 },
      { index: 39, count: 98, sumNs: 98 * 30_000 },
      { index: 102, count: 1, sumNs: 7_000_000 },
    ])!;
    expect(s.count).toBe(100);
    expect(s.meanNs).toBeCloseTo((5000 + 98 * 30_000 + 7_000_000) / 100, 6);
    expect([s.minNs, s.p50Ns, s.p90Ns, s.maxNs]).toEqual([5000, 30_000, 30_000, 7_000_000]);
    expect(intervalStats([])).toBeUndefined();
  });
});
