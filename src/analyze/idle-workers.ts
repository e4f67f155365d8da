// Idle workers: worker pools whose load is unbalanced, and episodes where a worker sat blocked in
// its poll while a sibling of its pool (a worker running the same script) was saturated or behind:
// work was waiting for that pool. Another thread's load (a saturated main thread) is no such evidence. Both are computed
// at the end from the threads' totals and their activity series, so the streaming pass stays
// cheap and memory stays bounded by the series cap.

import { formatDuration, formatPercent, formatPercentRange } from './format.js';
import { roundMs } from './long-tasks.js';
import type { IdleEpisode, IdleWorkersReport, PoolMember, WorkerPool } from './report.js';
import { Activity, type ThreadTracker } from './thread-stats.js';
import type { BucketGrid } from './time-series.js';
import { TopK } from './top-k.js';
import type { WallClock } from './wall-clock.js';

/** A worker counts as idle in a bucket when long polls blocked it for at least this share of it. */
const IDLE_SHARE = 0.5;
/** A thread counts as behind when at least this share of its polls found events waiting ... */
const BACKLOG_SHARE = 0.5;
/** ... while it was at least this busy: a worker starting up or shutting down finds events waiting too, but is not behind on work. */
const BACKLOG_BUSY_SHARE = 0.2;
/** A thread needs this share of a bucket measured (busy + blocked) for its utilization to count. */
const COVERAGE_SHARE = 0.5;
/** Pool imbalance: the busiest worker is at least this busy ... */
const UNBALANCED_MIN_UTILIZATION = 0.5;
/** ... and at least this many times as busy as the median of the others. */
const UNBALANCED_FACTOR = 2;

const WORKER_NAME = /^worker (\d+) (.+)$/;

export interface IdleWorkerOptions {
  idleNs: number;
  saturation: number;
  top: number;
  sinceNs: number;
  untilNs: number;
  /** Only pools with a selected member and episodes of selected workers are reported (--thread). */
  selected?: (t: ThreadTracker) => boolean;
}

export function analyzeIdleWorkers(trackers: readonly ThreadTracker[], grid: BucketGrid | undefined, options: IdleWorkerOptions, clock: WallClock): IdleWorkersReport {
  const selected = options.selected ?? (() => true);
  const pools = findPools(trackers).filter((pool) => trackers.some((t) => selected(t) && pool.threadIds.includes(t.threadId)));
  const episodes = grid === undefined ? { count: 0, totalIdleNs: 0, items: [] } : findEpisodes(trackers, grid, options, clock);
  return {
    idleThresholdNs: options.idleNs,
    saturation: options.saturation,
    bucketNs: grid?.widthNs ?? 0,
    pools,
    episodes,
  };
}

/** The script part of a worker's name ("worker 3 (resize.mjs)" -> "(resize.mjs)"), which groups workers into pools. */
export function poolKey(name: string): string {
  return WORKER_NAME.exec(name)?.[2] ?? (name === '' ? 'worker' : name);
}

function isWorker(t: ThreadTracker): boolean {
  return t.kind === 1 || (t.kind === -1 && t.threadId > 1);
}

function utilizationOf(t: { busyNs: number; blockedNs: number }): number | null {
  const total = t.busyNs + t.blockedNs;
  return total > 0 ? t.busyNs / total : null;
}

function findPools(trackers: readonly ThreadTracker[]): WorkerPool[] {
  const groups = new Map<string, ThreadTracker[]>();
  for (const t of trackers) {
    if (!isWorker(t) || t.busyNs + t.blockedNs === 0) continue;
    const key = poolKey(t.name);
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = []));
    group.push(t);
  }
  const pools: WorkerPool[] = [];
  for (const [script, group] of groups) {
    if (group.length < 2) continue;
    const members: PoolMember[] = group.map((t) => ({ threadId: t.threadId, name: t.name, utilization: utilizationOf(t), busyNs: t.busyNs, idleNs: t.blockedNs, blockedNs: t.blockedNs }));
    const byUtilization = [...members].sort((a, b) => (b.utilization ?? 0) - (a.utilization ?? 0) || a.threadId - b.threadId);
    const busiest = byUtilization[0]!;
    const others = byUtilization.slice(1);
    const top = busiest.utilization ?? 0;
    const median = medianOf(others.map((m) => m.utilization ?? 0));
    const unbalanced = top >= UNBALANCED_MIN_UTILIZATION && median * UNBALANCED_FACTOR <= top;
    const spanNs = Math.max(0, Math.min(...group.map((t) => t.lastNs)) - Math.max(...group.map((t) => t.firstNs)));
    const quiet = unbalanced ? others.filter((m) => (m.utilization ?? 0) * UNBALANCED_FACTOR <= top) : others;
    const lo = Math.min(...quiet.map((m) => m.utilization ?? 0));
    const hi = Math.max(...quiet.map((m) => m.utilization ?? 0));
    const summary = unbalanced
      ? `${busiest.name} was ${formatPercent(top)} busy while ${listWorkers(quiet.map((m) => m.name))} ${quiet.length === 1 ? 'was' : 'were'} ${formatPercentRange(lo, hi)} busy over ${formatDuration(spanNs)}`
      : `${group.length} workers ${script}: ${formatPercentRange(Math.min(...members.map((m) => m.utilization ?? 0)), top)} busy over ${formatDuration(spanNs)}`;
    pools.push({
      script,
      threadIds: members.map((m) => m.threadId),
      spanNs,
      members,
      busiestThreadId: busiest.threadId,
      busiestName: busiest.name,
      unbalanced,
      summary,
    });
  }
  return pools.sort((a, b) => Number(b.unbalanced) - Number(a.unbalanced) || b.spanNs - a.spanNs);
}

/** "workers 2, 3, 4 ([eval])" when the names share a script, else the names joined. */
export function listWorkers(names: readonly string[]): string {
  const parsed = names.map((n) => WORKER_NAME.exec(n));
  const script = parsed[0]?.[2];
  if (names.length > 1 && parsed.every((m) => m !== null && m[2] === script)) {
    const ids = parsed.map((m) => Number(m![1])).sort((a, b) => a - b);
    return `workers ${ids.join(', ')} ${script}`;
  }
  return names.join(', ');
}

function medianOf(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface BucketPeer {
  tracker: ThreadTracker;
  busyNs: number;
  coveredNs: number;
  waitingPolls: number;
  score: number;
}

function findEpisodes(trackers: readonly ThreadTracker[], grid: BucketGrid, options: IdleWorkerOptions, clock: WallClock): IdleWorkersReport['episodes'] {
  const width = grid.widthNs;
  let endBucket = 0;
  for (const t of trackers) endBucket = Math.max(endBucket, t.activity.endBucket);
  // Per bucket and per pool, the two busiest saturated or backlogged workers: a worker's peer is the
  // best one of its own pool that is not itself. Work waits for a pool only when the pool is behind;
  // a saturated main thread (or another pool) is not work this worker could have taken.
  const best: Map<string, (BucketPeer | undefined)[]>[] = [];
  const poolOf = new Map(trackers.filter(isWorker).map((t) => [t, poolKey(t.name)] as const));
  for (let b = 0; b < endBucket; b++) {
    const pools = new Map<string, (BucketPeer | undefined)[]>();
    const lo = Math.max(grid.startOf(b), options.sinceNs);
    const hi = Math.min(grid.startOf(b + 1), options.untilNs);
    const span = hi - lo;
    for (const t of trackers) {
      const pool = poolOf.get(t);
      if (pool === undefined) continue;
      const busyNs = t.activity.get(Activity.BusyNs, b);
      const coveredNs = busyNs + t.activity.get(Activity.BlockedNs, b);
      if (span <= 0 || coveredNs < COVERAGE_SHARE * span) continue;
      const polls = t.activity.get(Activity.Polls, b);
      const waitingPolls = t.activity.get(Activity.WaitingPolls, b);
      const saturated = busyNs >= options.saturation * coveredNs;
      const backlog = polls >= 2 && waitingPolls >= BACKLOG_SHARE * polls && busyNs >= BACKLOG_BUSY_SHARE * coveredNs;
      if (!saturated && !backlog) continue;
      const peer = { tracker: t, busyNs, coveredNs, waitingPolls, score: busyNs / coveredNs };
      let top = pools.get(pool);
      if (top === undefined) pools.set(pool, (top = [undefined, undefined]));
      if (top[0] === undefined || peer.score > top[0].score) {
        top[1] = top[0];
        top[0] = peer;
      } else if (top[1] === undefined || peer.score > top[1].score) top[1] = peer;
    }
    best.push(pools);
  }

  const worst = new TopK<IdleEpisode>(options.top, (e) => e.idleNs);
  let count = 0;
  let totalIdleNs = 0;
  for (const w of trackers) {
    if (!isWorker(w) || w.activity.firstBucket < 0 || (options.selected !== undefined && !options.selected(w))) continue;
    let open: { startBucket: number; endBucket: number; idleNs: number; peers: Map<ThreadTracker, BucketPeer> } | null = null;
    const close = (): void => {
      if (open === null) return;
      const startNs = Math.max(grid.startOf(open.startBucket), options.sinceNs, w.firstNs);
      const endNs = Math.min(grid.startOf(open.endBucket), options.untilNs, w.lastNs);
      const episode = open;
      open = null;
      if (endNs - startNs < options.idleNs) return;
      const peer = [...episode.peers.values()].sort((a, b) => b.busyNs - a.busyNs)[0]!;
      const utilization = peer.busyNs / peer.coveredNs;
      count++;
      totalIdleNs += episode.idleNs;
      worst.offer({
        threadId: w.threadId,
        threadName: w.name,
        startNs,
        endNs,
        durationNs: endNs - startNs,
        startUnixMs: roundMs(clock.unixMs(startNs)),
        startIso: clock.iso(startNs),
        idleNs: episode.idleNs,
        peer: {
          threadId: peer.tracker.threadId,
          name: peer.tracker.name,
          utilization,
          pollsWithWaiting: peer.waitingPolls,
          reason: utilization >= options.saturation ? 'saturated' : 'events-waiting',
        },
      });
    };
    for (let b = w.activity.firstBucket; b < w.activity.endBucket; b++) {
      const idleNs = w.activity.get(Activity.IdleNs, b);
      const top = best[b]!.get(poolOf.get(w)!) ?? [undefined, undefined];
      const peer = top[0]?.tracker === w ? top[1] : top[0];
      if (idleNs < IDLE_SHARE * width || peer === undefined) {
        close();
        continue;
      }
      if (open === null) open = { startBucket: b, endBucket: b + 1, idleNs: 0, peers: new Map() };
      open.endBucket = b + 1;
      open.idleNs += idleNs;
      const sum = open.peers.get(peer.tracker);
      if (sum === undefined) open.peers.set(peer.tracker, { ...peer });
      else {
        sum.busyNs += peer.busyNs;
        sum.coveredNs += peer.coveredNs;
        sum.waitingPolls += peer.waitingPolls;
      }
    }
    close();
  }
  return { count, totalIdleNs, items: worst.sorted() };
}
