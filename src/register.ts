// looptrace/register: telemetry with no code in the application.
//
//   node --import looptrace/register app.js      (or: node -r looptrace/register app.js)
//
// On the main thread it starts telemetry configured by LOOPTRACE_* environment variables
// (src/recorder/environment.ts). Preloads pass to worker threads, and there it attaches the
// worker's loop to the process's trace. Nothing here may stop the application: a wrong variable
// or a failure to start becomes a process warning that names it.
//
// OpenTelemetry: with LOOPTRACE_OTEL=1, or an OTLP endpoint in OTEL_EXPORTER_OTLP_ENDPOINT (or
// its _METRICS_/_TRACES_ forms) and LOOPTRACE_OTEL not 0, the runtime metrics and long-task spans
// are exported over OTLP as the standard OTEL_* variables say (src/otel/otlp.ts). That part loads
// only then, a moment after start, and needs the optional OpenTelemetry packages; each one missing
// is named in a warning and the trace files are written as before.

import { isMainThread } from 'node:worker_threads';
import { environmentWriter, readEnvironment } from './recorder/environment.js';
import { startRuntimeTelemetry, type RuntimeTelemetry } from './recorder/telemetry.js';
import { loadBinding } from './binding.js';
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
    if (config.start && otelWanted(config.otel)) startOtel(config.otelLongTaskMs);
  } catch (error) {
    warn(`telemetry not started: ${(error as Error)?.message ?? String(error)}`);
  }
}

function otelWanted(flag: boolean | undefined): boolean {
  if (flag !== undefined) return flag;
  const env = process.env;
  return [env['OTEL_EXPORTER_OTLP_ENDPOINT'], env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'], env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT']].some((v) => v !== undefined && v.trim() !== '');
}

/** The OTLP export of looptrace/register; undefined until it has started (or when it could not). */
export let otlp: import('./otel/otlp.js').OtlpExport | undefined;

function startOtel(longTaskMs: number | undefined): void {
  // The writer starts aggregating now, so that what happens while the OpenTelemetry packages
  // load (the application's first long tasks) is in the first export.
  try {
    if (telemetry?.isRunning) loadBinding().setAggregation(true, longTaskMs ?? 50, true);
  } catch {
    // No native part: telemetry already said why.
  }
  import('./otel/otlp.js').then(
    ({ startOtlpExport }) => {
      otlp = startOtlpExport({ bridge: longTaskMs === undefined ? {} : { longTaskMs }, onWarning: (message) => warn(message.replace(/^looptrace: /, '')) });
      if (otlp === undefined) return;
      // What is buffered goes out when the process ends by itself; a signal or process.exit()
      // loses at most one export interval of metrics and the queued spans.
      let flushed = false;
      process.on('beforeExit', () => {
        if (flushed) return;
        flushed = true;
        void otlp?.shutdown();
      });
    },
    (error: unknown) => {
      const message = (error as Error)?.message ?? String(error);
      const missing = /@opentelemetry\/api/.test(message) ? 'the package @opentelemetry/api (npm install @opentelemetry/api)' : `its code (${message})`;
      warn(`OpenTelemetry export is off: it needs ${missing}; trace files are still written`);
    },
  );
}
