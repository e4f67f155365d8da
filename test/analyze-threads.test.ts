// Per-thread views on a real program: an HTTP service on the main thread beside a CPU pool whose
// tasks are longer than main's. The long-task list must lead with main's worst (not be crowded out
// by the pool's), --thread must limit every thread section, and --fail-on THREAD:METRIC must gate
// on the named threads only. Bad patterns exit 2 with a message naming them.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { describeRun, expectCleanExit, removeTempDirs, requireBuild, result, ROOT, runFixture, tempDir } from './fixtures/recorder/harness.js';

const CLI = join(ROOT, 'dist/cli/analyze-trace.js');
let trace = '';

function cli(args: readonly string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, trace, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: readonly string[] = []): TraceReport {
  const r = cli([...args, '--json']);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return JSON.parse(r.stdout) as TraceReport;
}

beforeAll(async () => {
  requireBuild();
  trace = join(tempDir(), 'pool-http.bin');
  const run = await runFixture('../analyze/pool-http.mjs', { path: trace, requests: 40, slowMs: 70, jobs: 16, jobMs: 160 }, { timeoutMs: 60_000 });
  expectCleanExit(run);
  expect(result<{ served: number; jobs: number }>(run), describeRun(run)).toEqual({ served: 40, jobs: 16 });
}, 90_000);
afterAll(() => removeTempDirs());

describe('long tasks per thread', () => {
  it('lists the worst of each thread, main first, though the pool has the longest tasks', () => {
    const r = json();
    const groups = r.longTasks.byThread;
    expect(groups[0]!.threadName).toBe('main');
    expect(groups[0]!.count).toBeGreaterThanOrEqual(4);
    expect(groups[0]!.items[0]!.durationNs).toBeGreaterThanOrEqual(65e6);
    const workers = groups.filter((g) => g.threadName.startsWith('worker'));
    expect(workers).toHaveLength(2);
    // A worker's MessagePort may drain several jobs in one callback: count the pool's busy time, not its tasks.
    expect(workers.reduce((sum, g) => sum + g.totalNs, 0)).toBeGreaterThanOrEqual(16 * 150e6);
    // The overall top list is the pool's: that is what used to crowd main out.
    expect(r.longTasks.items[0]!.threadName).toMatch(/^worker/);
    expect(r.longTasks.count).toBe(groups.reduce((sum, g) => sum + g.count, 0));
  });

  it('prints main rows first in the text, and at most three rows per worker', () => {
    const r = cli([]);
    expect(r.status).toBe(0);
    const section = r.stdout.slice(r.stdout.indexOf('Long tasks ≥'), r.stdout.indexOf('\nIdle workers'));
    const rows = section.split('\n').filter((l) => /^\s+\d+\s+\d/.test(l));
    expect(rows[0]).toMatch(/\bmain\b/);
    for (const name of ['worker 1', 'worker 2']) expect(rows.filter((l) => l.includes(name)).length).toBeLessThanOrEqual(3);
    expect(section).toMatch(/more on worker \d/);
  });
});

describe('--thread', () => {
  it('limits threads, long tasks, blocking code, idle workers and findings to main', () => {
    const r = json(['--thread', 'main']);
    expect(r.options.threads).toEqual(['main']);
    expect(r.threads.map((t) => t.name)).toEqual(['main']);
    expect(r.longTasks.byThread.map((g) => g.threadName)).toEqual(['main']);
    expect(r.longTasks.items.every((t) => t.threadName === 'main')).toBe(true);
    expect(r.longTasks.count).toBe(r.threads[0]!.longTasks.count);
    expect(r.idleWorkers.pools).toEqual([]);
    expect(r.idleWorkers.episodes.count).toBe(0);
    expect(r.findings.filter((f) => f.threadId !== null).every((f) => f.threadId === r.threads[0]!.threadId)).toBe(true);
  });

  it("selects the pool with 'worker*'", () => {
    const r = json(['--thread', 'worker*']);
    expect(r.threads.map((t) => t.kind)).toEqual(['worker', 'worker']);
    expect(r.longTasks.byThread.every((g) => g.threadName.startsWith('worker'))).toBe(true);
    expect(r.idleWorkers.pools).toHaveLength(1);
  });

  it.each([
    [['--thread', 'nosuch'], /--thread "nosuch" matches no thread of the trace/],
    [['--thread='], /--thread needs a value/],
    [['--thread', ' '], /--thread: a thread pattern cannot be empty/],
  ])('refuses %j with exit 2', (args, message) => {
    const r = cli(args);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('--fail-on THREAD:METRIC', () => {
  it('gates on main only: the pool\'s longer tasks do not fail a main-thread gate', () => {
    const onMain = cli(['--fail-on', 'main:long-task>130ms']);
    expect(onMain.status, onMain.stdout).toBe(0);
    expect(onMain.stdout).toMatch(/main:long-task>130ms ok: the longest busy stretch was [\d.]+ ms \(main/);
    const onPool = cli(['--fail-on', 'worker*:long-task>130ms']);
    expect(onPool.status).toBe(1);
    expect(onPool.stdout).toMatch(/worker\*:long-task>130ms violated: .*\(worker \d/);
    expect(cli(['--fail-on', 'long-task>130ms']).status).toBe(1);
    expect(cli(['--fail-on', 'main:long-tasks>0']).status).toBe(1);
  });

  it('says when a pattern matches no thread', () => {
    const r = cli(['--fail-on', 'nosuch:long-task>1ms']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/not checked: no thread matches "nosuch" \(threads: main, worker/);
  });

  it.each([
    ['main:threadpool-p99>1ms', /threadpool-p99 is not measured per thread, so it takes no THREAD: prefix/],
    [' :long-task>1ms', /a thread pattern cannot be empty/],
    ['main:long-task>1', /give 1 a unit/],
  ])('refuses %j with exit 2', (expression, message) => {
    const r = cli(['--fail-on', expression]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

describe('ranking by user impact', () => {
  it("leads with main's long tasks; the busy pool is a capacity warning, never critical", () => {
    const r = json();
    expect(r.threads.map((t) => t.role).sort()).toEqual(['background', 'background', 'main']);
    expect(r.findings[0]).toMatchObject({ kind: 'long-task', threadId: r.threads.find((t) => t.kind === 'main')!.threadId });
    const workerIds = new Set(r.threads.filter((t) => t.role === 'background').map((t) => t.threadId));
    const capacity = r.findings.filter((f) => f.kind === 'worker-capacity');
    expect(capacity).toHaveLength(1);
    expect(capacity[0]).toMatchObject({ severity: 'warning' });
    expect(capacity[0]!.message).toMatch(/^Worker pool \(pool-cpu-worker\.mjs\) \(2 workers\) was at capacity, \d+% busy with its own work/);
    // No worker finding is critical, and no worker is said to have been "kept busy" like a serving loop.
    for (const f of r.findings.filter((x) => x.threadId !== null && workerIds.has(x.threadId))) {
      expect(f.severity).not.toBe('critical');
      expect(f.message).not.toMatch(/was kept busy|was busy in/);
    }
  });

  it('ranks named workers with main under --serving-threads', () => {
    const r = json(['--serving-threads', 'worker*']);
    expect(r.options.servingThreads).toEqual(['worker*']);
    expect(r.threads.filter((t) => t.kind === 'worker').map((t) => t.role)).toEqual(['serving', 'serving']);
    expect(r.findings.some((f) => f.kind === 'worker-capacity')).toBe(false);
    const blocked = r.findings.filter((f) => f.kind === 'long-task').map((f) => r.threads.find((t) => t.threadId === f.threadId)!.name);
    expect(blocked).toHaveLength(3);
    expect(cli(['--serving-threads', '']).status).toBe(2);
  });
});

describe('idle-worker evidence', () => {
  it('raises no idle-worker alarm for an idle pool beside a saturated main thread', async () => {
    const path = join(tempDir(), 'idle-pool.bin');
    const run = await runFixture('../analyze/pool-http.mjs', { path, requests: 20, slowMs: 60, slowEvery: 1, gapMs: 0, jobs: 0, jobMs: 0 }, { timeoutMs: 60_000 });
    expectCleanExit(run);
    const out = spawnSync(process.execPath, [CLI, path, '--json'], { encoding: 'utf8', timeout: 30_000 });
    const r = JSON.parse(out.stdout) as TraceReport;
    const main = r.threads.find((t) => t.kind === 'main')!;
    expect(main.utilization, describeRun(run)).toBeGreaterThan(0.8);
    expect(r.idleWorkers.pools).toHaveLength(1);
    expect(r.idleWorkers.episodes.count, JSON.stringify(r.idleWorkers.episodes.items)).toBe(0);
    expect(r.findings.some((f) => f.kind === 'idle-worker')).toBe(false);
    expect(r.findings[0]).toMatchObject({ kind: 'long-task', threadId: main.threadId });
  }, 90_000);
});
