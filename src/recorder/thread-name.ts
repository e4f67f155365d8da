// How a thread is named in the trace: "main", or the worker's id and script file.

import { basename } from 'node:path';
import { isMainThread, threadId } from 'node:worker_threads';

export function threadName(): string {
  if (isMainThread) return 'main';
  const script = process.argv[1];
  return script === undefined ? `worker ${threadId}` : `worker ${threadId} (${basename(script)})`;
}
