// Operations in analyze-trace, on synthetic traces written with the TypeScript encoder: per-name
// counts, failure rates and percentiles; the operations of a long task (20 concurrent requests,
// one of which blocks); the tree of one trace id; filters by name, status, duration, last N; and
// the CLI flags.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TraceRecord } from '../src/format/index.js';
import { MAIN, analyzeFrames, encodeFile, header, ms, pe, ps, stringDef } from './fixtures/analyze/synth.js';

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');
const traceIdOf = (i: number): string => `${hex(0xabc0 + i, 8)}${'0'.repeat(23)}1`;
const spanOf = (i: number): string => hex(0x1000 + i, 16);

function ctx(timeNs: number, operationId: number, traceId: string, spanId: string, parentSpanId = '0000000000000000'): TraceRecord {
  return { type: 'traceContext', threadId: 0, timeNs, operationId, traceId, spanId, parentSpanId, traceFlags: 1 };
}
const start = (timeNs: number, operationId: number, nameStringId: number): TraceRecord => ({ type: 'operationStart', threadId: 0, timeNs, operationId, nameStringId });
const end = (timeNs: number, operationId: number, status = 0): TraceRecord => ({ type: 'operationEnd', threadId: 0, timeNs, operationId, status });

/**
 * Main loop (ms): poll 1–11, stretch 11–14 (20 requests start), poll 14–24, stretch 24–100 (long:
 * request 7's "render" runs 30–95 inside it), poll 100–101, stretch 101–110 (all requests end;
 * requests 3 and 5 fail, 9 is cancelled), poll 110–120.
 */
function frames(): { threadId: number; records: TraceRecord[] }[] {
  const records: TraceRecord[] = [stringDef(0, 1, 'GET /orders/:id'), stringDef(0, 2, 'render'), stringDef(0, 3, 'GET /health\u001b[2J')];
  records.push(ps(ms(1)), pe(ms(11), ms(8), 2));
  for (let i = 0; i < 20; i++) {
    records.push(ctx(ms(11) + i * 1000, 100 + i, traceIdOf(i), spanOf(i)), start(ms(11) + i * 1000, 100 + i, 1));
  }
  records.push(ps(ms(14)), pe(ms(24), ms(10), 1));
  records.push(ctx(ms(30), 500, traceIdOf(7), spanOf(500), spanOf(7)), start(ms(30), 500, 2), end(ms(95), 500));
  records.push(ps(ms(100)), pe(ms(101), 0, 3));
  for (let i = 0; i < 20; i++) records.push(end(ms(102) + i * ms(0.4), 100 + i, i === 3 || i === 5 ? 1 : i === 9 ? 2 : 0));
  records.push(ctx(ms(109.8), 600, traceIdOf(30), spanOf(600)), start(ms(109.8), 600, 3), end(ms(109.9), 600));
  records.push(ps(ms(110)), pe(ms(120), ms(10)));
  return [{ threadId: 1, records }];
}

describe('operations in the report', () => {
  const report = analyzeFrames([MAIN], frames(), { longTaskNs: ms(50) });
  const ops = report.operations!;

  it('counts operations by name with failure rates and percentiles', () => {
    expect(ops.count).toBe(22);
    expect(ops.open).toBe(0);
    const orders = ops.byName.find((s) => s.name === 'GET /orders/:id')!;
    expect(orders).toMatchObject({ count: 20, completed: 17, failed: 2, cancelled: 1, open: 0 });
    expect(orders.failureRate).toBeCloseTo(0.1, 10);
    // Durations: request i runs from 11 ms + i µs to 102 ms + 0.4 i ms.
    const durations = Array.from({ length: 20 }, (_, i) => ms(102) + i * ms(0.4) - (ms(11) + i * 1000)).sort((a, b) => a - b);
    const exact = (q: number): number => durations[Math.ceil(q * 20) - 1]!;
    expect(Math.abs(orders.p50Ns - exact(0.5))).toBeLessThanOrEqual(0.01 * exact(0.5));
    expect(Math.abs(orders.p99Ns - exact(0.99))).toBeLessThanOrEqual(0.01 * exact(0.99));
    expect(orders.maxNs).toBe(durations[19]);
    expect(ops.byName[0]!.name).toBe('GET /orders/:id');
  });

  it('names the operation and trace id that ran during the long task, among 20 open requests', () => {
    expect(report.longTasks.count).toBe(1);
    const task = report.longTasks.items[0]!;
    expect(task.durationNs).toBe(ms(76));
    const attributed = task.attribution.operations!;
    const ran = attributed.items.filter((o) => o.evidence === 'ran');
    expect(ran.map((o) => o.name)).toEqual(['render', 'GET /orders/:id']);
    expect(ran.every((o) => o.traceId === traceIdOf(7))).toBe(true);
    expect(ran[1]!.spanId).toBe(spanOf(7));
    expect(ran.map((o) => o.insideNs)).toEqual([ms(65), ms(65)]);
    // The other 19 were open across the task; the report lists a few and counts the rest.
    expect(attributed.items.length + attributed.more).toBe(21);
    expect(attributed.items.slice(2).every((o) => o.evidence === 'open')).toBe(true);
  });

  it('builds the tree of one trace id', () => {
    const r = analyzeFrames([MAIN], frames(), { operations: { traceId: traceIdOf(7) } });
    expect(r.operations!.tree!.operations).toBe(2);
    const [root] = r.operations!.tree!.roots;
    expect(root).toMatchObject({ name: 'GET /orders/:id', spanId: spanOf(7), parentSpanId: null, status: 'completed' });
    expect(root!.children.map((c) => c.name)).toEqual(['render']);
    expect(root!.children[0]!.durationNs).toBe(ms(65));
  });

  it('filters by name pattern, status, duration and keeps the last N', () => {
    const failed = analyzeFrames([MAIN], frames(), { operations: { filter: { name: 'GET /o*', status: 'failed' } } }).operations!.matches!;
    expect(failed.total).toBe(2);
    expect(failed.items.map((e) => e.traceId)).toEqual([traceIdOf(3), traceIdOf(5)]);
    const lastThree = analyzeFrames([MAIN], frames(), { operations: { filter: { name: 'GET*', last: 3 } } }).operations!.matches!;
    expect(lastThree.total).toBe(21);
    expect(lastThree.items.map((e) => e.name)).toEqual(['GET /orders/:id', 'GET /orders/:id', 'GET /health\u001b[2J']);
    const long = analyzeFrames([MAIN], frames(), { operations: { filter: { minDurationNs: ms(60), name: 'render' } } }).operations!.matches!;
    expect(long.total).toBe(1);
    const none = analyzeFrames([MAIN], frames(), { operations: { filter: { minDurationNs: ms(70), name: 'render' } } }).operations!.matches!;
    expect(none.total).toBe(0);
  });

  it('the --since/--until window applies to operations', () => {
    const r = analyzeFrames([MAIN], frames(), { sinceNs: ms(105), untilNs: ms(200) });
    // Request i ends at 102 + 0.4 i ms: requests 8–19 end inside the window, and so does "GET /health".
    expect(r.operations!.count).toBe(13);
  });
});

describe('analyze-trace flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'looptrace-ops-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ops.bin');
  writeFileSync(file, encodeFile(header([MAIN]), frames()).bytes);
  const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/cli/analyze-trace.js', file, '--no-color', ...args], { encoding: 'utf8' });

  it('prints the operations table and the operation under the long task, escaping names', () => {
    const r = cli('--long-task-ms', '50');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Operations: 22 \(22 ended, 0 open at the end\)/);
    expect(r.stdout).toMatch(/GET \/orders\/:id\s+20\s+2\s+1\s+10%/);
    expect(r.stdout).toContain(`during: render (trace ${traceIdOf(7)}), GET /orders/:id (trace ${traceIdOf(7)}) [ran 65 ms inside]; 19 more running or open`);
    expect(r.stdout).toContain('GET /health\\x1b[2J');
    expect(r.stdout).not.toContain('\u001b[2J');
  });

  it('--trace-id prints the tree; --op/--status/--last list matches', () => {
    const tree = cli('--trace-id', traceIdOf(7));
    expect(tree.stdout).toMatch(new RegExp(`Trace ${traceIdOf(7)}: 2 operations\\n  ✓ GET /orders/:id  93\\.8 ms  .*\\n  └─ ✓ render  65(\\.0)? ms`));
    const failed = cli('--op', 'GET /orders*', '--status', 'failed', '--last', '20');
    expect(failed.stdout).toMatch(/Matching operations named GET \/orders\* with status failed: 2\n  ✗ GET \/orders\/:id .* FAILED .*trace 0000abc3/);
    const json = JSON.parse(cli('--json', '--op', 'render').stdout);
    expect(json.operations.matches.items[0]).toMatchObject({ name: 'render', status: 'completed', durationNs: ms(65) });
  });

  it('rejects bad flag values with a message naming the value', () => {
    for (const [args, message] of [
      [['--trace-id', 'xyz'], '--trace-id must be 32 hex digits (a W3C trace id), got "xyz"'],
      [['--status', 'broken'], '--status must be one of completed, failed, cancelled, open, got "broken"'],
      [['--last', '0'], '--last must be a whole number of 1 or more, got "0"'],
      [['--min-ms', 'abc'], '--min-ms must be a number of milliseconds, got "abc"'],
    ] as const) {
      const r = cli(...args);
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
