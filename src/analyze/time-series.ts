// Time-bucketed series in bounded memory. A BucketGrid divides trace time into equal buckets from
// an origin; when a time falls past the cap, the grid doubles its bucket width and every series on
// it merges neighbouring buckets in pairs. So a trace of any length costs at most maxBuckets
// buckets per series, and series on one grid always line up bucket for bucket.

import { LogLinearHistogram } from './histogram.js';

interface GridMember {
  /** Merge buckets 2i and 2i+1 into bucket i; called once per doubling. */
  halve(): void;
}

export class BucketGrid {
  readonly originNs: number;
  readonly maxBuckets: number;
  private width: number;
  private readonly members: GridMember[] = [];

  constructor(originNs: number, initialWidthNs: number, maxBuckets: number) {
    if (!(initialWidthNs >= 1) || !Number.isInteger(maxBuckets) || maxBuckets < 2) {
      throw new RangeError(`looptrace: a bucket grid needs a width >= 1 ns and at least 2 buckets, got ${initialWidthNs} ns and ${maxBuckets}`);
    }
    this.originNs = originNs;
    this.width = initialWidthNs;
    this.maxBuckets = maxBuckets;
  }

  get widthNs(): number {
    return this.width;
  }

  /** The bucket of a time, widening the grid when the time is past the last bucket. Times before the origin fall in bucket 0. */
  bucketOf(timeNs: number): number {
    const offset = timeNs - this.originNs;
    if (offset <= 0) return 0;
    let bucket = Math.floor(offset / this.width);
    while (bucket >= this.maxBuckets) {
      this.width *= 2;
      for (const member of this.members) member.halve();
      bucket = Math.floor(offset / this.width);
    }
    return bucket;
  }

  startOf(bucket: number): number {
    return this.originNs + bucket * this.width;
  }

  /** @internal */
  join(member: GridMember): void {
    this.members.push(member);
  }
}

/**
 * A few numeric columns over a grid (for example a thread's busy and blocked nanoseconds per
 * bucket). Storage covers only the buckets from the first one written, so a worker that lived a
 * second costs a second's worth of buckets. The columns are interleaved in one array, and the
 * bucket of the latest write is remembered, so the common write (a span of microseconds in the
 * same bucket as the one before) is a compare and an add.
 */
export class BucketColumns implements GridMember {
  readonly grid: BucketGrid;
  readonly columnCount: number;
  /** Grid bucket of data index 0, or -1 while empty. */
  private first = -1;
  private used = 0;
  /** Slot s, column c at data[s * columnCount + c]. */
  private data: Float64Array;
  /** The bucket of the latest write, as a time range and a data offset; moving data resets it. */
  private cachedStartNs = Infinity;
  private cachedEndNs = -Infinity;
  private cachedOffset = 0;
  /**
   * Arguments of the slow paths. The fast paths are inlined into the per-record code; had they
   * passed their times to the slow paths as arguments, the compiler would box those doubles on
   * every record, taken branch or not.
   */
  private readonly args = new Float64Array(3);

  constructor(grid: BucketGrid, columnCount: number) {
    this.grid = grid;
    this.columnCount = columnCount;
    this.data = new Float64Array(8 * columnCount);
    grid.join(this);
  }

  /** The first grid bucket that holds data, or -1 when nothing was written. */
  get firstBucket(): number {
    return this.first;
  }

  /** One past the last grid bucket that holds data. */
  get endBucket(): number {
    return this.first < 0 ? 0 : this.first + this.used;
  }

  /** The value of a column in a grid bucket; 0 outside the written range. */
  get(column: number, bucket: number): number {
    const i = bucket - this.first;
    if (this.first < 0 || i < 0 || i >= this.used) return 0;
    return this.data[i * this.columnCount + column]!;
  }

  /** Adds a value at one time. */
  addAt(column: number, timeNs: number, value: number): void {
    if (timeNs >= this.cachedStartNs && timeNs < this.cachedEndNs) this.data[this.cachedOffset + column]! += value;
    else {
      this.args[0] = timeNs;
      this.args[1] = value;
      this.addAtSlow(column);
    }
  }

  /**
   * Spreads the span [startNs, endNs) over the buckets it covers, adding to each bucket the
   * nanoseconds of the span inside it.
   */
  addSpan(column: number, startNs: number, endNs: number): void {
    if (startNs >= this.cachedStartNs && endNs <= this.cachedEndNs) {
      if (endNs > startNs) this.data[this.cachedOffset + column]! += endNs - startNs;
    } else if (endNs > startNs) {
      this.args[0] = startNs;
      this.args[1] = endNs;
      this.addSpanSlow(column);
    }
  }

  /**
   * Adds [startNs, splitNs) to one column and [splitNs, endNs) to another, and 1 to a count
   * column at endNs: a whole poll phase (blocked, then I/O callbacks) in one call, since that is
   * written for nearly every other record of a trace.
   */
  addSplitSpan(firstColumn: number, secondColumn: number, countColumn: number, startNs: number, splitNs: number, endNs: number): void {
    if (startNs >= this.cachedStartNs && endNs < this.cachedEndNs) {
      const data = this.data;
      const o = this.cachedOffset;
      data[o + firstColumn]! += splitNs - startNs;
      data[o + secondColumn]! += endNs - splitNs;
      data[o + countColumn]! += 1;
    } else {
      this.args[0] = startNs;
      this.args[1] = splitNs;
      this.args[2] = endNs;
      this.addSplitSpanSlow(firstColumn, secondColumn, countColumn);
    }
  }

  private addSplitSpanSlow(firstColumn: number, secondColumn: number, countColumn: number): void {
    const startNs = this.args[0]!;
    const splitNs = this.args[1]!;
    const endNs = this.args[2]!;
    this.addSpan(firstColumn, startNs, splitNs);
    this.addSpan(secondColumn, splitNs, endNs);
    this.addAt(countColumn, endNs, 1);
  }

  halve(): void {
    this.forgetCachedBucket();
    if (this.first < 0) return;
    const n = this.columnCount;
    const newFirst = Math.floor(this.first / 2);
    const newEnd = Math.floor((this.first + this.used - 1) / 2) + 1;
    const merged = new Float64Array(this.data.length);
    for (let i = 0; i < this.used; i++) {
      const to = (Math.floor((this.first + i) / 2) - newFirst) * n;
      for (let c = 0; c < n; c++) merged[to + c]! += this.data[i * n + c]!;
    }
    this.data = merged;
    this.first = newFirst;
    this.used = newEnd - newFirst;
  }

  private addAtSlow(column: number): void {
    const timeNs = this.args[0]!;
    const value = this.args[1]!;
    // The slot first: finding it may replace this.data.
    const offset = this.slot(this.grid.bucketOf(timeNs)) * this.columnCount;
    this.data[offset + column]! += value;
  }

  private addSpanSlow(column: number): void {
    const startNs = this.args[0]!;
    const endNs = this.args[1]!;
    const n = this.columnCount;
    // The end first: it is the time that can widen the grid, which moves every bucket.
    const lastBucket = this.grid.bucketOf(endNs);
    const firstBucket = this.grid.bucketOf(startNs);
    if (firstBucket === lastBucket) {
      const offset = this.slot(firstBucket) * n;
      this.data[offset + column]! += endNs - startNs;
      this.cachedOffset = offset;
      this.cachedStartNs = this.grid.startOf(firstBucket);
      this.cachedEndNs = this.grid.startOf(firstBucket + 1);
      return;
    }
    const firstSlot = this.slot(firstBucket);
    const lastSlot = this.slot(lastBucket);
    const data = this.data;
    const width = this.grid.widthNs;
    data[firstSlot * n + column]! += Math.max(0, this.grid.startOf(firstBucket + 1) - startNs);
    for (let s = firstSlot + 1; s < lastSlot; s++) data[s * n + column]! += width;
    data[lastSlot * n + column]! += Math.max(0, endNs - this.grid.startOf(lastBucket));
  }

  private forgetCachedBucket(): void {
    this.cachedStartNs = Infinity;
    this.cachedEndNs = -Infinity;
  }

  /** The data slot of a grid bucket, growing storage at either end as needed. */
  private slot(bucket: number): number {
    if (this.first < 0) {
      this.first = bucket;
      this.used = 1;
      return 0;
    }
    let i = bucket - this.first;
    if (i < 0) {
      this.reserve(this.used - i, -i);
      this.first = bucket;
      this.used -= i;
      i = 0;
    } else if (i >= this.used) {
      if ((i + 1) * this.columnCount > this.data.length) this.reserve(i + 1, 0);
      this.used = i + 1;
    }
    return i;
  }

  /** Makes room for `size` slots, moving the existing data `shift` slots later. */
  private reserve(size: number, shift: number): void {
    if (shift !== 0) this.forgetCachedBucket();
    const n = this.columnCount;
    const slots = Math.max(size, Math.min(this.grid.maxBuckets + 1, (this.data.length / n) * 2));
    const next = new Float64Array(slots * n);
    next.set(this.data.subarray(0, this.used * n), shift * n);
    this.data = next;
  }
}

/** A histogram per bucket of a grid: probe delays per second, merged when the grid widens. */
export class BucketHistograms implements GridMember {
  readonly grid: BucketGrid;
  private readonly subBucketBits: number;
  private buckets: (LogLinearHistogram | undefined)[] = [];

  constructor(grid: BucketGrid, subBucketBits: number) {
    this.grid = grid;
    this.subBucketBits = subBucketBits;
    grid.join(this);
  }

  record(timeNs: number, value: number): void {
    const bucket = this.grid.bucketOf(timeNs);
    let h = this.buckets[bucket];
    if (h === undefined) {
      h = new LogLinearHistogram(this.subBucketBits);
      this.buckets[bucket] = h;
    }
    h.record(value);
  }

  /** Buckets in time order, with undefined for buckets that received nothing. */
  entries(): (LogLinearHistogram | undefined)[] {
    return this.buckets;
  }

  halve(): void {
    const merged: (LogLinearHistogram | undefined)[] = [];
    for (let i = 0; i < this.buckets.length; i++) {
      const h = this.buckets[i];
      if (h === undefined) continue;
      const j = i >> 1;
      const into = merged[j];
      if (into === undefined) merged[j] = h;
      else into.merge(h);
    }
    this.buckets = merged;
  }
}
