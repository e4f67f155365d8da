// Instructions per traced() operation, counted by callgrind (deterministic, unlike the timings of
// bench/operations.bench.ts on a shared machine): every thread of the process, the writer's
// encoding included. Each configuration runs twice, with N and 2N operations (500 per loop
// iteration, as a server interleaves them with its loop); instructions per operation =
// (I(2N) − I(N)) / N, so start-up and shutdown cancel.
//
//   npm run bench:operations-instructions [-- N]      (default N = 20000; needs valgrind)
//
// Configurations: `metrics` (sampled, metrics only) and `trace` (sampled and written into the
// trace through a NullWriter); the difference is what writing an operation into the trace costs.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NullWriter, startOperations, startRuntimeTelemetry, traced } from '../src/index.js';

const CONFIGS = ['metrics', 'trace'] as const;

async function child(config: string, n: number): Promise<void> {
  const work = (): number => 1;
  const ops =
    config === 'trace'
      ? startRuntimeTelemetry({ writer: new NullWriter(), operations: { sampler: { type: 'always' } }, queueSampleIntervalMs: 0, threadpoolProbeIntervalMs: 0, threadBufferRecords: 1 << 20 })
      : startOperations({ sampler: { type: 'always' } });
  for (let done = 0; done < n; done += 500) {
    for (let i = 0; i < 500; i++) traced('op', work);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await ops.stop();
}

function callgrind(config: string, n: number, dir: string): Promise<number> {
  const out = join(dir, `${config}-${n}.out`);
  const args = ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, fileURLToPath(import.meta.url), '--child', config, String(n)];
  return new Promise((resolve, reject) => {
    const p = spawn('valgrind', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => {
      const m = /^(?:summary|totals): (\d+)/m.exec(code === 0 ? readFileSync(out, 'utf8') : '');
      if (m === null) reject(new Error(`callgrind ${config} ${n} failed (exit ${code}): ${stderr.slice(-500)}`));
      else resolve(Number(m[1]));
    });
  });
}

if (process.argv[2] === '--child') {
  await child(process.argv[3]!, Number(process.argv[4]));
} else {
  const n = Number(process.argv[2] ?? 20000);
  if (!Number.isInteger(n) || n < 1000) throw new Error(`N must be an integer of at least 1000, got ${process.argv[2]}`);
  const dir = mkdtempSync(join(tmpdir(), 'looptrace-ops-instructions-'));
  try {
    const runs = await Promise.all(CONFIGS.flatMap((c) => [callgrind(c, n, dir), callgrind(c, 2 * n, dir)]));
    const per = (i: number): number => (runs[2 * i + 1]! - runs[2 * i]!) / n;
    console.log(`instructions per traced() operation (callgrind, every thread; ${n} vs ${2 * n} operations)`);
    for (const [i, c] of CONFIGS.entries()) console.log(`  ${c.padEnd(8)} ${per(i).toFixed(0).padStart(7)}`);
    console.log(`  writing into the trace adds ${(per(1) - per(0)).toFixed(0)} instructions per operation`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
