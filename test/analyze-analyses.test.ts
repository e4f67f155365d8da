// The analyses on synthetic traces written with the TypeScript encoder, where every answer is
// known: per-thread busy/blocked accounting and pairing across gaps, long tasks with phase, CPU
// and attribution, idle workers and pool imbalance, threadpool pressure, windows, wall-clock
// times, --fail-on checks and the JSONL conversion.

import { describe, expect, it } from 'vitest';
import { evaluateFailOn, JsonlConverter, LogLinearHistogram, parseFailOn, type TraceReport } from '../src/analyze/index.js';
import { TraceDecoder, TraceEncoder } from '../src/format/index.js';
import {
  MAIN,
  ORIGIN_UNIX_MS,
  analyzeBytes,
  analyzeFrames,
  clockSync,
  cpu,
  dropped,
  encodeFile,
  gc,
  header,
  ms,
  pe,
  probe,
  ps,
  resumed,
  rhythm,
  stack,
  stop,
  stringDef,
  worker,
} from './fixtures/analyze/synth.js';

/** The value a histogram reports for a set of values at quantile q. */
function expectedPercentile(values: number[], q: number): number {
  const h = new LogLinearHistogram();
  for (const v of values) h.record(v);
  return h.percentile(q);
}

/**
 * The main loop used by several tests (times in ms):
 *   poll 1–11 blocked 8 (I/O 9–11), stretch 11–14; poll 14–24 blocked 10, stretch 24–100 (long,
 *   CPU-bound); poll 100–101 with 3 events waiting, stretch 101–102; poll 102–112 blocked 10.
 */
const MAIN_LOOP = [
  ps(ms(1)),
  pe(ms(11), ms(8), 2),
  ps(ms(14)),
  pe(ms(24), ms(10), 1),
  ps(ms(100)),
  cpu(ms(100), ms(76), ms(72.2)),
  pe(ms(101), 0, 3, 3),
  ps(ms(102)),
  pe(ms(112), ms(10)),
];

describe('thread statistics', () => {
  const report = analyzeFrames([MAIN], [{ threadId: 1, records: MAIN_LOOP }]);
  const main = report.threads[0]!;

  it('pairs polls into busy and blocked time', () => {
    expect(report.threads).toHaveLength(1);
    expect(main).toMatchObject({ threadId: 1, name: 'main', kind: 'main', nodeThreadId: 0, iterations: 4, gaps: 0, droppedRecords: 0 });
    // I/O parts 2 + 0 + 1 + 0, stretches 3 + 76 + 1.
    expect(main.busyNs).toBe(ms(83));
    expect(main.blockedNs).toBe(ms(28));
    expect(main.utilization).toBeCloseTo(83 / 111, 12);
    expect(main.firstNs).toBe(ms(1));
    expect(main.lastNs).toBe(ms(112));
  });

  it('measures busy stretches from the end of blocking to the next poll', () => {
    // Runs: 9–14 (5 ms), 24–100 (76 ms), 100–102 (2 ms).
    const runs = [ms(5), ms(76), ms(2)];
    expect(main.busyStretch.count).toBe(3);
    expect(main.busyStretch.maxNs).toBe(ms(76));
    expect(main.busyStretch.p50Ns).toBe(expectedPercentile(runs, 0.5));
    expect(main.busyStretch.p50Ns).toBeGreaterThanOrEqual(ms(5));
    expect(main.busyStretch.p50Ns).toBeLessThanOrEqual(ms(5) * (1 + 1 / 64));
    expect(main.busyStretch.meanNs).toBe(Math.round(ms(83) / 3));
  });

  it('counts events and polls that found events waiting', () => {
    expect(main.events).toEqual({ total: 6, perIteration: 1.5, pollsWithWaiting: 1, maxWaiting: 3, meanWaiting: 0.75 });
    expect(main.cpu).toEqual({ cpuNs: ms(72.2), wallNs: ms(76), ratio: ms(72.2) / ms(76), runnableNs: null });
  });

  it('spans the trace from its first to its last record, in wall-clock time too', () => {
    expect(report.trace).toMatchObject({ startNs: ms(1), endNs: ms(112), durationNs: ms(111), records: MAIN_LOOP.length, serviceName: 'synthetic', pid: 4242, threadpoolSize: 4 });
    expect(report.trace.startIso).toBe('2023-11-14T22:13:20.001Z');
    expect(report.trace.startUnixMs).toBe(ORIGIN_UNIX_MS + 1);
    expect(report.schemaVersion).toBe(1);
  });

  it('does not pair across DROPPED or RESUMED, and counts what was dropped', () => {
    const r = analyzeFrames(
      [MAIN],
      [{ threadId: 1, records: [ps(0), pe(ms(10), ms(10)), dropped(ms(12), 5), ps(ms(80)), pe(ms(90), ms(10)), resumed(ms(95)), ps(ms(200)), pe(ms(201), ms(1))] }],
      { longTaskNs: ms(50) },
    );
    const t = r.threads[0]!;
    expect(t.droppedRecords).toBe(5);
    expect(t.gaps).toBe(2);
    expect(r.longTasks.count).toBe(0);
    expect(t.busyStretch.count).toBe(0);
    expect(t.blockedNs).toBe(ms(10) + ms(10) + ms(1));
    expect(r.findings.map((f) => f.kind)).toEqual(['dropped-records']);
  });

  it('does not pair across a lost frame', () => {
    // Frame 2 (polls 12–20) is damaged: pairing POLL_END at 10 with POLL_START at 40 would make a
    // 30 ms stretch.
    const { bytes, frameRanges } = encodeFile(header([MAIN]), [
      { threadId: 1, records: [ps(0), pe(ms(10), ms(9))] },
      { threadId: 1, records: [ps(ms(12)), pe(ms(20), ms(8))] },
      { threadId: 1, records: [ps(ms(40)), pe(ms(50), ms(9))] },
    ]);
    const damaged = bytes.slice();
    const [start, end] = frameRanges[1]!;
    damaged[Math.floor((start + end) / 2)]! ^= 0xff;
    const r = analyzeBytes(damaged, { longTaskNs: ms(25) });
    expect(r.decode.corruptFrames).toBe(1);
    expect(r.longTasks.count).toBe(0);
    expect(r.threads[0]!.busyStretch.count).toBe(0);
    expect(r.decode.diagnostics[0]!.message).toMatch(/corrupt frame/);
    expect(r.findings.map((f) => f.kind)).toEqual(['damaged-trace']);
    // The intact copy pairs them: the damage, not the data, made the difference.
    expect(analyzeBytes(bytes, { longTaskNs: ms(25) }).threads[0]!.busyStretch.count).toBe(2);
  });
});

describe('long tasks', () => {
  it('finds stretches at or above the threshold with phase and CPU', () => {
    const r = analyzeFrames([MAIN], [{ threadId: 1, records: MAIN_LOOP }], { longTaskNs: ms(50) });
    expect(r.longTasks.count).toBe(1);
    expect(r.longTasks.totalNs).toBe(ms(76));
    const task = r.longTasks.items[0]!;
    expect(task).toMatchObject({
      threadId: 1,
      threadName: 'main',
      startNs: ms(24),
      endNs: ms(100),
      durationNs: ms(76),
      phase: 'timers-immediates',
      ioCallbacksNs: 0,
      timersImmediatesNs: ms(76),
      verdict: 'cpu-bound',
      endedBy: 'poll',
      startIso: '2023-11-14T22:13:20.024Z',
      startUnixMs: ORIGIN_UNIX_MS + 24,
      attribution: { gc: null, stacks: [] },
    });
    expect(task.cpu!.ratio).toBeCloseTo(0.95, 10);
    expect(r.threads[0]!.longTasks).toEqual({ count: 1, totalNs: ms(76), maxNs: ms(76) });
    expect(r.findings[0]).toMatchObject({ kind: 'long-task', severity: 'warning', threadId: 1 });
    expect(r.findings[0]!.message).toBe('main was busy in a long task of at least 50 ms; the worst 76 ms at 22:13:20.024 in timers/immediates, CPU-bound (95% on CPU)');
  });

  it('counts a stretch exactly at the threshold and not one just below', () => {
    const at = analyzeFrames([MAIN], [{ threadId: 1, records: [ps(0), pe(ms(1), ms(1)), ps(ms(51)), pe(ms(52), ms(1)), ps(ms(101.999999))] }], { longTaskNs: ms(50) });
    expect(at.longTasks.count).toBe(1);
    expect(at.longTasks.items[0]!.durationNs).toBe(ms(50));
  });

  it('attributes the I/O-callback part of a poll and measures its CPU without the blocked time', () => {
    // Poll 0–300: blocked 100, I/O callbacks 200 (THREAD_CPU over the whole poll: 300 wall, 20 CPU).
    const r = analyzeFrames([MAIN], [{ threadId: 1, records: [ps(0), pe(ms(300), ms(100), 5), cpu(ms(300), ms(300), ms(20)), ps(ms(301))] }], { longTaskNs: ms(50) });
    const task = r.longTasks.items[0]!;
    expect(task).toMatchObject({ startNs: ms(100), durationNs: ms(201), phase: 'io-callbacks', ioCallbacksNs: ms(200), timersImmediatesNs: ms(1), verdict: 'off-cpu' });
    expect(task.cpu).toEqual({ cpuNs: ms(20), wallNs: ms(200), ratio: 0.1 });
  });

  it('lists the worst first, keeps the top N, and counts them all', () => {
    const records = [];
    let t = 0;
    for (const busy of [60, 90, 70, 120, 55]) {
      records.push(ps(ms(t)), pe(ms(t + 1), ms(1)));
      t += 1 + busy;
    }
    records.push(ps(ms(t)));
    const r = analyzeFrames([MAIN], [{ threadId: 1, records }], { longTaskNs: ms(50), top: 3 });
    expect(r.longTasks.count).toBe(5);
    expect(r.longTasks.totalNs).toBe(ms(395));
    expect(r.longTasks.items.map((x) => x.durationNs)).toEqual([ms(120), ms(90), ms(70)]);
  });

  it('reports a stretch still open when the trace ends, but not one that a THREAD_STOP closed', () => {
    const w2 = worker(2, 1);
    const w3 = worker(3, 2);
    const r = analyzeFrames(
      [MAIN, w2, w3],
      [
        { threadId: 2, records: [ps(0), pe(ms(10), ms(10))] },
        { threadId: 3, records: [ps(0), pe(ms(10), ms(10)), stop(ms(400))] },
        { threadId: 1, records: rhythm(0, ms(500), ms(1), ms(9)) },
      ],
      { longTaskNs: ms(50) },
    );
    expect(r.longTasks.count).toBe(1);
    const task = r.longTasks.items[0]!;
    expect(task).toMatchObject({ threadId: 2, threadName: 'worker 1 (pool.mjs)', startNs: ms(10), endedBy: 'trace-end' });
    expect(task.endNs).toBe(r.trace.endNs);
    expect(r.threads.find((t) => t.threadId === 3)).toMatchObject({ stoppedNs: ms(400), stopReason: 'exited' });
  });

  it('attributes GC pauses and stack samples inside the stretch', () => {
    const enc = new TraceEncoder();
    enc.writeMagic();
    enc.writeHeader(header([MAIN]));
    enc.beginFrame(0, 0);
    enc.record(stringDef(0, 1, 'buildReport'));
    enc.record(stringDef(0, 2, 'app.js'));
    enc.stackDef(0, 1, [{ functionNameStringId: 1, scriptStringId: 2, line: 10, column: 5 }]);
    enc.endFrame();
    enc.beginFrame(1, 0);
    for (const r of [ps(0), pe(ms(10), ms(10)), gc(ms(20), ms(3)), stack(ms(30), 1), gc(ms(40), ms(2)), stack(ms(50), 1), stack(ms(55), 9), ps(ms(90))]) enc.record(r);
    enc.endFrame();
    const r = analyzeBytes(enc.take(), { longTaskNs: ms(50) });
    // The stretch runs from 10 ms to 90 ms; each sample stands for the time until the next one or the end.
    expect(r.longTasks.items[0]!.attribution).toMatchObject({
      gc: { pauses: 2, totalNs: ms(5), share: ms(5) / ms(80) },
      stacks: [
        { stackId: 1, samples: 2, frames: ['buildReport (app.js:10:5)'], weightNs: ms(25) },
        { stackId: 9, samples: 1, frames: [], callFrames: [], weightNs: ms(35) },
      ],
      samples: 3,
      sampledNs: ms(60),
    });
  });

  it('stamps wall-clock times with the clock-sync correction', () => {
    const r = analyzeFrames([MAIN], [{ threadId: 0, records: [clockSync(0, ms(5))] }, { threadId: 1, records: MAIN_LOOP }], { longTaskNs: ms(50) });
    expect(r.longTasks.items[0]!.startIso).toBe('2023-11-14T22:13:20.029Z');
  });
});

describe('idle workers', () => {
  const threads = [MAIN, worker(2, 1), worker(3, 2), worker(4, 3), worker(5, 4)];
  const span = ms(2000);

  function pool(busyWorkerMs: number): TraceReport {
    return analyzeFrames(threads, [
      { threadId: 1, records: rhythm(0, span, ms(1), ms(9)) },
      { threadId: 2, records: rhythm(0, span, ms(busyWorkerMs), ms(10 - busyWorkerMs)) },
      { threadId: 3, records: rhythm(0, span, ms(1), ms(99)) },
      { threadId: 4, records: rhythm(0, span, ms(1), ms(99)) },
      { threadId: 5, records: rhythm(0, span, ms(1), ms(99)) },
    ]);
  }

  it('names the busiest worker of an unbalanced pool, with the evidence', () => {
    const r = pool(9);
    expect(r.idleWorkers.pools).toHaveLength(1);
    const p = r.idleWorkers.pools[0]!;
    expect(p).toMatchObject({ script: '(pool.mjs)', threadIds: [2, 3, 4, 5], busiestThreadId: 2, busiestName: 'worker 1 (pool.mjs)', unbalanced: true });
    expect(p.members.find((m) => m.threadId === 2)!.utilization).toBeCloseTo(0.9, 3);
    expect(p.members.find((m) => m.threadId === 3)!.utilization).toBeCloseTo(0.01, 3);
    expect(p.summary).toBe('worker 1 (pool.mjs) was 90% busy while workers 2, 3, 4 (pool.mjs) were 1.0% busy over 1.99 s');
    expect(r.findings.map((f) => f.kind)).toEqual(['unbalanced-pool', 'idle-worker']);
  });

  it('finds each idle worker blocked while the busy one was saturated', () => {
    const e = pool(9).idleWorkers.episodes;
    expect(e.count).toBe(3);
    expect(e.items.map((x) => x.threadId).sort()).toEqual([3, 4, 5]);
    for (const item of e.items) {
      expect(item.peer).toMatchObject({ threadId: 2, name: 'worker 1 (pool.mjs)', reason: 'saturated' });
      expect(item.peer.utilization).toBeCloseTo(0.9, 2);
      // Blocked in 99 ms polls for nearly the whole trace.
      expect(item.idleNs).toBeGreaterThan(ms(1800));
      expect(item.durationNs).toBeGreaterThan(ms(1800));
    }
  });

  it('reports a balanced pool as balanced, with no idle episodes', () => {
    const r = pool(1);
    expect(r.idleWorkers.pools[0]!.unbalanced).toBe(false);
    expect(r.idleWorkers.episodes.count).toBe(0);
    expect(r.findings).toEqual([]);
  });

  it('counts a backlog of a sibling worker (polls finding events waiting) as work waiting', () => {
    // Worker 1 is 30% busy, not saturated, but every poll finds three events already waiting: its pool is behind.
    const behind = [];
    for (let t = 0; t + ms(10) <= span; t += ms(10)) behind.push(ps(t), pe(t + ms(7), ms(7), 3, 3));
    const r = analyzeFrames(threads.slice(0, 3), [
      { threadId: 1, records: rhythm(0, span, ms(1), ms(9)) },
      { threadId: 2, records: behind },
      { threadId: 3, records: rhythm(0, span, ms(1), ms(99)) },
    ]);
    expect(r.idleWorkers.episodes.count).toBe(1);
    expect(r.idleWorkers.episodes.items[0]).toMatchObject({ threadId: 3, peer: { threadId: 2, reason: 'events-waiting' } });
    // Events waiting on a worker that is almost idle (starting up, shutting down) are no backlog.
    const quiet = [];
    for (let t = 0; t + ms(10) <= span; t += ms(10)) quiet.push(ps(t), pe(t + ms(9.5), ms(9.5), 3, 3));
    const q = analyzeFrames(threads.slice(0, 3), [
      { threadId: 2, records: quiet },
      { threadId: 3, records: rhythm(0, span, ms(1), ms(99)) },
    ]);
    expect(q.idleWorkers.episodes.count).toBe(0);
  });

  it('is no evidence that work waited for a pool when only the main thread was saturated or behind', () => {
    const busy = [];
    for (let t = 0; t + ms(10) <= span; t += ms(10)) busy.push(ps(t), pe(t + ms(1), 0, 3, 3));
    const r = analyzeFrames(threads.slice(0, 3), [
      { threadId: 1, records: busy },
      { threadId: 2, records: rhythm(0, span, ms(1), ms(99)) },
      { threadId: 3, records: rhythm(0, span, ms(1), ms(99)) },
    ]);
    // The main loop never blocks, so it is saturated as well as behind; its work is not the pool's.
    expect(r.threads[0]!.utilization).toBeGreaterThan(0.8);
    expect(r.idleWorkers.episodes.count).toBe(0);
    expect(r.findings.some((f) => f.kind === 'idle-worker')).toBe(false);
  });

  it('is no evidence when a worker of another pool was saturated', () => {
    const r = analyzeFrames([MAIN, worker(2, 1, '(resize.mjs)'), worker(3, 2, '(mail.mjs)'), worker(4, 3, '(mail.mjs)')], [
      { threadId: 2, records: rhythm(0, span, ms(9), ms(1)) },
      { threadId: 3, records: rhythm(0, span, ms(1), ms(99)) },
      { threadId: 4, records: rhythm(0, span, ms(1), ms(99)) },
    ]);
    expect(r.idleWorkers.episodes.count).toBe(0);
  });
});

describe('threadpool', () => {
  function probes(delayAt: (second: number) => number, seconds = 10): TraceReport {
    const records = [];
    for (let i = 0; i < seconds * 10; i++) records.push(probe(ms(i * 100 + 50), delayAt(Math.floor(i / 10))));
    return analyzeFrames([MAIN], [{ threadId: 1, records }]);
  }

  it('reports a sub-second burst far above normal as its own finding, with its window', () => {
    // Probes every 100 ms wait 20 µs, but three in a row at 3.1-3.3 s wait 60, 45 and 30 ms: 135 ms of
    // queueing in a third of a second, too short for the 3 s sustain.
    const records = [];
    for (let i = 0; i < 100; i++) {
      const burst = [60e6, 45e6, 30e6][i - 31];
      records.push(probe(ms(i * 100), burst ?? 20_000));
    }
    const r = analyzeFrames([MAIN], [{ threadId: 1, records }]);
    const tp = r.threadpool;
    expect(tp.pressure.flagged).toBe(false);
    expect(tp.bursts.items).toEqual([
      { startNs: ms(3040), endNs: ms(3300), durationNs: ms(260), startUnixMs: ORIGIN_UNIX_MS + 3040, startIso: '2023-11-14T22:13:23.040Z', probes: 3, queuedNs: 135e6, maxNs: 60e6 },
    ]);
    const f = r.findings.find((x) => x.kind === 'threadpool-burst')!;
    expect(f).toMatchObject({ severity: 'warning', impactNs: 135e6 });
    expect(f.message).toMatch(/^The libuv threadpool was saturated in a short burst: from 22:13:23\.040 for 260 ms, 3 probes waited 135 ms in all, up to 60 ms \(median over the trace 20\.\d µs\) with UV_THREADPOOL_SIZE=4/);
    // Less queueing than 100 ms in all is no burst; nor is a delay that is normal for this pool.
    const small = analyzeFrames([MAIN], [{ threadId: 1, records: records.map((x) => (x.type === 'threadpoolProbe' && x.queueDelayNs > 1e6 ? { ...x, queueDelayNs: 30e6 } : x)) }]);
    expect(small.threadpool.bursts.items).toEqual([]);
    const slowPool = analyzeFrames([MAIN], [{ threadId: 1, records: records.map((x) => (x.type === 'threadpoolProbe' && x.queueDelayNs < 1e6 ? { ...x, queueDelayNs: 20e6 } : x)) }], { threadpoolP90Ns: 100e6 });
    expect(slowPool.threadpool.bursts.items).toEqual([]);
  });

  it('gives delay percentiles, a per-second series, and flags sustained pressure', () => {
    const r = probes((s) => (s >= 2 && s < 7 ? 50e6 : 1023));
    const tp = r.threadpool;
    expect(tp.threadpoolSize).toBe(4);
    expect(tp.delay).toMatchObject({ count: 100, p50Ns: 1023, p90Ns: 50e6, p99Ns: 50e6, maxNs: 50e6 });
    expect(tp.series.bucketNs).toBe(1e9);
    expect(tp.series.buckets.map((b) => b.p90Ns)).toEqual([1023, 1023, 50e6, 50e6, 50e6, 50e6, 50e6, 1023, 1023, 1023]);
    expect(tp.series.buckets[0]).toMatchObject({ startNs: 0, count: 10, startIso: '2023-11-14T22:13:20.000Z' });
    expect(tp.pressure).toMatchObject({ flagged: true, totalNs: 5e9, p90ThresholdNs: 10e6, sustainNs: 3e9 });
    expect(tp.pressure.episodes).toEqual([
      { startNs: 2e9, endNs: 7e9, durationNs: 5e9, startUnixMs: ORIGIN_UNIX_MS + 2000, startIso: '2023-11-14T22:13:22.000Z', peakP90Ns: 50e6, maxNs: 50e6 },
    ]);
    expect(tp.pressure.advice.join(' ')).toMatch(/UV_THREADPOOL_SIZE=8/);
    expect(tp.pressure.advice.join(' ')).toMatch(/pbkdf2.*zlib.*fs.*dns\.lookup/);
    expect(r.findings[0]!.kind).toBe('threadpool-pressure');
  });

  it('does not flag pressure shorter than the sustain time', () => {
    const r = probes((s) => (s >= 2 && s < 4 ? 50e6 : 1023));
    expect(r.threadpool.pressure).toMatchObject({ flagged: false, totalNs: 2e9, episodes: [], advice: [] });
    // Not sustained, but 50 ms waits against a 1 µs median are severe: a burst, said as such.
    expect(r.findings.map((f) => f.kind)).toEqual(['threadpool-burst']);
    expect(r.threadpool.bursts.items).toMatchObject([{ probes: 20, queuedNs: 1e9, maxNs: 50e6 }]);
  });

  it('bridges seconds without a probe (a probe waiting longer than a second) inside an episode', () => {
    const records = [probe(ms(500), 1023), probe(ms(1500), 900e6), probe(ms(3500), 1500e6), probe(ms(4500), 800e6), probe(ms(5500), 1023)];
    const r = analyzeFrames([MAIN], [{ threadId: 1, records }]);
    expect(r.threadpool.pressure.episodes).toHaveLength(1);
    expect(r.threadpool.pressure.episodes[0]).toMatchObject({ startNs: 1e9, endNs: 5e9 });
  });

  it('downsamples the series past the cap', () => {
    const records = [];
    for (let s = 0; s < 100; s++) records.push(probe(s * 1e9 + 1, 1000 + s));
    const r = analyzeFrames([MAIN], [{ threadId: 1, records }], { maxSeriesBuckets: 16 });
    expect(r.threadpool.series.bucketNs).toBe(8e9);
    expect(r.threadpool.series.buckets).toHaveLength(13);
    expect(r.threadpool.series.buckets.reduce((sum, b) => sum + b.count, 0)).toBe(100);
  });
});

describe('windows', () => {
  it('clips time to --since/--until and keeps long tasks that overlap the window', () => {
    const r = analyzeFrames([MAIN], [{ threadId: 1, records: MAIN_LOOP }], { sinceNs: ms(50), untilNs: ms(105), longTaskNs: ms(50) });
    const t = r.threads[0]!;
    // Busy 50–100, 100–101, 101–102; blocked 102–105.
    expect(t.busyNs).toBe(ms(52));
    expect(t.blockedNs).toBe(ms(3));
    expect(t.iterations).toBe(1);
    expect(r.longTasks.count).toBe(1);
    expect(r.longTasks.items[0]!.durationNs).toBe(ms(76));
    expect(r.trace.window).toEqual({ sinceNs: ms(50), untilNs: ms(105), sinceIso: '2023-11-14T22:13:20.050Z', untilIso: '2023-11-14T22:13:20.105Z' });
    expect(r.trace).toMatchObject({ startNs: ms(100), endNs: ms(102), records: 4 });
  });
});

describe('--fail-on checks', () => {
  const report = analyzeFrames([MAIN], [{ threadId: 1, records: MAIN_LOOP }], { longTaskNs: ms(50) });
  const check = (expression: string) => evaluateFailOn(report, [parseFailOn(expression)])[0]!;

  it('flags a violated condition and says what was measured', () => {
    expect(check('long-task>50ms')).toEqual({ expression: 'long-task>50ms', violated: true, actual: ms(76), message: 'long-task>50ms violated: the longest busy stretch was 76 ms (main at 22:13:20.024)' });
    expect(check('utilization>0.5')).toMatchObject({ violated: true, actual: 83 / 111 });
    expect(check('long-tasks>=1')).toMatchObject({ violated: true, actual: 1 });
  });

  it('passes a condition that holds, and skips one without data', () => {
    expect(check('long-task>100ms')).toMatchObject({ violated: false, message: 'long-task>100ms ok: the longest busy stretch was 76 ms (main at 22:13:20.024)' });
    expect(check('dropped>0')).toMatchObject({ violated: false, actual: 0 });
    expect(check('threadpool-p99>50ms')).toEqual({ expression: 'threadpool-p99>50ms', violated: false, actual: null, message: 'threadpool-p99>50ms: not checked: the trace has no threadpool probes' });
  });
});

describe('JSONL conversion', () => {
  it('writes a header line, then one line per record with wall-clock time and thread name', () => {
    let text = '';
    const converter = new JsonlConverter((chunk) => (text += chunk));
    const { bytes } = encodeFile(header([MAIN, worker(2, 1)]), [
      { threadId: 0, records: [clockSync(0, ms(5))] },
      { threadId: 1, records: [ps(ms(1)), pe(ms(11), ms(8), 2)] },
      { threadId: 2, records: [probe(ms(3), 1234)] },
    ]);
    const decoder = new TraceDecoder({ onHeader: (h) => converter.onHeader(h), onRecord: (r) => converter.onRecord(r) });
    decoder.push(bytes);
    decoder.end();
    converter.flush();
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(5);
    expect(lines[0]).toMatchObject({ type: 'header', traceId: '00112233445566778899aabbccddeeff', fileIndex: 0, originIso: '2023-11-14T22:13:20.000Z', serviceName: 'synthetic' });
    expect(lines[1]).toEqual({ timeNs: 0, unixMs: ORIGIN_UNIX_MS + 5, time: '2023-11-14T22:13:20.005Z', threadId: 0, thread: 'process', type: 'clockSync', wallOffsetNs: ms(5) });
    expect(lines[3]).toEqual({ timeNs: ms(11), unixMs: ORIGIN_UNIX_MS + 16, time: '2023-11-14T22:13:20.016Z', threadId: 1, thread: 'main', type: 'pollEnd', blockedNs: ms(8), events: 2, eventsWaiting: 0 });
    expect(lines[4]).toMatchObject({ thread: 'worker 1 (pool.mjs)', type: 'threadpoolProbe', queueDelayNs: 1234 });
    expect(converter.lineCount).toBe(5);
  });
});
