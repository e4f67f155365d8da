// The recorder: what an application uses to record its event loops.
export { startRuntimeTelemetry, RuntimeTelemetry, type TelemetryStats, type SelfCpuStats } from './telemetry.js';
export { RotatingWriter, SimpleBinaryWriter, NullWriter, type ChunkWriter, type TraceWriter, type RotatingWriterOptions, type SimpleBinaryWriterOptions } from './writers.js';
export { TelemetryError, type TelemetryErrorCode } from './errors.js';
export type { RuntimeTelemetryOptions } from './options.js';
