// The loop hooks of the native recorder, observed from outside: fixture programs run known
// workloads in child processes and the trace they leave is checked against the ground truth
// they report (monotonic timestamps on the trace's own clock, CPU time). Timing checks are
// correctness checks with tolerances, made to hold on a loaded two-core machine.

import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MS,
  busyStretches,
  countTypes,
  decodeTraceFile,
  expectCleanExit,
  expectNoDiagnostics,
  median,
  ofType,
  pollSequence,
  polls,
  removeTempDirs,
  requireBuild,
  result,
  runFixture,
  tempDir,
  traceTime,
  type Trace,
} from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

function header(trace: Trace) {
  const h = trace.headers[0];
  if (h === undefined) throw new Error('the trace has no header');
  return h;
}

describe('loop hooks: one record pair per iteration', () => {
  const TIMERS = 40;
  const IMMEDIATES = 300;
  let trace: Trace;
  let times: { timersFrom: string; timersTo: string; immediatesFrom: string; immediatesTo: string };

  beforeAll(async () => {
    const path = join(tempDir(), 'turns.bin');
    const run = await runFixture('loop-turns.mjs', { path, timers: TIMERS, immediates: IMMEDIATES });
    expectCleanExit(run);
    times = result(run);
    trace = decodeTraceFile(path);
  });

  it('decodes cleanly, with the main thread in the header', () => {
    expectNoDiagnostics(trace);
    expect(trace.headers).toHaveLength(1);
    expect(header(trace).threads).toEqual([{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }]);
  });

  it('POLL_START and POLL_END strictly alternate, with no DROPPED or RESUMED', () => {
    const seq = pollSequence(trace.records, 1);
    expect(seq.violations).toEqual([]);
    expect(seq.starts).toBeGreaterThan(TIMERS + IMMEDIATES);
    expect(seq.starts - seq.ends).toBeGreaterThanOrEqual(0);
    expect(seq.starts - seq.ends).toBeLessThanOrEqual(1);
    const types = countTypes(trace.records);
    expect(types['dropped']).toBeUndefined();
    expect(types['resumed']).toBeUndefined();
    // Every record of the main thread is in time order.
    const main = trace.records.filter((r) => r.threadId === 1);
    for (let i = 1; i < main.length; i++) expect(main[i]!.timeNs).toBeGreaterThanOrEqual(main[i - 1]!.timeNs);
  });

  it('N setTimeout(1) turns give at least N poll pairs', () => {
    const h = header(trace);
    const from = traceTime(h, times.timersFrom);
    const to = traceTime(h, times.timersTo);
    const pairs = polls(trace.records, 1).filter((p) => p.to >= from && p.to <= to);
    expect(pairs.length).toBeGreaterThanOrEqual(TIMERS - 1);
    // A 1 ms timer takes one or a few iterations (the poll can wake early), never dozens.
    expect(pairs.length).toBeLessThanOrEqual(TIMERS * 4);
  });

  it('N setImmediate turns give N poll pairs, give or take one', () => {
    const h = header(trace);
    const from = traceTime(h, times.immediatesFrom);
    const to = traceTime(h, times.immediatesTo);
    // Each immediate runs in the check phase of its own iteration, right after that iteration's
    // POLL_END: the POLL_ENDs between the first and the last immediate count the iterations.
    const ends = ofType(trace.records, 'pollEnd', 1).filter((r) => r.timeNs >= from && r.timeNs <= to);
    expect(ends.length).toBeGreaterThanOrEqual(IMMEDIATES - 1);
    expect(ends.length).toBeLessThanOrEqual(IMMEDIATES + 1);
    // With immediates pending the poll does not block.
    for (const e of ends) expect(e.blockedNs).toBeLessThan(1 * MS);
  });

  it("POLL_END.eventsWaiting counts this poll's waiting events, not a running total", () => {
    // libuv counts the events of a poll that were already waiting among that poll's events, so
    // per poll eventsWaiting <= events (docs/FORMAT.md 6.1). uv_metrics_info's counters are
    // running totals since the loop started: recording the total breaks this at once.
    const ends = ofType(trace.records, 'pollEnd', 1);
    const bad = ends.filter((e) => e.eventsWaiting > e.events).map((e) => `at ${e.timeNs}: events ${e.events}, eventsWaiting ${e.eventsWaiting}`);
    expect(bad.slice(0, 5), `${bad.length} of ${ends.length} POLL_ENDs`).toEqual([]);
  });

  it('poll phases and busy stretches are well-formed: time runs forward, blockedNs fits in its poll', () => {
    const stretches = busyStretches(trace.records, 1);
    const phases = polls(trace.records, 1);
    expect(stretches.length).toBeGreaterThan(0);
    for (const p of phases) {
      expect(p.to).toBeGreaterThanOrEqual(p.from);
      expect(p.end.blockedNs).toBeLessThanOrEqual(p.to - p.from);
    }
    for (const s of stretches) expect(s.to).toBeGreaterThanOrEqual(s.from);
  });
});

describe('loop hooks: busy, idle and blocked stretches of 200 ms', () => {
  const STRETCH_MS = 200;
  let trace: Trace;
  let truth: {
    spin: { from: string; to: string; wallMs: number; cpuMs: number };
    idle: { from: string; to: string };
    blocked: { from: string; to: string; cpuMs: number };
  };

  beforeAll(async () => {
    const path = join(tempDir(), 'timing.bin');
    const run = await runFixture('loop-timing.mjs', { path, ms: STRETCH_MS });
    expectCleanExit(run);
    truth = result(run);
    trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    expect(pollSequence(trace.records, 1).violations).toEqual([]);
  });

  /** The busy stretch (POLL_END -> POLL_START) of the main thread that contains [from, to]. */
  function stretchAround(from: string, to: string) {
    const h = header(trace);
    const a = traceTime(h, from);
    const b = traceTime(h, to);
    const found = busyStretches(trace.records, 1).filter((s) => s.from <= a && s.to >= b);
    expect(found, `one busy stretch must contain [${a}, ${b}]`).toHaveLength(1);
    return { stretch: found[0]!, truthNs: b - a };
  }

  it('a 200 ms CPU spin in a callback is one busy stretch of 200 ms (±5%)', () => {
    const { stretch, truthNs } = stretchAround(truth.spin.from, truth.spin.to);
    const ns = stretch.to - stretch.from;
    expect(truthNs).toBeGreaterThanOrEqual(STRETCH_MS * MS);
    expect(ns).toBeGreaterThanOrEqual(STRETCH_MS * 0.95 * MS);
    expect(ns).toBeLessThanOrEqual(STRETCH_MS * 1.05 * MS);
    // The stretch is the spin plus the timer phase around it: a few ms at most.
    expect(ns - truthNs).toBeLessThan(0.05 * STRETCH_MS * MS);
  });

  it('the spin has a THREAD_CPU record at its POLL_START: wall ≈ the stretch, CPU a large part of it', () => {
    const { stretch } = stretchAround(truth.spin.from, truth.spin.to);
    const cpu = stretch.cpu;
    expect(cpu, 'THREAD_CPU stamped at the POLL_START that ends the busy stretch').toBeDefined();
    const stretchNs = stretch.to - stretch.from;
    // wallNs reaches back to the latest CPU sample, which is at or before the stretch's start.
    expect(cpu!.wallNs).toBeGreaterThanOrEqual(stretchNs);
    expect(cpu!.wallNs).toBeLessThanOrEqual(stretchNs + 10 * MS);
    expect(cpu!.cpuNs).toBeLessThanOrEqual(cpu!.wallNs * 1.01);
    // The process's own CPU time around the spin is the ground truth. On a dedicated core it
    // is the whole wall time; on a shared machine it can be half or less, so the thread's CPU
    // time is checked against it, and against the wall time with a lenient bound.
    const truthCpuNs = truth.spin.cpuMs * MS;
    expect(cpu!.cpuNs).toBeGreaterThanOrEqual(truthCpuNs * 0.8);
    expect(cpu!.cpuNs).toBeLessThanOrEqual(truthCpuNs * 1.2 + 10 * MS);
    expect(cpu!.cpuNs).toBeGreaterThan(0.25 * cpu!.wallNs);
  });

  it('a lone 200 ms timer is a poll that blocked for 200 ms (±5%)', () => {
    const h = header(trace);
    const a = traceTime(h, truth.idle.from);
    const b = traceTime(h, truth.idle.to);
    const inside = polls(trace.records, 1).filter((p) => p.to > a && p.from < b);
    const longest = inside.reduce((m, p) => (p.end.blockedNs > m.end.blockedNs ? p : m), inside[0]!);
    expect(longest, 'a poll phase inside the idle wait').toBeDefined();
    const blocked = longest.end.blockedNs;
    expect(blocked).toBeGreaterThanOrEqual(STRETCH_MS * 0.95 * MS);
    expect(blocked).toBeLessThanOrEqual(STRETCH_MS * 1.05 * MS);
    expect(blocked).toBeLessThanOrEqual(longest.to - longest.from);
    expect(longest.end.eventsWaiting).toBe(0);
    // Blocking is the whole of the wait: no other poll in it blocked for long.
    const rest = inside.filter((p) => p !== longest).reduce((s, p) => s + p.end.blockedNs, 0);
    expect(rest).toBeLessThan(0.05 * STRETCH_MS * MS);
  });

  it('a 200 ms synchronous sleep is a busy stretch whose CPU time is far below its wall time', () => {
    const { stretch, truthNs } = stretchAround(truth.blocked.from, truth.blocked.to);
    const ns = stretch.to - stretch.from;
    expect(ns).toBeGreaterThanOrEqual(STRETCH_MS * 0.95 * MS);
    expect(ns).toBeLessThanOrEqual(STRETCH_MS * 1.05 * MS);
    expect(ns - truthNs).toBeLessThan(0.05 * STRETCH_MS * MS);
    const cpu = stretch.cpu;
    expect(cpu, 'THREAD_CPU stamped at the POLL_START that ends the busy stretch').toBeDefined();
    expect(cpu!.wallNs).toBeGreaterThanOrEqual(ns);
    expect(cpu!.cpuNs).toBeLessThan(0.3 * cpu!.wallNs);
    // Blocked versus CPU-bound: the two stretches of the same length are told apart.
    const spin = stretchAround(truth.spin.from, truth.spin.to).stretch.cpu!;
    expect(spin.cpuNs).toBeGreaterThan(cpu!.cpuNs * 3);
  });
});

describe('loop hooks: CPU windows across short blocking polls', () => {
  // A CPU baseline is renewed only every 2 ms, so the THREAD_CPU of a spin that follows a 1 ms
  // poll may measure from before that poll. The poll's blocked time must not count as the
  // stretch's off-CPU time: a CPU-bound spin reads close to 100% on CPU, not spin / (spin + wait).
  const COUNT = 40;
  it('a CPU-bound stretch after a blocking poll reads CPU-bound', async () => {
    const path = join(tempDir(), 'cpu-window.bin');
    const run = await runFixture('loop-cpu-window.mjs', { path, count: COUNT, waitMs: 1, spinMs: 4 });
    expectCleanExit(run);
    const { windows } = result<{ windows: { fromNs: string; toNs: string }[] }>(run);
    const trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    const h = header(trace);
    const from = traceTime(h, windows[0]!.fromNs);
    const to = traceTime(h, windows.at(-1)!.toNs);
    const spins = ofType(trace.records, 'threadCpu', 1).filter((r) => r.timeNs >= from && r.timeNs <= to && r.wallNs >= 3 * MS);
    expect(spins.length, 'THREAD_CPU records of the spins').toBeGreaterThanOrEqual(COUNT * 0.8);
    const ratios = spins.map((r) => r.cpuNs / r.wallNs);
    // On a loaded machine a spin can lose its core for a while (that is off-CPU time, rightly),
    // so the median, not each one.
    expect(median(ratios), `cpu/wall of the spins: ${ratios.map((r) => r.toFixed(2)).join(' ')}`).toBeGreaterThanOrEqual(0.9);
  });

  // With cpuThresholdMs raised to 50, the baseline is renewed every 5 ms (a tenth), not every
  // 2 ms: a THREAD_CPU's window may then begin up to 5 ms before its stretch. A 60 ms wait right
  // after CPU-bound iterations still reads as a wait. (Renewed only at the threshold, the window
  // could reach 50 ms into the busy iterations and read about 45% CPU.)
  it('with a raised threshold, a wait right after busy iterations reads as a wait', async () => {
    const path = join(tempDir(), 'cpu-window-raised.bin');
    const count = 10;
    const run = await runFixture('loop-cpu-window.mjs', { path, count, mode: 'wait-after-busy', cpuThresholdMs: 50, busyMs: 100, waitMs: 60 });
    expectCleanExit(run);
    const { windows } = result<{ windows: { fromNs: string; toNs: string }[] }>(run);
    const trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
    const h = header(trace);
    const records = ofType(trace.records, 'threadCpu', 1);
    const found = windows.map((w) => {
      const to = traceTime(h, w.toNs);
      // The THREAD_CPU of the wait's stretch, written by the next hook.
      return records.find((r) => r.timeNs >= to && r.timeNs - to < 20 * MS && r.wallNs >= 55 * MS);
    });
    const waits = found.filter((r) => r !== undefined);
    expect(waits.length, 'THREAD_CPU records of the waits').toBeGreaterThanOrEqual(count * 0.8);
    // The window's start: at most a tenth of the threshold (5 ms) plus one busy iteration before
    // the wait, and some scheduling slack.
    for (const [i, r] of found.entries()) {
      if (r === undefined) continue;
      const waitNs = traceTime(h, windows[i]!.toNs) - traceTime(h, windows[i]!.fromNs);
      expect(r.wallNs - waitNs, `window beyond wait ${i}`).toBeLessThan(10 * MS);
    }
    const ratios = waits.map((r) => r.cpuNs / r.wallNs);
    expect(median(ratios), `cpu/wall of the waits: ${ratios.map((r) => r.toFixed(2)).join(' ')}`).toBeLessThan(0.2);
  });
});

describe('loop hooks: queue samples', () => {
  const INTERVAL_MS = 20;
  const SERVERS = 5;
  let trace: Trace;
  let truth: { from: string; to: string; closedAt: string; idleFrom: string; idleTo: string };

  beforeAll(async () => {
    const path = join(tempDir(), 'queue.bin');
    const run = await runFixture('loop-queue.mjs', { path, intervalMs: INTERVAL_MS, servers: SERVERS, durationMs: 400, idleMs: 1500 });
    expectCleanExit(run);
    truth = result(run);
    trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
  });

  it('appear at the configured interval while the loop is active', () => {
    const samples = ofType(trace.records, 'queueSample', 1);
    const h = header(trace);
    const inWindow = samples.filter((s) => s.timeNs >= traceTime(h, truth.from) && s.timeNs <= traceTime(h, truth.to));
    // 400 ms at 20 ms: 20 samples; timers slip on a loaded machine, never run early.
    expect(inWindow.length).toBeGreaterThanOrEqual(12);
    expect(inWindow.length).toBeLessThanOrEqual(21);
    const gaps = inWindow.slice(1).map((s, i) => s.timeNs - inWindow[i]!.timeNs);
    expect(median(gaps)).toBeGreaterThanOrEqual(INTERVAL_MS * 0.9 * MS);
    expect(median(gaps)).toBeLessThanOrEqual(INTERVAL_MS * 1.5 * MS);
  });

  it('come only with the idle timer (every 2 s) and the loop\'s own iterations while it sleeps, not at the interval', () => {
    const h = header(trace);
    const idle = ofType(trace.records, 'queueSample', 1).filter((s) => s.timeNs >= traceTime(h, truth.idleFrom) && s.timeNs <= traceTime(h, truth.idleTo));
    // 1.5 s at 20 ms would be 75 samples. Asleep, a sample comes only with an iteration the loop
    // makes: the idle timer's (one every 2 s), the one that ends the wait, and Node's own
    // (V8's delayed tasks wake a loop now and then). At least one: an idle stretch is not a hole.
    expect(idle.length).toBeGreaterThanOrEqual(1);
    expect(idle.length).toBeLessThanOrEqual(6);
    const iterations = ofType(trace.records, 'pollEnd', 1).filter((s) => s.timeNs >= traceTime(h, truth.idleFrom) && s.timeNs <= traceTime(h, truth.idleTo));
    expect(idle.length).toBeLessThanOrEqual(iterations.length);
  });

  it('count the open servers among the active handles, and drop when they close', () => {
    const h = header(trace);
    const samples = ofType(trace.records, 'queueSample', 1);
    const open = samples.filter((s) => s.timeNs >= traceTime(h, truth.from) && s.timeNs <= traceTime(h, truth.to));
    const closed = samples.filter((s) => s.timeNs >= traceTime(h, truth.closedAt));
    expect(open.length).toBeGreaterThan(0);
    expect(closed.length).toBeGreaterThan(0);
    for (const s of open) expect(s.activeHandles).toBeGreaterThanOrEqual(SERVERS);
    // Telemetry's own handles are unref'd and not counted: with the servers closed, the loop is
    // left with the fixture's one pending timer.
    for (const s of closed) expect(s.activeHandles).toBeLessThanOrEqual(open[0]!.activeHandles - SERVERS);
    for (const s of samples) expect(s.activeRequests).toBeLessThan(10);
    // Events waiting at the last poll: the servers are idle, so none; never a running total.
    const maxEvents = Math.max(0, ...ofType(trace.records, 'pollEnd', 1).map((e) => e.events));
    for (const s of samples) expect(s.eventsWaiting).toBeLessThanOrEqual(maxEvents);
  });
});

describe('loop hooks: threadpool probe', () => {
  let trace: Trace;
  let truth: {
    idleFrom: string;
    idleTo: string;
    busyFrom: string;
    deadline: string;
    busyTo: string;
    tasks: number;
    sleepFrom: string;
    sleepTo: string;
    workerFrom: string;
    workerTo: string;
  };

  beforeAll(async () => {
    const path = join(tempDir(), 'pool.bin');
    const run = await runFixture('loop-threadpool.mjs', { path, probeMs: 5, durationMs: 400, concurrency: 12, taskMs: 10, idleMs: 2500, workerMs: 3000 });
    expectCleanExit(run);
    truth = result(run);
    trace = decodeTraceFile(path);
    expectNoDiagnostics(trace);
  });

  /** Queue delays of the probes submitted within [from, to] (submitted = stamped - delay). */
  function delays(from: string, to: string): number[] {
    const h = header(trace);
    const a = traceTime(h, from);
    const b = traceTime(h, to);
    return ofType(trace.records, 'threadpoolProbe', 1)
      .filter((r) => r.timeNs - r.queueDelayNs >= a && r.timeNs - r.queueDelayNs <= b)
      .map((r) => r.queueDelayNs);
  }

  it('probes the idle pool at the configured interval while the loop is active, with a small delay', () => {
    const idle = delays(truth.idleFrom, truth.idleTo);
    // 400 ms at 5 ms: up to 80 probes; a probe waits for the previous one to come back.
    expect(idle.length).toBeGreaterThanOrEqual(30);
    expect(median(idle)).toBeLessThan(2 * MS);
  });

  it('sees the queue delay grow when 12 pbkdf2 chains saturate the 4 pool threads', () => {
    expect(truth.tasks).toBeGreaterThanOrEqual(12);
    // Probes submitted while all 12 chains were still queueing work; after the deadline the
    // queue drains and the delay falls back.
    const busy = delays(truth.busyFrom, truth.deadline);
    const idle = delays(truth.idleFrom, truth.idleTo);
    expect(busy.length).toBeGreaterThanOrEqual(2);
    expect(median(busy)).toBeGreaterThan(5 * MS);
    expect(median(busy)).toBeGreaterThan(median(idle) * 5);
    // Once the chains are done the probe is fast again.
    const after = delays(truth.busyTo, truth.sleepFrom);
    expect(after.length).toBeGreaterThan(0);
    expect(median(after)).toBeLessThan(2 * MS);
  });

  it('probes only with the idle timer (every 2 s) and the loop\'s own iterations while it sleeps and the pool is idle', () => {
    // 2.5 s at 5 ms would be 500 probes. At least the idle timer's (every 2 s): the probe of the
    // iteration that ends the wait completes after it, and its submission time (stamp − delay)
    // then falls after the window.
    const asleep = delays(truth.sleepFrom, truth.sleepTo);
    expect(asleep.length).toBeGreaterThanOrEqual(1);
    expect(asleep.length).toBeLessThanOrEqual(6);
  });

  it('follows pressure that a worker causes while the main loop sleeps, at the configured interval', () => {
    // The first idle-timer probe (within 2 s) finds the queue; from then on the probe comes back
    // at the configured interval while it keeps waiting.
    const h = header(trace);
    const during = delays(truth.workerFrom, truth.workerTo);
    expect(during.length).toBeGreaterThanOrEqual(4);
    expect(median(during)).toBeGreaterThan(5 * MS);
    // Each delayed probe is followed by the next one at the configured interval (5 ms, slipping
    // on a loaded machine), not at the idle timer's second.
    const probes = ofType(trace.records, 'threadpoolProbe', 1).filter(
      (r) => r.timeNs - r.queueDelayNs >= traceTime(h, truth.workerFrom) && r.timeNs <= traceTime(h, truth.workerTo),
    );
    const gaps = probes.slice(1).map((r, i) => r.timeNs - r.queueDelayNs - probes[i]!.timeNs);
    expect(median(gaps)).toBeLessThan(100 * MS);
    const idle = delays(truth.idleFrom, truth.idleTo);
    expect(median(during)).toBeGreaterThan(median(idle) * 5);
    expect(traceTime(h, truth.workerTo) - traceTime(h, truth.workerFrom)).toBeGreaterThan(2000 * MS);
  });
});
