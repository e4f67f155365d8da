// Writer thread throughput: a native producer thread pushes synthetic loop records into a ring
// as fast as the writer thread drains, encodes and writes them to a file. Median of several runs.
//
//   npm run bench:writer

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTestBinding } from '../src/binding.js';

const RUNS = 7;
const RECORDS = 5_000_000;

const dir = mkdtempSync(join(tmpdir(), 'looptrace-writer-'));
try {
  const binding = loadTestBinding();
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(binding.benchmarkWriter(join(dir, `run-${i}.bin`), RECORDS));
  const rates = runs.map((r) => r.records / r.seconds).sort((a, b) => a - b);
  const mbs = runs.map((r) => r.bytes / r.seconds / 1e6).sort((a, b) => a - b);
  const median = (v: number[]): number => v[v.length >> 1]!;
  const first = runs[0]!;
  console.log(`writer thread: ${RECORDS} records x ${RUNS} runs into a file, medians`);
  console.log(`  ${(median(rates) / 1e6).toFixed(1)} M records/s, ${median(mbs).toFixed(0)} MB/s, ${(first.bytes / first.records).toFixed(2)} bytes/record, ${first.dropped} dropped`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
