// Golden vectors (test/vectors/): every committed .bin decodes to what its .json says, and
// buildVectors() reproduces every committed file byte for byte, which pins the encoder.
// UPDATE_VECTORS=1 (npm run vectors) rewrites the files first.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { decodeBytes } from '../src/format/index.js';
import { VECTORS_DIR, vectorJsonText, writeVectors } from '../scripts/gen-vectors.js';
import { buildVectors, toJsonValue, vectorJson, type Vector } from './vectors/build.js';
import { blob, concat, decodeChunked, entry, frame, rec, utf8, varint, zz } from './helpers.js';

if (process.env['UPDATE_VECTORS'] === '1') writeVectors();

interface VectorDoc {
  name: string;
  category: string;
  file: string;
  size: number;
  expected: { headers: unknown[]; records: unknown[]; diagnostics: unknown[] };
  encode?: { steps: { op: string; threadId?: number; records?: Record<string, unknown>[] }[] };
}

const committed = readdirSync(VECTORS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, doc: JSON.parse(readFileSync(join(VECTORS_DIR, f), 'utf8')) as VectorDoc }));
const built: Vector[] = buildVectors();

function decodedJson(bytes: Uint8Array): unknown {
  const d = decodeBytes(bytes);
  return toJsonValue({ headers: d.headers, records: d.records, diagnostics: d.diagnostics });
}

describe('committed vectors decode to their expected output', () => {
  test('there are vectors', () => {
    expect(committed.length).toBeGreaterThanOrEqual(15);
  });
  test.each(committed.map((c) => [c.doc.name, c] as const))('%s', (_name, { doc }) => {
    const bytes = new Uint8Array(readFileSync(join(VECTORS_DIR, doc.file)));
    expect(bytes.length).toBe(doc.size);
    expect(bytes.length).toBeLessThan(2048);
    expect(decodedJson(bytes)).toEqual(doc.expected);
    // Streaming: byte-at-a-time and odd chunks through a reused buffer give the same result.
    for (const chunks of [[1], [3, 7, 1], [13]]) {
      const d = decodeChunked(bytes, chunks, true);
      expect(toJsonValue({ headers: d.headers, records: d.records, diagnostics: d.diagnostics })).toEqual(doc.expected);
    }
  });
});

describe('the vectors are self-consistent', () => {
  test.each(committed.filter((c) => c.doc.category === 'valid' && c.doc.encode !== undefined).map((c) => [c.doc.name, c] as const))(
    '%s: expected records are the encode input, in order',
    (_name, { doc }) => {
      const fromSteps = doc.encode!.steps.filter((s) => s.op === 'frame').flatMap((s) => s.records!.map((r) => ({ ...r, threadId: s.threadId })));
      expect(doc.expected.records).toEqual(fromSteps);
      expect(doc.expected.diagnostics).toEqual([]);
    },
  );
  test('every record type appears in a valid vector', () => {
    const types = new Set(committed.filter((c) => c.doc.category === 'valid').flatMap((c) => c.doc.expected.records.map((r) => (r as { type: string }).type)));
    expect([...types].sort()).toEqual(
      [
        'pollStart', 'pollEnd', 'threadCpu', 'queueSample', 'threadpoolProbe', 'gcPause', 'stackSample', 'callbackStart', 'callbackEnd',
        'operationStart', 'operationEnd', 'mark', 'userQueueSample', 'dropped', 'threadStart', 'threadStop', 'clockSync', 'resumed',
        'threadSched', 'selfCost', 'stringDef', 'stackDef', 'traceContext',
      ].sort(),
    );
  });
  test('every diagnostic kind appears in some vector', () => {
    const kinds = new Set(committed.flatMap((c) => c.doc.expected.diagnostics.map((d) => (d as { kind: string }).kind)));
    for (const k of ['unsupported-version', 'malformed-header', 'corrupt-frame', 'truncated', 'unknown-frame-kind', 'unknown-record-type', 'misplaced-header']) {
      expect(kinds, k).toContain(k);
    }
  });
});

// -------------------------------------------------------------------------------------------------
// An independent encoder written from docs/FORMAT.md that works from the .json alone: it shows that
// each .json says everything needed to produce its .bin, and checks the bytes against the spec
// rather than against src/format/encoder.ts.

/** Section 6: wire code, field order and zigzag fields of every counted type. */
const COUNTED: Record<string, [number, string[], string[]]> = {
  pollStart: [1, [], []],
  pollEnd: [2, ['blockedNs', 'events', 'eventsWaiting'], []],
  threadCpu: [3, ['wallNs', 'cpuNs'], []],
  queueSample: [4, ['activeHandles', 'activeRequests', 'eventsWaiting'], []],
  threadpoolProbe: [5, ['queueDelayNs'], []],
  gcPause: [6, ['durationNs', 'gcType'], []],
  stackSample: [7, ['stackId', 'reason', 'lagNs'], []],
  callbackStart: [8, ['asyncId', 'resourceTypeStringId', 'siteStackId'], []],
  callbackEnd: [9, ['asyncId', 'operationId'], []],
  operationStart: [10, ['operationId', 'nameStringId'], []],
  operationEnd: [11, ['operationId', 'status'], []],
  mark: [12, ['nameStringId', 'value'], ['value']],
  userQueueSample: [13, ['nameStringId', 'depth'], []],
  dropped: [14, ['droppedRecords'], []],
  threadStart: [15, ['nodeThreadId', 'nameStringId', 'kind'], []],
  threadStop: [16, ['reason'], []],
  clockSync: [17, ['wallOffsetNs'], ['wallOffsetNs']],
  resumed: [18, [], []],
  threadSched: [19, ['runnableNs'], []],
  selfCost: [20, ['component', 'cpuNs'], []],
};

type Json = Record<string, unknown>;
const num = (v: unknown): number => v as number;
const big = (v: unknown): bigint => BigInt(v as string);
const hexBytes = (hex: string): number[] => [...Buffer.from(hex, 'hex')];

function referenceHeader(h: Json): number[] {
  const out = [...varint(num(h['formatMajor'] ?? 1)), ...varint(num(h['formatMinor'] ?? 2))];
  out.push(...entry(1, hexBytes(h['traceId'] as string)));
  out.push(...entry(2, varint(num(h['fileIndex']))));
  out.push(...entry(3, [...varint(big(h['originMonoNs'])), ...varint(big(h['originWallUnixNs']))]));
  out.push(...entry(4, varint(num(h['fileStartNs']))));
  if (h['pid'] !== undefined) out.push(...entry(5, varint(num(h['pid']))));
  for (const [key, name] of [[6, 'hostname'], [7, 'nodeVersion'], [8, 'serviceName'], [9, 'producer']] as const) {
    if (h[name] !== undefined) out.push(...entry(key, utf8(h[name] as string)));
  }
  for (const t of h['threads'] as Json[]) {
    out.push(...entry(10, [...varint(num(t['threadId'])), ...varint(num(t['nodeThreadId'])), ...varint(num(t['kind'])), ...utf8(t['name'] as string)]));
  }
  if (h['platform'] !== undefined) out.push(...entry(11, utf8(h['platform'] as string)));
  if (h['threadpoolSize'] !== undefined) out.push(...entry(12, varint(num(h['threadpoolSize']))));
  if (h['capabilities'] !== undefined) out.push(...entry(13, varint(num(h['capabilities']))));
  if (h['attributionNote'] !== undefined) out.push(...entry(14, utf8(h['attributionNote'] as string)));
  const sampling = h['stackSampling'] as Json | undefined;
  if (sampling !== undefined) out.push(...entry(15, [...varint(num(sampling['thresholdNs'])), ...varint(num(sampling['intervalNs']))]));
  return out;
}

function referenceRecord(r: Json, dt: number): number[] {
  const raw = r['raw'] as Json | undefined;
  if (raw !== undefined) {
    const type = num(raw['type']);
    const content = raw['contentHex'] === undefined ? undefined : hexBytes(raw['contentHex'] as string);
    const fields = (raw['fields'] as number[] | undefined) ?? [];
    const shape = content === undefined ? fields.length : 7;
    const tag = type >= 31 ? [(shape << 5) | 31, ...varint(type - 32)] : [(shape << 5) | type];
    return content === undefined ? [...tag, ...varint(dt), ...fields.flatMap((f) => varint(f))] : [...tag, ...varint(dt), ...varint(content.length), ...content];
  }
  const type = r['type'] as string;
  if (type === 'stringDef') return blob(24, dt, [...varint(num(r['stringId'])), ...utf8(r['value'] as string)]);
  if (type === 'stackDef') {
    const frames = r['frames'] as Json[];
    const body = [...varint(num(r['stackId'])), ...varint(frames.length)];
    for (const f of frames) for (const k of ['functionNameStringId', 'scriptStringId', 'line', 'column']) body.push(...varint(num(f[k])));
    return blob(25, dt, body);
  }
  if (type === 'traceContext') {
    const ids = ['traceId', 'spanId', 'parentSpanId'].flatMap((k) => hexBytes(r[k] as string));
    return blob(26, dt, [...varint(num(r['operationId'])), ...ids, num(r['traceFlags'])]);
  }
  const [code, names, signed] = COUNTED[type]!;
  const values = names.map((n) => (signed.includes(n) ? zz(num(r[n])) : num(r[n])));
  while (values.length > 0 && values[values.length - 1] === 0) values.pop();
  return rec(code, dt, ...values);
}

function referenceEncode(steps: Json[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const step of steps) {
    switch (step['op']) {
      case 'magic':
        parts.push(Uint8Array.of(0x89, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 0x0a));
        break;
      case 'header':
        parts.push(frame(1, referenceHeader(step['header'] as Json)));
        break;
      case 'rawFrame':
        parts.push(frame(num(step['kind']), hexBytes(step['contentHex'] as string)));
        break;
      case 'frame': {
        let t = num(step['baseTimeNs']);
        const body = [...varint(num(step['threadId'])), ...varint(t)];
        for (const r of step['records'] as Json[]) {
          const timeNs = num(((r['raw'] as Json | undefined) ?? r)['timeNs']);
          body.push(...referenceRecord(r, timeNs - t));
          t = timeNs;
        }
        parts.push(frame(2, body));
        break;
      }
      default:
        throw new Error(`unknown step ${String(step['op'])}`);
    }
  }
  return concat(...parts);
}

function readBin(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(VECTORS_DIR, `${name}.bin`)));
}

describe('an independent encoder reproduces every .bin from its .json alone', () => {
  test.each(committed.map((c) => [c.doc.name, c.doc] as const))('%s', (_name, doc) => {
    const raw = doc as unknown as Json;
    const bin = readBin(doc.name);
    let bytes: Uint8Array;
    if (raw['encode'] !== undefined) {
      const steps = (raw['encode'] as Json)['steps'] as Json[];
      bytes = referenceEncode(steps);
      // Each step's span is where its bytes are.
      let at = 0;
      for (const s of steps) {
        const [start, end] = s['span'] as [number, number];
        expect(start).toBe(at);
        at = end;
      }
      expect(at).toBe(bin.length);
    } else {
      const derivation = raw['derivation'] as Json;
      if (derivation['concat'] !== undefined) {
        bytes = concat(...(derivation['concat'] as string[]).map(readBin));
      } else {
        bytes = readBin(derivation['source'] as string).slice();
        for (const m of derivation['mutations'] as Json[]) {
          if (m['op'] === 'truncate') bytes = bytes.slice(0, num(m['length']));
          else if (m['op'] === 'flipBit') bytes[num(m['byte'])]! ^= 1 << num(m['bit']);
          else throw new Error(`unknown mutation ${String(m['op'])}`);
        }
      }
    }
    expect(Buffer.from(bytes).toString('hex')).toBe(Buffer.from(bin).toString('hex'));
  });
});

describe('buildVectors() reproduces the committed files (the encoder is pinned)', () => {
  test('the same set of vectors', () => {
    expect(committed.map((c) => c.doc.name).sort()).toEqual(built.map((v) => v.name).sort());
    for (const v of built) expect(existsSync(join(VECTORS_DIR, `${v.name}.bin`)), v.name).toBe(true);
  });
  test.each(built.map((v) => [v.name, v] as const))('%s', (_name, v) => {
    const bin = new Uint8Array(readFileSync(join(VECTORS_DIR, `${v.name}.bin`)));
    expect(Buffer.from(v.bytes).toString('hex')).toBe(Buffer.from(bin).toString('hex'));
    expect(vectorJsonText(vectorJson(v))).toBe(readFileSync(join(VECTORS_DIR, `${v.name}.json`), 'utf8'));
  });
});
