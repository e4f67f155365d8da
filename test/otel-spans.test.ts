// Spans (looptrace/otel) through the OpenTelemetry SDK's own TracerProvider and in-memory span
// exporter, in a child process: sampled operations keep looptrace's trace id, span id and parent;
// a long task is a span under the operation it ran in, naming the blocking function and line and
// carrying its CPU split; a worker's long task too. A TracerProvider that throws never reaches
// the application.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeRun, expectCleanExit, removeTempDirs, requireBuild, result, runFixture, tempDir, type RunResult } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeTempDirs);

interface SpanOut {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  kind: number;
  startMs: number;
  endMs: number;
  attributes: Record<string, string | number>;
  status: { code: number };
}
interface OpOut {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  startTimeMs: number;
  durationNs: number;
}
interface Output {
  spans: SpanOut[];
  ops: OpOut[];
  clientTraceId: string;
  clientSpanId: string;
  workerThreadId: number;
  file: string;
  bridge: { operationSpans: number; longTaskSpans: number; idMismatches: number; errors: number };
  appFinished: boolean;
}

let run: RunResult;
let out: Output;

beforeAll(async () => {
  run = await runFixture('../otel/spans-app.mjs', { path: join(tempDir('looptrace-otel-'), 'trace.bin') }, { timeoutMs: 60_000 });
  out = result<Output>(run);
}, 90_000);

describe('OpenTelemetry spans from operations and long tasks', () => {
  it('runs cleanly, with no OpenTelemetry error', () => {
    expectCleanExit(run);
    expect(out.bridge.errors, describeRun(run)).toBe(0);
    expect(out.bridge.idMismatches).toBe(0);
  });

  it('each sampled operation is a span with looptrace’s trace id, span id and parent', () => {
    expect(out.ops.map((o) => o.name).sort()).toEqual(['GET /orders/:id', 'child-work']);
    for (const op of out.ops) {
      const span = out.spans.find((s) => s.spanId === op.spanId);
      expect(span, op.name).toBeDefined();
      expect([span!.name, span!.traceId, span!.parentSpanId]).toEqual([op.name, op.traceId, op.parentSpanId]);
      expect(span!.startMs).toBeCloseTo(op.startTimeMs, 3);
      expect(span!.endMs - span!.startMs).toBeCloseTo(op.durationNs / 1e6, 3);
    }
    const server = out.spans.find((s) => s.name === 'GET /orders/:id')!;
    // The incoming traceparent is the parent: the trace continues the caller's.
    expect([server.traceId, server.parentSpanId]).toEqual([out.clientTraceId, out.clientSpanId]);
    expect(server.kind).toBe(1); // SpanKind.SERVER
    expect(server.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/orders/42', 'http.response.status_code': 200 });
    const child = out.spans.find((s) => s.name === 'child-work')!;
    expect(child.parentSpanId).toBe(server.spanId);
  });

  it('the long task in the request is a span under the operation that ran it, naming the function and line', () => {
    const source = readFileSync(out.file, 'utf8').split('\n');
    const line = source.findIndex((l) => l.includes('// BLOCK-LINE')) + 1;
    const child = out.spans.find((s) => s.name === 'child-work')!;
    const task = out.spans.find((s) => s.name === 'looptrace.long_task' && s.parentSpanId === child.spanId);
    expect(task, JSON.stringify(out.spans, null, 1)).toBeDefined();
    expect(task!.traceId).toBe(out.clientTraceId);
    expect(task!.attributes).toMatchObject({ 'thread.name': 'main', 'thread.id': 0, 'code.function': 'blockTheLoop', 'code.lineno': line });
    expect(String(task!.attributes['code.filepath'])).toMatch(/spans-app\.mjs$/);
    // It covers the 150 ms block.
    expect(task!.endMs - task!.startMs).toBeGreaterThanOrEqual(150);
    expect(task!.startMs).toBeLessThanOrEqual(child.startMs + 1);
  });

  it('a long task carries its CPU split: on CPU, runnable and off CPU add up to the measured time', () => {
    const task = out.spans.find((s) => s.name === 'looptrace.long_task' && s.attributes['code.function'] === 'blockTheLoop')!;
    const a = task.attributes as Record<string, number>;
    expect(a['looptrace.long_task.measured_ns']).toBeGreaterThan(100e6);
    expect(a['looptrace.long_task.cpu_ns']).toBeGreaterThan(0);
    expect(a['looptrace.long_task.cpu_ns']! + a['looptrace.long_task.runnable_ns']! + a['looptrace.long_task.off_cpu_ns']!).toBeGreaterThanOrEqual(a['looptrace.long_task.measured_ns']! - 1);
    expect(a['looptrace.long_task.cpu_ns']).toBeLessThanOrEqual(a['looptrace.long_task.measured_ns']! * 1.02);
    expect(a['looptrace.long_task.stack_samples']).toBeGreaterThanOrEqual(1);
  });

  it('a worker’s long task is a span with the worker’s name and the blocking function', () => {
    const task = out.spans.find((s) => s.name === 'looptrace.long_task' && s.attributes['thread.name'] === 'spin-worker');
    expect(task, JSON.stringify(out.spans, null, 1)).toBeDefined();
    expect(task!.attributes).toMatchObject({ 'thread.id': out.workerThreadId, 'code.function': 'workerBlock' });
    expect(task!.endMs - task!.startMs).toBeGreaterThanOrEqual(120);
    expect(task!.parentSpanId).toBeUndefined();
  });
});

describe('a TracerProvider that throws', () => {
  it('never reaches the application: errors are counted and reported once per place', async () => {
    const bad = await runFixture('../otel/spans-app.mjs', { path: join(tempDir('looptrace-otel-'), 'trace.bin'), throwing: true }, { timeoutMs: 60_000 });
    const r = result<Output>(bad);
    expect(bad.code, describeRun(bad)).toBe(0);
    expect(r.appFinished).toBe(true);
    // The application's own exporter saw both operations: nothing was lost on its side.
    expect(r.ops).toHaveLength(2);
    expect(r.bridge.errors).toBeGreaterThanOrEqual(3);
    expect(r.bridge.operationSpans).toBe(0);
    expect(bad.stderr.match(/OpenTelemetry operation span failed/g)?.length, bad.stderr).toBe(1);
    expect(bad.stderr.match(/OpenTelemetry long-task span failed/g)?.length, bad.stderr).toBe(1);
  });
});
