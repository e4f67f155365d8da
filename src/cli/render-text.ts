// The terminal report: the findings first (worst first), then the tables that back them: threads,
// long tasks, idle workers and the threadpool. Times of day are UTC, like the ISO times in --json.

import { describeTask } from '../analyze/findings.js';
import { formatCount, formatDuration, formatPercent, timeOfDay } from '../analyze/format.js';
import type { Finding, ThreadpoolReport, TraceReport } from '../analyze/report.js';
import type { SelfCostReport } from '../analyze/self-cost.js';
import { visibleLength, type Palette } from './ansi.js';

const SPARK = '▁▂▃▄▅▆▇█';
const MAX_SPARK_CELLS = 60;
const BAR_CELLS = 20;
const MAX_THREAD_ROWS = 40;

export function renderText(reports: readonly TraceReport[], p: Palette): string {
  return reports.map((r, i) => renderReport(r, p, reports.length > 1 ? `Trace ${i + 1} of ${reports.length}` : undefined)).join('\n' + '─'.repeat(72) + '\n\n');
}

function renderReport(r: TraceReport, p: Palette, title: string | undefined): string {
  const out: string[] = [];
  const t = r.trace;
  const who = [t.serviceName, t.pid === null ? null : `pid ${t.pid}`, t.nodeVersion === null ? null : `Node ${t.nodeVersion}`, t.platform, t.hostname === null ? null : `host ${t.hostname}`]
    .filter((x) => x !== null)
    .join(', ');
  out.push(p.bold(`${title === undefined ? '' : `${title}: `}looptrace analysis`) + (who === '' ? '' : ` of ${who}`));
  const date = t.startIso.slice(0, 10);
  out.push(
    `${date} ${timeOfDay(t.startIso)} → ${timeOfDay(t.endIso)} UTC (${formatDuration(t.durationNs)}); ` +
      `${t.files.length} file${t.files.length === 1 ? '' : 's'}, ${formatBytes(r.decode.bytes)}, ${formatCount(t.records)} records; trace ${t.traceId.slice(0, 8)}`,
  );
  if (t.window.sinceIso !== null || t.window.untilIso !== null) {
    out.push(p.dim(`window: ${t.window.sinceIso ?? 'the start'} to ${t.window.untilIso ?? 'the end'}`));
  }
  if (t.records === 0) out.push(p.yellow('No records in the analyzed window: nothing to report.'));
  out.push('');

  out.push(p.bold('Findings, worst first'));
  if (r.findings.length === 0 && t.records > 0) out.push(`  ${p.green('✔')} No long tasks, idle workers or threadpool pressure at the thresholds below.`);
  for (const f of r.findings) out.push(`  ${marker(f, p)} ${f.message}`);
  out.push('');

  out.push(p.bold('Threads'));
  const rows: string[][] = [['thread', 'iterations', 'util', 'busy', 'blocked', 'p50', 'p99', 'max stretch', 'ev/iter', 'waiting', 'dropped']];
  for (const th of r.threads.slice(0, MAX_THREAD_ROWS)) {
    const util = formatPercent(th.utilization);
    rows.push([
      th.name,
      formatCount(th.iterations),
      (th.utilization ?? 0) >= r.options.saturation ? p.red(util) : util,
      formatDuration(th.busyNs),
      formatDuration(th.blockedNs),
      formatDuration(th.busyStretch.p50Ns),
      formatDuration(th.busyStretch.p99Ns),
      th.busyStretch.maxNs >= r.options.longTaskNs ? p.red(formatDuration(th.busyStretch.maxNs)) : formatDuration(th.busyStretch.maxNs),
      th.events.perIteration.toFixed(2),
      th.events.pollsWithWaiting === 0 ? '0' : `${formatPercent(th.events.pollsWithWaiting / Math.max(1, th.iterations))} (max ${th.events.maxWaiting})`,
      th.droppedRecords === 0 ? '0' : p.yellow(formatCount(th.droppedRecords)),
    ]);
  }
  out.push(...table(rows, 'lrrrrrrrrrr', p));
  if (r.threads.length > MAX_THREAD_ROWS) out.push(p.dim(`  … and ${r.threads.length - MAX_THREAD_ROWS} more threads (--json lists all)`));
  out.push(p.dim('  util = busy / (busy + blocked); stretch = uninterrupted busy time between polls; waiting = polls that found I/O events already waiting'));
  out.push('');

  const lt = r.longTasks;
  out.push(p.bold(`Long tasks ≥ ${formatDuration(lt.thresholdNs)}`) + (lt.count === 0 ? ': none' : `: ${formatCount(lt.count)} (${formatDuration(lt.totalNs)} in all)${lt.count > lt.items.length ? `, the worst ${lt.items.length}` : ''}`));
  if (lt.items.length > 0) {
    const rows: string[][] = [['#', 'duration', 'thread', 'at (UTC)', 'phase', 'CPU']];
    lt.items.forEach((task, i) => {
      const cpu = task.cpu === null ? 'not measured' : `${formatPercent(task.cpu.ratio)} ${task.verdict === 'mixed' ? '' : task.verdict}`.trim();
      const extra = [task.attribution.gc === null ? '' : `GC ${formatDuration(task.attribution.gc.totalNs)}`, task.endedBy === 'trace-end' ? 'still running at trace end' : ''].filter(Boolean).join(', ');
      rows.push([
        String(i + 1),
        p.red(formatDuration(task.durationNs)),
        task.threadName,
        timeOfDay(task.startIso),
        task.phase === 'io-callbacks' ? 'I/O callbacks' : 'timers/immediates',
        cpu + (extra === '' ? '' : `; ${extra}`),
      ]);
    });
    out.push(...table(rows, 'rrllll', p));
    for (const task of lt.items) {
      const top = task.attribution.stacks[0];
      if (top !== undefined && top.frames.length > 0) out.push(p.dim(`  ${formatDuration(task.durationNs)} on ${task.threadName}: ${top.frames.slice(0, 3).join(' ← ')}`));
    }
  }
  out.push('');

  const iw = r.idleWorkers;
  out.push(p.bold('Idle workers') + p.dim(` (blocked in polls ≥ ${formatDuration(iw.idleThresholdNs)} while another thread was ≥ ${formatPercent(iw.saturation)} busy or behind)`));
  if (iw.pools.length === 0 && iw.episodes.count === 0) out.push('  no worker pools in the trace (workers running the same script form a pool)');
  for (const pool of iw.pools) {
    out.push(`  pool ${pool.script}: ${pool.unbalanced ? p.yellow('unbalanced') : 'balanced'}: ${pool.summary}`);
    for (const m of [...pool.members].sort((a, b) => (b.utilization ?? 0) - (a.utilization ?? 0))) {
      const cells = Math.round((m.utilization ?? 0) * BAR_CELLS);
      const bar = '█'.repeat(cells) + p.dim('·'.repeat(BAR_CELLS - cells));
      out.push(`    ${bar} ${formatPercent(m.utilization).padStart(4)}  ${m.name}${m.threadId === pool.busiestThreadId && pool.unbalanced ? p.yellow('  ← busiest') : ''}`);
    }
  }
  if (iw.episodes.count > 0) {
    out.push(`  ${formatCount(iw.episodes.count)} episode${iw.episodes.count === 1 ? '' : 's'} of a worker idle while work waited (${formatDuration(iw.episodes.totalIdleNs)} idle in all), worst first:`);
    for (const e of iw.episodes.items) {
      const why = e.peer.reason === 'saturated' ? `${formatPercent(e.peer.utilization)} busy` : `behind: ${formatCount(e.peer.pollsWithWaiting)} polls found events waiting`;
      out.push(`    ${e.threadName} idle ${formatDuration(e.idleNs)} of ${formatDuration(e.durationNs)} from ${timeOfDay(e.startIso)} while ${e.peer.name} was ${why}`);
    }
  } else if (iw.pools.length > 0) {
    out.push(p.dim('  no episode of a worker idle while another thread was saturated'));
  }
  out.push('');

  out.push(...renderThreadpool(r.threadpool, p));
  out.push(...renderSelfCost(r.selfCost));

  if (r.checks.length > 0) {
    out.push('');
    out.push(p.bold('Checks (--fail-on)'));
    for (const c of r.checks) out.push(`  ${c.violated ? p.red('✖ FAIL') : p.green('✔ ok  ')} ${c.message}`);
  }
  if (r.decode.diagnostics.length > 0) {
    out.push('');
    out.push(p.yellow(`The decoder reported ${r.decode.diagnostics.length + r.decode.diagnosticsOmitted} problem${r.decode.diagnostics.length + r.decode.diagnosticsOmitted === 1 ? '' : 's'} (listed on stderr); intact frames were analyzed.`));
  }
  return out.join('\n') + '\n';
}

/** "looptrace's own cost: 0.12% of CPU (writer 0.05%, hooks 0.04%, …)", then one line per loop. */
function renderSelfCost(sc: SelfCostReport | null): string[] {
  if (sc === null) return [];
  const pct = (ratio: number): string => `${(ratio * 100).toFixed(2)}%`;
  const parts = (Object.entries(sc.parts) as [string, { cpuNs: number; ratio: number }][])
    .filter(([, v]) => v.cpuNs > 0)
    .sort((a, b) => b[1].cpuNs - a[1].cpuNs)
    .map(([k, v]) => `${k} ${pct(v.ratio)}`);
  const out = ['', `looptrace's own cost: ${pct(sc.ratio)} of CPU (${parts.join(', ') || 'nothing measured'})`];
  for (const t of sc.threads) {
    const own = [['hooks', t.hooksNs], ['timers', t.timersNs], ['stacks', t.stacksNs]]
      .filter(([, ns]) => (ns as number) > 0)
      .map(([k, ns]) => `${k} ${pct(sc.processCpuNs > 0 ? (ns as number) / sc.processCpuNs : 0)}`);
    // Thread names come from the trace: control characters are shown escaped, never sent.
    const name = JSON.stringify(t.name).slice(1, -1);
    out.push(`  ${name} (thread ${t.threadId}): ${pct(t.ratio)}${own.length > 0 ? ` (${own.join(', ')})` : ''}`);
  }
  return out;
}

function renderThreadpool(tp: ThreadpoolReport, p: Palette): string[] {
  const out: string[] = [];
  const size = tp.threadpoolSize === null ? 'size not recorded' : `UV_THREADPOOL_SIZE=${tp.threadpoolSize}`;
  out.push(p.bold('Threadpool') + p.dim(` (${size}; queueing delay of ${formatCount(tp.delay.count)} probes)`));
  if (tp.delay.count === 0) {
    out.push('  no threadpool probes in the trace (threadpoolProbeIntervalMs 0, or the main thread was not traced)');
    return out;
  }
  const d = tp.delay;
  out.push(`  delay p50 ${formatDuration(d.p50Ns)}  p90 ${formatDuration(d.p90Ns)}  p99 ${formatDuration(d.p99Ns)}  max ${formatDuration(d.maxNs)}`);
  const buckets = tp.series.buckets;
  if (buckets.length > 1) {
    const group = Math.ceil(buckets.length / MAX_SPARK_CELLS);
    const cells: number[] = [];
    for (let i = 0; i < buckets.length; i += group) cells.push(Math.max(...buckets.slice(i, i + group).map((b) => b.p90Ns)));
    const top = Math.max(...cells);
    const threshold = tp.pressure.p90ThresholdNs;
    const spark = cells
      .map((v) => {
        const ch = top === 0 ? SPARK[0]! : SPARK[Math.min(SPARK.length - 1, Math.floor((v / top) * (SPARK.length - 1) + 0.5))]!;
        return v >= threshold ? p.red(ch) : ch;
      })
      .join('');
    out.push(`  p90 per ${formatDuration(tp.series.bucketNs * group)}: ${spark}  (peak ${formatDuration(top)}, from ${timeOfDay(buckets[0]!.startIso)})`);
  }
  const pr = tp.pressure;
  if (pr.flagged) {
    for (const e of pr.episodes) {
      out.push(`  ${p.red('✖')} pressure for ${formatDuration(e.durationNs)} from ${timeOfDay(e.startIso)}: p90 up to ${formatDuration(e.peakP90Ns)}, max ${formatDuration(e.maxNs)}`);
    }
    for (const line of pr.advice) out.push(`  → ${line}`);
  } else {
    const brief = pr.totalNs > 0 ? ` (p90 reached it for ${formatDuration(pr.totalNs)}, never for ${formatDuration(pr.sustainNs)} on end)` : '';
    out.push(`  ${p.green('✔')} no sustained pressure: p90 stayed under ${formatDuration(pr.p90ThresholdNs)}${brief}`);
  }
  return out;
}

function marker(f: Finding, p: Palette): string {
  return f.severity === 'critical' ? p.red('✖') : f.severity === 'warning' ? p.yellow('▲') : p.cyan('●');
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 1 << 30) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  return `${(bytes / (1 << 30)).toFixed(2)} GiB`;
}

/** Columns padded to their widest cell; align is one letter per column, l or r. */
function table(rows: readonly string[][], align: string, p: Palette): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visibleLength(cell))));
  return rows.map((row, r) => {
    const line = row
      .map((cell, i) => {
        const pad = ' '.repeat((widths[i] ?? 0) - visibleLength(cell));
        return align[i] === 'r' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
    return '  ' + (r === 0 ? p.dim(line) : line);
  });
}
