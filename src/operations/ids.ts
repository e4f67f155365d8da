// Trace and span ids from the operating system's CSPRNG, drawn from a pool that is refilled in
// large blocks: one randomBytes() call per few hundred ids instead of one per id.

import { randomFillSync } from 'node:crypto';

/** Bytes fetched per refill: 256 trace ids or 512 span ids. */
const POOL_BYTES = 4096;

const pool = new Uint8Array(POOL_BYTES);
let offset = POOL_BYTES;
/** Two hex digits per byte value: joining table entries is several times faster than Buffer#toString('hex') on a slice. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

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
    const p = pool;
    const id =
      HEX[p[at]!]! + HEX[p[at + 1]!]! + HEX[p[at + 2]!]! + HEX[p[at + 3]!]! + HEX[p[at + 4]!]! + HEX[p[at + 5]!]! + HEX[p[at + 6]!]! + HEX[p[at + 7]!]! +
      HEX[p[at + 8]!]! + HEX[p[at + 9]!]! + HEX[p[at + 10]!]! + HEX[p[at + 11]!]! + HEX[p[at + 12]!]! + HEX[p[at + 13]!]! + HEX[p[at + 14]!]! + HEX[p[at + 15]!]!;
    if (id !== INVALID_TRACE_ID) return id;
  }
}

/** A new W3C span (parent) id: 16 lowercase hex digits, never all zeros. */
export function newSpanId(): string {
  for (;;) {
    const at = take(8);
    const p = pool;
    const id = HEX[p[at]!]! + HEX[p[at + 1]!]! + HEX[p[at + 2]!]! + HEX[p[at + 3]!]! + HEX[p[at + 4]!]! + HEX[p[at + 5]!]! + HEX[p[at + 6]!]! + HEX[p[at + 7]!]!;
    if (id !== INVALID_SPAN_ID) return id;
  }
}

export const INVALID_TRACE_ID = '00000000000000000000000000000000';
export const INVALID_SPAN_ID = '0000000000000000';
