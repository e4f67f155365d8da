// Shared helpers of the format tests: a seeded PRNG, hand-made frames (so tests can build bytes
// that the encoder refuses to write), random traces, and record keys for multiset comparisons.

import {
  COUNTED_TYPES,
  FILE_MAGIC,
  FRAME_SYNC,
  FrameKind,
  TraceDecoder,
  copyRecord,
  crc32c,
  decodeBytes,
  encodeTrace,
  type DecodedTrace,
  type FrameSpec,
  type StackFrame,
  type TraceDiagnostic,
  type TraceHeaderInit,
  type TraceRecord,
  type TraceSpec,
} from '../src/format/index.js';

// ---------------------------------------------------------------------------------------------
// Deterministic PRNG

/** mulberry32: a tiny 32-bit PRNG, good enough for tests and fully deterministic. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** A uniform uint32. */
  u32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }
  /** A float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  bool(p = 0.5): boolean {
    return this.float() < p;
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick() from an empty list');
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.u32() & 0xff;
    return out;
  }
  /** A safe integer in [0, 2^53). */
  u53(): number {
    return (this.u32() & 0x1fffff) * 4294967296 + this.u32();
  }
  hex(byteLength: number): string {
    let s = '';
    for (let i = 0; i < byteLength; i++) s += (this.u32() & 0xff).toString(16).padStart(2, '0');
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// Bytes by hand

export function concat(...parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Shortest unsigned LEB128 of a non-negative integer (number or bigint). */
export function varint(value: number | bigint): number[] {
  let v = BigInt(value);
  if (v < 0n) throw new RangeError(`varint of negative ${v}`);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

/** A padded LEB128 encoding of `value` that takes exactly `bytes` bytes. */
export function paddedVarint(value: number | bigint, bytes: number): number[] {
  const out = varint(value);
  if (out.length > bytes) throw new RangeError(`${value} needs more than ${bytes} bytes`);
  while (out.length < bytes) {
    out[out.length - 1]! |= 0x80;
    out.push(0);
  }
  return out;
}

export function zz(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** A whole frame: sync, bodyLength, CRC-32C over length + body, then body = kind + content. */
export function frame(kind: number, content: Uint8Array | readonly number[], opts: { bodyLength?: number; crc?: number } = {}): Uint8Array {
  const body = concat([kind], content);
  const lengthBytes = u32le(opts.bodyLength ?? body.length);
  const crc = opts.crc ?? crc32c(body, 0, body.length, crc32c(lengthBytes));
  return concat(FRAME_SYNC, lengthBytes, u32le(crc), body);
}

export function recordsFrame(threadId: number, baseTimeNs: number, ...records: readonly (readonly number[])[]): Uint8Array {
  return frame(FrameKind.Records, concat(varint(threadId), varint(baseTimeNs), ...records));
}

export function headerFrame(content: Uint8Array | readonly number[]): Uint8Array {
  return frame(FrameKind.Header, content);
}

export function u32le(n: number): Uint8Array {
  return Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
}

/** A counted record by hand: tag = shape | type, dt, fields. */
export function rec(type: number, dt: number, ...fields: number[]): number[] {
  return [(fields.length << 5) | type, ...varint(dt), ...fields.flatMap((f) => varint(f))];
}

/** A shape-7 record by hand. */
export function blob(type: number, dt: number, content: readonly number[]): number[] {
  return [(7 << 5) | type, ...varint(dt), ...varint(content.length), ...content];
}

/** A header entry: key, length, value. */
export function entry(key: number | bigint, value: readonly number[]): number[] {
  return [...varint(key), ...varint(value.length), ...value];
}

export const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];

export const TRACE_ID = '0123456789abcdef0123456789abcdef';

/** Header content with the four required entries, plus `extra` entries. */
export function headerContent(opts: { major?: number; minor?: number; traceId?: string; fileIndex?: number; fileStartNs?: number; extra?: readonly number[][]; omit?: readonly number[] } = {}): number[] {
  const traceId = opts.traceId ?? TRACE_ID;
  const entries: [number, number[]][] = [
    [1, [...Buffer.from(traceId, 'hex')]],
    [2, varint(opts.fileIndex ?? 0)],
    [3, [...varint(1000n), ...varint(1_700_000_000_000_000_000n)]],
    [4, varint(opts.fileStartNs ?? 0)],
  ];
  const out = [...varint(opts.major ?? 1), ...varint(opts.minor ?? 0)];
  for (const [key, value] of entries) if (!(opts.omit ?? []).includes(key)) out.push(...entry(key, value));
  for (const e of opts.extra ?? []) out.push(...e);
  return out;
}

/** Magic + a minimal valid header frame. */
export function fileStart(opts: Parameters<typeof headerContent>[0] = {}): Uint8Array {
  return concat(FILE_MAGIC, headerFrame(headerContent(opts)));
}

// ---------------------------------------------------------------------------------------------
// Decoding helpers

export function kinds(d: readonly TraceDiagnostic[]): string[] {
  return d.map((x) => x.kind);
}

/** Decodes `bytes` pushed in the given chunk lengths (cycled), reusing one chunk buffer. */
export function decodeChunked(bytes: Uint8Array, chunkLengths: readonly number[], reuseBuffer = false): DecodedTrace {
  const out: DecodedTrace = { records: [], headers: [], diagnostics: [] };
  const decoder = new TraceDecoder({
    onRecord: (r) => out.records.push(copyRecord(r)),
    onHeader: (h) => out.headers.push(h),
    onDiagnostic: (d) => out.diagnostics.push(d),
  });
  const scratch = new Uint8Array(Math.max(1, ...chunkLengths));
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = Math.min(chunkLengths[i++ % chunkLengths.length]!, bytes.length - at);
    if (reuseBuffer) {
      const view = scratch.subarray(0, n);
      view.set(bytes.subarray(at, at + n));
      decoder.push(view);
      // Scribble over the chunk: the decoder must have copied what it still needs.
      scratch.fill(0xa5);
    } else {
      decoder.push(bytes.slice(at, at + n));
    }
    at += n;
  }
  decoder.end();
  return out;
}

/** A canonical string for a record, for set and multiset comparisons. */
export function recordKey(r: TraceRecord): string {
  return JSON.stringify(Object.keys(r).sort().map((k) => [k, (r as unknown as Record<string, unknown>)[k]]));
}

/** Flattens a spec into the records a decoder should return (threadId taken from the frame). */
export function specRecords(spec: TraceSpec): TraceRecord[] {
  return spec.frames.flatMap((f) => f.records.map((r) => ({ ...r, threadId: f.threadId }) as TraceRecord));
}

// ---------------------------------------------------------------------------------------------
// Random traces

export const INTERESTING_VALUES: readonly number[] = [0, 1, 2, 127, 128, 255, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 49, 2 ** 53 - 2, 2 ** 53 - 1];
export const INTERESTING_SIGNED: readonly number[] = [0, 1, -1, 63, -64, 64, -65, 2 ** 31, -(2 ** 31), 2 ** 40, -(2 ** 40), 2 ** 51 - 1, -(2 ** 51) + 1, 2 ** 51, -(2 ** 51)];

export function randomUnsigned(rng: Rng): number {
  switch (rng.int(4)) {
    case 0:
      return rng.pick(INTERESTING_VALUES);
    case 1:
      return rng.int(128);
    case 2:
      return rng.int(1 << 21);
    default:
      return rng.u53();
  }
}

export function randomSigned(rng: Rng): number {
  switch (rng.int(3)) {
    case 0:
      return rng.pick(INTERESTING_SIGNED);
    case 1:
      return rng.range(-100000, 100000);
    default:
      return (rng.bool() ? 1 : -1) * Math.floor(rng.float() * 2 ** 51);
  }
}

const CODE_POINT_RANGES: readonly [number, number][] = [
  [0x20, 0x7e],
  [0x00, 0x1f],
  [0xa0, 0x7ff],
  [0x800, 0xd7ff],
  [0xe000, 0xfffd],
  [0x10000, 0x10ffff],
  [0x1f600, 0x1f64f],
];

/** A random well-formed Unicode string (no lone surrogates), including non-BMP characters. */
export function randomString(rng: Rng, maxLength = 12): string {
  const n = rng.int(maxLength + 1);
  let s = '';
  for (let i = 0; i < n; i++) {
    const [lo, hi] = rng.pick(CODE_POINT_RANGES);
    s += String.fromCodePoint(rng.range(lo, hi));
  }
  return s;
}

export function randomDt(rng: Rng): number {
  switch (rng.int(6)) {
    case 0:
      return 0;
    case 1:
      return rng.pick([1, 127, 128, 16383, 16384]);
    case 2:
      return rng.int(128);
    case 3:
      return rng.int(1 << 20);
    case 4:
      return rng.int(2 ** 28);
    default:
      return rng.int(2 ** 36);
  }
}

export const COUNTED_NAMES: readonly TraceRecord['type'][] = COUNTED_TYPES.map((t) => t.type);
export const ALL_TYPE_NAMES: readonly TraceRecord['type'][] = [...COUNTED_NAMES, 'stringDef', 'stackDef', 'traceContext'];

/** A random record of the given type at `timeNs` (threadId 0: the frame's is used). */
export function randomRecord(rng: Rng, type: TraceRecord['type'], timeNs: number): TraceRecord {
  switch (type) {
    case 'stringDef':
      return { type, threadId: 0, timeNs, stringId: randomUnsigned(rng), value: randomString(rng) };
    case 'stackDef': {
      const frames: StackFrame[] = [];
      const n = rng.int(5);
      for (let i = 0; i < n; i++) {
        frames.push({ functionNameStringId: randomUnsigned(rng), scriptStringId: randomUnsigned(rng), line: randomUnsigned(rng), column: randomUnsigned(rng) });
      }
      return { type, threadId: 0, timeNs, stackId: randomUnsigned(rng), frames };
    }
    case 'traceContext':
      return {
        type,
        threadId: 0,
        timeNs,
        operationId: randomUnsigned(rng),
        traceId: rng.hex(16),
        spanId: rng.hex(8),
        parentSpanId: rng.bool(0.3) ? '0000000000000000' : rng.hex(8),
        traceFlags: rng.int(256),
      };
  }
  const info = COUNTED_TYPES.find((t) => t.type === type)!;
  const r: Record<string, unknown> = { type, threadId: 0, timeNs };
  for (const name of info.fields) {
    const signed = info.signed.includes(name);
    // A third of the fields are zero, so trailing-zero dropping is exercised.
    r[name] = rng.bool(0.3) ? 0 : signed ? randomSigned(rng) : randomUnsigned(rng);
  }
  return r as unknown as TraceRecord;
}

export interface RandomTraceOptions {
  frames?: number;
  maxRecordsPerFrame?: number;
  traceId?: string;
  fileIndex?: number;
  threads?: readonly number[];
}

export function randomHeader(rng: Rng, opts: { traceId?: string; fileIndex?: number } = {}): TraceHeaderInit {
  const header: TraceHeaderInit = {
    traceId: opts.traceId ?? rng.hex(16),
    fileIndex: opts.fileIndex ?? rng.int(4),
    originMonoNs: BigInt(rng.u53()) * BigInt(rng.range(1, 2000)),
    originWallUnixNs: 1_700_000_000_000_000_000n + BigInt(rng.u53()),
    fileStartNs: rng.int(2 ** 40),
    threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }],
  };
  if (rng.bool(0.7)) header.pid = rng.int(1 << 22);
  if (rng.bool(0.7)) header.hostname = randomString(rng, 20);
  if (rng.bool(0.5)) header.nodeVersion = 'v20.20.2';
  if (rng.bool(0.3)) header.serviceName = randomString(rng, 30);
  if (rng.bool(0.5)) header.producer = 'looptrace/0.1.0';
  if (rng.bool(0.3)) header.platform = 'linux-x64';
  if (rng.bool(0.3)) header.threadpoolSize = rng.range(1, 1024);
  if (rng.bool(0.3)) header.capabilities = rng.int(8);
  if (rng.bool(0.3)) header.attributionNote = randomString(rng, 60);
  if (rng.bool(0.3)) header.stackSampling = { thresholdNs: rng.int(100_000_000), intervalNs: rng.int(20_000_000) };
  const workers = rng.int(3);
  for (let i = 0; i < workers; i++) header.threads.push({ threadId: i + 2, nodeThreadId: i + 1, kind: 1, name: randomString(rng, 200) });
  return header;
}

/** A random valid trace (records of every type, random frame splits, thread ids and dts). */
export function randomTraceSpec(rng: Rng, opts: RandomTraceOptions = {}): TraceSpec {
  const header = randomHeader(rng, opts);
  const frameCount = opts.frames ?? rng.int(6);
  const maxRecords = opts.maxRecordsPerFrame ?? 20;
  const threads = opts.threads ?? [0, 1, 2, 3, 7, 1000];
  const frames: FrameSpec[] = [];
  for (let i = 0; i < frameCount; i++) {
    const threadId = rng.pick(threads);
    const baseTimeNs = rng.bool(0.1) ? rng.pick([0, 127, 128, 2 ** 40]) : rng.int(2 ** 44);
    let t = baseTimeNs;
    const records: TraceRecord[] = [];
    const n = rng.int(maxRecords + 1);
    for (let j = 0; j < n; j++) {
      t += randomDt(rng);
      records.push(randomRecord(rng, rng.pick(ALL_TYPE_NAMES), t));
    }
    frames.push({ threadId, baseTimeNs, records });
  }
  return { header, frames };
}

export function randomTrace(rng: Rng, opts: RandomTraceOptions = {}): { spec: TraceSpec; bytes: Uint8Array } {
  const spec = randomTraceSpec(rng, opts);
  return { spec, bytes: encodeTrace(spec) };
}

export { decodeBytes };
