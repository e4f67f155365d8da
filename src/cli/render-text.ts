// The terminal report: the findings first (worst first), then the tables that back them: threads,
// long tasks with their sampled stacks, the blocking code of all long tasks, idle workers and the
// threadpool. Times of day are UTC, like the ISO times in --json. Every string that comes from the
// trace goes through esc() (escapeTerminal) on its way out.

import { frameText, stackLine } from '../analyze/attribution.js';
import { formatCount, formatDuration, formatPercent, timeOfDay } from '../analyze/format.js';
import type { BlockingCodeReport, Finding, LongTask, SourceMapSummary, ThreadLongTasks, ThreadpoolReport, TraceReport } from '../analyze/report.js';
import type { SelfCostReport } from '../analyze/self-cost.js';
import { visibleLength, type Palette } from './ansi.js';
import { renderOperations, renderTaskOperations } from './render-operations.js';
import { escapeTerminal as esc } from './escape.js';

const SPARK = '▁▂▃▄▅▆▇█';
const MAX_SPARK_CELLS = 60;
const BAR_CELLS = 20;
const MAX_THREAD_ROWS = 40;
/** Long tasks listed per worker thread in the text (the main thread lists --top). */
const WORKER_LONG_TASK_ROWS = 3;
/** Callers shown after the blocking site on a task's stack line. */
const STACK_LINE_CALLERS = 2;
/** Other stacks of a task listed below its hottest one. */
const MAX_OTHER_STACKS = 2;
/** Rows of each blocking-code list. */
const MAX_BLOCKING_ROWS = 8;
/** A sample this late says the thread was outside JavaScript before it. */
const LATE_SAMPLE_NS = 10e6;
/** A trace this short may hold no threadpool probe at the default interval. */
const SHORT_FOR_PROBES_NS = 1e9;

export function renderText(reports: readonly TraceReport[], p: Palette, options: { allOperations?: boolean } = {}): string {
  return reports.map((r, i) => renderReport(r, p, reports.length > 1 ? `Trace ${i + 1} of ${reports.length}` : undefined, options.allOperations === true)).join('\n' + '─'.repeat(72) + '\n\n');
}

function renderReport(r: TraceReport, p: Palette, title: string | undefined, allOperations: boolean): string {
  const out: string[] = [];
  const t = r.trace;
  const who = [t.serviceName, t.pid === null ? null : `pid ${t.pid}`, t.nodeVersion === null ? null : `Node ${t.nodeVersion}`, t.platform, t.hostname === null ? null : `host ${t.hostname}`]
    .filter((x) => x !== null)
    .map(esc)
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
  if (r.findings.length === 0 && t.records > 0) {
    const probes = r.threadpool.delay.count === 0 ? '; no threadpool probes, so the threadpool was not checked' : '';
    out.push(`  ${p.green('✔')} No long tasks, idle workers or threadpool pressure at the thresholds below${probes}.`);
  }
  for (const f of r.findings) out.push(`  ${marker(f, p)} ${esc(f.message)}`);
  out.push('');

  out.push(p.bold('Threads'));
  const rows: string[][] = [['thread', 'role', 'iterations', 'util', 'busy', 'idle', 'p50', 'p99', 'max stretch', 'ev/iter', 'waiting', 'GC', 'dropped']];
  for (const th of r.threads.slice(0, MAX_THREAD_ROWS)) {
    const util = formatPercent(th.utilization);
    rows.push([
      esc(th.name),
      th.role === 'main' ? 'main' : th.role === 'serving' ? 'serving' : 'background',
      formatCount(th.iterations),
      (th.utilization ?? 0) >= r.options.saturation ? p.red(util) : util,
      formatDuration(th.busyNs),
      formatDuration(th.blockedNs),
      formatDuration(th.busyStretch.p50Ns),
      formatDuration(th.busyStretch.p99Ns),
      th.busyStretch.maxNs >= r.options.longTaskNs ? p.red(formatDuration(th.busyStretch.maxNs)) : formatDuration(th.busyStretch.maxNs),
      th.events.perIteration.toFixed(2),
      th.events.pollsWithWaiting === 0 ? '0' : `${formatPercent(th.events.pollsWithWaiting / Math.max(1, th.iterations))} (max ${th.events.maxWaiting})`,
      th.gc === null ? '–' : th.gc.pauses === 0 ? '0' : `${formatDuration(th.gc.totalNs)} (${formatCount(th.gc.pauses)})`,
      th.droppedRecords === 0 ? '0' : p.yellow(formatCount(th.droppedRecords)),
    ]);
  }
  out.push(...table(rows, 'llrrrrrrrrrrr', p));
  if (r.threads.length > MAX_THREAD_ROWS) out.push(p.dim(`  … and ${r.threads.length - MAX_THREAD_ROWS} more threads (--json lists all)`));
  out.push(p.dim('  role: main and serving loops answer requests (--serving-threads), background workers do other work; busy = running callbacks, idle = waiting for I/O in the poll; util = busy / (busy + idle); stretch = uninterrupted busy time between polls; waiting = polls that found I/O events already waiting; GC = pause time (pauses)'));
  out.push('');

  const shown = shownLongTasks(r);
  out.push(...renderLongTasks(r, shown, p));
  for (const task of shown.flatMap((g) => g.items)) {
    const line = renderTaskOperations(task, p);
    if (line !== undefined) out.push(line);
  }
  out.push('');
  const blocking = renderBlockingCode(r.blockingCode, p);
  if (blocking.length > 0) out.push(...blocking, '');
  const maps = renderSourceMaps(r.sourceMaps, r.blockingCode.samples > 0, p);
  if (maps.length > 0) out.push(...maps, '');

  const iw = r.idleWorkers;
  out.push(p.bold('Idle workers') + p.dim(` (idle in polls ≥ ${formatDuration(iw.idleThresholdNs)} while a worker of the same pool was ≥ ${formatPercent(iw.saturation)} busy or behind)`));
  if (iw.pools.length === 0 && iw.episodes.count === 0) out.push('  no worker pools in the trace (workers running the same script form a pool)');
  for (const pool of iw.pools) {
    out.push(`  pool ${esc(pool.script)}: ${pool.unbalanced ? p.yellow('unbalanced') : 'balanced'}: ${esc(pool.summary)}`);
    for (const m of [...pool.members].sort((a, b) => (b.utilization ?? 0) - (a.utilization ?? 0))) {
      const cells = Math.round((m.utilization ?? 0) * BAR_CELLS);
      const bar = '█'.repeat(cells) + p.dim('·'.repeat(BAR_CELLS - cells));
      out.push(`    ${bar} ${formatPercent(m.utilization).padStart(4)}  ${esc(m.name)}${m.threadId === pool.busiestThreadId && pool.unbalanced ? p.yellow('  ← busiest') : ''}`);
    }
  }
  if (iw.episodes.count > 0) {
    out.push(`  ${formatCount(iw.episodes.count)} episode${iw.episodes.count === 1 ? '' : 's'} of a worker idle while work waited (${formatDuration(iw.episodes.totalIdleNs)} idle in all), worst first:`);
    for (const e of iw.episodes.items) {
      const why = e.peer.reason === 'saturated' ? `${formatPercent(e.peer.utilization)} busy` : `behind: ${formatCount(e.peer.pollsWithWaiting)} polls found events waiting`;
      out.push(`    ${esc(e.threadName)} idle ${formatDuration(e.idleNs)} of ${formatDuration(e.durationNs)} from ${timeOfDay(e.startIso)} while ${esc(e.peer.name)} was ${why}`);
    }
  } else if (iw.pools.length > 0) {
    out.push(p.dim('  no episode of a worker idle while a worker of its pool was saturated or behind'));
  }
  out.push('');

  out.push(...renderThreadpool(r.threadpool, r.trace.durationNs, p));
  if (r.operations !== undefined) out.push('', ...renderOperations(r.operations, p, allOperations));
  out.push(...renderSelfCost(r.selfCost));

  if (r.checks.length > 0) {
    out.push('');
    out.push(p.bold('Checks (--fail-on)'));
    for (const c of r.checks) out.push(`  ${c.violated ? p.red('✖ FAIL') : p.green('✔ ok  ')} ${esc(c.message)}`);
  }
  if (r.decode.diagnostics.length > 0) {
    out.push('');
    out.push(p.yellow(`The decoder reported ${r.decode.diagnostics.length + r.decode.diagnosticsOmitted} problem${r.decode.diagnostics.length + r.decode.diagnosticsOmitted === 1 ? '' : 's'} (listed on stderr); intact frames were analyzed.`));
  }
  return out.join('\n') + '\n';
}

interface ShownGroup {
  group: ThreadLongTasks;
  items: LongTask[];
}

/**
 * The long tasks the text lists: per thread, the main thread first, so busy workers never crowd it
 * out. Workers show their worst few unless --thread picked the threads to look at.
 */
function shownLongTasks(r: TraceReport): ShownGroup[] {
  const mainIds = new Set(r.threads.filter((t) => t.kind === 'main').map((t) => t.threadId));
  return r.longTasks.byThread.map((group) => ({
    group,
    items: r.options.threads !== null || mainIds.has(group.threadId) ? group.items : group.items.slice(0, WORKER_LONG_TASK_ROWS),
  }));
}

function renderLongTasks(r: TraceReport, shown: readonly ShownGroup[], p: Palette): string[] {
  const out: string[] = [];
  const lt = r.longTasks;
  const caps = r.trace.capabilities;
  const listed = shown.reduce((sum, g) => sum + g.items.length, 0);
  out.push(
    p.bold(`Long tasks ≥ ${formatDuration(lt.thresholdNs)}`) +
      (lt.count === 0 ? ': none' : `: ${formatCount(lt.count)} (${formatDuration(lt.totalNs)} in all)${lt.count > listed ? `; the worst of each thread, main first` : ''}`),
  );
  if (listed === 0) return out;
  const header = caps.schedstat ? ['#', 'duration', 'thread', 'at (UTC)', 'phase', 'on CPU', 'runnable', 'waiting', 'GC'] : ['#', 'duration', 'thread', 'at (UTC)', 'phase', 'on CPU', 'off CPU', 'GC'];
  const rows: string[][] = [header];
  const details: string[][] = [];
  const tasks = shown.flatMap((g) => g.items.map((task, i) => ({ task, i, last: i === g.items.length - 1, g })));
  tasks.forEach(({ task, i, last, g }) => {
    const s = task.split;
    const share = (ns: number | null): string => (s === null || ns === null || s.wallNs <= 0 ? '–' : formatPercent(ns / s.wallNs));
    const split = caps.schedstat ? [share(s?.onCpuNs ?? null), share(s?.runnableNs ?? null), share(s?.waitingNs ?? null)] : [share(s?.onCpuNs ?? null), share(s?.offCpuNs ?? null)];
    rows.push([
      String(i + 1),
      p.red(formatDuration(task.durationNs)),
      esc(task.threadName),
      timeOfDay(task.startIso),
      task.phase === 'io-callbacks' ? 'I/O callbacks' : 'timers/immediates',
      ...split,
      task.attribution.gc === null ? (caps.gc ? '0%' : '–') : formatPercent(task.attribution.gc.share),
    ]);
    const more = g.group.count - g.items.length;
    details.push([...taskDetails(task, p), ...(last && more > 0 ? [p.dim(`     … and ${formatCount(more)} more on ${esc(g.group.threadName)} (--thread lists a thread's worst --top)`)] : [])]);
  });
  // The table, with each task's stack lines under its row.
  const lines = table(rows, caps.schedstat ? 'rrlllrrrr' : 'rrlllrrr', p);
  out.push(lines[0]!);
  lines.slice(1).forEach((line, i) => out.push(line, ...details[i]!));
  const notes: string[] = [];
  const listedTasks = tasks.map((x) => x.task);
  if (listedTasks.some((t) => t.split !== null) && !caps.schedstat) {
    notes.push(`off CPU is waiting and runnable together: the recorder did not read scheduler statistics${caps.note === null ? '' : ` (${esc(caps.note)})`}`);
  }
  if (listedTasks.some((t) => t.endedBy === 'trace-end')) notes.push('a task still running when the trace ends is measured up to the end (a lower bound)');
  if (listedTasks.every((t) => t.attribution.samples === 0)) {
    notes.push(caps.stacks ? 'no stack was sampled inside these tasks' : `no stacks: the recorder did not sample them${caps.note === null ? '' : ` (${esc(caps.note)})`}`);
  }
  for (const note of notes) out.push(p.dim(`  ${note}`));
  return out;
}

/** The lines under a task's row: its hottest stack, a late-sample note, and its next stacks. */
function taskDetails(task: LongTask, p: Palette): string[] {
  const a = task.attribution;
  const out: string[] = [];
  if (a.callbacks !== null && a.callbacks > 1) {
    out.push(p.dim(`     made of ${formatCount(a.callbacks)} callbacks run back to back (callback mode), not one long callback`));
  }
  const [top, ...others] = a.stacks;
  if (top === undefined) {
    if (task.endedBy === 'trace-end') out.push(p.dim('     still running when the trace ends'));
    return out;
  }
  const of = `(${formatCount(top.samples)} of ${formatCount(a.samples)} sample${a.samples === 1 ? '' : 's'})`;
  const topText = top.callFrames.length > 0 ? stackLine(top.callFrames, STACK_LINE_CALLERS) : (a.blocking?.text ?? `(stack ${top.stackId})`);
  out.push(`     ${esc(topText)}  ${p.dim(of)}`);
  if (top.maxLagNs >= LATE_SAMPLE_NS) {
    out.push(p.dim(`     sampled ${formatDuration(top.maxLagNs)} late: the loop was in native code (outside JavaScript) before the sample, called from this stack`));
  }
  for (const other of others.slice(0, MAX_OTHER_STACKS)) {
    const text = other.callFrames.length > 0 ? stackLine(other.callFrames, 0) : other.stackId === 0 ? '(no JavaScript on the stack)' : `(stack ${other.stackId}, no frames in the trace)`;
    out.push(p.dim(`     also ${esc(text)}  (${formatCount(other.samples)} of ${formatCount(a.samples)})`));
  }
  if (task.endedBy === 'trace-end') out.push(p.dim('     still running when the trace ends'));
  return out;
}

function renderBlockingCode(b: BlockingCodeReport, p: Palette): string[] {
  if (b.samples === 0) return [];
  const out: string[] = [];
  out.push(
    p.bold('Blocking code, all long tasks together') +
      p.dim(` (${formatDuration(b.sampledNs)} sampled in ${formatCount(b.longTasks)} long task${b.longTasks === 1 ? '' : 's'}, ${formatCount(b.samples)} samples)`),
  );
  out.push(p.dim('  self: where the loop was running (down to the first frame of your code)'));
  for (const e of b.self.slice(0, MAX_BLOCKING_ROWS)) out.push(`  ${formatPercent(e.share).padStart(5)}  ${esc(e.site.text)}`);
  out.push(p.dim('  total: functions anywhere on the stack'));
  for (const e of b.total.slice(0, MAX_BLOCKING_ROWS)) out.push(`  ${formatPercent(e.share).padStart(5)}  ${esc(frameText(e.site.frame))}`);
  return out;
}

/** Said once: which built scripts had no map, and which scripts are not on this machine. */
function renderSourceMaps(m: SourceMapSummary, hasSamples: boolean, p: Palette): string[] {
  if (!hasSamples) return [];
  if (!m.enabled) return [p.dim('Source maps: off (--no-source-maps); locations are as recorded')];
  const out: string[] = [];
  const more = (listed: number, total: number): string => (total > listed ? ` and ${total - listed} more` : '');
  if (m.counts.mapped > 0) out.push(p.dim(`Source maps: ${formatCount(m.counts.mapped)} script${m.counts.mapped === 1 ? '' : 's'} mapped to their sources`));
  if (m.counts.missing > 0) {
    out.push(p.yellow(`No source map for ${formatCount(m.counts.missing)} built script${m.counts.missing === 1 ? '' : 's'}; their locations are in the built code:`));
    for (const x of m.missing) out.push(`  ${esc(x.script)}: ${esc(x.reason)}`);
    if (m.counts.missing > m.missing.length) out.push(p.dim(`  …${more(m.missing.length, m.counts.missing)}`));
  }
  if (m.counts.notOnThisMachine > 0) {
    out.push(
      p.dim(`${formatCount(m.counts.notOnThisMachine)} script${m.counts.notOnThisMachine === 1 ? ' is' : 's are'} not on this machine, so not source-mapped: `) +
        m.notOnThisMachine.map(esc).join(', ') +
        p.dim(more(m.notOnThisMachine.length, m.counts.notOnThisMachine)),
    );
  }
  return out;
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
    const name = esc(t.name);
    out.push(`  ${name} (thread ${t.threadId}): ${pct(t.ratio)}${own.length > 0 ? ` (${own.join(', ')})` : ''}`);
  }
  return out;
}

function renderThreadpool(tp: ThreadpoolReport, traceNs: number, p: Palette): string[] {
  const out: string[] = [];
  const size = tp.threadpoolSize === null ? 'size not recorded' : `UV_THREADPOOL_SIZE=${tp.threadpoolSize}`;
  out.push(p.bold('Threadpool') + p.dim(` (${size}; queueing delay of ${formatCount(tp.delay.count)} probes)`));
  if (tp.delay.count === 0) {
    out.push(`  no threadpool probes in the trace: it spans ${formatDuration(traceNs)}${traceNs < SHORT_FOR_PROBES_NS ? ', perhaps shorter than the probe interval (threadpoolProbeIntervalMs, 50 ms by default)' : ''}; or probes were off (threadpoolProbeIntervalMs 0), or the main thread was not traced`);
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
      out.push(`  ${p.red('✖')} p90 at or above ${formatDuration(pr.p90ThresholdNs)} for ${formatDuration(e.durationNs)} from ${timeOfDay(e.startIso)}: p90 up to ${formatDuration(e.peakP90Ns)}, max ${formatDuration(e.maxNs)}`);
    }
    for (const line of pr.advice) out.push(`  → ${line}`);
  } else {
    const brief = pr.totalNs > 0 ? ` (p90 reached it for ${formatDuration(pr.totalNs)}, never for ${formatDuration(pr.sustainNs)} on end)` : '';
    out.push(`  ${tp.bursts.items.length > 0 ? p.yellow('▲') : p.green('✔')} no sustained pressure: p90 stayed under ${formatDuration(pr.p90ThresholdNs)}${brief}`);
  }
  for (const b of tp.bursts.items) {
    out.push(`  ${p.yellow('▲')} burst from ${timeOfDay(b.startIso)} for ${formatDuration(b.durationNs)}: ${formatCount(b.probes)} delayed probe${b.probes === 1 ? '' : 's'} waited ${formatDuration(b.queuedNs)} in all, max ${formatDuration(b.maxNs)}`);
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
