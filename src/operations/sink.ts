// Where sampled operations are written into the binary trace: OPERATION_START / OPERATION_END
// records with a TRACE_CONTEXT definition (docs/FORMAT.md). The native sink writes them into the
// calling thread's ring; the in-memory sink keeps them for tests.

import type { OperationData } from './operation.js';

export interface TraceSink {
  /** Called on the thread that runs the operation, when it starts. */
  operationStart(op: OperationData): void;
  /** Called on the thread where the operation ended. */
  operationEnd(op: OperationData): void;
  /** Callback mode (CALLBACK_START / CALLBACK_END); a sink without them cannot record callbacks. */
  resourceTypeId?(resourceType: string): number;
  callbackStart?(asyncId: number, resourceTypeId: number): void;
  callbackEnd?(asyncId: number, operationId: number): void;
}

/** FORMAT.md OPERATION_END status values. */
export const OPERATION_STATUS_CODE = { completed: 0, failed: 1, cancelled: 2 } as const;

export interface SinkRecord {
  kind: 'start' | 'end';
  operationId: number;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  status?: number;
}

export interface CallbackSinkRecord {
  kind: 'callbackStart' | 'callbackEnd';
  asyncId: number;
  resourceType?: string;
  operationId?: number;
}

export class InMemoryTraceSink implements TraceSink {
  readonly records: SinkRecord[] = [];
  readonly callbacks: CallbackSinkRecord[] = [];
  private readonly resourceTypes: string[] = [];
  resourceTypeId(resourceType: string): number {
    const at = this.resourceTypes.indexOf(resourceType);
    if (at >= 0) return at + 1;
    return this.resourceTypes.push(resourceType);
  }
  callbackStart(asyncId: number, resourceTypeId: number): void {
    this.callbacks.push({ kind: 'callbackStart', asyncId, resourceType: this.resourceTypes[resourceTypeId - 1] });
  }
  callbackEnd(asyncId: number, operationId: number): void {
    this.callbacks.push({ kind: 'callbackEnd', asyncId, operationId });
  }
  operationStart(op: OperationData): void {
    this.records.push({ kind: 'start', operationId: op.operationId, name: op.name, traceId: op.traceId, spanId: op.spanId, parentSpanId: op.parentSpanId });
  }
  operationEnd(op: OperationData): void {
    const status = op.status === 'active' ? 0 : OPERATION_STATUS_CODE[op.status];
    this.records.push({ kind: 'end', operationId: op.operationId, name: op.name, traceId: op.traceId, spanId: op.spanId, parentSpanId: op.parentSpanId, status });
  }
}
