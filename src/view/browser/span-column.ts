// Busy stretches as compact columns: 10 bytes a stretch. Stretches are stored in chunks; a chunk
// holds a base time (a double) and, per stretch, its start as whole nanoseconds after the base
// (Uint32, so exact), its duration (Float32, relative precision 6e-8) and, for busy stretches, the
// share of it spent in I/O callbacks (Uint16, in 1/65535ths; GC spans have none). A chunk is closed when it
// is full or when the next start would not fit 2^32 ns after its base. Chunks are views into a
// few large arrays (arenas), the last one cut to size at the end: the worker transfers those
// buffers to the page as they are, so the peak memory is the columns themselves.

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

/** Stretches per arena: the first arena holds MIN_ARENA, each next one twice as many, up to MAX_ARENA. */
const MIN_ARENA = 1 << 16;
const MAX_ARENA = 1 << 20;

export class SpanColumnBuilder {
  readonly chunks: SpanChunk[] = [];
  /**
   * Chunks are views into a few large arenas, written in place: a chunk also closes when its
   * 2^32 ns (4.3 s) are up, long before it is full on a loop with fewer than 15k stretches a
   * second, and giving each chunk its own arrays cost most of the worker's time in Chromium
   * (thousands of array allocations and copies, and the garbage collections they set off).
   */
  private arenaOff = new Uint32Array(0);
  private arenaDur = new Float32Array(0);
  private arenaIo = new Uint16Array(0);
  /** Entries of the arena taken by closed chunks; the open chunk starts there. */
  private arenaUsed = 0;
  /** Index in this.chunks of the arena's first chunk. */
  private arenaFirstChunk = 0;
  private capacity = 0;
  private baseNs = 0;
  private totalNs = 0;
  private used = 0;
  private open = false;
  length = 0;

  constructor(private readonly withIo: boolean) {}

  push(startNs: number, durNs: number, ioNs = 0): void {
    if (!this.open || this.used === this.capacity || startNs - this.baseNs > MAX_OFFSET_NS || startNs < this.baseNs) this.openChunk(startNs);
    const i = this.arenaUsed + this.used;
    this.arenaOff[i] = startNs - this.baseNs;
    this.arenaDur[i] = durNs;
    if (this.withIo) this.arenaIo[i] = durNs > 0 ? Math.round(((ioNs < durNs ? ioNs : durNs) / durNs) * 65535) : 0;
    this.totalNs += durNs;
    this.used++;
    this.length++;
  }

  private openChunk(startNs: number): void {
    this.close();
    if (this.arenaUsed === this.arenaOff.length) {
      this.trimArena();
      const n = Math.min(MAX_ARENA, Math.max(MIN_ARENA, this.arenaOff.length * 2));
      this.arenaOff = new Uint32Array(n);
      this.arenaDur = new Float32Array(n);
      this.arenaIo = new Uint16Array(this.withIo ? n : 0);
      this.arenaUsed = 0;
      this.arenaFirstChunk = this.chunks.length;
    }
    this.open = true;
    this.capacity = Math.min(CHUNK, this.arenaOff.length - this.arenaUsed);
    this.baseNs = startNs;
    this.totalNs = 0;
    this.used = 0;
  }

  /** Closes the open chunk: a view of the entries it took in the arena. */
  close(): void {
    if (!this.open) return;
    const from = this.arenaUsed;
    const to = from + this.used;
    this.chunks.push({
      baseNs: this.baseNs,
      startOffNs: this.arenaOff.subarray(from, to),
      durNs: this.arenaDur.subarray(from, to),
      ioShare: this.withIo ? this.arenaIo.subarray(from, to) : new Uint16Array(0),
      totalNs: this.totalNs,
    });
    this.arenaUsed = to;
    this.open = false;
    this.used = 0;
  }

  /** After the last push: the last arena is cut to what it holds, so no memory is left unused. */
  release(): void {
    this.close();
    this.trimArena();
  }

  /** Copies the arena's used part into exact-size arrays and points its chunks there. */
  private trimArena(): void {
    if (this.arenaUsed === this.arenaOff.length) return;
    const off = this.arenaOff.slice(0, this.arenaUsed);
    const dur = this.arenaDur.slice(0, this.arenaUsed);
    const io = this.withIo ? this.arenaIo.slice(0, this.arenaUsed) : this.arenaIo;
    let at = 0;
    for (let k = this.arenaFirstChunk; k < this.chunks.length; k++) {
      const c = this.chunks[k]!;
      const n = c.startOffNs.length;
      c.startOffNs = off.subarray(at, at + n);
      c.durNs = dur.subarray(at, at + n);
      if (this.withIo) c.ioShare = io.subarray(at, at + n);
      at += n;
    }
    this.arenaOff = off;
    this.arenaDur = dur;
    this.arenaIo = io;
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
