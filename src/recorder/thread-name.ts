// How a thread is named in the trace: "main"; a worker's `name` option when it was given one;
// else the worker's id and script file.

import { basename } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';
import { cutName, MAX_THREAD_NAME_BYTES } from './name-limits.js';

/** Carries a traced worker's script name from the parent to the preload, which removes it. */
export const WORKER_SCRIPT_ENV = 'LOOPTRACE_WORKER_SCRIPT';

/** Carries a traced worker's `name` option from the parent to the preload, which removes it. */
export const WORKER_NAME_ENV = 'LOOPTRACE_WORKER_NAME';

/** The calling thread's name in the trace, cut to MAX_THREAD_NAME_BYTES. */
export function threadName(): string {
  return cutName(fullThreadName(), MAX_THREAD_NAME_BYTES);
}

function fullThreadName(): string {
  if (isMainThread) return 'main';
  const named = process.env[WORKER_NAME_ENV];
  if (named !== undefined && named !== '') return named;
  const passed = process.env[WORKER_SCRIPT_ENV];
  const script = passed ?? (process.argv[1] === undefined ? undefined : basename(process.argv[1]));
  return script === undefined ? `worker ${threadId}` : `worker ${threadId} (${script})`;
}
