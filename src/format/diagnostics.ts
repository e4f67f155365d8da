// What the decoder reports besides records (docs/FORMAT.md section 8), and the one error type
// that the format's reading functions throw.

export type TraceDiagnostic =
  | { kind: 'bad-magic'; offset: number }
  | { kind: 'unsupported-version'; offset: number; formatMajor: number; formatMinor: number }
  | { kind: 'malformed-header'; offset: number; reason: string }
  | { kind: 'corrupt-frame'; offset: number; reason: string; skippedBytes: number }
  | { kind: 'truncated'; offset: number; availableBytes: number }
  | { kind: 'unknown-frame-kind'; offset: number; frameKind: number }
  | { kind: 'unknown-record-type'; offset: number; recordType: number }
  | { kind: 'misplaced-header'; offset: number };

export type TraceDiagnosticKind = TraceDiagnostic['kind'];

/** A diagnostic together with the input it came from, when the input was a named file. */
export type SourcedDiagnostic = TraceDiagnostic & { source?: string };

export function describeDiagnostic(d: SourcedDiagnostic): string {
  const where = `${d.source === undefined ? '' : `${d.source}: `}offset ${d.offset}`;
  switch (d.kind) {
    case 'bad-magic':
      return `${where}: not a looptrace trace (the file does not start with the looptrace magic bytes)`;
    case 'unsupported-version':
      return `${where}: trace format version ${d.formatMajor}.${d.formatMinor} is not supported by this decoder (it reads 1.x)`;
    case 'malformed-header':
      return `${where}: malformed file header: ${d.reason}`;
    case 'corrupt-frame':
      return `${where}: corrupt frame (${d.reason}); skipped ${d.skippedBytes} bytes`;
    case 'truncated':
      return `${where}: truncated: the input ends inside a frame (${d.availableBytes} bytes of it present)`;
    case 'unknown-frame-kind':
      return `${where}: skipped frames of unknown kind ${d.frameKind}`;
    case 'unknown-record-type':
      return `${where}: skipped records of unknown type ${d.recordType}`;
    case 'misplaced-header':
      return `${where}: skipped a header frame in the middle of a file`;
  }
}

export type TraceFormatErrorCode = 'READ_FAILED' | 'NOT_A_TRACE' | 'INVALID_ARGUMENT';

/** The only error the decoding functions throw. Damaged data is a diagnostic, never a throw. */
export class TraceFormatError extends Error {
  readonly code: TraceFormatErrorCode;
  constructor(code: TraceFormatErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TraceFormatError';
    this.code = code;
  }
}
