// A log-linear histogram of non-negative integers (nanoseconds, counts), so that percentiles of
// millions of busy stretches or probe delays cost a fixed few kilobytes instead of storing every
// value. Values below 2^subBucketBits are counted exactly; above that, each power of two is split
// into 2^subBucketBits equal buckets, so a reported percentile is within 2^-subBucketBits of the
// true value (1.6% with the default of 6 bits).

const MAX_EXPONENT = 53;
const TWO_POW_32 = 2 ** 32;

export interface HistogramSummary {
  count: number;
  /** Exact, not bucketed. */
  minNs: number;
  maxNs: number;
  meanNs: number;
  p50Ns: number;
  p90Ns: number;
  p99Ns: number;
}

export class LogLinearHistogram {
  readonly subBucketBits: number;
  private readonly subBucketCount: number;
  private readonly counts: Float64Array;
  private total = 0;
  private sumValue = 0;
  private minValue = Infinity;
  private maxValue = 0;

  constructor(subBucketBits = 6) {
    if (!Number.isInteger(subBucketBits) || subBucketBits < 1 || subBucketBits > 10) {
      throw new RangeError(`looptrace: subBucketBits must be an integer in 1..10, got ${String(subBucketBits)}`);
    }
    this.subBucketBits = subBucketBits;
    this.subBucketCount = 2 ** subBucketBits;
    this.counts = new Float64Array((MAX_EXPONENT - subBucketBits + 2) * this.subBucketCount);
  }

  get count(): number {
    return this.total;
  }

  get sum(): number {
    return this.sumValue;
  }

  /** The smallest value recorded, or 0 when empty. */
  get min(): number {
    return this.total === 0 ? 0 : this.minValue;
  }

  get max(): number {
    return this.maxValue;
  }

  get mean(): number {
    return this.total === 0 ? 0 : this.sumValue / this.total;
  }

  /** Records a value; negative values count as 0 and fractions are truncated. */
  record(value: number): void {
    const v = value > 0 ? Math.floor(value) : 0;
    this.counts[this.indexOf(v)]!++;
    this.total++;
    this.sumValue += v;
    if (v < this.minValue) this.minValue = v;
    if (v > this.maxValue) this.maxValue = v;
  }

  /** Adds every value of another histogram with the same subBucketBits. */
  merge(other: LogLinearHistogram): void {
    if (other.subBucketBits !== this.subBucketBits) {
      throw new RangeError(`looptrace: cannot merge histograms of ${other.subBucketBits} and ${this.subBucketBits} sub-bucket bits`);
    }
    if (other.total === 0) return;
    const a = this.counts;
    const b = other.counts;
    for (let i = 0; i < b.length; i++) if (b[i] !== 0) a[i]! += b[i]!;
    this.total += other.total;
    this.sumValue += other.sumValue;
    if (other.minValue < this.minValue) this.minValue = other.minValue;
    if (other.maxValue > this.maxValue) this.maxValue = other.maxValue;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sumValue = 0;
    this.minValue = Infinity;
    this.maxValue = 0;
  }

  /**
   * The value at quantile q (0..1) by the nearest-rank rule: the highest value its bucket can
   * hold, clamped to the exact minimum and maximum. So p100 is the exact maximum, a histogram of
   * one value reports that value at every quantile, and values below 2^subBucketBits are exact.
   */
  percentile(q: number): number {
    if (this.total === 0) return 0;
    if (!(q >= 0 && q <= 1)) throw new RangeError(`looptrace: a quantile is between 0 and 1, got ${String(q)}`);
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= rank) return Math.min(this.maxValue, Math.max(this.minValue, this.highestIn(i)));
    }
    return this.maxValue;
  }

  summary(): HistogramSummary {
    return {
      count: this.total,
      minNs: this.min,
      maxNs: this.maxValue,
      meanNs: Math.round(this.mean),
      p50Ns: this.percentile(0.5),
      p90Ns: this.percentile(0.9),
      p99Ns: this.percentile(0.99),
    };
  }

  /** The bucket of a non-negative integer. */
  indexOf(v: number): number {
    const bits = this.subBucketBits;
    if (v < this.subBucketCount) return v;
    // floor(log2(v)) without Math.log2, which is slower and can round up just below a power of two.
    const exponent = v < TWO_POW_32 ? 31 - Math.clz32(v) : 63 - Math.clz32(Math.floor(v / TWO_POW_32));
    const shift = exponent - bits;
    const mantissa = shift === 0 ? v : Math.floor(v / 2 ** shift);
    return (shift + 1) * this.subBucketCount + (mantissa - this.subBucketCount);
  }

  /** The highest integer that falls in bucket i. */
  highestIn(i: number): number {
    const n = this.subBucketCount;
    if (i < n) return i;
    const shift = Math.floor(i / n) - 1;
    const mantissa = (i % n) + n;
    return (mantissa + 1) * 2 ** shift - 1;
  }
}
