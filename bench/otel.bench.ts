// What one metric collection of the OpenTelemetry bridge costs (looptrace/otel on the SDK's
// MeterProvider, with looptraceMetricProducer() on its reader): the loop runs through many short
// iterations (setImmediate), as a saturated server does, then one collection reads the writer's
// aggregates. CPU time of the collection (process.cpuUsage: the thread that collects does all the
// work) after 10,000 to 360,000 busy stretches (a minute of a saturated HTTP server at 6,000
// iterations a second, docs/COMPARE-OVERHEAD.md); and what the median collection comes to per
// second at the default 60 s interval. Then the writer thread's aggregation per record: the same
// number of loop iterations with the bridge off and on, interleaved (A B A B A B), and the writer
// thread's own CPU clock (stats().selfCpu.writerNs) per record drained in each phase.
//
//   npm run bench:otel

import { performance } from 'node:perf_hooks';
import * as sdk from '@opentelemetry/sdk-metrics';
import { NullWriter, startRuntimeTelemetry } from '../src/index.js';
import { looptraceMetricProducer, startOpenTelemetry } from '../src/otel/index.js';

const INTERVAL_S = 60;

function iterations(count: number): Promise<void> {
  return new Promise((resolve) => {
    let left = count;
    const step = (): void => {
      if (--left <= 0) resolve();
      else setImmediate(step);
    };
    setImmediate(step);
  });
}

async function main(): Promise<void> {
  const exporter = new sdk.InMemoryMetricExporter(sdk.AggregationTemporality.CUMULATIVE);
  const reader = new sdk.PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000, metricProducers: [looptraceMetricProducer() as never] });
  const meterProvider = new sdk.MeterProvider({ readers: [reader] });
  const bridge = startOpenTelemetry({ meterProvider, longTaskSpans: false });
  const telemetry = startRuntimeTelemetry({ writer: new NullWriter(), threadBufferRecords: 1 << 20 });
  const rows: { stretches: number; cpuMs: number; wallMs: number }[] = [];
  await iterations(1000);
  await reader.forceFlush();
  for (const count of [10_000, 100_000, 360_000]) {
    await iterations(count);
    await new Promise((r) => setTimeout(r, 150)); // the writer drains what the loop recorded
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await reader.forceFlush();
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    rows.push({ stretches: count, cpuMs: (cpu.user + cpu.system) / 1000, wallMs });
  }
  await bridge.shutdown();
  await telemetry.stop();
  await meterProvider.shutdown();
  console.log('otel metrics bridge: one collection (looptrace/otel, SDK MeterProvider, in-memory exporter)');
  for (const r of rows) {
    console.log(`  ${String(r.stretches).padStart(7)} busy stretches since the last collection: ${r.cpuMs.toFixed(1)} ms CPU (${r.wallMs.toFixed(1)} ms wall)`);
  }
  const median = [...rows].sort((a, b) => a.cpuMs - b.cpuMs)[1]!.cpuMs;
  const perSecondUs = (median * 1000) / INTERVAL_S;
  console.log(`  median collection ${median.toFixed(1)} ms CPU; at the default ${INTERVAL_S} s interval: ${perSecondUs.toFixed(0)} µs of CPU per second (${(perSecondUs / 1e4).toFixed(4)}% of one core)`);
}

/** Writer CPU per record with aggregation off and on, interleaved, one telemetry throughout. */
async function writerCost(): Promise<void> {
  const telemetry = startRuntimeTelemetry({ writer: new NullWriter(), threadBufferRecords: 1 << 20 });
  const meterProvider = new sdk.MeterProvider({ readers: [] });
  const perRecord: Record<'off' | 'on', number[]> = { off: [], on: [] };
  await iterations(20_000);
  for (let round = 0; round < 3; round++) {
    for (const mode of ['off', 'on'] as const) {
      const bridge = mode === 'on' ? startOpenTelemetry({ meterProvider, longTaskSpans: false }) : undefined;
      await new Promise((r) => setTimeout(r, 150));
      const before = telemetry.stats();
      await iterations(200_000);
      await new Promise((r) => setTimeout(r, 150));
      const after = telemetry.stats();
      await bridge?.shutdown();
      perRecord[mode].push((after.selfCpu.writerNs - before.selfCpu.writerNs) / (after.records - before.records));
    }
  }
  await telemetry.stop();
  const median = (v: number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
  console.log('writer thread CPU per record drained (200,000 loop iterations per phase, interleaved):');
  console.log(`  bridge off: ${perRecord.off.map((v) => v.toFixed(1)).join(', ')} ns (median ${median(perRecord.off).toFixed(1)})`);
  console.log(`  bridge on:  ${perRecord.on.map((v) => v.toFixed(1)).join(', ')} ns (median ${median(perRecord.on).toFixed(1)})`);
  console.log(`  aggregation: ${(median(perRecord.on) - median(perRecord.off)).toFixed(1)} ns per record on the writer thread`);
}

await main();
await writerCost();
