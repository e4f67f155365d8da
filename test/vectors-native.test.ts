// The native encoder (native/encoder.h) reproduces the golden vectors byte for byte: every
// vector whose encode steps use only known record types is replayed through the C++ encoder.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadTestBinding } from '../src/binding.js';
import { COUNTED_BY_TYPE, DEFINITION_CODES, zigzag } from '../src/format/index.js';

const VECTORS_DIR = new URL('./vectors/', import.meta.url).pathname;

interface Step {
  op: string;
  records?: Record<string, unknown>[];
  [key: string]: unknown;
}

/** Lowers a record from the vector's JSON to what encodeForTest takes, or undefined if unknown. */
function lower(record: Record<string, unknown>): Record<string, unknown> | undefined {
  const type = record['type'] as string;
  if (type in DEFINITION_CODES) return { ...record, code: DEFINITION_CODES[type as keyof typeof DEFINITION_CODES] };
  const info = COUNTED_BY_TYPE.get(type);
  if (info === undefined) return undefined;
  const fields = info.fields.map((name) => {
    const value = record[name] as number;
    return info.signed.includes(name) ? zigzag(value) : value;
  });
  return { code: info.code, timeNs: record['timeNs'], fields };
}

function lowerSteps(steps: Step[]): Step[] | undefined {
  const out: Step[] = [];
  for (const step of steps) {
    if (step.op === 'magic' || step.op === 'header') {
      out.push(step);
    } else if (step.op === 'frame') {
      const records = (step.records ?? []).map(lower);
      if (records.some((r) => r === undefined)) return undefined;
      out.push({ ...step, records: records as Record<string, unknown>[] });
    } else {
      return undefined;
    }
  }
  return out;
}

const replayable = readdirSync(VECTORS_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .flatMap((f) => {
    const doc = JSON.parse(readFileSync(join(VECTORS_DIR, f), 'utf8')) as { name: string; file: string; encode?: { steps: Step[] } };
    const steps = doc.encode === undefined ? undefined : lowerSteps(doc.encode.steps);
    return steps === undefined || steps.length === 0 ? [] : [{ name: doc.name, file: doc.file, steps }];
  });

describe('native encoder reproduces the golden vectors', () => {
  test('every record type is covered by a replayable vector', () => {
    const codes = new Set(replayable.flatMap((v) => v.steps.flatMap((s) => (s.records ?? []).map((r) => r['code'] as number))));
    for (const info of COUNTED_BY_TYPE.values()) expect(codes, info.type).toContain(info.code);
    for (const code of Object.values(DEFINITION_CODES)) expect(codes).toContain(code);
  });
  test.each(replayable.map((v) => [v.name, v] as const))('%s', (_name, vector) => {
    const expected = new Uint8Array(readFileSync(join(VECTORS_DIR, vector.file)));
    const actual = new Uint8Array(loadTestBinding().encodeForTest(vector.steps));
    expect(Buffer.from(actual).toString('hex')).toBe(Buffer.from(expected).toString('hex'));
  });
});
