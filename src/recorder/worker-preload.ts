// Runs in each worker created while a trace is recorded (through --import), before the worker's
// own code: it attaches the worker's loop to the process's trace. It must never break the
// worker, so every failure is swallowed.

import { isMainThread, threadId } from 'node:worker_threads';
import { loadBinding } from '../binding.js';
import { threadName } from './thread-name.js';

if (!isMainThread) {
  try {
    loadBinding().attachThread({ threadName: threadName(), nodeThreadId: threadId });
  } catch {
    // Tracing this worker is not possible; the worker runs as if looptrace were absent.
  }
}
