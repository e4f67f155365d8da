// mergeReports on hand-made reports: the join across processes by span id, and what a damaged or
// hostile trace can do to it (span ids forming a cycle across processes, a parent in no process,
// two processes with the same pid).

import { describe, expect, it } from 'vitest';
import { mergeReports, type JoinedTrace } from '../src/analyze/merge.js';
import type { OperationEntry } from '../src/analyze/operations.js';
import type { TraceReport } from '../src/analyze/report.js';

const TRACE = 'aaaabbbbccccddddeeeeffff00001111';

function op(operationId: number, name: string, spanId: string, parentSpanId: string | null, startUnixMs: number, durationMs: number): OperationEntry {
  return {
    operationId,
    name,
    status: 'completed',
    threadId: 1,
    threadName: 'main',
    traceId: TRACE,
    spanId,
    parentSpanId,
    sampled: true,
    startNs: 0,
    endNs: durationMs * 1e6,
    durationNs: durationMs * 1e6,
    startUnixMs,
    startIso: new Date(startUnixMs).toISOString(),
  };
}

/** The parts of a report that merging reads. */
function report(pid: number, traceId: string, indexed: OperationEntry[]): TraceReport {
  return {
    trace: { traceId, serviceName: 'svc', pid, hostname: 'h', startIso: '2026-01-01T00:00:00.000Z', endIso: '2026-01-01T00:00:01.000Z', durationNs: 1e9 },
    threads: [],
    longTasks: { thresholdNs: 50e6, count: 0, totalNs: 0, items: [], byThread: [] },
    findings: [],
    checks: [],
    decode: { diagnostics: [] },
    operations: { count: indexed.length, ended: indexed.length, open: 0, byName: [], percentileRelativeError: 0.01, matches: null, tree: null, indexed: { operations: indexed, truncated: false } },
  } as unknown as TraceReport;
}

describe('mergeReports', () => {
  it('hangs a callee under its caller in another process, slowest trace first', () => {
    const m = mergeReports(
      [report(1, 'a'.repeat(32), [op(1, 'GET /a', '1111111111111111', null, 1000, 50)]), report(2, 'b'.repeat(32), [op(1, 'GET /b', '2222222222222222', '1111111111111111', 1010, 30)])],
      { generator: 'test' },
    );
    const [t] = m.operations!.joined.items;
    expect(t!.roots).toHaveLength(1);
    expect(t!.roots[0]!.name).toBe('GET /a');
    expect(t!.roots[0]!.children.map((c) => [c.name, c.label])).toEqual([['GET /b', 'svc (pid 2)']]);
    expect(t!.durationNs).toBe(50e6);
    expect(m.reports.every((r) => !('indexed' in r.operations!))).toBe(true);
  });

  it('breaks a cycle of span ids across processes instead of looping, and keeps every operation once', () => {
    const m = mergeReports(
      [report(1, 'a'.repeat(32), [op(1, 'x', '1111111111111111', '2222222222222222', 1000, 5)]), report(2, 'b'.repeat(32), [op(1, 'y', '2222222222222222', '1111111111111111', 1001, 5)])],
      { generator: 'test' },
    );
    const [t] = m.operations!.joined.items;
    const all: string[] = [];
    const walk = (nodes: JoinedTrace['roots']): void => nodes.forEach((n) => (all.push(n.name), walk(n.children)));
    walk(t!.roots);
    expect(all.sort()).toEqual(['x', 'y']);
    expect(t!.roots).toHaveLength(1);
  });

  it('tells apart two processes with the same service and pid by their trace ids', () => {
    const m = mergeReports([report(7, 'a'.repeat(32), []), report(7, 'b'.repeat(32), [])], { generator: 'test' });
    expect(m.processes.map((p) => p.label)).toEqual(['svc (pid 7) [trace aaaaaaaa]', 'svc (pid 7) [trace bbbbbbbb]']);
    expect(m.note).toBe('no trace id ran in more than one process');
  });
});
