// The headline answers of a report, worst first: which loop was busy in long tasks and running what, which workers
// idled while work waited, whether the threadpool was the bottleneck, and whether the trace itself
// lost data. Each finding carries the time at stake, which orders them.

import { frameLocation, functionName } from './attribution.js';
import { formatCount, formatDuration, formatPercent, timeOfDay } from './format.js';
import { listWorkers, poolKey } from './idle-workers.js';
import { untracedWorkersMessage } from '../format/reserved-marks.js';
import type { BlockingSite, DecodeInfo, Finding, IdleWorkersReport, LongTask, LongTasksReport, Severity, ThreadReport, ThreadpoolReport } from './report.js';

/** A long task this many times the threshold (or a second or more) is critical. */
const CRITICAL_LONG_TASK_FACTOR = 10;
const CRITICAL_LONG_TASK_NS = 1e9;

/** A task that spent at least this share in GC pauses says so. */
const GC_NOTE_SHARE = 0.1;

/** A site that took at least this share of a thread's sampled time is named as what kept it busy. */
const SOLE_BLOCKER_SHARE = 0.9;

const SEVERITY_RANK: Record<Severity, number> = { critical: 0, warning: 1, info: 2 };

export interface FindingInputs {
  threads: readonly ThreadReport[];
  longTasks: LongTasksReport;
  idleWorkers: IdleWorkersReport;
  threadpool: ThreadpoolReport;
  decode: DecodeInfo;
  /** Per thread, the blocking site that took most of its sampled long-task time. */
  threadBlocking?: ReadonlyMap<number, { site: BlockingSite; weightNs: number; share: number } | undefined>;
  /** Workers the recorder saw created but could not trace. */
  untracedWorkers?: number;
  /** A pool this busy (options.saturation) is at capacity. Default 0.8. */
  saturation?: number;
}

export function buildFindings(input: FindingInputs): Finding[] {
  const findings: Finding[] = [];
  // Background workers doing the work they exist for are a capacity question, by pool.
  const background = new Map<string, ThreadReport[]>();
  for (const thread of input.threads) {
    if (thread.role !== 'background') continue;
    const key = poolKey(thread.name);
    background.set(key, [...(background.get(key) ?? []), thread]);
  }
  const saturation = input.saturation ?? 0.8;
  const atCapacity = new Set<number>();
  for (const [script, group] of background) {
    const withTasks = group.filter((t) => t.longTasks.count > 0);
    const measured = group.filter((t) => t.utilization !== null);
    if (withTasks.length === 0 || measured.length === 0) continue;
    const busyNs = measured.reduce((sum, t) => sum + t.busyNs, 0);
    const utilization = busyNs / measured.reduce((sum, t) => sum + t.busyNs + t.blockedNs, 0);
    if (utilization < saturation) continue;
    for (const t of group) atCapacity.add(t.threadId);
    const count = withTasks.reduce((sum, t) => sum + t.longTasks.count, 0);
    const totalNs = withTasks.reduce((sum, t) => sum + t.longTasks.totalNs, 0);
    const worstThread = [...withTasks].sort((a, b) => b.longTasks.maxNs - a.longTasks.maxNs)[0]!;
    const waitingShare = Math.max(...group.map((t) => (t.iterations > 0 ? t.events.pollsWithWaiting / t.iterations : 0)));
    const who = group.length === 1 ? worstThread.name : `Worker pool ${script} (${group.length} workers)`;
    const queue = waitingShare > 0 ? `; ${formatPercent(waitingShare)} of its polls found messages or events already waiting (work queued for it)` : '';
    findings.push({
      severity: 'warning',
      kind: 'worker-capacity',
      threadId: worstThread.threadId,
      message:
        `${who} was at capacity, ${formatPercent(utilization)} busy with its own work (${formatCount(count)} long task${count === 1 ? '' : 's'}, ${formatDuration(totalNs)} in all, the worst ${formatDuration(worstThread.longTasks.maxNs)} on ${worstThread.name})${queue}. ` +
        `It blocks no request-serving loop; if its jobs wait too long, add workers or make jobs smaller (--serving-threads if it serves requests)`,
      impactNs: totalNs,
    });
  }
  for (const thread of input.threads) {
    if (thread.longTasks.count === 0 || atCapacity.has(thread.threadId)) continue;
    const worst = input.longTasks.items.find((t) => t.threadId === thread.threadId);
    const { count, totalNs, maxNs } = thread.longTasks;
    const critical = maxNs >= Math.min(CRITICAL_LONG_TASK_NS, CRITICAL_LONG_TASK_FACTOR * input.longTasks.thresholdNs);
    const tasks = count === 1 ? 'a long task' : `${formatCount(count)} long tasks (${formatDuration(totalNs)} in all)`;
    const detail = worst === undefined ? `the worst ${formatDuration(maxNs)}` : `the worst ${describeTask(worst)}`;
    const found = input.threadBlocking?.get(thread.threadId);
    // A placeholder site (no JavaScript on the stack, or a stack missing from the trace) names no function.
    const top = found !== undefined && found.site.frame.url === '' && found.site.frame.line === 0 && found.site.frame.function.startsWith('(') ? undefined : found;
    const at = `of at least ${formatDuration(input.longTasks.thresholdNs)}`;
    let message: string;
    const servesRequests = thread.role !== 'background';
    if (!servesRequests) {
      findings.push({
        severity: 'info',
        kind: 'long-task',
        threadId: thread.threadId,
        message: `${thread.name}, a background worker, ran ${tasks} ${at}${top === undefined ? '' : `, ${formatPercent(top.share)} of the sampled time in ${siteSentence(top.site)}`}; ${detail}. It serves no requests (--serving-threads if it does)`,
        impactNs: totalNs,
      });
      continue;
    }
    if (top === undefined) message = `${thread.name} was busy in ${tasks} ${at}; ${detail}`;
    else if (top.share >= SOLE_BLOCKER_SHARE) {
      const inTasks = count === 1 ? `in a long task ${at}` : `in ${formatCount(count)} long tasks ${at}`;
      message = `${thread.name} was kept busy ${formatDuration(totalNs)} by ${siteSentence(top.site)} ${inTasks}; ${detail}`;
    } else {
      message = `${thread.name} was busy in ${tasks} ${at}, ${formatPercent(top.share)} of the sampled time in ${siteSentence(top.site)}; ${detail}`;
    }
    findings.push({
      severity: critical ? 'critical' : 'warning',
      kind: 'long-task',
      threadId: thread.threadId,
      message,
      impactNs: totalNs,
    });
  }
  for (const pool of input.idleWorkers.pools) {
    if (!pool.unbalanced) continue;
    const busiest = pool.members.find((m) => m.threadId === pool.busiestThreadId)!;
    // The capacity the other workers left idle while the busiest one carried the load.
    const unusedNs = pool.members.filter((m) => m !== busiest).reduce((sum, m) => sum + pool.spanNs * (1 - (m.utilization ?? 0)), 0);
    findings.push({
      severity: 'warning',
      kind: 'unbalanced-pool',
      threadId: pool.busiestThreadId,
      message: `Unbalanced worker pool: ${pool.summary}`,
      impactNs: Math.round(unusedNs),
    });
  }
  const episodes = input.idleWorkers.episodes;
  if (episodes.count > 0) {
    const worst = episodes.items[0]!;
    const idleNames = [...new Set(episodes.items.map((e) => e.threadName))];
    const why = worst.peer.reason === 'saturated' ? `was saturated (${formatPercent(worst.peer.utilization)} busy)` : `had events waiting (${formatCount(worst.peer.pollsWithWaiting)} polls behind)`;
    findings.push({
      severity: 'warning',
      kind: 'idle-worker',
      threadId: worst.threadId,
      message:
        `Idle workers while work waited: ${listWorkers(idleNames)} sat idle ${formatDuration(episodes.totalIdleNs)} in ${formatCount(episodes.count)} episode${episodes.count === 1 ? '' : 's'}; ` +
        `worst ${worst.threadName} idle ${formatDuration(worst.idleNs)} from ${timeOfDay(worst.startIso)} while ${worst.peer.name} ${why}`,
      impactNs: episodes.totalIdleNs,
    });
  }
  const pressure = input.threadpool.pressure;
  if (pressure.flagged) {
    const longest = pressure.episodes[0]!;
    const peak = Math.max(...pressure.episodes.map((e) => e.peakP90Ns));
    const sustainedNs = pressure.episodes.reduce((sum, e) => sum + e.durationNs, 0);
    const size = input.threadpool.threadpoolSize;
    findings.push({
      severity: peak >= CRITICAL_LONG_TASK_FACTOR * pressure.p90ThresholdNs ? 'critical' : 'warning',
      kind: 'threadpool-pressure',
      threadId: null,
      message:
        `Work queued for the libuv threadpool for ${formatDuration(sustainedNs)}` +
        `${pressure.episodes.length > 1 ? ` in ${pressure.episodes.length} episodes` : ''}, from ${timeOfDay(longest.startIso)}: ` +
        `the p90 queueing delay of each second reached ${formatDuration(pressure.p90ThresholdNs)} (up to ${formatDuration(peak)}, longest wait ${formatDuration(Math.max(...pressure.episodes.map((e) => e.maxNs)))})` +
        `${size === null ? '' : ` with UV_THREADPOOL_SIZE=${size}`}`,
      impactNs: sustainedNs,
    });
  }
  const bursts = input.threadpool.bursts.items;
  if (bursts.length > 0) {
    const worst = bursts[0]!;
    const size = input.threadpool.threadpoolSize;
    findings.push({
      severity: 'warning',
      kind: 'threadpool-burst',
      threadId: null,
      message:
        `The libuv threadpool was saturated in a short burst${bursts.length > 1 ? ` (${bursts.length} bursts; the worst)` : ''}: from ${timeOfDay(worst.startIso)} for ${formatDuration(worst.durationNs)}, ` +
        `${formatCount(worst.probes)} probe${worst.probes === 1 ? '' : 's'} waited ${formatDuration(worst.queuedNs)} in all, up to ${formatDuration(worst.maxNs)} (median over the trace ${formatDuration(input.threadpool.delay.p50Ns)})` +
        `${size === null ? '' : ` with UV_THREADPOOL_SIZE=${size}`}; too short for sustained pressure, long enough for requests using the pool (fs, dns.lookup, crypto, zlib) to wait`,
      impactNs: bursts.reduce((sum, b) => sum + b.queuedNs, 0),
    });
  }
  const dropped = input.threads.filter((t) => t.droppedRecords > 0);
  if (dropped.length > 0) {
    const total = dropped.reduce((sum, t) => sum + t.droppedRecords, 0);
    findings.push({
      severity: 'warning',
      kind: 'dropped-records',
      threadId: dropped.length === 1 ? dropped[0]!.threadId : null,
      message: `${formatCount(total)} records were dropped (a thread's buffer was full) on ${dropped.map((t) => t.name).join(', ')}: stretches around the gaps are not measured`,
      impactNs: 0,
    });
  }
  const untraced = input.untracedWorkers ?? 0;
  if (untraced > 0) {
    findings.push({ severity: 'warning', kind: 'untraced-workers', threadId: null, message: untracedWorkersMessage(untraced), impactNs: 0 });
  }
  const d = input.decode;
  if (d.corruptFrames > 0 || d.truncated > 0) {
    const parts = [d.corruptFrames > 0 ? `${d.corruptFrames} corrupt frame${d.corruptFrames === 1 ? '' : 's'} skipped` : '', d.truncated > 0 ? `${d.truncated} truncated tail${d.truncated === 1 ? '' : 's'}` : ''].filter(Boolean);
    findings.push({
      severity: 'info',
      kind: 'damaged-trace',
      threadId: null,
      message: `The trace is damaged: ${parts.join(', ')}; the records of intact frames were analyzed`,
      impactNs: 0,
    });
  }
  // Within a severity, what request-serving loops felt leads: their long tasks before anything else.
  const roles = new Map(input.threads.map((t) => [t.threadId, t.role] as const));
  const userRank = (f: Finding): number => (f.kind === 'long-task' && f.threadId !== null && roles.get(f.threadId) !== 'background' ? 0 : 1);
  findings.sort((a, b) => SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] || userRank(a) - userRank(b) || b.impactNs - a.impactNs);
  // An unbalanced pool is the usual cause of idle workers: name the cause before its symptom.
  const idle = findings.findIndex((f) => f.kind === 'idle-worker');
  const pool = findings.findIndex((f) => f.kind === 'unbalanced-pool');
  if (idle >= 0 && pool > idle && findings[pool]!.severity === findings[idle]!.severity) {
    const [moved] = findings.splice(pool, 1);
    findings.splice(idle, 0, moved!);
  }
  return findings;
}

/** "buildReport (/srv/src/report.ts:88)", or "sendPage (/srv/src/http.ts:51) in JSON.stringify" when the top frames are not user code. */
export function siteSentence(site: BlockingSite): string {
  const where = frameLocation(site.frame, false);
  const head = where === '' ? functionName(site.frame) : `${functionName(site.frame)} (${where})`;
  return site.above.length === 0 ? head : `${head} in ${site.above.map(functionName).join(' ← ')}`;
}

/** "2.80 s at 14:03:07.123 in timers/immediates, CPU-bound (97% on CPU)". */
export function describeTask(task: LongTask): string {
  const phase = task.phase === 'io-callbacks' ? 'I/O callbacks' : 'timers/immediates';
  const split = task.split;
  // With scheduler statistics, off-CPU time says whether the thread waited in a call or for a core.
  const offCpu =
    split !== null && split.runnableNs !== null && split.waitingNs !== null && split.wallNs > 0
      ? `${formatPercent(split.waitingNs / split.wallNs)} waiting in a blocking call, ${formatPercent(split.runnableNs / split.wallNs)} runnable without a core`
      : 'a synchronous wait or descheduled';
  const cpu =
    task.verdict === 'unknown'
      ? 'CPU not measured'
      : task.verdict === 'cpu-bound'
        ? `CPU-bound (${formatPercent(task.cpu!.ratio)} on CPU)`
        : task.verdict === 'off-cpu'
          ? `off CPU (${formatPercent(task.cpu!.ratio)} on CPU: ${offCpu})`
          : `${formatPercent(task.cpu!.ratio)} on CPU${split !== null && split.runnableNs !== null ? ` (${offCpu})` : ''}`;
  const still = task.endedBy === 'trace-end' ? ' (still running when the trace ends)' : '';
  const gc = task.attribution.gc;
  const gcNote = gc !== null && gc.share >= GC_NOTE_SHARE ? `, ${formatPercent(gc.share)} of it in GC (${formatCount(gc.pauses)} pause${gc.pauses === 1 ? '' : 's'})` : '';
  const n = task.attribution.callbacks;
  const many = n !== null && n > 1 ? `, made of ${formatCount(n)} callbacks run back to back` : '';
  return `${formatDuration(task.durationNs)}${still} at ${timeOfDay(task.startIso)} in ${phase}${many}, ${cpu}${gcNote}`;
}
