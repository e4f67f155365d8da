// Traces worker threads created after start, with no code in the worker: the Worker class of
// node:worker_threads is replaced by a subclass that adds a preload (--import) to each new
// worker. The preload attaches the worker's loop to the process's trace before the worker's own
// code runs.

import { createRequire, syncBuiltinESMExports } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Worker as WorkerType, WorkerOptions } from 'node:worker_threads';

const require = createRequire(import.meta.url);
const workerThreads = require('node:worker_threads') as { Worker: typeof WorkerType };

let original: typeof WorkerType | undefined;

/** The preload's URL: its compiled .js beside this module, or in dist/ when running from src/. */
export function preloadUrl(): string {
  const here = fileURLToPath(import.meta.url);
  const compiled = here.endsWith('.ts') ? here.replace(/([\\/])src([\\/]recorder[\\/])[^\\/]+$/, '$1dist$2worker-preload.js') : here.replace(/[^\\/]+$/, 'worker-preload.js');
  return pathToFileURL(compiled).href;
}

export function installWorkerTracing(): void {
  if (original !== undefined) return;
  const Base = workerThreads.Worker;
  original = Base;
  const preload = preloadUrl();
  class TracedWorker extends Base {
    constructor(filename: string | URL, options?: WorkerOptions) {
      const userArgv = options?.execArgv ?? process.execArgv;
      try {
        super(filename, { ...options, execArgv: [...userArgv, '--import', preload] });
      } catch (error) {
        // Flags that apply to the whole process (--max-old-space-size, for example) are refused
        // when passed to a worker explicitly; they still apply to it, so they can be left out.
        if ((error as { code?: string }).code !== 'ERR_WORKER_INVALID_EXEC_ARGV') throw error;
        const invalid = new Set(String((error as Error).message).replace(/^.*flags: /s, '').split(/,\s*/));
        super(filename, { ...options, execArgv: [...userArgv.filter((a) => !invalid.has(a)), '--import', preload] });
      }
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
