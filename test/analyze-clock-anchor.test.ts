// The clock anchor in --json and --jsonl: a real program stamps process.hrtime.bigint() as a long
// task starts; the stamp minus the report's originMonoNs must land on that task's startNs.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { describeRun, expectCleanExit, removeTempDirs, requireBuild, result, ROOT, runFixture, tempDir } from './fixtures/recorder/harness.js';

const CLI = join(ROOT, 'dist/cli/analyze-trace.js');

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('exposes originMonoNs so a process.hrtime stamp lines up with trace times', async () => {
  const dir = tempDir();
  const path = join(dir, 'anchor.bin');
  const run = await runFixture('../analyze/clock-anchor.mjs', { path }, { timeoutMs: 30_000 });
  expectCleanExit(run);
  const { stampMonoNs } = result<{ stampMonoNs: string }>(run);
  const out = spawnSync(process.execPath, [CLI, path, '--json'], { encoding: 'utf8', timeout: 30_000 });
  expect(out.status, out.stderr).toBe(0);
  const report = JSON.parse(out.stdout) as TraceReport;
  const anchor = report.trace.clockAnchor!;
  expect(anchor.originMonoNs).toMatch(/^\d+$/);
  expect(anchor.originWallUnixNs).toMatch(/^\d+$/);
  expect(Math.abs(anchor.originUnixMs - Number(BigInt(anchor.originWallUnixNs) / 1000n) / 1000)).toBeLessThan(0.002);
  expect(anchor.originIso).toBe(new Date(Math.floor(anchor.originUnixMs)).toISOString());
  const stampNs = Number(BigInt(stampMonoNs) - BigInt(anchor.originMonoNs));
  const task = report.longTasks.items.find((t) => t.threadName === 'main' && t.durationNs >= 140e6);
  expect(task, describeRun(run) + JSON.stringify(report.longTasks.items)).toBeDefined();
  // The stretch starts when the timer's poll ends, a little before the stamp, never after it.
  expect(stampNs - task!.startNs).toBeGreaterThanOrEqual(0);
  expect(stampNs - task!.startNs).toBeLessThan(5e6);
  // JSON Lines: the header line carries the same anchor.
  const jsonl = join(dir, 'anchor.jsonl');
  const conv = spawnSync(process.execPath, [CLI, path, '--jsonl', jsonl], { encoding: 'utf8', timeout: 30_000 });
  expect(conv.status, conv.stderr).toBe(0);
  const head = JSON.parse(readFileSync(jsonl, 'utf8').split('\n')[0]!) as Record<string, unknown>;
  expect(head).toMatchObject({ type: 'header', originMonoNs: anchor.originMonoNs, originWallUnixNs: anchor.originWallUnixNs });
}, 60_000);
