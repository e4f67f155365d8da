// looptrace/otel: the recorder's measurements in OpenTelemetry. Needs @opentelemetry/api (an
// optional peer dependency of looptrace); OTLP export also needs the official SDK and exporter
// packages. The package root (looptrace) never loads this subpath.
export { startOpenTelemetry, OpenTelemetryBridge, type OpenTelemetryOptions, type OpenTelemetryStats } from './bridge.js';
export { startOtlpExport, otlpRequested, OtlpExport, type OtlpOptions, type OtlpExportStats } from './otlp.js';
export { LooptraceIdGenerator } from './ids.js';
export { LONG_TASK_SPAN_NAME } from './spans.js';
export { SCOPE_NAME, SCOPE_VERSION, looptraceMetricProducer, type LooptraceMetricProducer } from './metrics.js';
