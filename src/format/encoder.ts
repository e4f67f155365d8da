// The TypeScript encoder of docs/FORMAT.md. It writes into one growing buffer and allocates
// nothing per record; the native encoder in native/ produces the same bytes.

import {
  EXTENDED_TYPE,
  FILE_MAGIC,
  FORMAT_MAJOR,
  FORMAT_MINOR,
  FRAME_HEADER_BYTES,
  FRAME_SYNC,
  FrameKind,
  HeaderKey,
  MAX_COUNTED_FIELDS,
  MAX_FRAME_BODY_BYTES,
  RecordCode,
  SHAPE_BYTES,
  SHAPE_SHIFT,
} from './constants.js';
import { crc32c } from './crc32c.js';
import { COUNTED_BY_TYPE, type StackFrame, type TraceHeaderInit, type TraceRecord } from './records.js';
import { hexToBytes } from './hex.js';

/** Room for the largest counted record: tag, extended type, dt and six 8-byte fields. */
const MAX_COUNTED_RECORD_BYTES = 1 + 10 + 8 * (MAX_COUNTED_FIELDS + 1);
const textEncoder = new TextEncoder();

export class TraceEncoder {
  private buf: Uint8Array;
  private pos = 0;
  /** Offset of the open frame's header, or -1 when no frame is open. */
  private frameStart = -1;
  private lastTimeNs = 0;

  constructor(initialBytes = 64 << 10) {
    this.buf = new Uint8Array(Math.max(64, initialBytes));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Body bytes of the open frame, so a caller can close it near TARGET_FRAME_BODY_BYTES. */
  get frameBodyBytes(): number {
    return this.frameStart < 0 ? 0 : this.pos - this.frameStart - FRAME_HEADER_BYTES;
  }

  /** A view of everything written; valid until the next write. */
  bytes(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  /** A copy of everything written, after which the encoder starts empty. */
  take(): Uint8Array {
    if (this.frameStart >= 0) throw new Error('looptrace: take() called while a frame is open; call endFrame() first');
    const out = this.buf.slice(0, this.pos);
    this.pos = 0;
    return out;
  }

  reset(): void {
    this.pos = 0;
    this.frameStart = -1;
  }

  writeMagic(): void {
    this.ensure(FILE_MAGIC.length);
    this.buf.set(FILE_MAGIC, this.pos);
    this.pos += FILE_MAGIC.length;
  }

  /** Writes a whole header frame (section 3.2). */
  writeHeader(header: TraceHeaderInit): void {
    this.openFrame(FrameKind.Header);
    this.varint(header.formatMajor ?? FORMAT_MAJOR);
    this.varint(header.formatMinor ?? FORMAT_MINOR);
    this.entryBytes(HeaderKey.TraceId, hexToBytes(header.traceId, 16, 'traceId'));
    this.entry(HeaderKey.FileIndex, () => this.varint(header.fileIndex));
    this.entry(HeaderKey.ClockAnchor, () => {
      this.varint64(header.originMonoNs);
      this.varint64(header.originWallUnixNs);
    });
    this.entry(HeaderKey.FileStartNs, () => this.timeVarint(header.fileStartNs));
    if (header.pid !== undefined) this.entry(HeaderKey.Pid, () => this.varint(header.pid!));
    if (header.hostname !== undefined) this.entryBytes(HeaderKey.Hostname, textEncoder.encode(header.hostname));
    if (header.nodeVersion !== undefined) this.entryBytes(HeaderKey.NodeVersion, textEncoder.encode(header.nodeVersion));
    if (header.serviceName !== undefined) this.entryBytes(HeaderKey.ServiceName, textEncoder.encode(header.serviceName));
    if (header.producer !== undefined) this.entryBytes(HeaderKey.Producer, textEncoder.encode(header.producer));
    for (const thread of header.threads) {
      this.entry(HeaderKey.Thread, () => {
        this.varint(thread.threadId);
        this.varint(thread.nodeThreadId);
        this.varint(thread.kind);
        this.utf8(thread.name);
      });
    }
    if (header.platform !== undefined) this.entryBytes(HeaderKey.Platform, textEncoder.encode(header.platform));
    if (header.threadpoolSize !== undefined) this.entry(HeaderKey.ThreadpoolSize, () => this.varint(header.threadpoolSize!));
    if (header.capabilities !== undefined) this.entry(HeaderKey.Capabilities, () => this.varint(header.capabilities!));
    if (header.attributionNote !== undefined) this.entryBytes(HeaderKey.AttributionNote, textEncoder.encode(header.attributionNote));
    const sampling = header.stackSampling;
    if (sampling !== undefined) {
      this.entry(HeaderKey.StackSampling, () => {
        this.varint(sampling.thresholdNs);
        this.varint(sampling.intervalNs);
      });
    }
    this.closeFrame();
  }

  /** Opens a records frame (section 4.1). Every record until endFrame() belongs to threadId. */
  beginFrame(threadId: number, baseTimeNs: number): void {
    this.openFrame(FrameKind.Records);
    this.varint(threadId);
    this.timeVarint(baseTimeNs);
    this.lastTimeNs = baseTimeNs;
  }

  endFrame(): void {
    this.closeFrame();
  }

  /** Writes a frame of any kind with the given content, for tools and tests. */
  writeRawFrame(kind: number, content: Uint8Array): void {
    this.openFrame(kind);
    this.ensure(content.length);
    this.buf.set(content, this.pos);
    this.pos += content.length;
    this.closeFrame();
  }

  // The record methods below are the hot path: they keep the buffer and cursor in locals, check
  // the room once, and commit the cursor and the frame's last time only when the whole record
  // is written, so a record that throws (a time going backwards, a bad field) leaves nothing.

  pollStart(timeNs: number): void {
    let b = this.buf;
    const p = this.pos;
    if (p + MAX_COUNTED_RECORD_BYTES > b.length) b = this.grow(MAX_COUNTED_RECORD_BYTES);
    const dt = timeNs - this.lastTimeNs;
    if (!(dt >= 0)) this.timeError(timeNs);
    b[p] = RecordCode.PollStart;
    this.pos = putVarint(b, p + 1, dt);
    this.lastTimeNs = timeNs;
  }

  pollEnd(timeNs: number, blockedNs: number, events: number, eventsWaiting: number): void {
    let b = this.buf;
    let p = this.pos;
    if (p + MAX_COUNTED_RECORD_BYTES > b.length) b = this.grow(MAX_COUNTED_RECORD_BYTES);
    const dt = timeNs - this.lastTimeNs;
    if (!(dt >= 0)) this.timeError(timeNs);
    // Trailing zero fields are dropped (section 5).
    const n = eventsWaiting !== 0 ? 3 : events !== 0 ? 2 : blockedNs !== 0 ? 1 : 0;
    b[p] = (n << SHAPE_SHIFT) | RecordCode.PollEnd;
    p = putVarint(b, p + 1, dt);
    if (n > 0) {
      p = putVarint(b, p, blockedNs);
      if (n > 1) {
        p = putVarint(b, p, events);
        if (n > 2) p = putVarint(b, p, eventsWaiting);
      }
    }
    this.pos = p;
    this.lastTimeNs = timeNs;
  }

  /**
   * Writes a counted record (shape 0–6) with `fieldCount` fields, dropping trailing zero fields as
   * section 5 recommends. Signed fields must already be zigzag-encoded.
   */
  counted(code: number, timeNs: number, fieldCount: number, f0 = 0, f1 = 0, f2 = 0, f3 = 0, f4 = 0, f5 = 0): void {
    let b = this.buf;
    let p = this.pos;
    if (p + MAX_COUNTED_RECORD_BYTES > b.length) b = this.grow(MAX_COUNTED_RECORD_BYTES);
    const dt = timeNs - this.lastTimeNs;
    if (!(dt >= 0)) this.timeError(timeNs);
    let n = fieldCount;
    // Only zeros at the end go: stop at the last non-zero field.
    if (n === 6 && f5 === 0) n = 5;
    if (n === 5 && f4 === 0) n = 4;
    if (n === 4 && f3 === 0) n = 3;
    if (n === 3 && f2 === 0) n = 2;
    if (n === 2 && f1 === 0) n = 1;
    if (n === 1 && f0 === 0) n = 0;
    b[p] = (n << SHAPE_SHIFT) | code;
    p = putVarint(b, p + 1, dt);
    if (n > 0) {
      p = putVarint(b, p, f0);
      if (n > 1) {
        p = putVarint(b, p, f1);
        if (n > 2) {
          p = putVarint(b, p, f2);
          if (n > 3) {
            p = putVarint(b, p, f3);
            if (n > 4) {
              p = putVarint(b, p, f4);
              if (n > 5) p = putVarint(b, p, f5);
            }
          }
        }
      }
    }
    this.pos = p;
    this.lastTimeNs = timeNs;
  }

  /** Writes any record from its decoded form; the record's threadId is that of the open frame. */
  record(rec: TraceRecord): void {
    switch (rec.type) {
      case 'stringDef':
        return this.stringDef(rec.timeNs, rec.stringId, rec.value);
      case 'stackDef':
        return this.stackDef(rec.timeNs, rec.stackId, rec.frames);
      case 'traceContext':
        return this.traceContext(rec.timeNs, rec.operationId, rec.traceId, rec.spanId, rec.parentSpanId, rec.traceFlags);
    }
    const info = COUNTED_BY_TYPE.get(rec.type);
    if (info === undefined) throw new TypeError(`looptrace: unknown record type ${JSON.stringify((rec as { type: unknown }).type)}`);
    const source = rec as unknown as Record<string, number>;
    const f = [0, 0, 0, 0, 0, 0];
    info.fields.forEach((name, i) => {
      const value = source[name];
      if (typeof value !== 'number') throw new TypeError(`looptrace: ${rec.type} record needs a numeric ${name}, got ${String(value)}`);
      f[i] = info.signed.includes(name) ? zigzag(value) : value;
    });
    this.counted(info.code, rec.timeNs, info.fields.length, f[0], f[1], f[2], f[3], f[4], f[5]);
  }

  stringDef(timeNs: number, stringId: number, value: string): void {
    this.whole(() => {
      const utf8 = textEncoder.encode(value);
      this.blobRecord(RecordCode.StringDef, timeNs, varintLength(stringId) + utf8.length);
      this.varint(stringId);
      this.buf.set(utf8, this.pos);
      this.pos += utf8.length;
    });
  }

  stackDef(timeNs: number, stackId: number, frames: readonly StackFrame[]): void {
    this.whole(() => {
      let length = varintLength(stackId) + varintLength(frames.length);
      for (const f of frames) {
        length += varintLength(f.functionNameStringId) + varintLength(f.scriptStringId) + varintLength(f.line) + varintLength(f.column);
      }
      this.blobRecord(RecordCode.StackDef, timeNs, length);
      this.varint(stackId);
      this.varint(frames.length);
      for (const f of frames) {
        this.varint(f.functionNameStringId);
        this.varint(f.scriptStringId);
        this.varint(f.line);
        this.varint(f.column);
      }
    });
  }

  traceContext(timeNs: number, operationId: number, traceId: string, spanId: string, parentSpanId: string, traceFlags: number): void {
    this.whole(() => {
      const ids = [hexToBytes(traceId, 16, 'traceId'), hexToBytes(spanId, 8, 'spanId'), hexToBytes(parentSpanId, 8, 'parentSpanId')];
      if (!Number.isInteger(traceFlags) || traceFlags < 0 || traceFlags > 255) {
        throw new RangeError(`looptrace: traceFlags must be an integer in [0, 255], got ${traceFlags}`);
      }
      this.blobRecord(RecordCode.TraceContext, timeNs, varintLength(operationId) + 33);
      this.varint(operationId);
      for (const id of ids) {
        this.buf.set(id, this.pos);
        this.pos += id.length;
      }
      this.buf[this.pos++] = traceFlags;
    });
  }

  /**
   * Writes a record with any tag, for forward-compatibility tests and vectors: counted fields
   * when `payload` is an array, a shape-7 blob when it is bytes.
   */
  rawRecord(type: number, timeNs: number, payload: readonly number[] | Uint8Array): void {
    this.whole(() => {
      const isBlob = payload instanceof Uint8Array;
      if (!isBlob && payload.length > MAX_COUNTED_FIELDS) throw new RangeError(`looptrace: at most ${MAX_COUNTED_FIELDS} counted fields, got ${payload.length}`);
      this.ensure(MAX_COUNTED_RECORD_BYTES + (isBlob ? payload.length + 10 : 0));
      const shape = isBlob ? SHAPE_BYTES : payload.length;
      if (type >= EXTENDED_TYPE) {
        this.buf[this.pos++] = (shape << SHAPE_SHIFT) | EXTENDED_TYPE;
        this.varint(type - 32);
      } else {
        this.buf[this.pos++] = (shape << SHAPE_SHIFT) | type;
      }
      this.dt(timeNs);
      if (isBlob) {
        this.varint(payload.length);
        this.buf.set(payload, this.pos);
        this.pos += payload.length;
      } else {
        for (const v of payload) this.varint(v);
      }
    });
  }

  /** Runs the writes of one record; if any throws, the frame is left as it was, with no partial record. */
  private whole(write: () => void): void {
    const pos = this.pos;
    const lastTimeNs = this.lastTimeNs;
    try {
      write();
    } catch (error) {
      this.pos = pos;
      this.lastTimeNs = lastTimeNs;
      throw error;
    }
  }

  private blobRecord(code: number, timeNs: number, contentBytes: number): void {
    this.ensure(MAX_COUNTED_RECORD_BYTES + contentBytes);
    this.tag(SHAPE_BYTES, code);
    this.dt(timeNs);
    this.varint(contentBytes);
  }

  private tag(shape: number, code: number): void {
    this.buf[this.pos++] = (shape << SHAPE_SHIFT) | code;
  }

  private dt(timeNs: number): void {
    const dt = timeNs - this.lastTimeNs;
    if (!(dt >= 0)) this.timeError(timeNs);
    this.lastTimeNs = timeNs;
    this.varint(dt);
  }

  private timeError(timeNs: number): never {
    throw new RangeError(`looptrace: record time ${timeNs} ns is before the previous record's ${this.lastTimeNs} ns in this frame`);
  }

  private varint(value: number): void {
    this.pos = putVarint(this.buf, this.pos, value);
  }

  /** A time since the origin: any integer below 2^64, also past 2^53 (docs/FORMAT.md section 2). */
  private timeVarint(value: number): void {
    if (value <= Number.MAX_SAFE_INTEGER) this.varint(value);
    else if (Number.isInteger(value)) this.varint64(BigInt(value));
    else throw new RangeError(`looptrace: time ${value} ns is not an integer`);
  }

  private varint64(value: bigint): void {
    if (typeof value !== 'bigint' || value < 0n || value >= 1n << 64n) {
      throw new RangeError(`looptrace: expected a bigint in [0, 2^64), got ${String(value)}`);
    }
    this.ensure(10);
    let v = value;
    while (v > 0x7fn) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  private utf8(value: string): void {
    const bytes = textEncoder.encode(value);
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** A header entry whose value is written by `write`; its length is patched afterwards. */
  private entry(key: number, write: () => void): void {
    this.ensure(64);
    this.varint(key);
    // Values stay below 128 bytes except thread names; reserve one length byte and shift if not.
    const lengthAt = this.pos++;
    write();
    const length = this.pos - lengthAt - 1;
    const extra = varintLength(length) - 1;
    if (extra > 0) {
      this.ensure(extra);
      this.buf.copyWithin(lengthAt + 1 + extra, lengthAt + 1, this.pos);
      this.pos += extra;
    }
    const end = this.pos;
    this.pos = lengthAt;
    this.varint(length);
    this.pos = end;
  }

  private entryBytes(key: number, value: Uint8Array): void {
    this.ensure(20 + value.length);
    this.varint(key);
    this.varint(value.length);
    this.buf.set(value, this.pos);
    this.pos += value.length;
  }

  private openFrame(kind: number): void {
    if (this.frameStart >= 0) throw new Error('looptrace: a frame is already open; call endFrame() first');
    this.ensure(FRAME_HEADER_BYTES + 32);
    this.frameStart = this.pos;
    this.pos += FRAME_HEADER_BYTES;
    this.buf[this.pos++] = kind;
  }

  private closeFrame(): void {
    const start = this.frameStart;
    if (start < 0) throw new Error('looptrace: endFrame() called with no open frame');
    const bodyLength = this.pos - start - FRAME_HEADER_BYTES;
    if (bodyLength > MAX_FRAME_BODY_BYTES) {
      throw new RangeError(`looptrace: frame body of ${bodyLength} bytes exceeds the ${MAX_FRAME_BODY_BYTES}-byte limit`);
    }
    const b = this.buf;
    b.set(FRAME_SYNC, start);
    b[start + 4] = bodyLength & 0xff;
    b[start + 5] = (bodyLength >>> 8) & 0xff;
    b[start + 6] = (bodyLength >>> 16) & 0xff;
    b[start + 7] = bodyLength >>> 24;
    const crc = crc32c(b, start + FRAME_HEADER_BYTES, this.pos, crc32c(b, start + 4, start + 8));
    b[start + 8] = crc & 0xff;
    b[start + 9] = (crc >>> 8) & 0xff;
    b[start + 10] = (crc >>> 16) & 0xff;
    b[start + 11] = crc >>> 24;
    this.frameStart = -1;
  }

  private ensure(extra: number): void {
    if (this.pos + extra > this.buf.length) this.grow(extra);
  }

  /** Makes room for `extra` more bytes and returns the (new) buffer. */
  private grow(extra: number): Uint8Array {
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    return next;
  }
}

/**
 * Writes `value` as a varint at b[p] and returns the position after it; the caller has made
 * room for 8 bytes. Throws, before writing anything, when the value is not an integer in
 * [0, 2^53).
 */
function putVarint(b: Uint8Array, p: number, value: number): number {
  let v = value;
  // Anything but a uint32 goes out of line, which keeps this small enough to inline everywhere.
  if (v >>> 0 !== v) return putLongVarint(b, p, v);
  // Stores into a Uint8Array keep the low 8 bits, so `v | 0x80` needs no mask.
  while (v > 0x7f) {
    b[p++] = v | 0x80;
    v >>>= 7;
  }
  b[p] = v;
  return p + 1;
}

function putLongVarint(b: Uint8Array, p: number, value: number): number {
  if (!(Number.isSafeInteger(value) && value > 0)) throw new RangeError(`looptrace: field value ${value} is not an integer in [0, 2^53)`);
  let v = value;
  while (v > 0x7f) {
    b[p++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  b[p] = v;
  return p + 1;
}

export function zigzag(value: number): number {
  if (!Number.isSafeInteger(value) || Math.abs(value) > 2 ** 51) {
    throw new RangeError(`looptrace: signed field value ${value} is not an integer in (-2^51, 2^51)`);
  }
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

export function varintLength(value: number): number {
  let n = 1;
  let v = value;
  while (v > 0x7f) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}
