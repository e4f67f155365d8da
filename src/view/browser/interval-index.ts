// The few objects the page draws over the lanes (long tasks, operations, stack samples) found by
// time without a pass over all of them: sorted by start, with the longest duration, so a frame
// visits only what overlaps its view (a binary search, then the items in view).

import { lowerBound } from './lod.js';

export interface Timed {
  startNs: number;
  endNs: number;
}

export class IntervalIndex<T> {
  private readonly starts: Float64Array;
  private readonly maxDurationNs: number;

  /** Sorts `items` in place by start. */
  constructor(
    readonly items: T[],
    private readonly startOf: (item: T) => number,
    private readonly endOf: (item: T) => number,
  ) {
    items.sort((a, b) => startOf(a) - startOf(b));
    this.starts = Float64Array.from(items, startOf);
    let max = 0;
    for (const it of items) max = Math.max(max, endOf(it) - startOf(it));
    this.maxDurationNs = max;
  }

  /** Calls fn for each item overlapping [t0, t1], in start order. */
  forEach(t0: number, t1: number, fn: (item: T) => void): void {
    const items = this.items;
    for (let i = lowerBound(this.starts, t0 - this.maxDurationNs); i < items.length; i++) {
      if (this.starts[i]! > t1) return;
      const it = items[i]!;
      if (this.endOf(it) >= t0) fn(it);
    }
  }

  /** The items overlapping [t0, t1]. */
  between(t0: number, t1: number): T[] {
    const out: T[] = [];
    this.forEach(t0, t1, (it) => out.push(it));
    return out;
  }
}
