// An IdGenerator for an OpenTelemetry SDK TracerProvider that gives the span of a looptrace
// operation looptrace's own ids: the bridge names the ids right before it starts the span, and
// the SDK's Tracer asks the generator for them synchronously inside startSpan(). Every other span
// gets random ids, as with the SDK's own generator. With this generator, the traceparent headers
// that looptrace sent point at spans that exist in the backend.

import { randomBytes } from 'node:crypto';

let nextTraceId: string | undefined;
let nextSpanId: string | undefined;

/** The shape of the SDK's IdGenerator (sdk-trace-base), so that this module needs no SDK import. */
export interface IdGeneratorLike {
  generateTraceId(): string;
  generateSpanId(): string;
}

export class LooptraceIdGenerator implements IdGeneratorLike {
  generateTraceId(): string {
    const id = nextTraceId;
    nextTraceId = undefined;
    return id ?? randomHex(16);
  }
  generateSpanId(): string {
    const id = nextSpanId;
    nextSpanId = undefined;
    return id ?? randomHex(8);
  }
}

/** Runs `start` with the ids the next span must get; they are forgotten afterwards either way. */
export function withIds<T>(traceId: string, spanId: string, start: () => T): T {
  nextTraceId = traceId;
  nextSpanId = spanId;
  try {
    return start();
  } finally {
    nextTraceId = undefined;
    nextSpanId = undefined;
  }
}

function randomHex(bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes).toString('hex');
    // All zeros is the invalid id of the W3C trace context.
    if (!/^0+$/.test(id)) return id;
  }
}
