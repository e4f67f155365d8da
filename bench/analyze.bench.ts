// End-to-end throughput and memory of analyze-trace's analysis: decode plus every analysis, over a
// large synthetic multi-thread trace written with the TypeScript encoder as rotated files.
//
//   npm run bench:analyze                        # 50 M records (about 300 MB), then analyze
//   node out/bench/analyze.bench.js --gib 1      # a 1 GiB set: the memory bar
//   node out/bench/analyze.bench.js [--records N] [--gib X] [--threads N] [--file-mib N]
//                                   [--dir PATH] [--keep] [--check]
//
// The analysis runs in a child process, so its peak RSS (VmHWM from /proc/self/status, and the
// largest process.memoryUsage().rss sampled after each 1 MiB chunk) is its own and not the
// generator's. Bars (issue text): >= 20 M records/s end to end, and <= 200 MB peak RSS on a 1 GiB
// set. --check exits 1 when a bar is missed; by default the verdict is printed and the exit is 0,
// since shared machines are noisy.

import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { analyzeTraces, resolveInput } from '../src/analyze/index.js';
import { RecordCode, TARGET_FRAME_BODY_BYTES, TraceEncoder, type ThreadInfo } from '../src/format/index.js';

const BAR_RECORDS_PER_SEC = 20e6;
const BAR_PEAK_RSS_BYTES = 200e6;
/** Simulated writer: frames close at this period of trace time (the recorder's flush interval). */
const FLUSH_INTERVAL_NS = 100e6;
const WRITE_BUFFER_BYTES = 4 << 20;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0) return process.argv[i + 1];
  return process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
}

function numberArg(name: string, fallback: number): number {
  const text = arg(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!(value > 0)) {
    console.error(`analyze.bench: --${name} needs a positive number, got ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// The child: analyze a directory and report throughput and peak memory.

interface ChildResult {
  records: number;
  bytes: number;
  files: number;
  seconds: number;
  /** User plus system CPU time of the analysis: steadier than wall time on a shared machine. */
  cpuSeconds: number;
  vmHwmBytes: number;
  maxSampledRssBytes: number;
  longTasks: number;
  threads: number;
}

function vmHwmBytes(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}

function child(dir: string): void {
  let maxRss = process.memoryUsage().rss;
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  const input = resolveInput([dir]);
  const reports = analyzeTraces(input.traces, {
    onProgress: () => {
      const rss = process.memoryUsage().rss;
      if (rss > maxRss) maxRss = rss;
    },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const report = reports[0]!;
  const result: ChildResult = {
    records: report.decode.records,
    bytes: report.decode.bytes,
    files: report.trace.files.length,
    seconds,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    vmHwmBytes: vmHwmBytes(),
    maxSampledRssBytes: maxRss,
    longTasks: report.longTasks.count,
    threads: report.threads.length,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

// ---------------------------------------------------------------------------------------------
// The generator: loops of a loaded service, its worker pool and its threadpool probe.

/** mulberry32, so every run writes the same bytes. */
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

interface SimThread {
  threadId: number;
  enc: TraceEncoder;
  frameOpen: boolean;
  /** The end of the last poll: the next busy stretch starts here. */
  t: number;
  nextQueueSampleNs: number;
  nextProbeNs: number;
  /** Share of the time busy: the pool is deliberately unbalanced. */
  load: number;
}

interface Generated {
  records: number;
  bytes: number;
  files: number;
}

function generate(dir: string, targetRecords: number, targetBytes: number, threadCount: number, maxFileBytes: number): Generated {
  const random = rng(0x5eed);
  const threads: SimThread[] = [];
  const infos: ThreadInfo[] = [];
  for (let i = 0; i < threadCount; i++) {
    const threadId = i + 1;
    infos.push({ threadId, nodeThreadId: i, kind: i === 0 ? 0 : 1, name: i === 0 ? 'main' : `worker ${i} (pool.mjs)` });
    threads.push({ threadId, enc: new TraceEncoder(96 << 10), frameOpen: false, t: 1e6, nextQueueSampleNs: 100e6, nextProbeNs: 10e6, load: i === 0 ? 0.6 : i === 1 ? 0.9 : 0.1 });
  }
  const traceId = '0123456789abcdef0123456789abcdef';
  const originWallUnixNs = 1_700_000_000_000_000_000n;
  let fileIndex = 0;
  let fd = -1;
  let fileBytes = 0;
  let totalBytes = 0;
  let records = 0;
  const out = new Uint8Array(WRITE_BUFFER_BYTES);
  let outUsed = 0;
  const flushOut = (): void => {
    if (outUsed > 0) writeSync(fd, out, 0, outUsed);
    outUsed = 0;
  };
  const emit = (bytes: Uint8Array): void => {
    if (outUsed + bytes.length > out.length) flushOut();
    out.set(bytes, outUsed);
    outUsed += bytes.length;
    fileBytes += bytes.length;
    totalBytes += bytes.length;
  };
  const openFile = (startNs: number): void => {
    if (fd >= 0) {
      flushOut();
      closeSync(fd);
    }
    fd = openSync(join(dir, `trace.${fileIndex}.bin`), 'w');
    fileBytes = 0;
    const enc = new TraceEncoder();
    enc.writeMagic();
    enc.writeHeader({ traceId, fileIndex, originMonoNs: 1_000_000n, originWallUnixNs, fileStartNs: Math.floor(startNs), pid: 4242, nodeVersion: process.version, serviceName: 'bench', threadpoolSize: 4, threads: infos });
    emit(enc.take());
    fileIndex++;
  };
  const closeFrame = (th: SimThread): void => {
    if (!th.frameOpen) return;
    th.enc.endFrame();
    th.frameOpen = false;
    emit(th.enc.take());
  };

  openFile(0);
  let now = 0;
  while (records < targetRecords && totalBytes < targetBytes) {
    now += FLUSH_INTERVAL_NS;
    for (const th of threads) {
      const enc = th.enc;
      while (th.t < now) {
        if (!th.frameOpen) {
          enc.beginFrame(th.threadId, Math.floor(th.t));
          th.frameOpen = true;
        }
        // A busy stretch, now and then a long one, then a poll phase.
        const long = random() < 0.0005;
        const busyNs = Math.floor(long ? 60e6 + random() * 200e6 : 5e3 + random() * 150e3 * th.load);
        const startAt = Math.floor(th.t + busyNs);
        enc.pollStart(startAt);
        records++;
        if (busyNs >= 2e6) {
          enc.counted(RecordCode.ThreadCpu, startAt, 2, busyNs, Math.floor(busyNs * (0.5 + random() * 0.5)));
          records++;
        }
        const blockedNs = Math.floor(random() * 200e3 * (1 - th.load));
        const ioNs = Math.floor(2e3 + random() * 40e3 * th.load);
        const endAt = startAt + blockedNs + ioNs;
        const events = Math.floor(random() * 4);
        enc.pollEnd(endAt, blockedNs, events, blockedNs === 0 ? events : 0);
        records++;
        if (th.threadId === 1 && endAt >= th.nextProbeNs) {
          enc.counted(RecordCode.ThreadpoolProbe, endAt, 1, Math.floor(random() < 0.02 ? 20e6 * random() : 30e3 * random()));
          th.nextProbeNs = endAt + 10e6;
          records++;
        }
        if (endAt >= th.nextQueueSampleNs) {
          enc.counted(RecordCode.QueueSample, endAt, 3, 3 + Math.floor(random() * 20), Math.floor(random() * 8), Math.floor(random() * 3));
          th.nextQueueSampleNs = endAt + 100e6;
          records++;
        }
        th.t = endAt;
        if (enc.frameBodyBytes >= TARGET_FRAME_BODY_BYTES - 64) closeFrame(th);
      }
      closeFrame(th);
    }
    if (fileBytes >= maxFileBytes) openFile(now);
  }
  flushOut();
  closeSync(fd);
  return { records, bytes: totalBytes, files: fileIndex };
}

// ---------------------------------------------------------------------------------------------

function main(): void {
  const childDir = arg('child');
  if (childDir !== undefined) return child(childDir);

  const gib = arg('gib') === undefined ? undefined : numberArg('gib', 1);
  const targetRecords = gib === undefined ? numberArg('records', 50e6) : Infinity;
  const targetBytes = gib === undefined ? Infinity : gib * 2 ** 30;
  const threadCount = Math.floor(numberArg('threads', 8));
  const maxFileBytes = numberArg('file-mib', 8) * 2 ** 20;
  const keep = process.argv.includes('--keep');
  const check = process.argv.includes('--check');
  const given = arg('dir');
  const dir = given ?? mkdtempSync(join(tmpdir(), 'looptrace-analyze-bench-'));
  if (given !== undefined) mkdirSync(dir, { recursive: true });

  console.log(`looptrace analyze benchmark  node ${process.version} ${process.platform}-${process.arch}`);
  try {
    let generated: Generated;
    const reuse = given !== undefined && existsSync(join(dir, 'trace.0.bin'));
    const t0 = Date.now();
    if (reuse) {
      const files = readdirSync(dir).filter((f) => f.endsWith('.bin'));
      generated = { records: NaN, bytes: files.reduce((s, f) => s + statSync(join(dir, f)).size, 0), files: files.length };
      console.log(`reusing ${dir}: ${generated.files} files, ${(generated.bytes / 2 ** 20).toFixed(0)} MiB`);
    } else {
      generated = generate(dir, targetRecords, targetBytes, threadCount, maxFileBytes);
      console.log(
        `generated ${(generated.records / 1e6).toFixed(1)} M records, ${threadCount} threads, ${generated.files} files of ${maxFileBytes / 2 ** 20} MiB, ` +
          `${(generated.bytes / 2 ** 20).toFixed(0)} MiB (${(generated.bytes / generated.records).toFixed(2)} B/record) in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
    const self = fileURLToPath(import.meta.url);
    const run = spawnSync(process.execPath, [self, '--child', dir], { encoding: 'utf8', maxBuffer: 1 << 20 });
    if (run.status !== 0) {
      console.error(`analysis child failed (status ${run.status}):\n${run.stderr}`);
      process.exit(1);
    }
    const r = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as ChildResult;
    const rate = r.records / r.seconds;
    const peak = Math.max(r.vmHwmBytes, r.maxSampledRssBytes);
    console.log(
      `analyzed ${(r.records / 1e6).toFixed(1)} M records in ${r.files} files (${(r.bytes / 2 ** 20).toFixed(0)} MiB), ${r.threads} threads, ${r.longTasks} long tasks, ` +
        `in ${r.seconds.toFixed(2)} s: ${(rate / 1e6).toFixed(1)} M records/s, ${(r.bytes / 2 ** 20 / r.seconds).toFixed(0)} MiB/s`,
    );
    console.log(`CPU time ${r.cpuSeconds.toFixed(2)} s: ${(r.records / r.cpuSeconds / 1e6).toFixed(1)} M records per CPU-second (steadier than wall time when the machine is shared; load average ${loadavg()[0]!.toFixed(2)})`);
    console.log(`peak RSS: ${(r.vmHwmBytes / 1e6).toFixed(0)} MB (VmHWM), ${(r.maxSampledRssBytes / 1e6).toFixed(0)} MB (largest sampled rss)`);
    const rateOk = rate >= BAR_RECORDS_PER_SEC;
    const memoryOk = peak <= BAR_PEAK_RSS_BYTES;
    console.log(
      `${rateOk ? 'PASS' : 'FAIL'}: bar ${BAR_RECORDS_PER_SEC / 1e6} M records/s end to end; ` +
        `${memoryOk ? 'PASS' : 'FAIL'}: bar ${BAR_PEAK_RSS_BYTES / 1e6} MB peak RSS${gib === undefined ? ' (the bar is set on a 1 GiB set: --gib 1)' : ` on a ${gib} GiB set`}`,
    );
    if (check && (!rateOk || !memoryOk)) process.exitCode = 1;
  } finally {
    if (!keep && given === undefined) rmSync(dir, { recursive: true, force: true });
    else console.log(`trace kept in ${dir}`);
  }
}

main();
