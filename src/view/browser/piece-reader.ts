// Reads a byte stream in pieces into one buffer that is reused for every piece, so reading a
// trace allocates nothing per piece (the decode worker: see runBytes() there for why that
// matters). A byte stream is read with a BYOB reader, which fills the buffer in place and hands
// the same memory back with each read; a stream that is not a byte stream (a browser whose
// Blob.stream() is not one) is read with a default reader and its chunks copied in.

export class PieceReader {
  private readonly byob: ReadableStreamBYOBReader | undefined;
  private readonly plain: ReadableStreamDefaultReader<Uint8Array> | undefined;
  /** The default reader's chunk not yet handed out. */
  private rest: Uint8Array | undefined;
  private buffer: ArrayBuffer;

  constructor(stream: ReadableStream<Uint8Array>, pieceBytes: number) {
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = stream.getReader({ mode: 'byob' });
    } catch {
      // Not a byte stream: a TypeError, and the stream is still unlocked.
      this.plain = stream.getReader();
    }
    this.byob = byob;
    this.buffer = new ArrayBuffer(pieceBytes);
  }

  /**
   * The next piece of at most `want` bytes (at most pieceBytes), shorter only at the stream's end;
   * undefined after it. A piece is valid until the next call (its memory is reused then).
   */
  async next(want: number): Promise<Uint8Array | undefined> {
    const n = Math.min(want, this.buffer.byteLength);
    let filled = 0;
    while (filled < n) {
      if (this.byob !== undefined) {
        // The read detaches the view's buffer and returns the same memory in r.value.
        const r = await this.byob.read(new Uint8Array(this.buffer, filled, n - filled));
        if (r.value !== undefined) this.buffer = r.value.buffer as ArrayBuffer;
        if (r.done) break;
        filled += r.value.length;
        continue;
      }
      let chunk = this.rest;
      this.rest = undefined;
      if (chunk === undefined) {
        const r = await this.plain!.read();
        if (r.done) break;
        chunk = r.value;
      }
      const take = Math.min(chunk.length, n - filled);
      new Uint8Array(this.buffer, filled, take).set(chunk.subarray(0, take));
      if (take < chunk.length) this.rest = chunk.subarray(take);
      filled += take;
    }
    return filled === 0 ? undefined : new Uint8Array(this.buffer, 0, filled);
  }

  /** Cancels the stream: nothing more is read. */
  close(): void {
    (this.byob ?? this.plain)!.cancel().catch(() => undefined);
  }
}
