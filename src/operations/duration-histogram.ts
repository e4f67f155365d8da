// A bounded histogram of durations with a stated relative error: every percentile it reports is
// within RELATIVE_ERROR (1%) of the true value at that rank, for any duration from 1 ns to a day.
// Buckets grow geometrically (each 1.0202 times the previous one), so the number of buckets is
// fixed (about 1600); they are allocated in blocks of 64 only where durations fall, so an
// operation whose durations span three decades holds about 1.5 KB.

/** The largest relative difference between a reported percentile and the true one. */
export const RELATIVE_ERROR = 0.01;
const GAMMA = (1 + RELATIVE_ERROR) / (1 - RELATIVE_ERROR);
const LOG_GAMMA = Math.log(GAMMA);
/** Durations above a day share the last bucket (the maximum is still kept exactly). */
const MAX_TRACKED_NS = 86_400e9;
const BUCKETS = Math.ceil(Math.log(MAX_TRACKED_NS) / LOG_GAMMA) + 1;
const BLOCK = 64;
const BLOCKS = Math.ceil(BUCKETS / BLOCK);

export class DurationHistogram {
  private readonly blocks: Array<Uint32Array | undefined> = new Array(BLOCKS);
  /** Durations below 1 ns (zero). */
  private zeros = 0;
  count = 0;
  minNs = Infinity;
  maxNs = 0;

  record(durationNs: number): void {
    this.count++;
    if (durationNs < this.minNs) this.minNs = durationNs;
    if (durationNs > this.maxNs) this.maxNs = durationNs;
    if (!(durationNs >= 1)) {
      this.zeros++;
      return;
    }
    let index = Math.ceil(Math.log(durationNs) / LOG_GAMMA);
    if (index >= BUCKETS) index = BUCKETS - 1;
    const b = index >>> 6;
    let block = this.blocks[b];
    if (block === undefined) block = this.blocks[b] = new Uint32Array(BLOCK);
    block[index & (BLOCK - 1)]!++;
  }

  /**
   * The duration at quantile q (0 < q ≤ 1) by nearest rank: the smallest recorded duration with
   * at least q of all durations at or below it, within RELATIVE_ERROR. 0 when empty.
   */
  quantileNs(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = this.zeros;
    if (seen >= rank) return 0;
    for (let b = 0; b < BLOCKS; b++) {
      const block = this.blocks[b];
      if (block === undefined) continue;
      for (let i = 0; i < BLOCK; i++) {
        seen += block[i]!;
        if (seen >= rank) {
          const index = b * BLOCK + i;
          // The bucket holds (GAMMA^(index-1), GAMMA^index]; its midpoint in relative terms is
          // within RELATIVE_ERROR of every value in it.
          const estimate = (2 * GAMMA ** index) / (GAMMA + 1);
          return Math.min(Math.max(estimate, this.minNs), this.maxNs);
        }
      }
    }
    return this.maxNs;
  }

  /** Bytes held by the buckets (for the memory bound in tests and docs). */
  get bucketBytes(): number {
    let n = 0;
    for (const block of this.blocks) if (block !== undefined) n += block.byteLength;
    return n;
  }
}
