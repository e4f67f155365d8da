// startRuntimeTelemetry() and the handle it returns: the recorder's lifecycle on the JavaScript
// side. The native addon records and writes; this module starts it, relays its errors and
// statistics, and stops it.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdirSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';
import { loadAttribution, loadBinding, type NativeBinding, type NativeStats } from '../binding.js';
import { TelemetryError } from './errors.js';
import { installExitHandlers, markExitOnExit, type ExitHandlers } from './exit-handlers.js';
import { resolveOptions, type ResolvedOptions, type RuntimeTelemetryOptions } from './options.js';
import { installWorkerTracing, uninstallWorkerTracing } from './worker-tracing.js';
import { threadName } from './thread-name.js';
import { traceStarted, writerNotified } from './recorder-listeners.js';
import { untracedWorkersMessage, watchUntracedWorkers, writeUntracedWorkerMark } from './untraced-workers.js';
import { isChunkWriter, type ChunkWriter } from './writers.js';
import { startOperationsForTelemetry, type Operations } from '../operations/start.js';
import type { MetricsSnapshot } from '../operations/metrics.js';
import type { CallbackWindow } from '../operations/callbacks.js';
import type { TraceDecoder } from '../format/decoder.js';
import type { LiveFeed, LiveHubStats } from '../view/live-hub.js';
import { ChunkTee, rotatingFeed, singleFileFeed, startLiveServer, type LiveServer } from '../view/live-server.js';

const PRODUCER = 'looptrace/0.1.0';
/** How long after start records must have arrived (section "No silent nothing" of the README). */
const ARRIVAL_CHECK_MS = 1000;

export interface TelemetryStats {
  /** Records encoded so far, across all threads. */
  records: number;
  /** Bytes handed to the writer, headers included. */
  bytes: number;
  frames: number;
  /** Records lost because a thread's buffer was full. */
  droppedRecords: number;
  /** Bytes a JavaScript writer could not take in time and that were dropped. */
  droppedBytes: number;
  /** Files opened (RotatingWriter and SimpleBinaryWriter); 0 for other writers. */
  files: number;
  /** Threads (event loops) being recorded. */
  threads: number;
  enabled: boolean;
  running: boolean;
  /** False until the first records from the main thread's loop have been encoded. */
  recordsArriving: boolean;
  /** Every error reported so far; the first one turned telemetry off. */
  errors: string[];
  /** Workers created from a Worker class taken before start, which are not in the trace. */
  untracedWorkers: number;
  /** What the application should know about this trace, such as workers that were not traced. */
  warnings: string[];
  /** Why this handle never recorded: the environment refused the start. Undefined after a good start. */
  startError?: string;
  /** What the trace can say about causes, and why a part is missing. */
  attribution: AttributionStats;
  /**
   * looptrace's own CPU time since start, in ns: the writer and watchdog threads (their thread
   * CPU clocks), the hooks (calls times the mean of timed calls), the queue-sample and
   * threadpool-probe timers and the stack samples (timed). docs/COMPARE-OVERHEAD.md says what
   * is left out.
   */
  selfCpuNs: number;
  /** selfCpuNs as a share of the whole process's CPU time since start (0.001 is 0.1%). */
  selfCpuRatio: number;
  /** selfCpuNs by part, and the process's CPU time since start. */
  selfCpu: SelfCpuStats;
}

export interface SelfCpuStats {
  writerNs: number;
  watchdogNs: number;
  hooksNs: number;
  timersNs: number;
  stacksNs: number;
  /** The whole process's CPU time (all threads) since telemetry started. */
  processNs: number;
}

export interface AttributionStats {
  /** JavaScript stacks are sampled while a loop is busy past stackThresholdMs. */
  stacks: boolean;
  /** GC pauses are recorded. */
  gcPauses: boolean;
  /** Scheduler statistics split off-CPU time into runnable and waiting. */
  schedulerStats: boolean;
  /** Stack samples asked for so far. */
  stackRequests: number;
  /**
   * Loops the stack watchdog woke so that they put back the check they make on entering
   * JavaScript, which a loop leaves out while it is busy (docs/COMPARE-OVERHEAD.md): about one
   * per busy stretch that ends in idleness, and one after enable() if a loop was then without it.
   */
  watchdogNudges: number;
  /** Stack samples taken and written so far. */
  stackSamples: number;
  /** Loop time those samples took in all (V8's stack walk and interning), in ns. */
  stackSampleNs: number;
  /** Why stacks or GC pauses are missing, when they are. */
  note?: string;
}

let running: RuntimeTelemetry | undefined;

/**
 * Starts recording every event loop of the process into the given writer. Throws a
 * TelemetryError when an option is invalid, the file cannot be opened, or a trace is already
 * being recorded in this process. In a worker thread of a process that is already recording,
 * the worker's loop joins that trace instead, and the returned handle controls that trace.
 */
export function startRuntimeTelemetry(options: RuntimeTelemetryOptions): RuntimeTelemetry {
  const resolved = resolveOptions(options);
  let binding: NativeBinding;
  try {
    binding = loadBinding();
  } catch (error) {
    return refused(resolved, new TelemetryError('NATIVE_UNAVAILABLE', (error as Error).message, { cause: error }));
  }
  if (!isMainThread) {
    const joined = binding.attachThread({ threadName: threadName(), nodeThreadId: threadId });
    if (joined !== null) {
      markExitOnExit(binding);
      const worker = new RuntimeTelemetry(binding, resolved, joined.threadId, true);
      worker.startOperations();
      return worker;
    }
  }
  if (running !== undefined && running.isRunning) {
    throw new TelemetryError(
      'ALREADY_RUNNING',
      'looptrace: telemetry is already running in this process; call stop() on the running instance before starting again',
    );
  }
  const telemetry = new RuntimeTelemetry(binding, resolved, 0, false);
  try {
    telemetry.begin();
  } catch (error) {
    if ((error as TelemetryError).code === 'ALREADY_RUNNING') throw error;
    return refused(resolved, error as TelemetryError);
  }
  running = telemetry;
  telemetry.startOperations();
  return telemetry;
}

/** A start the environment refused: thrown when asked for, else an inert handle that reports it. */
function refused(options: ResolvedOptions, error: TelemetryError): RuntimeTelemetry {
  if (options.throwOnStartError) throw error;
  const inert = new RuntimeTelemetry(undefined, options, 0, false);
  inert.refuse(error);
  return inert;
}

export class RuntimeTelemetry extends EventEmitter {
  private readonly binding: NativeBinding | undefined;
  private startErrorMessage: string | undefined;
  private stopped = false;
  private readonly options: ResolvedOptions;
  private readonly joined: boolean;
  private readonly chunkWriter: ChunkWriter | undefined;
  private threadIdValue: number;
  private active = false;
  private failed = false;
  private readonly errorMessages: string[] = [];
  private exitHandlers: ExitHandlers | undefined;
  private arrivalTimer: NodeJS.Timeout | undefined;
  private lastStats: NativeStats | null = null;
  private untracedWorkers = 0;
  private stopWatchingWorkers: (() => void) | undefined;
  private operations: Operations | undefined;
  private attributionNote: string | undefined;
  private liveServer: LiveServer | undefined;
  private liveUrlValue: string | undefined;
  private liveTee: ChunkTee | undefined;
  private liveStats: LiveHubStats | undefined;
  private firstChunk = true;

  /** @internal Use startRuntimeTelemetry(). */
  constructor(binding: NativeBinding | undefined, options: ResolvedOptions, threadIdValue: number, joined: boolean) {
    super();
    this.binding = binding;
    this.options = options;
    this.threadIdValue = threadIdValue;
    this.joined = joined;
    this.active = joined;
    this.chunkWriter = isChunkWriter(options.writer) ? options.writer : undefined;
  }

  /** This thread's id in the trace: 1 for the main thread, 2 and up for workers. */
  get threadId(): number {
    return this.threadIdValue;
  }

  get isRunning(): boolean {
    return this.active;
  }

  /**
   * The live view's URL, token included, once its server listens (the `live` option); undefined
   * before, without the option, and after stop(). whenLive() waits for it.
   */
  get liveUrl(): string | undefined {
    return this.liveUrlValue;
  }

  /** The live view's URL once its server listens; rejects with a LIVE_FAILED TelemetryError when it cannot. */
  whenLive(): Promise<string> {
    if (this.liveServer === undefined) {
      return Promise.reject(new TelemetryError('LIVE_FAILED', 'looptrace: no live view: startRuntimeTelemetry() was not given the live option, or telemetry is not running'));
    }
    return this.liveServer.url;
  }

  /**
   * @internal The start was refused: the handle stays inert and the error is reported on the
   * next tick, so that an 'error' listener added right after start hears it.
   */
  refuse(error: TelemetryError): void {
    this.failed = true;
    this.startErrorMessage = error.message;
    this.errorMessages.push(error.message);
    process.nextTick(() => this.report(error));
  }

  /** @internal */
  begin(): void {
    const binding = this.binding!;
    const o = this.options;
    const writer = o.writer;
    const sink = isChunkWriter(writer)
      ? { sink: 'js' }
      : writer.kind === 'null'
        ? { sink: 'null' }
        : { sink: 'file', path: writer.path, replace: writer.kind === 'simple' && writer.replace, maxFileBytes: writer.kind === 'rotating' ? writer.maxFileBytes : 0, maxTotalBytes: writer.kind === 'rotating' ? writer.maxTotalBytes : 0 };
    let attributionNote = '';
    const wantsAttribution = o.stackThresholdMs > 0 || o.gcPauses;
    if (wantsAttribution) {
      const part = loadAttribution();
      if (!part.ok) attributionNote = `no stacks and no GC pauses: ${part.reason}`;
      else if (!binding.setAttribution(part.api, part.apiCheck)) attributionNote = 'no stacks and no GC pauses: the attribution part is of another version than the core (npm rebuild looptrace)';
    }
    this.attributionNote = attributionNote === '' ? undefined : attributionNote;
    let identity: { threadId: number };
    const traceId = randomBytes(16).toString('hex');
    try {
      if (!isChunkWriter(writer) && writer.kind !== 'null') createDirectory(writer.path);
      identity = binding.start(
        {
          ...sink,
          traceId,
          enabled: o.enabled,
          flushIntervalMs: o.flushIntervalMs,
          queueSampleIntervalMs: o.queueSampleIntervalMs,
          threadpoolProbeIntervalMs: o.threadpoolProbeIntervalMs,
          cpuThresholdMs: o.cpuThresholdMs,
          threadBufferRecords: o.threadBufferRecords,
          stackThresholdMs: o.stackThresholdMs,
          stackIntervalMs: o.stackIntervalMs,
          stackDepth: o.stackDepth,
          gcPauses: o.gcPauses,
          schedstat: o.schedulerStats,
          attributionNote,
          pid: process.pid,
          hostname: hostname(),
          nodeVersion: process.version,
          serviceName: o.serviceName ?? '',
          producer: PRODUCER,
          platform: `${process.platform}-${process.arch}`,
          threadpoolSize: threadpoolSize(),
          isMainThread,
          nodeThreadId: threadId,
          threadName: threadName(),
          probeThreadpool: o.threadpoolProbeIntervalMs > 0,
        },
        () => this.onNotify(),
      );
    } catch (error) {
      if (error instanceof TelemetryError) throw error;
      if ((error as { code?: unknown }).code === 'ALREADY_RUNNING') {
        throw new TelemetryError('ALREADY_RUNNING', `looptrace: ${(error as Error).message} (started by another thread); stop it there first`, { cause: error });
      }
      throw new TelemetryError('OPEN_FAILED', `looptrace: cannot start telemetry: ${(error as Error).message}`, { cause: error });
    }
    this.threadIdValue = identity.threadId;
    this.active = true;
    if (o.traceWorkers && isMainThread) {
      installWorkerTracing();
      this.stopWatchingWorkers = watchUntracedWorkers((nodeThreadId) => this.onUntracedWorker(nodeThreadId));
    }
    if (o.exitHandlers) this.exitHandlers = installExitHandlers(() => this.flushAtExit());
    if (o.enabled) this.scheduleArrivalCheck();
    traceStarted();
    if (o.live !== undefined) this.startLive(o.live, traceId);
  }

  /** The live view: a server that reads this trace only while a page is connected. */
  private startLive(live: NonNullable<ResolvedOptions['live']>, traceId: string): void {
    const writer = this.options.writer;
    let openFeed: (decoder: TraceDecoder) => LiveFeed;
    if (isChunkWriter(writer)) {
      const tee = new ChunkTee();
      this.liveTee = tee;
      openFeed = (decoder) => tee.open(decoder);
    } else if (writer.kind === 'simple') {
      openFeed = (decoder) => singleFileFeed(writer.path, decoder);
    } else if (writer.kind === 'rotating') {
      openFeed = (decoder) => rotatingFeed(writer.path, traceId, decoder);
    } else {
      return;
    }
    const server = startLiveServer({ host: live.host, port: live.port, longTaskNs: live.longTaskNs, openFeed });
    this.liveServer = server;
    this.liveStats = server.stats;
    server.url.then(
      (url) => {
        if (this.liveServer === server) this.liveUrlValue = url;
      },
      (error: NodeJS.ErrnoException) => {
        if (this.liveServer !== server) return;
        this.liveServer = undefined;
        const why = error.code === 'EADDRINUSE' ? 'the port is in use' : error.message;
        // The trace goes on: only the live view is missing.
        this.report(new TelemetryError('LIVE_FAILED', `looptrace: cannot serve the live view on ${live.host}:${live.port}: ${why}`, { cause: error }));
      },
    );
  }


  /** @internal Turns on the `operations` option for this thread, writing into this trace. */
  startOperations(): void {
    if (this.options.operations === undefined || this.binding === undefined) return;
    try {
      this.operations = startOperationsForTelemetry(this.options.operations, this.binding, (error) => this.report(error));
    } catch (error) {
      // Operations already on in this thread (startOperations() before): the loop is still recorded.
      this.report(error as TelemetryError);
    }
  }

  /** Per-operation metrics of this thread (all zero without the `operations` option). */
  metrics(): MetricsSnapshot {
    return this.operations?.metrics() ?? { timestampMs: Date.now(), operations: {}, overflowedNames: 0, exporterErrors: 0 };
  }

  /**
   * Callback mode for a window (needs the `operations` option): every callback's start, end,
   * resource type and operation are recorded until durationMs have passed.
   */
  recordCallbacks(options: { durationMs: number }): CallbackWindow {
    if (this.operations === undefined) {
      throw new TelemetryError('INVALID_OPTION', 'looptrace: recordCallbacks() needs the operations option of startRuntimeTelemetry()');
    }
    return this.operations.recordCallbacks(options);
  }

  /**
   * Resumes recording on every thread. Cheap; safe to call when already enabled. Returns false,
   * with a process warning, when this handle cannot record any more (after stop(), a failure or
   * a refused start): a new startRuntimeTelemetry() is needed then.
   */
  enable(): boolean {
    if (!this.active || this.binding === undefined) {
      const why = this.stopped ? 'after stop()' : this.startErrorMessage !== undefined ? 'on a handle whose start was refused' : 'after telemetry turned itself off';
      process.emitWarning(`looptrace: enable() ${why} does nothing; call startRuntimeTelemetry() to record again`, { code: 'LOOPTRACE_NOT_RUNNING' });
      return false;
    }
    this.binding.setEnabled(true);
    if (this.arrivalTimer === undefined && (this.lastStats?.mainThreadRecords ?? 0) === 0) this.scheduleArrivalCheck();
    return true;
  }

  /** Pauses recording on every thread: the hooks stay installed and cost a flag check. */
  disable(): void {
    if (!this.active || this.binding === undefined) return;
    this.binding.setEnabled(false);
  }

  stats(): TelemetryStats {
    const s = this.binding?.stats() ?? this.lastStats;
    if (s !== null) this.lastStats = s;
    return {
      records: s?.records ?? 0,
      bytes: s?.bytes ?? 0,
      frames: s?.frames ?? 0,
      droppedRecords: s?.droppedRecords ?? 0,
      droppedBytes: s?.droppedBytes ?? 0,
      files: s?.files ?? 0,
      threads: s?.threads ?? 0,
      enabled: this.active && (s?.enabled ?? false),
      running: this.active,
      // mainThreadRecords counts thread 1 only; a trace started in a worker has no thread 1, so
      // there (as in a worker that joined) any record shows that recording works.
      recordsArriving: (s?.mainThreadRecords ?? 0) > 0 || ((this.joined || !isMainThread) && (s?.records ?? 0) > 0),
      errors: [...this.errorMessages],
      untracedWorkers: this.untracedWorkers,
      warnings: this.untracedWorkers > 0 ? [untracedWorkersMessage(this.untracedWorkers)] : [],
      ...(this.startErrorMessage === undefined ? {} : { startError: this.startErrorMessage }),
      attribution: {
        stacks: ((s?.capabilities ?? 0) & 2) !== 0,
        gcPauses: ((s?.capabilities ?? 0) & 4) !== 0,
        schedulerStats: ((s?.capabilities ?? 0) & 1) !== 0,
        stackRequests: s?.stackRequests ?? 0,
        watchdogNudges: s?.watchdogNudges ?? 0,
        stackSamples: s?.stackSamples ?? 0,
        stackSampleNs: s?.stackSampleNs ?? 0,
        ...(this.attributionNote === undefined ? {} : { note: this.attributionNote }),
      },
      ...selfCpuOf(s),
      ...(this.liveStats === undefined ? {} : { live: { url: this.liveUrlValue, ...this.liveStats } }),
    };
  }

  /**
   * Stops recording, writes everything still buffered and closes the writer. In a worker that
   * joined a trace, it only detaches this worker's loop.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    if (!this.active || this.binding === undefined) return;
    this.active = false;
    // Operations turn off at once (their exporters' shutdown may take longer); the trace is then
    // stopped synchronously, as an application calling stop() without awaiting it expects.
    const operationsStopped = this.operations?.stop();
    if (this.joined) {
      this.binding!.detachThread();
      await operationsStopped;
      return;
    }
    this.teardown();
    this.lastStats = this.binding!.stats() ?? this.lastStats;
    this.binding!.stop();
    this.lastStats = this.binding!.stats() ?? this.lastStats;
    this.deliverChunks();
    await operationsStopped;
  }

  private teardown(): void {
    if (running === this) running = undefined;
    this.liveServer?.close();
    this.liveServer = undefined;
    this.liveUrlValue = undefined;
    if (this.arrivalTimer !== undefined) clearTimeout(this.arrivalTimer);
    this.arrivalTimer = undefined;
    this.exitHandlers?.remove();
    this.exitHandlers = undefined;
    // Operations go on (metrics, exporters) but no longer write into the closed trace.
    this.operations?.setSink(undefined);
    if (this.options.traceWorkers && isMainThread) uninstallWorkerTracing();
    this.stopWatchingWorkers?.();
    this.stopWatchingWorkers = undefined;
  }

  private flushAtExit(): void {
    if (!this.active) return;
    this.active = false;
    this.teardown();
    this.binding!.flushAtExit();
    this.deliverChunks();
  }

  /**
   * A worker was created from a Worker class taken before start: count it, mark it in the trace
   * and say so once, since its loop cannot be recorded.
   */
  private onUntracedWorker(nodeThreadId: number): void {
    if (!this.active) return;
    this.untracedWorkers++;
    writeUntracedWorkerMark(this.binding!, nodeThreadId);
    if (this.untracedWorkers === 1) {
      process.emitWarning(`looptrace: worker ${nodeThreadId} was created from a Worker class taken before looptrace started and is not traced; start looptrace before taking Worker, or use --import looptrace/register`, { code: 'LOOPTRACE_UNTRACED_WORKER' });
    }
  }

  /** Called on this thread when the writer thread has chunks for a JavaScript writer or has failed. */
  private onNotify(): void {
    this.deliverChunks();
    writerNotified();
    const error = this.binding!.stats()?.error;
    if (error !== undefined && !this.failed) {
      this.fail(new TelemetryError('WRITE_FAILED', `looptrace: telemetry stopped: ${error}`));
    }
  }

  private deliverChunks(): void {
    const chunks = this.binding!.takeOutbox();
    const writer = this.chunkWriter;
    if (writer === undefined || this.failed) return;
    const tee = this.liveTee;
    if (tee !== undefined) {
      if (this.firstChunk && chunks.length > 0) tee.keepHeader(chunks[0]!);
      // Only while a live page is connected: otherwise tee.tee is undefined and this is all.
      if (tee.tee !== undefined) for (const chunk of chunks) tee.tee(chunk);
    }
    if (chunks.length > 0) this.firstChunk = false;
    for (const chunk of chunks) {
      try {
        writer.write(chunk);
      } catch (error) {
        this.fail(new TelemetryError('WRITER_THREW', `looptrace: telemetry stopped: the writer's write() threw: ${(error as Error)?.message ?? String(error)}`, { cause: error }));
        return;
      }
    }
  }

  /** Turns telemetry off and reports the error; never throws into the application. */
  private fail(error: TelemetryError): void {
    if (this.failed) return;
    this.failed = true;
    this.errorMessages.push(error.message);
    if (this.active && !this.joined) {
      this.active = false;
      this.teardown();
      this.binding!.stop();
    }
    this.active = false;
    this.report(error);
  }

  private report(error: TelemetryError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // An onError that throws must not turn a telemetry problem into an application crash.
    }
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else if (this.options.onError === undefined) process.emitWarning(error.message, { code: `LOOPTRACE_${error.code}` });
  }

  /** Within a second of start, the main thread's records must be arriving; say so if not. */
  private scheduleArrivalCheck(): void {
    const check = (retry: boolean): void => {
      this.arrivalTimer = undefined;
      if (!this.active || this.failed || !(this.binding!.stats()?.enabled ?? false)) return;
      if (this.stats().recordsArriving) return;
      // The loop may have been blocked until now: give the writer one drain after it moves again.
      if (retry) {
        this.arrivalTimer = setTimeout(() => check(false), 50).unref();
        return;
      }
      this.errorMessages.push('no records arrived');
      this.report(new TelemetryError('NO_RECORDS', `looptrace: no records arrived within ${ARRIVAL_CHECK_MS} ms of start; telemetry is not recording this process`));
    };
    this.arrivalTimer = setTimeout(() => check(true), ARRIVAL_CHECK_MS).unref();
  }
}

function selfCpuOf(s: NativeStats | null): Pick<TelemetryStats, 'selfCpuNs' | 'selfCpuRatio' | 'selfCpu'> {
  const c = s?.selfCpu;
  const selfCpu: SelfCpuStats = {
    writerNs: c?.writerNs ?? 0,
    watchdogNs: c?.watchdogNs ?? 0,
    hooksNs: c?.hooksNs ?? 0,
    timersNs: c?.timersNs ?? 0,
    stacksNs: c?.stacksNs ?? 0,
    processNs: c?.processNs ?? 0,
  };
  const selfCpuNs = selfCpu.writerNs + selfCpu.watchdogNs + selfCpu.hooksNs + selfCpu.timersNs + selfCpu.stacksNs;
  return { selfCpuNs, selfCpuRatio: selfCpu.processNs > 0 ? selfCpuNs / selfCpu.processNs : 0, selfCpu };
}

function threadpoolSize(): number {
  const configured = Number.parseInt(process.env['UV_THREADPOOL_SIZE'] ?? '', 10);
  if (!Number.isFinite(configured) || configured < 1) return 4;
  return Math.min(configured, 1024);
}

/** Creates a file writer's missing directory, owner-only like the files in it. */
function createDirectory(path: string): void {
  const directory = dirname(path);
  try {
    makeDirectory(directory);
  } catch (error) {
    throw new TelemetryError('OPEN_FAILED', `looptrace: cannot start telemetry: cannot create the trace directory ${directory} for ${path}: ${(error as Error).message}`, { cause: error });
  }
}

// One level at a time rather than mkdirSync({ recursive: true }), which never returns for a path
// under /proc on Node 20 (mkdir there keeps failing with ENOENT while the parent exists).
function makeDirectory(directory: string): void {
  const existing = statSync(directory, { throwIfNoEntry: false });
  if (existing !== undefined) {
    if (!existing.isDirectory()) throw new Error(`${directory} exists and is not a directory`);
    return;
  }
  const parent = dirname(directory);
  if (parent !== directory) makeDirectory(parent);
  try {
    mkdirSync(directory, { mode: 0o700 });
  } catch (error) {
    // Another process may have created it in the meantime.
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(directory).isDirectory()) throw error;
  }
}
