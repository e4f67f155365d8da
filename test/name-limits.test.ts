// Names that go into every file's header are bounded: an oversized serviceName is refused with
// its size named (or cut, with a warning, when it comes from LOOPTRACE_SERVICE_NAME), and an
// oversized worker name is cut with a warning, so the header always decodes.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRuntimeTelemetry, NullWriter } from '../src/index.js';
import { cutName } from '../src/recorder/name-limits.js';
import { describeAppRun, makeApp, removeApps, runNode } from './fixtures/production/app.js';
import { decodeTraceFiles, expectNoDiagnostics, ofType, requireBuild } from './fixtures/recorder/harness.js';

requireBuild();
afterAll(removeApps);

describe('serviceName', () => {
  it('over 256 bytes is refused, naming its size', () => {
    expect(() => startRuntimeTelemetry({ writer: new NullWriter(), serviceName: 'é'.repeat(200) })).toThrow(
      /option serviceName must be at most 256 bytes of UTF-8, got a string of 400 bytes starting "éé/,
    );
  });

  it('from LOOPTRACE_SERVICE_NAME, is cut with a warning, and the trace decodes', async () => {
    const dir = makeApp({ 'app.mjs': 'setTimeout(() => {}, 50);' });
    const run = await runNode(dir, ['--import', 'looptrace/register', 'app.mjs'], { LOOPTRACE_SERVICE_NAME: 's'.repeat(100_000) });
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr).toMatch(/LOOPTRACE_SERVICE_NAME is 100000 bytes long; cut to 256 bytes/);
    const traces = join(dir, 'looptrace-traces');
    const trace = await decodeTraceFiles(readdirSync(traces).map((f) => join(traces, f)));
    expectNoDiagnostics(trace);
    expect(trace.headers[0]!.serviceName).toBe(`${'s'.repeat(253)}…`);
  });
});

describe('thread names', () => {
  it('a worker name over 128 bytes is cut with a warning; the trace decodes', async () => {
    const dir = makeApp({
      'app.mjs': `
import { startRuntimeTelemetry, RotatingWriter } from 'looptrace';
import { Worker } from 'node:worker_threads';
const t = startRuntimeTelemetry({ writer: new RotatingWriter(new URL('./traces/trace.bin', import.meta.url).pathname) });
const w = new Worker('setTimeout(() => {}, 30)', { eval: true, name: 'n'.repeat(1 << 20) });
w.on('exit', () => t.stop());
`,
    });
    const run = await runNode(dir, ['app.mjs']);
    expect(run.code, describeAppRun(run)).toBe(0);
    expect(run.stderr).toMatch(/the worker name of 1048576 bytes is cut to 128 bytes/);
    const traces = join(dir, 'traces');
    const trace = await decodeTraceFiles(readdirSync(traces).map((f) => join(traces, f)));
    expectNoDiagnostics(trace);
    const names = ofType(trace.records, 'threadStart').map((r) => trace.strings.get(r.nameStringId));
    expect(names).toEqual([`${'n'.repeat(125)}…`]);
  });

  it('cuts at a character boundary', () => {
    expect(cutName('a€€€€', 8)).toBe('a€…');
    expect(Buffer.byteLength(cutName('€'.repeat(100), 128))).toBeLessThanOrEqual(128);
    expect(cutName('short', 128)).toBe('short');
  });
});
