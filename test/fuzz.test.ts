// Deterministic fuzzing of the decoder (docs/FORMAT.md section 8): 100,000 inputs from a seeded
// PRNG. The decoder must never throw, must finish, must keep diagnostic offsets inside the input,
// and must report no record that is not in a good frame: for damaged copies of valid traces, every
// record it returns is one of the records of the intact sources.

import { describe, expect, test } from 'vitest';
import { FILE_MAGIC, FRAME_SYNC, TraceDecoder, decodeBytes, type TraceDiagnostic, type TraceRecord } from '../src/format/index.js';
import { Rng, concat, decodeChunked, fileStart, frame, randomTrace, specRecords } from './helpers.js';

// FUZZ_SEED=n explores other inputs; the default keeps the suite deterministic.
const SEED = Number(process.env['FUZZ_SEED'] ?? 0x5eed_2024);

/** A canonical key of a record as the decoder hands it out (its property order is fixed per type). */
function key(r: TraceRecord): string {
  return JSON.stringify(r);
}

interface Decoded {
  keys: string[];
  records: number;
  diagnostics: TraceDiagnostic[];
  badRecord?: TraceRecord;
}

/** Decodes without copying records; returns their keys. Any throw fails the test with the input. */
function decode(input: Uint8Array, label: string): Decoded {
  const out: Decoded = { keys: [], records: 0, diagnostics: [] };
  const decoder = new TraceDecoder({
    onRecord: (r) => {
      out.records++;
      out.keys.push(key(r));
      if (!Number.isFinite(r.timeNs) || r.timeNs < 0 || !Number.isSafeInteger(r.threadId)) out.badRecord ??= { ...r };
    },
    onDiagnostic: (d) => out.diagnostics.push(d),
  });
  try {
    decoder.push(input);
    decoder.end();
  } catch (error) {
    throw new Error(`${label}: the decoder threw on ${Buffer.from(input).toString('hex')}: ${String(error)}`, { cause: error });
  }
  return out;
}

function checkDiagnostics(d: Decoded, input: Uint8Array, label: string): void {
  const seenTypes = new Set<number>();
  const seenKinds = new Set<number>();
  for (const x of d.diagnostics) {
    if (!(x.offset >= 0 && x.offset <= input.length && Number.isInteger(x.offset))) {
      throw new Error(`${label}: diagnostic offset outside the input (${input.length} bytes): ${JSON.stringify(x)}`);
    }
    if (x.kind === 'corrupt-frame' && !(x.skippedBytes >= 0 && x.offset + x.skippedBytes <= input.length)) {
      throw new Error(`${label}: corrupt-frame skips past the end: ${JSON.stringify(x)}`);
    }
    if (x.kind === 'truncated' && x.offset + x.availableBytes !== input.length) {
      throw new Error(`${label}: truncated does not reach the end of the input: ${JSON.stringify(x)} (${input.length} bytes)`);
    }
    if (x.kind === 'unknown-record-type') {
      if (seenTypes.has(x.recordType)) throw new Error(`${label}: unknown type ${x.recordType} reported twice`);
      seenTypes.add(x.recordType);
    }
    if (x.kind === 'unknown-frame-kind') {
      if (seenKinds.has(x.frameKind)) throw new Error(`${label}: unknown frame kind ${x.frameKind} reported twice`);
      seenKinds.add(x.frameKind);
    }
  }
  if (d.badRecord !== undefined) throw new Error(`${label}: record with a bad time or thread: ${JSON.stringify(d.badRecord)}`);
}

// ---------------------------------------------------------------------------------------------
// The corpus of valid traces that mutations start from.

interface Source {
  bytes: Uint8Array;
  keys: Set<string>;
  /** [start, end) of each frame after the magic, header included. */
  frames: [number, number][];
}

function frameSpans(bytes: Uint8Array): [number, number][] {
  const spans: [number, number][] = [];
  let p = 8;
  while (p + 12 <= bytes.length) {
    const length = (bytes[p + 4]! | (bytes[p + 5]! << 8) | (bytes[p + 6]! << 16) | (bytes[p + 7]! << 24)) >>> 0;
    spans.push([p, p + 12 + length]);
    p += 12 + length;
  }
  return spans;
}

function makeCorpus(rng: Rng, count: number): Source[] {
  const corpus: Source[] = [];
  for (let i = 0; i < count; i++) {
    const { spec, bytes } = randomTrace(rng, { frames: rng.range(1, 6), maxRecordsPerFrame: rng.pick([3, 10, 25]) });
    const decoded = decodeBytes(bytes);
    // The sources themselves decode cleanly to their specs.
    expect(decoded.diagnostics).toEqual([]);
    expect(decoded.records).toEqual(specRecords(spec));
    corpus.push({ bytes, keys: new Set(decoded.records.map(key)), frames: frameSpans(bytes) });
  }
  return corpus;
}

// ---------------------------------------------------------------------------------------------
// Mutations

function randomBytes(rng: Rng, n: number): Uint8Array {
  return rng.bytes(n);
}

/** Bytes that are likely to confuse a frame scanner. */
function nastyBytes(rng: Rng): Uint8Array {
  switch (rng.int(5)) {
    case 0:
      return FRAME_SYNC;
    case 1:
      return FILE_MAGIC;
    case 2:
      return concat(FRAME_SYNC, [rng.int(256), rng.int(4), 0, 0], randomBytes(rng, 4));
    case 3:
      return concat(FRAME_SYNC, [0xff, 0xff, 0x10, 0x00]);
    default:
      return randomBytes(rng, rng.range(1, 16));
  }
}

function mutate(rng: Rng, src: Source, other: Source): Uint8Array {
  let b = src.bytes;
  const rounds = rng.range(1, 3);
  for (let i = 0; i < rounds; i++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(10)) {
      case 0: {
        b = b.slice();
        if (b.length > 0) b[rng.int(b.length)]! ^= 1 << rng.int(8);
        break;
      }
      case 1: {
        b = b.slice();
        const n = rng.range(1, 8);
        for (let j = 0; j < n && at + j < b.length; j++) b[at + j] = rng.int(256);
        break;
      }
      case 2:
        b = concat(b.subarray(0, at), nastyBytes(rng), b.subarray(at));
        break;
      case 3:
        b = concat(b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 40))));
        break;
      case 4:
        b = concat(b.subarray(0, at), other.bytes.subarray(rng.int(other.bytes.length + 1)));
        break;
      case 5:
        b = b.slice(0, at);
        break;
      case 6: {
        // Duplicate a whole frame of the source at a frame boundary or anywhere.
        const [s, e] = rng.pick(src.frames);
        const spans = frameSpans(b);
        const to = rng.bool() && spans.length > 0 ? rng.pick(spans)[1] : at;
        b = concat(b.subarray(0, to), src.bytes.subarray(s, e), b.subarray(to));
        break;
      }
      case 7: {
        // Damage a frame's length field.
        const spans = frameSpans(b);
        if (spans.length === 0) break;
        b = b.slice();
        const [s] = rng.pick(spans);
        if (s + 8 <= b.length) b[s + 4 + rng.int(4)] = rng.int(256);
        break;
      }
      case 8:
        // Two traces back to back (a concatenated set of files), possibly torn.
        b = concat(b, other.bytes.subarray(0, rng.bool(0.7) ? other.bytes.length : rng.int(other.bytes.length)));
        break;
      default: {
        // Swap two frames.
        const spans = frameSpans(b);
        if (spans.length < 3) break;
        const x = rng.range(1, spans.length - 1);
        const [s1, e1] = spans[x - 1]!;
        const [s2, e2] = spans[x]!;
        if (e2 > b.length) break;
        b = concat(b.subarray(0, s1), b.subarray(s2, e2), b.subarray(s1, e1), b.subarray(e2));
      }
    }
  }
  return b;
}

// ---------------------------------------------------------------------------------------------

const rng = new Rng(SEED);
const corpus = makeCorpus(rng, 60);
let total = 0;

/** Runs `count` inputs; every 4th is also decoded in random chunks and must match. */
function run(label: string, count: number, make: (i: number) => { input: Uint8Array; allowed: Set<string>[] | 'none' | 'any'; exact?: string[] }): void {
  for (let i = 0; i < count; i++) {
    const { input, allowed, exact } = make(i);
    const name = `${label} #${i}`;
    const d = decode(input, name);
    checkDiagnostics(d, input, name);
    if (allowed === 'none') {
      if (d.records !== 0) throw new Error(`${name}: ${d.records} records from random bytes ${Buffer.from(input).toString('hex')}`);
    } else if (allowed !== 'any') {
      for (const k of d.keys) {
        if (!allowed.some((set) => set.has(k))) throw new Error(`${name}: record not in any source frame: ${k}\ninput ${Buffer.from(input).toString('hex')}`);
      }
    }
    if (exact !== undefined && (d.diagnostics.length > 0 || JSON.stringify(d.keys) !== JSON.stringify(exact))) {
      throw new Error(`${name}: a valid trace does not decode to its records: ${Buffer.from(input).toString('hex')}`);
    }
    if (i % 4 === 0) {
      const lengths = Array.from({ length: rng.range(1, 6) }, () => rng.range(1, 64));
      const chunked = decodeChunked(input, lengths, rng.bool());
      const oneShot = decodeBytes(input);
      if (JSON.stringify(chunked, bigints) !== JSON.stringify(oneShot, bigints)) {
        throw new Error(`${name}: chunks [${lengths.join(',')}] decode differently from one push: ${Buffer.from(input).toString('hex')}`);
      }
    }
    total++;
  }
}

function bigints(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}

describe('fuzz', () => {
  test('pure random bytes: no records, no throw', () => {
    run('random', 20_000, () => ({ input: rng.bytes(rng.pick([0, 1, 7, 8, 12, 13, 64, 300])), allowed: 'none' }));
  });

  test('random bytes after a valid magic, or after a valid magic and header: no records', () => {
    run('magic+random', 10_000, () => ({ input: concat(FILE_MAGIC, rng.bytes(rng.int(300))), allowed: 'none' }));
    run('header+random', 10_000, () => ({ input: concat(fileStart(), rng.bytes(rng.int(300))), allowed: 'none' }));
  });

  test('random frames with good checksums: the body parser never throws', () => {
    run('good-crc-garbage', 10_000, () => {
      const frames: Uint8Array[] = [];
      const n = rng.range(1, 4);
      for (let j = 0; j < n; j++) {
        const kind = rng.bool(0.8) ? 2 : rng.bool() ? 1 : rng.int(256);
        // Mostly small varints so that records parse for a while before they fault.
        const body = Array.from({ length: rng.int(80) }, () => (rng.bool(0.7) ? rng.int(0x80) : rng.int(256)));
        frames.push(frame(kind, body));
      }
      return { input: concat(rng.bool(0.9) ? fileStart() : FILE_MAGIC, ...frames), allowed: 'any' };
    });
  });

  test('mutated valid traces: every record is one of the intact sources\' records', () => {
    run('mutated', 40_000, () => {
      const a = rng.pick(corpus);
      const b = rng.pick(corpus);
      return { input: mutate(rng, a, b), allowed: [a.keys, b.keys] };
    });
  });

  test('random valid traces decode exactly', () => {
    run('valid', 10_000, () => {
      const { spec, bytes } = randomTrace(rng, { frames: rng.range(0, 3), maxRecordsPerFrame: 6 });
      const exact = specRecords(spec).map(key);
      return { input: bytes, allowed: [new Set(exact)], exact };
    });
  });

  test('100,000 inputs in total', () => {
    expect(total).toBe(100_000);
  });
});
