// Failures of the recorder: a trace that cannot be opened leaves an inert handle and reports
// OPEN_FAILED (or throws it, with throwOnStartError); a trace
// that cannot be written later (disk full, directory removed) turns telemetry off with a
// WRITE_FAILED error and never takes the application down.

import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeRun,
  expectCleanExit,
  removeTempDirs,
  requireBuild,
  result,
  runFixture,
  tempDir,
} from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

interface ErrorInfo {
  name: string;
  code: string;
  message: string;
  isTelemetryError: boolean;
  runningInOnError?: boolean;
  viaListener?: boolean;
}

interface WriteOutcome {
  startError?: ErrorInfo;
  errors: ErrorInfo[];
  warnings: { name: string; code: string; message: string }[];
  stats?: { running: boolean; enabled: boolean; errors: string[] };
  turns: number;
  decoded?: { bytes: number; records: number; headers: number; diagnostics: { kind: string; offset: number }[] };
  alive: boolean;
}

describe('a trace that cannot be opened', () => {
  let out: {
    results: Record<string, { threw: boolean; path: string; errors: unknown[] } & Partial<ErrorInfo>>;
    workerUntouched: boolean;
    validStats: { running: boolean };
    listenersBefore: Record<string, number>;
    listenersAfterFailures: Record<string, number>;
  };

  beforeAll(async () => {
    const dir = tempDir();
    const run = await runFixture('failure-open.mjs', { dir });
    expectCleanExit(run);
    out = result(run);
  });

  it('with throwOnStartError, makes startRuntimeTelemetry throw OPEN_FAILED naming the path', () => {
    for (const [name, r] of Object.entries(out.results)) {
      expect(r, name).toMatchObject({ threw: true, name: 'TelemetryError', code: 'OPEN_FAILED', isTelemetryError: true });
      expect(r.errors, `${name}: a failed start reports through the throw only`).toEqual([]);
    }
    expect(out.results['proc']!.message).toContain('/proc/nonexistent/x.bin');
    expect(out.results['proc']!.message).toContain('ENOENT');
    expect(out.results['underFile']!.message).toContain(out.results['underFile']!.path);
    expect(out.results['fileAsDir']!.message).toContain(out.results['fileAsDir']!.path);
    expect(out.results['directory']!.message).toContain(out.results['directory']!.path);
    // A RotatingWriter whose directory cannot be created names it and the path given.
    const rotating = out.results['rotatingUnderFile']!;
    expect(rotating.message).toContain(`trace directory ${rotating.path.replace(/\/trace\.bin$/, '')} for ${rotating.path}`);
  });

  it('leaves nothing behind: no listeners, no patched Worker, and a valid start works', () => {
    expect(out.listenersAfterFailures).toEqual(out.listenersBefore);
    expect(out.workerUntouched).toBe(true);
    expect(out.validStats.running).toBe(true);
  });
});

describe('a disk that is full', () => {
  it("SimpleBinaryWriter('/dev/full'): onError gets WRITE_FAILED (ENOSPC), telemetry stops, the app runs on", async () => {
    const run = await runFixture('failure-write.mjs', { target: 'dev-full', durationMs: 400 });
    expectCleanExit(run);
    const out = result<WriteOutcome>(run);
    expect(out.alive).toBe(true);
    expect(out.turns).toBeGreaterThan(50);
    expect(out.warnings).toEqual([]);
    // The disk being full is a write failure, reported through onError; startRuntimeTelemetry()
    // throws only when the file cannot be opened (its documented contract). /dev/full opens fine.
    expect(out.startError, 'startRuntimeTelemetry() threw instead of reporting through onError').toBeUndefined();
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0]).toMatchObject({ name: 'TelemetryError', code: 'WRITE_FAILED', isTelemetryError: true, runningInOnError: false });
    expect(out.errors[0]!.message).toContain('ENOSPC');
    expect(out.errors[0]!.message).toContain('/dev/full');
    expect(out.stats).toMatchObject({ running: false, enabled: false });
  });

  // A real file system that fills up mid-run: a 16 KiB tmpfs in a private mount namespace. Needs
  // unprivileged user namespaces (or root); skipped where they are not available.
  const canMount = (() => {
    const probe = tempDir();
    const r = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o size=16k tmpfs "$1"', 'sh', probe], { stdio: 'ignore' });
    return r.status === 0;
  })();

  it.skipIf(!canMount)('a file system that fills up mid-run: WRITE_FAILED (ENOSPC), the trace written so far decodes', async () => {
    const mount = join(tempDir(), 'mnt');
    mkdirSync(mount);
    const path = join(mount, 'trace.bin');
    const run = await runFixture(
      'failure-write.mjs',
      { target: 'file', path, durationMs: 1500, decode: true },
      { wrap: (argv) => ['unshare', '-rm', 'sh', '-c', 'mount -t tmpfs -o size=16k tmpfs "$1" && shift && exec "$@"', 'sh', mount, ...argv] },
    );
    expectCleanExit(run);
    const out = result<WriteOutcome>(run);
    expect(out.startError).toBeUndefined();
    expect(out.errors, describeRun(run)).toHaveLength(1);
    expect(out.errors[0]).toMatchObject({ code: 'WRITE_FAILED', isTelemetryError: true, runningInOnError: false });
    expect(out.errors[0]!.message).toContain('ENOSPC');
    expect(out.errors[0]!.message).toContain(path);
    expect(out.stats).toMatchObject({ running: false });
    expect(out.turns).toBeGreaterThan(100);
    // Everything that fit decodes; at most the frame being written when the disk filled is torn.
    const decoded = out.decoded!;
    expect(decoded.headers).toBe(1);
    expect(decoded.records).toBeGreaterThan(100);
    expect(decoded.diagnostics.filter((d) => d.kind !== 'truncated')).toEqual([]);
    expect(decoded.diagnostics.length).toBeLessThanOrEqual(1);
  });
});

describe('a trace directory removed mid-run', () => {
  async function runRemoved(reportVia: 'onError' | 'listener' | 'none') {
    const dir = tempDir();
    const traceDir = join(dir, 'traces');
    mkdirSync(traceDir);
    const run = await runFixture('failure-write.mjs', { target: 'rmdir', dir: traceDir, durationMs: 800, report: reportVia });
    return { run, out: result<WriteOutcome>(run), traceDir };
  }

  it('onError gets WRITE_FAILED, telemetry stops, the app survives', async () => {
    const { run, out, traceDir } = await runRemoved('onError');
    expectCleanExit(run);
    expect(out.alive).toBe(true);
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0]).toMatchObject({ name: 'TelemetryError', code: 'WRITE_FAILED', isTelemetryError: true, runningInOnError: false });
    expect(out.errors[0]!.message).toContain(traceDir);
    expect(out.stats).toMatchObject({ running: false, enabled: false });
    expect(out.stats!.errors).toHaveLength(1);
    expect(out.warnings).toEqual([]);
    expect(run.stderr).toBe('');
  });

  it("an 'error' listener gets it instead, with no warning", async () => {
    const { run, out } = await runRemoved('listener');
    expectCleanExit(run);
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0]).toMatchObject({ code: 'WRITE_FAILED', viaListener: true });
    expect(out.warnings).toEqual([]);
  });

  it("with no onError and no 'error' listener, the error becomes a process warning, not a crash", async () => {
    const { run, out } = await runRemoved('none');
    expectCleanExit(run);
    expect(out.alive).toBe(true);
    expect(out.errors).toEqual([]);
    expect(out.warnings).toHaveLength(1);
    expect(out.warnings[0]).toMatchObject({ name: 'Warning', code: 'LOOPTRACE_WRITE_FAILED' });
    expect(out.warnings[0]!.message).toMatch(/^looptrace: telemetry stopped: /);
    expect(run.stderr).toContain('[LOOPTRACE_WRITE_FAILED] Warning: looptrace: telemetry stopped');
    expect(out.stats).toMatchObject({ running: false });
  });
});

describe('a start the environment refuses (no throwOnStartError)', () => {
  let out: {
    onErrorBeforeReturn: number;
    viaOnError: ErrorInfo[];
    viaListener: ErrorInfo[];
    inert: { stats: { running: boolean; enabled: boolean; startError?: string; errors: string[]; records: number }; running: boolean; enableReturned: boolean };
    goodStats: { running: boolean; files: number };
    modes: { nested: number; parent: number };
    enableAfterStop: boolean;
    warningsBeforeEnable: { code: string; message: string }[];
    warningsAfterEnable: { code: string; message: string }[];
  };

  beforeAll(async () => {
    const run = await runFixture('start-refused.mjs', { dir: tempDir() });
    expect(run.code, describeRun(run)).toBe(0);
    out = result(run);
  });

  it('returns an inert handle whose stats() says why', () => {
    expect(out.inert.running).toBe(false);
    expect(out.inert.stats).toMatchObject({ running: false, enabled: false, records: 0 });
    expect(out.inert.stats.startError).toMatch(/cannot create the trace directory .*a-file for .*a-file\/x\.bin/);
    expect(out.inert.enableReturned).toBe(false);
  });

  it('reports once, after start returns: onError, else an error listener, else a process warning', () => {
    expect(out.onErrorBeforeReturn).toBe(0);
    expect(out.viaOnError).toEqual([expect.objectContaining({ code: 'OPEN_FAILED', isTelemetryError: true })]);
    expect(out.viaListener).toEqual([expect.objectContaining({ code: 'OPEN_FAILED' })]);
    expect(out.viaListener[0]!.message).toContain('sub');
    expect(out.warningsBeforeEnable.filter((w) => w.code === 'LOOPTRACE_OPEN_FAILED').map((w) => w.message)).toEqual([
      expect.stringContaining('/proc/nonexistent'),
    ]);
  });

  it('creates a missing trace directory, owner-only, and records', () => {
    expect(out.goodStats.running).toBe(true);
    expect(out.goodStats.files).toBe(1);
    expect(out.modes).toEqual({ nested: 0o700, parent: 0o700 });
  });

  it('enable() after stop() returns false with a warning saying it does nothing', () => {
    expect(out.enableAfterStop).toBe(false);
    expect(out.warningsAfterEnable).toEqual([expect.objectContaining({ code: 'LOOPTRACE_NOT_RUNNING', message: expect.stringMatching(/enable\(\) after stop\(\) does nothing/) })]);
  });
});
