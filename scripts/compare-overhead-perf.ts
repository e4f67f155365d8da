// compare-overhead --perf: looptrace's share of a loaded server's CPU time as Linux perf samples
// it, beside what looptrace's self-accounting (stats().selfCpuNs) says over nearly the same window.
//
//   npm run compare-overhead -- --perf [--handler async|sync|both] [--seconds S]
//                               [--frequency HZ] [--connections N] [--time-scaled]
//                               [--tolerance PCT] [--json]
//
// Why perf (docs/COMPARE-OVERHEAD.md, "Sampled by perf"): the instruction count is
// deterministic but weighs every instruction alike and sees nothing the kernel does; the
// self-accounting is what users see, and is timed by looptrace itself. perf's cpu-clock samples
// are time, kernel included, taken from outside looptrace: a sample whose call chain passes
// through looptrace's objects (looptrace.node, looptrace_v8.node) is looptrace's time on that
// thread, with the syscalls it made; every sample of its writer and watchdog threads is theirs.
// It also finds what self-accounting leaves out (the entry callback, GC callbacks, stats()).
//
// Method: the rotating-writer server of scripts/compare-overhead-server.ts (default options, or
// the instruction runs' stretched intervals with --time-scaled) is warmed up, then loaded with
// --connections keep-alive connections while `perf record -e cpu-clock -g` samples every thread
// of it for --seconds; the server reports stats() over nearly the same window (from once perf
// has attached to the end of the last batch of 500 requests). The share is looptrace's
// samples over all of the server's, with a 95% interval from the sample count (a binomial
// proportion). perf's own sampling slows the server (each sample is an interrupt); both figures
// come from that same slowed run.
//
// Gate (exit 1): self-accounting / perf within 1 ± --tolerance/100 (default 30%) on each
// handler: the number users see is honest. This, not the instruction count, is the reference
// the self-accounting is judged against, for the reason above (docs/COMPARE-OVERHEAD.md,
// "Self-accounting against the instructions").

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { handlerError, handlersNamed, isLooptraceObject, sendRequests, TIME_SCALED_OPTIONS } from './compare-overhead-instructions.js';
import type { SelfCpuParts, ServerReport, ServerSpec } from './compare-overhead-server.js';

export interface PerfOptions {
  handlers: ('async' | 'sync')[];
  seconds: number;
  frequencyHz: number;
  connections: number;
  timeScaled: boolean;
  /** self-accounting / perf must lie within 1 ± tolerancePct/100 on each handler (the gate). */
  tolerancePct: number;
  json: boolean;
}

export const PERF_USAGE = `usage: npm run compare-overhead -- --perf [options]
  --handler async|sync|both   the request handler (default both)
  --seconds S                 seconds sampled under load, per handler (default 20)
  --frequency HZ              perf's cpu-clock sampling frequency (default 2000)
  --connections N             keep-alive connections, one request in flight on each (default 8)
  --time-scaled               the instruction runs' stretched intervals instead of the defaults
  --tolerance PCT             fail (exit 1) unless self-accounting / perf is within 1 ± PCT/100
                              on each handler (default 30)
  --json                      print the results as JSON on stdout
Needs Linux perf (Debian's linux-perf), and root or perf_event_paranoid ≤ 1 (kernel samples).`;

export class PerfUsageError extends Error {}

export function parsePerfArgs(argv: string[]): PerfOptions {
  const o: PerfOptions = { handlers: ['async', 'sync'], seconds: 20, frequencyHz: 2000, connections: 8, timeScaled: false, tolerancePct: 30, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new PerfUsageError(`${a} needs a value`);
      return v;
    };
    const integer = (min: number, max: number): number => {
      const v = value();
      const n = Number(v);
      if (!/^\d+$/.test(v) || n < min || n > max) throw new PerfUsageError(`${a} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (a) {
      case '--perf':
        break;
      case '--handler': {
        const v = value();
        const handlers = handlersNamed(v);
        if (handlers === null) throw new PerfUsageError(handlerError(v));
        o.handlers = handlers;
        break;
      }
      case '--seconds':
        o.seconds = integer(1, 3600);
        break;
      case '--frequency':
        o.frequencyHz = integer(10, 50_000);
        break;
      case '--connections':
        o.connections = integer(1, 256);
        break;
      case '--time-scaled':
        o.timeScaled = true;
        break;
      case '--tolerance':
        o.tolerancePct = integer(1, 99);
        break;
      case '--json':
        o.json = true;
        break;
      default:
        throw new PerfUsageError(`unknown argument ${JSON.stringify(a)} with --perf`);
    }
  }
  return o;
}

/** One perf sample: its thread's name and its call chain, innermost first ("symbol (object)"). */
export interface PerfSample {
  comm: string;
  frames: { symbol: string; object: string }[];
}

/** "address symbol (object path)", the object being the last parenthesised group (a symbol may hold parentheses of its own; a replaced binary reads "(path (deleted))"). */
function parseFrame(text: string): { symbol: string; object: string } | null {
  const m = /^\s*[0-9a-f]+\s+(.*)\s+\(([^()]*?)(?: \(deleted\))?\)\s*$/.exec(text);
  return m === null ? null : { symbol: m[1]!, object: m[2]! };
}

/**
 * Parses `perf script -F comm,tid,ip,sym,dso` output: a header line per sample (the thread's
 * name first, then its tid, padded), then one indented line per frame, then a blank line. A
 * sample whose call chain perf could not walk has its one frame on the header line instead.
 * Thread names may contain spaces.
 */
export function parsePerfScript(text: string): PerfSample[] {
  const samples: PerfSample[] = [];
  let current: PerfSample | null = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      if (current !== null) samples.push(current);
      current = null;
      continue;
    }
    if (!/^\s/.test(line)) {
      if (current !== null) samples.push(current);
      const m = /^(.*?)\s+\d+(?:\s+(.*))?$/.exec(line);
      current = { comm: (m?.[1] ?? line).trim(), frames: [] };
      const frame = m?.[2] === undefined ? null : parseFrame(m[2]);
      if (frame !== null) current.frames.push(frame);
      continue;
    }
    if (current === null) continue;
    const frame = parseFrame(line);
    if (frame !== null) current.frames.push(frame);
  }
  if (current !== null) samples.push(current);
  return samples;
}

/** perf's symbol with its offset ("+0x1a") and a trailing parameter list taken off, for grouping. */
export function functionName(symbol: string): string {
  const name = symbol.replace(/\+0x[0-9a-f]+$/, '');
  if (!name.endsWith(')')) return name;
  // The parameter list's opening parenthesis: "ns::(anonymous namespace)::f(int)" keeps its
  // namespace.
  let depth = 0;
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] === ')') depth++;
    else if (name[i] === '(' && --depth === 0) return name.slice(0, i);
  }
  return name;
}

const isKernel = (object: string): boolean => object.startsWith('[kernel');

export interface PerfShare {
  samples: number;
  /** Samples of looptrace's writer and watchdog threads. */
  writer: number;
  watchdog: number;
  /** Samples of other threads whose call chain passes through looptrace's objects. */
  inLoops: number;
  /** Of all those, the samples taken in the kernel (syscalls, page faults, interrupts): time an instruction count of user space cannot see. */
  inKernel: number;
  /** Those by the innermost looptrace function on the chain (what it ran, and what it called), and how many of them were in the kernel. */
  byFunction: { fn: string; samples: number; kernel: number }[];
}

export function perfShareOf(samples: PerfSample[]): PerfShare {
  let writer = 0;
  let watchdog = 0;
  let inLoops = 0;
  let inKernel = 0;
  const byFunction = new Map<string, { samples: number; kernel: number }>();
  for (const s of samples) {
    const kernel = s.frames.length > 0 && isKernel(s.frames[0]!.object);
    if (s.comm === 'looptrace-write' || s.comm === 'looptrace-watch') {
      if (s.comm === 'looptrace-write') writer++;
      else watchdog++;
      if (kernel) inKernel++;
      continue;
    }
    const frame = s.frames.find((f) => isLooptraceObject(basename(f.object)));
    if (frame === undefined) continue;
    inLoops++;
    if (kernel) inKernel++;
    const fn = `${basename(frame.object)}:${functionName(frame.symbol)}`;
    const entry = byFunction.get(fn) ?? { samples: 0, kernel: 0 };
    entry.samples++;
    if (kernel) entry.kernel++;
    byFunction.set(fn, entry);
  }
  return {
    samples: samples.length,
    writer,
    watchdog,
    inLoops,
    inKernel,
    byFunction: [...byFunction.entries()].map(([fn, n]) => ({ fn, ...n })).sort((a, b) => b.samples - a.samples),
  };
}

export interface PerfResult {
  handler: 'async' | 'sync';
  requests: number;
  processNsPerRequest: number;
  perf: PerfShare;
  /** looptrace's samples over the server's, in %, with the 95% interval's half-width. */
  perfPct: number;
  perfPctPlusMinus: number;
  /** stats().selfCpuNs over process.cpuUsage() in the same window, in %, and by part. */
  selfPct: number;
  selfParts: SelfCpuParts;
  selfOverPerf: number;
  /** selfOverPerf within 1 ± tolerancePct/100. */
  within: boolean;
}

/**
 * Fewer of looptrace's samples than this and the ratio is mostly sampling noise (±36% at 30
 * samples): the run measured nothing worth judging, and fails as a measurement.
 */
const MIN_LOOPTRACE_SAMPLES = 30;

function perfAvailable(): string | null {
  const r = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return 'perf is not installed (Debian: apt-get install linux-perf)';
  return null;
}

/**
 * A server of scripts/compare-overhead-server.ts, and its side of the IPC protocol. Plain node:
 * what users run (the instruction runs' --predictable would serialise V8's work).
 */
interface ServerChild {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The next message of this type; rejects, with the server's last stderr, if it exits first. */
  next(type: string): Promise<Record<string, unknown>>;
}

function spawnServer(spec: ServerSpec, what: string): ServerChild {
  const serverJs = fileURLToPath(new URL('./compare-overhead-server.js', import.meta.url));
  const child = spawn(process.execPath, [serverJs, JSON.stringify(spec)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const next = (type: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const on = (m: Record<string, unknown>): void => {
        if (m['type'] !== type) return;
        child.off('message', on);
        resolve(m);
      };
      child.on('message', on);
      void exited.then((code) => reject(new Error(`the ${what} (${spec.handler}) exited with ${code}:\n${stderr}`)));
    });
  return { child, exited, next };
}

async function runOne(handler: 'async' | 'sync', dir: string, o: PerfOptions, log: (line: string) => void): Promise<PerfResult> {
  const spec: ServerSpec = {
    config: 'rotating-writer',
    handler,
    dir,
    noKeepAliveTimeout: true,
    ...(o.timeScaled ? { telemetryOptions: TIME_SCALED_OPTIONS } : {}),
  };
  const { child, exited, next } = spawnServer(spec, 'rotating-writer server');
  try {
    const port = (await next('listening'))['port'] as number;
    // Warm-up: the JIT, and the writer's pace under load.
    await sendRequests(port, 5000, o.connections);
    const data = join(dir, `${handler}.perf.data`);
    const perf = spawn('perf', ['record', '-e', 'cpu-clock', '-F', String(o.frequencyHz), '-g', '-p', String(child.pid), '-o', data, '--', 'sleep', String(o.seconds)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let perfErr = '';
    perf.stderr!.on('data', (d: Buffer) => (perfErr = (perfErr + d.toString()).slice(-4000)));
    let sampling = true;
    const perfDone = new Promise<number | null>((resolve) => {
      perf.on('exit', (code) => resolve(code));
      perf.on('error', () => resolve(-1));
    }).then((code) => {
      sampling = false;
      return code;
    });
    // The self-accounting window: from once perf has attached (a few hundred milliseconds) to
    // the end of the batch of requests running when it stops (small batches keep that short).
    await sendRequests(port, 500, o.connections);
    child.send({ type: 'mark' });
    await next('marked');
    while (sampling) await sendRequests(port, 500, o.connections);
    const code = await perfDone;
    child.send({ type: 'report' });
    const report = (await next('report'))['report'] as ServerReport;
    if (code !== 0) throw new Error(`perf record exited with ${code}: ${perfErr.trim()}`);
    // Without the right to sample the kernel, perf falls back to user space and says so on
    // stderr, exiting 0: the kernel's part would then be missing from looptrace's share.
    if (/exclud/i.test(perfErr)) throw new Error(`perf could not sample the kernel (run as root, or set kernel.perf_event_paranoid to 1 or less): ${perfErr.trim()}`);
    if (report.telemetry === null) throw new Error('the rotating-writer server reported no telemetry');
    const script = spawnSync('perf', ['script', '--no-inline', '-i', data, '-F', 'comm,tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30 });
    if (script.status !== 0) throw new Error(`perf script failed: ${script.stderr}`);
    const share = perfShareOf(parsePerfScript(script.stdout));
    if (share.samples === 0) throw new Error('perf recorded no samples of the server');
    const looptraceSamples = share.writer + share.watchdog + share.inLoops;
    if (looptraceSamples < MIN_LOOPTRACE_SAMPLES) {
      throw new Error(`perf found ${looptraceSamples} of looptrace's samples among the server's ${share.samples}, too few to judge (at least ${MIN_LOOPTRACE_SAMPLES}): sample longer (--seconds), or telemetry did not record`);
    }
    const p = looptraceSamples / share.samples;
    const processNs = (report.cpuUserUs + report.cpuSystemUs) * 1000;
    const selfPct = (report.telemetry.selfCpuNs / processNs) * 100;
    log(`  ${handler}: ${report.requests} requests, ${share.samples} samples (${looptraceSamples} looptrace's)`);
    const selfOverPerf = selfPct / (p * 100);
    return {
      handler,
      requests: report.requests,
      processNsPerRequest: processNs / report.requests,
      perf: share,
      perfPct: p * 100,
      perfPctPlusMinus: 196 * Math.sqrt((p * (1 - p)) / share.samples),
      selfPct,
      selfParts: report.telemetry.selfCpuParts,
      selfOverPerf,
      within: withinTolerance(selfOverPerf, o.tolerancePct),
    };
  } finally {
    child.send({ type: 'stop' }, () => {});
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null) child.kill();
  }
}

export function renderPerf(results: PerfResult[], tolerancePct: number): string {
  const pct = (n: number, of: number): string => `${((n / of) * 100).toFixed(3)}%`;
  const lines: string[] = [];
  for (const r of results) {
    const s = r.perf;
    const parts = r.selfParts;
    const processNs = r.processNsPerRequest * r.requests;
    lines.push(`${r.handler} handler, rotating-writer, ${r.requests} requests (${(r.processNsPerRequest / 1000).toFixed(1)} µs of CPU each, perf's sampling included):`);
    lines.push(
      `  perf: looptrace ${r.perfPct.toFixed(3)}% ± ${r.perfPctPlusMinus.toFixed(3)} of the server's ${s.samples} samples ` +
        `(writer thread ${pct(s.writer, s.samples)}, watchdog thread ${pct(s.watchdog, s.samples)}, in loop threads ${pct(s.inLoops, s.samples)}; ` +
        `${pct(s.inKernel, s.writer + s.watchdog + s.inLoops)} of it in the kernel)`,
    );
    lines.push(
      `  self-accounting, same window: ${r.selfPct.toFixed(3)}% (writer ${pct(parts.writerNs, processNs)}, watchdog ${pct(parts.watchdogNs, processNs)}, ` +
        `hooks ${pct(parts.hooksNs, processNs)}, timers ${pct(parts.timersNs, processNs)}, stacks ${pct(parts.stacksNs, processNs)}); ` +
        `self-accounting / perf ${r.selfOverPerf.toFixed(2)} (${r.within ? 'within' : 'NOT within'} ${tolerancePct}%)`,
    );
    lines.push('  in loop threads, by the innermost looptrace function on the chain (with what it called, kernel included):');
    for (const f of s.byFunction.slice(0, 12)) lines.push(`    ${pct(f.samples, s.samples).padStart(7)}  ${f.fn} (${pct(f.kernel, f.samples)} in the kernel)`);
  }
  lines.push(`gate: looptrace's self-accounting within ${tolerancePct}% of perf's share on each handler: ${perfPass(results) ? 'PASS' : 'FAIL'}`);
  return lines.join('\n');
}

/** self-accounting / perf within 1 ± tolerancePct/100 (a hair of slack for floating point at the bounds). */
export const withinTolerance = (selfOverPerf: number, tolerancePct: number): boolean => Math.abs(selfOverPerf - 1) <= tolerancePct / 100 + 1e-9;

export const perfPass = (results: PerfResult[]): boolean => results.length > 0 && results.every((r) => r.within);

export async function perfMain(argv: string[]): Promise<number> {
  let o: PerfOptions;
  try {
    o = parsePerfArgs(argv);
  } catch (error) {
    if (!(error instanceof PerfUsageError)) throw error;
    process.stderr.write(`compare-overhead: ${error.message}\n${PERF_USAGE}\n`);
    return 2;
  }
  const missing = perfAvailable();
  if (missing !== null) {
    process.stderr.write(`compare-overhead --perf: ${missing}\n`);
    return 2;
  }
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  const dir = mkdtempSync(join(tmpdir(), 'looptrace-perf-'));
  const results: PerfResult[] = [];
  try {
    log(`compare-overhead --perf: ${o.seconds} s of cpu-clock samples at ${o.frequencyHz} Hz per handler, ${o.connections} connections, ${o.timeScaled ? 'stretched intervals' : 'default options'}`);
    for (const handler of o.handlers) results.push(await runOne(handler, dir, o, log));
  } catch (error) {
    process.stderr.write(`compare-overhead --perf: ${(error as Error).message}\n`);
    return 3;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const pass = perfPass(results);
  if (o.json) process.stdout.write(`${JSON.stringify({ mode: 'perf', options: o, pass, results })}\n`);
  else process.stdout.write(`${renderPerf(results, o.tolerancePct)}\n`);
  return pass ? 0 : 1;
}
