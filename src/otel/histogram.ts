// The native histograms' buckets (native/thread_metrics.h NsHistogram) seen from JavaScript: the
// bounds of each bucket, what changed since the previous collection, and interval statistics.
// The native side keeps each bucket's count and exact sum, so replaying a bucket's values at
// their mean keeps counts, bucket membership and sums exact; only min, max, percentiles and the
// standard deviation are estimates, to within a bucket's width (at most 12.5%).

import type { NativeHistogram } from '../binding.js';

const SUB_BUCKETS = 8;
const MIN_SHIFT = 10;
const OCTAVES = 32;
export const BUCKETS = 1 + OCTAVES * SUB_BUCKETS;

/** The smallest value (ns) that falls in bucket `index`. */
export function bucketLowerNs(index: number): number {
  if (index <= 0) return 0;
  const octave = Math.floor((index - 1) / SUB_BUCKETS);
  const sub = (index - 1) % SUB_BUCKETS;
  return (SUB_BUCKETS + sub) * 2 ** (octave + MIN_SHIFT - 3);
}

/** The first value (ns) past bucket `index`; Infinity for the last one. */
export function bucketUpperNs(index: number): number {
  return index >= BUCKETS - 1 ? Infinity : bucketLowerNs(index + 1);
}

/** What one bucket gained since the previous collection. */
export interface BucketDelta {
  index: number;
  count: number;
  sumNs: number;
}

/** Follows one cumulative native histogram and returns what each collection added. */
export class HistogramCursor {
  private readonly counts = new Float64Array(BUCKETS);
  private readonly sums = new Float64Array(BUCKETS);

  /** The buckets that grew since the last call. */
  advance(histogram: NativeHistogram): BucketDelta[] {
    const out: BucketDelta[] = [];
    for (let i = 0; i + 2 < histogram.length; i += 3) {
      const index = histogram[i]!;
      const count = histogram[i + 1]!;
      const sum = histogram[i + 2]!;
      const dc = count - this.counts[index]!;
      // Fewer than before: the aggregates restarted (a new trace); count from zero again.
      const restarted = dc < 0;
      const gained = restarted ? count : dc;
      const gainedSum = restarted ? sum : sum - this.sums[index]!;
      this.counts[index] = count;
      this.sums[index] = sum;
      if (gained > 0) out.push({ index, count: gained, sumNs: gainedSum });
    }
    return out;
  }

  reset(): void {
    this.counts.fill(0);
    this.sums.fill(0);
  }
}

export interface IntervalStats {
  count: number;
  minNs: number;
  maxNs: number;
  meanNs: number;
  stddevNs: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
}

/** Statistics of the values in `deltas` (one collection interval); undefined when there were none. */
export function intervalStats(deltas: readonly BucketDelta[]): IntervalStats | undefined {
  let count = 0;
  let sum = 0;
  for (const d of deltas) {
    count += d.count;
    sum += d.sumNs;
  }
  if (count === 0) return undefined;
  const sorted = [...deltas].sort((a, b) => a.index - b.index);
  const mean = sum / count;
  let squares = 0;
  for (const d of sorted) {
    const bucketMean = d.sumNs / d.count;
    squares += d.count * (bucketMean - mean) ** 2;
  }
  const first = sorted[0]!;
  const last = sorted[sorted.length - 1]!;
  // A bucket with one value knows it exactly; otherwise its edge is the closest bound we have.
  const minNs = first.count === 1 ? first.sumNs : Math.max(bucketLowerNs(first.index), 0);
  const maxNs = last.count === 1 ? last.sumNs : Math.min(bucketUpperNs(last.index), 2 * (last.sumNs / last.count));
  return {
    count,
    minNs,
    maxNs: Math.max(maxNs, last.sumNs / last.count),
    meanNs: mean,
    stddevNs: Math.sqrt(squares / count),
    p50Ns: percentile(sorted, count, 0.5),
    p90Ns: percentile(sorted, count, 0.9),
    p99Ns: percentile(sorted, count, 0.99),
  };
}

/** The bucket mean of the value at rank q: exact when the bucket holds one value. */
function percentile(sorted: readonly BucketDelta[], count: number, q: number): number {
  const rank = Math.max(1, Math.ceil(q * count));
  let seen = 0;
  for (const d of sorted) {
    seen += d.count;
    if (seen >= rank) return d.sumNs / d.count;
  }
  const last = sorted[sorted.length - 1]!;
  return last.sumNs / last.count;
}
