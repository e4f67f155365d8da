// A column that grows in fixed-size chunks, so building it never copies what it holds and never
// keeps a doubled buffer around; seal() copies it once into an exact-size typed array, dropping
// each chunk as soon as it is copied, so the peak is the column plus one chunk.

const CHUNK = 1 << 16;

type Typed = Float64Array | Float32Array;

class ChunkedColumn<T extends Typed> {
  private readonly chunks: T[] = [];
  private current: T;
  private used = 0;
  private readonly make: (n: number) => T;

  constructor(make: (n: number) => T) {
    this.make = make;
    this.current = make(CHUNK);
  }

  get length(): number {
    return this.chunks.length * CHUNK + this.used;
  }

  push(value: number): void {
    if (this.used === CHUNK) {
      this.chunks.push(this.current);
      this.current = this.make(CHUNK);
      this.used = 0;
    }
    this.current[this.used++] = value;
  }

  /** The last value pushed (NaN when empty). */
  last(): number {
    if (this.used > 0) return this.current[this.used - 1]!;
    const c = this.chunks[this.chunks.length - 1];
    return c === undefined ? NaN : c[CHUNK - 1]!;
  }

  seal(): T {
    const out = this.make(this.length);
    let at = 0;
    for (let i = 0; i < this.chunks.length; i++) {
      out.set(this.chunks[i]!, at);
      at += CHUNK;
      // Let the chunk go now: the copy is the only place its values live from here on.
      (this.chunks as (T | undefined)[])[i] = undefined;
    }
    out.set(this.current.subarray(0, this.used), at);
    this.chunks.length = 0;
    this.current = this.make(0);
    this.used = 0;
    return out;
  }
}

export class F64Column extends ChunkedColumn<Float64Array> {
  constructor() {
    super((n) => new Float64Array(n));
  }
}

export class F32Column extends ChunkedColumn<Float32Array> {
  constructor() {
    super((n) => new Float32Array(n));
  }
}
