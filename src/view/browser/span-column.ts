// Busy stretches as compact columns: 10 bytes a stretch. Stretches are stored in chunks; a chunk
// holds a base time (a double) and, per stretch, its start as whole nanoseconds after the base
// (Uint32, so exact), its duration (Float32, relative precision 6e-8) and, for busy stretches, the
// share of it spent in I/O callbacks (Uint16, in 1/65535ths; GC spans have none). A chunk is closed when it
// is full or when the next start would not fit 2^32 ns after its base. Closed chunks are exact
// size and never copied again: the worker transfers their buffers to the page as they are, so the
// peak memory is the columns themselves.

const CHUNK = 1 << 16;
const MAX_OFFSET_NS = 2 ** 32 - 1;

export interface SpanChunk {
  baseNs: number;
  startOffNs: Uint32Array;
  durNs: Float32Array;
  /** The I/O-callback share of each span, 0..65535 (empty for spans without one). */
  ioShare: Uint16Array;
  /** Sum of durNs, for totals without a pass. */
  totalNs: number;
}

export class SpanColumnBuilder {
  readonly chunks: SpanChunk[] = [];
  /**
   * The open chunk is written into scratch columns, allocated once, and copied into exact-size
   * arrays when it closes. A chunk also closes when its 2^32 ns (4.3 s) are up, which on a loop
   * with fewer than 15k stretches a second comes long before it is full: sizing each chunk up
   * front would allocate and drop large arrays all along (measured in Chromium: most of the
   * worker's time went to that and the garbage collector).
   */
  private scratchOff: Uint32Array | undefined;
  private scratchDur: Float32Array | undefined;
  private scratchIo: Uint16Array | undefined;
  private baseNs = 0;
  private totalNs = 0;
  private used = 0;
  private open = false;
  length = 0;

  constructor(private readonly withIo: boolean) {}

  push(startNs: number, durNs: number, ioNs = 0): void {
    if (!this.open || this.used === CHUNK || startNs - this.baseNs > MAX_OFFSET_NS || startNs < this.baseNs) {
      this.close();
      if (this.scratchOff === undefined) {
        this.scratchOff = new Uint32Array(CHUNK);
        this.scratchDur = new Float32Array(CHUNK);
        this.scratchIo = new Uint16Array(this.withIo ? CHUNK : 0);
      }
      this.open = true;
      this.baseNs = startNs;
      this.totalNs = 0;
      this.used = 0;
    }
    const i = this.used;
    this.scratchOff![i] = startNs - this.baseNs;
    this.scratchDur![i] = durNs;
    if (this.withIo) this.scratchIo![i] = durNs > 0 ? Math.round(((ioNs < durNs ? ioNs : durNs) / durNs) * 65535) : 0;
    this.totalNs += durNs;
    this.used = i + 1;
    this.length++;
  }

  /** Closes the open chunk: its stretches are copied out of the scratch columns at their exact size. */
  close(): void {
    if (!this.open) return;
    const n = this.used;
    this.chunks.push({
      baseNs: this.baseNs,
      startOffNs: this.scratchOff!.slice(0, n),
      durNs: this.scratchDur!.slice(0, n),
      ioShare: this.withIo ? this.scratchIo!.slice(0, n) : new Uint16Array(0),
      totalNs: this.totalNs,
    });
    this.open = false;
    this.used = 0;
  }

  /** Lets the scratch columns go (after the last close()). */
  release(): void {
    this.close();
    this.scratchOff = undefined;
    this.scratchDur = undefined;
    this.scratchIo = undefined;
  }
}

/** The index of the first stretch starting at or after t in a chunk, by binary search. */
export function chunkLowerBound(c: SpanChunk, t: number): number {
  const off = t - c.baseNs;
  const a = c.startOffNs;
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The index of the last chunk whose base is at or before t (0 when none is). */
export function chunkAt(chunks: readonly SpanChunk[], t: number): number {
  let lo = 0;
  let hi = chunks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (chunks[mid]!.baseNs <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
