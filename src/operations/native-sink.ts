// The trace sink that writes sampled operations into the binary trace through the addon:
// OPERATION_START / OPERATION_END records in the calling thread's ring (stamped by the addon on
// the same clock as the loop's records), the name as an interned STRING_DEF and the W3C context
// as a TRACE_CONTEXT definition, written before the records that use them (docs/FORMAT.md). In
// callback mode, CALLBACK_START / CALLBACK_END with the resource type as a string.

import type { NativeBinding } from '../binding.js';
import { RecordCode } from '../format/constants.js';
import type { OperationData } from './operation.js';
import { OPERATION_STATUS_CODE, type TraceSink } from './sink.js';

/** Names and resource types remembered per trace; past this the addon's own table answers. */
const MAX_CACHED_STRINGS = 4096;
const NO_PARENT = '0000000000000000';

export function createNativeSink(binding: NativeBinding): TraceSink | undefined {
  if (typeof binding.pushRecord !== 'function' || typeof binding.internString !== 'function' || typeof binding.defineTraceContext !== 'function') return undefined;
  return new NativeTraceSink(binding);
}

class NativeTraceSink implements TraceSink {
  private readonly binding: NativeBinding;
  private readonly stringIds = new Map<string, number>();
  /** One reused buffer for TRACE_CONTEXT: trace id, span id, parent span id, flags. */
  private readonly context = Buffer.alloc(33);

  constructor(binding: NativeBinding) {
    this.binding = binding;
  }

  operationStart(op: OperationData): void {
    const nameId = this.stringId(op.name);
    const c = this.context;
    c.write(op.traceId, 0, 16, 'hex');
    c.write(op.spanId, 16, 8, 'hex');
    c.write(op.parentSpanId ?? NO_PARENT, 24, 8, 'hex');
    c[32] = op.sampled ? 1 : 0;
    this.binding.defineTraceContext(op.operationId, c);
    this.binding.pushRecord(RecordCode.OperationStart, op.operationId, nameId);
  }

  operationEnd(op: OperationData): void {
    this.binding.pushRecord(RecordCode.OperationEnd, op.operationId, op.status === 'active' ? 0 : OPERATION_STATUS_CODE[op.status]);
  }

  callbackStart(asyncId: number, resourceType: string): void {
    this.binding.pushRecord(RecordCode.CallbackStart, asyncId, this.stringId(resourceType));
  }

  callbackEnd(asyncId: number): void {
    this.binding.pushRecord(RecordCode.CallbackEnd, asyncId);
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
