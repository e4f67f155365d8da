// Worker threads and the recorder: workers created after start are traced with no code in them,
// a worker that starts telemetry itself joins the process's trace (or records its own when the
// main thread does not), and workers created and terminated in every way while tracing never
// crash the process or damage the trace.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeTraceFile,
  expectCleanExit,
  expectNoDiagnostics,
  ofThread,
  ofType,
  pollSequence,
  removeTempDirs,
  requireBuild,
  result,
  runFixture,
  tempDir,
  threadIds,
  threadNames,
  type Trace,
} from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

interface WorkerOutcome {
  threadId: number;
  code: number;
  message?: {
    identity?: { threadId: number; isRunning: boolean };
    stats?: { records: number; recordsArriving: boolean; errors: string[]; running: boolean };
    warnings?: string[];
  };
}

/** The trace thread id whose name (header or THREAD_START) is `name`. */
function threadNamed(trace: Trace, name: string): number {
  const matches = [...threadNames(trace)].filter(([, info]) => info.name === name);
  expect(matches.map(([id]) => id), `one thread named ${JSON.stringify(name)} in ${JSON.stringify([...threadNames(trace)])}`).toHaveLength(1);
  return matches[0]![0];
}

/** A worker's records: THREAD_START first, THREAD_STOP last, poll records alternating between. */
function expectWholeThread(trace: Trace, threadId: number): void {
  const records = ofThread(trace.records, threadId);
  expect(records.length).toBeGreaterThan(2);
  expect(records[0]!.type).toBe('threadStart');
  expect(records.at(-1)!.type).toBe('threadStop');
  expect(ofType(records, 'threadStart')).toHaveLength(1);
  expect(ofType(records, 'threadStop')).toHaveLength(1);
  const seq = pollSequence(trace.records, threadId);
  expect(seq.violations).toEqual([]);
  expect(seq.starts).toBeGreaterThanOrEqual(10);
}

describe('workers created after start', () => {
  let trace: Trace;
  let outcome: { file: WorkerOutcome; evaluated: WorkerOutcome; isWorkerClassNamed: string };

  beforeAll(async () => {
    const path = join(tempDir(), 'workers.bin');
    const run = await runFixture('workers-basic.mjs', { path });
    expectCleanExit(run);
    outcome = result(run);
    trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
  });

  it('run normally, and the Worker class keeps its name', () => {
    expect(outcome.file.code).toBe(0);
    expect(outcome.evaluated.code).toBe(0);
    expect(outcome.isWorkerClassNamed).toBe('Worker');
  });

  it('a file worker is traced with no code in it, under its own thread id and name', () => {
    const id = threadNamed(trace, `worker ${outcome.file.threadId} (w-turns.mjs)`);
    expect(id).toBeGreaterThanOrEqual(2);
    const start = ofType(trace.records, 'threadStart', id)[0]!;
    expect(start.nodeThreadId).toBe(outcome.file.threadId);
    expect(start.kind).toBe(1);
    expectWholeThread(trace, id);
  });

  it('an eval worker is traced too', () => {
    const id = threadNamed(trace, `worker ${outcome.evaluated.threadId} ([eval])`);
    expect(id).toBeGreaterThanOrEqual(2);
    expect(ofType(trace.records, 'threadStart', id)[0]!.nodeThreadId).toBe(outcome.evaluated.threadId);
    expectWholeThread(trace, id);
  });

  it('thread ids are distinct, and the main thread stays thread 1', () => {
    expect(threadIds(trace.records)).toHaveLength(3);
    expect(trace.headers[0]!.threads).toEqual([{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }]);
    expect(pollSequence(trace.records, 1).violations).toEqual([]);
  });
});

describe('a worker that calls startRuntimeTelemetry itself', () => {
  async function runSelfStart(options: { mainStarts: boolean; traceWorkers?: boolean; workerStops?: boolean; holdMs?: number }) {
    const dir = tempDir();
    const path = join(dir, 'main.bin');
    const workerPath = join(dir, 'worker.bin');
    const run = await runFixture('workers-self-start.mjs', { ...options, path, workerPath });
    expectCleanExit(run);
    const worker = result<{ worker: WorkerOutcome }>(run).worker;
    expect(worker.code).toBe(0);
    return { path, workerPath, worker };
  }

  it('joins the process trace: one file, its records under its own thread id', async () => {
    const { path, workerPath, worker } = await runSelfStart({ mainStarts: true, traceWorkers: false });
    expect(existsSync(workerPath), "the worker's own writer is not used when it joins").toBe(false);
    const trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    const id = threadNamed(trace, `worker ${worker.threadId} (w-self-start.mjs)`);
    expect(worker.message?.identity).toEqual({ threadId: id, isRunning: true });
    expect(id).toBeGreaterThanOrEqual(2);
    expectWholeThread(trace, id);
    expect(worker.message?.stats?.recordsArriving).toBe(true);
  });

  it('THREAD_STOP says why the worker left the trace: 0 when it exited, 2 when it called stop()', async () => {
    // docs/FORMAT.md 6.3: reason 0 the thread exited, 1 it was terminated, 2 telemetry stopped.
    const exited = await runSelfStart({ mainStarts: true, traceWorkers: false });
    const stopped = await runSelfStart({ mainStarts: true, traceWorkers: false, workerStops: true });
    const reasons = (path: string, threadId: number) => {
      const trace = decodeTraceFile(path);
      expectNoDiagnostics(trace);
      return ofType(trace.records, 'threadStop', threadId).map((r) => r.reason);
    };
    expect(reasons(exited.path, exited.worker.message!.identity!.threadId)).toEqual([0]);
    expect(reasons(stopped.path, stopped.worker.message!.identity!.threadId)).toEqual([2]);
    // The main thread was still running when the trace was stopped.
    expect(reasons(stopped.path, 1)).toEqual([2]);
  });

  it('when the worker was already traced by the preload, it keeps its one thread id', async () => {
    const { path, workerPath, worker } = await runSelfStart({ mainStarts: true, traceWorkers: true });
    expect(existsSync(workerPath)).toBe(false);
    const trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    const id = threadNamed(trace, `worker ${worker.threadId} (w-self-start.mjs)`);
    expect(worker.message?.identity).toEqual({ threadId: id, isRunning: true });
    expect(threadIds(trace.records)).toEqual([1, id]);
    expectWholeThread(trace, id);
  });

  it('THREAD_STOP tells a worker that ended by itself (0) from one that was terminated (1)', async () => {
    const path = join(tempDir(), 'reasons.bin');
    const run = await runFixture('workers-stop-reasons.mjs', { path });
    expectCleanExit(run);
    const { ids } = result<{ ids: Record<'natural' | 'exiting' | 'terminated', number> }>(run);
    const trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    const reasonOf = (nodeThreadId: number) => {
      const id = threadNamed(trace, `worker ${nodeThreadId} ([eval])`);
      return ofType(trace.records, 'threadStop', id).map((r) => r.reason);
    };
    expect(reasonOf(ids.natural)).toEqual([0]);
    expect(reasonOf(ids.exiting)).toEqual([0]);
    expect(reasonOf(ids.terminated)).toEqual([1]);
  });

  it('a worker that owns the trace can be terminated without stop(): no crash', async () => {
    const run = await runFixture('workers-owner-terminated.mjs', { rounds: 20 });
    expectCleanExit(run);
    // Half the workers were terminated while their own trace was running.
    expect(result<{ started: number }>(run).started).toBeGreaterThanOrEqual(10);
  });

  it('a worker that owns the trace: terminated, its stop reason says 1; exiting by itself, 0', async () => {
    const dir = tempDir();
    const terminatedPath = join(dir, 'terminated.bin');
    const exitedPath = join(dir, 'exited.bin');
    const run = await runFixture('workers-owner-terminated-reason.mjs', { terminatedPath, exitedPath });
    expectCleanExit(run);
    const reasons = (path: string) => {
      const trace = decodeTraceFile(path);
      expectNoDiagnostics(trace);
      return ofType(trace.records, 'threadStop').map((r) => r.reason);
    };
    expect(reasons(terminatedPath)).toEqual([1]);
    expect(reasons(exitedPath)).toEqual([0]);
  });

  it('records its own trace when the main thread does not record', async () => {
    const { path, workerPath, worker } = await runSelfStart({ mainStarts: false });
    expect(existsSync(path)).toBe(false);
    const trace = decodeTraceFile(workerPath);
    expectNoDiagnostics(trace);
    expect(trace.headers).toHaveLength(1);
    const threads = trace.headers[0]!.threads;
    expect(threads).toHaveLength(1);
    expect(threads[0]).toMatchObject({ nodeThreadId: worker.threadId, kind: 1, name: `worker ${worker.threadId} (w-self-start.mjs)` });
    const id = threads[0]!.threadId;
    expect(worker.message?.identity).toEqual({ threadId: id, isRunning: true });
    expect(threadIds(trace.records)).toEqual([id]);
    const seq = pollSequence(trace.records, id);
    expect(seq.violations).toEqual([]);
    expect(seq.starts).toBeGreaterThanOrEqual(10);
    // The worker exited without stop(): its exit flushed the trace.
    expect(ofThread(trace.records, id).at(-1)!.type).toBe('threadStop');
  });

  it('an own worker trace counts its records as arriving: no NO_RECORDS warning after a second', async () => {
    // The arrival check fires 1 s after start: the worker runs for 1.3 s.
    const { workerPath, worker } = await runSelfStart({ mainStarts: false, workerStops: true, holdMs: 1300 });
    expect(existsSync(workerPath)).toBe(true);
    expect(worker.message?.stats?.records).toBeGreaterThan(0);
    expect(worker.message?.warnings, 'warnings emitted in the worker').toEqual([]);
    expect(worker.message?.stats?.errors).toEqual([]);
    expect(worker.message?.stats?.recordsArriving, "the worker's loop records, so records are arriving").toBe(true);
    const trace = decodeTraceFile(workerPath);
    expectNoDiagnostics(trace);
    expect(ofType(trace.records, 'threadStop')).toHaveLength(1);
  });
});

describe('200 workers created and ended in every way while tracing', () => {
  // Before NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS, about one run in three aborted the process
  // (napi_throw failing in attachThread of a worker being terminated) with these seeds.
  const SEEDS = [22, 24, 26];

  for (const seed of SEEDS) {
    it(`no crash, no damage (seed ${seed})`, async () => {
      const path = join(tempDir(), `churn-${seed}.bin`);
      const run = await runFixture('workers-churn.mjs', { path, workers: 200, concurrency: 8, seed }, { timeoutMs: 40_000 });
      expectCleanExit(run);
      const outcome = result<{
        modes: Record<string, number>;
        exitCodes: Record<string, number>;
        workerErrors: string[];
        errors: string[];
        threadIds: number[];
      }>(run);
      expect(outcome.workerErrors).toEqual([]);
      expect(outcome.errors).toEqual([]);
      expect(Object.values(outcome.exitCodes).reduce((a, b) => a + b, 0)).toBe(200);
      for (const mode of ['terminate-now', 'terminate-later', 'natural', 'process-exit']) expect(outcome.modes[mode]).toBeGreaterThan(0);

      const trace = decodeTraceFile(path);
      expectNoDiagnostics(trace);
      const names = threadNames(trace);
      const workers = threadIds(trace.records).filter((id) => id !== 1);
      // Many workers end before their preload runs; enough of them are traced.
      expect(workers.length).toBeGreaterThan(20);
      const nodeIds = new Set(outcome.threadIds);
      for (const id of workers) {
        const records = ofThread(trace.records, id);
        const what = `thread ${id}: ${records.map((r) => r.type).join(' ')}`;
        expect(records[0]!.type, what).toBe('threadStart');
        expect(records.at(-1)!.type, what).toBe('threadStop');
        expect(ofType(records, 'threadStart'), what).toHaveLength(1);
        expect(ofType(records, 'threadStop'), what).toHaveLength(1);
        expect(pollSequence(trace.records, id).violations, what).toEqual([]);
        const info = names.get(id);
        expect(info, what).toBeDefined();
        expect(nodeIds.has(info!.nodeThreadId), what).toBe(true);
        expect(info!.name).toMatch(new RegExp(`^worker ${info!.nodeThreadId} \\((w-churn\\.mjs|\\[eval\\])\\)$`));
      }
      // The main thread was recorded throughout and ends with THREAD_STOP.
      expect(pollSequence(trace.records, 1).violations).toEqual([]);
      expect(ofThread(trace.records, 1).at(-1)!.type).toBe('threadStop');
    });
  }
});
