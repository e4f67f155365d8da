// The only module that loads the native addon. Everything else imports loadBinding() from here,
// so there is one place that knows where the .node file lives and how to explain a missing one.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The object exported by build/Release/looptrace.node. */
export interface NativeStats {
  records: number;
  bytes: number;
  frames: number;
  droppedRecords: number;
  droppedBytes: number;
  files: number;
  threads: number;
  mainThreadRecords: number;
  /** Header key 13 of docs/FORMAT.md: 1 schedstat, 2 stack sampling, 4 GC pauses. */
  capabilities: number;
  /** Stack samples the watchdog asked V8 for. */
  stackRequests: number;
  /** Loops the watchdog woke to put their entry callback back after a busy stretch. */
  watchdogNudges: number;
  /** Stack samples taken and written. */
  stackSamples: number;
  /** Loop time those samples took, in all (V8's stack walk plus interning). */
  stackSampleNs: number;
  /** looptrace's own CPU time by part, and the process's since start (native/recorder.h SelfCost). */
  selfCpu: { writerNs: number; watchdogNs: number; hooksNs: number; timersNs: number; stacksNs: number; processNs: number };
  /** Strings, stacks or trace contexts not interned because a table was full. */
  definitionMisses: number;
  running: boolean;
  enabled: boolean;
  /** The writer thread's first failure, when it failed. */
  error?: string;
}

/** What the calling thread became in the trace. */
export interface NativeThreadIdentity {
  threadId: number;
  generation: number;
}

/** The object exported by build/Release/looptrace.node. */
export interface NativeBinding {
  /** Version of the compiled addon; equals the package version it was built from. */
  readonly addonVersion: string;
  /** N-API version of the running Node.js (napi_get_version). */
  readonly napiVersion: number;
  /**
   * CRC-32C (Castagnoli) of `data[startOffset, endOffset)`, as an unsigned 32-bit number.
   * `startOffset` defaults to 0 and `endOffset` to `data.length`.
   */
  crc32c(data: Uint8Array, startOffset?: number, endOffset?: number): number;
  /** Starts the process's trace and attaches the calling thread's loop. Throws when the sink cannot be opened. */
  start(options: Record<string, unknown>, notify: () => void): NativeThreadIdentity;
  /** Attaches the calling thread's loop to the running trace; null when none is running. */
  attachThread(options: { threadName: string; nodeThreadId: number }): NativeThreadIdentity | null;
  /** Detaches the calling thread's loop from the trace. */
  detachThread(): void;
  /** Marks the calling thread as exiting by itself, so that its THREAD_STOP does not say terminated. */
  markThreadExiting(): void;
  setEnabled(enabled: boolean): void;
  /** Statistics of the current (or last) trace; null before the first start. */
  stats(): NativeStats | null;
  /** Chunks queued for a JavaScript writer. */
  takeOutbox(): Uint8Array[];
  stop(): void;
  flushAtExit(): void;
  /** Hands the attribution part's table (loadAttribution().api) to the core; false on a version mismatch. */
  setAttribution(api: bigint, apiCheck: bigint): boolean;
  /** Appends a record from JavaScript (operations, marks, user queues, callbacks) to this thread's ring; false when this loop is not recorded. */
  pushRecord(code: number, f0?: number, f1?: number, f2?: number): boolean;
  /** The id of a string in the running trace (0: none running, or the table is full). */
  internString(value: string): number;
  /** Gives an operation its W3C trace context: 16 bytes trace id, 8 span id, 8 parent span id, 1 flags. */
  defineTraceContext(operationId: number, context: Uint8Array): boolean;
  /** Hands this thread's hooks the batch of staged operation and callback records (native/js_batch.h) and moves them into its ring; false when this loop is not recorded. */
  flushRecords(batch: Float64Array, originNs: bigint): boolean;
  /** Turns the writer's per-thread aggregates on (from zero) or off; false when no trace is running. */
  setAggregation(on: boolean, longTaskMs: number, notify: boolean): boolean;
  /** Each live thread's aggregates; empty when aggregation is off. */
  threadAggregates(): NativeThreadAggregates[];
  /** Long tasks queued since the last call, and how many the bounded queue dropped so far. */
  takeLongTasks(): { tasks: NativeLongTask[]; dropped: number };
}

/** Non-empty buckets of a native histogram (native/thread_metrics.h NsHistogram): index, count, sum (ns), repeated. */
export type NativeHistogram = number[];

/** One thread's cumulative aggregates, kept by the writer thread for the OpenTelemetry bridge. */
export interface NativeThreadAggregates {
  threadId: number;
  nodeThreadId: number;
  /** 0 main thread, 1 worker. */
  kind: number;
  name: string;
  activeNs: number;
  idleNs: number;
  iterations: number;
  longTasks: number;
  longTaskNs: number;
  events: number;
  eventsWaiting: number;
  droppedRecords: number;
  stretches: NativeHistogram;
  /** By v8js.gc.type: minor, major, incremental, weakcb. */
  gc: [NativeHistogram, NativeHistogram, NativeHistogram, NativeHistogram];
  threadpoolDelay: NativeHistogram;
}

/** A long task queued by the writer thread (native/thread_metrics.h LongTask). */
export interface NativeLongTask {
  threadId: number;
  nodeThreadId: number;
  threadName: string;
  startUnixNs: number;
  endUnixNs: number;
  ioNs: number;
  cpuNs: number;
  cpuWallNs: number;
  runnableNs: number;
  gcNs: number;
  stackSamples: number;
  operationId: number;
  /** The operation's W3C trace context (33 bytes), when it had one. */
  context?: Uint8Array;
  /** The blocking site seen in most of the task's stack samples: the innermost application frame (not node:…). */
  functionName?: string;
  scriptName?: string;
  line?: number;
  column?: number;
}

/** The test build of the core (native/test): the same addon plus entry points for tests and benches. */
export interface NativeTestBinding extends NativeBinding {
  /** Runs encode steps (magic, header, frames of lowered records) through the C++ encoder. */
  encodeForTest(steps: unknown[]): Uint8Array;
  /** Pushes synthetic records through a ring and the writer thread into a file. */
  benchmarkWriter(path: string, records: number): { seconds: number; records: number; bytes: number; dropped: number };
}

type NodeGypBuild = (packageRoot: string) => unknown;

/** The attribution part (native/attribution): JavaScript stacks and GC pauses, built per Node ABI. */
export type AttributionLoad = { ok: true; api: bigint; apiCheck: bigint } | { ok: false; reason: string };

const require = createRequire(import.meta.url);
let cached: NativeBinding | undefined;

// This file runs as dist/binding.js when installed and as src/binding.ts under vitest, so the
// package root is found by walking up rather than by a fixed relative path.
function findPackageRoot(): string {
  const start = dirname(fileURLToPath(import.meta.url));
  let dir = start;
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        const parsed = JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown };
        if (parsed.name === 'looptrace') {
          return dir;
        }
      } catch {
        // An unreadable package.json belongs to some other package; keep walking up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) {
      throw new Error(
        `looptrace: cannot find the looptrace package root (no package.json named "looptrace" ` +
          `in ${start} or any parent directory).`,
      );
    }
    dir = parent;
  }
}

function isNativeBinding(value: unknown): value is NativeBinding {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate['addonVersion'] === 'string' &&
    typeof candidate['napiVersion'] === 'number' &&
    typeof candidate['crc32c'] === 'function' &&
    typeof candidate['start'] === 'function'
  );
}

/**
 * Loads the native addon once and returns it. Throws an Error that names the searched directory,
 * the underlying reason and the fix when the addon is missing or cannot be loaded.
 */
export function loadBinding(): NativeBinding {
  if (cached !== undefined) {
    return cached;
  }
  const root = findPackageRoot();
  let loaded: unknown;
  try {
    const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
    loaded = nodeGypBuild(root);
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).trim();
    throw new Error(
      `looptrace: cannot load the native addon from ${root} (searched build/Release, ` +
        `build/Debug and prebuilds/).\n` +
        `Reason: ${reason}\n` +
        'Fix: run `npm rebuild looptrace` (or `npm install` in a checkout) so node-gyp builds ' +
        'the addon; it needs python3, make and a C++ compiler.',
      { cause: error },
    );
  }
  if (!isNativeBinding(loaded)) {
    throw new Error(
      `looptrace: the native addon loaded from ${root} does not export addonVersion, ` +
        'napiVersion and crc32c; it is probably stale. Fix: run `npm rebuild looptrace`.',
    );
  }
  cached = loaded;
  return loaded;
}

let attribution: AttributionLoad | undefined;

/**
 * Loads the attribution part (looptrace_v8.node) once. It uses the V8 API, so it only loads into
 * the Node.js it was built for; any failure is returned as a reason, never thrown: without it,
 * looptrace records everything but stacks and GC pauses.
 */
export function loadAttribution(): AttributionLoad {
  if (attribution !== undefined) return attribution;
  let loaded: unknown;
  try {
    const root = findPackageRoot();
    const nodeGypBuild = require('node-gyp-build') as NodeGypBuild;
    loaded = nodeGypBuild(join(root, 'native', 'attribution'));
  } catch (error) {
    // Node's message for a build of another ABI spans lines; the numbers are the useful part.
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\s+/g, ' ').trim();
    attribution = {
      ok: false,
      reason: `the attribution part (looptrace_v8.node) for Node ${process.version} (ABI ${process.versions.modules}) did not load: ${reason}`,
    };
    return attribution;
  }
  const exported = loaded as { api?: unknown; apiCheck?: unknown } | null;
  attribution = typeof exported?.api !== 'bigint' || typeof exported.apiCheck !== 'bigint'
    ? { ok: false, reason: 'the attribution part (looptrace_v8.node) exports no api; it is probably stale (npm rebuild looptrace)' }
    : { ok: true, api: exported.api, apiCheck: exported.apiCheck };
  return attribution;
}

let testBinding: NativeTestBinding | undefined;

/**
 * Loads the test build of the core (native/test/build/Release/looptrace_test.node, built by
 * `npm run build:native-test`). Only tests and benches use it; the package's public API does not
 * expose it, and the installed package does not contain it.
 */
export function loadTestBinding(): NativeTestBinding {
  if (testBinding !== undefined) return testBinding;
  const path = join(findPackageRoot(), 'native', 'test', 'build', 'Release', 'looptrace_test.node');
  try {
    testBinding = require(path) as NativeTestBinding;
  } catch (error) {
    throw new Error(`looptrace: cannot load the test build ${path}: ${(error as Error).message}. Run \`npm run build:native-test\`.`, { cause: error });
  }
  return testBinding;
}
