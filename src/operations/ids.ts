// Trace and span ids from the operating system's CSPRNG, drawn from a pool that is refilled in
// large blocks: one randomBytes() call per few hundred ids instead of one per id.

import { randomFillSync } from 'node:crypto';

/** Bytes fetched per refill: 256 trace ids or 512 span ids. */
const POOL_BYTES = 4096;

const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

function take(bytes: number): number {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

/** A new W3C trace id: 32 lowercase hex digits, never all zeros. */
export function newTraceId(): string {
  for (;;) {
    const at = take(16);
    const id = pool.toString('hex', at, at + 16);
    if (id !== INVALID_TRACE_ID) return id;
  }
}

/** A new W3C span (parent) id: 16 lowercase hex digits, never all zeros. */
export function newSpanId(): string {
  for (;;) {
    const at = take(8);
    const id = pool.toString('hex', at, at + 8);
    if (id !== INVALID_SPAN_ID) return id;
  }
}

export const INVALID_TRACE_ID = '00000000000000000000000000000000';
export const INVALID_SPAN_ID = '0000000000000000';
