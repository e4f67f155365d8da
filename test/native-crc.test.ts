// The native addon's CRC-32C (native/crc32c.cc, used by the native encoder) must equal the
// TypeScript one (src/format/crc32c.ts, used by the decoder) on every input and range.

import { describe, expect, test } from 'vitest';
import { loadBinding } from '../src/binding.js';
import { crc32c } from '../src/format/index.js';
import { Rng } from './helpers.js';

const native = loadBinding();

describe('native crc32c', () => {
  test('check value and empty input', () => {
    expect(native.crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(native.crc32c(new Uint8Array(0))).toBe(0);
    expect(native.crc32c(new Uint8Array(32))).toBe(crc32c(new Uint8Array(32)));
    expect(native.crc32c(new Uint8Array(32).fill(0xff))).toBe(crc32c(new Uint8Array(32).fill(0xff)));
  });

  test('equals the TypeScript CRC on random buffers of every length up to 300', () => {
    const rng = new Rng(42);
    for (let n = 0; n <= 300; n++) {
      const bytes = rng.bytes(n);
      expect(native.crc32c(bytes), `length ${n}`).toBe(crc32c(bytes));
    }
  });

  test('equals the TypeScript CRC on random ranges, offsets and views', () => {
    const rng = new Rng(43);
    const big = rng.bytes(1 << 17);
    for (let i = 0; i < 2000; i++) {
      const start = rng.int(big.length + 1);
      const end = start + rng.int(Math.min(big.length - start, rng.bool(0.9) ? 200 : 1 << 16) + 1);
      expect(native.crc32c(big, start, end)).toBe(crc32c(big, start, end));
      // A subarray view (non-zero byteOffset) of the same bytes.
      const view = big.subarray(start, end);
      expect(native.crc32c(view)).toBe(crc32c(big, start, end));
      // Default end.
      if (i % 50 === 0) expect(native.crc32c(big, start)).toBe(crc32c(big, start));
    }
    // A Buffer is a Uint8Array too.
    expect(native.crc32c(Buffer.from(big.subarray(0, 1000)))).toBe(crc32c(big, 0, 1000));
  });

  test('the frame checksum over two ranges (length, then body) matches', () => {
    const rng = new Rng(44);
    for (let i = 0; i < 200; i++) {
      const frame = rng.bytes(rng.range(13, 400));
      // The native CRC of the length and body bytes laid out contiguously equals the chained TS CRC.
      const contiguous = new Uint8Array([...frame.subarray(4, 8), ...frame.subarray(12)]);
      expect(native.crc32c(contiguous)).toBe(crc32c(frame, 12, frame.length, crc32c(frame, 4, 8)));
    }
  });

  test('argument errors', () => {
    const bytes = new Uint8Array(10);
    expect(() => native.crc32c([1, 2, 3] as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => native.crc32c(new Uint16Array(4) as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => native.crc32c(bytes, 11)).toThrow(RangeError);
    expect(() => native.crc32c(bytes, 5, 4)).toThrow(RangeError);
    expect(() => native.crc32c(bytes, 1.5)).toThrow(RangeError);
    expect(() => native.crc32c(bytes, -1)).toThrow(RangeError);
    expect(native.crc32c(bytes, 10, 10)).toBe(0);
  });
});
