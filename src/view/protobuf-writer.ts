// A small protocol-buffers writer: varints, doubles, strings and nested messages appended to one
// growing buffer. Nested messages reserve a four-byte length and fill it in when they close,
// moving their (usually short) body back when the length needs fewer bytes, so no message is
// built twice. Enough for the handful of Perfetto messages the exporter writes; not a general
// protobuf library.

const textEncoder = new TextEncoder();
/** Bytes reserved for a nested message's length: up to 2^28 - 1 bytes per message. */
const LENGTH_BYTES = 4;
const MAX_NESTED_BYTES = 2 ** 28 - 1;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH = 2;

export class ProtoWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private readonly open: number[] = [];

  constructor(initialBytes = 1 << 16) {
    this.buf = new Uint8Array(initialBytes);
    this.view = new DataView(this.buf.buffer);
  }

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a view: copy before writing more). Only between messages. */
  bytes(): Uint8Array {
    if (this.open.length > 0) throw new Error('ProtoWriter: a nested message is still open');
    return this.buf.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
  }

  /** An unsigned integer field (uint32, uint64, int32 >= 0, enum, bool) up to 2^53. */
  uint(field: number, value: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(value);
  }

  bool(field: number, value: boolean): void {
    this.uint(field, value ? 1 : 0);
  }

  double(field: number, value: number): void {
    this.tag(field, WIRE_FIXED64);
    this.ensure(8);
    this.view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  string(field: number, value: string): void {
    const encoded = textEncoder.encode(value);
    this.tag(field, WIRE_LENGTH);
    this.varint(encoded.length);
    this.ensure(encoded.length);
    this.buf.set(encoded, this.pos);
    this.pos += encoded.length;
  }

  /** Opens a nested message in `field`; close it with end(). */
  begin(field: number): void {
    this.tag(field, WIRE_LENGTH);
    this.ensure(LENGTH_BYTES);
    this.open.push(this.pos);
    this.pos += LENGTH_BYTES;
  }

  end(): void {
    const at = this.open.pop();
    if (at === undefined) throw new Error('ProtoWriter: end() without begin()');
    let n = this.pos - at - LENGTH_BYTES;
    if (n > MAX_NESTED_BYTES) throw new Error(`ProtoWriter: nested message of ${n} bytes is too large`);
    // Most messages are small: move the body back so that the length takes the bytes it needs
    // (one below 128). Only positions of enclosing messages are kept, and they lie before `at`.
    const lengthBytes = n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
    if (lengthBytes < LENGTH_BYTES) {
      this.buf.copyWithin(at + lengthBytes, at + LENGTH_BYTES, this.pos);
      this.pos -= LENGTH_BYTES - lengthBytes;
    }
    for (let i = 0; i < lengthBytes; i++) {
      this.buf[at + i] = (n & 0x7f) | (i < lengthBytes - 1 ? 0x80 : 0);
      n >>>= 7;
    }
  }

  private tag(field: number, wire: number): void {
    this.varint(field * 8 + wire);
  }

  private varint(value: number): void {
    if (!(value >= 0) || !Number.isSafeInteger(value)) throw new RangeError(`ProtoWriter: ${value} is not an unsigned integer below 2^53`);
    this.ensure(10);
    const buf = this.buf;
    let v = value;
    while (v >= 0x80) {
      buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    buf[this.pos++] = v;
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + extra));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}
