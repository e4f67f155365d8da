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
 * second costs a second's worth of buckets.
 */
export class BucketColumns implements GridMember {
  readonly grid: BucketGrid;
  readonly columnCount: number;
  /** Grid bucket of data index 0, or -1 while empty. */
  private first = -1;
  private used = 0;
  private columns: Float64Array[];

  constructor(grid: BucketGrid, columnCount: number) {
    this.grid = grid;
    this.columnCount = columnCount;
    this.columns = Array.from({ length: columnCount }, () => new Float64Array(8));
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
    return this.columns[column]![i]!;
  }

  /** Adds a value at one time. */
  addAt(column: number, timeNs: number, value: number): void {
    const bucket = this.grid.bucketOf(timeNs);
    this.columns[column]![this.slot(bucket)]! += value;
  }

  /**
   * Spreads the span [startNs, endNs) over the buckets it covers, adding to each bucket the
   * nanoseconds of the span inside it.
   */
  addSpan(column: number, startNs: number, endNs: number): void {
    if (!(endNs > startNs)) return;
    // The end first: it is the time that can widen the grid, which moves every bucket.
    const lastBucket = this.grid.bucketOf(endNs);
    const firstBucket = this.grid.bucketOf(startNs);
    if (firstBucket === lastBucket) {
      this.columns[column]![this.slot(firstBucket)]! += endNs - startNs;
      return;
    }
    const firstSlot = this.slot(firstBucket);
    const lastSlot = this.slot(lastBucket);
    const col = this.columns[column]!;
    const width = this.grid.widthNs;
    let bucketEnd = this.grid.startOf(firstBucket + 1);
    col[firstSlot]! += Math.max(0, bucketEnd - startNs);
    for (let s = firstSlot + 1; s < lastSlot; s++) col[s]! += width;
    bucketEnd = this.grid.startOf(lastBucket);
    col[lastSlot]! += Math.max(0, endNs - bucketEnd);
  }

  halve(): void {
    if (this.first < 0) return;
    const newFirst = Math.floor(this.first / 2);
    const newEnd = Math.floor((this.first + this.used - 1) / 2) + 1;
    for (const col of this.columns) {
      const merged = new Float64Array(col.length);
      for (let i = 0; i < this.used; i++) merged[Math.floor((this.first + i) / 2) - newFirst]! += col[i]!;
      col.set(merged);
    }
    this.first = newFirst;
    this.used = newEnd - newFirst;
  }

  /** The data index of a grid bucket, growing storage at either end as needed. */
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
      if (i >= this.columns[0]!.length) this.reserve(i + 1, 0);
      this.used = i + 1;
    }
    return i;
  }

  /** Makes room for `size` slots, moving the existing data `shift` slots later. */
  private reserve(size: number, shift: number): void {
    const capacity = Math.max(size, Math.min(this.grid.maxBuckets + 1, this.columns[0]!.length * 2));
    this.columns = this.columns.map((col) => {
      const next = new Float64Array(Math.max(capacity, size));
      next.set(col.subarray(0, this.used), shift);
      return next;
    });
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
