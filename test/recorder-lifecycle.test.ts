// The recorder's lifecycle in child processes: every way a process ends keeps every record and
// keeps the application's own exit behaviour; enable()/disable(); starting twice; stop() and
// start() again; invalid options.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  busyStretches,
  decodeTraceFile,
  describeRun,
  expectCleanExit,
  expectNoDiagnostics,
  expectNoStackTrace,
  ofThread,
  ofType,
  pollSequence,
  removeTempDirs,
  requireBuild,
  result,
  runFixture,
  tempDir,
  traceTime,
  MS,
  type RunResult,
} from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

const TURNS = 60;

/** Runs lifecycle-exit.mjs; for the signal modes, sends `signal` once the child is ready. */
async function runExit(how: string, extra: { signal?: NodeJS.Signals; handlerFirst?: boolean } = {}) {
  const path = join(tempDir(), `${how}.bin`);
  let sent = false;
  const run = await runFixture(
    'lifecycle-exit.mjs',
    { path, turns: TURNS, how, ...extra },
    {
      onLine: (line, child) => {
        if (line === 'READY' && !sent && extra.signal !== undefined) {
          sent = true;
          child.kill(extra.signal);
        }
      },
    },
  );
  return { run, path };
}

/** The trace holds every turn the child reported, ends with THREAD_STOP and is undamaged. */
function expectEveryRecord(run: RunResult, path: string): void {
  expect(existsSync(path), `no trace file\n${describeRun(run)}`).toBe(true);
  const { turns } = result<{ turns: number }>(run);
  expect(turns).toBe(TURNS);
  const trace = decodeTraceFile(path);
  expectNoDiagnostics(trace);
  expect(trace.diagnostics.filter((d) => d.kind === 'truncated' || d.kind === 'corrupt-frame')).toEqual([]);
  expect(ofType(trace.records, 'pollEnd', 1).length).toBeGreaterThanOrEqual(turns);
  expect(pollSequence(trace.records, 1).violations).toEqual([]);
  const main = ofThread(trace.records, 1);
  expect(main.at(-1)!.type).toBe('threadStop');
  expect(ofType(main, 'threadStop')).toHaveLength(1);
}

describe('every exit path keeps every record', () => {
  it('natural exit', async () => {
    const { run, path } = await runExit('natural');
    expectCleanExit(run, 0);
    expectEveryRecord(run, path);
  });

  it('process.exit(3): exit code 3 is kept', async () => {
    const { run, path } = await runExit('exit3');
    expectCleanExit(run, 3);
    expectEveryRecord(run, path);
  });

  it("uncaught exception: exit code 1, the app's error is still printed", async () => {
    const { run, path } = await runExit('throw');
    expect(run.signal, describeRun(run)).toBeNull();
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toContain('Error: boom from the app');
    expect(run.stderr).toContain('lifecycle-exit.mjs');
    // The stack is the app's own: looptrace adds nothing to it.
    expect(run.stderr).not.toMatch(/dist[\\/](recorder|binding)|looptrace\.node|FATAL/);
    expectEveryRecord(run, path);
  });

  it('SIGTERM with no app handler: the process still dies by SIGTERM', async () => {
    const { run, path } = await runExit('signal', { signal: 'SIGTERM' });
    expect(run.signal, describeRun(run)).toBe('SIGTERM');
    expect(run.code).toBeNull();
    expectNoStackTrace(run.stderr);
    expectEveryRecord(run, path);
  });

  it('SIGINT with no app handler: the process still dies by SIGINT', async () => {
    const { run, path } = await runExit('signal', { signal: 'SIGINT' });
    expect(run.signal, describeRun(run)).toBe('SIGINT');
    expect(run.code).toBeNull();
    expectNoStackTrace(run.stderr);
    expectEveryRecord(run, path);
  });

  for (const handlerFirst of [false, true]) {
    it(`SIGTERM with an app handler (installed ${handlerFirst ? 'before' : 'after'} start): the app logs and exits 0 later`, async () => {
      const { run, path } = await runExit('signal-handler', { signal: 'SIGTERM', handlerFirst });
      expectCleanExit(run, 0);
      expect(run.stdout).toContain('app: got SIGTERM, exiting soon');
      expect(run.stdout).toContain('app: bye');
      expectEveryRecord(run, path);
      // The loop was recorded after the signal too, until the app exited.
      const trace = decodeTraceFile(path);
      const last = ofType(trace.records, 'pollEnd', 1).at(-1)!;
      const first = ofType(trace.records, 'pollEnd', 1)[0]!;
      expect(last.timeNs - first.timeNs).toBeGreaterThan(TURNS * MS + 80 * MS);
    });
  }
});

describe('enable() and disable() at run time', () => {
  let trace: ReturnType<typeof decodeTraceFile>;
  let truth: {
    disabledAt: string;
    enabledAt: string;
    spinFrom: string;
    spinTo: string;
    whileDisabled: { enabled: boolean; running: boolean };
    whileEnabled: { enabled: boolean };
  };

  beforeAll(async () => {
    const path = join(tempDir(), 'toggle.bin');
    const run = await runFixture('lifecycle-toggle.mjs', { path });
    expectCleanExit(run);
    truth = result(run);
    trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
  });

  it('stats() follows the switch', () => {
    expect(truth.whileDisabled).toMatchObject({ enabled: false, running: true });
    expect(truth.whileEnabled).toMatchObject({ enabled: true });
  });

  it('records stop while disabled, and a RESUMED record comes after enable()', () => {
    const h = trace.headers[0]!;
    const off = traceTime(h, truth.disabledAt);
    const on = traceTime(h, truth.enabledAt);
    const main = ofThread(trace.records, 1);
    expect(main.filter((r) => r.timeNs < off).length).toBeGreaterThan(20);
    expect(main.filter((r) => r.timeNs > off && r.timeNs < on).map((r) => `${r.type}@${r.timeNs}`)).toEqual([]);
    const resumed = ofType(main, 'resumed');
    expect(resumed).toHaveLength(1);
    expect(resumed[0]!.timeNs).toBeGreaterThanOrEqual(on);
    // RESUMED is the first record after the gap.
    expect(main.find((r) => r.timeNs >= on)?.type).toBe('resumed');
    expect(main.filter((r) => r.timeNs > resumed[0]!.timeNs && r.type === 'pollEnd').length).toBeGreaterThan(20);
  });

  it('no POLL pair spans the gap', () => {
    const h = trace.headers[0]!;
    const off = traceTime(h, truth.disabledAt);
    const on = traceTime(h, truth.enabledAt);
    // Without the RESUMED record, POLL_START and POLL_END still alternate: the gap is cut cleanly.
    const seq = pollSequence(trace.records, 1);
    expect(seq.violations).toEqual([`resumed at ${ofType(trace.records, 'resumed', 1)[0]!.timeNs}`]);
    for (const s of busyStretches(trace.records, 1)) expect(s.from > off && s.from < on && s.to > on, `stretch ${s.from}..${s.to}`).toBe(false);
    // The poll phase that began before the gap gets no POLL_END after it.
    const main = ofThread(trace.records, 1).filter((r) => r.type === 'pollStart' || r.type === 'pollEnd' || r.type === 'resumed');
    const i = main.findIndex((r) => r.type === 'resumed');
    expect(main[i + 1]?.type).toBe('pollStart');
  });

  it("the first POLL_END after RESUMED counts its own poll's events, not those of the gap", () => {
    // While disabled the fixture did thousands of file reads; their events belong to no
    // recorded poll.
    const main = ofThread(trace.records, 1);
    const i = main.findIndex((r) => r.type === 'resumed');
    const before = ofType(main.slice(0, i), 'pollEnd');
    const after = ofType(main.slice(i), 'pollEnd');
    const usual = Math.max(...before.map((e) => e.events), ...after.slice(1).map((e) => e.events));
    expect(after[0]!.events, `first POLL_END after RESUMED: ${JSON.stringify(after[0])}`).toBeLessThanOrEqual(usual + 10);
    expect(after[0]!.eventsWaiting).toBeLessThanOrEqual(after[0]!.events);
  });

  it('a THREAD_CPU record after RESUMED measures from the resume, not from before the gap', () => {
    const resumedAt = ofType(trace.records, 'resumed', 1)[0]!.timeNs;
    const after = ofType(trace.records, 'threadCpu', 1).filter((r) => r.timeNs > resumedAt);
    expect(after.length).toBeGreaterThan(0);
    for (const cpu of after) {
      expect(cpu.timeNs - cpu.wallNs, `THREAD_CPU at ${cpu.timeNs} (wall ${cpu.wallNs}) reaches back before RESUMED at ${resumedAt}`).toBeGreaterThanOrEqual(resumedAt);
    }
    // The 20 ms spin right after the resume is measured as such.
    const h = trace.headers[0]!;
    const spinTo = traceTime(h, truth.spinTo);
    const first = after.find((r) => r.timeNs >= spinTo)!;
    expect(first.wallNs).toBeGreaterThanOrEqual(19 * MS);
    expect(first.wallNs).toBeLessThan(60 * MS);
  });
});

describe('starting, stopping and starting again', () => {
  it('a start while a worker records the trace throws ALREADY_RUNNING, and works once it stopped', async () => {
    const run = await runFixture('lifecycle-worker-owner.mjs');
    expectCleanExit(run);
    const out = result<{ whileRunning?: { code: string; message: string }; startedAfter: boolean }>(run);
    expect(out.whileRunning?.code).toBe('ALREADY_RUNNING');
    expect(out.whileRunning?.message).toMatch(/another thread/);
    expect(out.startedAfter).toBe(true);
  });

  it('a second start throws ALREADY_RUNNING; stop() then start() writes a new trace', async () => {
    const dir = tempDir();
    const paths = { first: join(dir, 'first.bin'), second: join(dir, 'second.bin'), third: join(dir, 'third.bin') };
    const run = await runFixture('lifecycle-restart.mjs', paths);
    expectCleanExit(run);
    const out = result<{
      second: { name: string; code: string; message: string; isTelemetryError: boolean };
      firstStats: { running: boolean };
      againStats: { running: boolean; recordsArriving: boolean; records: number };
      firstRunning: boolean;
      againRunning: boolean;
    }>(run);
    expect(out.second).toMatchObject({ name: 'TelemetryError', code: 'ALREADY_RUNNING', isTelemetryError: true });
    expect(out.second.message).toMatch(/already running/);
    expect(out.second.message).toMatch(/stop\(\)/);
    expect(existsSync(paths.second), 'the refused start must not create its file').toBe(false);
    expect(out.firstStats.running).toBe(true);
    expect(out.firstRunning).toBe(false);
    expect(out.againRunning).toBe(false);
    expect(out.againStats).toMatchObject({ running: true, recordsArriving: true });

    const first = decodeTraceFile(paths.first);
    const third = decodeTraceFile(paths.third);
    expectNoDiagnostics(first);
    expectNoDiagnostics(third);
    expect(third.headers[0]!.traceId).not.toBe(first.headers[0]!.traceId);
    expect(third.headers[0]!.originWallUnixNs).toBeGreaterThan(first.headers[0]!.originWallUnixNs);
    for (const trace of [first, third]) {
      expect(pollSequence(trace.records, 1).violations).toEqual([]);
      expect(ofType(trace.records, 'pollEnd', 1).length).toBeGreaterThan(3);
      expect(ofThread(trace.records, 1).at(-1)!.type).toBe('threadStop');
    }
  });

  it('stop() ends the trace with THREAD_STOP reason 2 (telemetry stopped)', async () => {
    const dir = tempDir();
    const paths = { first: join(dir, 'first.bin'), second: join(dir, 'second.bin'), third: join(dir, 'third.bin') };
    const run = await runFixture('lifecycle-restart.mjs', paths);
    expectCleanExit(run);
    // docs/FORMAT.md 6.3: reason 0 the thread exited, 1 it was terminated, 2 telemetry stopped.
    // The main thread did not exit when stop() was called.
    for (const path of [paths.first, paths.third]) {
      const stop = ofType(decodeTraceFile(path).records, 'threadStop', 1);
      expect(stop.map((r) => r.reason)).toEqual([2]);
    }
  });
});

describe('invalid options', () => {
  let results: Record<string, { threw: boolean; name?: string; code?: string; message?: string; isTelemetryError?: boolean }>;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir();
    const run = await runFixture('lifecycle-options.mjs', { dir }, { cwd: dir });
    expectCleanExit(run);
    const out = result<{ results: typeof results; validStart: boolean }>(run);
    results = out.results;
    expect(out.validStart).toBe(true);
  });

  it('every invalid option throws a TelemetryError INVALID_OPTION, and nothing is written', () => {
    for (const [name, r] of Object.entries(results)) {
      expect(r, name).toMatchObject({ threw: true, name: 'TelemetryError', code: 'INVALID_OPTION', isTelemetryError: true });
      expect(r.message, name).toMatch(/^looptrace: /);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('the message names the bad option and its value', () => {
    expect(results['unknownOption']!.message).toContain('flushIntervalMS');
    expect(results['unknownOption']!.message).toContain('unknown option');
    expect(results['negativeInterval']!.message).toContain('queueSampleIntervalMs');
    expect(results['negativeInterval']!.message).toContain('-5');
    expect(results['nanInterval']!.message).toContain('threadpoolProbeIntervalMs');
    expect(results['nanInterval']!.message).toContain('NaN');
    expect(results['fractionalBuffer']!.message).toContain('100.5');
    expect(results['stringWriter']!.message).toMatch(/writer .*never\.bin/);
    expect(results['objectWriter']!.message).toContain('writer');
    expect(results['missingWriter']!.message).toMatch(/writer .*undefined/);
    expect(results['noOptions']!.message).toContain('undefined');
    expect(results['badOnError']!.message).toMatch(/onError .*"log"/);
    expect(results['badEnabled']!.message).toMatch(/enabled .*"yes"/);
    expect(results['totalBelowFile']!.message).toMatch(/maxTotalBytes \(524288\).*maxFileBytes \(1048576\)/);
    expect(results['tinyFile']!.message).toMatch(/maxFileBytes .*1000/);
    expect(results['emptyPath']!.message).toContain('SimpleBinaryWriter');
  });
});
