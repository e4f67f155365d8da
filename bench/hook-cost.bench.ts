// Hook cost per loop iteration: a setImmediate ping-pong (one callback per loop iteration) run
// in a fresh process per configuration, the configurations interleaved over several rounds.
// The cost of the hooks is the median per-iteration time of a configuration minus the
// baseline's in the same round. 'null-writer' is the default configuration (stack watchdog and
// GC callbacks on); 'null-no-attribution' turns both off, so the pair shows what attribution adds
// to an iteration while no stretch is long (it should add nothing measurable).
//
//   npm run bench:hooks -- [--rounds N] [--iterations N]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NullWriter, RotatingWriter, startRuntimeTelemetry, type RuntimeTelemetry } from '../src/index.js';

const CONFIGS = ['baseline', 'disabled', 'null-writer', 'null-no-attribution', 'rotating-writer'] as const;
type Config = (typeof CONFIGS)[number];

interface ChildResult {
  nsPerIteration: number;
  records: number;
  droppedRecords: number;
}

async function child(config: Config, iterations: number, dir: string): Promise<void> {
  let telemetry: RuntimeTelemetry | undefined;
  // A buffer large enough for the writer thread to keep up with a loop spinning millions of
  // iterations per second, so that the drop path does not flatter the figure.
  const common = { threadBufferRecords: 1 << 18, queueSampleIntervalMs: 0, threadpoolProbeIntervalMs: 0 };
  if (config === 'disabled') telemetry = startRuntimeTelemetry({ writer: new NullWriter(), enabled: false, ...common });
  if (config === 'null-writer') telemetry = startRuntimeTelemetry({ writer: new NullWriter(), ...common });
  if (config === 'null-no-attribution') telemetry = startRuntimeTelemetry({ writer: new NullWriter(), stackThresholdMs: 0, gcPauses: false, ...common });
  if (config === 'rotating-writer') {
    telemetry = startRuntimeTelemetry({ writer: new RotatingWriter(join(dir, 'trace.bin'), { maxFileBytes: 8 << 20, maxTotalBytes: 64 << 20 }), ...common });
  }
  const pingPong = (n: number): Promise<void> =>
    new Promise((resolve) => {
      let left = n;
      const step = (): void => {
        if (--left <= 0) resolve();
        else setImmediate(step);
      };
      setImmediate(step);
    });
  await pingPong(Math.min(100_000, iterations));
  const start = process.hrtime.bigint();
  await pingPong(iterations);
  const elapsedNs = Number(process.hrtime.bigint() - start);
  const stats = telemetry?.stats();
  await telemetry?.stop();
  const result: ChildResult = { nsPerIteration: elapsedNs / iterations, records: stats?.records ?? 0, droppedRecords: stats?.droppedRecords ?? 0 };
  process.stdout.write(JSON.stringify(result));
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function parent(rounds: number, iterations: number): void {
  const self = fileURLToPath(import.meta.url);
  const dir = mkdtempSync(join(tmpdir(), 'looptrace-hooks-'));
  const perConfig = new Map<Config, ChildResult[]>(CONFIGS.map((c) => [c, []]));
  const deltas = new Map<Config, number[]>(CONFIGS.map((c) => [c, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      // Rotate the order each round so no configuration always runs first or last.
      const order = CONFIGS.map((_, i) => CONFIGS[(i + round) % CONFIGS.length]!);
      const results = new Map<Config, ChildResult>();
      for (const config of order) {
        const out = execFileSync(process.execPath, [self, 'child', config, String(iterations), dir], { encoding: 'utf8' });
        const result = JSON.parse(out) as ChildResult;
        results.set(config, result);
        perConfig.get(config)!.push(result);
      }
      const base = results.get('baseline')!.nsPerIteration;
      for (const config of CONFIGS) deltas.get(config)!.push(results.get(config)!.nsPerIteration - base);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`hook cost per loop iteration: setImmediate ping-pong, ${iterations} iterations, ${rounds} interleaved rounds, medians`);
  console.log('configuration        ns/iteration  added ns/iteration  records/iteration  dropped');
  for (const config of CONFIGS) {
    const results = perConfig.get(config)!;
    const ns = median(results.map((r) => r.nsPerIteration));
    const added = median(deltas.get(config)!);
    const records = median(results.map((r) => r.records / iterations));
    const dropped = median(results.map((r) => r.droppedRecords));
    console.log(`${config.padEnd(20)} ${ns.toFixed(0).padStart(12)}  ${(config === 'baseline' ? '-' : added.toFixed(0)).padStart(18)}  ${records.toFixed(2).padStart(17)}  ${String(dropped).padStart(7)}`);
  }
  const added = median(deltas.get('null-writer')!);
  console.log(`${added <= 150 ? 'PASS' : 'FAIL'} hook cost ${added.toFixed(0)} ns per iteration (bar: <= 150 ns)`);
  const attribution = perConfig.get('null-writer')!.map((r, i) => r.nsPerIteration - perConfig.get('null-no-attribution')![i]!.nsPerIteration);
  console.log(`attribution (stack watchdog + GC callbacks) adds ${median(attribution).toFixed(0)} ns per iteration while nothing is long (median of per-round differences)`);
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`hook-cost: ${name} needs a positive integer, got ${JSON.stringify(process.argv[i + 1])}`);
    process.exit(2);
  }
  return value;
}

if (process.argv[2] === 'child') {
  await child(process.argv[3] as Config, Number(process.argv[4]), process.argv[5]!);
} else {
  parent(option('--rounds', 7), option('--iterations', 1_000_000));
}
