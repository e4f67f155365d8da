// The wire format: what the rest of looptrace and its users import to read and write traces.
export * from './constants.js';
export { crc32c } from './crc32c.js';
export { TraceEncoder, zigzag } from './encoder.js';
export { TraceDecoder, type DecoderCallbacks, type DecoderStats } from './decoder.js';
export { TraceFormatError, describeDiagnostic, type TraceDiagnostic, type SourcedDiagnostic, type TraceDiagnosticKind, type TraceFormatErrorCode } from './diagnostics.js';
export * from './records.js';
export * from './sources.js';
export { UNTRACED_WORKER_MARK } from './reserved-marks.js';
export { encodeTrace, type TraceSpec, type FrameSpec } from './spec-encoder.js';
