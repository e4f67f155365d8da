// OTLP export (looptrace/otel with the official OpenTelemetry packages) as a user runs it: an
// application in its own directory, started with `node --import looptrace/register` and nothing
// but environment variables. A local receiver on 127.0.0.1 takes the real OTLP/HTTP requests and
// the test decodes them on its own: protobuf with protobufjs and message definitions written from
// the opentelemetry-proto specification (test/fixtures/otel/otlp.proto), and JSON. Then: a
// collector that is not there (bounded memory, counted drops, the application unaffected), and
// packages that are not installed (a warning naming each, the trace files still written).

import { createServer, type Server } from 'node:http';
import { cpSync, existsSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeTraces, resolveInput } from '../src/analyze/index.js';
import { describeAppRun, makeApp, removeApps, runNode } from './fixtures/production/app.js';
import { expectNoStackTrace, requireBuild, ROOT } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeApps);

type Value = string | number | boolean;
interface Decoded {
  resource: Record<string, Value>;
  scopes: string[];
  metrics: { name: string; unit: string; points: { attributes: Record<string, Value>; value?: number; count?: number; sum?: number }[] }[];
  spans: { name: string; traceId: string; spanId: string; parentSpanId: string; attributes: Record<string, Value> }[];
}
interface Received {
  path: string;
  contentType: string;
  body: Buffer;
}

let root: protobuf.Root;
beforeAll(async () => {
  root = await protobuf.load(join(ROOT, 'test/fixtures/otel/otlp.proto'));
});

/** A local OTLP/HTTP receiver: keeps every request, answers 200 with an empty body. */
async function receiver(): Promise<{ server: Server; url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      received.push({ path: req.url ?? '', contentType: String(req.headers['content-type']), body });
      const json = String(req.headers['content-type']).includes('json');
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
      res.end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return { server, url: `http://127.0.0.1:${port}`, received };
}

function anyValue(v: Record<string, unknown> | undefined): Value {
  if (v === undefined) return '';
  if ('stringValue' in v) return String(v['stringValue']);
  if ('intValue' in v) return Number(v['intValue']);
  if ('doubleValue' in v) return Number(v['doubleValue']);
  if ('boolValue' in v) return Boolean(v['boolValue']);
  return JSON.stringify(v);
}

function attributes(list: unknown): Record<string, Value> {
  const out: Record<string, Value> = {};
  for (const kv of (list as { key: string; value?: Record<string, unknown> }[] | undefined) ?? []) out[kv.key] = anyValue(kv.value);
  return out;
}

const hex = (v: unknown): string => (typeof v === 'string' ? v.toLowerCase() : v === undefined ? '' : Buffer.from(v as Uint8Array).toString('hex'));

/** Every request decoded into one view: protobuf through otlp.proto, JSON through JSON.parse. */
function decode(received: readonly Received[]): Decoded {
  const out: Decoded = { resource: {}, scopes: [], metrics: [], spans: [] };
  for (const r of received) {
    const isJson = r.contentType.includes('json');
    const isMetrics = r.path === '/v1/metrics';
    let message: Record<string, unknown>;
    if (isJson) message = JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
    else {
      const type = root.lookupType(isMetrics ? 'otlp.ExportMetricsServiceRequest' : 'otlp.ExportTraceServiceRequest');
      message = type.toObject(type.decode(r.body), { longs: Number, defaults: false, oneofs: false }) as Record<string, unknown>;
    }
    for (const resource of (message[isMetrics ? 'resourceMetrics' : 'resourceSpans'] as Record<string, unknown>[] | undefined) ?? []) {
      Object.assign(out.resource, attributes((resource['resource'] as { attributes?: unknown } | undefined)?.attributes));
      for (const scope of (resource[isMetrics ? 'scopeMetrics' : 'scopeSpans'] as Record<string, unknown>[] | undefined) ?? []) {
        out.scopes.push(String((scope['scope'] as { name?: string } | undefined)?.name));
        if (isMetrics) {
          for (const m of (scope['metrics'] as Record<string, unknown>[]) ?? []) {
            const data = (m['gauge'] ?? m['sum'] ?? m['histogram']) as { dataPoints?: Record<string, unknown>[] } | undefined;
            out.metrics.push({
              name: String(m['name']),
              unit: String(m['unit'] ?? ''),
              points: (data?.dataPoints ?? []).map((p) => ({
                attributes: attributes(p['attributes']),
                ...(p['asDouble'] !== undefined ? { value: Number(p['asDouble']) } : {}),
                ...(p['asInt'] !== undefined ? { value: Number(p['asInt']) } : {}),
                ...(p['count'] !== undefined ? { count: Number(p['count']), sum: Number(p['sum']) } : {}),
              })),
            });
          }
        } else {
          for (const s of (scope['spans'] as Record<string, unknown>[]) ?? []) {
            out.spans.push({ name: String(s['name']), traceId: hex(s['traceId']), spanId: hex(s['spanId']), parentSpanId: hex(s['parentSpanId']), attributes: attributes(s['attributes']) });
          }
        }
      }
    }
  }
  return out;
}

// The application of the zero-code runs: a long task in a named function, then a quiet second;
// it ends by itself, and looptrace/register sends what is buffered before the process exits. The
// long task waits until the preload's OTLP export has started, so that it does not share its
// stretch with the loading of the OpenTelemetry packages (itself a long task of a few hundred
// milliseconds, seconds on a loaded machine).
const ZERO_CODE_APP = `const register = await import('looptrace/register');
function slowPath(ms) {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x++;
  return x;
}
while (register.otlp === undefined) await new Promise((r) => setTimeout(r, 20));
await new Promise((r) => setTimeout(r, 100));
slowPath(300);
setTimeout(() => process.stdout.write('RESULT ' + JSON.stringify({ pid: process.pid }) + '\\n'), 1000);
`;

function otlpEnv(url: string, protocol: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: url,
    OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
    OTEL_SERVICE_NAME: 'checkout',
    OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=test,team=payments',
    // Long enough that no periodic export shares the long task's stretch (serializing one is
    // itself a long task on a loaded machine): the metrics go out when the process ends.
    OTEL_METRIC_EXPORT_INTERVAL: '20000',
    OTEL_BSP_SCHEDULE_DELAY: '20000',
  };
}

describe.each([
  ['http/protobuf', 'application/x-protobuf'],
  ['http/json', 'application/json'],
])('zero-code OTLP export over %s', (protocol, contentType) => {
  it('a real OTLP/HTTP request carries the resource, the runtime metrics and the long-task span; the trace files are written', async () => {
    const { server, url, received } = await receiver();
    try {
      const dir = makeApp({ 'app.mjs': ZERO_CODE_APP });
      const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], otlpEnv(url, protocol), 60_000);
      expect(run.code, describeAppRun(run)).toBe(0);
      expectNoStackTrace(run.stderr);
      expect(run.stderr, describeAppRun(run)).not.toMatch(/LOOPTRACE_OTEL|Warning/);
      expect(received.some((r) => r.path === '/v1/metrics'), describeAppRun(run)).toBe(true);
      expect(received.some((r) => r.path === '/v1/traces'), describeAppRun(run)).toBe(true);
      for (const r of received) expect(r.contentType).toContain(contentType);

      const d = decode(received);
      expect(d.resource).toMatchObject({ 'service.name': 'checkout', 'deployment.environment.name': 'test', team: 'payments', 'process.pid': run.result['pid'] as number });
      expect(new Set(d.scopes)).toEqual(new Set(['looptrace']));
      const names = new Set(d.metrics.map((m) => m.name));
      for (const name of ['nodejs.eventloop.utilization', 'nodejs.eventloop.time', 'nodejs.eventloop.delay.p99', 'v8js.gc.duration', 'looptrace.eventloop.busy_stretch.duration', 'looptrace.eventloop.long_tasks', 'looptrace.records.dropped']) {
        expect(names.has(name), `${name} in ${[...names].join(', ')}`).toBe(true);
      }
      const utilization = d.metrics.filter((m) => m.name === 'nodejs.eventloop.utilization').flatMap((m) => m.points);
      expect(utilization.length).toBeGreaterThan(0);
      for (const p of utilization) {
        expect(p.attributes).toMatchObject({ 'thread.name': 'main', 'thread.id': 0 });
        expect(p.value).toBeGreaterThanOrEqual(0);
        expect(p.value).toBeLessThanOrEqual(1);
      }
      const time = d.metrics.find((m) => m.name === 'nodejs.eventloop.time')!;
      expect(time.unit).toBe('s');
      const longTasks = d.metrics.filter((m) => m.name === 'looptrace.eventloop.long_tasks').flatMap((m) => m.points);
      expect(Math.max(...longTasks.map((p) => p.value ?? 0))).toBeGreaterThanOrEqual(1);
      const stretches = d.metrics.filter((m) => m.name === 'looptrace.eventloop.busy_stretch.duration').flatMap((m) => m.points);
      expect(Math.max(...stretches.map((p) => p.count ?? 0))).toBeGreaterThan(0);

      const task = d.spans.find((s) => s.name === 'looptrace.long_task' && s.attributes['code.function'] === 'slowPath');
      expect(task, JSON.stringify(d.spans)).toBeDefined();
      expect(task!.traceId).toMatch(/^[0-9a-f]{32}$/);
      expect(task!.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(String(task!.attributes['code.filepath'])).toMatch(/app\.mjs$/);
      expect(task!.attributes['code.lineno']).toBe(5);

      // The files keep the full timeline: the same long task is in the trace.
      const traces = join(dir, 'looptrace-traces');
      const files = readdirSync(traces).filter((f) => f.endsWith('.bin'));
      expect(files.length).toBeGreaterThan(0);
      const [report] = analyzeTraces(resolveInput([traces]).traces, { longTaskNs: 50e6 });
      expect(report!.longTasks.items.some((t) => t.durationNs >= 300e6)).toBe(true);
    } finally {
      server.close();
    }
  }, 90_000);
});

describe('a collector that is not there', () => {
  it('costs bounded memory, counts every drop, and the application never sees an error', async () => {
    // A port that was just free: nothing listens on it.
    const { server, url } = await receiver();
    await new Promise((resolve) => server.close(resolve));
    const dir = makeApp({
      'app.mjs': `
import { startRuntimeTelemetry, RotatingWriter, traced } from 'looptrace';
import { startOtlpExport } from 'looptrace/otel';
const otlp = startOtlpExport();
const telemetry = startRuntimeTelemetry({ writer: new RotatingWriter(process.cwd() + '/traces/trace.bin'), operations: { exporters: [otlp.bridge.spanExporter] } });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const heap = [];
let done = 0;
for (let round = 0; round < 30; round++) {
  for (let i = 0; i < 500; i++) traced('work', () => { done++; });
  await sleep(30);
  if (round === 5 || round === 29) { globalThis.gc(); heap.push(process.memoryUsage().heapUsed); }
}
await sleep(600);
const stats = otlp.stats();
await telemetry.stop();
process.stdout.write('RESULT ' + JSON.stringify({ done, heap, stats, bridge: otlp.bridge.stats(), files: telemetry.stats().files }) + '\\n');
process.exit(0);
`,
    });
    const run = await runNode(dir, ['--expose-gc', 'app.mjs'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: url,
      OTEL_EXPORTER_OTLP_TIMEOUT: '500',
      OTEL_BSP_MAX_QUEUE_SIZE: '256',
      OTEL_BSP_SCHEDULE_DELAY: '20',
      OTEL_METRIC_EXPORT_INTERVAL: '100',
    }, 60_000);
    expect(run.code, describeAppRun(run)).toBe(0);
    expectNoStackTrace(run.stderr);
    const r = run.result as { done: number; heap: number[]; stats: { droppedSpans: number; exportedSpans: number; failedExports: number; droppedMetricPoints: number; queuedSpans: number }; bridge: { operationSpans: number; errors: number }; files: number };
    expect(r.done).toBe(15_000);
    expect(r.bridge.operationSpans).toBe(15_000);
    expect(r.bridge.errors).toBe(0);
    // Nothing reached the collector, everything is counted: what is still queued is within the bound.
    expect(r.stats.exportedSpans).toBe(0);
    expect(r.stats.queuedSpans).toBeLessThanOrEqual(256);
    expect(r.stats.droppedSpans + r.stats.queuedSpans).toBeGreaterThanOrEqual(15_000 - 512);
    expect(r.stats.failedExports).toBeGreaterThan(0);
    expect(r.stats.droppedMetricPoints).toBeGreaterThan(0);
    // 12,500 spans went by between the two measurements: the heap did not keep them.
    expect(r.heap[1]! - r.heap[0]!, `heap ${r.heap.join(' → ')} bytes`).toBeLessThan(4 << 20);
    expect(r.files).toBeGreaterThan(0);
  }, 90_000);
});

/**
 * The installed package without the named dependencies: package.json and dist/ copied (a link
 * would resolve back into this checkout, whose node_modules has them), the native build and every
 * other dependency linked.
 */
function packageWithout(names: string[]): string {
  const dir = makeApp({});
  const pkg = join(dir, 'pkg');
  mkdirSync(join(pkg, 'node_modules', '@opentelemetry'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
  symlinkSync(join(ROOT, 'build'), join(pkg, 'build'), 'dir');
  symlinkSync(join(ROOT, 'native'), join(pkg, 'native'), 'dir');
  for (const entry of readdirSync(join(ROOT, 'node_modules'))) {
    if (entry === '@opentelemetry' || entry === '.bin') continue;
    symlinkSync(join(ROOT, 'node_modules', entry), join(pkg, 'node_modules', entry));
  }
  for (const entry of readdirSync(join(ROOT, 'node_modules', '@opentelemetry'))) {
    if (names.includes(`@opentelemetry/${entry}`)) continue;
    symlinkSync(join(ROOT, 'node_modules', '@opentelemetry', entry), join(pkg, 'node_modules', '@opentelemetry', entry), 'dir');
  }
  return pkg;
}

describe('OpenTelemetry packages that are not installed', () => {
  it('without @opentelemetry/api: the package root works, and the preload warns naming the package and still writes the trace', async () => {
    const pkg = packageWithout(['@opentelemetry/api']);
    const dir = makeApp({ 'app.mjs': "import { startRuntimeTelemetry } from 'looptrace';\nsetTimeout(() => console.log('app ran', typeof startRuntimeTelemetry), 300);" }, pkg);
    expect(existsSync(join(pkg, 'node_modules', '@opentelemetry', 'api'))).toBe(false);
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { LOOPTRACE_OTEL: '1' }, 30_000);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stdout).toContain('app ran function');
    expectNoStackTrace(run.stderr);
    expect(run.stderr).toMatch(/OpenTelemetry export is off: it needs the package @opentelemetry\/api \(npm install @opentelemetry\/api\); trace files are still written/);
    expect(readdirSync(join(dir, 'looptrace-traces')).some((f) => f.endsWith('.bin'))).toBe(true);
  }, 60_000);

  it('without the SDK: the warning names @opentelemetry/sdk-metrics and the exporter package, and the trace is still written', async () => {
    const pkg = packageWithout(['@opentelemetry/sdk-metrics', '@opentelemetry/exporter-trace-otlp-proto']);
    expect(readlinkSync(join(pkg, 'node_modules', '@opentelemetry', 'api'))).toContain('@opentelemetry');
    const dir = makeApp({ 'app.mjs': "setTimeout(() => console.log('app ran'), 300);" }, pkg);
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' }, 30_000);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stdout).toContain('app ran');
    expectNoStackTrace(run.stderr);
    expect(run.stderr).toMatch(/needs the package @opentelemetry\/sdk-metrics \(npm install @opentelemetry\/sdk-metrics\): no OTLP metrics; trace files are still written/);
    expect(run.stderr).toMatch(/needs the package @opentelemetry\/exporter-trace-otlp-proto \(npm install @opentelemetry\/exporter-trace-otlp-proto\): no OTLP spans/);
    expect(readdirSync(join(dir, 'looptrace-traces')).some((f) => f.endsWith('.bin'))).toBe(true);
  }, 60_000);
});
