// Micro-benchmarks of the trace codec (src/format): encode and decode throughput on a synthetic
// event-loop trace, CRC-32C speed, and bytes per record.
//
//   npm run bench                      # build out/ and run
//   node out/bench/format.bench.js [--records=N] [--rounds=N] [--time=MS] [--only=TEXT] [--write=PATH] [--check]
//   node --cpu-prof --cpu-prof-dir=/tmp/prof out/bench/format.bench.js --only=encode --rounds=1
//
// --check exits with status 1 when a throughput bar is missed (for CI on a quiet machine; on
// shared cores the numbers are noisy, so the default is to print PASS/FAIL and exit 0).
//
// The trace: 1 M records of a loaded HTTP server's main loop and three workers (POLL_START and
// POLL_END pairs with occasional THREAD_CPU, QUEUE_SAMPLE and THREADPOOL_PROBE), encoded as a
// writer thread would: it drains each thread's ring every 10 ms of trace time into that thread's
// TraceEncoder and closes frames near TARGET_FRAME_BODY_BYTES.
//
// The bar (issue text): decode >= 30 M records/s and encode >= 30 M records/s on synthetic loop
// records. Each task runs in several interleaved rounds (encode, decode, decode chunked, crc,
// encode, ...) so that a noisy neighbour hurts all of them alike; the figure reported is the
// median over the samples of all rounds.

import { writeFileSync } from 'node:fs';
import { Bench } from 'tinybench';
import {
  FRAME_HEADER_BYTES,
  MAIN_THREAD_ID,
  RecordCode,
  TARGET_FRAME_BODY_BYTES,
  TraceDecoder,
  TraceEncoder,
  crc32c,
  type TraceHeaderInit,
  type TraceRecord,
} from '../src/format/index.js';

// ---------------------------------------------------------------------------------------------
// Options

function numberArg(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return fallback;
  const value = Number(arg.slice(name.length + 3));
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number, got ${arg}`);
  return value;
}

const RECORDS = Math.floor(numberArg('records', 1_000_000));
const ROUNDS = Math.floor(numberArg('rounds', 5));
/** Time budget per task per round, in ms. */
const TASK_MS = numberArg('time', 900);
const CHECK = process.argv.includes('--check');
/** --only=TEXT runs only the tasks whose name contains TEXT (for profiling one of them). */
const ONLY = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
/** --write=PATH saves the synthetic trace, for profiling or trying the analysis tools on it. */
const WRITE = process.argv.find((a) => a.startsWith('--write='))?.slice('--write='.length);
const BAR_RECORDS_PER_SEC = 30e6;
const CHUNK_BYTES = 64 << 10;
/** Worker threads besides the main thread. */
const WORKERS = 3;
/** How often the simulated writer drains the threads' rings into their encoders. */
const DRAIN_INTERVAL_NS = 10_000_000;

// ---------------------------------------------------------------------------------------------
// A synthetic trace: the loops of a loaded HTTP server and its workers.

/** Deterministic PRNG (mulberry32), so every run encodes the same bytes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Records as parallel arrays, in the order a recorder would hand them to the encoders. */
interface Events {
  count: number;
  code: Uint8Array;
  thread: Uint8Array;
  timeNs: Float64Array;
  f0: Float64Array;
  f1: Float64Array;
  f2: Float64Array;
  /** Per thread id: the time of its first record, used as its first frame's base time. */
  firstTimeNs: number[];
  threadIds: number[];
}

interface ThreadSim {
  threadId: number;
  /** End of the previous poll phase: the busy stretch starts here. */
  t: number;
  iterations: number;
  lastCpuAt: number;
  nextQueueSampleAt: number;
  nextProbeAt: number;
  /** Longest busy stretch: workers run shorter callbacks than the main thread. */
  maxBusyNs: number;
}

function synthesize(target: number): Events {
  const cap = target + 16;
  const ev: Events = {
    count: 0,
    code: new Uint8Array(cap),
    thread: new Uint8Array(cap),
    timeNs: new Float64Array(cap),
    f0: new Float64Array(cap),
    f1: new Float64Array(cap),
    f2: new Float64Array(cap),
    firstTimeNs: [],
    threadIds: [],
  };
  const random = rng(0x100f7ace);
  const between = (lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));
  const push = (code: number, thread: number, timeNs: number, f0 = 0, f1 = 0, f2 = 0): void => {
    const i = ev.count++;
    ev.code[i] = code;
    ev.thread[i] = thread;
    ev.timeNs[i] = timeNs;
    ev.f0[i] = f0;
    ev.f1[i] = f1;
    ev.f2[i] = f2;
    if (ev.firstTimeNs[thread] === undefined) ev.firstTimeNs[thread] = timeNs;
  };

  const threads: ThreadSim[] = [];
  for (let i = 0; i <= WORKERS; i++) {
    // Threads start a little apart; the main thread first. Times are ns since the origin.
    const start = 2_000_000 + i * 35_000_000 + between(0, 1_000_000);
    threads.push({
      threadId: MAIN_THREAD_ID + i,
      t: start,
      iterations: 0,
      lastCpuAt: start,
      nextQueueSampleAt: start + 10_000_000,
      nextProbeAt: start + 20_000_000,
      maxBusyNs: i === 0 ? 500_000 : 300_000,
    });
    ev.threadIds.push(MAIN_THREAD_ID + i);
  }

  while (ev.count < target) {
    // Advance the thread that is furthest behind by one loop iteration, so that the threads
    // move forward together.
    let th = threads[0]!;
    for (const other of threads) if (other.t < th.t) th = other;
    const id = th.threadId;

    // Busy stretch: timers, immediates, close callbacks; 20-500 us, skewed towards short.
    const r = random();
    const busy = 20_000 + Math.round(r * r * (th.maxBusyNs - 20_000));
    const busyStart = th.t;
    const pollStart = busyStart + busy;

    // Timer-driven samples land inside the busy stretch, in time order.
    if (busyStart >= th.nextQueueSampleAt) {
      const at = busyStart + Math.floor(busy * 0.25);
      push(RecordCode.QueueSample, id, at, between(40, 1800), between(0, 60), random() < 0.6 ? 0 : between(1, 5));
      th.nextQueueSampleAt = at + 10_000_000;
    }
    if (busyStart >= th.nextProbeAt) {
      const at = busyStart + Math.floor(busy * 0.5);
      const q = random();
      const queueDelayNs = q < 0.85 ? between(800, 40_000) : q < 0.98 ? between(40_000, 2_000_000) : between(2_000_000, 30_000_000);
      push(RecordCode.ThreadpoolProbe, id, at, queueDelayNs);
      th.nextProbeAt = at + 20_000_000;
    }

    push(RecordCode.PollStart, id, pollStart);
    th.iterations++;
    if (th.iterations % 16 === 0) {
      // THREAD_CPU shares the POLL_START's time (dt 0), measured over the last 16 iterations.
      const wallNs = pollStart - th.lastCpuAt;
      push(RecordCode.ThreadCpu, id, pollStart, wallNs, Math.floor(wallNs * (0.55 + 0.45 * random())));
      th.lastCpuAt = pollStart;
    }

    // Poll phase: mostly no blocking under load (events already waiting), sometimes a short
    // wait, now and then a long idle gap.
    const events = 1 + Math.floor(Math.pow(random(), 2) * 30);
    const b = random();
    let blockedNs = 0;
    let eventsWaiting = 0;
    if (b < 0.55) eventsWaiting = between(0, 5);
    else if (b < 0.93) blockedNs = between(1_000, 120_000);
    else blockedNs = between(1_000_000, 40_000_000);
    const callbacksNs = events * between(3_000, 25_000);
    const pollEnd = pollStart + blockedNs + callbacksNs;
    push(RecordCode.PollEnd, id, pollEnd, blockedNs, events, eventsWaiting);
    th.t = pollEnd;
  }
  // An iteration adds up to five records; drop the few past the target (a trailing POLL_START
  // without its POLL_END is what a trace cut at any moment looks like).
  ev.count = target;
  return inDrainOrder(ev);
}

/**
 * Puts the records in the order a writer thread would encode them: every DRAIN_INTERVAL_NS it
 * drains each thread's ring in turn, so each encoder gets a run of its own thread's records
 * (about thirty per drain here) rather than one record at a time. A stable counting sort by
 * (drain, thread) keeps every thread's records in time order.
 */
function inDrainOrder(ev: Events): Events {
  const n = ev.count;
  const slots = ev.threadIds.length;
  const slotOf: number[] = [];
  ev.threadIds.forEach((id, i) => (slotOf[id] = i));
  const key = new Uint32Array(n);
  let maxKey = 0;
  for (let i = 0; i < n; i++) {
    key[i] = Math.floor(ev.timeNs[i]! / DRAIN_INTERVAL_NS) * slots + slotOf[ev.thread[i]!]!;
    maxKey = Math.max(maxKey, key[i]!);
  }
  const start = new Uint32Array(maxKey + 2);
  for (let i = 0; i < n; i++) start[key[i]! + 1]!++;
  for (let k = 1; k < start.length; k++) start[k]! += start[k - 1]!;
  const out: Events = {
    ...ev,
    code: new Uint8Array(n),
    thread: new Uint8Array(n),
    timeNs: new Float64Array(n),
    f0: new Float64Array(n),
    f1: new Float64Array(n),
    f2: new Float64Array(n),
  };
  for (let i = 0; i < n; i++) {
    const j = start[key[i]!]!++;
    out.code[j] = ev.code[i]!;
    out.thread[j] = ev.thread[i]!;
    out.timeNs[j] = ev.timeNs[i]!;
    out.f0[j] = ev.f0[i]!;
    out.f1[j] = ev.f1[i]!;
    out.f2[j] = ev.f2[i]!;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The workloads. Each returns a number derived from all its work, so that nothing is dead code.

const header: TraceHeaderInit = {
  traceId: '5f0e1d2c3b4a69788796a5b4c3d2e1f0',
  fileIndex: 0,
  originMonoNs: 81_234_567_890_123n,
  originWallUnixNs: 1_750_000_000_000_000_000n,
  fileStartNs: 0,
  pid: 4242,
  hostname: 'bench-host',
  nodeVersion: process.version,
  serviceName: 'http-api',
  producer: 'looptrace/bench',
  platform: `${process.platform}-${process.arch}`,
  threadpoolSize: 4,
  threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }],
};
for (let i = 1; i <= WORKERS; i++) header.threads.push({ threadId: 1 + i, nodeThreadId: i, kind: 1, name: `worker-${i}` });

/**
 * A writer closes a frame when the next record might not fit in TARGET_FRAME_BODY_BYTES. No
 * counted record in this trace takes more than 32 bytes.
 */
const FRAME_CLOSE_AT = TARGET_FRAME_BODY_BYTES - 32;

class Writer {
  readonly out: Uint8Array;
  pos = 0;
  private readonly encoders: TraceEncoder[] = [];
  private readonly headerBytes: Uint8Array;
  frames = 0;

  constructor(private readonly ev: Events) {
    this.out = new Uint8Array(ev.count * 16 + (1 << 20));
    const h = new TraceEncoder();
    h.writeMagic();
    h.writeHeader(header);
    this.headerBytes = h.take();
    for (const id of ev.threadIds) this.encoders[id] = new TraceEncoder(TARGET_FRAME_BODY_BYTES + 1024);
  }

  /**
   * Encodes every record as a recorder would: one encoder per thread, frames closed near
   * TARGET_FRAME_BODY_BYTES (CRC included), each closed frame appended to the file.
   */
  encode(): number {
    const { ev, encoders } = this;
    const { code, thread, timeNs, f0, f1, f2 } = ev;
    this.pos = 0;
    this.frames = 0;
    this.append(this.headerBytes);
    for (const id of ev.threadIds) {
      const enc = encoders[id]!;
      enc.reset();
      enc.beginFrame(id, ev.firstTimeNs[id]!);
    }
    const n = ev.count;
    for (let i = 0; i < n; i++) {
      const id = thread[i]!;
      const enc = encoders[id]!;
      const t = timeNs[i]!;
      switch (code[i]) {
        case RecordCode.PollStart:
          enc.pollStart(t);
          break;
        case RecordCode.PollEnd:
          enc.pollEnd(t, f0[i]!, f1[i]!, f2[i]!);
          break;
        case RecordCode.ThreadCpu:
          enc.counted(RecordCode.ThreadCpu, t, 2, f0[i]!, f1[i]!);
          break;
        case RecordCode.QueueSample:
          enc.counted(RecordCode.QueueSample, t, 3, f0[i]!, f1[i]!, f2[i]!);
          break;
        case RecordCode.ThreadpoolProbe:
          enc.counted(RecordCode.ThreadpoolProbe, t, 1, f0[i]!);
          break;
      }
      if (enc.frameBodyBytes > FRAME_CLOSE_AT) {
        enc.endFrame();
        this.flush(enc);
        enc.beginFrame(id, t);
      }
    }
    for (const id of ev.threadIds) {
      const enc = encoders[id]!;
      enc.endFrame();
      this.flush(enc);
    }
    return this.pos;
  }

  private flush(enc: TraceEncoder): void {
    this.append(enc.bytes());
    enc.reset();
    this.frames++;
  }

  private append(bytes: Uint8Array): void {
    this.out.set(bytes, this.pos);
    this.pos += bytes.length;
  }
}

/** What the decode visitor accumulates; int32 sums, so the result is exact and order-free. */
let visitTime = 0;
let visitFields = 0;
let visitCount = 0;

function visit(r: TraceRecord): void {
  visitCount++;
  visitTime = (visitTime + r.timeNs) | 0;
  switch (r.type) {
    case 'pollStart':
      visitFields = (visitFields + r.threadId) | 0;
      break;
    case 'pollEnd':
      visitFields = (visitFields + r.threadId + r.blockedNs + r.events + r.eventsWaiting) | 0;
      break;
    case 'threadCpu':
      visitFields = (visitFields + r.threadId + r.wallNs + r.cpuNs) | 0;
      break;
    case 'queueSample':
      visitFields = (visitFields + r.threadId + r.activeHandles + r.activeRequests + r.eventsWaiting) | 0;
      break;
    case 'threadpoolProbe':
      visitFields = (visitFields + r.threadId + r.queueDelayNs) | 0;
      break;
    default:
      break;
  }
}

function expectedVisit(ev: Events): { time: number; fields: number } {
  let time = 0;
  let fields = 0;
  for (let i = 0; i < ev.count; i++) {
    time = (time + ev.timeNs[i]!) | 0;
    fields = (fields + ev.thread[i]! + ev.f0[i]! + ev.f1[i]! + ev.f2[i]!) | 0;
  }
  return { time, fields };
}

let diagnostics = 0;

function decodeOneShot(bytes: Uint8Array): number {
  visitTime = visitFields = visitCount = 0;
  const decoder = new TraceDecoder({ onRecord: visit, onDiagnostic: () => diagnostics++ });
  decoder.push(bytes);
  decoder.end();
  return visitTime ^ visitFields;
}

function decodeChunked(bytes: Uint8Array): number {
  visitTime = visitFields = visitCount = 0;
  const decoder = new TraceDecoder({ onRecord: visit, onDiagnostic: () => diagnostics++ });
  for (let p = 0; p < bytes.length; p += CHUNK_BYTES) decoder.push(bytes.subarray(p, Math.min(p + CHUNK_BYTES, bytes.length)));
  decoder.end();
  return visitTime ^ visitFields;
}

// ---------------------------------------------------------------------------------------------
// Size accounting: walk the frames of the encoded file.

interface SizeReport {
  fileBytes: number;
  magicAndHeaderBytes: number;
  frames: number;
  /** Frame header (12), kind byte, threadId and baseTimeNs varints, summed over records frames. */
  frameOverheadBytes: number;
  recordBytes: number;
  meanBodyBytes: number;
  maxBodyBytes: number;
}

function readVarint(b: Uint8Array, p: number): number {
  while (b[p]! >= 0x80) p++;
  return p + 1;
}

function sizeReport(bytes: Uint8Array): SizeReport {
  let p = 8;
  let frames = 0;
  let overhead = 0;
  let records = 0;
  let headerBytes = 8;
  let maxBody = 0;
  let bodies = 0;
  while (p < bytes.length) {
    const bodyLength = (bytes[p + 4]! | (bytes[p + 5]! << 8) | (bytes[p + 6]! << 16) | (bytes[p + 7]! << 24)) >>> 0;
    const body = p + FRAME_HEADER_BYTES;
    if (bytes[body] === 0x01) {
      headerBytes += FRAME_HEADER_BYTES + bodyLength;
    } else {
      const recordsStart = readVarint(bytes, readVarint(bytes, body + 1));
      frames++;
      bodies += bodyLength;
      maxBody = Math.max(maxBody, bodyLength);
      overhead += recordsStart - p;
      records += body + bodyLength - recordsStart;
    }
    p = body + bodyLength;
  }
  return { fileBytes: bytes.length, magicAndHeaderBytes: headerBytes, frames, frameOverheadBytes: overhead, recordBytes: records, meanBodyBytes: bodies / frames, maxBodyBytes: maxBody };
}

/** Mean encoded size of each record type, measured with a separate encoder. */
function bytesByType(ev: Events): Map<number, { count: number; bytes: number }> {
  const enc = new TraceEncoder(ev.count * 16);
  const out = new Map<number, { count: number; bytes: number }>();
  const last: number[] = [];
  for (let i = 0; i < ev.count; i++) {
    const id = ev.thread[i]!;
    // One frame per record keeps each thread's delta exact without tracking frames here.
    enc.beginFrame(id, last[id] ?? ev.firstTimeNs[id]!);
    const before = enc.length;
    const t = ev.timeNs[i]!;
    const c = ev.code[i]!;
    if (c === RecordCode.PollStart) enc.pollStart(t);
    else if (c === RecordCode.PollEnd) enc.pollEnd(t, ev.f0[i]!, ev.f1[i]!, ev.f2[i]!);
    else enc.counted(c, t, c === RecordCode.ThreadpoolProbe ? 1 : c === RecordCode.ThreadCpu ? 2 : 3, ev.f0[i]!, ev.f1[i]!, ev.f2[i]!);
    const size = enc.length - before;
    enc.endFrame();
    enc.reset();
    last[id] = t;
    const entry = out.get(c) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += size;
    out.set(c, entry);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running

interface Task {
  name: string;
  fn: () => number;
  /** Units of work per call, and their name, for the rate column. */
  units: number;
  unit: 'M rec/s' | 'MB/s';
  samples: number[];
  bar?: number;
}

function median(sorted: number[]): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

let sink = 0;

async function main(): Promise<void> {
  const t0 = performance.now();
  const ev = synthesize(RECORDS);
  const writer = new Writer(ev);
  const fileLength = writer.encode();
  const file = writer.out.slice(0, fileLength);
  const expected = expectedVisit(ev);

  // Check the round trip once before timing anything.
  decodeOneShot(file);
  if (diagnostics !== 0 || visitCount !== ev.count || visitTime !== expected.time || visitFields !== expected.fields) {
    throw new Error(`round trip failed: ${visitCount}/${ev.count} records, ${diagnostics} diagnostics, sums ${visitTime}/${expected.time} ${visitFields}/${expected.fields}`);
  }
  decodeChunked(file);
  if (diagnostics !== 0 || visitCount !== ev.count || visitTime !== expected.time || visitFields !== expected.fields) {
    throw new Error(`chunked round trip failed: ${visitCount}/${ev.count} records, ${diagnostics} diagnostics`);
  }

  if (WRITE !== undefined) writeFileSync(WRITE, file);
  const sizes = sizeReport(file);
  const perType = bytesByType(ev);
  const setupMs = performance.now() - t0;

  const allTasks: Task[] = [
    { name: 'encode (pollStart/pollEnd/counted + frames + CRC)', fn: () => writer.encode(), units: ev.count, unit: 'M rec/s', samples: [], bar: BAR_RECORDS_PER_SEC },
    { name: 'decode, one push', fn: () => decodeOneShot(file), units: ev.count, unit: 'M rec/s', samples: [], bar: BAR_RECORDS_PER_SEC },
    { name: `decode, ${CHUNK_BYTES >> 10} KiB chunks`, fn: () => decodeChunked(file), units: ev.count, unit: 'M rec/s', samples: [], bar: BAR_RECORDS_PER_SEC },
    { name: 'crc32c', fn: () => crc32c(file), units: file.length, unit: 'MB/s', samples: [] },
  ];

  const tasks = allTasks.filter((t) => ONLY === undefined || t.name.includes(ONLY));
  if (tasks.length === 0) throw new Error(`--only=${ONLY} matches no task`);

  const tRun = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const bench = new Bench({
      time: TASK_MS,
      iterations: 8,
      warmup: true,
      warmupTime: round === 0 ? 300 : 60,
      warmupIterations: round === 0 ? 10 : 2,
      retainSamples: true,
      throws: true,
    });
    // Rotate the order too, so no task always runs right after the same one.
    for (let k = 0; k < tasks.length; k++) {
      const task = tasks[(k + round) % tasks.length]!;
      bench.add(task.name, () => {
        sink ^= task.fn();
      });
    }
    await bench.run();
    for (const task of tasks) {
      const result = bench.getTask(task.name)!.result;
      if (!('latency' in result) || result.latency.samples === undefined) throw new Error(`task ${task.name} did not complete`);
      task.samples.push(...result.latency.samples);
    }
  }
  const runMs = performance.now() - tRun;
  if (visitCount !== ev.count || diagnostics !== 0) throw new Error('decode lost records during the benchmark');

  // Report.
  const mib = (n: number): string => `${(n / (1 << 20)).toFixed(2)} MiB`;
  const counts = [...perType.entries()].sort((a, b) => a[0] - b[0]);
  const names: Record<number, string> = { 1: 'POLL_START', 2: 'POLL_END', 3: 'THREAD_CPU', 4: 'QUEUE_SAMPLE', 5: 'THREADPOOL_PROBE' };
  console.log(`looptrace format benchmark  node ${process.version} ${process.platform}-${process.arch}`);
  console.log(
    `trace: ${ev.count.toLocaleString('en')} records, ${ev.threadIds.length} threads, ${sizes.frames} records frames ` +
      `(mean body ${(sizes.meanBodyBytes / 1024).toFixed(1)} KiB, max ${sizes.maxBodyBytes} B), file ${mib(sizes.fileBytes)}`,
  );
  console.log(
    `  mix: ${counts.map(([c, s]) => `${names[c]} ${((100 * s.count) / ev.count).toFixed(1)}% @ ${(s.bytes / s.count).toFixed(2)} B`).join(', ')}`,
  );
  const perRecord = (n: number): string => (n / ev.count).toFixed(3);
  console.log(
    `  bytes/record: ${perRecord(sizes.fileBytes)} total = ${perRecord(sizes.recordBytes)} record + ` +
      `${perRecord(sizes.frameOverheadBytes)} frame overhead (${sizes.frameOverheadBytes} B over ${sizes.frames} frames) + ` +
      `${perRecord(sizes.magicAndHeaderBytes)} magic/header (${sizes.magicAndHeaderBytes} B)`,
  );
  console.log('');
  const rows = tasks.map((task) => {
    const sorted = [...task.samples].sort((a, b) => a - b);
    const med = median(sorted);
    const mad = median(sorted.map((s) => Math.abs(s - med)).sort((a, b) => a - b));
    // Millions of records, or of bytes, per second.
    const rate = task.units / 1e6 / (med / 1e3);
    return { task, ops: sorted.length, med, mad, rate };
  });
  const w = Math.max(...tasks.map((t) => t.name.length));
  console.log(`${'task'.padEnd(w)}  ${'ops'.padStart(5)}  ${'median'.padStart(10)}  ${'± MAD'.padStart(8)}  ${'rate'.padStart(16)}`);
  for (const { task, ops, med, mad, rate } of rows) {
    console.log(
      `${task.name.padEnd(w)}  ${String(ops).padStart(5)}  ${`${med.toFixed(2)} ms`.padStart(10)}  ${`${mad.toFixed(2)}`.padStart(8)}  ${`${rate.toFixed(1)} ${task.unit}`.padStart(16)}`,
    );
  }
  console.log('');
  const failed = rows.filter((r) => r.task.bar !== undefined && r.rate * 1e6 < r.task.bar);
  const verdict = rows
    .filter((r) => r.task.bar !== undefined)
    .map((r) => `${r.task.name.split(' (')[0]} ${r.rate.toFixed(1)}`)
    .join(', ');
  console.log(`${failed.length === 0 ? 'PASS' : 'FAIL'}: bar ${BAR_RECORDS_PER_SEC / 1e6} M records/s; ${verdict} M records/s`);
  console.log(`(${ROUNDS} interleaved rounds x ${TASK_MS} ms per task; setup ${(setupMs / 1e3).toFixed(1)} s, run ${(runMs / 1e3).toFixed(1)} s; sink ${sink & 1})`);
  if (CHECK && failed.length > 0) process.exitCode = 1;
}

await main();
