// Zero-code start: `node --import looptrace/register app.js` and `node -r looptrace/register
// app.js`, configured by LOOPTRACE_* variables, in real applications run as child processes.

import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEnvironment } from '../src/recorder/environment.js';
import { describeAppRun, makeApp, removeApps, runNode } from './fixtures/production/app.js';
import { decodeTraceFiles, expectNoDiagnostics, expectNoStackTrace, ofType, requireBuild } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeApps);

// The common CommonJS layout: Worker taken at the top of the file, workers made from a file and
// from a string, one of them with execArgv: [] (which drops the preload flags).
const WORKER_APP = `
const { Worker } = require('node:worker_threads');
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { threadId } = require('node:worker_threads');
writeFileSync(join(__dirname, 'work.js'), "const s = Date.now(); while (Date.now() - s < 30); setTimeout(() => {}, 50);");
const ids = [];
function run(worker) {
  ids.push(worker.threadId);
  return new Promise((resolve) => worker.on('exit', resolve));
}
(async () => {
  await run(new Worker(join(__dirname, 'work.js')));
  await run(new Worker("setTimeout(() => {}, 50)", { eval: true }));
  await run(new Worker(join(__dirname, 'work.js'), { execArgv: [] }));
  process.stdout.write('RESULT ' + JSON.stringify({ workerIds: ids, mainThreadId: threadId }) + '\\n');
})();
`;

async function traceIn(dir: string) {
  const files = readdirSync(dir).filter((f) => f.endsWith('.bin')).map((f) => join(dir, f));
  expect(files.length, `trace files in ${dir}`).toBeGreaterThan(0);
  return decodeTraceFiles(files.sort());
}

describe.each([
  ['--import', ['--import', 'looptrace/register']],
  ['-r', ['-r', 'looptrace/register']],
])('node %s looptrace/register', (_flag, preload) => {
  it('traces the main thread and every worker, configured by LOOPTRACE_*', async () => {
    const dir = makeApp({ 'app.cjs': WORKER_APP });
    const traces = join(dir, 'var', 'traces');
    const run = await runNode(dir, [...preload, 'app.cjs'], { LOOPTRACE_DIR: 'var/traces', LOOPTRACE_SERVICE_NAME: 'zero-code', LOOPTRACE_MAX_FILE_BYTES: '64k', LOOPTRACE_MAX_TOTAL_BYTES: '1M' });
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr, describeAppRun(run)).toBe('');
    const trace = await traceIn(traces);
    expectNoDiagnostics(trace);
    expect(trace.headers[0]?.serviceName).toBe('zero-code');
    const started = ofType(trace.records, 'threadStart').map((r) => r.nodeThreadId);
    expect(started).toEqual(expect.arrayContaining(run.result['workerIds'] as number[]));
    expect((run.result['workerIds'] as number[]).length).toBe(3);
    // Every thread, the workers included, recorded loop iterations.
    for (const t of ofType(trace.records, 'threadStart')) {
      expect(ofType(trace.records, 'pollStart', t.threadId).length, `poll records of node thread ${t.nodeThreadId}`).toBeGreaterThan(0);
    }
  });
});

it('the preload itself attaches workers: traced with LOOPTRACE_TRACE_WORKERS=0, which leaves Worker alone', async () => {
  const dir = makeApp({ 'app.mjs': `
import { Worker, threadId } from 'node:worker_threads';
const w = new Worker(new URL('./work.mjs', import.meta.url));
const workerId = w.threadId;
w.on('exit', () => process.stdout.write('RESULT ' + JSON.stringify({ workerId }) + '\\n'));
`, 'work.mjs': 'setTimeout(() => {}, 50);' });
  const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { LOOPTRACE_TRACE_WORKERS: '0' });
  expect(run.code, describeAppRun(run)).toBe(0);
  const trace = await traceIn(join(dir, 'looptrace-traces'));
  expect(ofType(trace.records, 'threadStart').map((r) => r.nodeThreadId)).toContain(run.result['workerId']);
});

describe('environment variables', () => {
  it('absent: traces into ./looptrace-traces, created owner-only, with no warning', async () => {
    const dir = makeApp({ 'app.mjs': 'setTimeout(() => {}, 100);' });
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs']);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr).toBe('');
    const traces = join(dir, 'looptrace-traces');
    expect(statSync(traces).mode & 0o777).toBe(0o700);
    const trace = await traceIn(traces);
    expect(ofType(trace.records, 'pollStart').length).toBeGreaterThan(0);
  });

  it('wrong or unknown: a warning naming each variable, defaults used, the app unharmed', async () => {
    const dir = makeApp({ 'app.mjs': "setTimeout(() => console.log('app ran'), 100);" });
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], {
      LOOPTRACE_DIR: 'out',
      LOOPTRACE_MAX_FILE_BYTES: 'lots',
      LOOPTRACE_FLUSH_INTERVAL_MS: '-5',
      LOOPTRACE_ENABLED: 'perhaps',
      LOOPTRACE_SERVCE_NAME: 'typo',
    });
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stdout).toContain('app ran');
    expectNoStackTrace(run.stderr);
    expect(run.stderr).toMatch(/LOOPTRACE_MAX_FILE_BYTES="lots" is not valid/);
    expect(run.stderr).toMatch(/LOOPTRACE_FLUSH_INTERVAL_MS="-5" is not valid/);
    expect(run.stderr).toMatch(/LOOPTRACE_ENABLED="perhaps" is not valid/);
    expect(run.stderr).toMatch(/LOOPTRACE_SERVCE_NAME is not a looptrace variable/);
    expect(ofType((await traceIn(join(dir, 'out'))).records, 'pollStart').length).toBeGreaterThan(0);
  });

  it('a directory that cannot be used: a warning naming it, the app unharmed', async () => {
    const dir = makeApp({ 'app.mjs': "setTimeout(() => console.log('app ran'), 100);" });
    writeFileSync(join(dir, 'blocker'), 'a file where the directory should be');
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { LOOPTRACE_DIR: 'blocker/traces' });
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stdout).toContain('app ran');
    expectNoStackTrace(run.stderr);
    expect(run.stderr).toMatch(/looptrace: .*blocker\/traces/);
  });

  it('LOOPTRACE_OFF=1: nothing starts, nothing is created', async () => {
    const dir = makeApp({ 'app.mjs': 'setTimeout(() => {}, 50);' });
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { LOOPTRACE_OFF: '1' });
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr).toBe('');
    expect(existsSync(join(dir, 'looptrace-traces'))).toBe(false);
  });

  it('parses sizes with units and numbers within bounds', () => {
    const c = readEnvironment({ LOOPTRACE_MAX_FILE_BYTES: '512k', LOOPTRACE_MAX_TOTAL_BYTES: '2M', LOOPTRACE_CPU_THRESHOLD_MS: '0.5', LOOPTRACE_TRACE_WORKERS: 'false' }, '/srv');
    expect(c).toMatchObject({ start: true, directory: '/srv/looptrace-traces', maxFileBytes: 512 << 10, maxTotalBytes: 2 << 20, warnings: [] });
    expect(c.options).toEqual({ cpuThresholdMs: 0.5, traceWorkers: false });
    const bad = readEnvironment({ LOOPTRACE_THREAD_BUFFER_RECORDS: '1e30', LOOPTRACE_MAX_TOTAL_BYTES: '16k', LOOPTRACE_MAX_FILE_BYTES: '32k' }, '/srv');
    expect(bad.warnings.join('\n')).toMatch(/LOOPTRACE_THREAD_BUFFER_RECORDS="1e30" is not valid/);
    expect(bad.warnings.join('\n')).toMatch(/LOOPTRACE_MAX_TOTAL_BYTES \(16384\) is less than LOOPTRACE_MAX_FILE_BYTES \(32768\)/);
    expect(bad.maxFileBytes).toBe(16 << 10);
  });
});
