// The error type of the recorder: every failure inside telemetry reaches the application as one
// of these, through onError or the 'error' event, never as an uncaught exception.

export type TelemetryErrorCode =
  | 'INVALID_OPTION'
  | 'ALREADY_RUNNING'
  | 'OPEN_FAILED'
  | 'WRITE_FAILED'
  | 'WRITER_THREW'
  | 'NO_RECORDS'
  | 'NATIVE_UNAVAILABLE'
  | 'OPERATIONS_CALLBACK_THREW'
  | 'LIVE_FAILED';

export class TelemetryError extends Error {
  readonly code: TelemetryErrorCode;
  constructor(code: TelemetryErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TelemetryError';
    this.code = code;
  }
}

export function invalidOption(name: string, expected: string, value: unknown): TelemetryError {
  return new TelemetryError('INVALID_OPTION', `looptrace: option ${name} must be ${expected}, got ${describeValue(value)}`);
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  const name = (value as object).constructor?.name;
  return name === undefined || name === 'Object' ? 'an object' : `an instance of ${name}`;
}
