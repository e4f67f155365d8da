// Round-trip properties: whatever the encoder writes, every way of reading it gives back the same
// records and headers: bytes in memory, a file, a Node stream, and a shuffled set of rotated files.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, test } from 'vitest';
import {
  FORMAT_MINOR,
  TraceDecoder,
  TraceEncoder,
  TraceFormatError,
  copyRecord,
  decodeBytes,
  decodeFile,
  decodeFiles,
  decodeStream,
  encodeTrace,
  orderTraceFiles,
  type FrameSpec,
  type SourcedDiagnostic,
  type TraceHeader,
  type TraceRecord,
  type TraceSpec,
} from '../src/format/index.js';
import { ALL_TYPE_NAMES, Rng, randomDt, randomHeader, randomRecord, randomTrace, specRecords } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'looptrace-roundtrip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function expectedHeader(spec: TraceSpec): TraceHeader {
  return { formatMajor: 1, formatMinor: FORMAT_MINOR, ...spec.header };
}

function collector() {
  const out = { records: [] as TraceRecord[], headers: [] as TraceHeader[], diagnostics: [] as SourcedDiagnostic[] };
  return {
    out,
    callbacks: {
      onRecord: (r: TraceRecord) => out.records.push(copyRecord(r)),
      onHeader: (h: TraceHeader) => out.headers.push(h),
      onDiagnostic: (d: SourcedDiagnostic) => out.diagnostics.push(d),
    },
  };
}

/** Random per-thread record streams, split into frames at random points. */
function randomSplitTrace(rng: Rng): { spec: TraceSpec; stream: TraceRecord[] } {
  const threads = [0, 1, 2, 3, 40, 2 ** 20];
  const streams = new Map<number, TraceRecord[]>();
  for (const threadId of threads) {
    let t = rng.bool(0.2) ? 0 : rng.int(2 ** 40);
    const records: TraceRecord[] = [];
    const n = rng.int(60);
    for (let i = 0; i < n; i++) {
      t += rng.bool(0.3) ? 0 : randomDt(rng);
      records.push({ ...randomRecord(rng, rng.pick(ALL_TYPE_NAMES), t), threadId });
    }
    streams.set(threadId, records);
  }
  // Interleave frames of different threads; each thread's frames stay in time order.
  const frames: FrameSpec[] = [];
  const cursors = new Map(threads.map((t) => [t, 0]));
  for (;;) {
    const live = threads.filter((t) => cursors.get(t)! < streams.get(t)!.length);
    if (live.length === 0) break;
    const threadId = rng.pick(live);
    const records = streams.get(threadId)!;
    const from = cursors.get(threadId)!;
    // Now and then an empty frame (0 records).
    const to = Math.min(records.length, from + rng.range(rng.bool(0.1) ? 0 : 1, 15));
    cursors.set(threadId, to);
    const first = records[from]!;
    const base = first.timeNs - (rng.bool(0.5) ? 0 : rng.int(Math.min(first.timeNs, 1000) + 1));
    frames.push({ threadId, baseTimeNs: base, records: records.slice(from, to) });
  }
  const spec: TraceSpec = { header: randomHeader(rng), frames };
  return { spec, stream: specRecords(spec) };
}

describe('encode then decode', () => {
  test('random traces of every record type decode to exactly what was written', () => {
    const rng = new Rng(1);
    for (let i = 0; i < 400; i++) {
      const { spec, bytes } = randomTrace(rng, { frames: rng.int(8), maxRecordsPerFrame: 30 });
      const d = decodeBytes(bytes);
      expect(d.diagnostics).toEqual([]);
      expect(d.headers).toEqual([expectedHeader(spec)]);
      expect(d.records).toEqual(specRecords(spec));
    }
  });

  test('random frame splits, thread ids and dt patterns (zero included)', () => {
    const rng = new Rng(2);
    for (let i = 0; i < 100; i++) {
      const { spec, stream } = randomSplitTrace(rng);
      const d = decodeBytes(encodeTrace(spec));
      expect(d.diagnostics).toEqual([]);
      expect(d.records).toEqual(stream);
    }
  });

  test('every field at its boundary values', () => {
    const boundaries = [0, 1, 127, 128, 16383, 16384, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1];
    const signedBoundaries = [0, -1, 1, -64, -65, 2 ** 31, -(2 ** 32), 2 ** 51, -(2 ** 51)];
    const records: TraceRecord[] = [];
    let t = 0;
    for (const name of ALL_TYPE_NAMES) {
      const template = randomRecord(new Rng(3), name, 0) as unknown as Record<string, unknown>;
      const numeric = Object.keys(template).filter((k) => typeof template[k] === 'number' && k !== 'timeNs' && k !== 'threadId' && k !== 'traceFlags');
      for (const k of numeric) {
        const signed = (name === 'mark' && k === 'value') || (name === 'clockSync' && k === 'wallOffsetNs');
        for (const v of signed ? signedBoundaries : boundaries) {
          records.push({ ...template, [k]: v, timeNs: t, threadId: 9 } as unknown as TraceRecord);
          t += 1;
        }
      }
    }
    const spec: TraceSpec = { header: randomHeader(new Rng(4)), frames: [{ threadId: 9, baseTimeNs: 0, records }] };
    const d = decodeBytes(encodeTrace(spec));
    expect(d.diagnostics).toEqual([]);
    expect(d.records).toEqual(records);
  });

  test('strings: random UTF-8 with non-BMP characters, long ones, empty ones', () => {
    const rng = new Rng(5);
    const values = ['', 'a', '😀', '\u{10ffff}', 'é'.repeat(200), '日本語テキスト', 'x'.repeat(70_000), '\u0000\u0001'];
    const e = new TraceEncoder();
    e.writeMagic();
    e.writeHeader(randomHeader(rng));
    e.beginFrame(0, 0);
    values.forEach((v, i) => e.stringDef(i, i + 1, v));
    e.endFrame();
    const decoder = new TraceDecoder();
    decoder.push(e.take());
    decoder.end();
    expect(values.map((_, i) => decoder.strings.get(i + 1))).toEqual(values);
  });
});

describe('the other ways in', () => {
  test('decodeFile: any chunk size gives the decodeBytes result', async () => {
    const rng = new Rng(6);
    for (let i = 0; i < 20; i++) {
      const { bytes } = randomTrace(rng, { frames: rng.range(1, 6) });
      const expected = decodeBytes(bytes);
      const path = join(dir, `file-${i}.bin`);
      writeFileSync(path, bytes);
      const { out, callbacks } = collector();
      await decodeFile(path, callbacks, { chunkBytes: rng.pick([1, 7, 64, 4096, 1 << 20]) });
      expect(out).toEqual(expected);
    }
  });

  test('decodeFile of a damaged file reports what decodeBytes does', async () => {
    const { bytes } = randomTrace(new Rng(7), { frames: 4, maxRecordsPerFrame: 10 });
    const damaged = bytes.slice(0, bytes.length - 3);
    damaged[40]! ^= 0x08;
    const path = join(dir, 'damaged.bin');
    writeFileSync(path, damaged);
    const { out, callbacks } = collector();
    await decodeFile(path, callbacks, { chunkBytes: 5 });
    expect(out).toEqual(decodeBytes(damaged));
    expect(out.diagnostics.length).toBeGreaterThan(0);
  });

  test('decodeFile errors are TraceFormatErrors that name the path', async () => {
    await expect(decodeFile(join(dir, 'missing.bin'), {})).rejects.toThrow(/cannot read trace file .*missing\.bin: no such file/);
    await expect(decodeFile(dir, {})).rejects.toBeInstanceOf(TraceFormatError);
    await expect(decodeFile('', {})).rejects.toThrow(TraceFormatError);
    await expect(decodeFile(join(dir, 'file-0.bin'), {}, { chunkBytes: 0 })).rejects.toThrow(/chunkBytes must be an integer/);
  });

  test('decodeStream: a Readable of random chunks gives the decodeBytes result', async () => {
    const rng = new Rng(8);
    for (let i = 0; i < 30; i++) {
      const { bytes } = randomTrace(rng, { frames: rng.range(1, 6) });
      const chunks: Buffer[] = [];
      for (let at = 0; at < bytes.length; ) {
        const n = Math.min(bytes.length - at, rng.range(1, 200));
        chunks.push(Buffer.from(bytes.subarray(at, at + n)));
        at += n;
      }
      const { out, callbacks } = collector();
      const decoder = await decodeStream(Readable.from(chunks), callbacks);
      expect(out).toEqual(decodeBytes(bytes));
      expect(decoder.stats.bytes).toBe(bytes.length);
    }
  });

  test('push() keeps nothing of the caller\'s chunk: one buffer, refilled and detached after each push (a BYOB reader), decodes as decodeBytes', () => {
    const rng = new Rng(81);
    for (let i = 0; i < 30; i++) {
      const { bytes } = randomTrace(rng, { frames: rng.range(1, 6) });
      const { out, callbacks } = collector();
      const decoder = new TraceDecoder(callbacks);
      let buffer = new ArrayBuffer(256);
      for (let at = 0; at < bytes.length; ) {
        const n = Math.min(bytes.length - at, rng.range(1, 256));
        const piece = new Uint8Array(buffer, 0, n);
        piece.set(bytes.subarray(at, at + n));
        decoder.push(piece);
        // Detach the piece's memory, as a BYOB read does with the view it is given.
        buffer = structuredClone(buffer, { transfer: [buffer] });
        expect(piece.length).toBe(0);
        at += n;
      }
      decoder.end();
      expect(out).toEqual(decodeBytes(bytes));
    }
  });

  test('decodeStream refuses a stream of strings', async () => {
    await expect(decodeStream(Readable.from(['abc']), {})).rejects.toThrow(/needs a byte stream/);
  });
});

describe('rotated files', () => {
  const traceId = 'c0ffee00c0ffee00c0ffee00c0ffee00';
  const origin = { originMonoNs: 5_000_000n, originWallUnixNs: 1_720_000_000_000_000_000n };

  /** File i of a trace: repeats the live definitions, one thread starts in file 1. */
  function rotatedFile(i: number, rng: Rng): TraceSpec {
    const start = i * 1_000_000;
    const threads = [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }];
    if (i >= 2) threads.push({ threadId: 2, nodeThreadId: 1, kind: 1, name: 'worker' });
    const frames: FrameSpec[] = [
      {
        threadId: 0,
        baseTimeNs: start,
        records: [
          { type: 'stringDef', threadId: 0, timeNs: start, stringId: 1, value: 'TCPWRAP' },
          { type: 'stringDef', threadId: 0, timeNs: start, stringId: 2, value: `file ${i}` },
          { type: 'stackDef', threadId: 0, timeNs: start, stackId: 1, frames: [{ functionNameStringId: 1, scriptStringId: 2, line: i, column: 1 }] },
        ],
      },
    ];
    let t = start + 10;
    const loop: TraceRecord[] = [];
    for (let k = 0; k < 20; k++) {
      loop.push({ type: 'pollStart', threadId: 1, timeNs: (t += rng.int(1000)) });
      loop.push({ type: 'pollEnd', threadId: 1, timeNs: (t += rng.int(1000)), blockedNs: rng.int(900), events: rng.int(3), eventsWaiting: 0 });
    }
    frames.push({ threadId: 1, baseTimeNs: start + 10, records: loop });
    if (i === 1) {
      frames.push({ threadId: 2, baseTimeNs: start + 500, records: [{ type: 'threadStart', threadId: 2, timeNs: start + 500, nodeThreadId: 1, nameStringId: 2, kind: 1 }] });
    }
    return { header: { traceId, fileIndex: i, ...origin, fileStartNs: start, threads }, frames };
  }

  test('decodeFiles reads shuffled rotated files in fileIndex order; diagnostics carry their source', async () => {
    const rng = new Rng(9);
    const specs = [0, 1, 2, 3, 4].map((i) => rotatedFile(i, rng));
    const paths = specs.map((_, i) => join(dir, `rotated.${i}.bin`));
    specs.forEach((spec, i) => {
      let bytes = encodeTrace(spec);
      if (i === 3) bytes = bytes.slice(0, bytes.length - 4); // file 3 was torn
      writeFileSync(paths[i]!, bytes);
    });
    const torn = decodeBytes(new Uint8Array(encodeTrace(specs[3]!).slice(0, -4)));
    for (let round = 0; round < 5; round++) {
      const shuffled = [...paths];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [shuffled[i], shuffled[j]] = [shuffled[j]!, shuffled[i]!];
      }
      const { out, callbacks } = collector();
      const files: string[] = [];
      const decoder = await decodeFiles(shuffled, { ...callbacks, onFile: (f) => files.push(f.path) }, { chunkBytes: rng.pick([3, 100, 1 << 16]) });
      expect(files).toEqual(paths);
      expect(out.headers.map((h) => h.fileIndex)).toEqual([0, 1, 2, 3, 4]);
      const expected = specs.flatMap((s, i) => (i === 3 ? torn.records : specRecords(s)));
      expect(out.records).toEqual(expected);
      expect(out.diagnostics).toEqual([{ kind: 'truncated', offset: torn.diagnostics[0]!.offset, availableBytes: (torn.diagnostics[0] as { availableBytes: number }).availableBytes, source: paths[3] }]);
      // One decoder across the files: the thread that started in file 1 is known, and so are the definitions.
      expect(decoder.threads.get(2)).toEqual({ threadId: 2, nodeThreadId: 1, kind: 1, name: 'worker' });
      expect(decoder.strings.get(2)).toBe('file 4');
      expect(decoder.header?.fileIndex).toBe(4);
    }
  });

  test('orderTraceFiles groups traces by origin, then file index; unreadable headers go last', async () => {
    const early = (i: number): TraceSpec => ({
      header: { traceId: 'aa'.repeat(16), fileIndex: i, originMonoNs: 1n, originWallUnixNs: 1_000n, fileStartNs: i, threads: [] },
      frames: [],
    });
    const late = (i: number): TraceSpec => ({
      header: { traceId: '00'.repeat(16), fileIndex: i, originMonoNs: 1n, originWallUnixNs: 2_000n, fileStartNs: i, threads: [] },
      frames: [],
    });
    const files: [string, Uint8Array][] = [
      ['late-1.bin', encodeTrace(late(1))],
      ['junk.bin', new TextEncoder().encode('not a trace at all')],
      ['early-1.bin', encodeTrace(early(1))],
      ['late-0.bin', encodeTrace(late(0))],
      ['early-0.bin', encodeTrace(early(0))],
      ['empty.bin', new Uint8Array(0)],
    ];
    for (const [name, bytes] of files) writeFileSync(join(dir, name), bytes);
    const ordered = await orderTraceFiles(files.map(([name]) => join(dir, name)));
    expect(ordered.map((f) => f.path.slice(dir.length + 1))).toEqual(['early-0.bin', 'early-1.bin', 'late-0.bin', 'late-1.bin', 'junk.bin', 'empty.bin']);
  });
});

describe('decoder tables', () => {
  const header = (traceId: string, threads: TraceSpec['header']['threads']): TraceSpec['header'] => ({
    traceId,
    fileIndex: 0,
    originMonoNs: 1n,
    originWallUnixNs: 2n,
    fileStartNs: 0,
    threads,
  });

  test('threads, strings and stacks come from the header, THREAD_START and definitions', () => {
    const spec: TraceSpec = {
      header: header('11'.repeat(16), [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }]),
      frames: [
        {
          threadId: 0,
          baseTimeNs: 0,
          records: [
            { type: 'stringDef', threadId: 0, timeNs: 0, stringId: 7, value: 'w-7' },
            { type: 'stackDef', threadId: 0, timeNs: 0, stackId: 3, frames: [{ functionNameStringId: 7, scriptStringId: 7, line: 1, column: 2 }] },
          ],
        },
        { threadId: 4, baseTimeNs: 10, records: [{ type: 'threadStart', threadId: 4, timeNs: 10, nodeThreadId: 3, nameStringId: 7, kind: 1 }] },
        { threadId: 5, baseTimeNs: 10, records: [{ type: 'threadStart', threadId: 5, timeNs: 10, nodeThreadId: 4, nameStringId: 99, kind: 1 }] },
      ],
    };
    const decoder = new TraceDecoder();
    decoder.push(encodeTrace(spec));
    decoder.end();
    expect(Object.fromEntries(decoder.threads)).toEqual({
      1: { threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' },
      4: { threadId: 4, nodeThreadId: 3, kind: 1, name: 'w-7' },
      // A name that was never defined: the bare id is all there is.
      5: { threadId: 5, nodeThreadId: 4, kind: 1, name: '' },
    });
    expect(Object.fromEntries(decoder.strings)).toEqual({ 7: 'w-7' });
    expect(Object.fromEntries(decoder.stacks)).toEqual({ 3: [{ functionNameStringId: 7, scriptStringId: 7, line: 1, column: 2 }] });
  });

  test('the tables carry over between files of one trace and are reset when the traceId changes', () => {
    const def = (id: number, value: string): FrameSpec => ({ threadId: 0, baseTimeNs: 0, records: [{ type: 'stringDef', threadId: 0, timeNs: 0, stringId: id, value }] });
    const a0 = encodeTrace({ header: header('aa'.repeat(16), [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }]), frames: [def(1, 'one')] });
    const a1 = encodeTrace({ header: { ...header('aa'.repeat(16), [{ threadId: 2, nodeThreadId: 1, kind: 1, name: 'w' }]), fileIndex: 1 }, frames: [def(2, 'two')] });
    const b0 = encodeTrace({ header: header('bb'.repeat(16), [{ threadId: 3, nodeThreadId: 0, kind: 0, name: 'other' }]), frames: [def(3, 'three')] });
    for (const separateInputs of [false, true]) {
      const decoder = new TraceDecoder();
      const feed = (bytes: Uint8Array) => {
        decoder.push(bytes);
        if (separateInputs) decoder.end();
      };
      feed(a0);
      feed(a1);
      expect([...decoder.strings.keys()].sort()).toEqual([1, 2]);
      expect([...decoder.threads.keys()].sort()).toEqual([1, 2]);
      feed(b0);
      if (!separateInputs) decoder.end();
      expect([...decoder.strings.keys()]).toEqual([3]);
      expect([...decoder.threads.keys()]).toEqual([3]);
      expect(decoder.header?.traceId).toBe('bb'.repeat(16));
    }
  });
});
