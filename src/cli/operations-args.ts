// analyze-trace's operation flags: --operations, --trace-id, --op, --status, --last, --min-ms.

import type { OperationsAnalysisOptions, OperationStatusName } from '../analyze/operations.js';
import type { CliOptions } from './args.js';

const STATUSES: readonly OperationStatusName[] = ['completed', 'failed', 'cancelled', 'open'];

type Flag = { takesValue: boolean; apply: (o: CliOptions, value: string, flag: string) => void };

/** The flags; usage() makes the error that args.ts reports as bad usage (no import cycle at load). */
export function operationFlags(usage: (message: string) => Error): Record<string, Flag> {
  return {
  '--operations': { takesValue: false, apply: (o) => (o.operations = true) },
  '--trace-id': {
    takesValue: true,
    apply: (o, v, f) => {
      if (!/^[0-9a-f]{32}$/i.test(v)) throw usage(`${f} must be 32 hex digits (a W3C trace id), got ${JSON.stringify(v)}`);
      o.traceId = v.toLowerCase();
    },
  },
  '--op': { takesValue: true, apply: (o, v) => (o.op = v) },
  '--status': {
    takesValue: true,
    apply: (o, v, f) => {
      if (!(STATUSES as readonly string[]).includes(v)) throw usage(`${f} must be one of ${STATUSES.join(', ')}, got ${JSON.stringify(v)}`);
      o.status = v as OperationStatusName;
    },
  },
  '--last': {
    takesValue: true,
    apply: (o, v, f) => {
      if (!/^\d+$/.test(v) || Number(v) < 1) throw usage(`${f} must be a whole number of 1 or more, got ${JSON.stringify(v)}`);
      o.last = Number(v);
    },
  },
  '--min-ms': {
    takesValue: true,
    apply: (o, v, f) => {
      const n = /^(\d+(\.\d+)?|\.\d+)$/.test(v) ? Number(v) : NaN;
      if (!(n >= 0)) throw usage(`${f} must be a number of milliseconds, got ${JSON.stringify(v)}`);
      o.minDurationNs = n * 1e6;
    },
  },
  };
}

export const OPERATION_USAGE = `Operations (traced() and HTTP requests, when the trace holds them)
  --operations             list every operation name (default: the 10 most frequent)
  --trace-id <id>          show the operation tree of this W3C trace id
  --op <pattern>           list operations whose name matches (* is a wildcard)
  --status <status>        ... with this status: completed, failed, cancelled, open
  --min-ms <n>             ... at least this long
  --last <n>               ... the last n matches (default 20)
`;

/** The analysis options the flags ask for. */
export function operationsOptions(o: CliOptions): OperationsAnalysisOptions {
  const filtered = o.op !== undefined || o.status !== undefined || o.minDurationNs !== undefined || o.last !== undefined;
  const out: OperationsAnalysisOptions = {};
  if (filtered) {
    out.filter = {};
    if (o.op !== undefined) out.filter.name = o.op;
    if (o.status !== undefined) out.filter.status = o.status;
    if (o.minDurationNs !== undefined) out.filter.minDurationNs = o.minDurationNs;
    if (o.last !== undefined) out.filter.last = o.last;
  }
  if (o.traceId !== undefined) out.traceId = o.traceId;
  return out;
}
