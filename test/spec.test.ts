// Edge cases of docs/FORMAT.md, section by section. Bytes are mostly built by hand (test/helpers.ts)
// so that the decoder is tested against the spec rather than against the encoder.

import { describe, expect, test } from 'vitest';
import {
  COUNTED_TYPES,
  FILE_MAGIC,
  FORMAT_MINOR,
  FRAME_SYNC,
  MAX_FRAME_BODY_BYTES,
  TraceDecoder,
  TraceEncoder,
  TraceFormatError,
  crc32c,
  decodeBytes,
  describeDiagnostic,
  encodeTrace,
  zigzag,
  type TraceDiagnostic,
  type TraceHeaderInit,
  type TraceRecord,
} from '../src/format/index.js';
import {
  TRACE_ID,
  blob,
  concat,
  decodeChunked,
  entry,
  fileStart,
  frame,
  headerContent,
  headerFrame,
  kinds,
  paddedVarint,
  rec,
  recordsFrame,
  u32le,
  utf8,
  varint,
  zz,
} from './helpers.js';

const dec = (...parts: (Uint8Array | readonly number[])[]) => decodeBytes(concat(...parts));
/** Offset of the first frame after fileStart(). */
const H = fileStart().length;

function header(extra: Partial<TraceHeaderInit> = {}): TraceHeaderInit {
  return { traceId: TRACE_ID, fileIndex: 0, originMonoNs: 1000n, originWallUnixNs: 1_700_000_000_000_000_000n, fileStartNs: 0, threads: [], ...extra };
}

/** Encodes one frame of records with the real encoder and returns its body content after the kind byte. */
function encodedFrame(threadId: number, baseTimeNs: number, write: (e: TraceEncoder) => void): Uint8Array {
  const e = new TraceEncoder();
  e.beginFrame(threadId, baseTimeNs);
  write(e);
  e.endFrame();
  return e.take();
}

function onlyRecord(bytes: Uint8Array): TraceRecord {
  const d = decodeBytes(concat(fileStart(), bytes));
  expect(d.diagnostics).toEqual([]);
  expect(d.records).toHaveLength(1);
  return d.records[0]!;
}

// -------------------------------------------------------------------------------------------------
describe('§2 conventions', () => {
  const values = [0, 1, 127, 128, 255, 16383, 16384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 42, 2 ** 49 - 1, 2 ** 49, 2 ** 53 - 1];

  test.each(values)('varint %d: the encoder writes the shortest encoding, the decoder reads it back', (v) => {
    const bytes = encodedFrame(1, 0, (e) => e.counted(5, v, 1, v));
    // tag (shape 1, type 5), dt = v, field = v (dropped when 0); thread id 1 and base 0.
    expect(bytes).toEqual(recordsFrame(1, 0, v === 0 ? [0x05, 0x00] : [0x25, ...varint(v), ...varint(v)]));
    expect(varint(v).length).toBe(Math.max(1, Math.ceil(v.toString(2).length / 7)));
    expect(onlyRecord(bytes)).toEqual({ type: 'threadpoolProbe', threadId: 1, timeNs: v, queueDelayNs: v });
  });

  test('an 8-byte varint of 2^53 - 1 is the largest field value', () => {
    expect(varint(2 ** 53 - 1)).toHaveLength(8);
    expect(onlyRecord(recordsFrame(1, 0, rec(14, 0, 2 ** 53 - 1)))).toMatchObject({ type: 'dropped', droppedRecords: 2 ** 53 - 1 });
  });

  test('a field of 2^53 (an 8-byte varint above 2^53 - 1) makes the frame malformed', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, rec(1, 1), rec(14, 0, 2 ** 53), rec(1, 1)));
    expect(d.records.map((r) => r.type)).toEqual(['pollStart']);
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'malformed frame: bad record field', skippedBytes: 0 }]);
  });

  test('the largest 8-byte varint (2^56 - 1) is malformed too', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, [0x2e, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]));
    expect(kinds(d.diagnostics)).toEqual(['corrupt-frame']);
    expect(d.records).toEqual([]);
  });

  test('a 9-byte varint is malformed even when its value is small (padded)', () => {
    for (const where of ['field', 'dt', 'threadId'] as const) {
      const nine = paddedVarint(1, 9);
      const content =
        where === 'threadId' ? [...nine, 0, 0x01, 0x00] : where === 'dt' ? [1, 0, 0x01, ...nine] : [1, 0, 0x2e, 0x00, ...nine];
      const d = dec(fileStart(), frame(2, content));
      expect(d.records, where).toEqual([]);
      expect(kinds(d.diagnostics), where).toEqual(['corrupt-frame']);
      expect((d.diagnostics[0] as { reason: string }).reason, where).toMatch(/^malformed frame: /);
    }
  });

  // Section 2: a base time is a time since the origin, which may pass 2^53 ns (104 days), so it
  // may take 10 bytes like the header's; an 11-byte one is malformed.
  test('a base time takes up to 10 bytes (padded or not); 11 bytes are malformed', () => {
    const ok = dec(fileStart(), frame(2, [1, ...paddedVarint(1, 10), 0x01, 0x00]));
    expect(kinds(ok.diagnostics)).toEqual([]);
    expect(ok.records).toEqual([{ type: 'pollStart', threadId: 1, timeNs: 1 }]);
    const bad = dec(fileStart(), frame(2, [1, ...paddedVarint(1, 11), 0x01, 0x00]));
    expect(bad.records).toEqual([]);
    expect(kinds(bad.diagnostics)).toEqual(['corrupt-frame']);
  });

  test('padded varints of up to 8 bytes are accepted', () => {
    for (let n = 1; n <= 8; n++) {
      const r = onlyRecord(frame(2, [...paddedVarint(3, n), ...paddedVarint(100, n), 0x2e, ...paddedVarint(5, n), ...paddedVarint(42, n)]));
      expect(r).toEqual({ type: 'dropped', threadId: 3, timeNs: 105, droppedRecords: 42 });
    }
  });

  test('a dt that would take a record past 2^53 - 1 is read as the varint it is (time stays exact within range)', () => {
    const r = onlyRecord(recordsFrame(1, 2 ** 52, rec(1, 2 ** 52 - 1)));
    expect(r.timeNs).toBe(2 ** 53 - 1);
  });

  test('header varints may take 10 bytes and carry values up to 2^64 - 1', () => {
    const bytes = encodeTrace({ header: header({ originMonoNs: 2n ** 64n - 1n, originWallUnixNs: 2n ** 63n }), frames: [] });
    const d = decodeBytes(bytes);
    expect(d.diagnostics).toEqual([]);
    expect(d.headers[0]!.originMonoNs).toBe(2n ** 64n - 1n);
    expect(d.headers[0]!.originWallUnixNs).toBe(2n ** 63n);
    expect(varint(2n ** 64n - 1n)).toHaveLength(10);
  });

  test('a header varint of 2^64 or more is a malformed header', () => {
    const tooBig = [...varint(2n ** 64n), ...varint(1)];
    expect(tooBig.length).toBe(11);
    const d = dec(FILE_MAGIC, headerFrame(headerContent({ omit: [3], extra: [entry(3, tooBig)] })));
    expect(d.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason: 'clockAnchor is cut short' }]);
    const ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]; // 2^70 - 1 in 10 bytes
    const d2 = dec(FILE_MAGIC, headerFrame(headerContent({ omit: [3], extra: [entry(3, [...ten, 0])] })));
    expect(kinds(d2.diagnostics)).toEqual(['malformed-header']);
  });

  test('zigzag maps 0, -1, 1, -2 to 0, 1, 2, 3', () => {
    expect([0, -1, 1, -2, 63, -64, 64, -65].map(zigzag)).toEqual([0, 1, 2, 3, 126, 127, 128, 129]);
    expect(zigzag(2 ** 51)).toBe(2 ** 52);
    expect(zigzag(-(2 ** 51))).toBe(2 ** 52 - 1);
  });

  test('signed fields are zigzag on the wire', () => {
    const bytes = encodedFrame(1, 0, (e) => e.record({ type: 'mark', threadId: 0, timeNs: 0, nameStringId: 1, value: -65 }));
    expect(bytes).toEqual(recordsFrame(1, 0, rec(12, 0, 1, 129)));
    expect(onlyRecord(recordsFrame(0, 0, rec(17, 0, 3)))).toMatchObject({ type: 'clockSync', wallOffsetNs: -2 });
    expect(onlyRecord(recordsFrame(0, 0, rec(17, 0, 2 ** 53 - 1)))).toMatchObject({ wallOffsetNs: -(2 ** 52) });
    expect(onlyRecord(recordsFrame(0, 0, rec(17, 0, 2 ** 53 - 2)))).toMatchObject({ wallOffsetNs: 2 ** 52 - 1 });
  });

  test('strings are UTF-8 without a terminator; the length comes from the entry', () => {
    const value = 'a\u0000é日😀';
    const r = onlyRecord(recordsFrame(0, 0, blob(24, 0, [...varint(7), ...utf8(value)])));
    expect(r).toEqual({ type: 'stringDef', threadId: 0, timeNs: 0, stringId: 7, value });
    expect(encodedFrame(0, 0, (e) => e.stringDef(0, 7, value))).toEqual(recordsFrame(0, 0, blob(24, 0, [...varint(7), ...utf8(value)])));
  });

  test('timeNs is baseTimeNs plus the sum of the dts', () => {
    const d = dec(fileStart(), recordsFrame(1, 1000, rec(1, 0), rec(1, 5), rec(1, 128), rec(1, 0)));
    expect(d.records.map((r) => r.timeNs)).toEqual([1000, 1005, 1133, 1133]);
  });
});

// -------------------------------------------------------------------------------------------------
describe('§3 file layout', () => {
  test('the magic is 89 4C 54 52 41 43 45 0A and the encoder writes it first', () => {
    expect([...FILE_MAGIC]).toEqual([0x89, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 0x0a]);
    const bytes = encodeTrace({ header: header(), frames: [] });
    expect([...bytes.subarray(0, 8)]).toEqual([...FILE_MAGIC]);
    expect([...bytes.subarray(8, 12)]).toEqual([...FRAME_SYNC]);
    expect(bytes[20]).toBe(0x01);
  });

  test('input that does not start with the magic: bad-magic, and frames after it still decode', () => {
    const good = concat(fileStart(), recordsFrame(1, 0, rec(1, 7)));
    const damaged = good.slice();
    damaged.set([0x09, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 0x0a], 0); // high bit stripped
    const d = decodeBytes(damaged);
    expect(d.diagnostics).toEqual([{ kind: 'bad-magic', offset: 0 }]);
    expect(d.headers).toHaveLength(1);
    expect(d.records).toHaveLength(1);
  });

  test('text and short inputs', () => {
    expect(decodeBytes(new TextEncoder().encode('hello, world\n')).diagnostics).toEqual([{ kind: 'bad-magic', offset: 0 }]);
    expect(decodeBytes(Uint8Array.of(1, 2, 3)).diagnostics).toEqual([{ kind: 'bad-magic', offset: 0 }]);
    expect(decodeBytes(new Uint8Array(0)).diagnostics).toEqual([{ kind: 'truncated', offset: 0, availableBytes: 0 }]);
    for (let n = 1; n < 8; n++) {
      expect(decodeBytes(FILE_MAGIC.slice(0, n)).diagnostics, `${n} bytes of magic`).toEqual([{ kind: 'truncated', offset: 0, availableBytes: n }]);
    }
  });

  test('the magic alone: the file is torn where its header frame should be', () => {
    expect(decodeBytes(FILE_MAGIC).diagnostics).toEqual([{ kind: 'truncated', offset: 8, availableBytes: 0 }]);
    // The same at the start of a second, concatenated file.
    const first = concat(fileStart(), recordsFrame(1, 0, rec(1, 1)));
    const d = dec(first, FILE_MAGIC);
    expect(d.diagnostics).toEqual([{ kind: 'truncated', offset: first.length + 8, availableBytes: 0 }]);
    expect(d.records).toHaveLength(1);
  });

  test('after end(), a new input that is not a trace is bad-magic only (nothing left over from the last input)', () => {
    const seen: TraceDiagnostic[] = [];
    const decoder = new TraceDecoder({ onDiagnostic: (d) => seen.push(d) });
    decoder.push(FILE_MAGIC);
    decoder.end();
    decoder.push(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
    decoder.end();
    expect(seen).toEqual([
      { kind: 'truncated', offset: 8, availableBytes: 0 },
      { kind: 'bad-magic', offset: 0 },
    ]);
  });

  test('concatenated files restart the header state: new header, definitions and thread table', () => {
    const a = encodeTrace({
      header: header({ traceId: 'aa'.repeat(16), threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }] }),
      frames: [{ threadId: 0, baseTimeNs: 0, records: [{ type: 'stringDef', threadId: 0, timeNs: 0, stringId: 1, value: 'from a' }] }],
    });
    const b = encodeTrace({
      header: header({ traceId: 'bb'.repeat(16), fileIndex: 0, threads: [{ threadId: 5, nodeThreadId: 3, kind: 1, name: 'w' }] }),
      frames: [{ threadId: 5, baseTimeNs: 10, records: [{ type: 'pollStart', threadId: 5, timeNs: 10 }] }],
    });
    const seen: string[] = [];
    const decoder = new TraceDecoder({ onHeader: (h) => seen.push(h.traceId), onDiagnostic: (x) => seen.push(x.kind) });
    decoder.push(concat(a, b));
    decoder.end();
    // The second header is not misplaced: it follows a magic.
    expect(seen).toEqual(['aa'.repeat(16), 'bb'.repeat(16)]);
    expect(decoder.header!.traceId).toBe('bb'.repeat(16));
    expect([...decoder.strings.keys()]).toEqual([]);
    expect([...decoder.threads.keys()]).toEqual([5]);
  });

  test('a magic right after a frame starts a new file; a header frame there is not misplaced', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, rec(1, 1)), fileStart({ fileIndex: 1 }), recordsFrame(1, 5, rec(1, 1)));
    expect(d.diagnostics).toEqual([]);
    expect(d.headers.map((h) => h.fileIndex)).toEqual([0, 1]);
    expect(d.records.map((r) => r.timeNs)).toEqual([1, 6]);
  });

  describe('§3.2 header frame', () => {
    test('unknown keys are skipped, whatever their size', () => {
      for (const key of [13, 127, 128, 300, 2 ** 40, 2n ** 60n, 2n ** 64n - 1n]) {
        const d = dec(FILE_MAGIC, headerFrame(headerContent({ extra: [entry(key, [1, 2, 3]), entry(5, varint(42))] })), recordsFrame(1, 0, rec(1, 1)));
        expect(d.diagnostics, String(key)).toEqual([]);
        expect(d.headers[0]!.pid, String(key)).toBe(42);
        expect(d.records, String(key)).toHaveLength(1);
      }
    });

    test('a known entry longer than expected: the extra bytes are ignored', () => {
      const d = dec(
        FILE_MAGIC,
        headerFrame([
          1,
          0,
          ...entry(1, [...Buffer.from(TRACE_ID, 'hex'), 0xee, 0xee]),
          ...entry(2, [...varint(7), 0xff]),
          ...entry(3, [...varint(5n), ...varint(6n), 9, 9]),
          ...entry(4, [...varint(300), 0x80]),
          ...entry(12, [...varint(8), 1]),
        ]),
      );
      expect(d.diagnostics).toEqual([]);
      expect(d.headers[0]).toMatchObject({ traceId: TRACE_ID, fileIndex: 7, originMonoNs: 5n, originWallUnixNs: 6n, fileStartNs: 300, threadpoolSize: 8 });
    });

    test.each([
      ['traceId shorter than 16 bytes', entry(1, new Array(15).fill(1)), 1, 'traceId is shorter than 16 bytes'],
      ['empty fileIndex', entry(2, []), 2, 'fileIndex is cut short or too large'],
      ['fileIndex whose varint runs past its value', entry(2, [0x80]), 2, 'fileIndex is cut short or too large'],
      ['clockAnchor with one varint', entry(3, varint(5)), 3, 'clockAnchor is cut short'],
      ['empty fileStartNs', entry(4, []), 4, 'fileStartNs is cut short or too large'],
      ['empty pid', entry(5, []), -1, 'pid is cut short or too large'],
      ['thread entry with two varints', entry(10, [1, 0]), -1, 'a thread entry is cut short'],
      ['empty threadpoolSize', entry(12, []), -1, 'threadpoolSize is cut short or too large'],
    ] as const)('short value: %s is a malformed header', (_name, bad, replaces, reason) => {
      const d = dec(FILE_MAGIC, headerFrame(headerContent({ omit: replaces > 0 ? [replaces] : [], extra: [bad] })), recordsFrame(1, 0, rec(1, 1)));
      expect(d.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason }]);
      // The header is still reported and the file's records still decode.
      expect(d.headers).toHaveLength(1);
      expect(d.records).toHaveLength(1);
    });

    test('an entry whose length runs past the end of the header', () => {
      const d = dec(FILE_MAGIC, headerFrame([...headerContent(), 6, 10, 1, 2]));
      expect(d.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason: 'an entry runs past the end of the header' }]);
      const d2 = dec(FILE_MAGIC, headerFrame([...headerContent(), 6]));
      expect(d2.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason: 'an entry runs past the end of the header' }]);
    });

    test.each([
      [[1], 'traceId'],
      [[2], 'fileIndex'],
      [[3], 'clockAnchor'],
      [[4], 'fileStartNs'],
      [[1, 2, 3, 4], 'traceId, fileIndex, clockAnchor, fileStartNs'],
    ] as const)('missing required entries %j', (omit, names) => {
      const d = dec(FILE_MAGIC, headerFrame(headerContent({ omit })), recordsFrame(1, 0, rec(1, 1)));
      expect(d.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason: `required entries are missing: ${names}` }]);
      expect(d.records).toHaveLength(1);
    });

    test('SHOULD and MAY entries may be missing', () => {
      const d = dec(FILE_MAGIC, headerFrame(headerContent()));
      expect(d.diagnostics).toEqual([]);
      expect(d.headers[0]).toEqual({ formatMajor: 1, formatMinor: 0, traceId: TRACE_ID, fileIndex: 0, originMonoNs: 1000n, originWallUnixNs: 1_700_000_000_000_000_000n, fileStartNs: 0, threads: [] });
    });

    test('a repeated key: the last one wins; thread entries accumulate', () => {
      const d = dec(
        FILE_MAGIC,
        headerFrame(
          headerContent({
            extra: [entry(2, varint(4)), entry(7, utf8('v1')), entry(7, utf8('v2')), entry(10, [1, 0, 0, ...utf8('main')]), entry(10, [2, 1, 1, ...utf8('w')])],
          }),
        ),
      );
      expect(d.diagnostics).toEqual([]);
      expect(d.headers[0]).toMatchObject({ fileIndex: 4, nodeVersion: 'v2' });
      expect(d.headers[0]!.threads).toEqual([
        { threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' },
        { threadId: 2, nodeThreadId: 1, kind: 1, name: 'w' },
      ]);
    });

    test('every header field round-trips through the encoder', () => {
      const h: TraceHeaderInit = header({
        pid: 1,
        hostname: 'h',
        nodeVersion: 'v20.0.0',
        serviceName: 'svc ✓',
        producer: 'looptrace/0.1.0',
        platform: 'linux-arm64',
        threadpoolSize: 128,
        capabilities: 5,
        attributionNote: 'no stacks: the V8 part did not load',
        stackSampling: { thresholdNs: 30_000_000, intervalNs: 10_000_000 },
        threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'x'.repeat(20000) }],
      });
      const d = decodeBytes(encodeTrace({ header: h, frames: [] }));
      expect(d.diagnostics).toEqual([]);
      expect(d.headers).toEqual([{ formatMajor: 1, formatMinor: FORMAT_MINOR, ...h }]);
    });

    test('keys 13-15 (1.1): capabilities, attributionNote and stackSampling, read from hand-made bytes', () => {
      const d = dec(
        FILE_MAGIC,
        headerFrame(headerContent({ minor: 1, extra: [entry(13, varint(3)), entry(14, utf8('gc: off')), entry(15, [...varint(25_000_000), ...varint(10_000_000), 7])] })),
      );
      expect(d.diagnostics).toEqual([]);
      expect(d.headers[0]).toMatchObject({ formatMinor: 1, capabilities: 3, attributionNote: 'gc: off', stackSampling: { thresholdNs: 25_000_000, intervalNs: 10_000_000 } });
    });

    test('a 1.0 header has no capabilities: the field is absent, not 0', () => {
      const d = dec(FILE_MAGIC, headerFrame(headerContent()));
      expect(d.headers[0]!.capabilities).toBeUndefined();
      expect(d.headers[0]!.stackSampling).toBeUndefined();
    });

    test('a stackSampling entry with one varint is cut short: malformed header', () => {
      const d = dec(FILE_MAGIC, headerFrame(headerContent({ minor: 1, extra: [entry(15, varint(25_000_000))] })));
      expect(d.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason: 'stackSampling is cut short or too large' }]);
    });

    test('a header frame with no content at all: the version is cut short', () => {
      const d = dec(FILE_MAGIC, headerFrame([]), recordsFrame(1, 0, rec(1, 1)));
      expect(d.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason: 'the version is cut short' }]);
      expect(d.headers).toEqual([]);
    });

    test.each([0, 2, 3, 127, 128, 2 ** 40])('unsupported major version %d: refused, the file is skipped up to the next magic', (major) => {
      const v2 = concat(FILE_MAGIC, headerFrame(headerContent({ major, minor: 7 })), recordsFrame(1, 0, rec(1, 1)), frame(9, [1]), headerFrame(headerContent()).subarray(0, 0));
      const d = dec(v2, fileStart({ fileIndex: 1 }), recordsFrame(1, 100, rec(1, 1)));
      expect(d.diagnostics).toEqual([{ kind: 'unsupported-version', offset: 8, formatMajor: major, formatMinor: 7 }]);
      expect(d.headers.map((h) => h.fileIndex)).toEqual([1]);
      expect(d.records.map((r) => r.timeNs)).toEqual([101]);
    });

    test('a major version too large for a number (a 10-byte header varint) is unsupported, not read', () => {
      const d = dec(FILE_MAGIC, headerFrame([...varint(2n ** 63n + 1n), 0, ...headerContent().slice(2)]), recordsFrame(1, 0, rec(1, 1)));
      expect(kinds(d.diagnostics)).toEqual(['unsupported-version']);
      expect(d.records).toEqual([]);
    });

    test('a newer minor version is read normally', () => {
      const d = dec(FILE_MAGIC, headerFrame(headerContent({ minor: 99 })), recordsFrame(1, 0, rec(1, 1)));
      expect(d.diagnostics).toEqual([]);
      expect(d.headers[0]!.formatMinor).toBe(99);
      expect(d.records).toHaveLength(1);
    });

    test('a header frame after the first frame of a file is misplaced and skipped', () => {
      const first = concat(fileStart(), recordsFrame(1, 0, rec(1, 1)));
      const d = dec(first, headerFrame(headerContent({ fileIndex: 9 })), recordsFrame(1, 5, rec(1, 1)));
      expect(d.diagnostics).toEqual([{ kind: 'misplaced-header', offset: first.length }]);
      expect(d.headers.map((h) => h.fileIndex)).toEqual([0]);
      expect(d.records).toHaveLength(2);
      // Right after the header is already misplaced.
      const d2 = dec(fileStart(), headerFrame(headerContent()));
      expect(d2.diagnostics).toEqual([{ kind: 'misplaced-header', offset: H }]);
    });

    test('a records frame where the header should be: malformed-header, records still read', () => {
      const d = dec(FILE_MAGIC, recordsFrame(1, 0, rec(1, 1)), recordsFrame(1, 5, rec(1, 1)));
      expect(d.diagnostics).toEqual([{ kind: 'malformed-header', offset: 8, reason: 'the file has no readable header frame' }]);
      expect(d.records).toHaveLength(2);
      // A header after that is misplaced.
      const d2 = dec(FILE_MAGIC, recordsFrame(1, 0, rec(1, 1)), headerFrame(headerContent()));
      expect(kinds(d2.diagnostics)).toEqual(['malformed-header', 'misplaced-header']);
    });

    test('a header frame with a bad checksum: corrupt-frame, then no readable header', () => {
      const hf = headerFrame(headerContent());
      hf[hf.length - 1]! ^= 0x40;
      const d = dec(FILE_MAGIC, hf, recordsFrame(1, 0, rec(1, 1)));
      expect(d.diagnostics).toEqual([
        { kind: 'corrupt-frame', offset: 8, reason: 'checksum mismatch', skippedBytes: hf.length },
        { kind: 'malformed-header', offset: 8 + hf.length, reason: 'the file has no readable header frame' },
      ]);
      expect(d.records).toHaveLength(1);
    });
  });
});

// -------------------------------------------------------------------------------------------------
describe('§4 frames', () => {
  test('CRC-32C check value', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(0))).toBe(0);
    // Continuing over two ranges equals one pass.
    const bytes = Uint8Array.from({ length: 100 }, (_, i) => (i * 37) & 0xff);
    expect(crc32c(bytes, 40, 100, crc32c(bytes, 0, 40))).toBe(crc32c(bytes));
  });

  test('frame layout: sync, bodyLength LE, CRC-32C over bodyLength + body, body = kind + content', () => {
    const bytes = encodedFrame(3, 4, (e) => e.pollStart(5));
    expect([...bytes.subarray(0, 4)]).toEqual([0xf5, 0x4c, 0x54, 0x46]);
    const bodyLength = bytes[4]! | (bytes[5]! << 8) | (bytes[6]! << 16) | (bytes[7]! << 24);
    expect(bodyLength).toBe(bytes.length - 12);
    const crc = (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16) | (bytes[11]! << 24)) >>> 0;
    expect(crc).toBe(crc32c(bytes.subarray(12), 0, bodyLength, crc32c(bytes.subarray(4, 8))));
    expect(crc).toBe(crc32c(concat(bytes.subarray(4, 8), bytes.subarray(12))));
    expect([...bytes.subarray(12)]).toEqual([0x02, 3, 4, 0x01, 1]);
  });

  test('a CRC computed over the body alone (not the length) is a checksum mismatch', () => {
    const body = [2, 1, 0, 0x01, 0x05];
    const bad = frame(2, body.slice(1), { crc: crc32c(Uint8Array.from(body)) });
    const d = dec(fileStart(), bad, recordsFrame(1, 0, rec(1, 1)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'checksum mismatch', skippedBytes: bad.length }]);
    expect(d.records).toHaveLength(1);
  });

  test('bodyLength 0 is corrupt', () => {
    const zero = concat(FRAME_SYNC, u32le(0), u32le(crc32c(u32le(0))));
    const d = dec(fileStart(), zero, recordsFrame(1, 0, rec(1, 1)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: `frame length 0 is outside 1..${MAX_FRAME_BODY_BYTES}`, skippedBytes: 12 }]);
    expect(d.records).toHaveLength(1);
  });

  test('bodyLength above 1 MiB is corrupt, even with a good checksum and the bytes present', () => {
    const content = concat(varint(0), varint(0), blob(24, 0, [...varint(1), ...new Array(MAX_FRAME_BODY_BYTES).fill(0x61)]));
    const big = frame(2, content);
    expect(big.length - 12).toBeGreaterThan(MAX_FRAME_BODY_BYTES);
    const d = dec(fileStart(), big, recordsFrame(1, 0, rec(1, 1)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: `frame length ${big.length - 12} is outside 1..${MAX_FRAME_BODY_BYTES}`, skippedBytes: big.length }]);
    expect(d.records).toEqual([{ type: 'pollStart', threadId: 1, timeNs: 1 }]);
    // A length of 0xFFFFFFFF with no bytes behind it is corrupt too, not truncated.
    const huge = concat(FRAME_SYNC, u32le(0xffffffff), u32le(0));
    expect(kinds(dec(fileStart(), huge).diagnostics)).toEqual(['corrupt-frame']);
  });

  test('a body of exactly 1 MiB is valid', () => {
    const fixed = [...varint(0), ...varint(0), 0xf8, 0x00, ...varint(MAX_FRAME_BODY_BYTES - 8), ...varint(1)];
    const text = MAX_FRAME_BODY_BYTES - 1 - fixed.length;
    const content = concat(fixed, new Uint8Array(text).fill(0x62));
    const f = frame(2, content);
    expect(f.length - 12).toBe(MAX_FRAME_BODY_BYTES);
    const d = dec(fileStart(), f);
    expect(d.diagnostics).toEqual([]);
    expect(d.records).toHaveLength(1);
    expect((d.records[0] as { value: string }).value.length).toBe(text);
  });

  test('the encoder refuses a body above 1 MiB', () => {
    const e = new TraceEncoder();
    e.beginFrame(0, 0);
    e.stringDef(0, 1, 'x'.repeat(MAX_FRAME_BODY_BYTES));
    expect(() => e.endFrame()).toThrow(/exceeds the 1048576-byte limit/);
  });

  test('a frame of unknown kind with a good checksum is skipped and reported once per kind', () => {
    const d = dec(fileStart(), frame(3, [1, 2]), recordsFrame(1, 0, rec(1, 1)), frame(3, []), frame(0xff, [0]), frame(0, [9]));
    const f3 = H;
    const f3b = f3 + 15 + 17;
    expect(d.diagnostics).toEqual([
      { kind: 'unknown-frame-kind', offset: f3, frameKind: 3 },
      { kind: 'unknown-frame-kind', offset: f3b + 13, frameKind: 0xff },
      { kind: 'unknown-frame-kind', offset: f3b + 13 + 14, frameKind: 0 },
    ]);
    expect(d.records).toHaveLength(1);
  });

  describe('§4.1 records frame', () => {
    test('every record belongs to the frame thread; frames decode independently and may overlap in time', () => {
      const d = dec(fileStart(), recordsFrame(1, 100, rec(1, 0), rec(1, 50)), recordsFrame(2, 80, rec(1, 0), rec(1, 40)), recordsFrame(1, 200, rec(1, 0)));
      expect(d.records.map((r) => [r.threadId, r.timeNs])).toEqual([
        [1, 100],
        [1, 150],
        [2, 80],
        [2, 120],
        [1, 200],
      ]);
    });

    test('an empty records frame (thread id and base time only) is fine', () => {
      const d = dec(fileStart(), recordsFrame(4, 123));
      expect(d.diagnostics).toEqual([]);
      expect(d.records).toEqual([]);
    });

    test('a records frame without thread id or base time is malformed', () => {
      expect(dec(fileStart(), frame(2, [])).diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'malformed frame: bad thread id or base time', skippedBytes: 0 }]);
      expect(kinds(dec(fileStart(), frame(2, [1])).diagnostics)).toEqual(['corrupt-frame']);
      expect(kinds(dec(fileStart(), frame(2, [1, 0x80])).diagnostics)).toEqual(['corrupt-frame']);
    });

    test('the process stream is thread 0; large thread ids are varints', () => {
      expect(onlyRecord(recordsFrame(0, 0, rec(17, 0, 2))).threadId).toBe(0);
      expect(onlyRecord(recordsFrame(2 ** 40, 0, rec(1, 0))).threadId).toBe(2 ** 40);
    });
  });
});

// -------------------------------------------------------------------------------------------------
describe('§4.2 resync', () => {
  test('garbage between frames: one corrupt-frame covering it, then the next frame', () => {
    const junk = [0x00, 0x11, 0x22, 0x46, 0x54, 0x4c];
    const first = concat(fileStart(), recordsFrame(1, 0, rec(1, 1)));
    const d = dec(first, junk, recordsFrame(1, 5, rec(1, 1)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: first.length, reason: 'no frame sync where a frame should start', skippedBytes: junk.length }]);
    expect(d.records.map((r) => r.timeNs)).toEqual([1, 6]);
  });

  test('a sync sequence inside a bad frame is a false start that the checksum rejects', () => {
    // A string that contains a frame header with a plausible length.
    const fake = [...FRAME_SYNC, 5, 0, 0, 0, 1, 2, 3, 4, 2, 1, 0, 0x01, 0x00];
    const bad = recordsFrame(0, 0, blob(24, 0, [...varint(1), ...fake]));
    bad[bad.length - 1]! ^= 1; // damage the last byte of the body
    const d = dec(fileStart(), bad, recordsFrame(1, 0, rec(1, 9)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'checksum mismatch', skippedBytes: bad.length }]);
    expect(d.records).toEqual([{ type: 'pollStart', threadId: 1, timeNs: 9 }]);
  });

  test('a whole good frame nested in a definition is not read while the outer frame is good, and surfaces when it is not', () => {
    const inner = recordsFrame(7, 70, rec(1, 0));
    const outer = recordsFrame(0, 0, blob(24, 0, [...varint(1), ...inner]));
    const good = dec(fileStart(), outer);
    expect(good.records.map((r) => r.type)).toEqual(['stringDef']);
    const bad = outer.slice();
    bad[14]! ^= 0x10; // inside the outer body, before the nested frame
    const d = dec(fileStart(), bad);
    // The decoder looks for the next sync after the bad frame's first byte (section 4.2).
    expect(d.records).toEqual([{ type: 'pollStart', threadId: 7, timeNs: 70 }]);
    expect(d.diagnostics[0]).toMatchObject({ kind: 'corrupt-frame', offset: H, reason: 'checksum mismatch' });
  });

  test('consecutive bad frames form one damaged region: one corrupt-frame from the first bad offset', () => {
    const a = recordsFrame(1, 0, rec(1, 5));
    const b = recordsFrame(1, 0, rec(1, 6));
    a[15]! ^= 1;
    b[15]! ^= 1;
    const d = dec(fileStart(), a, b, recordsFrame(1, 0, rec(1, 7)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'checksum mismatch', skippedBytes: a.length + b.length }]);
    expect(d.records.map((r) => r.timeNs)).toEqual([7]);
  });

  test('a magic inside a damaged region starts a new file', () => {
    const d = dec(fileStart(), [1, 2, 3, 4, 5], fileStart({ fileIndex: 1 }), recordsFrame(1, 0, rec(1, 1)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'no frame sync where a frame should start', skippedBytes: 5 }]);
    expect(d.headers.map((h) => h.fileIndex)).toEqual([0, 1]);
    expect(d.records).toHaveLength(1);
  });

  test('a damaged region that spans chunks resumes at the next candidate byte (regression found by fuzzing)', () => {
    // Junk, then a lone magic-first byte at the very end: one-shot and chunked agree.
    const junk = Uint8Array.from({ length: 63 }, (_, i) => (i * 7 + 1) & 0x7f);
    const input = concat(fileStart(), recordsFrame(1, 0, rec(1, 1)), junk, [0x89, 0x8b, 0xfc]);
    const oneShot = decodeBytes(input);
    expect(oneShot.diagnostics).toEqual([
      { kind: 'corrupt-frame', offset: H + 17, reason: 'no frame sync where a frame should start', skippedBytes: 63 },
      { kind: 'truncated', offset: H + 17 + 63, availableBytes: 3 },
    ]);
    for (let size = 1; size <= 40; size++) expect(decodeChunked(input, [size], true), `chunks of ${size}`).toEqual(oneShot);
  });

  test('damage after a bad magic is covered by bad-magic alone', () => {
    const d = dec([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], headerFrame(headerContent()), recordsFrame(1, 0, rec(1, 1)));
    expect(d.diagnostics).toEqual([{ kind: 'bad-magic', offset: 0 }]);
    expect(d.records).toHaveLength(1);
  });
});

// -------------------------------------------------------------------------------------------------
describe('§4.3 truncation', () => {
  const last = recordsFrame(2, 10, rec(2, 1, 5, 6, 7), rec(1, 1));
  const body = concat(fileStart(), recordsFrame(1, 0, rec(1, 1)));

  test('the input ends inside a frame header or body: truncated, no record of that frame', () => {
    for (let n = 1; n < last.length; n++) {
      const d = dec(body, last.subarray(0, n));
      expect(d.diagnostics, `${n}`).toEqual([{ kind: 'truncated', offset: body.length, availableBytes: n }]);
      expect(d.records, `${n}`).toHaveLength(1);
    }
    expect(dec(body, last).diagnostics).toEqual([]);
  });

  test('a length bit flipped upwards with a good frame after it: corrupt, not truncated', () => {
    const damaged = last.slice();
    damaged[6]! ^= 0x01; // +65536: runs past the end of the input
    const d = dec(body, damaged, recordsFrame(1, 50, rec(1, 0)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: body.length, reason: 'frame length runs past the next good frame', skippedBytes: last.length }]);
    expect(d.records.map((r) => r.timeNs)).toEqual([1, 50]);
  });

  test('a length bit flipped downwards: checksum mismatch', () => {
    const damaged = last.slice();
    damaged[4]! ^= 0x02;
    expect(damaged[4]!).toBeLessThan(last[4]!);
    const d = dec(body, damaged, recordsFrame(1, 50, rec(1, 0)));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: body.length, reason: 'checksum mismatch', skippedBytes: last.length }]);
  });

  test('a length bit flipped upwards in the last frame: truncated (nothing good follows)', () => {
    const damaged = last.slice();
    damaged[5]! ^= 0x80;
    const d = dec(body, damaged);
    expect(d.diagnostics).toEqual([{ kind: 'truncated', offset: body.length, availableBytes: last.length }]);
  });

  test('a magic after a frame whose length runs past the end: corrupt, and the new file decodes', () => {
    const damaged = last.slice();
    damaged[6]! ^= 0x01;
    const d = dec(body, damaged, fileStart({ fileIndex: 1 }));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: body.length, reason: 'frame length runs past the next good frame', skippedBytes: last.length }]);
    expect(d.headers).toHaveLength(2);
  });

  test('a corrupt frame followed by a truncated one: both reported', () => {
    const bad = recordsFrame(1, 0, rec(1, 5));
    bad[15]! ^= 1;
    const d = dec(body, bad, last.subarray(0, 20));
    expect(d.diagnostics).toEqual([
      { kind: 'corrupt-frame', offset: body.length, reason: 'checksum mismatch', skippedBytes: bad.length },
      { kind: 'truncated', offset: body.length + bad.length, availableBytes: 20 },
    ]);
  });

  test('a short tail without a sync byte is garbage, not a torn frame', () => {
    const d = dec(body, [0x01, 0x02, 0x03]);
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: body.length, reason: 'no frame sync where a frame should start', skippedBytes: 3 }]);
  });
});

// -------------------------------------------------------------------------------------------------
describe('§4.4 corrupt frames', () => {
  test('a checksum mismatch: no records from the frame', () => {
    const f = recordsFrame(1, 0, rec(1, 1), rec(1, 2), rec(1, 3));
    f[f.length - 1]! ^= 0x02;
    const d = dec(fileStart(), f);
    expect(d.records).toEqual([]);
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'checksum mismatch', skippedBytes: f.length }]);
  });

  // Malformed bodies with a good checksum (built by hand): the records before the fault stand.
  const ok = rec(2, 3, 4, 5);
  test.each([
    ['reserved type 0', [0x00, 0x00], 'record type 0 is reserved'],
    ['reserved type 0 with shape 7', [0xe0, 0x00, 0x00], 'record type 0 is reserved'],
    ['a field past the end of the body', [0x62, 0x00, 0x01], 'bad record field'],
    ['a field varint cut by the end of the body', [0x21, 0x00, 0x80], 'bad record field'],
    ['a 9-byte field varint', [0x21, 0x00, ...paddedVarint(0, 9)], 'bad record field'],
    ['a field above 2^53 - 1', [0x21, 0x00, ...varint(2 ** 53)], 'bad record field'],
    ['a missing dt', [0x01], 'bad time delta'],
    ['a dt above 2^53 - 1', [0x01, ...varint(2 ** 53 + 2)], 'bad time delta'],
    ['an extended type varint cut short', [0x1f], 'bad extended record type'],
    ['an extended type varint of 9 bytes', [0x1f, ...paddedVarint(1, 9), 0x00], 'bad extended record type'],
    ['a definition length past the end', [0xf8, 0x00, 0x05, 0x01], 'definition runs past the end of the frame'],
    ['a definition with no length', [0xf8, 0x00], 'definition runs past the end of the frame'],
    ['a STRING_DEF with no id', [0xf8, 0x00, 0x00], 'definition of type 24 is cut short'],
    ['a STRING_DEF whose id runs past its content', [0xf8, 0x00, 0x01, 0x80, 0x01], 'definition of type 24 is cut short'],
    ['a STACK_DEF with no frame count', [0xf9, 0x00, 0x01, 0x01], 'definition of type 25 is cut short'],
    ['a STACK_DEF with fewer frames than counted', [0xf9, 0x00, 0x06, 0x01, 0x02, 1, 2, 3, 4], 'definition of type 25 is cut short'],
    ['a STACK_DEF frame whose varints run past its content', [0xf9, 0x00, 0x06, 0x01, 0x01, 1, 2, 3, 0x80], 'definition of type 25 is cut short'],
    ['a TRACE_CONTEXT of 32 bytes after the id', [0xfa, 0x00, 33, 0x01, ...new Array(32).fill(0)], 'definition of type 26 is cut short'],
    ['a TRACE_CONTEXT with no id', [0xfa, 0x00, 0x00], 'definition of type 26 is cut short'],
  ] as const)('%s', (_name, bad, reason) => {
    // The fault is the last thing in the frame: several of them are about reaching its end.
    const f = recordsFrame(1, 0, ok, bad);
    const d = dec(fileStart(), f, recordsFrame(2, 9, ok));
    expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: `malformed frame: ${reason}`, skippedBytes: 0 }]);
    expect(d.records).toEqual([
      { type: 'pollEnd', threadId: 1, timeNs: 3, blockedNs: 4, events: 5, eventsWaiting: 0 },
      { type: 'pollEnd', threadId: 2, timeNs: 12, blockedNs: 4, events: 5, eventsWaiting: 0 },
    ]);
  });

  test('records after the fault are not read', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, ok, [0x00], ok, ok));
    expect(d.records).toHaveLength(1);
    expect(kinds(d.diagnostics)).toEqual(['corrupt-frame']);
  });

  test('the stack frame count is bounded by the content, so a huge count allocates nothing', () => {
    for (const count of [2 ** 30, 2 ** 53 - 1]) {
      const d = dec(fileStart(), recordsFrame(0, 0, blob(25, 0, [1, ...varint(count), 1, 2, 3, 4])));
      expect(d.diagnostics).toEqual([{ kind: 'corrupt-frame', offset: H, reason: 'malformed frame: definition of type 25 is cut short', skippedBytes: 0 }]);
    }
    // Exactly enough bytes for the count is fine.
    const r = onlyRecord(recordsFrame(0, 0, blob(25, 0, [1, 2, 1, 2, 3, 4, 5, 6, 7, 8])));
    expect(r).toEqual({
      type: 'stackDef',
      threadId: 0,
      timeNs: 0,
      stackId: 1,
      frames: [
        { functionNameStringId: 1, scriptStringId: 2, line: 3, column: 4 },
        { functionNameStringId: 5, scriptStringId: 6, line: 7, column: 8 },
      ],
    });
  });
});

// -------------------------------------------------------------------------------------------------
describe('§5 records', () => {
  test('tag = shape (bits 7..5) | type (bits 4..0)', () => {
    const bytes = encodedFrame(1, 0, (e) => {
      e.pollStart(0);
      e.pollEnd(1, 2, 3, 4);
      e.stringDef(1, 9, 'x');
    });
    expect(bytes).toEqual(recordsFrame(1, 0, [0x01, 0], [0x62, 1, 2, 3, 4], [0xf8, 0, 2, 9, 0x78]));
  });

  test('type 31: the real type is 32 + extType; unknown ones are skipped and reported', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, [0x3f, 0x00, 0x00, 7], [0x1f, ...varint(2 ** 40), 0x00], [0xff, 0x05, 0x00, 0x02, 0xaa, 0xbb], rec(1, 1)));
    expect(d.records).toEqual([{ type: 'pollStart', threadId: 1, timeNs: 1 }]);
    expect(d.diagnostics).toEqual([
      { kind: 'unknown-record-type', offset: H + 15, recordType: 32 },
      { kind: 'unknown-record-type', offset: H + 19, recordType: 32 + 2 ** 40 },
      { kind: 'unknown-record-type', offset: H + 27, recordType: 37 },
    ]);
  });

  test('the encoder writes extended types with code 31', () => {
    const bytes = encodedFrame(1, 0, (e) => e.rawRecord(40, 0, [3]));
    expect(bytes).toEqual(recordsFrame(1, 0, [0x3f, 8, 0, 3]));
  });

  test('dt is relative to the previous record of the frame, the first to baseTimeNs', () => {
    const d = dec(fileStart(), recordsFrame(1, 10, rec(1, 5), rec(2, 0), rec(1, 3)), recordsFrame(1, 10, rec(1, 1)));
    expect(d.records.map((r) => r.timeNs)).toEqual([15, 15, 18, 11]);
  });

  test('fields that the shape leaves out are read as 0', () => {
    expect(onlyRecord(recordsFrame(1, 0, rec(2, 0)))).toEqual({ type: 'pollEnd', threadId: 1, timeNs: 0, blockedNs: 0, events: 0, eventsWaiting: 0 });
    expect(onlyRecord(recordsFrame(1, 0, rec(8, 0, 5)))).toEqual({ type: 'callbackStart', threadId: 1, timeNs: 0, asyncId: 5, resourceTypeStringId: 0, siteStackId: 0 });
    expect(onlyRecord(recordsFrame(1, 0, rec(12, 0, 5)))).toEqual({ type: 'mark', threadId: 1, timeNs: 0, nameStringId: 5, value: 0 });
    expect(onlyRecord(recordsFrame(1, 0, rec(15, 0, 5, 6)))).toEqual({ type: 'threadStart', threadId: 1, timeNs: 0, nodeThreadId: 5, nameStringId: 6, kind: 0 });
  });

  test('the encoder drops trailing zero fields only', () => {
    const cases: [TraceRecord, number[]][] = [
      [{ type: 'pollEnd', threadId: 0, timeNs: 0, blockedNs: 0, events: 0, eventsWaiting: 0 }, rec(2, 0)],
      [{ type: 'pollEnd', threadId: 0, timeNs: 0, blockedNs: 7, events: 0, eventsWaiting: 0 }, rec(2, 0, 7)],
      [{ type: 'pollEnd', threadId: 0, timeNs: 0, blockedNs: 7, events: 0, eventsWaiting: 9 }, rec(2, 0, 7, 0, 9)],
      [{ type: 'pollEnd', threadId: 0, timeNs: 0, blockedNs: 0, events: 0, eventsWaiting: 9 }, rec(2, 0, 0, 0, 9)],
      [{ type: 'callbackStart', threadId: 0, timeNs: 0, asyncId: 0, resourceTypeStringId: 4, siteStackId: 0 }, rec(8, 0, 0, 4)],
      [{ type: 'mark', threadId: 0, timeNs: 0, nameStringId: 0, value: -1 }, rec(12, 0, 0, 1)],
    ];
    for (const [record, wire] of cases) {
      expect(encodedFrame(1, 0, (e) => e.record(record)), JSON.stringify(record)).toEqual(recordsFrame(1, 0, wire));
      expect(onlyRecord(recordsFrame(1, 0, wire))).toEqual({ ...record, threadId: 1 });
    }
  });

  test('fields beyond the known ones are skipped', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, rec(1, 1, 9, 9, 9, 9, 9, 9), rec(9, 1, 4, 2 ** 53 - 1, 0, 128), rec(17, 1, 3, 1)));
    expect(d.diagnostics).toEqual([]);
    expect(d.records).toEqual([
      { type: 'pollStart', threadId: 1, timeNs: 1 },
      { type: 'callbackEnd', threadId: 1, timeNs: 2, asyncId: 4, operationId: 2 ** 53 - 1 },
      { type: 'clockSync', threadId: 1, timeNs: 3, wallOffsetNs: -2 },
    ]);
  });

  test('extra trailing bytes of a definition are ignored', () => {
    const d = dec(
      fileStart(),
      recordsFrame(
        0,
        0,
        blob(25, 0, [1, 1, 2, 3, 4, 5, 0xff, 0xff]),
        blob(26, 0, [9, ...new Array(32).fill(0xab), 3, 0xee]),
      ),
    );
    expect(d.diagnostics).toEqual([]);
    expect(d.records).toEqual([
      { type: 'stackDef', threadId: 0, timeNs: 0, stackId: 1, frames: [{ functionNameStringId: 2, scriptStringId: 3, line: 4, column: 5 }] },
      { type: 'traceContext', threadId: 0, timeNs: 0, operationId: 9, traceId: 'ab'.repeat(16), spanId: 'ab'.repeat(8), parentSpanId: 'ab'.repeat(8), traceFlags: 3 },
    ]);
  });

  test('unknown types are skipped by shape and reported once per type, across frames and files', () => {
    const f1 = recordsFrame(1, 0, rec(30, 1, 1, 2), rec(21, 1), rec(30, 1), blob(27, 1, [1, 2, 3]), rec(1, 1));
    const f2 = recordsFrame(1, 0, rec(30, 1), blob(27, 1, []), rec(22, 1, 5), rec(1, 1));
    const d = dec(fileStart(), f1, f2, fileStart({ fileIndex: 1 }), recordsFrame(1, 0, rec(30, 1), rec(1, 2)));
    expect(d.records.map((r) => r.timeNs)).toEqual([5, 4, 3]);
    expect(d.diagnostics).toEqual([
      { kind: 'unknown-record-type', offset: H + 15, recordType: 30 },
      { kind: 'unknown-record-type', offset: H + 19, recordType: 21 },
      { kind: 'unknown-record-type', offset: H + 23, recordType: 27 },
      { kind: 'unknown-record-type', offset: H + f1.length + 20, recordType: 22 },
    ]);
  });

  test('a known counted type written with shape 7 is skipped by its shape; the frame goes on', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, blob(2, 1, [1, 2, 3]), rec(1, 1)));
    expect(d.records).toEqual([{ type: 'pollStart', threadId: 1, timeNs: 2 }]);
    expect(kinds(d.diagnostics)).not.toContain('corrupt-frame');
  });

  test('a definition type written with a counted shape is skipped by its shape; the frame goes on', () => {
    const d = dec(fileStart(), recordsFrame(1, 0, rec(24, 1, 5, 6), rec(1, 1)));
    expect(d.records).toEqual([{ type: 'pollStart', threadId: 1, timeNs: 2 }]);
    expect(kinds(d.diagnostics)).not.toContain('corrupt-frame');
  });
});

// -------------------------------------------------------------------------------------------------
describe('§6 types', () => {
  // The spec's tables, written out independently of src/format/records.ts.
  const SPEC: [number, string, string[], string[]][] = [
    [1, 'pollStart', [], []],
    [2, 'pollEnd', ['blockedNs', 'events', 'eventsWaiting'], []],
    [3, 'threadCpu', ['wallNs', 'cpuNs'], []],
    [4, 'queueSample', ['activeHandles', 'activeRequests', 'eventsWaiting'], []],
    [5, 'threadpoolProbe', ['queueDelayNs'], []],
    [6, 'gcPause', ['durationNs', 'gcType'], []],
    [7, 'stackSample', ['stackId', 'reason', 'lagNs'], []],
    [8, 'callbackStart', ['asyncId', 'resourceTypeStringId', 'siteStackId'], []],
    [9, 'callbackEnd', ['asyncId', 'operationId'], []],
    [10, 'operationStart', ['operationId', 'nameStringId'], []],
    [11, 'operationEnd', ['operationId', 'status'], []],
    [12, 'mark', ['nameStringId', 'value'], ['value']],
    [13, 'userQueueSample', ['nameStringId', 'depth'], []],
    [14, 'dropped', ['droppedRecords'], []],
    [15, 'threadStart', ['nodeThreadId', 'nameStringId', 'kind'], []],
    [16, 'threadStop', ['reason'], []],
    [17, 'clockSync', ['wallOffsetNs'], ['wallOffsetNs']],
    [18, 'resumed', [], []],
    [19, 'threadSched', ['runnableNs'], []],
    [20, 'selfCost', ['component', 'cpuNs'], []],
  ];

  test('the codec table matches the spec', () => {
    expect(COUNTED_TYPES.map((t) => [t.code, t.type, [...t.fields], [...t.signed]])).toEqual(SPEC);
  });

  test.each(SPEC)('type %d (%s): fields in spec order, both ways', (code, type, fields, signed) => {
    const values = fields.map((_, i) => 100 + i * 1000);
    const record = { type, threadId: 0, timeNs: 7, ...Object.fromEntries(fields.map((f, i) => [f, signed.includes(f) ? -values[i]! : values[i]!])) } as unknown as TraceRecord;
    const wire = rec(code, 7, ...fields.map((f, i) => (signed.includes(f) ? zz(-values[i]!) : values[i]!)));
    expect(encodedFrame(1, 0, (e) => e.record(record))).toEqual(recordsFrame(1, 0, wire));
    expect(onlyRecord(recordsFrame(1, 0, wire))).toEqual({ ...record, threadId: 1 });
  });

  test('the Max sizes of section 6 hold within its ranges', () => {
    const T = 2 ** 28 - 1; // times and durations
    const C = 2 ** 14 - 1; // counts, ids, depths
    const A = 2 ** 21 - 1; // async ids
    const cases: [TraceRecord, number][] = [
      [{ type: 'pollStart', threadId: 0, timeNs: T }, 5],
      [{ type: 'pollEnd', threadId: 0, timeNs: T, blockedNs: T, events: C, eventsWaiting: 0 }, 11],
      [{ type: 'pollEnd', threadId: 0, timeNs: T, blockedNs: 0, events: C, eventsWaiting: C }, 11],
      [{ type: 'threadCpu', threadId: 0, timeNs: 0, wallNs: T, cpuNs: T }, 10],
      [{ type: 'queueSample', threadId: 0, timeNs: T, activeHandles: C, activeRequests: C, eventsWaiting: C }, 11],
      [{ type: 'threadpoolProbe', threadId: 0, timeNs: T, queueDelayNs: T }, 9],
      [{ type: 'gcPause', threadId: 0, timeNs: T, durationNs: T, gcType: 16 }, 10],
      [{ type: 'stackSample', threadId: 0, timeNs: T, stackId: C, reason: 1, lagNs: T }, 12],
      // THREAD_SCHED follows its THREAD_CPU with dt 0.
      [{ type: 'threadSched', threadId: 0, timeNs: 0, runnableNs: T }, 7],
      [{ type: 'callbackStart', threadId: 0, timeNs: T, asyncId: A, resourceTypeStringId: C, siteStackId: C }, 12],
      [{ type: 'callbackEnd', threadId: 0, timeNs: T, asyncId: A, operationId: C }, 10],
      [{ type: 'operationStart', threadId: 0, timeNs: T, operationId: C, nameStringId: C }, 9],
      [{ type: 'operationEnd', threadId: 0, timeNs: T, operationId: C, status: 1 }, 8],
      [{ type: 'mark', threadId: 0, timeNs: T, nameStringId: C, value: -(2 ** 13) }, 9],
      [{ type: 'userQueueSample', threadId: 0, timeNs: T, nameStringId: C, depth: C }, 9],
      [{ type: 'selfCost', threadId: 0, timeNs: T, component: 5, cpuNs: T }, 10],
      [{ type: 'dropped', threadId: 0, timeNs: T, droppedRecords: C }, 7],
      [{ type: 'threadStart', threadId: 0, timeNs: T, nodeThreadId: C, nameStringId: C, kind: 1 }, 10],
      [{ type: 'threadStop', threadId: 0, timeNs: T, reason: 2 }, 6],
      [{ type: 'clockSync', threadId: 0, timeNs: T, wallOffsetNs: -T }, 10],
      [{ type: 'resumed', threadId: 0, timeNs: T }, 5],
      // "an idle poll of up to 34 s within 12 bytes"
      [{ type: 'pollEnd', threadId: 0, timeNs: 34e9, blockedNs: 34e9, events: 1, eventsWaiting: 0 }, 12],
    ];
    const empty = encodedFrame(1, 0, () => {}).length;
    for (const [record, max] of cases) {
      const size = encodedFrame(1, 0, (e) => e.record(record)).length - empty;
      expect(size, JSON.stringify(record)).toBeLessThanOrEqual(max);
      expect(size).toBeLessThanOrEqual(12);
    }
  });

  test('THREAD_START adds the thread to the thread table, named by its string', () => {
    const decoder = new TraceDecoder();
    decoder.push(concat(fileStart(), recordsFrame(0, 0, blob(24, 0, [4, ...utf8('pool-worker')])), recordsFrame(3, 10, rec(15, 0, 2, 4, 1))));
    decoder.end();
    expect(decoder.threads.get(3)).toEqual({ threadId: 3, nodeThreadId: 2, kind: 1, name: 'pool-worker' });
  });

  test('definitions fill the string and stack tables; references to unknown ids are reported bare', () => {
    const decoder = new TraceDecoder();
    const records: TraceRecord[] = [];
    const d = new TraceDecoder({ onRecord: (r) => records.push({ ...r }) });
    const bytes = concat(fileStart(), recordsFrame(0, 0, blob(24, 0, [1, ...utf8('f')]), blob(25, 0, [2, 1, 1, 1, 10, 20])), recordsFrame(1, 5, rec(7, 0, 2), rec(7, 0, 99)));
    for (const x of [decoder, d]) {
      x.push(bytes);
      x.end();
    }
    expect(decoder.strings.get(1)).toBe('f');
    expect(decoder.stacks.get(2)).toEqual([{ functionNameStringId: 1, scriptStringId: 1, line: 10, column: 20 }]);
    expect(records.filter((r) => r.type === 'stackSample').map((r) => (r as { stackId: number }).stackId)).toEqual([2, 99]);
  });

  test('TRACE_CONTEXT: ids as lowercase hex, zero parent span', () => {
    const e = new TraceEncoder();
    e.beginFrame(0, 0);
    e.traceContext(0, 3, '4BF92F3577B34DA6A3CE929D0E0E4736', '00F067AA0BA902B7', '0000000000000000', 1);
    e.endFrame();
    expect(onlyRecord(e.take())).toEqual({
      type: 'traceContext',
      threadId: 0,
      timeNs: 0,
      operationId: 3,
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      parentSpanId: '0000000000000000',
      traceFlags: 1,
    });
  });
});

// -------------------------------------------------------------------------------------------------
describe('§8 diagnostics', () => {
  const examples: TraceDiagnostic[] = [];
  const collect = (bytes: Uint8Array) => {
    const d = decodeBytes(bytes).diagnostics;
    examples.push(...d);
    return d;
  };

  test('every kind is reported with what it carries', () => {
    const bad = recordsFrame(1, 0, rec(1, 1));
    bad[bad.length - 1]! ^= 1;
    collect(concat([0x50, 0x4b, 3, 4, 5, 6, 7, 8]));
    collect(concat(FILE_MAGIC, headerFrame(headerContent({ major: 2 }))));
    collect(concat(FILE_MAGIC, headerFrame(headerContent({ omit: [4] }))));
    collect(concat(fileStart(), bad, recordsFrame(1, 0)));
    collect(concat(fileStart(), recordsFrame(1, 0, rec(1, 1)).subarray(0, 14)));
    collect(concat(fileStart(), frame(77, [])));
    collect(concat(fileStart(), recordsFrame(1, 0, rec(29, 0))));
    collect(concat(fileStart(), headerFrame(headerContent())));
    expect(examples).toEqual([
      { kind: 'bad-magic', offset: 0 },
      { kind: 'unsupported-version', offset: 8, formatMajor: 2, formatMinor: 0 },
      { kind: 'malformed-header', offset: 8, reason: 'required entries are missing: fileStartNs' },
      { kind: 'corrupt-frame', offset: H, reason: 'checksum mismatch', skippedBytes: bad.length },
      { kind: 'truncated', offset: H, availableBytes: 14 },
      { kind: 'unknown-frame-kind', offset: H, frameKind: 77 },
      { kind: 'unknown-record-type', offset: H + 15, recordType: 29 },
      { kind: 'misplaced-header', offset: H },
    ]);
    for (const d of examples) {
      const text = describeDiagnostic({ ...d, source: 'trace.bin' });
      expect(text).toMatch(/^trace\.bin: offset \d+: /);
    }
  });

  test('offsets are absolute in the input, whatever the chunking', () => {
    const first = concat(fileStart(), recordsFrame(1, 0, rec(1, 1)));
    const bytes = concat(first, fileStart(), recordsFrame(1, 0, rec(28, 1)));
    const seen: TraceDiagnostic[] = [];
    const decoder = new TraceDecoder({ onDiagnostic: (d) => seen.push(d) });
    for (let i = 0; i < bytes.length; i += 5) decoder.push(bytes.slice(i, i + 5));
    decoder.end();
    expect(seen).toEqual([{ kind: 'unknown-record-type', offset: first.length + H + 15, recordType: 28 }]);
  });

  test('stats count frames, records and damage', () => {
    const bad = recordsFrame(1, 0, rec(1, 1));
    bad[bad.length - 1]! ^= 1;
    const decoder = new TraceDecoder();
    const bytes = concat(fileStart(), recordsFrame(1, 0, rec(1, 1), rec(30, 0)), bad, recordsFrame(1, 0, rec(1, 1)).subarray(0, 13));
    decoder.push(bytes);
    decoder.end();
    expect(decoder.stats).toEqual({ bytes: bytes.length, frames: 2, records: 1, corruptFrames: 1, truncated: 1, unknownRecords: 1 });
  });

  test('the decoding functions reject what is not bytes with TraceFormatError / TypeError', () => {
    expect(() => decodeBytes('abc' as unknown as Uint8Array)).toThrow(TraceFormatError);
    expect(() => new TraceDecoder().push([1, 2] as unknown as Uint8Array)).toThrow(/takes a Uint8Array, got Array/);
    // Buffers are Uint8Arrays.
    expect(decodeBytes(Buffer.from(fileStart())).headers).toHaveLength(1);
  });

  test('the decoder is reusable after end(): the next input starts at its magic', () => {
    const decoder = new TraceDecoder();
    const offsets: number[] = [];
    const d2 = new TraceDecoder({ onDiagnostic: (d) => offsets.push(d.offset) });
    for (const x of [decoder, d2]) {
      x.push(concat(fileStart(), recordsFrame(1, 0, rec(30, 1))));
      x.end();
      x.push(concat(fileStart(), recordsFrame(1, 0, rec(1, 1)).subarray(0, 13)));
      x.end();
    }
    // The second input's offsets restart at 0.
    expect(offsets).toEqual([H + 15, H]);
  });
});

// -------------------------------------------------------------------------------------------------
describe('encoder argument validation', () => {
  const frameOpen = () => {
    const e = new TraceEncoder();
    e.beginFrame(1, 100);
    return e;
  };

  test('a record before the previous one (negative dt) names both times', () => {
    const e = frameOpen();
    expect(() => e.pollStart(99)).toThrow(RangeError);
    expect(() => frameOpen().pollStart(99)).toThrow(/record time 99 ns is before the previous record's 100 ns/);
    expect(() => frameOpen().record({ type: 'pollStart', threadId: 1, timeNs: -5 })).toThrow(/-5/);
  });

  test.each([
    ['a non-integer field', { type: 'threadpoolProbe', threadId: 1, timeNs: 100, queueDelayNs: 1.5 }, /field value 1\.5 is not an integer/],
    ['a negative unsigned field', { type: 'dropped', threadId: 1, timeNs: 100, droppedRecords: -3 }, /field value -3 is not an integer/],
    ['a field of 2^53', { type: 'dropped', threadId: 1, timeNs: 100, droppedRecords: 2 ** 53 }, /field value 9007199254740992 is not an integer/],
    ['NaN', { type: 'dropped', threadId: 1, timeNs: 100, droppedRecords: NaN }, /field value NaN/],
    ['Infinity', { type: 'dropped', threadId: 1, timeNs: 100, droppedRecords: Infinity }, /field value Infinity/],
    ['a missing field', { type: 'pollEnd', threadId: 1, timeNs: 100, blockedNs: 1, events: 1 }, /pollEnd record needs a numeric eventsWaiting, got undefined/],
    ['a string field', { type: 'callbackEnd', threadId: 1, timeNs: 100, asyncId: '5' }, /callbackEnd record needs a numeric asyncId, got 5/],
    ['a signed field beyond 2^51', { type: 'mark', threadId: 1, timeNs: 100, nameStringId: 1, value: -(2 ** 52) }, /signed field value -4503599627370496/],
    ['a non-integer signed field', { type: 'clockSync', threadId: 1, timeNs: 100, wallOffsetNs: 0.5 }, /signed field value 0\.5/],
    ['an unknown type', { type: 'bogus', threadId: 1, timeNs: 100 }, /unknown record type "bogus"/],
    ['a time of 2^53', { type: 'pollStart', threadId: 1, timeNs: 2 ** 53 + 100 }, /9007199254740992/],
    ['a non-integer time', { type: 'pollStart', threadId: 1, timeNs: 100.25 }, /0\.25/],
  ])('%s', (_name, record, message) => {
    expect(() => frameOpen().record(record as unknown as TraceRecord)).toThrow(message);
  });

  test('definition arguments', () => {
    expect(() => frameOpen().stringDef(100, -1, 'x')).toThrow(/-1/);
    expect(() => frameOpen().stackDef(100, 1, [{ functionNameStringId: 1, scriptStringId: 1, line: 1.5, column: 0 }])).toThrow(/1\.5/);
    expect(() => frameOpen().traceContext(100, 1, 'abc', '00'.repeat(8), '00'.repeat(8), 0)).toThrow(/traceId must be 32 hex digits, got "abc"/);
    expect(() => frameOpen().traceContext(100, 1, 'zz'.repeat(16), '00'.repeat(8), '00'.repeat(8), 0)).toThrow(/traceId must be 32 hex digits, got "zzzz/);
    expect(() => frameOpen().traceContext(100, 1, '00'.repeat(16), '0'.repeat(15), '00'.repeat(8), 0)).toThrow(/spanId must be 16 hex digits, got "000000000000000"/);
    expect(() => frameOpen().traceContext(100, 1, '00'.repeat(16), '00'.repeat(8), 'xyz', 0)).toThrow(/parentSpanId must be 16 hex digits, got "xyz"/);
    expect(() => frameOpen().traceContext(100, 1, '00'.repeat(16), '00'.repeat(8), '00'.repeat(8), 256)).toThrow(/traceFlags must be an integer in \[0, 255\], got 256/);
    expect(() => frameOpen().rawRecord(30, 100, [1, 2, 3, 4, 5, 6, 7])).toThrow(/at most 6 counted fields, got 7/);
  });

  test('header arguments', () => {
    const e = new TraceEncoder();
    expect(() => e.writeHeader(header({ traceId: '1234' }))).toThrow(/traceId must be 32 hex digits, got "1234"/);
    expect(() => new TraceEncoder().writeHeader(header({ originMonoNs: -1n }))).toThrow(/bigint in \[0, 2\^64\), got -1/);
    expect(() => new TraceEncoder().writeHeader(header({ originWallUnixNs: 2n ** 64n }))).toThrow(/got 18446744073709551616/);
    expect(() => new TraceEncoder().writeHeader(header({ originMonoNs: 5 as unknown as bigint }))).toThrow(/bigint/);
    expect(() => new TraceEncoder().writeHeader(header({ fileIndex: -1 }))).toThrow(/-1/);
    expect(() => new TraceEncoder().writeHeader(header({ fileStartNs: 0.5 }))).toThrow(/0\.5/);
    expect(() => new TraceEncoder().beginFrame(-1, 0)).toThrow(/-1/);
    expect(() => new TraceEncoder().beginFrame(1, 2 ** 53)).not.toThrow();
    expect(() => new TraceEncoder().beginFrame(1, 0.5)).toThrow(/0\.5/);
    expect(() => new TraceEncoder().beginFrame(1, 2 ** 64)).toThrow(/2\^64|18446744073709551616/);
  });

  test('a record that throws leaves nothing behind: the frame and its time are as before', () => {
    const attempts: [string, (e: TraceEncoder) => void][] = [
      ['pollStart(NaN)', (e) => e.pollStart(NaN)],
      ['pollStart(10.5)', (e) => e.pollStart(10.5)],
      ['pollEnd with a negative field', (e) => e.pollEnd(20, -1, 0, 0)],
      ['counted with a bad field', (e) => e.counted(4, 20, 3, 1, 2, -3)],
      ['record with a bad field', (e) => e.record({ type: 'mark', threadId: 0, timeNs: 20, nameStringId: 1.5, value: 1 })],
      ['stringDef with a bad id', (e) => e.stringDef(20, -1, 'x')],
      ['stringDef going back in time', (e) => e.stringDef(5, 1, 'x')],
      ['stackDef with a bad frame', (e) => e.stackDef(20, 1, [{ functionNameStringId: 1, scriptStringId: 1, line: -1, column: 0 }])],
      ['traceContext with a bad id', (e) => e.traceContext(20, -1, '00'.repeat(16), '00'.repeat(8), '00'.repeat(8), 0)],
      ['rawRecord with a bad field', (e) => e.rawRecord(30, 20, [1, -1])],
    ];
    for (const [name, attempt] of attempts) {
      const e = new TraceEncoder();
      e.beginFrame(1, 10);
      const before = e.length;
      expect(() => attempt(e), name).toThrow();
      expect(e.length, name).toBe(before);
      e.pollStart(30); // dt 20 from the base: the failed record did not move the frame's time
      e.endFrame();
      const d = decodeBytes(concat(fileStart(), e.take()));
      expect(d.diagnostics, name).toEqual([]);
      expect(d.records, name).toEqual([{ type: 'pollStart', threadId: 1, timeNs: 30 }]);
    }
  });

  test('frame misuse', () => {
    const e = frameOpen();
    expect(() => e.take()).toThrow(/frame is open/);
    expect(() => e.beginFrame(2, 0)).toThrow(/already open/);
    expect(() => new TraceEncoder().endFrame()).toThrow(/no open frame/);
  });
});
