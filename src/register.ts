// looptrace/register: telemetry with no code in the application.
//
//   node --import looptrace/register app.js      (or: node -r looptrace/register app.js)
//
// On the main thread it starts telemetry configured by LOOPTRACE_* environment variables
// (src/recorder/environment.ts). Preloads pass to worker threads, and there it attaches the
// worker's loop to the process's trace. Nothing here may stop the application: a wrong variable
// or a failure to start becomes a process warning that names it.

import { isMainThread } from 'node:worker_threads';
import { environmentWriter, readEnvironment } from './recorder/environment.js';
import { startRuntimeTelemetry, type RuntimeTelemetry } from './recorder/telemetry.js';
import './recorder/worker-attach.js';

/** The handle of the telemetry this preload started; undefined when it did not start one. */
export let telemetry: RuntimeTelemetry | undefined;

function warn(message: string): void {
  process.emitWarning(`looptrace: ${message}`, { code: 'LOOPTRACE_REGISTER' });
}

if (isMainThread) {
  try {
    const config = readEnvironment();
    for (const message of config.warnings) warn(message);
    if (config.start) telemetry = startRuntimeTelemetry({ ...config.options, writer: environmentWriter(config) });
  } catch (error) {
    warn(`telemetry not started: ${(error as Error)?.message ?? String(error)}`);
  }
}
