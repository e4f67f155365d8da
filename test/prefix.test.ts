// A torn trace loses at most the frame being written (docs/FORMAT.md sections 1.3 and 4.3): every
// prefix of a realistic trace decodes to a prefix of its records plus one `truncated` diagnostic.
// Also: pushing the same bytes in chunks of any size gives exactly the one-shot result.

import { describe, expect, test } from 'vitest';
import { TraceDecoder, TraceEncoder, copyRecord, decodeBytes, type DecodedTrace, type TraceRecord } from '../src/format/index.js';
import { Rng, decodeChunked } from './helpers.js';

/** A trace shaped like a recorder's output: definitions in the process stream, then loop activity on three threads. */
function realisticTrace(): { bytes: Uint8Array; recordCount: number } {
  const rng = new Rng(20240601);
  const e = new TraceEncoder(1024);
  e.writeMagic();
  e.writeHeader({
    traceId: '0f1e2d3c4b5a69788796a5b4c3d2e1f0',
    fileIndex: 0,
    originMonoNs: 88_000_000_000_123n,
    originWallUnixNs: 1_718_000_000_000_000_000n,
    fileStartNs: 0,
    pid: 31337,
    hostname: 'api-7f9c',
    nodeVersion: 'v20.20.2',
    producer: 'looptrace/0.1.0',
    threads: [
      { threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' },
      { threadId: 2, nodeThreadId: 1, kind: 1, name: 'image-resizer' },
    ],
  });
  let recordCount = 0;
  const strings = ['TCPWRAP', 'HTTPINCOMINGMESSAGE', 'Timeout', 'FSREQCALLBACK', 'handle', 'db.query', 'render', '/srv/app/server.js', 'pool-worker'];
  e.beginFrame(0, 0);
  strings.forEach((s, i) => {
    e.stringDef(0, i + 1, s);
    recordCount++;
  });
  for (let id = 1; id <= 4; id++) {
    e.stackDef(0, id, [
      { functionNameStringId: 5, scriptStringId: 8, line: 10 * id, column: 3 },
      { functionNameStringId: 6 + (id % 2), scriptStringId: 8, line: 200 + id, column: 14 },
    ]);
    recordCount++;
  }
  e.traceContext(0, 1, '4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', '0000000000000000', 1);
  e.record({ type: 'clockSync', threadId: 0, timeNs: 0, wallOffsetNs: -4200 });
  recordCount += 2;
  e.endFrame();

  const clocks = new Map<number, number>([
    [1, 1_000],
    [2, 1_500],
    [3, 200_000],
  ]);
  for (let f = 0; f < 9; f++) {
    const threadId = f === 4 ? 3 : (f % 3) + 1 === 3 ? 1 : (f % 3) + 1;
    let t = clocks.get(threadId)!;
    e.beginFrame(threadId, t);
    if (f === 4) {
      e.record({ type: 'threadStart', threadId, timeNs: t, nodeThreadId: 2, nameStringId: 9, kind: 1 });
      recordCount++;
    }
    const loops = rng.range(4, 8);
    for (let i = 0; i < loops; i++) {
      e.pollStart((t += rng.int(50_000)));
      const blocked = rng.int(2_000_000);
      e.pollEnd((t += blocked + rng.int(20_000)), blocked, rng.int(5), rng.bool(0.2) ? rng.int(3) : 0);
      e.record({ type: 'threadCpu', threadId, timeNs: t, wallNs: blocked + 30_000, cpuNs: rng.int(30_000) });
      recordCount += 3;
      const callbacks = rng.int(4);
      for (let c = 0; c < callbacks; c++) {
        const asyncId = rng.range(10, 5000);
        e.record({ type: 'callbackStart', threadId, timeNs: (t += rng.int(500)), asyncId, resourceTypeStringId: rng.range(1, 4), siteStackId: rng.int(5) });
        if (rng.bool(0.3)) {
          e.record({ type: 'operationStart', threadId, timeNs: (t += 100), operationId: asyncId, nameStringId: 6 });
          e.record({ type: 'mark', threadId, timeNs: (t += 50), nameStringId: 7, value: rng.range(-1000, 1000) });
          e.record({ type: 'operationEnd', threadId, timeNs: (t += rng.int(100_000)), operationId: asyncId, status: rng.int(2) });
          recordCount += 3;
        }
        e.record({ type: 'callbackEnd', threadId, timeNs: (t += rng.int(300_000)), asyncId, operationId: rng.int(3) });
        recordCount += 2;
      }
      if (rng.bool(0.3)) {
        e.record({ type: 'gcPause', threadId, timeNs: (t += 1_000), durationNs: rng.int(3_000_000), gcType: rng.pick([1, 2, 4]) });
        recordCount++;
      }
      if (rng.bool(0.3)) {
        e.record({ type: 'stackSample', threadId, timeNs: t, stackId: rng.range(1, 4), reason: 0, lagNs: rng.int(3_000_000) });
        e.record({ type: 'queueSample', threadId, timeNs: t, activeHandles: rng.int(200), activeRequests: rng.int(20), eventsWaiting: rng.int(3) });
        e.record({ type: 'threadpoolProbe', threadId, timeNs: (t += 10), queueDelayNs: rng.int(100_000) });
        e.record({ type: 'userQueueSample', threadId, timeNs: t, nameStringId: 6, depth: rng.int(300) });
        recordCount += 4;
      }
    }
    if (f === 7) {
      e.record({ type: 'dropped', threadId, timeNs: (t += 10), droppedRecords: 12 });
      e.record({ type: 'resumed', threadId, timeNs: (t += 10) });
      recordCount += 2;
    }
    if (f === 4) {
      e.record({ type: 'threadStop', threadId, timeNs: (t += 10), reason: 0 });
      recordCount++;
    }
    e.endFrame();
    clocks.set(threadId, t);
  }
  return { bytes: e.take(), recordCount };
}

/** Offsets where frames end, found by walking the frame headers of an intact file. */
function frameEnds(bytes: Uint8Array): number[] {
  const ends: number[] = [];
  let p = 8;
  while (p < bytes.length) {
    const length = (bytes[p + 4]! | (bytes[p + 5]! << 8) | (bytes[p + 6]! << 16) | (bytes[p + 7]! << 24)) >>> 0;
    p += 12 + length;
    ends.push(p);
  }
  expect(p).toBe(bytes.length);
  return ends;
}

const { bytes, recordCount } = realisticTrace();
const full = decodeBytes(bytes);

function same(actual: DecodedTrace, expected: DecodedTrace, label: string): void {
  expect(actual.diagnostics, label).toEqual(expected.diagnostics);
  expect(actual.headers, label).toEqual(expected.headers);
  expect(actual.records.length, label).toBe(expected.records.length);
  expect(actual.records, label).toEqual(expected.records);
}

describe('the realistic trace', () => {
  test('decodes cleanly: a few hundred records, 3 threads and the process stream, 10+ frames', () => {
    expect(full.diagnostics).toEqual([]);
    expect(full.records).toHaveLength(recordCount);
    expect(recordCount).toBeGreaterThan(200);
    expect(new Set(full.records.map((r) => r.threadId))).toEqual(new Set([0, 1, 2, 3]));
    expect(frameEnds(bytes).length).toBeGreaterThanOrEqual(11);
    expect(bytes.length).toBeGreaterThan(2000);
  });
});

describe('every prefix', () => {
  test('decodes to a prefix of the records plus one truncated diagnostic at the torn frame', () => {
    const ends = frameEnds(bytes);
    const headerEnd = ends[0]!;
    // Records contained in the file up to each frame end.
    const countAt = new Map<number, number>([[headerEnd, 0]]);
    for (let i = 1; i < ends.length; i++) countAt.set(ends[i]!, decodeBytes(bytes.subarray(0, ends[i]!)).records.length);
    let previousCount = 0;
    for (let n = 0; n <= bytes.length; n++) {
      const d = decodeBytes(bytes.subarray(0, n));
      const label = `prefix of ${n} bytes`;
      // Records: a prefix of the full list, in the same order, never shrinking as n grows.
      expect(d.records, label).toEqual(full.records.slice(0, d.records.length));
      expect(d.records.length, label).toBeGreaterThanOrEqual(previousCount);
      previousCount = d.records.length;
      expect(d.headers.length, label).toBe(n >= headerEnd ? 1 : 0);

      const frameStart = n < 8 ? 0 : n < headerEnd ? 8 : Math.max(...ends.filter((e) => e <= n));
      if (n === bytes.length || (n >= headerEnd && ends.includes(n))) {
        // A cut exactly between two frames leaves a valid, shorter file.
        expect(d.diagnostics, label).toEqual([]);
        expect(d.records.length, label).toBe(countAt.get(n));
      } else {
        expect(d.diagnostics, label).toEqual([{ kind: 'truncated', offset: frameStart, availableBytes: n - frameStart }]);
        // No record of the torn frame.
        expect(d.records.length, label).toBe(countAt.get(frameStart) ?? 0);
      }
    }
    expect(previousCount).toBe(recordCount);
  });
});

describe('streaming', () => {
  test('chunks of every size from 1 to 64 give the one-shot result', () => {
    for (let size = 1; size <= 64; size++) {
      same(decodeChunked(bytes, [size]), full, `chunks of ${size}`);
      same(decodeChunked(bytes, [size], true), full, `chunks of ${size}, one reused buffer`);
    }
  });

  test('random chunkings, with empty pushes, give the one-shot result', () => {
    const rng = new Rng(7);
    for (let round = 0; round < 200; round++) {
      const lengths: number[] = Array.from({ length: rng.range(1, 20) }, () => (rng.bool(0.1) ? 0 : rng.bool(0.5) ? rng.range(1, 16) : rng.range(1, 600)));
      if (!lengths.some((l) => l > 0)) lengths.push(1);
      same(decodeChunked(bytes, lengths, rng.bool()), full, `chunking ${lengths.join(',')}`);
    }
  });

  test('one buffer, overwritten in place between pushes, with the decoder holding a partial frame', () => {
    // Like decodeFile(): a fixed read buffer refilled for every push.
    const records: TraceRecord[] = [];
    const decoder = new TraceDecoder({ onRecord: (r) => records.push(copyRecord(r)) });
    const buffer = new Uint8Array(37);
    for (let at = 0; at < bytes.length; at += buffer.length) {
      const n = Math.min(buffer.length, bytes.length - at);
      buffer.set(bytes.subarray(at, at + n));
      decoder.push(buffer.subarray(0, n));
      buffer.fill(0xf5); // sync bytes everywhere: a decoder that kept a view would see garbage frames
    }
    decoder.end();
    expect(records).toEqual(full.records);
    expect(decoder.strings.size).toBe(9);
    expect(decoder.stacks.size).toBe(4);
    expect([...decoder.threads.keys()].sort()).toEqual([1, 2, 3]);
  });

  test('damaged inputs stream the same way too', () => {
    const ends = frameEnds(bytes);
    const variants: [string, Uint8Array][] = [];
    const flipped = bytes.slice();
    flipped[ends[3]! - 5]! ^= 0x10;
    flipped[ends[6]! + 6]! ^= 0x04; // a length bit
    variants.push(['two flipped bits', flipped]);
    variants.push(['torn', bytes.slice(0, ends[5]! + 30)]);
    variants.push(['garbage in the middle', new Uint8Array([...bytes.subarray(0, ends[2]!), 0xf5, 0x4c, 0x54, 0x46, 0xff, 0x00, 1, 2, 3, ...bytes.subarray(ends[2]!)])]);
    variants.push(['doubled', new Uint8Array([...bytes, ...bytes])]);
    variants.push(['bad magic', new Uint8Array([0, ...bytes.subarray(1)])]);
    for (const [name, input] of variants) {
      const oneShot = decodeBytes(input);
      expect(oneShot.diagnostics.length + (name === 'doubled' ? 1 : 0), name).toBeGreaterThan(0);
      for (let size = 1; size <= 64; size += name === 'doubled' ? 7 : 1) {
        same(decodeChunked(input, [size], true), oneShot, `${name}, chunks of ${size}`);
      }
    }
  });
});
