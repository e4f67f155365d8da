// The server that scripts/compare-overhead.ts measures: a real node:http server under one
// configuration (no telemetry, looptrace with some writer and options, or a peer tool), one
// process per handler, configuration and round. The parent drives it over IPC, and freezes it
// (SIGSTOP) while it measures other servers:
//
//   server -> parent  { type: 'listening', port }
//   parent -> server  { type: 'mark' }     start of a measured window: the idle second, or a slice
//   server -> parent  { type: 'marked' }
//   parent -> server  { type: 'report' }   end of the window
//   server -> parent  { type: 'report', report: ServerReport }
//   parent -> server  { type: 'stop' }     stop telemetry (flushing it), close, exit 0
//
// Only what a configuration needs is loaded: the baseline never imports looptrace, so that its
// figures are those of an application that does not use it at all.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { threadSwitches } from './idle-cost.js';

/** What the parent passes as argv[2], as JSON. */
export interface ServerSpec {
  /** One of CONFIGS in compare-overhead.ts. */
  config: string;
  handler: 'async' | 'sync';
  /** A directory of this run's own, for trace files. */
  dir: string;
  /** Extra startRuntimeTelemetry options for looptrace configurations (compare-overhead --instructions). */
  telemetryOptions?: Record<string, number>;
  /** Keep idle connections open for ever (under callgrind the server is slow to come back to them). */
  noKeepAliveTimeout?: boolean;
  /**
   * Collect garbage fully before listening and before stopping (node --expose-gc): with the heap
   * in the same state at both ends, runs of different request counts or configurations do not
   * differ by a scavenge that happened to fall inside one of them (compare-overhead --instructions).
   */
  gcAtBoundaries?: boolean;
}

/** looptrace's self-accounted CPU by part (stats().selfCpu without the process's total), ns. */
export interface SelfCpuParts {
  writerNs: number;
  watchdogNs: number;
  hooksNs: number;
  timersNs: number;
  stacksNs: number;
}

/** Deltas over the measured window, sent at 'report'. */
export interface ServerReport {
  /** Responses completed in the window, counted by the server. */
  requests: number;
  /** Milliseconds from the first to the last response of the window. */
  loadedMs: number;
  /** Responses completed since the server started (warm-up included). */
  requestsTotal: number;
  /** process.cpuUsage() over the window, all threads of the process (writer, threadpool). */
  cpuUserUs: number;
  cpuSystemUs: number;
  windowMs: number;
  /** performance.eventLoopUtilization() over the window: near 1 means the loop never waited for I/O (saturated). */
  loopUtilization: number;
  /** looptrace's stats() deltas over the window; null when the configuration has no looptrace. */
  telemetry: {
    records: number;
    bytes: number;
    droppedRecords: number;
    errors: string[];
    selfCpuNs: number;
    selfCpuParts: SelfCpuParts;
    /** Context switches of looptrace's writer and watchdog threads (each sleep that ends is one). */
    wakeUps: { writer: number; watchdog: number };
  } | null;
  /** Calls recorded by the naive async_hooks tracer over the window; null for other configurations. */
  tracerRecords: number | null;
}

// ---------------------------------------------------------------------------------------------
// Handlers

// Stands in for a cache or database call that resolves at once: an await costs a promise and a
// microtask, which is what async_hooks-based tools pay for.
async function lookup(id: number): Promise<{ id: number; name: string; price: number }> {
  await null;
  return { id, name: `item-${id}`, price: id * 3 };
}

let served = 0;
// When the first and the latest response of the window were sent (performance.now(), ms): the
// span the server was under load, without the load generator's connect and teardown.
let firstAt = -1;
let lastAt = -1;

async function handleAsync(_req: IncomingMessage, res: ServerResponse): Promise<void> {
  const a = await lookup(1);
  const b = await lookup(2);
  const c = await lookup(3);
  send(res, JSON.stringify({ items: [a, b, c], served }));
}

// A small synchronous handler: serialising a ~4 KB object, the CPU-bound kind of request where
// per-iteration costs weigh relatively less. It answers with a small JSON (the size and a digest
// of what it serialised) rather than the 4 KB: the load generator then pays for a small response
// only, and one load-generator core can keep one server core saturated.
const CATALOGUE = {
  generatedAt: '2026-01-01T00:00:00.000Z',
  items: Array.from({ length: 40 }, (_, i) => ({
    id: i,
    sku: `SKU-${String(i).padStart(6, '0')}`,
    name: `Product number ${i}`,
    price: Math.round(i * 137.3) / 100,
    tags: ['alpha', 'beta', i % 2 === 0 ? 'even' : 'odd'],
    inStock: i % 3 !== 0,
  })),
};

function handleSync(_req: IncomingMessage, res: ServerResponse): void {
  CATALOGUE.generatedAt = new Date(1_767_225_600_000 + served).toISOString();
  const json = JSON.stringify(CATALOGUE);
  let digest = 0;
  for (let i = 0; i < json.length; i += 16) digest = (digest * 31 + json.charCodeAt(i)) | 0;
  send(res, JSON.stringify({ bytes: json.length, digest }));
}

function send(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
  served++;
  // About 30 ns, paid alike by every configuration, baseline included.
  lastAt = performance.now();
  if (firstAt < 0) firstAt = lastAt;
}

// ---------------------------------------------------------------------------------------------
// Configurations

interface Instrumentation {
  stats(): { records: number; bytes: number; droppedRecords: number; errors: string[]; selfCpuNs: number; selfCpuParts: SelfCpuParts } | null;
  tracerRecords(): number | null;
  stop(): Promise<void>;
}

/**
 * Starts the metrics bridge on an SDK MeterProvider with the default reader; returns its stop.
 * timeScaled (compare-overhead --instructions): the export interval is stretched like the
 * recorder's own timers, so that the per-request figure holds the writer's aggregation and not
 * collections, which follow time (one collection costs a few ms of CPU: npm run bench:otel).
 */
async function startOtelMetrics(timeScaled: boolean): Promise<() => Promise<void>> {
  const sdk = await import('@opentelemetry/sdk-metrics');
  const { startOpenTelemetry, looptraceMetricProducer } = await import('../src/otel/index.js');
  const exporter = {
    export: (_metrics: unknown, done: (result: { code: number }) => void) => done({ code: 0 }),
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const reader = new sdk.PeriodicExportingMetricReader({
    exporter: exporter as never,
    metricProducers: [looptraceMetricProducer() as never],
    ...(timeScaled ? { exportIntervalMillis: 600_000_000, exportTimeoutMillis: 30_000 } : {}),
  });
  const meterProvider = new sdk.MeterProvider({ readers: [reader] });
  const bridge = startOpenTelemetry({ meterProvider, longTaskSpans: false });
  return async () => {
    await bridge.shutdown();
    await meterProvider.shutdown();
  };
}

async function instrument(spec: ServerSpec): Promise<Instrumentation> {
  const none: Instrumentation = { stats: () => null, tracerRecords: () => null, stop: async () => {} };
  const config = spec.config;
  switch (config) {
    case 'baseline':
    case 'trace-events': // node's own flags, set by the parent
      return none;
    case 'rotating-writer':
    case 'operations':
    case 'callbacks':
    case 'null-writer':
    case 'disabled':
    case 'hooks-only':
    case 'no-probe':
    case 'no-queue-sample':
    case 'otel-metrics': {
      const looptrace = await import('../src/index.js');
      // The OpenTelemetry metrics bridge on the SDK's MeterProvider at its default export interval
      // (60 s), exporting to nowhere: what the bridge and the writer's aggregation cost.
      const bridge = config === 'otel-metrics' ? await startOtelMetrics(spec.telemetryOptions !== undefined) : undefined;
      const writer =
        config === 'rotating-writer' || config === 'disabled' || config === 'operations' || config === 'callbacks' || config === 'otel-metrics'
          ? new looptrace.RotatingWriter(join(spec.dir, 'trace.bin'), { maxFileBytes: 8 << 20, maxTotalBytes: 64 << 20 })
          : new looptrace.NullWriter();
      const telemetry = looptrace.startRuntimeTelemetry({
        writer,
        enabled: config !== 'disabled',
        ...(config === 'operations' || config === 'callbacks' ? { operations: { http: true } } : {}),
        ...(config === 'hooks-only' || config === 'no-queue-sample' ? { queueSampleIntervalMs: 0 } : {}),
        ...(config === 'hooks-only' || config === 'no-probe' ? { threadpoolProbeIntervalMs: 0 } : {}),
        ...spec.telemetryOptions,
        onError: (error) => console.error(`compare-overhead server (${config}): ${error.message}`),
      });
      // Callback mode on for the whole measurement (windows are at most 10 minutes; re-armed).
      const callbacks = config === 'callbacks' ? setInterval(() => telemetry.recordCallbacks({ durationMs: 60_000 }), 30_000) : undefined;
      if (config === 'callbacks') telemetry.recordCallbacks({ durationMs: 60_000 });
      callbacks?.unref();
      return {
        stats: () => {
          const s = telemetry.stats();
          const { writerNs, watchdogNs, hooksNs, timersNs, stacksNs } = s.selfCpu;
          return { records: s.records, bytes: s.bytes, droppedRecords: s.droppedRecords, errors: s.errors, selfCpuNs: s.selfCpuNs, selfCpuParts: { writerNs, watchdogNs, hooksNs, timersNs, stacksNs } };
        },
        tracerRecords: () => null,
        stop: async () => {
          if (callbacks !== undefined) clearInterval(callbacks);
          await bridge?.();
          return telemetry.stop();
        },
      };
    }
    case 'async-hooks': {
      // What a naive tracer does: every hook call stores a timestamp into a preallocated ring, no
      // allocation per call. The cost measured is mostly async_hooks' own (promise hooks enabled,
      // a JS call per event), not the bookkeeping.
      const { createHook } = await import('node:async_hooks');
      const RING = 1 << 20;
      const times = new Float64Array(RING);
      let calls = 0;
      const record = (): void => {
        times[calls++ & (RING - 1)] = performance.now();
      };
      const hook = createHook({ init: record, before: record, after: record, destroy: record }).enable();
      return {
        stats: () => null,
        tracerRecords: () => calls,
        stop: async () => {
          hook.disable();
        },
      };
    }
    case 'eld-elu': {
      // What metrics libraries do (prom-client's default metrics, APM agents): a delay histogram
      // sampled by a 10 ms timer, and utilisation read on a 100 ms interval.
      const { monitorEventLoopDelay } = await import('node:perf_hooks');
      const histogram = monitorEventLoopDelay({ resolution: 10 });
      histogram.enable();
      let last = performance.eventLoopUtilization();
      // What an exporter would publish; kept so that the reads do real work.
      let reading = { utilization: 0, meanNs: 0, p99Ns: 0, maxNs: 0 };
      const poll = setInterval(() => {
        const now = performance.eventLoopUtilization();
        const delta = performance.eventLoopUtilization(now, last);
        last = now;
        // A histogram without samples yet reads NaN.
        const has = histogram.count > 0;
        reading = {
          utilization: delta.utilization,
          meanNs: has ? histogram.mean : 0,
          p99Ns: has ? histogram.percentile(99) : 0,
          maxNs: has ? histogram.max : 0,
        };
        histogram.reset();
      }, 100);
      poll.unref();
      return {
        stats: () => null,
        tracerRecords: () => null,
        stop: async () => {
          clearInterval(poll);
          histogram.disable();
          if (!(reading.utilization >= 0)) console.error('compare-overhead server: eventLoopUtilization read', reading.utilization);
        },
      };
    }
    default:
      throw new Error(`compare-overhead server: unknown configuration ${JSON.stringify(spec.config)}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Main

function tell(message: unknown): void {
  process.send?.(message);
}

const spec = JSON.parse(process.argv[2] ?? '{}') as ServerSpec;
if (process.send === undefined) {
  console.error('compare-overhead server: run by scripts/compare-overhead.ts with an IPC channel');
  process.exit(2);
}
const instrumentation = await instrument(spec);
const handler = spec.handler === 'sync' ? handleSync : handleAsync;
const server = createServer((req, res) => {
  void handler(req, res);
});
if (spec.noKeepAliveTimeout === true) {
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
}

/** Context switches of looptrace's threads by thread id, with the thread's name. */
function looptraceSwitches(): Map<string, { name: string; switches: number }> {
  const all = threadSwitches();
  for (const [tid, t] of all) if (t.name !== 'looptrace-write' && t.name !== 'looptrace-watch') all.delete(tid);
  return all;
}

function wakeUpsSince(mark: Map<string, { name: string; switches: number }>): { writer: number; watchdog: number } {
  const out = { writer: 0, watchdog: 0 };
  for (const [tid, t] of looptraceSwitches()) {
    const d = t.switches - (mark.get(tid)?.switches ?? 0);
    if (t.name === 'looptrace-write') out.writer += d;
    else out.watchdog += d;
  }
  return out;
}

let markElu = performance.eventLoopUtilization();
let markCpu = process.cpuUsage();
let markNs = process.hrtime.bigint();
let markServed = 0;
let markStats = instrumentation.stats();
let markSwitches = looptraceSwitches();
let markTracer = instrumentation.tracerRecords();

process.on('message', (message: { type?: string }) => {
  switch (message.type) {
    case 'mark':
      markStats = instrumentation.stats();
      markSwitches = looptraceSwitches();
      markTracer = instrumentation.tracerRecords();
      markServed = served;
      firstAt = -1;
      markNs = process.hrtime.bigint();
      markCpu = process.cpuUsage();
      markElu = performance.eventLoopUtilization();
      tell({ type: 'marked' });
      break;
    case 'report': {
      const cpu = process.cpuUsage(markCpu);
      const elu = performance.eventLoopUtilization(markElu);
      const windowMs = Number(process.hrtime.bigint() - markNs) / 1e6;
      const requests = served - markServed;
      const stats = instrumentation.stats();
      const tracer = instrumentation.tracerRecords();
      const report: ServerReport = {
        requests,
        loadedMs: firstAt < 0 ? 0 : lastAt - firstAt,
        requestsTotal: served,
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        windowMs,
        loopUtilization: elu.utilization,
        telemetry:
          stats === null || markStats === null
            ? null
            : {
                records: stats.records - markStats.records,
                bytes: stats.bytes - markStats.bytes,
                droppedRecords: stats.droppedRecords - markStats.droppedRecords,
                errors: stats.errors,
                selfCpuNs: stats.selfCpuNs - markStats.selfCpuNs,
                selfCpuParts: {
                  writerNs: stats.selfCpuParts.writerNs - markStats.selfCpuParts.writerNs,
                  watchdogNs: stats.selfCpuParts.watchdogNs - markStats.selfCpuParts.watchdogNs,
                  hooksNs: stats.selfCpuParts.hooksNs - markStats.selfCpuParts.hooksNs,
                  timersNs: stats.selfCpuParts.timersNs - markStats.selfCpuParts.timersNs,
                  stacksNs: stats.selfCpuParts.stacksNs - markStats.selfCpuParts.stacksNs,
                },
                wakeUps: wakeUpsSince(markSwitches),
              },
        tracerRecords: tracer === null || markTracer === null ? null : tracer - markTracer,
      };
      tell({ type: 'report', report });
      break;
    }
    case 'stop':
      void (async () => {
        if (spec.gcAtBoundaries === true) (globalThis as { gc?: () => void }).gc?.();
        await instrumentation.stop();
        server.closeAllConnections();
        server.close();
        process.disconnect();
        // Exit explicitly: the trace-events agent writes its file at exit either way, and an
        // instrumentation that left a handle behind must not hang the run.
        process.exit(0);
      })();
      break;
    default:
      break;
  }
});

// The parent gone (killed, crashed): do not linger as an orphan holding a port.
process.on('disconnect', () => process.exit(0));

if (spec.gcAtBoundaries === true) (globalThis as { gc?: () => void }).gc?.();
server.listen(0, '127.0.0.1', () => {
  tell({ type: 'listening', port: (server.address() as AddressInfo).port });
});
