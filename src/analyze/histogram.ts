// A log-linear histogram of non-negative integers (nanoseconds, counts), so that percentiles of
// millions of busy stretches or probe delays cost a fixed few kilobytes instead of storing every
// value. Values below 2^subBucketBits are counted exactly; above that, each power of two is split
// into 2^subBucketBits equal buckets, so a reported percentile is within 2^-subBucketBits of the
// true value (1.6% with the default of 6 bits).

const MAX_EXPONENT = 53;
const TWO_POW_31 = 2 ** 31;
const TWO_POW_32 = 2 ** 32;
const COUNT = 0;
const SUM = 1;
const MIN = 2;
const MAX = 3;
const POWERS_OF_TWO = Array.from({ length: MAX_EXPONENT + 2 }, (_, i) => 2 ** i);

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
  /**
   * Count, sum, minimum and maximum, in a typed array rather than fields: they outgrow small
   * integers, and a field that changes representation costs a deoptimization and then a boxed
   * write on every record.
   */
  private readonly totals = new Float64Array([0, 0, Infinity, 0]);

  constructor(subBucketBits = 6) {
    if (!Number.isInteger(subBucketBits) || subBucketBits < 1 || subBucketBits > 10) {
      throw new RangeError(`looptrace: subBucketBits must be an integer in 1..10, got ${String(subBucketBits)}`);
    }
    this.subBucketBits = subBucketBits;
    this.subBucketCount = 2 ** subBucketBits;
    this.counts = new Float64Array((MAX_EXPONENT - subBucketBits + 2) * this.subBucketCount);
  }

  get count(): number {
    return this.totals[COUNT]!;
  }

  get sum(): number {
    return this.totals[SUM]!;
  }

  /** The smallest value recorded, or 0 when empty. */
  get min(): number {
    return this.count === 0 ? 0 : this.totals[MIN]!;
  }

  get max(): number {
    return this.totals[MAX]!;
  }

  get mean(): number {
    return this.count === 0 ? 0 : this.sum / this.count;
  }

  /**
   * Records a value; negative values count as 0 and a fraction picks the bucket of its integer
   * part. Kept small so the compiler inlines it into the per-record paths: values from
   * 2^subBucketBits to 2^31 (up to 2.1 s in nanoseconds) take int32 arithmetic, the rest a slower
   * path.
   */
  record(value: number): void {
    const shift = 31 - Math.clz32(value) - this.subBucketBits;
    if (shift >= 0 && value >= 0 && value < TWO_POW_31) {
      this.counts[(shift + 1) * this.subBucketCount + ((value >>> shift) - this.subBucketCount)]!++;
      this.addTotals(value);
    } else {
      this.recordSlow(value);
    }
  }

  private recordSlow(value: number): void {
    const v = value > 0 ? Math.floor(value) : 0;
    this.counts[this.indexOf(v)]!++;
    this.addTotals(v);
  }

  private addTotals(v: number): void {
    const totals = this.totals;
    totals[COUNT]!++;
    totals[SUM]! += v;
    if (v < totals[MIN]!) totals[MIN] = v;
    if (v > totals[MAX]!) totals[MAX] = v;
  }

  /** Adds every value of another histogram with the same subBucketBits. */
  merge(other: LogLinearHistogram): void {
    if (other.subBucketBits !== this.subBucketBits) {
      throw new RangeError(`looptrace: cannot merge histograms of ${other.subBucketBits} and ${this.subBucketBits} sub-bucket bits`);
    }
    if (other.count === 0) return;
    const a = this.counts;
    const b = other.counts;
    for (let i = 0; i < b.length; i++) if (b[i] !== 0) a[i]! += b[i]!;
    const t = this.totals;
    const o = other.totals;
    t[COUNT]! += o[COUNT]!;
    t[SUM]! += o[SUM]!;
    if (o[MIN]! < t[MIN]!) t[MIN] = o[MIN]!;
    if (o[MAX]! > t[MAX]!) t[MAX] = o[MAX]!;
  }

  reset(): void {
    this.counts.fill(0);
    this.totals.set([0, 0, Infinity, 0]);
  }

  /**
   * The value at quantile q (0..1) by the nearest-rank rule: the highest value its bucket can
   * hold, clamped to the exact minimum and maximum. So p100 is the exact maximum, a histogram of
   * one value reports that value at every quantile, and values below 2^subBucketBits are exact.
   */
  percentile(q: number): number {
    const total = this.count;
    if (total === 0) return 0;
    if (!(q >= 0 && q <= 1)) throw new RangeError(`looptrace: a quantile is between 0 and 1, got ${String(q)}`);
    const rank = Math.max(1, Math.ceil(q * total));
    let seen = 0;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) {
      seen += counts[i]!;
      if (seen >= rank) return Math.min(this.max, Math.max(this.min, this.highestIn(i)));
    }
    return this.max;
  }

  summary(): HistogramSummary {
    return {
      count: this.count,
      minNs: this.min,
      maxNs: this.max,
      meanNs: Math.round(this.mean),
      p50Ns: this.percentile(0.5),
      p90Ns: this.percentile(0.9),
      p99Ns: this.percentile(0.99),
    };
  }

  /** The bucket of a non-negative integer. */
  indexOf(v: number): number {
    const n = this.subBucketCount;
    if (v < n) return v;
    if (v < TWO_POW_31) {
      // The common case (anything under 2.1 s in nanoseconds) in int32 arithmetic: no Math.pow.
      const shift = 31 - Math.clz32(v) - this.subBucketBits;
      return (shift + 1) * n + ((v >>> shift) - n);
    }
    const exponent = v < TWO_POW_32 ? 31 : 63 - Math.clz32(Math.floor(v / TWO_POW_32));
    const shift = exponent - this.subBucketBits;
    const mantissa = Math.floor(v / POWERS_OF_TWO[shift]!);
    return (shift + 1) * n + (mantissa - n);
  }

  /** The highest integer that falls in bucket i. */
  highestIn(i: number): number {
    const n = this.subBucketCount;
    if (i < n) return i;
    const shift = Math.floor(i / n) - 1;
    const mantissa = (i % n) + n;
    return (mantissa + 1) * POWERS_OF_TWO[shift]! - 1;
  }
}
