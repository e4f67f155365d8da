// Runs in each worker created while a trace is recorded, before the worker's own code (loaded by
// worker-preload.cjs, or by --import where require(esm) is unavailable): it attaches the worker's
// loop to the process's trace. It must never break the worker, so every failure is swallowed.

import { isMainThread, threadId } from 'node:worker_threads';
import { loadBinding } from '../binding.js';
import { markExitOnExit } from './exit-handlers.js';
import { threadName, WORKER_NAME_ENV, WORKER_SCRIPT_ENV } from './thread-name.js';

if (!isMainThread) {
  try {
    const name = threadName();
    delete process.env[WORKER_SCRIPT_ENV];
    delete process.env[WORKER_NAME_ENV];
    const binding = loadBinding();
    if (binding.attachThread({ threadName: name, nodeThreadId: threadId }) !== null) markExitOnExit(binding);
  } catch {
    // Tracing this worker is not possible; the worker runs as if looptrace were absent.
  }
}
