// A long task made of many callbacks: messages queued while main was blocked are then handled back
// to back in one busy stretch. With callback mode the report says how many callbacks the task was
// made of; without it, it claims nothing.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { describeRun, expectCleanExit, removeTempDirs, requireBuild, result, ROOT, runFixture, tempDir } from './fixtures/recorder/harness.js';

const CLI = join(ROOT, 'dist/cli/analyze-trace.js');
const MESSAGES = 20;
const HANDLE_MS = 20;

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

async function record(callbacks: boolean): Promise<string> {
  const path = join(tempDir(), `drained-${callbacks}.bin`);
  const run = await runFixture('../analyze/drained-messages.mjs', { path, messages: MESSAGES, handleMs: HANDLE_MS, callbacks }, { timeoutMs: 60_000 });
  expectCleanExit(run);
  expect(result<{ handled: number }>(run), describeRun(run)).toEqual({ handled: MESSAGES });
  return path;
}

function drainTask(r: TraceReport) {
  // The stretch that handled the queued messages: at least most of their handling time.
  return r.longTasks.items.find((t) => t.threadName === 'main' && t.durationNs >= (MESSAGES - 2) * HANDLE_MS * 1e6);
}

it('says a long task was made of many callbacks when callback mode recorded them', async () => {
  const path = await record(true);
  const r = JSON.parse(spawnSync(process.execPath, [CLI, path, '--json'], { encoding: 'utf8', timeout: 30_000 }).stdout) as TraceReport;
  const task = drainTask(r);
  expect(task, JSON.stringify(r.longTasks.items.map((t) => [t.durationNs, t.attribution.callbacks]))).toBeDefined();
  // Many callbacks, not one: Node 20 runs one MessagePort callback per message; Node 22 and later
  // deliver several queued messages per callback (7 callbacks for 20 messages were seen), so the
  // count is not the number of messages.
  expect(task!.attribution.callbacks).toBeGreaterThanOrEqual(2);
  const text = spawnSync(process.execPath, [CLI, path], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1' } }).stdout;
  expect(text).toMatch(/made of \d+ callbacks run back to back \(callback mode\), not one long callback/);
  expect(r.findings[0]!.message).toMatch(/made of \d+ callbacks run back to back/);
}, 90_000);

it('claims nothing about callbacks without callback mode', async () => {
  const path = await record(false);
  const r = JSON.parse(spawnSync(process.execPath, [CLI, path, '--json'], { encoding: 'utf8', timeout: 30_000 }).stdout) as TraceReport;
  const task = drainTask(r);
  expect(task).toBeDefined();
  expect(task!.attribution.callbacks).toBeNull();
  expect(r.findings.some((f) => /callbacks run back to back/.test(f.message))).toBe(false);
}, 90_000);
