// The batch this thread stages operation and callback records in (layout: native/js_batch.h).
// A record costs a clock read and a few typed-array stores instead of a call into the addon: the
// addon's loop hooks move the staged records into the thread's ring before each record of their
// own (so the thread's records stay in time order), and this file calls the addon only when the
// batch is full. Times are performance.now() readings, turned into the recorder's clock with an
// origin measured once per batch (each thread has its own performance.now() origin).

import { RecordCode } from '../format/constants.js';

/** What the batch needs from the addon. */
export interface RecordBatchBinding {
  flushRecords(batch: Float64Array, originNs: bigint): boolean;
}

const HEADER_DOUBLES = 8;
const SLOT_DOUBLES = 8;
/** Slots per thread: a loop iteration under HTTP load stages a few hundred at most (64 KiB). */
export const RECORD_BATCH_SLOTS = 1024;

/** Hex digit values by character code ('0'-'9', 'a'-'f', 'A'-'F'; anything else 0). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[97 + i] = HEX_VALUE[65 + i] = 10 + i;

/** Writes `hex` (2 × `length` hex digits) as `length` bytes at `at`: several times cheaper than Buffer#write(…, 'hex'). */
function hexInto(bytes: Uint8Array, at: number, hex: string, length: number): void {
  for (let i = 0; i < length; i++) {
    bytes[at + i] = (HEX_VALUE[hex.charCodeAt(2 * i) & 127]! << 4) | HEX_VALUE[hex.charCodeAt(2 * i + 1) & 127]!;
  }
}

/** uv_hrtime() (process.hrtime.bigint()) at performance.now() 0, from the closest of a few paired readings. */
function measureOriginNs(): bigint {
  let bestGap = -1n;
  let origin = 0n;
  for (let i = 0; i < 20; i++) {
    const before = process.hrtime.bigint();
    const nowMs = performance.now();
    const after = process.hrtime.bigint();
    const gap = after - before;
    if (bestGap < 0n || gap < bestGap) {
      bestGap = gap;
      origin = (before + after) / 2n - BigInt(Math.round(nowMs * 1e6));
    }
  }
  return origin;
}

export class RecordBatch {
  private readonly binding: RecordBatchBinding;
  private readonly data: Float64Array;
  /** The same memory as bytes, for the trace ids. */
  private readonly bytes: Uint8Array;
  private readonly slots: number;
  private readonly originNs: bigint;

  constructor(binding: RecordBatchBinding, slots = RECORD_BATCH_SLOTS) {
    this.binding = binding;
    this.slots = slots;
    this.data = new Float64Array(HEADER_DOUBLES + slots * SLOT_DOUBLES);
    this.bytes = new Uint8Array(this.data.buffer);
    this.originNs = measureOriginNs();
  }

  /** Hands the batch to this thread's hooks now (also done by the first flush); false when this loop is not recorded. */
  register(): boolean {
    return this.flush();
  }

  /** Moves the staged records into the ring now; false (records forgotten) when this loop is not recorded. */
  flush(): boolean {
    const written = this.binding.flushRecords(this.data, this.originNs);
    // Not recorded (no hooks on this thread): the hooks could not reset it.
    this.data[0] = 0;
    return written;
  }

  /** The index of the next free slot's first double; flushes a full batch first. */
  private next(): number {
    let n = this.data[0]!;
    if (n >= this.slots) {
      this.flush();
      n = 0;
    }
    return n;
  }

  callbackStart(asyncId: number, resourceTypeId: number): void {
    const n = this.next();
    const d = this.data;
    const i = HEADER_DOUBLES + n * SLOT_DOUBLES;
    d[i] = RecordCode.CallbackStart;
    d[i + 1] = performance.now();
    d[i + 2] = asyncId;
    d[i + 3] = resourceTypeId;
    d[0] = n + 1; // last: a drain in between never sees a half-written slot
  }

  /** CALLBACK_END with the operation the callback ran for as it ended (0: none). */
  callbackEnd(asyncId: number, operationId: number): void {
    const n = this.next();
    const d = this.data;
    const i = HEADER_DOUBLES + n * SLOT_DOUBLES;
    d[i] = RecordCode.CallbackEnd;
    d[i + 1] = performance.now();
    d[i + 2] = asyncId;
    d[i + 3] = operationId;
    d[0] = n + 1;
  }

  /** OPERATION_START with its TRACE_CONTEXT: ids as lowercase hex (32, 16 and 16 digits; parent undefined for a root). */
  operationStart(operationId: number, nameStringId: number, traceId: string, spanId: string, parentSpanId: string | undefined, traceFlags: number): void {
    const n = this.next();
    const d = this.data;
    const i = HEADER_DOUBLES + n * SLOT_DOUBLES;
    d[i] = RecordCode.OperationStart | (traceFlags << 8);
    d[i + 1] = performance.now();
    d[i + 2] = operationId;
    d[i + 3] = nameStringId;
    const at = (i + 4) * 8;
    const b = this.bytes;
    hexInto(b, at, traceId, 16);
    hexInto(b, at + 16, spanId, 8);
    if (parentSpanId === undefined) b.fill(0, at + 24, at + 32);
    else hexInto(b, at + 24, parentSpanId, 8);
    d[0] = n + 1;
  }

  operationEnd(operationId: number, status: number): void {
    const n = this.next();
    const d = this.data;
    const i = HEADER_DOUBLES + n * SLOT_DOUBLES;
    d[i] = RecordCode.OperationEnd;
    d[i + 1] = performance.now();
    d[i + 2] = operationId;
    d[i + 3] = status;
    d[0] = n + 1;
  }
}
