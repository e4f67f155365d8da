// The writers of the recorder: RotatingWriter's budget and file naming under a high record rate,
// SimpleBinaryWriter, NullWriter, a custom { write(chunk) } writer (and one that throws), and
// stats().

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countWholeFrames,
  decodeTraceBytes,
  decodeTraceFile,
  decodeTraceFiles,
  describeRun,
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
  threadNames,
} from './fixtures/recorder/harness.js';
import type { TelemetryStats } from '../src/index.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

type Stats = TelemetryStats;

// trace.<pid>-<random>.<index>[.active].bin: the process's tag keeps processes sharing a directory apart.
const NAME = /^trace\.\d+-[0-9a-f]{8}\.(\d+)(\.active)?\.bin$/;
/** The hidden lock file a running RotatingWriter holds (and a temporary name it has while being created). */
const LOCK = /^\.trace\.\d+-[0-9a-f]{8}\.lock(\.tmp)?$/;

interface Observation {
  total: number;
  names: string[];
  modes: number[];
  locks: string[];
}

/**
 * Sums the sizes of the trace files in `dir` so that the sum never exceeds what was on disk at
 * one instant: the active file first, then sealed files newest first. Sealed files never grow and
 * are only deleted, so each one found after the active file was there, as large, when the active
 * file was measured.
 */
function observe(dir: string): Observation {
  const all = readdirSync(dir);
  const locks = all.filter((n) => LOCK.test(n));
  const names = all.filter((n) => !LOCK.test(n));
  const ordered = [...names].sort((a, b) => {
    const ma = NAME.exec(a);
    const mb = NAME.exec(b);
    const ka = ma === null ? -1 : Number(ma[1]) + (ma[2] !== undefined ? 1e12 : 0);
    const kb = mb === null ? -1 : Number(mb[1]) + (mb[2] !== undefined ? 1e12 : 0);
    return kb - ka;
  });
  let total = 0;
  const modes: number[] = [];
  for (const name of ordered) {
    try {
      const st = statSync(join(dir, name));
      total += st.size;
      modes.push(st.mode & 0o777);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
  }
  return { total, names, modes, locks };
}

/**
 * A file decodes alone: every thread with records in it is named in it, by the header's thread
 * table or by a THREAD_START before the thread's first record in the file.
 */
function expectThreadsNamed(trace: ReturnType<typeof decodeTraceFile>, name: string): void {
  const named = new Set(trace.headers[0]!.threads.map((t) => t.threadId));
  const unnamed = new Map<number, string>();
  for (const r of trace.records) {
    if (r.threadId === 0) continue;
    if (r.type === 'threadStart') named.add(r.threadId);
    else if (!named.has(r.threadId) && !unnamed.has(r.threadId)) unnamed.set(r.threadId, `${r.type} at ${r.timeNs}`);
  }
  expect(Object.fromEntries(unnamed), `${name}: threads with records but neither in the header nor announced by THREAD_START`).toEqual({});
}

describe('RotatingWriter under a tiny budget and a high record rate', () => {
  const MAX_FILE = 16 << 10;
  const MAX_TOTAL = 64 << 10;
  let dir: string;
  let observations: Observation[];
  let outcome: { turns: number; errors: string[]; before: Stats; after: Stats };

  beforeAll(async () => {
    dir = tempDir();
    observations = [];
    let watching = false;
    let timer: NodeJS.Timeout | undefined;
    const watch = (): void => {
      observations.push(observe(dir));
      timer = setTimeout(watch, 2);
    };
    const run = await runFixture(
      'writers-rotating.mjs',
      { path: join(dir, 'trace.bin'), maxFileBytes: MAX_FILE, maxTotalBytes: MAX_TOTAL, durationMs: 1000, workers: 1 },
      {
        onLine: (line) => {
          if (line === 'READY' && !watching) {
            watching = true;
            watch();
          }
        },
      },
    );
    clearTimeout(timer);
    observations.push(observe(dir));
    expectCleanExit(run);
    outcome = result(run);
  });

  it('rotates many times without an error', () => {
    expect(outcome.errors).toEqual([]);
    expect(outcome.after.files).toBeGreaterThan(10);
    expect(outcome.after.running).toBe(false);
    expect(observations.length).toBeGreaterThan(50);
  });

  it('keeps the total on disk within maxTotalBytes at every observation', () => {
    const worst = Math.max(...observations.map((o) => o.total));
    expect(worst).toBeLessThanOrEqual(MAX_TOTAL);
    // The budget is used: old files are deleted only as needed.
    expect(worst).toBeGreaterThan(MAX_TOTAL / 2);
  });

  it('names files trace.<tag>.N.bin, the one being written trace.<tag>.N.active.bin, with mode 0600', () => {
    for (const o of observations) expect(o.locks.filter((n) => !n.endsWith('.tmp')).length).toBeLessThanOrEqual(1);
    expect(observations.some((o) => o.locks.length === 1)).toBe(true);
    for (const o of observations) {
      for (const name of o.names) expect(name).toMatch(NAME);
      expect(o.names.filter((n) => n.includes('.active.')).length).toBeLessThanOrEqual(1);
      for (const mode of o.modes) expect(mode.toString(8)).toBe('600');
    }
    expect(observations.some((o) => o.names.some((n) => n.includes('.active.')))).toBe(true);
    // After stop() every file is sealed and the lock file is gone.
    expect(readdirSync(dir).filter((n) => n.includes('.active.') || LOCK.test(n))).toEqual([]);
  });

  it('each sealed file decodes alone, with its index and the trace id in its header', () => {
    const names = readdirSync(dir).sort((a, b) => Number(NAME.exec(a)![1]) - Number(NAME.exec(b)![1]));
    expect(names.length).toBeGreaterThanOrEqual(4);
    const traceIds = new Set<string>();
    const indexes: number[] = [];
    for (const name of names) {
      const trace = decodeTraceFile(join(dir, name));
      expectNoDiagnostics(trace);
      expect(trace.headers).toHaveLength(1);
      const h = trace.headers[0]!;
      expect(h.fileIndex).toBe(Number(NAME.exec(name)![1]));
      expectThreadsNamed(trace, name);
      expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(MAX_FILE);
      traceIds.add(h.traceId);
      indexes.push(h.fileIndex);
      expect(trace.records.filter((r) => r.threadId !== 0).length).toBeGreaterThan(0);
    }
    expect(traceIds.size).toBe(1);
    // The newest files survive, numbered without gaps.
    for (let i = 1; i < indexes.length; i++) expect(indexes[i]).toBe(indexes[i - 1]! + 1);
    expect(indexes.at(-1)).toBe(outcome.after.files - 1);
  });

  it('the surviving files decode together, in order', async () => {
    const trace = await decodeTraceFiles(readdirSync(dir).map((n) => join(dir, n)));
    expectNoDiagnostics(trace);
    expect(ofThread(trace.records, 1).at(-1)!.type).toBe('threadStop');
  });
});

describe('RotatingWriter while workers come and go', () => {
  it('every file names each thread that has records in it (header or THREAD_START)', async () => {
    // A large total budget keeps every file; a busy main thread makes files rotate every few
    // milliseconds, so workers end while rotations happen. A worker's last frame used to land in
    // a new file whose header left the (closed) worker out.
    const dir = tempDir();
    const run = await runFixture('writers-rotating.mjs', {
      path: join(dir, 'trace.bin'),
      maxFileBytes: 16 << 10,
      maxTotalBytes: 64 << 20,
      durationMs: 400,
      workers: 2,
      minWorkers: 4,
      minFiles: 20,
    });
    expectCleanExit(run);
    const out = result<{ workersRun: number; errors: string[]; after: Stats }>(run);
    expect(out.errors).toEqual([]);
    expect(out.workersRun).toBeGreaterThanOrEqual(4);
    const names = readdirSync(dir).sort((a, b) => Number(NAME.exec(a)![1]) - Number(NAME.exec(b)![1]));
    expect(names.length).toBe(out.after.files);
    expect(names.length).toBeGreaterThan(20);
    names.forEach((name, index) => {
      const trace = decodeTraceFile(join(dir, name));
      expectNoDiagnostics(trace);
      expect(trace.headers[0]!.fileIndex).toBe(index);
      expectThreadsNamed(trace, name);
    });
    const all = await decodeTraceFiles(names.map((n) => join(dir, n)));
    expectNoDiagnostics(all);
    const workers = [...new Set(all.records.map((r) => r.threadId))].filter((id) => id > 1);
    expect(workers.length).toBeGreaterThanOrEqual(4);
    // A worker is named by a THREAD_START, or by the header of a file opened while it ran.
    const named = threadNames(all);
    for (const id of workers) {
      expect(named.get(id)?.name, `thread ${id}`).toMatch(/^worker \d+ \(\[eval\]\)$/);
      expect(ofThread(all.records, id).at(-1)!.type, `thread ${id}`).toBe('threadStop');
    }
  });
});

describe('SimpleBinaryWriter, NullWriter and stats()', () => {
  it('SimpleBinaryWriter writes one decodable file; stats() is sane', async () => {
    const dir = tempDir();
    const path = join(dir, 'simple.bin');
    const run = await runFixture('writers-kinds.mjs', { kind: 'simple', path, durationMs: 1200 }, { cwd: dir });
    expectCleanExit(run);
    const out = result<{ initial: Stats; samples: Stats[]; arrivingAfterMs: number; beforeStop: Stats; afterStop: Stats; isRunning: boolean }>(run);
    expect(readdirSync(dir)).toEqual(['simple.bin']);
    expect((statSync(path).mode & 0o777).toString(8)).toBe('600');
    const trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    expect(trace.headers).toHaveLength(1);
    expect(trace.headers[0]!.fileIndex).toBe(0);
    expect(pollSequence(trace.records, 1).violations).toEqual([]);
    expect(ofThread(trace.records, 1).at(-1)!.type).toBe('threadStop');

    // stats(): the main thread's records arrive well within a second.
    expect(out.arrivingAfterMs).toBeLessThan(1000);
    expect(out.initial).toMatchObject({ files: 1, threads: 1, enabled: true, running: true, errors: [] });
    const s = out.beforeStop;
    expect(s).toMatchObject({ files: 1, threads: 1, enabled: true, running: true, recordsArriving: true, droppedRecords: 0, droppedBytes: 0, errors: [] });
    expect(s.records).toBeGreaterThan(50);
    expect(s.frames).toBeGreaterThan(0);
    expect(s.bytes).toBeGreaterThan(0);
    for (let i = 1; i < out.samples.length; i++) {
      expect(out.samples[i]!.records).toBeGreaterThanOrEqual(out.samples[i - 1]!.records);
      expect(out.samples[i]!.bytes).toBeGreaterThanOrEqual(out.samples[i - 1]!.bytes);
    }
    // After stop(): everything was written, and stats() says how much.
    expect(out.isRunning).toBe(false);
    expect(out.afterStop).toMatchObject({ running: false, enabled: false });
    expect(out.afterStop.bytes).toBe(statSync(path).size);
    const counted = trace.records.filter((r) => r.type !== 'stringDef' && r.type !== 'clockSync').length;
    expect(out.afterStop.records).toBe(counted);
  });

  it('NullWriter writes nothing, but stats().records grows', async () => {
    const dir = tempDir();
    const run = await runFixture('writers-kinds.mjs', { kind: 'null', durationMs: 600 }, { cwd: dir });
    expectCleanExit(run);
    const out = result<{ samples: Stats[]; beforeStop: Stats; arrivingAfterMs: number }>(run);
    expect(readdirSync(dir)).toEqual([]);
    expect(out.samples.length).toBeGreaterThanOrEqual(3);
    expect(out.samples.at(-1)!.records).toBeGreaterThan(out.samples[0]!.records);
    expect(out.beforeStop.records).toBeGreaterThan(20);
    expect(out.beforeStop).toMatchObject({ files: 0, threads: 1, running: true, recordsArriving: true, errors: [] });
    expect(out.arrivingAfterMs).toBeLessThan(1000);
  });
});

describe('a custom { write(chunk) } writer', () => {
  it('receives whole frames, on the main thread, that decode cleanly when concatenated', async () => {
    const path = join(tempDir(), 'chunks.bin');
    const run = await runFixture('writers-chunk.mjs', { path, durationMs: 500 });
    expectCleanExit(run);
    const out = result<{ sizes: number[]; callers: string[]; errors: unknown[]; stats: Stats }>(run);
    expect(out.errors).toEqual([]);
    expect(out.callers).toEqual(['main 0']);
    expect(out.sizes.length).toBeGreaterThan(3);
    const bytes = readFileSync(path);
    // Every chunk is a run of whole frames; the first starts with the magic and the header.
    let offset = 0;
    out.sizes.forEach((size, i) => {
      const chunk = bytes.subarray(offset, offset + size);
      expect(() => countWholeFrames(chunk, i === 0), `chunk ${i}`).not.toThrow();
      expect(countWholeFrames(chunk, i === 0)).toBeGreaterThan(0);
      if (i === 0) expect([...chunk.subarray(0, 8)]).toEqual([0x89, 0x4c, 0x54, 0x52, 0x41, 0x43, 0x45, 0x0a]);
      offset += size;
    });
    const trace = decodeTraceBytes(bytes);
    expectNoDiagnostics(trace);
    expect(trace.headers).toHaveLength(1);
    expect(pollSequence(trace.records, 1).violations).toEqual([]);
    expect(ofThread(trace.records, 1).at(-1)!.type).toBe('threadStop');
    expect(out.stats).toMatchObject({ running: true, recordsArriving: true, droppedBytes: 0 });
  });

  it('that throws: onError gets WRITER_THREW, telemetry stops, the app runs on and exits 0', async () => {
    const path = join(tempDir(), 'thrown.bin');
    const run = await runFixture('writers-chunk.mjs', { path, durationMs: 500, throwOnCall: 3 });
    expectCleanExit(run);
    const out = result<{
      calls: number;
      callsAfterThrow: number;
      errors: { name: string; code: string; message: string; isTelemetryError: boolean; runningInOnError: boolean }[];
      stats: Stats;
      turns: number;
      alive: boolean;
    }>(run);
    expect(out.alive, describeRun(run)).toBe(true);
    expect(out.errors).toHaveLength(1);
    const error = out.errors[0]!;
    expect(error).toMatchObject({ name: 'TelemetryError', code: 'WRITER_THREW', isTelemetryError: true, runningInOnError: false });
    expect(error.message).toContain('disk on fire');
    expect(out.callsAfterThrow).toBe(0);
    expect(out.calls).toBe(3);
    expect(out.stats.running).toBe(false);
    expect(out.stats.errors).toHaveLength(1);
    // The app kept its loop turning after the failure (sleep(1) turns for 500 ms).
    expect(out.turns).toBeGreaterThan(50);
    expect(run.stderr).not.toMatch(/disk on fire/);
    // What was written before the failure is whole frames that decode.
    const trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    expect(ofType(trace.records, 'pollStart', 1).length).toBeGreaterThan(0);
  });
});
