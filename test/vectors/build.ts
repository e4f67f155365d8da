// Builds the golden vectors of docs/FORMAT.md: small trace files together with a JSON description
// of how each was made and what a decoder must return for it. The expected output is written here
// by hand (from the encode input and the known frame layout), never read back from the decoder,
// so the vectors test checks the decoder against the spec and the encoder against the bytes.
//
// test/vectors.test.ts compares the committed files with what buildVectors() returns;
// `npm run vectors` (scripts/gen-vectors.ts) rewrites them. See test/vectors/README.md.

import {
  FORMAT_MINOR,
  FrameKind,
  TraceEncoder,
  type TraceDiagnostic,
  type TraceHeader,
  type TraceHeaderInit,
  type TraceRecord,
} from '../../src/format/index.js';

// ---------------------------------------------------------------------------------------------
// JSON shapes

/** A record the encoder's rawRecord() writes: any type code, counted fields or a shape-7 blob. */
export interface RawRecordInput {
  raw: { type: number; timeNs: number; fields?: number[]; contentHex?: string };
  /** What a decoder returns for it: omitted when the type is unknown (the record is skipped). */
  decodesAs?: TraceRecord;
}

export type FrameItem = TraceRecord | RawRecordInput;

export type Step = (
  | { op: 'magic' }
  | { op: 'header'; header: TraceHeaderInit }
  | { op: 'frame'; threadId: number; baseTimeNs: number; records: FrameItem[] }
  | { op: 'rawFrame'; kind: number; content: Uint8Array; note: string; decodesAs?: { header?: TraceHeader; records?: TraceRecord[] } }
) & {
  /** [start, end) of the bytes this step wrote, in the .bin file. */
  span?: [number, number];
};

export type Mutation =
  | { op: 'truncate'; length: number }
  | { op: 'flipBit'; byte: number; bit: number }
  | { op: 'concat'; vectors: string[] };

export interface Expected {
  headers: TraceHeader[];
  records: TraceRecord[];
  diagnostics: TraceDiagnostic[];
}

export interface Vector {
  name: string;
  /** 'valid': what a conforming encoder writes. 'forward-compat': valid bytes an encoder of this
   * version does not write (newer types, keys, kinds; lenient encodings). 'damaged': derived from
   * another vector by a mutation. 'invalid': refused by the decoder. */
  category: 'valid' | 'forward-compat' | 'damaged' | 'invalid';
  description: string;
  bytes: Uint8Array;
  steps?: Step[];
  derivation?: { source: string; mutations: Mutation[] } | { concat: string[] };
  expected: Expected;
}

// ---------------------------------------------------------------------------------------------
// The builder: writes steps with the real encoder and records, per frame, what a decoder must
// report for it, so that derived (damaged) vectors can compute their expectations.

interface FrameInfo {
  offset: number;
  end: number;
  headers: TraceHeader[];
  records: TraceRecord[];
  diagnostics: TraceDiagnostic[];
}

class Builder {
  readonly encoder = new TraceEncoder(256);
  readonly steps: Step[] = [];
  readonly frames: FrameInfo[] = [];
  /** Unknown record types and frame kinds already reported: the decoder reports each once. */
  private readonly reportedRecordTypes = new Set<number>();
  private readonly reportedFrameKinds = new Set<number>();

  magic(): void {
    const start = this.encoder.length;
    this.encoder.writeMagic();
    this.steps.push({ op: 'magic', span: [start, this.encoder.length] });
  }

  header(header: TraceHeaderInit, expect: { diagnostics?: TraceDiagnostic[]; decodes?: boolean } = {}): FrameInfo {
    const offset = this.encoder.length;
    this.encoder.writeHeader(header);
    this.steps.push({ op: 'header', header, span: [offset, this.encoder.length] });
    const info: FrameInfo = {
      offset,
      end: this.encoder.length,
      headers: expect.decodes === false ? [] : [expectedHeader(header)],
      records: [],
      diagnostics: [],
    };
    for (const d of expect.diagnostics ?? []) info.diagnostics.push({ ...d, offset } as TraceDiagnostic);
    this.frames.push(info);
    return info;
  }

  /** A records frame. Raw records of unknown types are reported once per type. */
  frame(threadId: number, baseTimeNs: number, items: FrameItem[], opts: { decodes?: boolean } = {}): FrameInfo {
    const step: Step = { op: 'frame', threadId, baseTimeNs, records: items };
    this.steps.push(step);
    const offset = this.encoder.length;
    this.encoder.beginFrame(threadId, baseTimeNs);
    const info: FrameInfo = { offset, end: 0, headers: [], records: [], diagnostics: [] };
    for (const item of items) {
      const at = this.encoder.length;
      if ('raw' in item) {
        const { type, timeNs, fields, contentHex } = item.raw;
        this.encoder.rawRecord(type, timeNs, contentHex === undefined ? (fields ?? []) : fromHex(contentHex));
        if (item.decodesAs !== undefined) info.records.push({ ...item.decodesAs, threadId });
        else if (!this.reportedRecordTypes.has(type)) {
          this.reportedRecordTypes.add(type);
          info.diagnostics.push({ kind: 'unknown-record-type', offset: at, recordType: type });
        }
      } else {
        this.encoder.record(item);
        info.records.push({ ...item, threadId });
      }
    }
    this.encoder.endFrame();
    info.end = this.encoder.length;
    step.span = [offset, info.end];
    if (opts.decodes === false) {
      info.records = [];
      info.diagnostics = [];
    }
    this.frames.push(info);
    return info;
  }

  /** A frame of any kind with hand-made content. */
  rawFrame(kind: number, content: Uint8Array | readonly number[], note: string, expect: { header?: TraceHeader; records?: TraceRecord[]; diagnostics?: TraceDiagnostic[] } = {}): FrameInfo {
    const bytes = Uint8Array.from(content);
    const step: Step = { op: 'rawFrame', kind, content: bytes, note };
    if (expect.header !== undefined || expect.records !== undefined) {
      step.decodesAs = {};
      if (expect.header !== undefined) step.decodesAs.header = expect.header;
      if (expect.records !== undefined) step.decodesAs.records = expect.records;
    }
    this.steps.push(step);
    const offset = this.encoder.length;
    this.encoder.writeRawFrame(kind, bytes);
    step.span = [offset, this.encoder.length];
    const info: FrameInfo = {
      offset,
      end: this.encoder.length,
      headers: expect.header === undefined ? [] : [expect.header],
      records: expect.records ?? [],
      diagnostics: (expect.diagnostics ?? []).map((d) => ({ ...d, offset: d.offset + offset })),
    };
    if (kind !== FrameKind.Header && kind !== FrameKind.Records && !this.reportedFrameKinds.has(kind)) {
      this.reportedFrameKinds.add(kind);
      info.diagnostics.unshift({ kind: 'unknown-frame-kind', offset, frameKind: kind });
    }
    this.frames.push(info);
    return info;
  }

  bytes(): Uint8Array {
    return this.encoder.bytes().slice();
  }
}

function expectedHeader(init: TraceHeaderInit): TraceHeader {
  const { formatMajor, formatMinor, ...rest } = init;
  return { formatMajor: formatMajor ?? 1, formatMinor: formatMinor ?? FORMAT_MINOR, ...rest, threads: rest.threads.map((t) => ({ ...t })) };
}

function collect(frames: readonly FrameInfo[]): Expected {
  return {
    headers: frames.flatMap((f) => f.headers),
    records: frames.flatMap((f) => f.records),
    diagnostics: frames.flatMap((f) => f.diagnostics),
  };
}

// ---------------------------------------------------------------------------------------------
// Byte helpers (kept here so that the vectors do not depend on test/helpers.ts)

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

function varint(value: number | bigint): number[] {
  let v = BigInt(value);
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function padded(value: number, bytes: number): number[] {
  const out = varint(value);
  while (out.length < bytes) {
    out[out.length - 1]! |= 0x80;
    out.push(0);
  }
  return out;
}

function entry(key: number | bigint, value: readonly number[]): number[] {
  return [...varint(key), ...varint(value.length), ...value];
}

const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)];
const zz = (n: number): number => (n >= 0 ? n * 2 : -n * 2 - 1);

// ---------------------------------------------------------------------------------------------
// Shared inputs

const TRACE_A = '5f1c0e7a9b3d42e68c0a1b2c3d4e5f60';
const TRACE_B = 'a0b1c2d3e4f5061728394a5b6c7d8e9f';
const ORIGIN_MONO = 123_456_789_012_345n;
const ORIGIN_WALL = 1_717_171_717_000_000_000n;

function mainThread() {
  return { threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' };
}

function minimalHeader(extra: Partial<TraceHeaderInit> = {}): TraceHeaderInit {
  return { traceId: TRACE_B, fileIndex: 0, originMonoNs: ORIGIN_MONO, originWallUnixNs: ORIGIN_WALL, fileStartNs: 0, threads: [mainThread()], ...extra };
}

type Fields<T extends TraceRecord['type']> = Omit<Extract<TraceRecord, { type: T }>, 'type' | 'threadId' | 'timeNs'>;

/** A record literal; threadId is the frame's and is filled in by the builder. */
function r<T extends TraceRecord['type']>(type: T, timeNs: number, fields: Fields<T>): TraceRecord {
  return { type, threadId: 0, timeNs, ...fields } as unknown as TraceRecord;
}

// ---------------------------------------------------------------------------------------------
// The vectors

interface Built {
  vector: Vector;
  frames: FrameInfo[];
}

function fromBuilder(name: string, category: Vector['category'], description: string, b: Builder, extraDiagnostics: TraceDiagnostic[] = []): Built {
  const expected = collect(b.frames);
  expected.diagnostics.push(...extraDiagnostics);
  return { vector: { name, category, description, bytes: b.bytes(), steps: b.steps, expected }, frames: b.frames };
}

function allTypes(): Built {
  const b = new Builder();
  b.magic();
  b.header({
    traceId: TRACE_A,
    fileIndex: 0,
    originMonoNs: ORIGIN_MONO,
    originWallUnixNs: ORIGIN_WALL,
    fileStartNs: 0,
    pid: 4242,
    hostname: 'web-1.example',
    nodeVersion: 'v20.20.2',
    serviceName: 'checkout',
    producer: 'looptrace/0.1.0',
    platform: 'linux-x64',
    threadpoolSize: 4,
    capabilities: 7,
    attributionNote: 'stacks: sampled by V8 interrupt ✓',
    stackSampling: { thresholdNs: 30_000_000, intervalNs: 10_000_000 },
    threads: [mainThread(), { threadId: 2, nodeThreadId: 1, kind: 1, name: 'worker-1' }],
  });
  b.frame(0, 1000, [
    r('stringDef', 1000, { stringId: 1, value: 'TCPWRAP' }),
    r('stringDef', 1000, { stringId: 2, value: 'handleRequest' }),
    r('stringDef', 1000, { stringId: 3, value: 'file:///srv/app.js' }),
    r('stringDef', 1000, { stringId: 4, value: 'db.query ✓ 日本 😀' }),
    r('stringDef', 1000, { stringId: 5, value: 'worker-2' }),
    r('stackDef', 1000, {
      stackId: 1,
      frames: [
        { functionNameStringId: 2, scriptStringId: 3, line: 10, column: 5 },
        { functionNameStringId: 2, scriptStringId: 3, line: 420, column: 17 },
      ],
    }),
    r('stackDef', 1001, { stackId: 2, frames: [] }),
    r('traceContext', 1001, { operationId: 7, traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', parentSpanId: '0000000000000000', traceFlags: 1 }),
    r('clockSync', 2000, { wallOffsetNs: -1234 }),
  ]);
  b.frame(1, 5000, [
    r('pollStart', 5000, {}),
    r('pollEnd', 255_000, { blockedNs: 250_000, events: 3, eventsWaiting: 1 }),
    r('threadCpu', 255_000, { wallNs: 900_000, cpuNs: 850_000 }),
    r('threadSched', 255_000, { runnableNs: 30_000 }),
    r('queueSample', 255_300, { activeHandles: 12, activeRequests: 3, eventsWaiting: 2 }),
    r('threadpoolProbe', 275_300, { queueDelayNs: 45_000 }),
    r('gcPause', 1_475_300, { durationNs: 1_200_000, gcType: 1 }),
    r('stackSample', 1_475_300, { stackId: 1, reason: 1, lagNs: 120_000_000 }),
    r('callbackStart', 1_475_400, { asyncId: 101, resourceTypeStringId: 1, siteStackId: 1 }),
    r('operationStart', 1_475_410, { operationId: 7, nameStringId: 4 }),
    r('mark', 1_475_420, { nameStringId: 2, value: -5 }),
    r('userQueueSample', 1_475_430, { nameStringId: 4, depth: 256 }),
    r('operationEnd', 1_475_500, { operationId: 7, status: 1 }),
    r('callbackEnd', 1_475_600, { asyncId: 101, operationId: 7 }),
    r('dropped', 1_475_600 + 2 ** 28, { droppedRecords: 17 }),
    r('resumed', 1_475_700 + 2 ** 28, {}),
  ]);
  b.frame(3, 3_000_000, [
    r('threadStart', 3_000_000, { nodeThreadId: 2, nameStringId: 5, kind: 1 }),
    r('pollStart', 3_000_128, {}),
    r('selfCost', 3_010_128, { component: 3, cpuNs: 12_345 }),
    r('threadStop', 3_020_128, { reason: 1 }),
  ]);
  return fromBuilder(
    'all-types',
    'valid',
    'A full header (every key 1-15, two threads) and one record of every type: definitions 24-26 (UTF-8 with a non-BMP character, an empty stack) and CLOCK_SYNC in the process stream, counted types 2-14, 18 and 19 on thread 1 (one- to five-byte dts, a THREAD_CPU with dt 0 and its THREAD_SCHED, a STACK_SAMPLE with all three fields), and THREAD_START/POLL_START/SELF_COST/THREAD_STOP on thread 3 (dt 128: a two-byte dt).',
    b,
  );
}

function trailingZeros(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader());
  b.frame(1, 100, [
    r('pollEnd', 100, { blockedNs: 0, events: 0, eventsWaiting: 0 }),
    r('pollEnd', 110, { blockedNs: 5000, events: 2, eventsWaiting: 0 }),
    r('pollEnd', 120, { blockedNs: 0, events: 0, eventsWaiting: 3 }),
    r('pollEnd', 130, { blockedNs: 5000, events: 0, eventsWaiting: 3 }),
    r('callbackStart', 140, { asyncId: 9, resourceTypeStringId: 0, siteStackId: 0 }),
    r('callbackStart', 150, { asyncId: 9, resourceTypeStringId: 0, siteStackId: 4 }),
    r('threadCpu', 150, { wallNs: 0, cpuNs: 0 }),
    r('queueSample', 160, { activeHandles: 0, activeRequests: 5, eventsWaiting: 0 }),
    r('gcPause', 170, { durationNs: 100, gcType: 0 }),
    r('stackSample', 180, { stackId: 3, reason: 0, lagNs: 0 }),
    r('stackSample', 181, { stackId: 3, reason: 0, lagNs: 5 }),
    r('threadSched', 182, { runnableNs: 0 }),
    r('mark', 190, { nameStringId: 3, value: 0 }),
    r('threadStart', 200, { nodeThreadId: 0, nameStringId: 0, kind: 0 }),
    r('threadStop', 210, { reason: 0 }),
    r('dropped', 220, { droppedRecords: 0 }),
  ]);
  b.frame(0, 300, [r('clockSync', 300, { wallOffsetNs: 0 })]);
  return fromBuilder(
    'trailing-zeros',
    'valid',
    'Trailing zero fields are dropped (the shape is the index of the last non-zero field + 1) but zeros before a non-zero field are kept: POLL_END (0,0,0) has shape 0, (5000,2,0) shape 2, (0,0,3) and (5000,0,3) shape 3; CALLBACK_START (9,0,4) shape 3; STACK_SAMPLE (3,0,0) has shape 1 and (3,0,5) shape 3; THREAD_SCHED 0 has shape 0; MARK value 0 and CLOCK_SYNC 0 drop their signed field.',
    b,
  );
}

function signedValues(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader());
  const values = [0, -1, 1, -2, 63, -64, 64, -65, -8192, 8192, 2 ** 31, -(2 ** 31), 2 ** 51, -(2 ** 51)];
  b.frame(
    1,
    0,
    values.map((value, i) => r('mark', i, { nameStringId: 1, value })),
  );
  b.frame(0, 1000, [
    r('clockSync', 1000, { wallOffsetNs: -1 }),
    r('clockSync', 2000, { wallOffsetNs: 1 }),
    r('clockSync', 3000, { wallOffsetNs: -1_000_000_000 }),
    r('clockSync', 4000, { wallOffsetNs: 2 ** 51 - 1 }),
  ]);
  return fromBuilder(
    'signed-values',
    'valid',
    'Zigzag fields (MARK value, CLOCK_SYNC wallOffsetNs) with negative, positive and boundary values: 0,-1,1,-2 encode as 0,1,2,3; -64 fits one byte and -65 needs two; up to +/-2^51.',
    b,
  );
}

function bigValues(): Built {
  const b = new Builder();
  b.magic();
  b.header(
    minimalHeader({
      originMonoNs: 2n ** 64n - 1n,
      originWallUnixNs: 2n ** 63n + 12345n,
      fileStartNs: 2 ** 40,
      pid: 2 ** 32,
      threadpoolSize: 2 ** 53 - 1,
      threads: [mainThread(), { threadId: 300, nodeThreadId: 2 ** 31, kind: 1, name: 'w'.repeat(130) }],
    }),
  );
  const base = 2 ** 40;
  b.frame(300, base, [
    r('threadpoolProbe', base + 127, { queueDelayNs: 2 ** 53 - 1 }),
    r('dropped', base + 127 + 128, { droppedRecords: 2 ** 32 }),
    r('dropped', base + 127 + 128 + 16384, { droppedRecords: 2 ** 32 - 1 }),
    r('operationStart', base + 127 + 128 + 16384 + 2 ** 28, { operationId: 2 ** 53 - 1, nameStringId: 2 ** 21 }),
    r('callbackStart', base + 127 + 128 + 16384 + 2 ** 28 + 2 ** 35, { asyncId: 2 ** 21, resourceTypeStringId: 2 ** 14, siteStackId: 2 ** 49 }),
    r('stringDef', base + 127 + 128 + 16384 + 2 ** 28 + 2 ** 35, { stringId: 2 ** 53 - 1, value: 'big' }),
  ]);
  b.frame(300, 2 ** 52, [r('pollStart', 2 ** 52, {}), r('pollEnd', 2 ** 53 - 1, { blockedNs: 2 ** 53 - 1, events: 1, eventsWaiting: 0 })]);
  return fromBuilder(
    'big-values',
    'valid',
    'Large values: header varints of 10 bytes (originMonoNs 2^64-1), a thread entry longer than 127 bytes (two-byte entry length), fields of 2^32 and 2^53-1 (an 8-byte varint), dts of 127, 128, 16384, 2^28 and 2^35 (1, 2, 3, 5 and 6 bytes), a dt of 2^52-1 reaching timeNs 2^53-1, thread id 300 (two-byte thread id).',
    b,
  );
}

/** 365 days in nanoseconds: an exact double (31536 * 10^12). */
const YEAR_NS = 31_536_000_000_000_000;

function yearLong(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader({ fileStartNs: YEAR_NS, pid: 4242 }));
  // Across 2^53: base 2^53 - 4, records at 2^53 and 2^53 + 4 (exact doubles).
  const edge = 2 ** 53 - 4;
  b.frame(1, edge, [r('pollStart', edge, {}), r('pollEnd', 2 ** 53, { blockedNs: 4, events: 1, eventsWaiting: 0 }), r('pollStart', 2 ** 53 + 4, {})]);
  // A year in: base times of 9 bytes; times multiples of 4, the spacing of doubles there.
  const base = YEAR_NS + 1_000_000;
  b.frame(1, base, [
    r('pollEnd', base + 4_000_000, { blockedNs: 3_999_996, events: 2, eventsWaiting: 0 }),
    r('threadCpu', base + 4_000_000, { wallNs: 4_000_000, cpuNs: 12 }),
    r('pollStart', base + 4_000_000 + 2 ** 28, {}),
  ]);
  b.frame(1, 2 ** 55, [r('pollEnd', 2 ** 55 + 8, { blockedNs: 8, events: 0, eventsWaiting: 0 })]);
  return fromBuilder(
    'year-long',
    'valid',
    'A trace more than a year old: fileStartNs of one year (31536000000000000 ns, a 9-byte varint), frame base times across 2^53 (2^53 - 4 with records at 2^53 and 2^53 + 4), a year plus 1 ms, and 2^55; each decodes to the exact time (all are doubles).',
    b,
  );
}

function rotated(fileIndex: 0 | 1): Built {
  const b = new Builder();
  const worker = { threadId: 2, nodeThreadId: 1, kind: 1, name: 'worker-1' };
  b.magic();
  if (fileIndex === 0) {
    b.header(minimalHeader({ traceId: TRACE_A, fileIndex: 0, fileStartNs: 0, pid: 77, threads: [mainThread()] }));
    b.frame(0, 10, [r('stringDef', 10, { stringId: 1, value: 'TCPWRAP' }), r('stringDef', 10, { stringId: 2, value: 'worker-1' })]);
    b.frame(1, 1000, [
      r('pollStart', 1000, {}),
      r('pollEnd', 2000, { blockedNs: 900, events: 1, eventsWaiting: 0 }),
      r('callbackStart', 2010, { asyncId: 5, resourceTypeStringId: 1, siteStackId: 0 }),
      r('callbackEnd', 2500, { asyncId: 5, operationId: 0 }),
    ]);
    b.frame(2, 3000, [r('threadStart', 3000, { nodeThreadId: 1, nameStringId: 2, kind: 1 }), r('pollStart', 3100, {})]);
  } else {
    b.header(minimalHeader({ traceId: TRACE_A, fileIndex: 1, fileStartNs: 10_000_000, pid: 77, threads: [mainThread(), worker] }));
    b.frame(0, 10_000_000, [r('stringDef', 10_000_000, { stringId: 1, value: 'TCPWRAP' })]);
    b.frame(1, 10_000_100, [r('pollStart', 10_000_100, {}), r('callbackStart', 10_000_200, { asyncId: 9, resourceTypeStringId: 1, siteStackId: 0 })]);
    b.frame(2, 10_000_300, [r('pollEnd', 10_000_300, { blockedNs: 9_000_000, events: 0, eventsWaiting: 0 }), r('threadStop', 10_000_400, { reason: 0 })]);
  }
  return fromBuilder(
    `rotated-${fileIndex}`,
    'valid',
    fileIndex === 0
      ? 'The first file (fileIndex 0) of a rotated trace: worker thread 2 starts during the file (THREAD_START).'
      : 'The second file (fileIndex 1) of the same trace (same traceId and clock anchor): the worker is now in the header thread table and the live string definition is repeated.',
    b,
  );
}

function concatOf(name: string, description: string, parts: readonly Built[]): Built {
  const frames: FrameInfo[] = [];
  let shift = 0;
  const chunks: Uint8Array[] = [];
  for (const part of parts) {
    for (const f of part.frames) {
      frames.push({ ...f, offset: f.offset + shift, end: f.end + shift, diagnostics: f.diagnostics.map((d) => ({ ...d, offset: d.offset + shift })) });
    }
    shift += part.vector.bytes.length;
    chunks.push(part.vector.bytes);
  }
  const bytes = new Uint8Array(shift);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return {
    vector: { name, category: 'valid', description, bytes, derivation: { concat: parts.map((p) => p.vector.name) }, expected: collect(frames) },
    frames,
  };
}

/** Truncates a vector at `length`, which must fall inside frame `frameIndex` (of the source's frames). */
function truncated(name: string, description: string, source: Built, length: number): Built {
  const kept = source.frames.filter((f) => f.end <= length);
  const cut = source.frames.find((f) => f.offset < length && f.end > length);
  if (cut === undefined) throw new Error(`${name}: ${length} is not inside a frame`);
  const expected = collect(kept);
  expected.diagnostics.push({ kind: 'truncated', offset: cut.offset, availableBytes: length - cut.offset });
  return {
    vector: { name, category: 'damaged', description, bytes: source.vector.bytes.slice(0, length), derivation: { source: source.vector.name, mutations: [{ op: 'truncate', length }] }, expected },
    frames: kept,
  };
}

/** Flips one bit inside frame `frameIndex`; the frame is lost and reported as corrupt. */
function flipped(name: string, description: string, source: Built, byte: number, bit: number, reason: string): Built {
  const bytes = source.vector.bytes.slice();
  bytes[byte]! ^= 1 << bit;
  const frames = source.frames.map((f, i) => {
    if (byte < f.offset || byte >= f.end) return f;
    const next = source.frames[i + 1];
    if (next === undefined) throw new Error(`${name}: flip a bit in a frame that has a good frame after it`);
    return { ...f, headers: [], records: [], diagnostics: [{ kind: 'corrupt-frame', offset: f.offset, reason, skippedBytes: next.offset - f.offset } as TraceDiagnostic] };
  });
  return {
    vector: { name, category: 'damaged', description, bytes, derivation: { source: source.vector.name, mutations: [{ op: 'flipBit', byte, bit }] }, expected: collect(frames) },
    frames,
  };
}

function unknownTypes(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader());
  b.frame(1, 0, [
    r('pollStart', 10, {}),
    { raw: { type: 30, timeNs: 20, fields: [7, 300] } },
    r('pollEnd', 30, { blockedNs: 5, events: 1, eventsWaiting: 0 }),
    { raw: { type: 30, timeNs: 40, fields: [] } },
    { raw: { type: 40, timeNs: 50, fields: [5] } },
    { raw: { type: 33, timeNs: 60, contentHex: 'deadbeef' } },
    { raw: { type: 27, timeNs: 70, contentHex: toHex(Uint8Array.from(utf8('hello'))) } },
    { raw: { type: 23, timeNs: 75, fields: [1, 2, 3, 4, 5, 6] } },
    { raw: { type: 2, timeNs: 80, fields: [100, 2, 1, 99, 98] }, decodesAs: r('pollEnd', 80, { blockedNs: 100, events: 2, eventsWaiting: 1 }) },
    { raw: { type: 12, timeNs: 90, fields: [3, zz(-2), 77] }, decodesAs: r('mark', 90, { nameStringId: 3, value: -2 }) },
    { raw: { type: 1, timeNs: 95, fields: [4] }, decodesAs: r('pollStart', 95, {}) },
    { raw: { type: 24, timeNs: 96, contentHex: toHex(Uint8Array.from([9, ...utf8('x'), 0xff])) }, decodesAs: r('stringDef', 96, { stringId: 9, value: 'x\ufffd' }) },
    { raw: { type: 26, timeNs: 97, contentHex: '05' + '11'.repeat(16) + '22'.repeat(8) + '33'.repeat(8) + '01' + 'abcd' }, decodesAs: r('traceContext', 97, { operationId: 5, traceId: '11'.repeat(16), spanId: '22'.repeat(8), parentSpanId: '33'.repeat(8), traceFlags: 1 }) },
    r('queueSample', 100, { activeHandles: 1, activeRequests: 2, eventsWaiting: 3 }),
  ]);
  return fromBuilder(
    'unknown-types',
    'forward-compat',
    'Records a newer minor version could write, mixed with known ones: counted type 30 (twice: reported once), extended types via code 31 (type 40 counted, type 33 shape 7), unknown shape-7 type 27, counted type 23 with six fields, known types with extra trailing fields (POLL_END with 5 fields, MARK with 3, POLL_START with 1), STRING_DEF with an invalid UTF-8 byte (decoded as U+FFFD) and TRACE_CONTEXT with 2 extra content bytes. Unknown records are skipped by shape and reported once per type at the offset of their first occurrence.',
    b,
  );
}

function unknownFrameKind(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader());
  b.frame(1, 0, [r('pollStart', 1, {})]);
  b.rawFrame(3, [1, 2, 3], 'frame kind 3: unknown, skipped and reported');
  b.frame(1, 10, [r('pollEnd', 12, { blockedNs: 2, events: 0, eventsWaiting: 0 })]);
  b.rawFrame(0x80, [], 'frame kind 0x80 with empty content: unknown, reported');
  b.rawFrame(3, [4, 5], 'frame kind 3 again: skipped, not reported a second time');
  b.frame(1, 20, [r('pollStart', 20, {})]);
  return fromBuilder('unknown-frame-kind', 'forward-compat', 'Good frames of unknown kinds (3 twice, 0x80) between records frames: skipped, reported once per kind.', b);
}

function unknownHeaderKeys(): Built {
  const b = new Builder();
  b.magic();
  const content = [
    ...varint(1),
    ...varint(3),
    ...entry(16, utf8('future')),
    ...entry(1, [...fromHex(TRACE_B)]),
    ...entry(2, [2, 0xff, 0xff]),
    ...entry(3, [...varint(ORIGIN_MONO), ...varint(ORIGIN_WALL), 0x01]),
    ...entry(4, padded(5, 3)),
    ...entry(300, [1, 2, 3, 4, 5]),
    ...entry(6, utf8('first')),
    ...entry(6, utf8('second')),
    ...entry(10, [...varint(1), ...varint(0), ...varint(0), ...utf8('main')]),
    ...entry(2n ** 60n, []),
    ...entry(5, [...varint(99), 0x80]),
  ];
  const header: TraceHeader = {
    formatMajor: 1,
    formatMinor: 3,
    traceId: TRACE_B,
    fileIndex: 2,
    originMonoNs: ORIGIN_MONO,
    originWallUnixNs: ORIGIN_WALL,
    fileStartNs: 5,
    hostname: 'second',
    pid: 99,
    threads: [mainThread()],
  };
  b.rawFrame(FrameKind.Header, content, 'header of version 1.3 written by hand', { header });
  b.frame(1, 5, [r('pollStart', 6, {})]);
  return fromBuilder(
    'unknown-header-keys',
    'forward-compat',
    'A header of version 1.3 (a newer minor: read normally) written by hand: unknown keys 16, 300 (two-byte key) and 2^60 (a 9-byte key varint) are skipped; known entries with extra bytes (fileIndex, clockAnchor, pid) keep their leading fields; fileStartNs is a padded varint; hostname appears twice and the last wins.',
    b,
  );
}

function unsupportedVersion(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader({ formatMajor: 2, formatMinor: 1 }), { decodes: false, diagnostics: [{ kind: 'unsupported-version', offset: 0, formatMajor: 2, formatMinor: 1 }] });
  b.frame(1, 0, [r('pollStart', 1, {})], { decodes: false });
  b.rawFrame(0x09, [1], 'a frame of unknown kind inside the version-2 file: skipped without a report', { diagnostics: [] });
  b.magic();
  b.header(minimalHeader({ fileIndex: 1 }));
  b.frame(1, 100, [r('pollStart', 101, {})]);
  const built = fromBuilder(
    'unsupported-version',
    'invalid',
    'A file of format 2.1 (refused: unsupported-version, its frames are skipped up to the next magic) followed by a concatenated file of format 1.1, which decodes.',
    b,
  );
  // The frame of kind 9 sits in the skipped file: the decoder does not look at it.
  for (const f of built.frames) f.diagnostics = f.diagnostics.filter((d) => d.kind !== 'unknown-frame-kind');
  built.vector.expected = collect(built.frames);
  return built;
}

function malformedBody(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader());
  b.frame(1, 0, [r('pollStart', 1, {})]);
  const content = [...varint(1), ...varint(10), 0x01, 0x05, 0x42, 0x02, 0x07, 0x03, 0x00, 0x01, 0x01, 0x00];
  b.rawFrame(FrameKind.Records, content, 'thread 1, base 10: POLL_START dt 5, POLL_END dt 2 blockedNs 7 events 3, then a tag of reserved type 0 and a POLL_START that is not read', {
    records: [r('pollStart', 15, {}), r('pollEnd', 17, { blockedNs: 7, events: 3, eventsWaiting: 0 })].map((x) => ({ ...x, threadId: 1 })),
    diagnostics: [{ kind: 'corrupt-frame', offset: 0, reason: 'malformed frame: record type 0 is reserved', skippedBytes: 0 }],
  });
  b.rawFrame(FrameKind.Records, [...varint(1), ...varint(20), 0x21, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'thread 1, base 20: POLL_START whose field is a 9-byte varint', {
    diagnostics: [{ kind: 'corrupt-frame', offset: 0, reason: 'malformed frame: bad record field', skippedBytes: 0 }],
  });
  b.rawFrame(FrameKind.Records, [...varint(1), ...varint(30), 0xe1, 0x00, 0x05, 0x01], 'thread 1, base 30: a shape-7 POLL_START whose length (5) runs past the end of the frame', {
    diagnostics: [{ kind: 'corrupt-frame', offset: 0, reason: 'malformed frame: definition runs past the end of the frame', skippedBytes: 0 }],
  });
  b.rawFrame(FrameKind.Records, [...varint(0), ...varint(40), 0xf9, 0x00, 0x03, 0x01, 0x05, 0x01], 'process stream, base 40: a STACK_DEF (id 1) that claims 5 frames in 1 byte', {
    diagnostics: [{ kind: 'corrupt-frame', offset: 0, reason: 'malformed frame: definition of type 25 is cut short', skippedBytes: 0 }],
  });
  b.frame(1, 50, [r('pollStart', 50, {})]);
  return fromBuilder(
    'malformed-body',
    'invalid',
    'Records frames with a good checksum but a malformed body: records before the fault stand, the rest of the frame is skipped, and decoding goes on with the next frame. Faults: reserved type 0, a 9-byte varint, a definition running past the frame, a STACK_DEF cut short.',
    b,
  );
}

function lenientEncodings(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader());
  const content = [
    ...padded(1, 2),
    ...padded(100, 3),
    0x01,
    ...padded(5, 2),
    0x62,
    0x00,
    ...padded(7, 8),
    0x00,
    0x00,
    0xc4,
    ...padded(0, 8),
    ...padded(1, 4),
    ...varint(2 ** 53 - 1),
    0x00,
    0x00,
    0x00,
    0x00,
  ];
  b.rawFrame(FrameKind.Records, content, 'thread 1 (padded), base 100 (padded): POLL_START with a padded dt, POLL_END with explicit zero fields and an 8-byte padded blockedNs, QUEUE_SAMPLE with six fields (padded)', {
    records: [
      r('pollStart', 105, {}),
      r('pollEnd', 105, { blockedNs: 7, events: 0, eventsWaiting: 0 }),
      r('queueSample', 105, { activeHandles: 1, activeRequests: 2 ** 53 - 1, eventsWaiting: 0 }),
    ].map((x) => ({ ...x, threadId: 1 })),
  });
  return fromBuilder(
    'lenient-encodings',
    'forward-compat',
    'Encodings an encoder MUST NOT write but a decoder SHOULD accept: padded varints (up to the 8-byte limit) for thread id, base time, dt and fields, and trailing fields written as explicit zeros.',
    b,
  );
}

function misplacedHeader(): Built {
  const b = new Builder();
  b.magic();
  b.header(minimalHeader());
  b.frame(1, 0, [r('pollStart', 1, {})]);
  const again = b.header(minimalHeader({ fileIndex: 5 }), { decodes: false });
  again.diagnostics.push({ kind: 'misplaced-header', offset: again.offset });
  b.frame(1, 10, [r('pollStart', 11, {})]);
  return fromBuilder('misplaced-header', 'invalid', 'A second header frame after a records frame of the same file: reported as misplaced-header and skipped.', b);
}

function headerlessFile(): Built {
  const b = new Builder();
  b.magic();
  const first = b.frame(1, 0, [r('pollStart', 1, {}), r('pollEnd', 2, { blockedNs: 1, events: 0, eventsWaiting: 0 })]);
  first.diagnostics.unshift({ kind: 'malformed-header', offset: first.offset, reason: 'the file has no readable header frame' });
  return fromBuilder('no-header', 'invalid', 'The magic followed directly by a records frame: malformed-header, then the records are read anyway.', b);
}

export function buildVectors(): Vector[] {
  const all = allTypes();
  const r0 = rotated(0);
  const r1 = rotated(1);
  const f2 = all.frames[2]!;
  const f3 = all.frames[3]!;
  const built: Built[] = [
    all,
    trailingZeros(),
    signedValues(),
    bigValues(),
    yearLong(),
    r0,
    r1,
    concatOf('rotated-concat', 'rotated-0 and rotated-1 concatenated (cat trace.*.bin): the second magic starts a new file with its own header.', [r0, r1]),
    truncated('truncated-tail', 'all-types torn in the body of its last frame: the complete frames decode, the last one is reported as truncated.', all, f3.offset + 12 + 5),
    truncated('truncated-frame-header', 'all-types torn inside the 12-byte header of its last frame.', all, f3.offset + 7),
    flipped('flipped-bit', 'all-types with one bit flipped in the body of the thread-1 records frame: that frame is corrupt (checksum mismatch) and skipped; the decoder resyncs and the next frame decodes.', all, f2.offset + 40, 3, 'checksum mismatch'),
    flipped(
      'flipped-length-bit',
      "all-types with bit 3 of the third bodyLength byte of the thread-1 records frame flipped (+2^19, past the end of the input): since a good frame follows, it is corrupt, not truncated.",
      all,
      f2.offset + 6,
      3,
      'frame length runs past the next good frame',
    ),
    unknownTypes(),
    unknownFrameKind(),
    unknownHeaderKeys(),
    unsupportedVersion(),
    malformedBody(),
    lenientEncodings(),
    misplacedHeader(),
    headerlessFile(),
  ];
  return built.map((b) => b.vector);
}

// ---------------------------------------------------------------------------------------------
// JSON

/** Converts bigints to decimal strings and byte arrays to hex, for the .json files. */
export function toJsonValue(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Uint8Array) return toHex(v);
      return v;
    }),
  );
}

/** The .json document of a vector. */
export function vectorJson(v: Vector): unknown {
  const doc: Record<string, unknown> = {
    name: v.name,
    category: v.category,
    description: v.description,
    file: `${v.name}.bin`,
    size: v.bytes.length,
  };
  if (v.steps !== undefined) {
    doc['encode'] = {
      steps: v.steps.map((s) => {
        if (s.op === 'frame') return { ...s, records: s.records.map(stripThread) };
        if (s.op === 'rawFrame') {
          return { op: s.op, kind: s.kind, contentHex: toHex(s.content), note: s.note, ...(s.decodesAs === undefined ? {} : { decodesAs: s.decodesAs }), span: s.span };
        }
        return s;
      }),
    };
  }
  if (v.derivation !== undefined) doc['derivation'] = v.derivation;
  doc['expected'] = v.expected;
  return toJsonValue(doc);
}

function stripThread(item: FrameItem): unknown {
  if ('raw' in item) return item.decodesAs === undefined ? item : { ...item, decodesAs: withoutThread(item.decodesAs) };
  return withoutThread(item);
}

function withoutThread(rec: TraceRecord): Record<string, unknown> {
  const { threadId: _threadId, ...rest } = rec;
  return rest;
}
