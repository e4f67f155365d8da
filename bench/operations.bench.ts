// traced() cost per operation (tinybench, one process): a plain call as the baseline, then
// traced() with operations off (the no-op path), on and unsampled, on and sampled (no exporter),
// and sampled with an in-memory exporter; sync and async functions. The cost of traced() is a
// configuration's median time per operation minus the baseline's.
//
//   npm run bench:operations

import { Bench } from 'tinybench';
import { InMemoryExporter, NullWriter, startOperations, startRuntimeTelemetry, traced, type Operations } from '../src/index.js';

const work = (): number => 1;
const asyncWork = async (): Promise<number> => 1;

type Stoppable = Pick<Operations, 'stop'>;

/** Operations writing into a trace (NullWriter: encoded by the addon, then dropped). */
function intoTrace(): Stoppable {
  return startRuntimeTelemetry({ writer: new NullWriter(), operations: { sampler: { type: 'always' } }, queueSampleIntervalMs: 0, threadpoolProbeIntervalMs: 0, threadBufferRecords: 1 << 20 });
}

async function measure(label: string, setup: () => Stoppable | undefined, fn: () => unknown): Promise<{ label: string; nsPerOp: number }> {
  const ops = setup();
  const bench = new Bench({ time: 1500, warmupTime: 300 });
  bench.add(label, fn as () => void);
  await bench.run();
  await ops?.stop();
  const task = bench.tasks[0]!;
  const latency = task.result && 'latency' in task.result ? (task.result.latency as { p50: number }).p50 : NaN;
  return { label, nsPerOp: latency * 1e6 };
}

const rows: Array<{ label: string; nsPerOp: number }> = [];
const exporter = new InMemoryExporter({ maxOperations: 1000 });
const configs: Array<[string, () => Stoppable | undefined, () => unknown]> = [
  ['baseline: fn()', () => undefined, work],
  ['traced, operations off', () => undefined, () => traced('op', work)],
  ['traced, unsampled', () => startOperations({ sampler: { type: 'never' } }), () => traced('op', work)],
  ['traced, sampled (metrics only)', () => startOperations({ sampler: { type: 'always' } }), () => traced('op', work)],
  ['traced, sampled + in-memory exporter', () => startOperations({ sampler: { type: 'always' }, exporters: exporter }), () => traced('op', work)],
  ['traced, sampled into the trace', intoTrace, () => traced('op', work)],
  ['nested child, sampled', () => startOperations({}), () => traced('parent', () => traced('child', work))],
  ['baseline: await asyncFn()', () => undefined, asyncWork],
  ['await traced(async), unsampled', () => startOperations({ sampler: { type: 'never' } }), () => traced('op', asyncWork)],
  ['await traced(async), sampled', () => startOperations({ sampler: { type: 'always' } }), () => traced('op', asyncWork)],
];
for (const [label, setup, fn] of configs) rows.push(await measure(label, setup, fn));
const base = rows[0]!.nsPerOp;
const ASYNC = configs.findIndex(([label]) => label.startsWith('baseline: await'));
const asyncBase = rows[ASYNC]!.nsPerOp;
console.log('traced() cost per operation ( median ns per call; cost = minus the matching baseline)');
for (const [i, r] of rows.entries()) {
  const ref = i >= ASYNC ? asyncBase : base;
  const cost = i === 0 || i === ASYNC ? '' : `  cost ${Math.round(r.nsPerOp - ref)} ns`;
  console.log(`  ${r.label.padEnd(40)} ${r.nsPerOp.toFixed(0).padStart(7)} ns${cost}`);
}
