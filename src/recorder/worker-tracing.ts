// Traces worker threads created after start, with no code in the worker: the Worker class of
// node:worker_threads is replaced by a subclass that adds a preload to each new worker. The preload attaches the worker's loop to the process's trace before the worker's own
// code runs.

import { createRequire, syncBuiltinESMExports } from 'node:module';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SHARE_ENV, Worker as WorkerType, WorkerOptions } from 'node:worker_threads';
import { cutName, MAX_THREAD_NAME_BYTES, utf8Bytes } from './name-limits.js';
import { WORKER_NAME_ENV, WORKER_SCRIPT_ENV } from './thread-name.js';

const require = createRequire(import.meta.url);
const workerThreads = require('node:worker_threads') as { Worker: typeof WorkerType; SHARE_ENV: typeof SHARE_ENV };

let original: typeof WorkerType | undefined;
/** Workers that the replacement class created, and so preloaded the attach module into. */
const tracedWorkers = new WeakSet<object>();

export function isTracedWorker(worker: object): boolean {
  return tracedWorkers.has(worker);
}

/**
 * The flags that preload the attach module in a worker: --require of the CommonJS preload where
 * require(esm) works (Node 20.19 and later), which covers eval workers too, else --import.
 * Paths point at the compiled files in dist/, also when this module runs from src/ under tests.
 */
export function preloadFlags(): string[] {
  const here = fileURLToPath(import.meta.url);
  const dir = here.endsWith('.ts') ? here.replace(/([\\/])src([\\/]recorder[\\/])[^\\/]+$/, '$1dist$2') : here.replace(/[^\\/]+$/, '');
  const requireModule = (process.features as { require_module?: boolean }).require_module === true;
  return requireModule ? ['--require', join(dir, 'worker-preload.cjs')] : ['--import', pathToFileURL(join(dir, 'worker-attach.js')).href];
}

export function installWorkerTracing(): void {
  if (original !== undefined) return;
  const Base = workerThreads.Worker;
  original = Base;
  const preload = preloadFlags();
  class TracedWorker extends Base {
    constructor(filename: string | URL, options?: WorkerOptions) {
      const userArgv = options?.execArgv ?? process.execArgv;
      const traced: WorkerOptions = { ...options, env: withScriptName(filename, options) };
      try {
        super(filename, { ...traced, execArgv: [...userArgv, ...preload] });
      } catch (error) {
        // Flags that apply to the whole process (--max-old-space-size, for example) are refused
        // when passed to a worker explicitly; they still apply to it, so they can be left out.
        if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
        const invalid = new Set(String((error as Error).message).replace(/^.*flags: /s, '').split(/,\s*/));
        super(filename, { ...traced, execArgv: [...userArgv.filter((a) => !invalid.has(a)), ...preload] });
      }
      tracedWorkers.add(this);
    }
  }
  Object.defineProperty(TracedWorker, 'name', { value: 'Worker' });
  workerThreads.Worker = TracedWorker;
  syncBuiltinESMExports();
}

export function uninstallWorkerTracing(): void {
  if (original === undefined) return;
  workerThreads.Worker = original;
  original = undefined;
  syncBuiltinESMExports();
}

/**
 * The worker's environment plus what names its thread: the Worker's `name` option when given,
 * else its script file. SHARE_ENV is left alone.
 */
function withScriptName(filename: string | URL, options: WorkerOptions | undefined): WorkerOptions['env'] {
  const env = options?.env;
  if (env === workerThreads.SHARE_ENV) return env;
  const script = options?.eval === true ? '[eval]' : basename(filename instanceof URL ? fileURLToPath(filename) : filename);
  const name = (options as { name?: unknown } | undefined)?.name;
  const named = typeof name === 'string' && name !== '' ? { [WORKER_NAME_ENV]: name } : {};
  if (typeof name === 'string' && utf8Bytes(name) > MAX_THREAD_NAME_BYTES) {
    process.emitWarning(`looptrace: the worker name of ${utf8Bytes(name)} bytes is cut to ${MAX_THREAD_NAME_BYTES} bytes in the trace: ${JSON.stringify(cutName(name, MAX_THREAD_NAME_BYTES))}`, { code: 'LOOPTRACE_NAME_CUT' });
  }
  return { ...((env as Record<string, string | undefined> | undefined) ?? process.env), [WORKER_SCRIPT_ENV]: script, ...named };
}
