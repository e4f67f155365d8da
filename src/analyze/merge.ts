// Many processes in one analysis (analyze-trace --merge): cluster workers, PM2 instances or the
// services of one system, each recorded into its own trace. It sets the processes' reports side by
// side (utilization, long tasks, the worst task and what ran in it) and names the process whose
// request-serving loops were blocked longest; and it joins operations across processes by W3C
// trace id, so one request's tree spans every service that handled it.
//
// The join works on what each process's analysis kept: the tree of --trace-id (exact, up to the
// tree's bound), or, without one, the operations each process indexed by trace id (bounded per
// process, the oldest trace ids giving way). Parents are found by span id across processes:
// a service's incoming request names its caller's span as parent through traceparent.
// Processes have separate clocks, so operations are placed by wall-clock time.

import { formatDuration, formatPercent } from './format.js';
import type { OperationEntry, OperationTreeNode } from './operations.js';
import { ANALYZE_SCHEMA_VERSION, type Finding, type LongTask, type TraceReport } from './report.js';
import { isoOf } from './wall-clock.js';

/** Operations each process keeps for the join when no --trace-id is given. */
export const MERGE_INDEX_OPERATIONS = 10_000;

export interface MergeOptions {
  /** The W3C trace id whose joined tree to build (--trace-id). */
  traceId?: string;
  /** How many joined traces and findings to list. Default 10. */
  top?: number;
  generator: string;
}

export interface ProcessSummary {
  /** Position in `processes` (and in `reports`), by the traces' origins. */
  process: number;
  /** "shop (pid 4121)", or "pid 4121" without a service name; with the host when processes ran on several. */
  label: string;
  /** The looptrace trace id of this process's files (its report's trace.traceId), not a W3C trace id. */
  traceId: string;
  serviceName: string | null;
  pid: number | null;
  hostname: string | null;
  startIso: string;
  endIso: string;
  durationNs: number;
  threads: number;
  /** The main thread's utilization; null without a measured main thread. */
  mainUtilization: number | null;
  /** The busiest loop of the process. */
  busiestThread: { name: string; utilization: number } | null;
  longTasks: {
    count: number;
    totalNs: number;
    maxNs: number;
    /** On request-serving loops (main and serving workers), which rank the processes. */
    servingCount: number;
    servingTotalNs: number;
  };
  /** The process's longest task, where it was blocked and the operation it ran for. */
  worstLongTask: WorstTask | null;
  operations: { count: number; failed: number } | null;
  findings: { critical: number; warning: number; info: number };
  /** Records dropped by the recorder, over all threads. */
  droppedRecords: number;
}

export interface WorstTask {
  threadName: string;
  durationNs: number;
  startIso: string;
  /** The blocking site of its hottest stack ("fn (file:line)"), null without stack samples. */
  blocking: string | null;
  /** The operation that ran in it (most time inside first), null when none was running. */
  operation: { name: string; traceId: string | null } | null;
}

export interface MergedFinding extends Finding {
  process: number;
  label: string;
}

export interface MergedTreeNode extends OperationEntry {
  process: number;
  label: string;
  children: MergedTreeNode[];
}

export interface JoinedTrace {
  /** The W3C trace id. */
  traceId: string;
  operations: number;
  /** The processes it ran in, in order of their first operation. */
  processes: number[];
  labels: string[];
  startUnixMs: number;
  startIso: string;
  /** From the first start to the last end across processes (wall clock); null while any is open. */
  durationNs: number | null;
  roots: MergedTreeNode[];
}

export interface MergedReport {
  schemaVersion: number;
  generator: string;
  merged: true;
  /** Said when there was nothing to join, e.g. a single process; null otherwise. */
  note: string | null;
  processes: ProcessSummary[];
  /** The process whose request-serving loops spent most time in long tasks; null when none had one. */
  blockedMost: { process: number; label: string; servingLongTaskNs: number; share: number; message: string } | null;
  /** Every process's findings, worst first (severity, then time at stake), at most `top`. */
  findings: { count: number; items: MergedFinding[] };
  /** Null when no process recorded operations and no --trace-id was given. */
  operations: {
    /** Traces whose operations ran in two or more processes, slowest first. */
    joined: {
      count: number;
      /** Some process dropped older trace ids from its index: older joins may be missing (--trace-id joins exactly). */
      indexTruncated: boolean;
      items: JoinedTrace[];
    };
    /** The joined tree of --trace-id (in any number of processes); null without --trace-id. */
    tree: (JoinedTrace & { truncated: boolean }) | null;
  } | null;
  /** The full report of each process, as `analyze-trace --json` prints it for one trace. */
  reports: TraceReport[];
}

const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 } as const;

export function mergeReports(reports: readonly TraceReport[], options: MergeOptions): MergedReport {
  const top = options.top ?? 10;
  const labels = processLabels(reports);
  const processes = reports.map((r, i) => summarize(r, i, labels[i]!));

  const ranked = processes.filter((p) => p.longTasks.servingTotalNs > 0).sort((a, b) => b.longTasks.servingTotalNs - a.longTasks.servingTotalNs || b.longTasks.totalNs - a.longTasks.totalNs);
  const allServingNs = processes.reduce((sum, p) => sum + p.longTasks.servingTotalNs, 0);
  const worst = ranked[0];
  const blockedMost =
    worst === undefined
      ? null
      : {
          process: worst.process,
          label: worst.label,
          servingLongTaskNs: worst.longTasks.servingTotalNs,
          share: worst.longTasks.servingTotalNs / allServingNs,
          message:
            `${worst.label} was blocked most: ${formatDuration(worst.longTasks.servingTotalNs)} in ${worst.longTasks.servingCount} long task${worst.longTasks.servingCount === 1 ? '' : 's'} on its request-serving loops` +
            (processes.length > 1 ? `, ${formatPercent(worst.longTasks.servingTotalNs / allServingNs)} of all processes' (${formatDuration(allServingNs)})` : ''),
        };

  const findings = reports.flatMap((r, i) => r.findings.map((f) => ({ ...f, process: i, label: labels[i]! })));
  findings.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || b.impactNs - a.impactNs || a.process - b.process);

  const hasOperations = reports.some((r) => r.operations !== undefined) || options.traceId !== undefined;
  let operations: MergedReport['operations'] = null;
  if (hasOperations) {
    const sets: OperationEntry[][] = reports.map((r) => r.operations?.indexed?.operations ?? []);
    const byTrace = new Map<string, Array<{ entry: OperationEntry; process: number }>>();
    sets.forEach((entries, process) => {
      for (const entry of entries) {
        if (entry.traceId === null) continue;
        let list = byTrace.get(entry.traceId);
        if (list === undefined) byTrace.set(entry.traceId, (list = []));
        list.push({ entry, process });
      }
    });
    const joined: JoinedTrace[] = [];
    for (const [traceId, list] of byTrace) {
      if (new Set(list.map((x) => x.process)).size < 2) continue;
      joined.push(joinTrace(traceId, list, labels));
    }
    joined.sort((a, b) => (b.durationNs ?? Infinity) - (a.durationNs ?? Infinity) || a.startUnixMs - b.startUnixMs);
    let tree: (JoinedTrace & { truncated: boolean }) | null = null;
    if (options.traceId !== undefined) {
      const list = reports.flatMap((r, process) => flatten(r.operations?.tree?.roots ?? []).map((entry) => ({ entry, process })));
      tree = { ...joinTrace(options.traceId, list, labels), truncated: reports.some((r) => r.operations?.tree?.truncated === true) };
    }
    operations = {
      joined: { count: joined.length, indexTruncated: reports.some((r) => r.operations?.indexed?.truncated === true), items: joined.slice(0, top) },
      tree,
    };
  }
  // The index served the join; the per-process reports go out without it.
  const cleaned = reports.map((r) => {
    if (r.operations?.indexed === undefined) return r;
    const { indexed: _indexed, ...ops } = r.operations;
    return { ...r, operations: ops };
  });

  let note: string | null = null;
  if (reports.length === 1) note = `the input holds one process (${labels[0]}): nothing to join across processes`;
  else if (operations !== null && operations.joined.count === 0 && options.traceId === undefined) note = 'no trace id ran in more than one process';

  return {
    schemaVersion: ANALYZE_SCHEMA_VERSION,
    generator: options.generator,
    merged: true,
    note,
    processes,
    blockedMost,
    findings: { count: findings.length, items: findings.slice(0, top) },
    operations,
    reports: cleaned,
  };
}

/** Labels that tell the processes apart: service and pid, with the host when there are several hosts. */
function processLabels(reports: readonly TraceReport[]): string[] {
  const hosts = new Set(reports.map((r) => r.trace.hostname));
  const labels = reports.map((r) => {
    const t = r.trace;
    const pid = t.pid === null ? `trace ${t.traceId.slice(0, 8)}` : `pid ${t.pid}`;
    const base = t.serviceName === null ? pid : `${t.serviceName} (${pid})`;
    return hosts.size > 1 && t.hostname !== null ? `${base} on ${t.hostname}` : base;
  });
  // A pid reused on one host (a restarted process): tell the two apart by their trace ids.
  const seen = new Map<string, number>();
  for (const l of labels) seen.set(l, (seen.get(l) ?? 0) + 1);
  return labels.map((l, i) => ((seen.get(l) ?? 0) > 1 ? `${l} [trace ${reports[i]!.trace.traceId.slice(0, 8)}]` : l));
}

function summarize(r: TraceReport, process: number, label: string): ProcessSummary {
  const t = r.trace;
  const main = r.threads.find((th) => th.kind === 'main');
  const busiest = r.threads.filter((th) => th.utilization !== null).sort((a, b) => b.utilization! - a.utilization!)[0];
  const serving = new Set(r.threads.filter((th) => th.role !== 'background').map((th) => th.threadId));
  let servingCount = 0;
  let servingTotalNs = 0;
  let maxNs = 0;
  for (const th of r.threads) {
    maxNs = Math.max(maxNs, th.longTasks.maxNs);
    if (!serving.has(th.threadId)) continue;
    servingCount += th.longTasks.count;
    servingTotalNs += th.longTasks.totalNs;
  }
  const worst = r.longTasks.items[0];
  const ops = r.operations;
  const severities = { critical: 0, warning: 0, info: 0 };
  for (const f of r.findings) severities[f.severity]++;
  return {
    process,
    label,
    traceId: t.traceId,
    serviceName: t.serviceName,
    pid: t.pid,
    hostname: t.hostname,
    startIso: t.startIso,
    endIso: t.endIso,
    durationNs: t.durationNs,
    threads: r.threads.length,
    mainUtilization: main?.utilization ?? null,
    busiestThread: busiest === undefined ? null : { name: busiest.name, utilization: busiest.utilization! },
    longTasks: { count: r.longTasks.count, totalNs: r.longTasks.totalNs, maxNs, servingCount, servingTotalNs },
    worstLongTask: worst === undefined ? null : worstTask(worst),
    operations: ops === undefined ? null : { count: ops.count, failed: ops.byName.reduce((sum, s) => sum + s.failed, 0) },
    findings: severities,
    droppedRecords: r.threads.reduce((sum, th) => sum + th.droppedRecords, 0),
  };
}

function worstTask(task: LongTask): WorstTask {
  const op = task.attribution.operations?.items[0];
  return {
    threadName: task.threadName,
    durationNs: task.durationNs,
    startIso: task.startIso,
    blocking: task.attribution.blocking?.text ?? null,
    operation: op === undefined ? null : { name: op.name, traceId: op.traceId },
  };
}

function flatten(nodes: readonly OperationTreeNode[]): OperationEntry[] {
  const out: OperationEntry[] = [];
  const walk = (list: readonly OperationTreeNode[]): void => {
    for (const { children, ...entry } of list) {
      out.push(entry);
      walk(children);
    }
  };
  walk(nodes);
  return out;
}

/** One trace's operations from several processes as one tree: parents by span id, across processes. */
function joinTrace(traceId: string, list: ReadonlyArray<{ entry: OperationEntry; process: number }>, labels: readonly string[]): JoinedTrace {
  const nodes: MergedTreeNode[] = list.map(({ entry, process }) => ({ ...entry, process, label: labels[process]!, children: [] }));
  const bySpan = new Map<string, MergedTreeNode>();
  for (const n of nodes) if (n.spanId !== null) bySpan.set(n.spanId, n);
  const roots: MergedTreeNode[] = [];
  for (const n of nodes) {
    const parent = n.parentSpanId === null ? undefined : bySpan.get(n.parentSpanId);
    if (parent !== undefined && parent !== n && !isAncestor(n, parent)) parent.children.push(n);
    else roots.push(n);
  }
  const sort = (l: MergedTreeNode[]): void => {
    l.sort((a, b) => a.startUnixMs - b.startUnixMs || a.process - b.process);
    for (const n of l) sort(n.children);
  };
  sort(roots);
  const order: number[] = [];
  for (const n of [...nodes].sort((a, b) => a.startUnixMs - b.startUnixMs)) if (!order.includes(n.process)) order.push(n.process);
  const startUnixMs = Math.min(...nodes.map((n) => n.startUnixMs));
  const open = nodes.some((n) => n.durationNs === null);
  const endUnixMs = Math.max(...nodes.map((n) => n.startUnixMs + (n.durationNs ?? 0) / 1e6));
  return {
    traceId,
    operations: nodes.length,
    processes: order,
    labels: order.map((p) => labels[p]!),
    startUnixMs: nodes.length === 0 ? 0 : startUnixMs,
    startIso: nodes.length === 0 ? '' : isoOf(startUnixMs),
    durationNs: nodes.length === 0 || open ? null : Math.round((endUnixMs - startUnixMs) * 1e6),
    roots,
  };
}

/** Whether `node` is above `other` already: span ids from a damaged or hostile trace must not make a cycle. */
function isAncestor(node: MergedTreeNode, other: MergedTreeNode): boolean {
  const stack = [...node.children];
  for (let seen = 0; stack.length > 0 && seen < 100_000; seen++) {
    const n = stack.pop()!;
    if (n === other) return true;
    stack.push(...n.children);
  }
  return false;
}
