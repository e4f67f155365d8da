// The static HTML report (`analyze-trace --html report.html`): the analysis of docs/ANALYZE-JSON.md
// as one file to attach to a ticket: findings, threads with utilization bars, a long-task timeline
// per thread, long tasks with their stacks, idle workers and the threadpool delay chart. Charts are
// inline SVG. The page carries no script at all, and a Content-Security-Policy that forbids one,
// so nothing from a trace can run even if it slipped past escaping; every trace string is escaped.

import { describeTask } from '../analyze/findings.js';
import { formatCount, formatDuration, formatPercent, timeOfDay } from '../analyze/format.js';
import type { MergedReport } from '../analyze/merge.js';
import type { LongTask, ThreadpoolReport, TraceReport } from '../analyze/report.js';
import { escapeHtml as e } from './html-escape.js';

const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2329;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px;border-bottom:1px solid #dde;padding-bottom:4px}
.meta{color:#5a6470}table{border-collapse:collapse;margin:6px 0}td,th{padding:3px 10px;text-align:right;border-bottom:1px solid #eef}
th{background:#f5f7fa;font-weight:600}td.l,th.l{text-align:left}.crit{color:#b3261e;font-weight:600}.warn{color:#9a6700}.info{color:#39577a}
pre{background:#f5f7fa;padding:6px 8px;margin:4px 0;font-size:12px;overflow:auto;max-height:12em}
.bar{display:inline-block;height:10px;background:#3b7dd8;vertical-align:middle}.barbg{display:inline-block;width:120px;height:10px;background:#e6ebf2;vertical-align:middle}
svg text{font:11px system-ui,sans-serif;fill:#5a6470}footer{margin-top:32px;color:#8a949e;font-size:12px}
`;

export function renderHtmlReport(reports: readonly TraceReport[], merged?: MergedReport): string {
  const first = reports[0];
  const title = `looptrace report${first?.trace.serviceName ? ` — ${first.trace.serviceName}` : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title><style>${STYLE}</style></head><body>
${reports.map((r, i) => renderReport(r, reports.length > 1 ? `Trace ${i + 1} of ${reports.length}: ` : '')).join('\n<hr>\n')}
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
  if (lt.items.length > 0) {
    out.push(longTaskTimeline(r));
    out.push('<table class="long-tasks"><tr><th>#</th><th>duration</th><th class="l">thread</th><th class="l">at (UTC)</th><th class="l">phase</th><th class="l">CPU</th><th class="l">stack</th></tr>');
    lt.items.forEach((task, i) => out.push(longTaskRow(task, i)));
    out.push('</table>');
  }

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
    `<div class="meta">${e(describeTask(task))}</div></td></tr>`
  );
}

/** One row per thread with a long task; each task is a red mark at its place in the trace. */
function longTaskTimeline(r: TraceReport): string {
  const width = 900;
  const label = 160;
  const rowH = 18;
  const tasks = r.longTasks.items;
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
