// A trace written with the TypeScript encoder that holds what the examples' recorder does not
// write yet (GC pauses, stack samples with their definitions, operations), with known times, so
// the visual outputs can be checked against exact values. Thread and service names are chosen by
// the caller (the escaping tests pass markup).

import { writeFileSync } from 'node:fs';
import { RecordCode, TraceEncoder } from '../src/format/index.js';

export interface FixtureOptions {
  serviceName?: string;
  workerName?: string;
  /** The operation's name; default FIXTURE.operation.name. */
  operationName?: string;
  /** Split into this many rotated files (fileIndex 0..n-1). Default 1. */
  files?: number;
}

export const FIXTURE = {
  pid: 4242,
  traceId: '00112233445566778899aabbccddeeff',
  originWallUnixNs: 1_750_000_000_000_000_000n,
  /** The main thread's long task: a busy stretch from the end of blocking to the next POLL_START. */
  longTask: { startNs: 50_100_000, endNs: 170_120_000 },
  gc: { endNs: 150_000_000, durationNs: 3_000_000, gcType: 2 },
  stackSampleNs: 120_000_000,
  operation: { id: 7, name: 'GET /report', startNs: 40_000_000, endNs: 175_000_000 },
  stackFrames: ['buildReport (/srv/app/report.js:42:7)', 'onRequest (/srv/app/server.js:10:3)'],
  threadpoolDelayNs: 2_500_000,
  iterations: 10,
} as const;

/**
 * The main loop: iterations of 1 ms busy + 4 ms blocked from t = 0, then at 50 ms a poll that blocks
 * 100 µs, runs I/O callbacks 20 µs, then 120 ms of timers (the long task) with a GC pause and a
 * stack sample inside, then more short iterations. The worker idles in 10 ms polls.
 */
export function writeFixtureTrace(pathFor: (fileIndex: number) => string, options: FixtureOptions = {}): string[] {
  const fileCount = options.files ?? 1;
  const threads = [
    { threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' },
    { threadId: 2, nodeThreadId: 1, kind: 1, name: options.workerName ?? 'worker 1 (pool.mjs)' },
  ];
  const paths: string[] = [];
  const endNs = 400_000_000;
  for (let fileIndex = 0; fileIndex < fileCount; fileIndex++) {
    const fromNs = Math.floor((endNs / fileCount) * fileIndex);
    const toNs = Math.floor((endNs / fileCount) * (fileIndex + 1));
    const enc = new TraceEncoder();
    enc.writeMagic();
    enc.writeHeader({
      traceId: FIXTURE.traceId,
      fileIndex,
      originMonoNs: 5_000_000n,
      originWallUnixNs: FIXTURE.originWallUnixNs,
      fileStartNs: fromNs,
      pid: FIXTURE.pid,
      serviceName: options.serviceName ?? 'fixture-service',
      nodeVersion: 'v20.0.0',
      threadpoolSize: 4,
      threads,
    });
    // Definitions first, in every file (docs/FORMAT.md 6.4).
    enc.beginFrame(0, fromNs);
    enc.stringDef(fromNs, 1, 'buildReport');
    enc.stringDef(fromNs, 2, '/srv/app/report.js');
    enc.stringDef(fromNs, 3, 'onRequest');
    enc.stringDef(fromNs, 4, '/srv/app/server.js');
    enc.stringDef(fromNs, 5, options.operationName ?? FIXTURE.operation.name);
    enc.stackDef(fromNs, 1, [
      { functionNameStringId: 1, scriptStringId: 2, line: 42, column: 7 },
      { functionNameStringId: 3, scriptStringId: 4, line: 10, column: 3 },
    ]);
    enc.endFrame();

    const main: [number, () => void][] = [];
    const at = (t: number, write: () => void): void => {
      if (t >= fromNs && t < toNs) main.push([t, write]);
    };
    // Short iterations before the long task: POLL_START at 5k+1 ms, blocked 4 ms, POLL_END at 5k+5 ms... busy 1 ms each.
    for (let i = 0; i < FIXTURE.iterations; i++) {
      const ps = i * 5_000_000;
      at(ps, () => enc.pollStart(ps));
      at(ps + 4_000_000, () => enc.pollEnd(ps + 4_000_000, 4_000_000, 1, 0));
    }
    const op = FIXTURE.operation;
    at(op.startNs, () => enc.counted(RecordCode.OperationStart, op.startNs, 2, op.id, 5));
    at(50_000_000, () => enc.pollStart(50_000_000));
    at(50_120_000, () => enc.pollEnd(50_120_000, 100_000, 3, 0));
    at(FIXTURE.stackSampleNs, () => enc.counted(RecordCode.StackSample, FIXTURE.stackSampleNs, 2, 1, 0));
    at(FIXTURE.gc.endNs, () => enc.counted(RecordCode.GcPause, FIXTURE.gc.endNs, 2, FIXTURE.gc.durationNs, FIXTURE.gc.gcType));
    at(op.endNs, () => enc.counted(RecordCode.OperationEnd, op.endNs, 2, op.id, 0));
    const ltEnd = FIXTURE.longTask.endNs;
    at(ltEnd, () => enc.pollStart(ltEnd));
    at(ltEnd, () => enc.counted(RecordCode.ThreadCpu, ltEnd, 2, 120_020_000, 118_000_000));
    at(ltEnd + 1_000_000, () => enc.pollEnd(ltEnd + 1_000_000, 900_000, 2, 2));
    at(ltEnd + 1_100_000, () => enc.counted(RecordCode.ThreadpoolProbe, ltEnd + 1_100_000, 1, FIXTURE.threadpoolDelayNs));
    at(ltEnd + 1_200_000, () => enc.counted(RecordCode.QueueSample, ltEnd + 1_200_000, 3, 12, 3, 1));
    for (let ps = ltEnd + 2_000_000; ps < endNs - 5_000_000; ps += 5_000_000) {
      const p = ps;
      at(p, () => enc.pollStart(p));
      at(p + 4_000_000, () => enc.pollEnd(p + 4_000_000, 4_000_000, 1, 0));
    }
    main.sort((a, b) => a[0] - b[0]);
    if (main.length > 0) {
      enc.beginFrame(1, main[0]![0]);
      for (const [, write] of main) write();
      enc.endFrame();
    }
    // The worker: 10 ms polls, 200 µs busy.
    const worker: number[] = [];
    for (let ps = 1_000_000; ps < endNs - 11_000_000; ps += 10_200_000) if (ps >= fromNs && ps < toNs) worker.push(ps);
    if (worker.length > 0) {
      enc.beginFrame(2, worker[0]!);
      for (const ps of worker) {
        enc.pollStart(ps);
        enc.pollEnd(ps + 10_000_000, 9_990_000, 1, 0);
      }
      enc.endFrame();
    }
    const path = pathFor(fileIndex);
    writeFileSync(path, enc.take());
    paths.push(path);
  }
  return paths;
}
