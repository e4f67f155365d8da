// Samplers (ratios within binomial error over 100k decisions, rate limits exact per second,
// rules, parent-based, composites, the decision in the sampled flag) and per-operation metrics
// (percentiles within the histogram's stated error, bounded memory with 100k names).

import { beforeAll, describe, expect, it } from 'vitest';
import { DurationHistogram, RELATIVE_ERROR } from '../src/operations/duration-histogram.js';
import {
  CompositeSampler,
  InMemoryExporter,
  RateLimitedSampler,
  RatioSampler,
  alwaysSample,
  createSampler,
  newTraceId,
  startOperations,
  traced,
} from '../src/index.js';
import { requireBuild, runFixture } from './fixtures/recorder/harness.js';
import { Rng } from './helpers.js';

const N = 100_000;

function sampledCount(sampler: { shouldSample: (i: { traceId: string; name: string }) => boolean }, n = N): number {
  let yes = 0;
  for (let i = 0; i < n; i++) if (sampler.shouldSample({ traceId: newTraceId(), name: 'op' })) yes++;
  return yes;
}

/** Five standard deviations of a binomial count: a correct sampler fails this about once in 3.5 million runs. */
function withinBinomial(count: number, n: number, p: number): void {
  const sd = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(count - n * p)).toBeLessThanOrEqual(5 * sd);
}

describe('samplers', () => {
  it.each([0.01, 0.1, 0.5, 0.9])('ratio %f samples within binomial error over 100k trace ids', (ratio) => {
    withinBinomial(sampledCount(new RatioSampler(ratio)), N, ratio);
  });

  it('ratio 0 and 1 are exact', () => {
    expect(sampledCount(new RatioSampler(0), 10_000)).toBe(0);
    expect(sampledCount(new RatioSampler(1), 10_000)).toBe(10_000);
  });

  it('ratio decides by trace id: every service agrees, and a trace kept at 10% is kept at 50%', () => {
    const a = new RatioSampler(0.1);
    const b = createSampler({ type: 'ratio', ratio: 0.1 });
    const wider = new RatioSampler(0.5);
    for (let i = 0; i < 10_000; i++) {
      const input = { traceId: newTraceId(), name: String(i) };
      const decision = a.shouldSample(input);
      expect(b.shouldSample({ ...input, name: 'other' })).toBe(decision);
      if (decision) expect(wider.shouldSample(input)).toBe(true);
    }
  });

  it('rate-limited allows exactly perSecond in each second, then resets', () => {
    let now = 1_700_000_000_000;
    const sampler = new RateLimitedSampler(100, () => now);
    for (let second = 0; second < 5; second++) {
      let yes = 0;
      for (let i = 0; i < 1000; i++) {
        now = 1_700_000_000_000 + second * 1000 + i; // 1000 calls spread over the second
        if (sampler.shouldSample()) yes++;
      }
      expect(yes).toBe(100);
    }
    now += 2000;
    let yes = 0;
    for (let i = 0; i < 50; i++) if (sampler.shouldSample()) yes++;
    expect(yes).toBe(50);
  });

  it('rules pick a sampler by name pattern, first match wins, else the fallback', () => {
    const sampler = createSampler({
      type: 'rules',
      rules: [
        { name: 'checkout*', sampler: { type: 'always' } },
        { name: 'GET /health', sampler: { type: 'never' } },
        { name: '*', sampler: { type: 'ratio', ratio: 0.25 } },
      ],
    });
    const ask = (name: string, n = 20_000): number => {
      let yes = 0;
      for (let i = 0; i < n; i++) if (sampler.shouldSample({ traceId: newTraceId(), name })) yes++;
      return yes;
    };
    expect(ask('checkout')).toBe(20_000);
    expect(ask('checkout.pay')).toBe(20_000);
    expect(ask('GET /health')).toBe(0);
    withinBinomial(ask('GET /orders/:id'), 20_000, 0.25);
    expect(createSampler({ type: 'rules', rules: [{ name: 'a.b', sampler: { type: 'never' } }], fallback: { type: 'always' } }).shouldSample({ traceId: newTraceId(), name: 'axb' })).toBe(true);
  });

  it('parent-based follows the parent and asks root for roots', () => {
    const sampler = createSampler({ type: 'parent-based', root: { type: 'never' } });
    const traceId = newTraceId();
    expect(sampler.shouldSample({ traceId, name: 'x' })).toBe(false);
    expect(sampler.shouldSample({ traceId, name: 'x', parent: { sampled: true, remote: true } })).toBe(true);
    expect(sampler.shouldSample({ traceId, name: 'x', parent: { sampled: false, remote: true } })).toBe(false);
    expect(sampler.shouldSample({ traceId, name: 'x', parent: { sampled: true, remote: false } })).toBe(true);
    const override = createSampler({ type: 'parent-based', root: { type: 'always' }, remoteNotSampled: { type: 'always' } });
    expect(override.shouldSample({ traceId, name: 'x', parent: { sampled: false, remote: true } })).toBe(true);
  });

  it('all() with a rate limit last spends the budget only on what the ratio accepted', () => {
    const now = 5_000;
    const limit = new RateLimitedSampler(10, () => now);
    const both = new CompositeSampler('all', [new RatioSampler(0.5), limit]);
    expect(sampledCount(both, 1000)).toBe(10);
    const any = createSampler({ type: 'any', samplers: [{ type: 'never' }, { type: 'ratio', ratio: 0.3 }] });
    withinBinomial(sampledCount(any, 20_000), 20_000, 0.3);
  });

  it('the decision travels in the sampled flag, and a parent-based service follows it', async () => {
    const exporter = new InMemoryExporter();
    const ops = startOperations({ sampler: { type: 'parent-based', root: { type: 'ratio', ratio: 0.5 } }, exporters: exporter });
    try {
      let sampledRoots = 0;
      for (let i = 0; i < 2000; i++) {
        traced('root', (root) => {
          expect(root.traceparent().endsWith(root.sampled ? '-01' : '-00')).toBe(true);
          if (root.sampled) sampledRoots++;
          traced('child', (child) => expect(child.sampled).toBe(root.sampled));
          // Another service with the same configuration, continuing this trace.
          traced('downstream', (remote) => expect(remote.sampled).toBe(root.sampled), { incoming: { traceparent: root.traceparent() }, root: true });
        });
      }
      withinBinomial(sampledRoots, 2000, 0.5);
      expect(exporter.byName('root')).toHaveLength(sampledRoots);
      // Metrics count every operation, sampled or not.
      expect(ops.metrics().operations['root']!.count).toBe(2000);
      expect(ops.metrics().operations['child']!.completed).toBe(2000);
    } finally {
      await ops.stop();
    }
  });

  it('a sampler that throws samples nothing and does not reach the application', async () => {
    const ops = startOperations({ sampler: { shouldSample: () => { throw new Error('bad sampler'); }, describe: () => 'bad' } });
    const warn = process.emitWarning;
    process.emitWarning = (() => undefined) as typeof process.emitWarning;
    try {
      expect(traced('x', (op) => op.sampled)).toBe(false);
    } finally {
      process.emitWarning = warn;
      await ops.stop();
    }
  });
});

describe('duration histogram', () => {
  const distributions: Array<[string, (rng: Rng) => number]> = [
    ['log-normal around 5 ms', (rng) => Math.exp(Math.log(5e6) + 1.5 * gaussian(rng))],
    ['uniform 1 µs to 1 s', (rng) => 1e3 + rng.float() * 1e9],
    ['bimodal: fast hits and slow misses', (rng) => (rng.bool(0.9) ? 2e5 + rng.float() * 1e5 : 8e7 + rng.float() * 4e7)],
    ['integers 0 to 20 ns', (rng) => rng.int(21)],
  ];

  it.each(distributions)('percentiles of %s are within the stated error of the sorted reference', (_label, draw) => {
    const rng = new Rng(7);
    const h = new DurationHistogram();
    const values: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      const v = draw(rng);
      values.push(v);
      h.record(v);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.01, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999, 1]) {
      const exact = values[Math.max(1, Math.ceil(q * values.length)) - 1]!;
      const estimate = h.quantileNs(q);
      expect(Math.abs(estimate - exact), `q=${q} exact=${exact} estimate=${estimate}`).toBeLessThanOrEqual(RELATIVE_ERROR * exact + 1e-9);
    }
    expect(h.maxNs).toBe(values[values.length - 1]);
  });

  it('holds few bytes for durations within a few decades', () => {
    const h = new DurationHistogram();
    for (let v = 1e5; v < 1e8; v *= 1.001) h.record(v);
    expect(h.bucketBytes).toBeLessThanOrEqual(2048);
  });
});

describe('per-operation metrics', () => {
  it('count, active, completed, failed, cancelled and failure rate', async () => {
    const ops = startOperations({ sampler: { type: 'never' } });
    try {
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const pending = [traced('job', () => gate), traced('job', () => gate)];
      expect(ops.metrics().operations['job']).toMatchObject({ count: 2, active: 2, completed: 0 });
      for (let i = 0; i < 6; i++) traced('job', () => i);
      for (let i = 0; i < 2; i++) await traced('job', async () => { throw new Error('x'); }).catch(() => undefined);
      release();
      await Promise.all(pending);
      const m = ops.metrics().operations['job']!;
      expect(m).toMatchObject({ count: 10, active: 0, completed: 8, failed: 2, cancelled: 0 });
      expect(m.failureRate).toBeCloseTo(0.2, 10);
      expect(m.p50Ns).toBeGreaterThan(0);
      expect(m.p99Ns).toBeLessThanOrEqual(m.maxNs);
    } finally {
      await ops.stop();
    }
  });

  it('names past the cap go to "(other)"', async () => {
    const ops = startOperations({ maxOperationNames: 3 });
    try {
      for (let i = 0; i < 10; i++) traced(`n${i}`, () => undefined);
      const m = ops.metrics();
      expect(Object.keys(m.operations).sort()).toEqual(['(other)', 'n0', 'n1', 'n2']);
      expect(m.operations['(other)']!.count).toBe(7);
      expect(m.overflowedNames).toBe(7);
    } finally {
      await ops.stop();
    }
  });

  it('onMetrics is called periodically with a snapshot; a throwing onMetrics is isolated', async () => {
    const snapshots: number[] = [];
    const ops = startOperations({ metricsIntervalMs: 20, onMetrics: (s) => { snapshots.push(s.operations['tick']?.count ?? 0); throw new Error('callback bug'); } });
    const warn = process.emitWarning;
    process.emitWarning = (() => undefined) as typeof process.emitWarning;
    try {
      traced('tick', () => undefined);
      // Periodic: at least two calls, however slow a loaded machine makes the 20 ms timer.
      for (let waited = 0; snapshots.length < 2 && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
      expect(snapshots.length).toBeGreaterThanOrEqual(2);
      expect(snapshots[0]).toBe(1);
    } finally {
      process.emitWarning = warn;
      await ops.stop();
    }
  });

  describe('memory', () => {
    beforeAll(requireBuild);
    it('stays flat with 100k distinct names', async () => {
      const run = await runFixture('../operations/metrics-memory.mjs', {}, { execArgv: ['--expose-gc'] });
      expect(run.code, run.stderr).toBe(0);
      const r = run.results[0] as { after10k: number; after100k: number; names: number; other: { count: number }; overflowedNames: number };
      expect(r.names).toBe(501);
      expect(r.other.count).toBe(99_500);
      // 90,000 more names may not cost more than 256 KB (3 bytes a name); unbounded metrics would need megabytes.
      expect(r.after100k - r.after10k).toBeLessThan(256 * 1024);
    });
  });
});

function gaussian(rng: Rng): number {
  const u = 1 - rng.float();
  const v = rng.float();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
