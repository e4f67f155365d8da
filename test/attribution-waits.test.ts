// Synchronous waits: a 200 ms Atomics.wait and a 150 ms execSync('sleep 0.15'), each in a named
// function. The stacks sampled during each wait name the caller, and the CPU split says the
// thread was off CPU (waiting), not busy computing.

import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { busyStretches, decodeTraceFile, expectCleanExit, expectNoDiagnostics, MS, ofType, removeTempDirs, requireBuild, result, runFixture, tempDir, traceTime } from './fixtures/recorder/harness.js';

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('stacks name the waiting function, and the stretch reads off CPU', async () => {
  const path = join(tempDir(), 'waits.bin');
  const run = await runFixture('../attribution/waits.mjs', { path }, { timeoutMs: 30_000 });
  expectCleanExit(run);
  const { windows } = result<{ windows: Record<'atomicsWait' | 'execSync', { from: string; to: string }> }>(run);
  const trace = decodeTraceFile(path);
  expectNoDiagnostics(trace);
  const header = trace.headers[0]!;
  const stacks = new Map(ofType(trace.records, 'stackDef').map((d) => [d.stackId, d.frames]));
  const names = (stackId: number) => (stacks.get(stackId) ?? []).map((f) => trace.strings.get(f.functionNameStringId) ?? '');
  for (const [window, caller] of [['atomicsWait', 'waitForLock'], ['execSync', 'runChild']] as const) {
    const from = traceTime(header, windows[window].from);
    const to = traceTime(header, windows[window].to);
    // A sample served when execSync returns is stamped a little after the call; it still
    // belongs to the same busy stretch.
    const stretch = busyStretches(trace.records, 1).find((s) => s.from <= from && s.to >= to);
    expect(stretch, `no busy stretch covers ${window}`).toBeDefined();
    const samples = ofType(trace.records, 'stackSample', 1).filter((s) => s.timeNs >= stretch!.from && s.timeNs <= stretch!.to);
    expect(samples.length, window).toBeGreaterThanOrEqual(1);
    for (const s of samples) expect(names(s.stackId), window).toContain(caller);
    // Off CPU: the THREAD_CPU that ends the stretch shows well under half of it on CPU.
    expect(stretch!.cpu, `${window}: no THREAD_CPU`).toBeDefined();
    expect(stretch!.cpu!.wallNs).toBeGreaterThanOrEqual(140 * MS);
    expect(stretch!.cpu!.cpuNs / stretch!.cpu!.wallNs, window).toBeLessThan(0.5);
  }
}, 60_000);
