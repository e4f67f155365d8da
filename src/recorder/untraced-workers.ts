// Workers that looptrace cannot trace: those created from a Worker class taken before telemetry
// started (`const { Worker } = require('node:worker_threads')` at the top of a CommonJS file).
// Such a worker is constructed by Node's own class, so no preload reaches it and nothing from
// outside can attach its loop later. Each one is detected through process.on('worker'), counted
// in stats(), written to the trace as a MARK named UNTRACED_WORKER_MARK whose value is the
// worker's threadId (docs/FORMAT.md 6.2), and reported once as a process warning.

import type { Worker } from 'node:worker_threads';
import { RecordCode } from '../format/constants.js';
import { zigzag } from '../format/encoder.js';
import { UNTRACED_WORKER_MARK } from '../format/reserved-marks.js';
import { isTracedWorker } from './worker-tracing.js';

export { untracedWorkersMessage } from '../format/reserved-marks.js';

/** Calls `onUntraced` for every worker the Worker replacement did not create; returns the remover. */
export function watchUntracedWorkers(onUntraced: (nodeThreadId: number) => void): () => void {
  const listener = (worker: Worker): void => {
    if (!isTracedWorker(worker)) onUntraced(worker.threadId);
  };
  process.on('worker', listener);
  return () => process.removeListener('worker', listener);
}

/** The parts of the addon that append a record from JavaScript to the calling thread's ring. */
interface RecordPusher {
  internString(value: string): number;
  pushRecord(code: number, f0?: number, f1?: number, f2?: number): boolean;
}

/** Writes the MARK of an untraced worker into the calling thread's records; false when it could not. */
export function writeUntracedWorkerMark(binding: RecordPusher, nodeThreadId: number): boolean {
  try {
    const nameId = binding.internString(UNTRACED_WORKER_MARK);
    return nameId !== 0 && binding.pushRecord(RecordCode.Mark, nameId, zigzag(nodeThreadId));
  } catch {
    // A mark that cannot be written must not disturb the application creating a worker.
    return false;
  }
}
