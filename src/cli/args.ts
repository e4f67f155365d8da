// analyze-trace's command line, parsed by hand (no dependency): --flag value and --flag=value,
// repeatable --fail-on, and "--" to end the options. Every mistake is a UsageError that names the
// flag and the value it could not use.

import { parseFailOn, FailOnError, type FailOnCondition } from '../analyze/fail-on.js';
import { parseTimeSpec, type TimeSpec } from '../analyze/window.js';
import { checkThreadPattern, ThreadPatternError } from '../analyze/thread-select.js';
import type { OperationStatusName } from '../analyze/operations.js';
import { operationFlags, OPERATION_USAGE } from './operations-args.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CliOptions {
  paths: string[];
  json: boolean;
  /** Where to write JSON Lines; "-" is stdout. */
  jsonl: string | undefined;
  since: TimeSpec | undefined;
  until: TimeSpec | undefined;
  longTaskNs: number | undefined;
  idleNs: number | undefined;
  saturation: number | undefined;
  threadpoolP90Ns: number | undefined;
  threadpoolSustainNs: number | undefined;
  top: number | undefined;
  failOn: FailOnCondition[];
  /** --thread patterns (globs over thread names); empty for every thread. */
  threads: string[];
  /** --serving-threads patterns: workers that serve requests. */
  servingThreads: string[];
  progress: boolean;
  /** Map frames of sampled stacks through source maps on disk (--no-source-maps: off). */
  sourceMaps: boolean;
  /** true/false when forced by a flag; undefined to decide from the terminal and the environment. */
  color: boolean | undefined;
  help: boolean;
  version: boolean;
  /** Operation flags (src/cli/operations-args.ts). */
  operations: boolean;
  traceId: string | undefined;
  op: string | undefined;
  status: OperationStatusName | undefined;
  last: number | undefined;
  minDurationNs: number | undefined;
  /** Visual outputs (src/view): files to write, or a local viewer to serve. */
  html: string | undefined;
  perfetto: string | undefined;
  chromeTrace: string | undefined;
  view: boolean;
  live: boolean;
  /** Port of the --view/--live server; 0 picks a free one. */
  port: number;
  /** --merge: the processes of the input side by side, operations joined across them by trace id. */
  merge: boolean;
}

type Handler = (options: CliOptions, value: string, flag: string) => void;

interface Flag {
  takesValue: boolean;
  apply: Handler;
}

const FLAGS: Record<string, Flag> = {
  '--json': { takesValue: false, apply: (o) => (o.json = true) },
  '--jsonl': { takesValue: true, apply: (o, v) => (o.jsonl = v) },
  '--since': { takesValue: true, apply: (o, v, f) => (o.since = timeSpec(v, f)) },
  '--until': { takesValue: true, apply: (o, v, f) => (o.until = timeSpec(v, f)) },
  '--long-task-ms': { takesValue: true, apply: (o, v, f) => (o.longTaskNs = positive(v, f, 'milliseconds') * 1e6) },
  '--idle-ms': { takesValue: true, apply: (o, v, f) => (o.idleNs = positive(v, f, 'milliseconds') * 1e6) },
  '--saturation': {
    takesValue: true,
    apply: (o, v, f) => {
      const ratio = positive(v, f, 'ratio between 0 and 1 (0.8 is 80% busy)');
      if (ratio > 1) throw new UsageError(`${f} is a ratio between 0 and 1 (0.8 is 80% busy), got ${JSON.stringify(v)}`);
      o.saturation = ratio;
    },
  },
  '--threadpool-p90-ms': { takesValue: true, apply: (o, v, f) => (o.threadpoolP90Ns = positive(v, f, 'milliseconds') * 1e6) },
  '--threadpool-sustain-s': { takesValue: true, apply: (o, v, f) => (o.threadpoolSustainNs = positive(v, f, 'seconds') * 1e9) },
  '--top': {
    takesValue: true,
    apply: (o, v, f) => {
      if (!/^\d+$/.test(v)) throw new UsageError(`${f} must be a whole number, got ${JSON.stringify(v)}`);
      o.top = Number(v);
    },
  },
  '--fail-on': {
    takesValue: true,
    apply: (o, v) => {
      try {
        o.failOn.push(parseFailOn(v));
      } catch (error) {
        if (error instanceof FailOnError) throw new UsageError(error.message);
        throw error;
      }
    },
  },
  '--thread': {
    takesValue: true,
    apply: (o, v, f) => {
      try {
        o.threads.push(checkThreadPattern(v));
      } catch (error) {
        if (error instanceof ThreadPatternError) throw new UsageError(`${f}: ${error.message}`);
        throw error;
      }
    },
  },
  '--serving-threads': {
    takesValue: true,
    apply: (o, v, f) => {
      try {
        o.servingThreads.push(checkThreadPattern(v));
      } catch (error) {
        if (error instanceof ThreadPatternError) throw new UsageError(`${f}: ${error.message}`);
        throw error;
      }
    },
  },
  '--html': { takesValue: true, apply: (o, v) => (o.html = v) },
  '--perfetto': { takesValue: true, apply: (o, v) => (o.perfetto = v) },
  '--chrome-trace': { takesValue: true, apply: (o, v) => (o.chromeTrace = v) },
  '--view': { takesValue: false, apply: (o) => (o.view = true) },
  '--merge': { takesValue: false, apply: (o) => (o.merge = true) },
  '--live': { takesValue: false, apply: (o) => (o.live = true) },
  '--port': {
    takesValue: true,
    apply: (o, v, f) => {
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new UsageError(`${f} must be a port number from 0 to 65535, got ${JSON.stringify(v)}`);
      o.port = Number(v);
    },
  },
  '--no-progress': { takesValue: false, apply: (o) => (o.progress = false) },
  '--no-source-maps': { takesValue: false, apply: (o) => (o.sourceMaps = false) },
  '--color': { takesValue: false, apply: (o) => (o.color = true) },
  '--no-color': { takesValue: false, apply: (o) => (o.color = false) },
  '--help': { takesValue: false, apply: (o) => (o.help = true) },
  '-h': { takesValue: false, apply: (o) => (o.help = true) },
  '--version': { takesValue: false, apply: (o) => (o.version = true) },
  ...operationFlags((message) => new UsageError(message)),
};

export function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    paths: [],
    json: false,
    jsonl: undefined,
    since: undefined,
    until: undefined,
    longTaskNs: undefined,
    idleNs: undefined,
    saturation: undefined,
    threadpoolP90Ns: undefined,
    threadpoolSustainNs: undefined,
    top: undefined,
    failOn: [],
    threads: [],
    servingThreads: [],
    progress: true,
    sourceMaps: true,
    color: undefined,
    help: false,
    version: false,
    operations: false,
    traceId: undefined,
    op: undefined,
    status: undefined,
    last: undefined,
    minDurationNs: undefined,
    html: undefined,
    perfetto: undefined,
    chromeTrace: undefined,
    view: false,
    live: false,
    port: 0,
    merge: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      options.paths.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      options.paths.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const flag = FLAGS[name];
    if (flag === undefined) throw new UsageError(`unknown option ${JSON.stringify(name)}`);
    let value = '';
    if (flag.takesValue) {
      if (eq > 0 && name !== arg) value = arg.slice(eq + 1);
      else {
        const next = argv[i + 1];
        // "-" alone is a value (stdout for --jsonl); any other dash-led word is the next option.
        if (next === undefined || (next.startsWith('-') && next !== '-' && !/^-\d/.test(next))) throw new UsageError(`${name} needs a value`);
        value = next;
        i++;
      }
      if (value === '') throw new UsageError(`${name} needs a value`);
    } else if (name !== arg) {
      throw new UsageError(`${name} takes no value, got ${JSON.stringify(arg.slice(eq + 1))}`);
    }
    flag.apply(options, value, name);
  }
  if (options.help || options.version) return options;
  if (options.paths.length === 0) throw new UsageError('no trace given: name a trace file, a directory of trace files, or several files');
  if (options.json && options.jsonl === '-') throw new UsageError('--json and --jsonl - both write to stdout; give --jsonl a file');
  if (options.view || options.live) {
    const other = options.json ? '--json' : options.jsonl !== undefined ? '--jsonl' : options.html !== undefined ? '--html' : options.perfetto !== undefined ? '--perfetto' : options.chromeTrace !== undefined ? '--chrome-trace' : options.failOn.length > 0 ? '--fail-on' : undefined;
    if (other !== undefined) throw new UsageError(`${options.live ? '--live' : '--view'} serves the viewer and writes no report; run ${other} separately`);
  } else if (options.port !== 0) throw new UsageError('--port is for --view and --live');
  if (options.merge) {
    const other = options.view ? '--view' : options.live ? '--live' : options.perfetto !== undefined ? '--perfetto' : options.chromeTrace !== undefined ? '--chrome-trace' : undefined;
    if (other !== undefined) throw new UsageError(`--merge joins several processes into one report, and ${other} shows one trace; run ${other} without --merge`);
  }
  return options;
}

function positive(value: string, flag: string, unit: string): number {
  const n = /^(\d+(\.\d+)?|\.\d+)$/.test(value) ? Number(value) : NaN;
  if (!(n > 0)) throw new UsageError(`${flag} must be a positive number of ${unit}, got ${JSON.stringify(value)}`);
  return n;
}

function timeSpec(value: string, flag: string): TimeSpec {
  const spec = parseTimeSpec(value);
  if (spec === undefined) {
    throw new UsageError(`${flag} ${JSON.stringify(value)} is neither an ISO time (2024-05-01T12:00:00Z) nor an offset from the start of the trace (+5s, 1m30s, 1500ms)`);
  }
  return spec;
}

export const USAGE = `Usage: analyze-trace [options] <trace.bin | directory | glob>...

Reads looptrace files (a file, the rotated files of a directory, or several files) and reports,
worst first: which event loop was busy in long tasks, when, for how long and running what; which workers sat
idle while work waited; whether the libuv threadpool was the bottleneck; and, when the recorder
sampled them, the JavaScript stacks of long tasks and the code that kept the loops busy.

Output
  --json                   print the report as JSON (schema: docs/ANALYZE-JSON.md); several
                           traces in the input give an array of reports
  --jsonl <file>           also write every record as one JSON line, with wall-clock time and
                           thread name ("-" writes the lines to stdout instead of the report)
  --color, --no-color      force colours on or off (default: on when stdout is a terminal;
                           NO_COLOR and FORCE_COLOR are respected)
  --no-progress            no progress bar (shown on a terminal for inputs over 64 MiB)
  --no-source-maps         show stack frames as recorded, without mapping built code through
                           the source maps found next to its scripts
  --html <file>            also write the report as one self-contained HTML file, with charts
  --perfetto <file>        also write the trace in Perfetto's protobuf format (ui.perfetto.dev)
  --chrome-trace <file>    also write the trace as Chrome Trace Event JSON
  --view                   serve the interactive viewer on 127.0.0.1 and print its URL (with a
                           random token); the viewer also opens dropped .bin files by itself
  --live                   like --view, following the newest file of a directory as it grows
  --port <n>               port for --view and --live (default: a free one)

Window
  --since <time>           analyze from this time: ISO (2024-05-01T12:00:00Z; local time
                           without a zone) or an offset from the start of the input (+5s, 2m)
  --until <time>           analyze up to this time (same forms)

Thresholds
  --long-task-ms <n>       a busy stretch this long is a long task (default 50)
  --idle-ms <n>            a worker waiting in one poll this long is idle (default 20)
  --saturation <ratio>     a thread this busy in a window is saturated (default 0.8)
  --threadpool-p90-ms <n>  threadpool pressure: p90 queueing delay in a second (default 10)
  --threadpool-sustain-s <n>  ... flagged when it lasts this long (default 3)
  --top <n>                list this many long tasks (per thread) and idle episodes (default 10)

Many processes
  --merge                  one report for all the processes in the input (cluster workers, PM2
                           instances, services sharing a directory, or several directories):
                           the processes side by side, the one blocked most, and operations
                           joined across processes by trace id (with --trace-id: that request's
                           tree across every service that handled it)

Threads
  --thread <pattern>       report only threads whose name matches (a glob: main, 'worker*',
                           'worker ? (pool.mjs)'); repeatable. Threads, long tasks, blocking
                           code, idle workers and findings are all limited to them
  --serving-threads <pattern>  workers whose names match serve requests: their long tasks
                           rank with the main thread's (default: a worker serves requests when
                           operations began on it; others are background work, and a busy pool
                           is a capacity finding); repeatable

${OPERATION_USAGE}
CI
  --fail-on <condition>    exit 1 when the condition holds; repeatable. METRIC OP VALUE with
                           OP one of > >= < <=, for example:
                             long-task>100ms   utilization>0.9   main-utilization>=95%
                             threadpool-p99>50ms   dropped>0   long-tasks>0
                           THREAD:METRIC limits a per-thread metric (long-task, long-tasks,
                           utilization, dropped) to threads matching a glob, for example
                             main:long-task>100ms   'worker*:utilization>0.95'
                           metrics: long-task, long-tasks, utilization, main-utilization,
                           threadpool-p50, threadpool-p90, threadpool-p99, threadpool-max,
                           threadpool-pressure, idle-workers, unbalanced-pools, dropped, corrupt

  -h, --help               this text
  --version                the version

Exit status: 0 done, 1 a --fail-on condition held, 2 bad usage or unreadable input.
`;
