// Many processes, one directory (cluster, PM2, two instances of a service): each RotatingWriter
// writes files tagged with its own process, keeps its own budget, never renames, truncates or
// deletes a running process's files, and analyze-trace on the directory reports every process.
// Files of a process that has ended count against the budget of the next one.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeTraceFile,
  describeRun,
  expectCleanExit,
  expectNoDiagnostics,
  removeTempDirs,
  requireBuild,
  result,
  ROOT,
  runFixture,
  tempDir,
} from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

const NAME = /^trace\.(\d+-[0-9a-f]{8})\.(\d+)(\.active)?\.bin$/;
const MAX_FILE = 16 << 10;
const MAX_TOTAL = 64 << 10;

interface Outcome {
  pid: number;
  startedAtMs: number;
  stoppedAtMs: number;
  errors: string[];
  stats: { files: number };
}

/** Bytes on disk per process tag; each sum never exceeds what that process had at one instant (see recorder-writers). */
function totalsByTag(dir: string): Map<string, number> {
  const totals = new Map<string, number>();
  const names = readdirSync(dir).filter((n) => NAME.test(n));
  // Active files first, then sealed newest first: a sealed file found later was there, as large, before.
  names.sort((a, b) => (NAME.exec(b)![3] ? 1e12 : 0) + Number(NAME.exec(b)![2]) - ((NAME.exec(a)![3] ? 1e12 : 0) + Number(NAME.exec(a)![2])));
  for (const name of names) {
    try {
      const tag = NAME.exec(name)![1]!;
      totals.set(tag, (totals.get(tag) ?? 0) + statSync(join(dir, name)).size);
    } catch (error) {
      if ((error as { code?: string }).code !== 'ENOENT') throw error;
    }
  }
  return totals;
}

function filesByTag(dir: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const name of readdirSync(dir)) {
    const m = NAME.exec(name);
    if (m === null) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), name]);
  }
  for (const list of out.values()) list.sort((a, b) => Number(NAME.exec(a)![2]) - Number(NAME.exec(b)![2]));
  return out;
}

describe('two processes starting in the same millisecond, one path, a tiny budget', () => {
  let dir: string;
  let outcomes: Outcome[];
  let worstByTag = new Map<string, number>();

  beforeAll(async () => {
    dir = tempDir();
    const path = join(dir, 'trace.bin');
    const startAtMs = Date.now() + 400;
    const arg = { path, maxFileBytes: MAX_FILE, maxTotalBytes: MAX_TOTAL, durationMs: 1200, startAtMs };
    const timer = setInterval(() => {
      for (const [tag, total] of totalsByTag(dir)) worstByTag.set(tag, Math.max(worstByTag.get(tag) ?? 0, total));
    }, 5);
    const runs = await Promise.all([runFixture('shared-dir.mjs', arg), runFixture('shared-dir.mjs', arg)]);
    clearInterval(timer);
    for (const run of runs) expectCleanExit(run);
    outcomes = runs.map((run) => result<Outcome>(run));
  });

  it('both record without an error, and their recordings overlap in time', () => {
    for (const o of outcomes) expect(o.errors).toEqual([]);
    const [a, b] = outcomes as [Outcome, Outcome];
    expect(a.startedAtMs).toBeLessThan(b.stoppedAtMs);
    expect(b.startedAtMs).toBeLessThan(a.stoppedAtMs);
    // More files than the budget holds, so each process deleted some of its own.
    for (const o of outcomes) expect(o.stats.files).toBeGreaterThan(MAX_TOTAL / MAX_FILE);
  });

  it("each process's files stay within its own budget at every observation", () => {
    expect(worstByTag.size).toBe(2);
    for (const [tag, worst] of worstByTag) {
      expect(worst, tag).toBeLessThanOrEqual(MAX_TOTAL);
      expect(worst, tag).toBeGreaterThan(MAX_TOTAL / 2);
    }
  });

  it("neither touched the other's files: each keeps the newest files of its own trace, numbered without gaps", () => {
    const byTag = filesByTag(dir);
    expect(byTag.size).toBe(2);
    const pids = new Set<number>();
    for (const [tag, names] of byTag) {
      const indexes = names.map((n) => Number(NAME.exec(n)![2]));
      for (let i = 1; i < indexes.length; i++) expect(indexes[i], tag).toBe(indexes[i - 1]! + 1);
      const pid = Number(tag.split('-')[0]);
      pids.add(pid);
      const outcome = outcomes.find((o) => o.pid === pid)!;
      expect(indexes.at(-1), tag).toBe(outcome.stats.files - 1);
      expect(names.length, tag).toBeGreaterThanOrEqual(3);
      const traceIds = new Set<string>();
      for (const name of names) {
        const trace = decodeTraceFile(join(dir, name));
        expectNoDiagnostics(trace);
        expect(trace.headers[0]!.pid).toBe(pid);
        traceIds.add(trace.headers[0]!.traceId);
      }
      expect(traceIds.size).toBe(1);
    }
    expect([...pids].sort()).toEqual(outcomes.map((o) => o.pid).sort());
  });

  it('analyze-trace on the directory reports every process', () => {
    const out = spawnSync(process.execPath, [join(ROOT, 'dist/cli/analyze-trace.js'), '--json', dir], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    const reports = JSON.parse(out.stdout) as { trace: { pid: number } }[];
    expect(Array.isArray(reports)).toBe(true);
    expect(reports.map((r) => r.trace.pid).sort()).toEqual(outcomes.map((o) => o.pid).sort());
  });
});

describe('files of a process that has ended', () => {
  it('a killed process keeps its files while it runs; the next process seals them and counts them against its budget', async () => {
    const dir = tempDir();
    const path = join(dir, 'trace.bin');
    let hangingPid = 0;
    let beforeKill: string[] = [];
    // First: a process that is killed (SIGKILL) mid-file, leaving its file active and its lock file.
    const killed = await runFixture('shared-dir.mjs', { path, maxFileBytes: MAX_FILE, maxTotalBytes: 1 << 20, durationMs: 300, hang: true }, {
      onLine: (line, child) => {
        if (line !== 'HANG') return;
        hangingPid = child.pid!;
        // While it runs, a second process with a budget far too small for both must leave its files alone.
        void runFixture('shared-dir.mjs', { path, maxFileBytes: MAX_FILE, maxTotalBytes: MAX_FILE * 2, durationMs: 300 }).then((run) => {
          expectCleanExit(run);
          beforeKill = readdirSync(dir);
          child.kill('SIGKILL');
        });
      },
    });
    expect(killed.signal, describeRun(killed)).toBe('SIGKILL');
    const mine = (names: string[]) => names.filter((n) => n.startsWith(`trace.${hangingPid}-`));
    const killedFiles = mine(beforeKill);
    expect(killedFiles.length, beforeKill.join(', ')).toBeGreaterThan(3);
    expect(killedFiles.some((n) => n.includes('.active.'))).toBe(true);
    expect(readdirSync(dir).filter((n) => n.startsWith(`.trace.${hangingPid}-`) && n.endsWith('.lock'))).toHaveLength(1);

    // Next: a process with a small budget adopts the ended process's files.
    const next = await runFixture('shared-dir.mjs', { path, maxFileBytes: MAX_FILE, maxTotalBytes: MAX_FILE * 4, durationMs: 600 });
    expectCleanExit(next);
    const after = readdirSync(dir);
    expect(after.filter((n) => n.includes('.active.') || n.endsWith('.lock'))).toEqual([]);
    const total = after.filter((n) => NAME.test(n)).reduce((sum, n) => sum + statSync(join(dir, n)).size, 0);
    // The ended process's files now count against the new one's budget: oldest deleted first.
    expect(mine(after).length).toBeLessThan(killedFiles.length);
    expect(total).toBeLessThanOrEqual(MAX_FILE * 4);
    expect(existsSync(join(dir, killedFiles.find((n) => n.includes('.active.'))!))).toBe(false);
  });
});
