// Operations in the binary trace, end to end: a real node:http service recorded with
// startRuntimeTelemetry({ operations: { http: true } }); 20 concurrent requests, one of which
// blocks the loop inside a traced "render". analyze-trace names that request's operation and
// trace id for the long task, counts the requests, and prints the request's tree.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { analyzeTraces } from '../src/analyze/run.js';
import { resolveInput } from '../src/analyze/input.js';
import { decodeTraceFile, requireBuild, removeTempDirs, runFixture, tempDir } from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

describe('operations written into the trace', () => {
  let path: string;
  let traceIds: Record<string, string>;
  beforeAll(async () => {
    path = join(tempDir(), 'ops.bin');
    const run = await runFixture('../operations/long-task-requests.mjs', { path, blockMs: 150 });
    expect(run.code, run.stderr).toBe(0);
    traceIds = (run.results[0] as { traceIds: Record<string, string> }).traceIds;
  });

  it('a long task inside one of 20 concurrent requests names that request and its trace id', () => {
    const [report] = analyzeTraces(resolveInput([path]).traces, { longTaskNs: 100e6 });
    const task = report!.longTasks.items.find((t) => t.durationNs >= 140e6)!;
    expect(task).toBeDefined();
    // Other requests also ran briefly in the same busy stretch (their timers fired in the same
    // phase); the operation that ran entirely inside it, and its request, come first.
    const [first, second] = task.attribution.operations!.items;
    expect([first!.name, second!.name]).toEqual(['render', 'GET /orders/:id']);
    for (const o of [first!, second!]) {
      expect(o.traceId).toBe(traceIds['7']);
      expect(o.evidence).toBe('ran');
      expect(o.insideNs).toBeGreaterThanOrEqual(140e6);
    }
    const ops = report!.operations!;
    expect(ops.byName.find((s) => s.name === 'GET /orders/:id')).toMatchObject({ count: 20, completed: 20, failed: 0 });
  });

  it('analyze-trace prints it, and the tree of that trace', () => {
    const text = spawnSync(process.execPath, ['dist/cli/analyze-trace.js', path, '--no-color', '--long-task-ms', '100', '--trace-id', traceIds['7']!], { encoding: 'utf8' });
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`during: render \\(trace ${traceIds['7']}\\), GET /orders/:id \\(trace ${traceIds['7']}\\) \\[ran 1\\d\\d ms inside\\]`));
    expect(text.stdout).toMatch(/✓ GET \/orders\/:id .*\n\s+└─ ✓ render {2}1\d\d ms/);
  });
});

describe('callback mode into the trace', () => {
  it('writes CALLBACK_START/END with resource types while the window is open', async () => {
    const path = join(tempDir(), 'callbacks.bin');
    const run = await runFixture('../operations/long-task-requests.mjs', { path, blockMs: 20, callbacks: true });
    expect(run.code, run.stderr).toBe(0);
    const { callbacks } = run.results[0] as { callbacks: { callbacks: number } };
    const trace = decodeTraceFile(path);
    const starts = trace.records.filter((r) => r.type === 'callbackStart');
    const ends = trace.records.filter((r) => r.type === 'callbackEnd');
    expect(starts.length).toBeGreaterThan(100);
    expect(starts.length).toBe(callbacks.callbacks);
    expect(ends.length).toBeGreaterThanOrEqual(starts.length - 5);
    const strings = new Map(trace.records.filter((r) => r.type === 'stringDef').map((r) => [(r as { stringId: number }).stringId, (r as { value: string }).value]));
    const types = new Set(starts.map((r) => strings.get((r as { resourceTypeStringId: number }).resourceTypeStringId)));
    for (const type of ['TCPWRAP', 'HTTPINCOMINGMESSAGE', 'Timeout', 'PROMISE']) expect(types, [...types].join(', ')).toContain(type);
    // Each request's callbacks end inside its operation: the ids are those of OPERATION_START records.
    const operationIds = new Set(trace.records.filter((r) => r.type === 'operationStart').map((r) => (r as { operationId: number }).operationId));
    const withOperation = ends.filter((r) => (r as { operationId: number }).operationId !== 0);
    expect(withOperation.length).toBeGreaterThan(20);
    for (const r of withOperation) expect(operationIds).toContain((r as { operationId: number }).operationId);
    // In time order with the loop's own records (staged in JavaScript, moved into the ring before them).
    const main = trace.records.filter((r) => r.threadId === 1);
    expect(main.filter((r, i) => i > 0 && r.timeNs < main[i - 1]!.timeNs)).toEqual([]);
  });
});

describe('operations in a worker thread', () => {
  it("are written into the worker's ring, and a long task on the worker names them", async () => {
    const path = join(tempDir(), 'worker.bin');
    const run = await runFixture('../operations/worker-operations.mjs', { path, blockMs: 120 });
    expect(run.code, run.stderr).toBe(0);
    const { workerTraceId } = run.results[0] as { workerTraceId: string };
    const [report] = analyzeTraces(resolveInput([path]).traces, { longTaskNs: 100e6 });
    const names = report!.operations!.byName.map((s) => s.name).sort();
    expect(names).toEqual(['main-job', 'worker-job']);
    // Loading modules in the worker may be a long task too on a loaded machine: take the one
    // that contains the 120 ms spin.
    const task = report!.longTasks.items.find((t) => t.threadName !== 'main' && t.attribution.operations !== undefined)!;
    expect(task).toBeDefined();
    expect(task.durationNs).toBeGreaterThanOrEqual(120e6);
    const [first] = task.attribution.operations!.items;
    expect(first).toMatchObject({ name: 'worker-job', traceId: workerTraceId, evidence: 'ran' });
  });
});
