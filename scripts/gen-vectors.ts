// Writes the golden vectors (test/vectors/*.bin and *.json) from test/vectors/build.ts.
//
// Node 20 cannot run TypeScript directly, so this module is run through vitest:
//   npm run vectors        (UPDATE_VECTORS=1 vitest run test/vectors.test.ts)
// test/vectors.test.ts calls writeVectors() when UPDATE_VECTORS=1, then checks the files.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildVectors, vectorJson } from '../test/vectors/build.js';

export const VECTORS_DIR = fileURLToPath(new URL('../test/vectors/', import.meta.url));

/** The text of a vector's .json file: indented JSON, with any value that fits on a line kept on one. */
export function vectorJsonText(json: unknown): string {
  return `${format(json, '')}\n`;
}

const LINE = 120;

function format(value: unknown, indent: string): string {
  const flat = JSON.stringify(value);
  if (value === null || typeof value !== 'object' || indent.length + flat.length <= LINE) return flat;
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + format(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${format(v, inner)}`).join(',\n')}\n${indent}}`;
}

/** Writes every vector and deletes .bin/.json files of vectors that no longer exist. Returns the names. */
export function writeVectors(dir = VECTORS_DIR): string[] {
  mkdirSync(dir, { recursive: true });
  const vectors = buildVectors();
  const names = new Set(vectors.map((v) => v.name));
  for (const file of readdirSync(dir)) {
    const match = /^(.*)\.(bin|json)$/.exec(file);
    if (match !== null && !names.has(match[1]!)) rmSync(join(dir, file));
  }
  for (const v of vectors) {
    writeFileSync(join(dir, `${v.name}.bin`), v.bytes);
    writeFileSync(join(dir, `${v.name}.json`), vectorJsonText(vectorJson(v)));
  }
  return [...names];
}
