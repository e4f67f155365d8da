// The operations part of the terminal report: per-name counts, failure rates and percentiles;
// the operations that match --op/--status/--min-ms (the last --last of them); the tree of one
// --trace-id, span-tree style; and the operation line under each long task. Operation names come
// from the application, so every one is escaped.

import { formatCount, formatDuration, formatPercent, timeOfDay } from '../analyze/format.js';
import type { OperationEntry, OperationsReport } from '../analyze/operations.js';
import type { LongTask } from '../analyze/report.js';
// The CLI's escaper: it also escapes bidirectional and zero-width formatting characters.
import { escapeTerminal } from './escape.js';
import { visibleLength, type Palette } from './ansi.js';

/** Names listed without --operations. */
const DEFAULT_NAME_ROWS = 10;

export function renderOperations(ops: OperationsReport, p: Palette, allNames: boolean): string[] {
  const out: string[] = [];
  out.push(p.bold('Operations') + `: ${formatCount(ops.count)} (${formatCount(ops.ended)} ended, ${formatCount(ops.open)} open at the end)` + p.dim(` percentiles within ${formatPercent(ops.percentileRelativeError)}`));
  if (ops.byName.length > 0) {
    const rows: string[][] = [['operation', 'count', 'failed', 'cancelled', 'fail rate', 'p50', 'p90', 'p99', 'max']];
    const shown = allNames ? ops.byName : ops.byName.slice(0, DEFAULT_NAME_ROWS);
    for (const s of shown) {
      rows.push([
        escapeTerminal(s.name),
        formatCount(s.count),
        s.failed === 0 ? '0' : p.red(formatCount(s.failed)),
        formatCount(s.cancelled),
        s.failureRate > 0 ? p.red(formatPercent(s.failureRate)) : formatPercent(s.failureRate),
        formatDuration(s.p50Ns),
        formatDuration(s.p90Ns),
        formatDuration(s.p99Ns),
        formatDuration(s.maxNs),
      ]);
    }
    out.push(...table(rows, 'lrrrrrrrr', p));
    if (shown.length < ops.byName.length) out.push(p.dim(`  … and ${ops.byName.length - shown.length} more names (--operations lists all)`));
  }
  if (ops.matches !== null) {
    const f = ops.matches.filter;
    const what = [f.name === undefined ? 'all operations' : `operations named ${escapeTerminal(f.name)}`, f.status === undefined ? '' : `with status ${f.status}`, f.minDurationNs === undefined ? '' : `of at least ${formatDuration(f.minDurationNs)}`]
      .filter(Boolean)
      .join(' ');
    out.push('');
    out.push(p.bold(`Matching ${what}`) + `: ${formatCount(ops.matches.total)}${ops.matches.total > ops.matches.items.length ? `, the last ${ops.matches.items.length}` : ''}`);
    for (const e of ops.matches.items) out.push(`  ${entryLine(e, p, true)}`);
  }
  if (ops.tree !== null) {
    out.push('');
    out.push(p.bold(`Trace ${ops.tree.traceId}`) + `: ${formatCount(ops.tree.operations)} operation${ops.tree.operations === 1 ? '' : 's'}${ops.tree.truncated ? ' (cut at 10,000)' : ''}`);
    if (ops.tree.roots.length === 0) out.push('  no operation of this trace id in the trace (only sampled operations are written)');
    for (const root of ops.tree.roots) renderNode(root, '  ', '  ', out, p);
  }
  return out;
}

/** The line under a long task: which operations ran in it. */
export function renderTaskOperations(task: LongTask, p: Palette): string | undefined {
  const ops = task.attribution.operations;
  if (ops === undefined || ops.items.length === 0) return undefined;
  const inside = ops.items.filter((o) => o.insideNs > 0);
  const ran = ops.items.filter((o) => o.evidence === 'ran');
  const listed = (inside.length > 0 ? inside : ran.length > 0 ? ran : ops.items).slice(0, 3);
  const names = listed.map((o) => `${escapeTerminal(o.name)}${o.traceId === null ? '' : ` (trace ${o.traceId})`}`).join(', ');
  const rest = ops.items.length - listed.length + ops.more;
  const how = inside.length > 0 ? `ran ${formatDuration(inside[0]!.insideNs)} inside` : ran.length > 0 ? 'ran' : 'open, no record inside';
  return p.dim(`  ${formatDuration(task.durationNs)} on ${task.threadName} during: `) + names + p.dim(` [${how}]${rest > 0 ? `; ${rest} more running or open` : ''}`);
}

/** An operation on one line; `label` names its process in a tree joined across processes (--merge). */
function entryLine(e: OperationEntry & { label?: string }, p: Palette, withTrace: boolean): string {
  const mark = e.status === 'completed' ? p.green('✓') : e.status === 'failed' ? p.red('✗') : e.status === 'cancelled' ? p.yellow('⊘') : p.cyan('…');
  const duration = e.durationNs === null ? 'still open' : formatDuration(e.durationNs);
  const status = e.status === 'failed' ? `  ${p.red('FAILED')}` : e.status === 'cancelled' ? `  ${p.yellow('CANCELLED')}` : '';
  const trace = withTrace && e.traceId !== null ? p.dim(`  trace ${e.traceId}`) : '';
  const where = e.label === undefined ? escapeTerminal(e.threadName) : `${p.cyan(escapeTerminal(e.label))}${p.dim(` ${escapeTerminal(e.threadName)}`)}`;
  return `${mark} ${p.bold(escapeTerminal(e.name))}  ${duration}${status}  ${p.dim(`${timeOfDay(e.startIso)} on `)}${where}${trace}`;
}

/** An operation tree's node; `label` is its process in a tree joined across processes. */
export interface TreeLine extends OperationEntry {
  label?: string;
  children: readonly TreeLine[];
}

/** A tree, span-tree style: one line per operation, children indented under their parent. */
export function renderNode(node: TreeLine, prefix: string, childPrefix: string, out: string[], p: Palette): void {
  out.push(prefix + entryLine(node, p, false));
  node.children.forEach((child, i) => {
    const last = i === node.children.length - 1;
    renderNode(child, childPrefix + (last ? '└─ ' : '├─ '), childPrefix + (last ? '   ' : '│  '), out, p);
  });
}

export function table(rows: readonly string[][], align: string, p: Palette): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows.map((row, r) => {
    const line = row.map((cell, i) => (align[i] === 'r' ? ' '.repeat((widths[i] ?? 0) - visibleLength(cell)) + cell : cell + ' '.repeat((widths[i] ?? 0) - visibleLength(cell)))).join('  ').trimEnd();
    return '  ' + (r === 0 ? p.dim(line) : line);
  });
}
