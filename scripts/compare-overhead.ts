// compare-overhead: what looptrace costs a real node:http server at saturation, against the same
// server without it and against what Node users run today, measured in one run.
//
//   npm run compare-overhead -- [--rounds N] [--duration S] [--warmup S] [--connections N]
//                               [--handler async|sync|both] [--peers] [--configs a,b,...]
//                               [--max-overhead PCT] [--max-bytes-per-record B]
//                               [--confirm-rounds N] [--no-pin] [--json]
//
// Method (docs/COMPARE-OVERHEAD.md has the details, the columns and the --json fields):
// - Every round starts a fresh server process per configuration
//   (scripts/compare-overhead-server.ts): nothing one configuration leaves behind (hooks, JIT
//   state, heap) affects another, and process-to-process variation is sampled every round.
// - Each server first runs idle for a second (its idle CPU is the fixed cost of its timers and
//   threads), then gets an unmeasured warm-up, then --duration one-second measured slices,
//   interleaved with the other configurations' (A B C, B C A, ...), so that a noisy neighbour
//   hurts all of them alike. Servers not under load are frozen with SIGSTOP, so their timers
//   and threads take no CPU from the one being measured.
// - Load comes from autocannon in a separate long-lived process (scripts/compare-overhead-load.ts):
//   fixed connections, pipelining 1, as fast as the server answers. Servers and load generator
//   are pinned to different CPUs with taskset when it exists and two CPUs are allowed;
//   otherwise they share and the report says so.
// - The server reports its own process.cpuUsage() (all threads, so looptrace's writer thread and
//   the threadpool probe count), its responses, its loop utilisation and looptrace's stats()
//   deltas. CPU per request is steadier than req/s on a shared machine.
// - Overhead is the median over rounds of the per-round ratio to the same round's baseline.
//
// Gate (exit 1): for the rotating-writer configuration and each handler measured, req/s overhead
// and CPU-per-request overhead must each be at most --max-overhead (default 10%), and bytes per
// record at most --max-bytes-per-record (default 12); telemetry errors fail it too. A failure is
// confirmed with --confirm-rounds more rounds before it counts. A run without rotating-writer
// (an A/A check, --configs baseline,baseline) gates nothing.
//
// Exit codes: 0 pass, 1 gate failed, 2 bad command line, 3 the measurement itself failed (a
// server or the load generator crashed or hung, or no request completed).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { handlerError, handlersNamed, INSTRUCTIONS_USAGE, instructionsMain } from './compare-overhead-instructions.js';
import { PERF_USAGE, perfMain } from './compare-overhead-perf.js';
import type { LoadResult } from './compare-overhead-load.js';
import type { ServerReport, ServerSpec } from './compare-overhead-server.js';

// ---------------------------------------------------------------------------------------------
// Configurations

export const CONFIGS = {
  baseline: 'no telemetry',
  'rotating-writer': 'looptrace, defaults, RotatingWriter into a temp dir',
  operations: 'looptrace, RotatingWriter, operations: { http: true } (default sampler: every request an operation)',
  callbacks: 'as operations, plus callback mode on for the whole run (recordCallbacks)',
  'null-writer': 'looptrace, defaults, NullWriter (encodes, writes nothing)',
  disabled: 'looptrace started with enabled: false (hooks installed, a flag check each)',
  'hooks-only': 'looptrace, NullWriter, queueSampleIntervalMs 0, threadpoolProbeIntervalMs 0',
  'no-probe': 'looptrace, NullWriter, threadpoolProbeIntervalMs 0',
  'no-queue-sample': 'looptrace, NullWriter, queueSampleIntervalMs 0',
  'otel-metrics': 'as rotating-writer, plus the OpenTelemetry metrics bridge (looptrace/otel) on an SDK MeterProvider at the default 60 s export interval',
  'async-hooks': 'peer: async_hooks init/before/after/destroy storing a timestamp into a preallocated array',
  'eld-elu': 'peer: monitorEventLoopDelay (10 ms resolution) + eventLoopUtilization polled every 100 ms',
  'trace-events': 'peer: node --trace-event-categories node.async_hooks, file into a temp dir',
} as const;
export type Config = keyof typeof CONFIGS;

const DEFAULT_CONFIGS: Config[] = ['baseline', 'rotating-writer', 'null-writer'];
const PEER_CONFIGS: Config[] = ['async-hooks', 'eld-elu', 'trace-events'];
/** The configuration the gate judges: what a user deploys. */
export const GATED_CONFIG: Config = 'rotating-writer';

export type Handler = 'async' | 'sync';

export interface Options {
  rounds: number;
  durationS: number;
  warmupS: number;
  connections: number;
  handlers: Handler[];
  /** Run labels in order: a configuration name, with #2, #3 ... for repeats (A/A checks). */
  labels: string[];
  maxOverheadPct: number;
  maxBytesPerRecord: number;
  /** Extra rounds run when the gate fails after `rounds`, judged together with them. */
  confirmRounds: number;
  pin: boolean;
  json: boolean;
  /** Report only: the gate's verdict is printed but the exit code is 0 (CI gates on --instructions). */
  reportOnly: boolean;
}

export class UsageError extends Error {}

export const USAGE = `usage: npm run compare-overhead -- [options]
  --rounds N                 interleaved rounds (default 5)
  --duration S               measured one-second slices per configuration and round (default 5)
  --warmup S                 unmeasured warm-up seconds per server (default 1; 0 skips)
  --connections N            autocannon connections, pipelining 1 (default 32)
  --handler async|sync|both  the request handler (default both)
  --peers                    also run ${PEER_CONFIGS.join(', ')}
  --configs a,b,...          configurations to run; baseline is added when missing and may
                             repeat (--configs baseline,baseline is an A/A noise check). Known:
                             ${Object.keys(CONFIGS).join(', ')}
  --max-overhead PCT         gate on req/s and CPU/request overhead of rotating-writer (default 10)
  --max-bytes-per-record B   gate on bytes per record of rotating-writer (default 12)
  --confirm-rounds N         when the gate fails, run N more rounds and judge all of them
                             together (default: as many as --rounds; 0 fails at once)
  --no-pin                   do not pin server and load generator to separate cores
  --report-only              print the gate's verdict but exit 0 (the req/s A/B as a report)
  --json                     print the results as JSON on stdout (progress goes to stderr)
  --instructions             the deterministic figure instead: instructions per request under
                             callgrind (its own options: --instructions --help)
  --perf                     looptrace's share of CPU as Linux perf samples it, kernel included,
                             beside its self-accounting (its own options: --perf --help)`;

/** Parses the command line; throws UsageError with a message naming the bad value. */
export function parseArgs(argv: string[]): Options | 'help' {
  const o: Options = {
    rounds: 5,
    durationS: 5,
    warmupS: 1,
    connections: 32,
    handlers: ['async', 'sync'],
    labels: [],
    maxOverheadPct: 10,
    maxBytesPerRecord: 12,
    confirmRounds: -1,
    pin: true,
    json: false,
    reportOnly: false,
  };
  let configs: Config[] | undefined;
  let peers = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    let inline = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) {
        const v = inline;
        inline = undefined;
        return v;
      }
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw new UsageError(`${name} needs a value`);
      i++;
      return next;
    };
    const flag = (): void => {
      if (inline !== undefined) throw new UsageError(`${name} takes no value, got ${JSON.stringify(inline)}`);
    };
    switch (name) {
      case '--rounds':
        o.rounds = num(name, value(), 1, 1000, true);
        break;
      case '--duration':
        o.durationS = num(name, value(), 1, 3600, true);
        break;
      case '--warmup':
        o.warmupS = num(name, value(), 0, 600, false);
        break;
      case '--connections':
        o.connections = num(name, value(), 1, 1024, true);
        break;
      case '--handler': {
        const v = value();
        const handlers = handlersNamed(v);
        if (handlers === null) throw new UsageError(handlerError(v));
        o.handlers = handlers;
        break;
      }
      case '--peers':
        flag();
        peers = true;
        break;
      case '--configs': {
        const v = value();
        const names = v.split(',').map((s) => s.trim());
        for (const n of names) {
          if (!Object.hasOwn(CONFIGS, n)) {
            throw new UsageError(`--configs: unknown configuration ${JSON.stringify(n)} in ${JSON.stringify(v)}; known: ${Object.keys(CONFIGS).join(', ')}`);
          }
        }
        configs = names as Config[];
        break;
      }
      case '--max-overhead':
        o.maxOverheadPct = num(name, value(), 0, 10_000, false);
        break;
      case '--max-bytes-per-record':
        o.maxBytesPerRecord = num(name, value(), 0, 1_000_000, false);
        break;
      case '--confirm-rounds':
        o.confirmRounds = num(name, value(), 0, 1000, true);
        break;
      case '--no-pin':
        flag();
        o.pin = false;
        break;
      case '--json':
        flag();
        o.json = true;
        break;
      case '--report-only':
        flag();
        o.reportOnly = true;
        break;
      case '--help':
      case '-h':
        return 'help';
      default:
        throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  if (o.confirmRounds < 0) o.confirmRounds = o.rounds;
  const chosen = [...(configs ?? DEFAULT_CONFIGS)];
  if (peers) for (const p of PEER_CONFIGS) if (!chosen.includes(p)) chosen.push(p);
  // Every overhead is a ratio to the baseline of the same round, so there is always one.
  if (!chosen.includes('baseline')) chosen.unshift('baseline');
  const seen = new Map<string, number>();
  o.labels = chosen.map((c) => {
    const n = (seen.get(c) ?? 0) + 1;
    seen.set(c, n);
    return n === 1 ? c : `${c}#${n}`;
  });
  return o;
}

function num(name: string, text: string, min: number, max: number, integer: boolean): number {
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    throw new UsageError(`${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return v;
}

export function configOf(label: string): Config {
  return label.split('#')[0] as Config;
}

// ---------------------------------------------------------------------------------------------
// Statistics

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One measured run of one configuration, handler and round. */
export interface Run {
  round: number;
  handler: Handler;
  label: string;
  /** One-second measured slices this round. */
  slices: number;
  /** Responses the server completed over the slices, divided by the time it was under load. */
  reqPerS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Responses the server completed in its measured window. */
  requests: number;
  cpuUsPerRequest: number;
  /** Server CPU milliseconds per second with no load (timers and threads waking up), all threads. */
  idleCpuMsPerS: number;
  /** Server CPU time over its measured windows, all threads: above 100 is possible (writer thread, threadpool). */
  serverCpuPct: number;
  /**
   * The server loop's utilisation over the window (eventLoopUtilization): near 100 means it never
   * waited for I/O, that is the server and not the load generator was the bottleneck.
   */
  loopBusyPct: number;
  recordsPerRequest: number | null;
  bytesPerRequest: number | null;
  bytesPerRecord: number | null;
  droppedRecords: number | null;
  /** looptrace's self-accounted CPU as a percentage of the server's CPU under load; null without looptrace. */
  selfCpuPct: number | null;
  /** Requests that failed at the client: errors, timeouts, non-2xx. */
  clientErrors: number;
  telemetryErrors: string[];
}

export interface Summary {
  handler: Handler;
  label: string;
  config: Config;
  rounds: number;
  reqPerS: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  cpuUsPerRequest: number;
  idleCpuMsPerS: number;
  serverCpuPct: number;
  loopBusyPct: number;
  recordsPerRequest: number | null;
  bytesPerRequest: number | null;
  bytesPerRecord: number | null;
  droppedRecords: number | null;
  selfCpuPct: number | null;
  clientErrors: number;
  /** (1 - median of per-round req/s ratios to baseline) x 100; null for the baseline itself. */
  reqPerSOverheadPct: number | null;
  /** Lowest and highest per-round req/s overhead: the spread behind the median. */
  reqPerSOverheadRangePct: [number, number] | null;
  /** (median of per-round CPU/request ratios to baseline - 1) x 100. */
  cpuPerRequestOverheadPct: number | null;
  cpuPerRequestOverheadRangePct: [number, number] | null;
  telemetryErrors: string[];
}

function medianOrNull(values: (number | null)[]): number | null {
  const present = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return present.length === 0 ? null : median(present);
}

/** Medians per handler and label, and overheads as medians of per-round ratios to baseline. */
export function summarise(runs: Run[], handlers: Handler[], labels: string[]): Summary[] {
  const out: Summary[] = [];
  for (const handler of handlers) {
    const base = new Map<number, Run>();
    for (const r of runs) if (r.handler === handler && r.label === 'baseline') base.set(r.round, r);
    for (const label of labels) {
      const mine = runs.filter((r) => r.handler === handler && r.label === label);
      if (mine.length === 0) continue;
      const rpsOverheads: number[] = [];
      const cpuOverheads: number[] = [];
      const rpsRatios: number[] = [];
      const cpuRatios: number[] = [];
      if (label !== 'baseline') {
        for (const r of mine) {
          const b = base.get(r.round);
          if (b === undefined || b.reqPerS <= 0 || b.cpuUsPerRequest <= 0) continue;
          rpsRatios.push(r.reqPerS / b.reqPerS);
          cpuRatios.push(r.cpuUsPerRequest / b.cpuUsPerRequest);
        }
        for (const x of rpsRatios) rpsOverheads.push((1 - x) * 100);
        for (const x of cpuRatios) cpuOverheads.push((x - 1) * 100);
      }
      const dropped = mine.map((r) => r.droppedRecords).filter((v): v is number => v !== null);
      out.push({
        handler,
        label,
        config: configOf(label),
        rounds: mine.length,
        reqPerS: median(mine.map((r) => r.reqPerS)),
        latencyP50Ms: median(mine.map((r) => r.latencyP50Ms)),
        latencyP99Ms: median(mine.map((r) => r.latencyP99Ms)),
        cpuUsPerRequest: median(mine.map((r) => r.cpuUsPerRequest)),
        idleCpuMsPerS: median(mine.map((r) => r.idleCpuMsPerS)),
        serverCpuPct: median(mine.map((r) => r.serverCpuPct)),
        loopBusyPct: median(mine.map((r) => r.loopBusyPct)),
        recordsPerRequest: medianOrNull(mine.map((r) => r.recordsPerRequest)),
        bytesPerRequest: medianOrNull(mine.map((r) => r.bytesPerRequest)),
        bytesPerRecord: medianOrNull(mine.map((r) => r.bytesPerRecord)),
        droppedRecords: dropped.length === 0 ? null : dropped.reduce((a, b) => a + b, 0),
        selfCpuPct: medianOrNull(mine.map((r) => r.selfCpuPct)),
        clientErrors: mine.reduce((a, r) => a + r.clientErrors, 0),
        reqPerSOverheadPct: rpsRatios.length === 0 ? null : (1 - median(rpsRatios)) * 100,
        reqPerSOverheadRangePct: rpsOverheads.length === 0 ? null : [Math.min(...rpsOverheads), Math.max(...rpsOverheads)],
        cpuPerRequestOverheadPct: cpuRatios.length === 0 ? null : (median(cpuRatios) - 1) * 100,
        cpuPerRequestOverheadRangePct: cpuOverheads.length === 0 ? null : [Math.min(...cpuOverheads), Math.max(...cpuOverheads)],
        telemetryErrors: [...new Set(mine.flatMap((r) => r.telemetryErrors))],
      });
    }
  }
  return out;
}

export interface GateResult {
  /** False when the run had no rotating-writer configuration to judge. */
  applied: boolean;
  passed: boolean;
  /** One line per check, PASS or FAIL first. */
  checks: string[];
}

export function gate(summaries: Summary[], maxOverheadPct: number, maxBytesPerRecord: number): GateResult {
  const gated = summaries.filter((s) => s.label === GATED_CONFIG);
  if (gated.length === 0) return { applied: false, passed: true, checks: [`no gate: ${GATED_CONFIG} was not measured`] };
  const checks: string[] = [];
  let passed = true;
  const check = (ok: boolean, text: string): void => {
    if (!ok) passed = false;
    checks.push(`${ok ? 'PASS' : 'FAIL'} ${text}`);
  };
  for (const s of gated) {
    const where = `${s.label}, ${s.handler} handler:`;
    const rps = s.reqPerSOverheadPct;
    const cpu = s.cpuPerRequestOverheadPct;
    check(rps !== null && rps <= maxOverheadPct, `${where} req/s overhead ${fmtPct(rps)} (limit ${maxOverheadPct}%)`);
    check(cpu !== null && cpu <= maxOverheadPct, `${where} CPU/request overhead ${fmtPct(cpu)} (limit ${maxOverheadPct}%)`);
    const bpr = s.bytesPerRecord;
    check(bpr !== null && bpr <= maxBytesPerRecord, `${where} ${bpr === null ? 'no records' : `${bpr.toFixed(2)} bytes/record`} (limit ${maxBytesPerRecord})`);
    if (s.telemetryErrors.length > 0) check(false, `${where} telemetry reported errors: ${s.telemetryErrors.join('; ')}`);
  }
  return { applied: true, passed, checks };
}

function fmtPct(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  return `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`;
}

// ---------------------------------------------------------------------------------------------
// Report

const COLUMNS = [
  ['configuration', 16],
  ['req/s', 8],
  ['p50 ms', 6],
  ['p99 ms', 6],
  ['CPU µs/req', 10],
  ['idle CPU ms/s', 13],
  ['srv CPU %', 9],
  ['loop busy %', 11],
  ['req/s overhead % [range]', 24],
  ['CPU/req overhead % [range]', 26],
  ['records/req', 11],
  ['bytes/req', 9],
  ['bytes/record', 12],
  ['dropped', 7],
  ['self CPU %', 10],
] as const;

function fmtOverhead(v: number | null, range: [number, number] | null): string {
  if (v === null) return '-';
  const signed = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
  return range === null ? signed(v) : `${signed(v)} [${signed(range[0])}..${signed(range[1])}]`;
}

export function renderTable(summaries: Summary[], handler: Handler): string {
  const rows: string[][] = [COLUMNS.map(([h]) => h)];
  for (const s of summaries.filter((x) => x.handler === handler)) {
    const opt = (v: number | null, digits: number): string => (v === null ? '-' : v.toFixed(digits));
    rows.push([
      s.label,
      s.reqPerS.toFixed(0),
      s.latencyP50Ms.toFixed(0),
      s.latencyP99Ms.toFixed(0),
      s.cpuUsPerRequest.toFixed(2),
      s.idleCpuMsPerS.toFixed(2),
      s.serverCpuPct.toFixed(0),
      s.loopBusyPct.toFixed(0),
      fmtOverhead(s.reqPerSOverheadPct, s.reqPerSOverheadRangePct),
      fmtOverhead(s.cpuPerRequestOverheadPct, s.cpuPerRequestOverheadRangePct),
      opt(s.recordsPerRequest, 2),
      opt(s.bytesPerRequest, 1),
      opt(s.bytesPerRecord, 2),
      s.droppedRecords === null ? '-' : String(s.droppedRecords),
      opt(s.selfCpuPct, 2),
    ]);
  }
  return rows
    .map((cells) => cells.map((c, i) => (i === 0 ? c.padEnd(COLUMNS[i]![1]) : c.padStart(COLUMNS[i]![1]))).join('  '))
    .join('\n');
}

// ---------------------------------------------------------------------------------------------
// Running

class MeasurementError extends Error {}

/** How long new servers run before the first is frozen (see runRound). */
const STARTUP_SETTLE_MS = 1500;
/** The window in which idle CPU is measured. */
const IDLE_WINDOW_MS = 1000;

interface Pinning {
  server: string;
  load: string;
}

/** Two CPUs this process may run on, when taskset exists; otherwise why not. */
function findPinning(): Pinning | string {
  if (spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status !== 0) return 'taskset not found';
  const out = spawnSync('taskset', ['-cp', String(process.pid)], { encoding: 'utf8' });
  const list = /list:\s*([0-9,\- ]+)/.exec(out.stdout ?? '')?.[1];
  if (out.status !== 0 || list === undefined) return "taskset cannot read this process's CPU affinity";
  const cpus: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.trim().split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    for (let c = a; c <= (b ?? a); c++) cpus.push(c);
    if (cpus.length >= 2) break;
  }
  if (cpus.length < 2) return `only CPU ${cpus.join(',')} is available`;
  return { server: String(cpus[0]), load: String(cpus[1]) };
}

const live = new Set<ChildProcess>();

/** A child process with a request/response IPC protocol keyed by message type. */
class Child {
  protected readonly child: ChildProcess;
  private readonly waiters = new Map<string, (message: Record<string, unknown>) => void>();
  private readonly unclaimed = new Map<string, Record<string, unknown>>();
  protected readonly exited: Promise<number | null>;
  private failure: MeasurementError | undefined;

  constructor(
    private readonly what: string,
    script: string,
    args: string[],
    nodeFlags: string[],
    pin: string | undefined,
  ) {
    const path = fileURLToPath(new URL(script, import.meta.url));
    const nodeArgs = [...nodeFlags, path, ...args];
    // taskset execs node, so the child's pid is node's (SIGSTOP and SIGCONT reach it).
    const [cmd, argv] = pin === undefined ? [process.execPath, nodeArgs] : ['taskset', ['-c', pin, process.execPath, ...nodeArgs]];
    // The child's stdout goes to our stderr, so that --json output stays one document.
    this.child = spawn(cmd, argv, { stdio: ['ignore', 2, 2, 'ipc'] });
    live.add(this.child);
    this.child.on('message', (m: Record<string, unknown>) => {
      const type = String(m['type']);
      // A 'failed' answers whatever was asked.
      const w = this.waiters.get(type) ?? (type === 'failed' ? [...this.waiters.values()][0] : undefined);
      if (w === undefined) {
        // Not asked for yet (a server that listens before we wait for it): keep it.
        this.unclaimed.set(type, m);
        return;
      }
      this.waiters.clear();
      w(m);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        live.delete(this.child);
        this.failure ??= new MeasurementError(`${what} exited early with ${signal ?? code}`);
        for (const w of this.waiters.values()) w({ type: 'exit' });
        this.waiters.clear();
        resolve(code);
      });
      this.child.on('error', (e) => {
        this.failure = new MeasurementError(`cannot start ${what}: ${e.message}`);
        for (const w of this.waiters.values()) w({ type: 'exit' });
        resolve(null);
      });
    });
  }

  /** Waits for a message of the given type, sending `request` first if given. */
  async expect(type: string, request?: object, timeoutMs = 30_000): Promise<Record<string, unknown>> {
    const message = await new Promise<Record<string, unknown>>((resolve) => {
      const early = this.unclaimed.get(type) ?? this.unclaimed.get('failed');
      if (early !== undefined && request === undefined) {
        this.unclaimed.clear();
        return resolve(early);
      }
      const timer = setTimeout(() => resolve({ type: 'timeout' }), timeoutMs);
      this.waiters.set(type, (m) => {
        clearTimeout(timer);
        resolve(m);
      });
      if (request !== undefined && this.child.connected) this.child.send(request);
    });
    if (message['type'] === 'timeout') throw new MeasurementError(`${this.what} did not answer '${type}' within ${timeoutMs} ms`);
    if (message['type'] === 'exit') throw this.failure ?? new MeasurementError(`${this.what} exited`);
    if (message['type'] === 'failed') throw new MeasurementError(`${this.what}: ${String(message['message'])}`);
    return message;
  }

  /** Asks the child to finish and waits for it; kills it after 10 s. */
  async close(request: object): Promise<void> {
    this.failure = new MeasurementError(`${this.what} stopped`);
    this.resume();
    if (this.child.connected) this.child.send(request);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    if (code !== 0) throw new MeasurementError(`${this.what} exited with ${code} when asked to stop`);
  }

  // A server waiting for its next slice is frozen, so that its timers, its telemetry's probe and
  // writer thread take no CPU from the server being measured on the same core.
  pause(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, 'SIGSTOP');
  }

  resume(): void {
    if (this.child.pid !== undefined && this.child.exitCode === null) process.kill(this.child.pid, 'SIGCONT');
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** For the load generator: the servers to end if this process dies (scripts/compare-overhead-load.ts). */
  watch(pids: number[]): void {
    if (this.child.connected) this.child.send({ type: 'watch', pids: pids.filter((p) => p > 0) });
  }
}

/** Bytes and events in the trace_events files of a run (a JSON object per event). */
async function traceEventFiles(dir: string): Promise<{ bytes: number; events: number }> {
  let bytes = 0;
  let events = 0;
  for (const name of readdirSync(dir)) {
    if (!name.startsWith('trace-events-')) continue;
    const path = join(dir, name);
    bytes += statSync(path).size;
    // Count by streaming: the files reach tens of megabytes. Every event starts with {"pid":.
    let carry = '';
    for await (const chunk of createReadStream(path, { encoding: 'latin1', highWaterMark: 1 << 20 })) {
      const text = carry + (chunk as string);
      let at = text.indexOf('{"pid":');
      while (at >= 0) {
        events++;
        at = text.indexOf('{"pid":', at + 7);
      }
      carry = text.slice(-6);
    }
  }
  return { bytes, events };
}

/** What a server accumulates over the slices of one round. */
interface Tally {
  idleCpuMsPerS: number;
  requests: number;
  /** Responses since the server started, warm-up included. */
  requestsTotal: number;
  loadedMs: number;
  windowMs: number;
  cpuUs: number;
  busyMs: number;
  records: number;
  bytes: number;
  droppedRecords: number;
  /** looptrace's own CPU by its self-accounting (stats().selfCpuNs) over the measured slices. */
  selfCpuNs: number;
  tracerRecords: number;
  hasTelemetry: boolean;
  hasTracer: boolean;
  telemetryErrors: string[];
  clientErrors: number;
  p50: number[];
  p99: number[];
}

/**
 * One round: a fresh server per handler and configuration, each warmed up, then --duration
 * one-second slices per server, interleaved (A B C, B C A, ...). Only the server under load runs;
 * the others are frozen.
 */
async function runRound(options: Options, round: number, load: Child, pinning: Pinning | undefined, baseDir: string): Promise<Run[]> {
  const servers = new Map<string, { handler: Handler; label: string; server: Child; dir: string; port: number; tally: Tally }>();
  // Handler-major order, so that the rotation below moves through both handlers' servers.
  const keys = options.handlers.flatMap((handler) => options.labels.map((label) => ({ handler, label, key: `${handler} ${label}` })));
  try {
    for (const { handler, label, key } of keys) {
      const config = configOf(label);
      const dir = mkdtempSync(join(baseDir, `${config}-${handler}-`));
      const nodeFlags =
        config === 'trace-events'
          ? ['--trace-event-categories', 'node.async_hooks', '--trace-event-file-pattern', join(dir, 'trace-events-${pid}-${rotation}.json')]
          : [];
      const spec: ServerSpec = { config, handler, dir };
      const server = new Child(`server ${label} (${handler})`, './compare-overhead-server.js', [JSON.stringify(spec)], nodeFlags, pinning?.server);
      const tally: Tally = {
        idleCpuMsPerS: 0, requests: 0, requestsTotal: 0, loadedMs: 0, windowMs: 0, cpuUs: 0, busyMs: 0, records: 0, bytes: 0, droppedRecords: 0, selfCpuNs: 0, tracerRecords: 0,
        hasTelemetry: false, hasTracer: false, telemetryErrors: [], clientErrors: 0, p50: [], p99: [],
      };
      servers.set(key, { handler, label, server, dir, port: 0, tally });
    }
    for (const s of servers.values()) s.port = Number((await s.server.expect('listening'))['port']);
    load.watch([...servers.values()].map((s) => s.server.pid));
    // Let every server run a little before freezing it: looptrace checks about a second after
    // start that records are arriving, and a process frozen across that check would report a
    // false NO_RECORDS.
    await new Promise((resolve) => setTimeout(resolve, STARTUP_SETTLE_MS));
    // Idle cost: what each server burns per second with no request at all (timers, threads
    // waking up). All servers are idle together; an idle process's CPU time is hardly disturbed.
    await Promise.all([...servers.values()].map((s) => s.server.expect('marked', { type: 'mark' })));
    await new Promise((resolve) => setTimeout(resolve, IDLE_WINDOW_MS));
    for (const s of servers.values()) {
      const report = (await s.server.expect('report', { type: 'report' }))['report'] as ServerReport;
      s.tally.idleCpuMsPerS = (report.cpuUserUs + report.cpuSystemUs) / report.windowMs;
    }
    for (const s of servers.values()) s.server.pause();
    const slice = async (key: string, measure: boolean, seconds: number): Promise<void> => {
      const s = servers.get(key)!;
      s.server.resume();
      if (measure) await s.server.expect('marked', { type: 'mark' });
      const result = (await load.expect('result', { type: 'run', port: s.port, seconds, connections: options.connections }, (seconds + 30) * 1000))['result'] as LoadResult;
      if (measure) {
        const report = (await s.server.expect('report', { type: 'report' }))['report'] as ServerReport;
        const t = s.tally;
        t.requests += report.requests;
        t.requestsTotal = report.requestsTotal;
        t.loadedMs += report.loadedMs;
        t.windowMs += report.windowMs;
        t.cpuUs += report.cpuUserUs + report.cpuSystemUs;
        t.busyMs += report.loopUtilization * report.windowMs;
        if (report.telemetry !== null) {
          t.hasTelemetry = true;
          t.records += report.telemetry.records;
          t.bytes += report.telemetry.bytes;
          t.droppedRecords += report.telemetry.droppedRecords;
          t.selfCpuNs += report.telemetry.selfCpuNs;
          for (const e of report.telemetry.errors) if (!t.telemetryErrors.includes(e)) t.telemetryErrors.push(e);
        }
        if (report.tracerRecords !== null) {
          t.hasTracer = true;
          t.tracerRecords += report.tracerRecords;
        }
        t.clientErrors += result.errors;
        t.p50.push(result.latencyP50Ms);
        t.p99.push(result.latencyP99Ms);
      }
      s.server.pause();
    };
    const n = keys.length;
    const rotated = (k: number): string[] => keys.map((_, i) => keys[(i + k) % n]!.key);
    // Warm-up: the JIT, the heap and looptrace's buffers reach their steady state unmeasured.
    if (options.warmupS > 0) for (const key of rotated(round)) await slice(key, false, options.warmupS);
    // Rotate the order every slice (and every round) so that no configuration always follows
    // the same one.
    for (let k = 0; k < options.durationS; k++) for (const key of rotated(round + k)) await slice(key, true, 1);

    const runs: Run[] = [];
    for (const s of servers.values()) {
      const { handler, label } = s;
      await s.server.close({ type: 'stop' });
      const t = s.tally;
      if (t.requests < 2 || t.loadedMs <= 0) throw new MeasurementError(`${label} (${handler}): no request completed`);
      let recordsPerRequest: number | null = null;
      let bytesPerRequest: number | null = null;
      let bytesPerRecord: number | null = null;
      if (t.hasTelemetry) {
        recordsPerRequest = t.records / t.requests;
        bytesPerRequest = t.bytes / t.requests;
        bytesPerRecord = t.records > 0 ? t.bytes / t.records : null;
      } else if (t.hasTracer) {
        recordsPerRequest = t.tracerRecords / t.requests; // in memory: no bytes
      } else if (configOf(label) === 'trace-events') {
        // The agent writes its file at exit, so this covers the whole process, warm-up included.
        const files = await traceEventFiles(s.dir);
        recordsPerRequest = files.events / t.requestsTotal;
        bytesPerRequest = files.bytes / t.requestsTotal;
        bytesPerRecord = files.events > 0 ? files.bytes / files.events : null;
      }
      runs.push({
        round,
        handler,
        label,
        slices: options.durationS,
        requests: t.requests,
        reqPerS: t.requests / (t.loadedMs / 1000),
        latencyP50Ms: median(t.p50),
        latencyP99Ms: median(t.p99),
        cpuUsPerRequest: t.cpuUs / t.requests,
        idleCpuMsPerS: t.idleCpuMsPerS,
        serverCpuPct: (t.cpuUs / 1000 / t.windowMs) * 100,
        loopBusyPct: (t.busyMs / t.windowMs) * 100,
        recordsPerRequest,
        bytesPerRequest,
        bytesPerRecord,
        droppedRecords: t.hasTelemetry ? t.droppedRecords : null,
        selfCpuPct: t.hasTelemetry && t.cpuUs > 0 ? (t.selfCpuNs / 1000 / t.cpuUs) * 100 : null,
        clientErrors: t.clientErrors,
        telemetryErrors: t.telemetryErrors,
      });
    }
    load.watch([]);
    return runs;
  } catch (error) {
    for (const s of servers.values()) s.server.kill();
    throw error;
  } finally {
    for (const s of servers.values()) rmSync(s.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  // perf's sampled share of looptrace beside its self-accounting has its own options.
  if (process.argv.includes('--perf')) {
    if (process.argv.includes('--help') || process.argv.includes('-h')) {
      console.log(PERF_USAGE);
      return 0;
    }
    return perfMain(process.argv.slice(2));
  }
  // The deterministic figure (instruction counts under callgrind) has its own options.
  if (process.argv.includes('--instructions')) {
    if (process.argv.includes('--help') || process.argv.includes('-h')) {
      console.log(INSTRUCTIONS_USAGE);
      return 0;
    }
    return instructionsMain(process.argv.slice(2));
  }
  let options: Options;
  try {
    const parsed = parseArgs(process.argv.slice(2));
    if (parsed === 'help') {
      console.log(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`compare-overhead: ${error.message}\n${USAGE}`);
    return 2;
  }
  const log = (line: string): void => {
    // Under --json the table goes to stderr, so that stdout is one JSON document.
    (options.json ? process.stderr : process.stdout).write(`${line}\n`);
  };

  const pinned = options.pin ? findPinning() : 'disabled by --no-pin';
  const pinning = typeof pinned === 'string' ? undefined : pinned;
  const n = options.labels.length * options.handlers.length;
  const estimateS = options.rounds * (2 + (STARTUP_SETTLE_MS + IDLE_WINDOW_MS) / 1000 + n * (options.warmupS + 0.2) + n * options.durationS * 1.15);
  log(
    `compare-overhead: node:http server (${options.handlers.join(' and ')} handler), autocannon ${options.connections} connections, pipelining 1; ` +
      `${options.rounds} rounds, each a fresh process per configuration, ${options.warmupS} s warm-up, then ${options.durationS} one-second slices per configuration, interleaved`,
  );
  log(`  configurations: ${options.labels.join(', ')}`);
  log(`  ${pinning ? `server on CPU ${pinning.server}, load generator on CPU ${pinning.load} (taskset)` : `not pinned (${String(pinned)}): server and load generator share the CPUs`}`);
  log(`  about ${Math.ceil(estimateS)} s`);

  const baseDir = mkdtempSync(join(tmpdir(), 'looptrace-overhead-'));
  const load = new Child('load generator', './compare-overhead-load.js', [], [], pinning?.load);
  const runs: Run[] = [];
  let roundsRun = options.rounds;
  let confirmed = false;
  try {
    await load.expect('ready');
    let planned = options.rounds;
    for (let round = 0; round < planned; round++) {
      for (const run of await runRound(options, round, load, pinning, baseDir)) {
        runs.push(run);
        const extra = run.recordsPerRequest === null ? '' : `, ${run.recordsPerRequest.toFixed(2)} records/req`;
        process.stderr.write(
          `  round ${round + 1}/${planned} ${run.handler} ${run.label}: ${run.reqPerS.toFixed(0)} req/s, ${run.cpuUsPerRequest.toFixed(2)} µs CPU/req, ` +
            `loop busy ${run.loopBusyPct.toFixed(0)}%${extra}${run.clientErrors > 0 ? `, ${run.clientErrors} client errors` : ''}\n`,
        );
      }
      // A failure after the planned rounds may be a noisy neighbour: confirm it with more rounds,
      // judged together with the first ones. A real regression fails again; a fluke is outvoted.
      if (round === options.rounds - 1 && options.confirmRounds > 0) {
        const early = gate(summarise(runs, options.handlers, options.labels), options.maxOverheadPct, options.maxBytesPerRecord);
        if (!early.passed) {
          planned += options.confirmRounds;
          confirmed = true;
          process.stderr.write(`  the gate failed after ${options.rounds} rounds (${early.checks.filter((c) => c.startsWith('FAIL')).join('; ')}); ${options.confirmRounds} more rounds to confirm\n`);
        }
      }
    }
    roundsRun = planned;
    await load.close({ type: 'exit' });
  } catch (error) {
    load.kill();
    if (!(error instanceof MeasurementError)) throw error;
    console.error(`compare-overhead: the measurement failed: ${error.message}`);
    return 3;
  } finally {
    rmSync(baseDir, { recursive: true, force: true });
  }

  const summaries = summarise(runs, options.handlers, options.labels);
  const result = gate(summaries, options.maxOverheadPct, options.maxBytesPerRecord);
  for (const handler of options.handlers) {
    log('');
    log(`${handler} handler: medians over ${roundsRun} rounds${confirmed ? ` (${options.confirmRounds} of them to confirm a failure)` : ''}; overhead = median over rounds of the ratio to the same round's baseline [lowest..highest round]`);
    log(renderTable(summaries, handler));
  }
  for (const s of summaries.filter((x) => x.clientErrors > 0)) {
    log(`warning: ${s.label} (${s.handler}): ${s.clientErrors} requests failed at the client (errors, timeouts or non-2xx)`);
  }
  const unsaturated = summaries.filter((s) => s.loopBusyPct < 90);
  if (unsaturated.length > 0) {
    log(
      `note: loop busy below 90% for ${unsaturated.map((s) => `${s.label} (${s.handler})`).join(', ')}: the load generator, not the server, ` +
        'set the pace there; CPU/request still compares, req/s understates the overhead',
    );
  }
  log('');
  for (const line of result.checks) log(line);
  if (options.json) {
    const document = {
      version: 1,
      node: process.version,
      settings: {
        rounds: options.rounds,
        confirmRounds: options.confirmRounds,
        roundsRun,
        durationS: options.durationS,
        sliceS: 1,
        warmupS: options.warmupS,
        connections: options.connections,
        pipelining: 1,
        handlers: options.handlers,
        configs: options.labels,
        pinning: pinning ?? null,
        pinningNote: pinning ? null : String(pinned),
        maxOverheadPct: options.maxOverheadPct,
        maxBytesPerRecord: options.maxBytesPerRecord,
        gatedConfig: GATED_CONFIG,
      },
      summaries,
      runs,
      gate: result,
    };
    process.stdout.write(`${JSON.stringify(document, null, 2)}\n`);
  }
  return result.passed || options.reportOnly ? 0 : 1;
}

function killAll(): void {
  for (const child of live) {
    // A frozen child must be continued to act on anything but SIGKILL; SIGKILL needs nothing.
    child.kill('SIGKILL');
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      killAll();
      process.exit(130);
    });
  }
  process.exitCode = await main();
}
