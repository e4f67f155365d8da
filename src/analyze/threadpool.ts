// Threadpool pressure from THREADPOOL_PROBE records: how long a no-op task waited in the libuv
// threadpool's queue. Percentiles over the whole window, a per-second series (downsampled past
// the cap), and sustained pressure: seconds whose p90 delay reaches the threshold, in runs at least
// sustainNs long.

import { LogLinearHistogram } from './histogram.js';
import { roundMs } from './long-tasks.js';
import type { PressureEpisode, ThreadpoolBucket, ThreadpoolReport } from './report.js';
import { BucketGrid, BucketHistograms } from './time-series.js';
import { TopK } from './top-k.js';
import type { WallClock } from './wall-clock.js';

const SECOND_NS = 1e9;
/** A burst: delayed probes no further apart than this ... */
const BURST_GAP_NS = SECOND_NS;
/** ... that waited at least this long in all: severe short pressure, reported even when too short to be sustained. */
export const BURST_QUEUED_NS = 100e6;
/** ... and whose longest wait is at least this many times the trace's median: far above normal. */
const BURST_ABOVE_MEDIAN = 10;
/** Seconds without any probe that an episode spans: a probe waiting longer than a second leaves such holes. */
const MAX_BRIDGED_EMPTY_SECONDS = 10;
/** Per-second histograms trade precision (6%) for size. */
const SERIES_SUB_BUCKET_BITS = 4;

interface OpenEpisode {
  startNs: number;
  endNs: number;
  peakP90Ns: number;
  maxNs: number;
}

export interface ThreadpoolOptions {
  p90ThresholdNs: number;
  sustainNs: number;
  maxSeriesBuckets: number;
  top: number;
}

export class ThreadpoolAnalyzer {
  private readonly options: ThreadpoolOptions;
  readonly delays = new LogLinearHistogram();
  private series: BucketHistograms | undefined;
  private second = -1;
  private readonly secondDelays = new LogLinearHistogram(SERIES_SUB_BUCKET_BITS);
  private episode: OpenEpisode | null = null;
  private pressureNs = 0;
  private readonly sustained: TopK<OpenEpisode>;
  /** The run of delayed probes being followed, and the severe ones found. */
  private run: { startNs: number; endNs: number; probes: number; queuedNs: number; maxNs: number } | null = null;
  private readonly bursts: TopK<{ startNs: number; endNs: number; probes: number; queuedNs: number; maxNs: number }>;

  constructor(options: ThreadpoolOptions) {
    this.options = options;
    this.sustained = new TopK<OpenEpisode>(options.top, (e) => e.endNs - e.startNs);
    this.bursts = new TopK(options.top, (b) => b.queuedNs);
  }

  /** A probe stamped at timeNs (already inside the window) that waited queueDelayNs. */
  probe(timeNs: number, queueDelayNs: number): void {
    this.delays.record(queueDelayNs);
    if (this.series === undefined) {
      this.series = new BucketHistograms(new BucketGrid(Math.floor(timeNs / SECOND_NS) * SECOND_NS, SECOND_NS, this.options.maxSeriesBuckets), SERIES_SUB_BUCKET_BITS);
    }
    this.series.record(timeNs, queueDelayNs);
    const second = Math.floor(timeNs / SECOND_NS);
    if (second > this.second) {
      if (this.second >= 0) this.closeSecond();
      if (this.episode !== null && second - this.second - 1 > MAX_BRIDGED_EMPTY_SECONDS) this.closeEpisode();
      this.second = second;
    }
    // A probe from an earlier second (threads' frames interleave) joins the open second.
    this.secondDelays.record(queueDelayNs);
    this.followBurst(timeNs, queueDelayNs);
  }

  /** Delayed probes (at least the p90 threshold) close together form a run; a run that queued long enough is a burst. */
  private followBurst(timeNs: number, queueDelayNs: number): void {
    if (queueDelayNs < this.options.p90ThresholdNs) return;
    // The probe was queued queueDelayNs before it ran (its record's time).
    const queuedAtNs = timeNs - queueDelayNs;
    const r = this.run;
    if (r !== null && queuedAtNs - r.endNs <= BURST_GAP_NS && timeNs >= r.startNs) {
      r.endNs = Math.max(r.endNs, timeNs);
      r.probes++;
      r.queuedNs += queueDelayNs;
      r.maxNs = Math.max(r.maxNs, queueDelayNs);
      return;
    }
    this.closeRun();
    this.run = { startNs: queuedAtNs, endNs: timeNs, probes: 1, queuedNs: queueDelayNs, maxNs: queueDelayNs };
  }

  private closeRun(): void {
    const r = this.run;
    this.run = null;
    if (r === null || r.queuedNs < BURST_QUEUED_NS) return;
    this.bursts.offer(r);
  }

  report(threadpoolSize: number | null, clock: WallClock, window: { sinceNs: number; untilNs: number }): ThreadpoolReport {
    if (this.second >= 0) {
      this.closeSecond();
      this.second = -1;
    }
    if (this.episode !== null) this.closeEpisode();
    this.closeRun();
    const clip = (t: number): number => Math.min(window.untilNs, Math.max(window.sinceNs, t));
    const episodes: PressureEpisode[] = this.sustained.sorted().map((e) => {
      const startNs = clip(e.startNs);
      const endNs = clip(e.endNs);
      return {
        startNs,
        endNs,
        durationNs: endNs - startNs,
        startUnixMs: roundMs(clock.unixMs(startNs)),
        startIso: clock.iso(startNs),
        peakP90Ns: e.peakP90Ns,
        maxNs: e.maxNs,
      };
    });
    const flagged = episodes.length > 0;
    const s = this.delays.summary();
    // Bursts far above normal, outside every sustained episode (which already reports them).
    const bursts = this.bursts
      .sorted()
      .filter((b) => b.maxNs >= BURST_ABOVE_MEDIAN * s.p50Ns && !episodes.some((e) => b.startNs < e.endNs && b.endNs > e.startNs))
      .map((b) => {
        const startNs = clip(b.startNs);
        const endNs = clip(b.endNs);
        return { startNs, endNs, durationNs: endNs - startNs, startUnixMs: roundMs(clock.unixMs(startNs)), startIso: clock.iso(startNs), probes: b.probes, queuedNs: b.queuedNs, maxNs: b.maxNs };
      });
    return {
      threadpoolSize,
      delay: { count: s.count, p50Ns: s.p50Ns, p90Ns: s.p90Ns, p99Ns: s.p99Ns, maxNs: s.maxNs, meanNs: s.meanNs },
      series: this.seriesReport(clock),
      pressure: {
        flagged,
        p90ThresholdNs: this.options.p90ThresholdNs,
        sustainNs: this.options.sustainNs,
        totalNs: this.pressureNs,
        episodes,
        advice: flagged ? adviceFor(threadpoolSize, episodes) : [],
      },
      bursts: { queuedThresholdNs: BURST_QUEUED_NS, items: bursts },
    };
  }

  private seriesReport(clock: WallClock): { bucketNs: number; buckets: ThreadpoolBucket[] } {
    if (this.series === undefined) return { bucketNs: SECOND_NS, buckets: [] };
    const grid = this.series.grid;
    const entries = this.series.entries();
    const buckets: ThreadpoolBucket[] = [];
    for (let i = 0; i < entries.length; i++) {
      const h = entries[i];
      const startNs = grid.startOf(i);
      buckets.push({
        startNs,
        startUnixMs: roundMs(clock.unixMs(startNs)),
        startIso: clock.iso(startNs),
        count: h?.count ?? 0,
        p50Ns: h?.percentile(0.5) ?? 0,
        p90Ns: h?.percentile(0.9) ?? 0,
        maxNs: h?.max ?? 0,
      });
    }
    return { bucketNs: grid.widthNs, buckets };
  }

  private closeSecond(): void {
    const h = this.secondDelays;
    if (h.count === 0) return;
    const p90 = h.percentile(0.9);
    const startNs = this.second * SECOND_NS;
    if (p90 >= this.options.p90ThresholdNs) {
      const e = this.episode;
      if (e === null) this.episode = { startNs, endNs: startNs + SECOND_NS, peakP90Ns: p90, maxNs: h.max };
      else {
        e.endNs = startNs + SECOND_NS;
        if (p90 > e.peakP90Ns) e.peakP90Ns = p90;
        if (h.max > e.maxNs) e.maxNs = h.max;
      }
    } else if (this.episode !== null) {
      this.closeEpisode();
    }
    h.reset();
  }

  private closeEpisode(): void {
    const e = this.episode!;
    this.episode = null;
    const durationNs = e.endNs - e.startNs;
    this.pressureNs += durationNs;
    if (durationNs >= this.options.sustainNs) this.sustained.offer(e);
  }
}

function adviceFor(threadpoolSize: number | null, episodes: PressureEpisode[]): string[] {
  const worst = Math.max(...episodes.map((e) => e.maxNs));
  const size = threadpoolSize ?? 4;
  const sizeText = threadpoolSize === null ? 'the default of 4 threads' : `${threadpoolSize} threads`;
  return [
    `Work waited up to ${Math.round(worst / 1e6)} ms for a free libuv threadpool thread (pool of ${sizeText}).`,
    `Try a larger pool: set UV_THREADPOOL_SIZE=${Math.min(1024, size * 2)} (or more, up to 1024) in the environment before Node starts. It helps most when the pool's work waits on disk or network, or when cores sit idle.`,
    'Or move work off the pool: crypto.pbkdf2/scrypt/generateKeyPair and zlib compression to worker_threads or fewer concurrent calls; fs calls batched or streamed instead of many concurrent small ones; dns.lookup replaced by dns.resolve*() (which does not use the pool), a cache, or an IP address.',
  ];
}
