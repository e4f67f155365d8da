// The static HTML report (`analyze-trace --html report.html`): the analysis of docs/ANALYZE-JSON.md
// as one file to attach to a ticket: findings, threads with utilization bars, a long-task timeline
// per thread, each thread's worst long tasks with their stacks and the operations that ran in them,
// the blocking code of all long tasks, idle workers, the threadpool delay chart and operations
// (per-name counts, failure rates, percentiles; a --trace-id tree). With --merge it opens with the
// processes side by side and the requests joined across them. Charts are
// inline SVG. The page carries no script at all, and a Content-Security-Policy that forbids one,
// so nothing from a trace can run even if it slipped past escaping; every trace string is escaped.

import { describeTask } from '../analyze/findings.js';
import { formatCount, formatDuration, formatPercent, timeOfDay } from '../analyze/format.js';
import { frameText } from '../analyze/attribution.js';
import type { MergedReport } from '../analyze/merge.js';
import type { OperationEntry, OperationsReport } from '../analyze/operations.js';
import type { BlockingCodeEntry, BlockingCodeReport, LongTask, ThreadpoolReport, TraceReport } from '../analyze/report.js';
import { escapeHtml as e } from './html-escape.js';

/** Rows of each blocking-code table and of the operations table. */
const MAX_BLOCKING_ROWS = 10;
const MAX_OPERATION_ROWS = 50;
/** Levels of an operation tree drawn as nested lists. */
const MAX_TREE_DEPTH = 32;

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2329;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
.meta{color:#5a6470}table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eef}
th{background:#f5f7fa;font-weight:600}td.l,th.l{text-align:left}.crit{color:#b3261e;font-weight:600}.warn{color:#9a6700}.info{color:#39577a}
pre{background:#f5f7fa;padding:6px 8px;margin:4px 0;font-size:12px;overflow:auto;max-height:12em}
.bar{display:inline-block;height:10px;background:#3b7dd8;vertical-align:middle}.barbg{display:inline-block;width:120px;height:10px;background:#e6ebf2;vertical-align:middle}
svg text{font:11px system-ui,sans-serif;fill:#5a6470}footer{margin-top:32px;color:#8a949e;font-size:12px}
h3{font-size:14px;margin:16px 0 4px}ul.op-tree{margin:2px 0;padding-left:18px}code{font-size:12px}
`;

export function renderHtmlReport(reports: readonly TraceReport[], merged?: MergedReport): string {
  const first = reports[0];
  const title = merged !== undefined ? `looptrace report — ${reports.length} process${reports.length === 1 ? '' : 'es'} merged` : `looptrace report${first?.trace.serviceName ? ` — ${first.trace.serviceName}` : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title><style>${STYLE}</style></head><body>
${merged === undefined ? '' : `${renderMerged(merged)}\n<hr>\n`}${reports.map((r, i) => renderReport(r, reports.length > 1 ? `${merged === undefined ? 'Trace' : 'Process'} ${i + 1} of ${reports.length}: ` : '')).join('\n<hr>\n')}
<footer>Written by ${e(first?.generator ?? 'looptrace')}. Times are UTC.</footer>
</body></html>
`;
}

function renderReport(r: TraceReport, prefix: string): string {
  const t = r.trace;
  const who = [t.serviceName, t.pid === null ? null : `pid ${t.pid}`, t.nodeVersion === null ? null : `Node ${t.nodeVersion}`, t.platform, t.hostname === null ? null : `host ${t.hostname}`]
    .filter((x) => x !== null)
    .join(', ');
  const out: string[] = [];
  out.push(`<section class="trace" data-trace-id="${e(t.traceId)}">`);
  out.push(`<h1>${e(prefix)}looptrace analysis${who === '' ? '' : ` of ${e(who)}`}</h1>`);
  out.push(
    `<div class="meta">${e(t.startIso.slice(0, 10))} ${e(timeOfDay(t.startIso))} → ${e(timeOfDay(t.endIso))} UTC (${e(formatDuration(t.durationNs))}); ` +
      `${t.files.length} file${t.files.length === 1 ? '' : 's'}, ${e(formatCount(r.decode.bytes))} bytes, ${e(formatCount(t.records))} records; trace ${e(t.traceId)}</div>`,
  );

  out.push('<h2>Findings, worst first</h2>');
  if (r.findings.length === 0) out.push('<p>No long tasks, idle workers or threadpool pressure at the thresholds used.</p>');
  else out.push(`<ul class="findings">${r.findings.map((f) => `<li class="${f.severity === 'critical' ? 'crit' : f.severity === 'warning' ? 'warn' : 'info'}">${e(f.message)}</li>`).join('')}</ul>`);

  out.push('<h2>Threads</h2>');
  out.push('<table class="threads"><tr><th class="l">thread</th><th>iterations</th><th class="l">utilization</th><th>busy</th><th>idle</th><th>p50 stretch</th><th>p99 stretch</th><th>max stretch</th><th>long tasks</th><th>dropped</th></tr>');
  for (const th of r.threads) {
    const util = th.utilization ?? 0;
    out.push(
      `<tr><td class="l">${e(th.name)}</td><td>${e(formatCount(th.iterations))}</td>` +
        `<td class="l"><span class="barbg"><span class="bar" style="width:${Math.round(util * 120)}px"></span></span> ${e(formatPercent(th.utilization))}</td>` +
        `<td>${e(formatDuration(th.busyNs))}</td><td>${e(formatDuration(th.blockedNs))}</td><td>${e(formatDuration(th.busyStretch.p50Ns))}</td>` +
        `<td>${e(formatDuration(th.busyStretch.p99Ns))}</td><td${th.busyStretch.maxNs >= r.options.longTaskNs ? ' class="crit"' : ''}>${e(formatDuration(th.busyStretch.maxNs))}</td>` +
        `<td>${th.longTasks.count}</td><td>${e(formatCount(th.droppedRecords))}</td></tr>`,
    );
  }
  out.push('</table>');

  const lt = r.longTasks;
  out.push(`<h2>Long tasks ≥ ${e(formatDuration(lt.thresholdNs))}: ${lt.count === 0 ? 'none' : `${e(formatCount(lt.count))} (${e(formatDuration(lt.totalNs))} in all)`}</h2>`);
  if (lt.byThread.length > 0) {
    out.push(longTaskTimeline(r));
    // Per thread, the main thread first, so that busy workers never crowd it out of the list.
    for (const group of lt.byThread) {
      const more = group.count - group.items.length;
      out.push(
        `<h3 class="thread-long-tasks">${e(group.threadName)}: ${e(formatCount(group.count))} long task${group.count === 1 ? '' : 's'}, ${e(formatDuration(group.totalNs))} in all` +
          `${more > 0 ? ` <span class="meta">(the worst ${group.items.length} listed)</span>` : ''}</h3>`,
      );
      out.push('<table class="long-tasks"><tr><th>#</th><th>duration</th><th class="l">thread</th><th class="l">at (UTC)</th><th class="l">phase</th><th class="l">CPU</th><th class="l">stack and operation</th></tr>');
      group.items.forEach((task, i) => out.push(longTaskRow(task, i)));
      out.push('</table>');
    }
  }
  out.push(blockingCodeSection(r.blockingCode));

  const iw = r.idleWorkers;
  out.push(`<h2>Idle workers: ${iw.episodes.count === 0 ? 'none' : `${e(formatCount(iw.episodes.count))} episodes, ${e(formatDuration(iw.episodes.totalIdleNs))} idle`}</h2>`);
  for (const pool of iw.pools) out.push(`<p class="${pool.unbalanced ? 'warn' : ''}">${e(pool.summary)}</p>`);
  if (iw.episodes.items.length > 0) {
    out.push('<table class="idle"><tr><th class="l">worker</th><th class="l">at (UTC)</th><th>for</th><th>idle</th><th class="l">while</th></tr>');
    for (const ep of iw.episodes.items) {
      out.push(
        `<tr><td class="l">${e(ep.threadName)}</td><td class="l">${e(timeOfDay(ep.startIso))}</td><td>${e(formatDuration(ep.durationNs))}</td><td>${e(formatDuration(ep.idleNs))}</td>` +
          `<td class="l">${e(ep.peer.name)} was ${ep.peer.reason === 'saturated' ? `${e(formatPercent(ep.peer.utilization))} busy` : `behind (${ep.peer.pollsWithWaiting} polls with events waiting)`}</td></tr>`,
      );
    }
    out.push('</table>');
  }

  out.push(threadpoolSection(r.threadpool));
  if (r.operations !== undefined) out.push(operationsSection(r.operations));
  if (r.decode.diagnostics.length > 0) {
    out.push('<h2>Decoding problems</h2><ul>');
    for (const d of r.decode.diagnostics) out.push(`<li>${e(d.message)}</li>`);
    out.push('</ul>');
  }
  out.push('</section>');
  return out.join('\n');
}

function longTaskRow(task: LongTask, i: number): string {
  const cpu = task.cpu === null ? 'not measured' : `${formatPercent(task.cpu.ratio)} ${task.verdict === 'mixed' ? '' : task.verdict}`;
  const stack = task.attribution.stacks[0];
  const gc = task.attribution.gc === null ? '' : `<div>GC ${e(formatDuration(task.attribution.gc.totalNs))} in ${task.attribution.gc.pauses} pauses</div>`;
  return (
    `<tr><td>${i + 1}</td><td class="crit">${e(formatDuration(task.durationNs))}</td><td class="l">${e(task.threadName)}</td><td class="l">${e(timeOfDay(task.startIso))}</td>` +
    `<td class="l">${task.phase === 'io-callbacks' ? 'I/O callbacks' : 'timers/immediates'} (I/O ${e(formatDuration(task.ioCallbacksNs))}, timers ${e(formatDuration(task.timersImmediatesNs))})</td>` +
    `<td class="l">${e(cpu)}${gc}</td><td class="l">${stack === undefined ? '<span class="meta">no stack sampled</span>' : `<pre>${e(stack.frames.join('\n'))}</pre>`}` +
    `${taskOperations(task)}<div class="meta">${e(describeTask(task))}</div></td></tr>`
  );
}

/** The operations that ran in a long task: the one with most time inside first, with its trace id. */
function taskOperations(task: LongTask): string {
  const ops = task.attribution.operations;
  if (ops === undefined || ops.items.length === 0) return '';
  const listed = ops.items.slice(0, 3);
  const rest = ops.items.length - listed.length + ops.more;
  const items = listed
    .map((o) => `<b>${e(o.name)}</b>${o.traceId === null ? '' : ` <span class="meta">trace ${e(o.traceId)}</span>`} <span class="meta">(${o.insideNs > 0 ? `ran ${e(formatDuration(o.insideNs))} inside` : o.evidence === 'ran' ? 'ran in it' : 'open across it'})</span>`)
    .join(', ');
  return `<div class="task-ops">during ${items}${rest > 0 ? ` <span class="meta">and ${rest} more running or open</span>` : ''}</div>`;
}

/** The sampled time of all long tasks, by blocking site (self) and by function on the stack (total). */
function blockingCodeSection(b: BlockingCodeReport): string {
  if (b.samples === 0) return '';
  const rows = (entries: readonly BlockingCodeEntry[], text: (entry: BlockingCodeEntry) => string): string =>
    entries
      .slice(0, MAX_BLOCKING_ROWS)
      .map((x) => `<tr><td>${e(formatPercent(x.share))}</td><td>${e(formatDuration(x.weightNs))}</td><td>${e(formatCount(x.samples))}</td><td class="l"><code>${e(text(x))}</code></td></tr>`)
      .join('');
  const head = '<tr><th>share</th><th>time</th><th>samples</th><th class="l">code</th></tr>';
  return [
    `<h2>Blocking code, all long tasks together: ${e(formatDuration(b.sampledNs))} sampled in ${e(formatCount(b.longTasks))} long task${b.longTasks === 1 ? '' : 's'} (${e(formatCount(b.samples))} samples)</h2>`,
    '<p class="meta">self: where the loop was running, down to the first frame of your code</p>',
    `<table class="blocking-self">${head}${rows(b.self, (x) => x.site.text)}</table>`,
    '<p class="meta">total: functions anywhere on the stack</p>',
    `<table class="blocking-total">${head}${rows(b.total, (x) => frameText(x.site.frame))}</table>`,
  ].join('\n');
}

function operationsSection(ops: OperationsReport): string {
  const out: string[] = [];
  out.push(`<h2>Operations: ${e(formatCount(ops.count))} (${e(formatCount(ops.ended))} ended, ${e(formatCount(ops.open))} open at the end)</h2>`);
  if (ops.byName.length > 0) {
    out.push('<table class="operations"><tr><th class="l">operation</th><th>count</th><th>failed</th><th>cancelled</th><th>fail rate</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>');
    for (const s of ops.byName.slice(0, MAX_OPERATION_ROWS)) {
      out.push(
        `<tr><td class="l">${e(s.name)}</td><td>${e(formatCount(s.count))}</td><td${s.failed > 0 ? ' class="crit"' : ''}>${e(formatCount(s.failed))}</td><td>${e(formatCount(s.cancelled))}</td>` +
          `<td${s.failureRate > 0 ? ' class="crit"' : ''}>${e(formatPercent(s.failureRate))}</td><td>${e(formatDuration(s.p50Ns))}</td><td>${e(formatDuration(s.p90Ns))}</td><td>${e(formatDuration(s.p99Ns))}</td><td>${e(formatDuration(s.maxNs))}</td></tr>`,
      );
    }
    out.push('</table>');
    const more = ops.byName.length - MAX_OPERATION_ROWS;
    out.push(`<p class="meta">Percentiles within ${e(formatPercent(ops.percentileRelativeError))}.${more > 0 ? ` ${more} more names in --json.` : ''}</p>`);
  }
  if (ops.matches !== null) {
    out.push(`<h3>Matching operations: ${e(formatCount(ops.matches.total))}${ops.matches.total > ops.matches.items.length ? `, the last ${ops.matches.items.length}` : ''}</h3>`);
    out.push(`<ul class="op-matches">${ops.matches.items.map((x) => `<li>${operationLine(x)}</li>`).join('')}</ul>`);
  }
  if (ops.tree !== null) {
    out.push(`<h3>Trace ${e(ops.tree.traceId)}: ${e(formatCount(ops.tree.operations))} operation${ops.tree.operations === 1 ? '' : 's'}</h3>`);
    out.push(ops.tree.roots.length === 0 ? '<p>No operation of this trace id in the trace (only sampled operations are written).</p>' : operationTree(ops.tree.roots));
  }
  return out.join('\n');
}

/** An operation on one line: status, name, duration, when and where; `label` names its process when merged. */
function operationLine(x: OperationEntry & { label?: string }): string {
  const status = x.status === 'completed' ? '✓' : x.status === 'failed' ? '✗' : x.status === 'cancelled' ? '⊘' : '…';
  const cls = x.status === 'failed' ? ' class="crit"' : x.status === 'cancelled' ? ' class="warn"' : '';
  const where = x.label === undefined ? e(x.threadName) : `<b>${e(x.label)}</b> ${e(x.threadName)}`;
  return `<span${cls}>${status} <b>${e(x.name)}</b> ${e(x.durationNs === null ? 'still open' : formatDuration(x.durationNs))}${x.status === 'failed' || x.status === 'cancelled' ? ` ${x.status.toUpperCase()}` : ''}</span> <span class="meta">${e(timeOfDay(x.startIso))} on</span> ${where}`;
}

interface TreeNode extends OperationEntry {
  label?: string;
  children: readonly TreeNode[];
}

/** Nested lists: each operation with its children under it. */
function operationTree(roots: readonly TreeNode[]): string {
  const list = (nodes: readonly TreeNode[], depth: number): string =>
    depth > MAX_TREE_DEPTH ? '<ul><li class="meta">… deeper levels in --json</li></ul>' : `<ul class="op-tree">${nodes.map((n) => `<li>${operationLine(n)}${n.children.length > 0 ? list(n.children, depth + 1) : ''}</li>`).join('')}</ul>`;
  return list(roots, 0);
}

/** The merged view (--merge): blocked most, processes side by side, findings, joined requests. */
function renderMerged(m: MergedReport): string {
  const out: string[] = [];
  out.push('<section class="merged">');
  out.push(`<h1>looptrace analysis of ${m.processes.length} process${m.processes.length === 1 ? '' : 'es'}, merged</h1>`);
  if (m.note !== null) out.push(`<p class="warn">${e(m.note)}</p>`);
  out.push('<h2>Blocked most</h2>');
  out.push(m.blockedMost === null ? '<p>No process had a long task on a request-serving loop.</p>' : `<p class="crit blocked-most">${e(m.blockedMost.message)}</p>`);
  out.push('<h2>Processes side by side</h2>');
  out.push('<table class="processes"><tr><th class="l">process</th><th>span</th><th>threads</th><th class="l">main utilization</th><th class="l">busiest loop</th><th>long tasks</th><th>long-task time</th><th>on serving loops</th><th>worst</th><th class="l">worst task</th><th>operations</th><th>findings</th></tr>');
  const ranked = [...m.processes].sort((a, b) => b.longTasks.servingTotalNs - a.longTasks.servingTotalNs || b.longTasks.totalNs - a.longTasks.totalNs || a.process - b.process);
  for (const p of ranked) {
    const util = p.mainUtilization ?? 0;
    const w = p.worstLongTask;
    const worst = w === null ? '' : `${e(w.threadName)} at ${e(timeOfDay(w.startIso))}${w.blocking === null ? '' : ` in <code>${e(w.blocking)}</code>`}${w.operation === null ? '' : ` during <b>${e(w.operation.name)}</b>`}`;
    out.push(
      `<tr><td class="l">${e(p.label)}</td><td>${e(formatDuration(p.durationNs))}</td><td>${p.threads}</td>` +
        `<td class="l"><span class="barbg"><span class="bar" style="width:${Math.round(util * 120)}px"></span></span> ${e(formatPercent(p.mainUtilization))}</td>` +
        `<td class="l">${p.busiestThread === null ? '–' : `${e(p.busiestThread.name)} ${e(formatPercent(p.busiestThread.utilization))}`}</td>` +
        `<td>${e(formatCount(p.longTasks.count))}</td><td>${e(formatDuration(p.longTasks.totalNs))}</td><td${p.longTasks.servingTotalNs > 0 ? ' class="crit"' : ''}>${e(formatDuration(p.longTasks.servingTotalNs))}</td>` +
        `<td>${p.longTasks.maxNs > 0 ? e(formatDuration(p.longTasks.maxNs)) : '–'}</td><td class="l">${worst}</td>` +
        `<td>${p.operations === null ? '–' : `${e(formatCount(p.operations.count))}${p.operations.failed > 0 ? ` <span class="crit">(${e(formatCount(p.operations.failed))} failed)</span>` : ''}`}</td>` +
        `<td>${p.findings.critical} critical, ${p.findings.warning} warning</td></tr>`,
    );
  }
  out.push('</table>');
  out.push('<h2>Findings across processes, worst first</h2>');
  if (m.findings.items.length === 0) out.push('<p>No long tasks, idle workers or threadpool pressure in any process.</p>');
  else out.push(`<ul class="findings">${m.findings.items.map((f) => `<li class="${f.severity === 'critical' ? 'crit' : f.severity === 'warning' ? 'warn' : 'info'}"><b>[${e(f.label)}]</b> ${e(f.message)}</li>`).join('')}</ul>`);
  const ops = m.operations;
  if (ops !== null) {
    if (ops.tree !== null) {
      out.push(`<h2>Trace ${e(ops.tree.traceId)} across processes: ${e(formatCount(ops.tree.operations))} operations in ${ops.tree.processes.length} process${ops.tree.processes.length === 1 ? '' : 'es'}</h2>`);
      out.push(ops.tree.roots.length === 0 ? '<p>No operation of this trace id in any process.</p>' : operationTree(ops.tree.roots));
    }
    const j = ops.joined;
    out.push(`<h2>Requests across processes: ${j.count === 0 ? 'none' : `${e(formatCount(j.count))} trace ids ran in two or more processes, slowest first`}</h2>`);
    for (const t of j.items) {
      out.push(
        `<h3 class="joined">${e(t.durationNs === null ? 'still open' : formatDuration(t.durationNs))} at ${e(timeOfDay(t.startIso))}: ${t.labels.map((l) => e(l)).join(' → ')} <span class="meta">trace ${e(t.traceId)}</span></h3>`,
      );
      out.push(operationTree(t.roots));
    }
    if (j.indexTruncated) out.push('<p class="meta">Each process keeps its latest operations for this join: older requests may show only part of their tree (--trace-id joins any one exactly).</p>');
  }
  out.push('</section>');
  return out.join('\n');
}

/** One row per thread with a long task; each task is a red mark at its place in the trace. */
function longTaskTimeline(r: TraceReport): string {
  const width = 900;
  const label = 160;
  const rowH = 18;
  const tasks = r.longTasks.byThread.flatMap((g) => g.items);
  const threads = [...new Set(tasks.map((t) => t.threadId))];
  const span = Math.max(1, r.trace.endNs - r.trace.startNs);
  const x = (ns: number): number => label + ((ns - r.trace.startNs) / span) * (width - label);
  const height = threads.length * rowH + 20;
  const parts: string[] = [`<svg class="timeline" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="long tasks over time">`];
  threads.forEach((id, row) => {
    const y = row * rowH;
    const name = tasks.find((t) => t.threadId === id)?.threadName ?? `thread ${id}`;
    parts.push(`<text x="0" y="${y + 13}">${e(name.length > 24 ? `${name.slice(0, 23)}…` : name)}</text><rect x="${label}" y="${y + 3}" width="${width - label}" height="${rowH - 6}" fill="#eef2f7"/>`);
    for (const t of tasks.filter((task) => task.threadId === id)) {
      const x0 = x(t.startNs);
      parts.push(`<rect class="long-task" x="${x0.toFixed(1)}" y="${y + 3}" width="${Math.max(2, x(t.endNs) - x0).toFixed(1)}" height="${rowH - 6}" fill="#d93025"><title>${e(formatDuration(t.durationNs))} at ${e(timeOfDay(t.startIso))}</title></rect>`);
    }
  });
  const axisY = threads.length * rowH + 14;
  parts.push(`<text x="${label}" y="${axisY}">${e(timeOfDay(r.trace.startIso))}</text><text x="${width - 80}" y="${axisY}">${e(timeOfDay(r.trace.endIso))}</text></svg>`);
  return parts.join('');
}

function threadpoolSection(tp: ThreadpoolReport): string {
  const out: string[] = [];
  out.push(`<h2>Threadpool${tp.threadpoolSize === null ? '' : ` (${tp.threadpoolSize} threads)`}: ${tp.delay.count === 0 ? 'no probes' : `delay p50 ${e(formatDuration(tp.delay.p50Ns))}, p99 ${e(formatDuration(tp.delay.p99Ns))}, max ${e(formatDuration(tp.delay.maxNs))}`}</h2>`);
  const buckets = tp.series.buckets;
  if (buckets.length > 0) {
    const width = 900;
    const height = 120;
    const maxNs = Math.max(1, ...buckets.map((b) => b.p90Ns));
    const barW = width / buckets.length;
    const bars = buckets
      .map((b, i) => {
        const h = (b.p90Ns / maxNs) * (height - 20);
        return `<rect x="${(i * barW).toFixed(1)}" y="${(height - 14 - h).toFixed(1)}" width="${Math.max(1, barW - 1).toFixed(1)}" height="${h.toFixed(1)}" fill="${b.p90Ns >= tp.pressure.p90ThresholdNs ? '#d93025' : '#3b7dd8'}"><title>${e(timeOfDay(b.startIso))}: p90 ${e(formatDuration(b.p90Ns))}, max ${e(formatDuration(b.maxNs))}</title></rect>`;
      })
      .join('');
    out.push(`<svg class="threadpool" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="threadpool delay p90 per bucket">${bars}<text x="0" y="${height - 2}">p90 queueing delay per ${e(formatDuration(tp.series.bucketNs))}; peak ${e(formatDuration(maxNs))}</text></svg>`);
  }
  if (tp.pressure.flagged) out.push(`<ul>${tp.pressure.advice.map((a) => `<li>${e(a)}</li>`).join('')}</ul>`);
  return out.join('\n');
}
