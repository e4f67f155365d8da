// Busy stretches as compact columns: 10 bytes a stretch. Stretches are stored in chunks; a chunk
// holds a base time (a double) and, per stretch, its start as whole nanoseconds after the base
// (Uint32, so exact), its duration (Float32, relative precision 6e-8) and, for busy stretches, the
// share of it spent in I/O callbacks (Uint16, in 1/65535ths; GC spans have none). A chunk is closed when it
// is full or when the next start would not fit 2^32 ns after its base. Chunks are never copied or
// sealed: the worker transfers their buffers to the page as they are, so the peak memory is the
// columns themselves.

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
  private cur: SpanChunk | undefined;
  private used = 0;
  length = 0;

  constructor(private readonly withIo: boolean) {}

  push(startNs: number, durNs: number, ioNs = 0): void {
    let c = this.cur;
    if (c === undefined || this.used === CHUNK || startNs - c.baseNs > MAX_OFFSET_NS || startNs < c.baseNs) {
      this.close();
      c = { baseNs: startNs, startOffNs: new Uint32Array(CHUNK), durNs: new Float32Array(CHUNK), ioShare: new Uint16Array(this.withIo ? CHUNK : 0), totalNs: 0 };
      this.cur = c;
      this.used = 0;
    }
    c.startOffNs[this.used] = startNs - c.baseNs;
    c.durNs[this.used] = durNs;
    if (this.withIo && durNs > 0) c.ioShare[this.used] = Math.round((Math.min(ioNs, durNs) / durNs) * 65535);
    c.totalNs += durNs;
    this.used++;
    this.length++;
  }

  /** Closes the open chunk, trimming it to its length (a copy only when it is not full). */
  close(): void {
    const c = this.cur;
    if (c === undefined) return;
    if (this.used < CHUNK) {
      c.startOffNs = c.startOffNs.slice(0, this.used);
      c.durNs = c.durNs.slice(0, this.used);
      if (this.withIo) c.ioShare = c.ioShare.slice(0, this.used);
    }
    this.chunks.push(c);
    this.cur = undefined;
    this.used = 0;
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
