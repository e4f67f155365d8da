// The trace sink that writes sampled operations into the binary trace through the addon:
// OPERATION_START / OPERATION_END records in the calling thread's ring (on the same clock as the
// loop's records), the name as an interned STRING_DEF and the W3C context as a TRACE_CONTEXT
// definition, written before the records that use them (docs/FORMAT.md). In callback mode,
// CALLBACK_START (with the resource type interned and the operation id) / CALLBACK_END.
// Records are staged in a RecordBatch: no call into the addon per record.

import type { NativeBinding } from '../binding.js';
import type { OperationData } from './operation.js';
import { RecordBatch } from './record-batch.js';
import { OPERATION_STATUS_CODE, type TraceSink } from './sink.js';

/** Names and resource types remembered per trace; past this the addon's own table answers. */
const MAX_CACHED_STRINGS = 4096;

export function createNativeSink(binding: NativeBinding): TraceSink | undefined {
  if (typeof binding.flushRecords !== 'function' || typeof binding.internString !== 'function') return undefined;
  return new NativeTraceSink(binding);
}

class NativeTraceSink implements TraceSink {
  private readonly binding: NativeBinding;
  private readonly stringIds = new Map<string, number>();
  private readonly batch: RecordBatch;

  constructor(binding: NativeBinding) {
    this.binding = binding;
    this.batch = new RecordBatch(binding);
    this.batch.register();
  }

  operationStart(op: OperationData): void {
    this.batch.operationStart(op.operationId, this.stringId(op.name), op.traceId, op.spanId, op.parentSpanId, op.sampled ? 1 : 0);
  }

  operationEnd(op: OperationData): void {
    this.batch.operationEnd(op.operationId, op.status === 'active' ? 0 : OPERATION_STATUS_CODE[op.status]);
  }

  resourceTypeId(resourceType: string): number {
    return this.stringId(resourceType);
  }

  callbackStart(asyncId: number, resourceTypeId: number): void {
    this.batch.callbackStart(asyncId, resourceTypeId);
  }

  callbackEnd(asyncId: number, operationId: number): void {
    this.batch.callbackEnd(asyncId, operationId);
  }

  private stringId(value: string): number {
    let id = this.stringIds.get(value);
    if (id === undefined) {
      id = this.binding.internString(value);
      // 0: no trace running (or its table is full); ask again next time rather than remember it.
      if (id === 0) return 0;
      if (this.stringIds.size >= MAX_CACHED_STRINGS) this.stringIds.clear();
      this.stringIds.set(value, id);
    }
    return id;
  }
}
