// The terminal report of analyze-trace --merge: the processes side by side, the one blocked most,
// every process's findings worst first, each process's operations, and requests joined across
// processes by trace id with the tree of the slowest (or of --trace-id). Labels, names and stacks come from the traces: every one
// is escaped.

import { formatCount, formatDuration, formatPercent, timeOfDay } from '../analyze/format.js';
import type { JoinedTrace, MergedReport } from '../analyze/merge.js';
import type { Palette } from './ansi.js';
import { escapeTerminal as esc } from './escape.js';
import { renderNode, renderOperations, table } from './render-operations.js';

/** Joined traces listed by name before the tree of the slowest. */
const JOINED_ROWS = 5;

export function renderMerged(m: MergedReport, p: Palette, options: { allOperations?: boolean } = {}): string {
  const out: string[] = [];
  const first = [...m.processes].sort((a, b) => (a.startIso < b.startIso ? -1 : 1))[0];
  const last = [...m.processes].sort((a, b) => (a.endIso > b.endIso ? -1 : 1))[0];
  out.push(p.bold(`looptrace analysis of ${m.processes.length} process${m.processes.length === 1 ? '' : 'es'}, merged`));
  if (first !== undefined && last !== undefined) out.push(`${first.startIso.slice(0, 10)} ${timeOfDay(first.startIso)} → ${timeOfDay(last.endIso)} UTC`);
  if (m.note !== null) out.push(p.yellow(`--merge: ${esc(m.note)}`));
  out.push('');

  out.push(p.bold('Blocked most'));
  out.push(m.blockedMost === null ? `  ${p.green('✔')} no process had a long task on a request-serving loop` : `  ${p.red('✖')} ${esc(m.blockedMost.message)}`);
  out.push('');

  out.push(p.bold('Processes side by side') + p.dim(' (long tasks on request-serving loops rank them)'));
  const rows: string[][] = [['process', 'span', 'threads', 'main util', 'busiest loop', 'long tasks', 'long-task time', 'serving', 'worst', 'operations', 'findings']];
  const ranked = [...m.processes].sort((a, b) => b.longTasks.servingTotalNs - a.longTasks.servingTotalNs || b.longTasks.totalNs - a.longTasks.totalNs || a.process - b.process);
  for (const s of ranked) {
    const f = s.findings;
    rows.push([
      esc(s.label),
      formatDuration(s.durationNs),
      formatCount(s.threads),
      formatPercent(s.mainUtilization),
      s.busiestThread === null ? '–' : `${esc(s.busiestThread.name)} ${formatPercent(s.busiestThread.utilization)}`,
      formatCount(s.longTasks.count),
      formatDuration(s.longTasks.totalNs),
      s.longTasks.servingTotalNs > 0 ? p.red(formatDuration(s.longTasks.servingTotalNs)) : '0',
      s.longTasks.maxNs > 0 ? formatDuration(s.longTasks.maxNs) : '–',
      s.operations === null ? '–' : `${formatCount(s.operations.count)}${s.operations.failed > 0 ? p.red(` (${formatCount(s.operations.failed)} failed)`) : ''}`,
      [f.critical > 0 ? p.red(`${f.critical} critical`) : '', f.warning > 0 ? p.yellow(`${f.warning} warning`) : '', f.info > 0 ? `${f.info} info` : ''].filter(Boolean).join(', ') || '0',
    ]);
  }
  out.push(...table(rows, 'lrrrlrrrrrl', p));
  out.push(p.dim('  util = busy / (busy + idle) of the main loop; serving = long-task time on main and serving loops; worst = longest task'));
  const worst = ranked.filter((s) => s.worstLongTask !== null);
  if (worst.length > 0) {
    out.push('');
    out.push(p.bold('Worst long task of each process'));
    for (const s of worst) {
      const w = s.worstLongTask!;
      const where = w.blocking === null ? '' : ` in ${esc(w.blocking)}`;
      const op = w.operation === null ? '' : p.dim(' during ') + esc(w.operation.name) + (w.operation.traceId === null ? '' : p.dim(` (trace ${w.operation.traceId})`));
      out.push(`  ${p.cyan(esc(s.label))}: ${p.red(formatDuration(w.durationNs))} on ${esc(w.threadName)} at ${timeOfDay(w.startIso)}${where}${op}`);
    }
  }
  out.push('');

  out.push(p.bold('Findings across processes, worst first') + (m.findings.count > m.findings.items.length ? p.dim(` (${m.findings.items.length} of ${formatCount(m.findings.count)}; --json lists every process's)`) : ''));
  if (m.findings.count === 0) out.push(`  ${p.green('✔')} no long tasks, idle workers or threadpool pressure in any process`);
  for (const f of m.findings.items) {
    const mark = f.severity === 'critical' ? p.red('✖') : f.severity === 'warning' ? p.yellow('▲') : p.cyan('●');
    out.push(`  ${mark} ${p.cyan(`[${esc(f.label)}]`)} ${esc(f.message)}`);
  }

  const ops = m.operations;
  if (ops !== null) {
    // Each process's operations (names, failures, percentiles, --op/--status matches); the
    // --trace-id tree is shown joined below instead.
    m.reports.forEach((r, i) => {
      if (r.operations === undefined) return;
      out.push('', p.cyan(`[${esc(m.processes[i]!.label)}]`) + ' ' + renderOperations({ ...r.operations, tree: null }, p, options.allOperations === true).join('\n'));
    });
    out.push('');
    if (ops.tree !== null) {
      const t = ops.tree;
      out.push(p.bold(`Trace ${esc(t.traceId)} across processes`) + `: ${formatCount(t.operations)} operation${t.operations === 1 ? '' : 's'} in ${t.processes.length} process${t.processes.length === 1 ? '' : 'es'}${t.truncated ? ' (cut at 10,000 per process)' : ''}`);
      if (t.roots.length === 0) out.push('  no operation of this trace id in any process (only sampled operations are written)');
      for (const root of t.roots) renderNode(root, '  ', '  ', out, p);
      out.push('');
    }
    const j = ops.joined;
    out.push(p.bold('Requests across processes') + `: ${j.count === 0 ? 'none' : `${formatCount(j.count)} trace id${j.count === 1 ? '' : 's'} ran in two or more processes, slowest first`}`);
    if (j.count === 0) out.push(p.dim('  no trace id has operations in more than one process (services join when the caller sends traceparent)'));
    for (const t of j.items.slice(0, JOINED_ROWS)) out.push(`  ${joinedLine(t, p)}`);
    if (j.items.length > JOINED_ROWS || j.count > j.items.length) out.push(p.dim(`  … and ${formatCount(j.count - Math.min(JOINED_ROWS, j.items.length))} more (--json lists --top; --trace-id shows any one's tree)`));
    const slowest = j.items[0];
    if (slowest !== undefined && ops.tree?.traceId !== slowest.traceId) {
      out.push('');
      out.push(p.bold(`The slowest, trace ${esc(slowest.traceId)}`) + `: ${formatCount(slowest.operations)} operations in ${slowest.processes.length} processes`);
      for (const root of slowest.roots) renderNode(root, '  ', '  ', out, p);
    }
    if (j.indexTruncated) out.push(p.dim(`  each process keeps its latest operations for this join; older requests may show only part of their tree (--trace-id joins any one exactly)`));
  }

  const failed = m.reports.flatMap((r, i) => r.checks.filter((c) => c.violated).map((c) => ({ c, label: m.processes[i]!.label })));
  const checks = m.reports.flatMap((r) => r.checks);
  if (checks.length > 0) {
    out.push('');
    out.push(p.bold('Checks (--fail-on), per process'));
    if (failed.length === 0) out.push(`  ${p.green('✔ ok  ')} every condition holds in every process`);
    for (const { c, label } of failed) out.push(`  ${p.red('✖ FAIL')} ${p.cyan(`[${esc(label)}]`)} ${esc(c.message)}`);
  }
  const damaged = m.reports.filter((r) => r.decode.diagnostics.length > 0).length;
  if (damaged > 0) {
    out.push('');
    out.push(p.yellow(`The decoder reported problems in ${damaged} process${damaged === 1 ? "'s trace" : "es' traces"} (listed on stderr); intact frames were analyzed.`));
  }
  out.push('');
  out.push(p.dim('Each process in full: run without --merge, or --merge --json ("reports").'));
  return out.join('\n') + '\n';
}

function joinedLine(t: JoinedTrace, p: Palette): string {
  const root = t.roots[0];
  const name = root === undefined ? '(no operation)' : esc(root.name);
  const failed = countFailed(t) > 0 ? p.red(`  ${countFailed(t)} failed`) : '';
  return `${p.bold(name)}  ${t.durationNs === null ? 'still open' : formatDuration(t.durationNs)}  ${p.dim(`${timeOfDay(t.startIso)}`)}  ${t.labels.map((l) => p.cyan(esc(l))).join(p.dim(' → '))}${failed}  ${p.dim(`trace ${t.traceId}`)}`;
}

function countFailed(t: JoinedTrace): number {
  let n = 0;
  const walk = (nodes: JoinedTrace['roots']): void => {
    for (const node of nodes) {
      if (node.status === 'failed') n++;
      walk(node.children);
    }
  };
  walk(t.roots);
  return n;
}
