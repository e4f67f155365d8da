// Workers created from a Worker class taken before telemetry started cannot be traced: each is
// detected, counted in stats() and named in analyze-trace's findings. A worker's `name` option
// is its thread name.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UNTRACED_WORKER_MARK } from '../src/format/index.js';
import { analyzeBytes, encodeFile, header, MAIN, ms, pe, ps, rhythm, stringDef } from './fixtures/analyze/synth.js';
import { describeAppRun, makeApp, removeApps, runNode } from './fixtures/production/app.js';
import { decodeTraceFiles, ofType, requireBuild, ROOT } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeApps);

const SENTENCE = '2 workers were not traced; start looptrace before taking Worker, or use --import looptrace/register';

// The common CommonJS layout: Worker destructured at the top, telemetry started after it.
const APP = `
const { Worker } = require('node:worker_threads');
const { startRuntimeTelemetry, RotatingWriter } = require('looptrace');
const { join } = require('node:path');
const warnings = [];
process.on('warning', (w) => warnings.push(w.code));
const telemetry = startRuntimeTelemetry({ writer: new RotatingWriter(join(__dirname, 'traces', 'trace.bin')) });
const code = 'setTimeout(() => {}, 100)';
const run = (w) => new Promise((resolve) => w.on('exit', resolve));
(async () => {
  const early = [new Worker(code, { eval: true }), new Worker(code, { eval: true })];
  const Late = require('node:worker_threads').Worker;
  const late = new Late(code, { eval: true, name: 'image-resizer' });
  const lateId = late.threadId;
  await new Promise((r) => setTimeout(r, 50));
  const stats = telemetry.stats();
  await Promise.all([...early, late].map(run));
  await telemetry.stop();
  process.stdout.write('RESULT ' + JSON.stringify({ untracedWorkers: stats.untracedWorkers, warnings: stats.warnings, warningCodes: warnings, lateId }) + '\\n');
})();
`;

describe('workers made from a Worker taken before start', () => {
  it('stats() counts them and says what to do; a worker made after start is traced under its name', async () => {
    const dir = makeApp({ 'app.cjs': APP });
    const run = await runNode(dir, ['app.cjs']);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.result).toMatchObject({ untracedWorkers: 2, warnings: [SENTENCE] });
    expect((run.result['warningCodes'] as string[]).filter((c) => c === 'LOOPTRACE_UNTRACED_WORKER')).toHaveLength(1);
    const traces = join(dir, 'traces');
    const trace = await decodeTraceFiles(readdirSync(traces).map((f) => join(traces, f)));
    const started = ofType(trace.records, 'threadStart');
    expect(started.map((t) => t.nodeThreadId)).toEqual([run.result['lateId']]);
    expect(trace.strings.get(started[0]!.nameStringId)).toBe('image-resizer');
    // Each untraced worker is a looptrace:untraced-worker mark on the main thread.
    const marks = ofType(trace.records, 'mark').filter((m) => trace.strings.get(m.nameStringId) === UNTRACED_WORKER_MARK);
    expect(marks.map((m) => m.threadId)).toEqual([1, 1]);
    expect(marks.every((m) => m.value > 0 && m.value !== run.result['lateId'])).toBe(true);
    // And analyze-trace says so.
    const out = spawnSync(process.execPath, [join(ROOT, 'dist/cli/analyze-trace.js'), traces], { encoding: 'utf8' });
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout).toContain(SENTENCE);
  });
});

describe('analyze-trace', () => {
  const marks = (name: string) => [
    stringDef(ms(1), 7, name),
    { type: 'mark' as const, threadId: 0, timeNs: ms(2), nameStringId: 7, value: 5 },
    { type: 'mark' as const, threadId: 0, timeNs: ms(3), nameStringId: 7, value: 6 },
  ];
  const file = (name: string) => encodeFile(header([MAIN]), [{ threadId: 1, records: [...rhythm(0, ms(1), ms(0.1), ms(0.1)), ...marks(name), ps(ms(4)), pe(ms(5), ms(1))] }]).bytes;

  it('reports untraced-worker marks as a finding and in trace.untracedWorkers', () => {
    const report = analyzeBytes(file(UNTRACED_WORKER_MARK));
    expect(report.trace.untracedWorkers).toEqual([5, 6]);
    expect(report.findings).toContainEqual(expect.objectContaining({ kind: 'untraced-workers', severity: 'warning', message: SENTENCE }));
  });

  it('leaves other marks alone', () => {
    const report = analyzeBytes(file('app:checkpoint'));
    expect(report.trace.untracedWorkers).toEqual([]);
    expect(report.findings.some((f) => f.kind === 'untraced-workers')).toBe(false);
  });

  it('prints the sentence in its text output', () => {
    const dir = mkdtempSync(join(tmpdir(), 'looptrace-untraced-'));
    try {
      writeFileSync(join(dir, 'trace.bin'), file(UNTRACED_WORKER_MARK));
      const out = spawnSync(process.execPath, [join(ROOT, 'dist/cli/analyze-trace.js'), join(dir, 'trace.bin')], { encoding: 'utf8' });
      expect(out.status, out.stderr).toBe(0);
      expect(out.stdout).toContain(SENTENCE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
