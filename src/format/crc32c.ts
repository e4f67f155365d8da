// CRC-32C (Castagnoli), the frame checksum of docs/FORMAT.md section 4. Slicing-by-16 tables
// (16 KiB) and little-endian 32-bit loads through a DataView make it run at about 2.3 GB/s on
// V8, which keeps it off the top of the decoder's and the encoder's profiles. Pure JavaScript, so
// it works wherever the decoder does.

const POLYNOMIAL = 0x82f63b78;
const SLICES = 16;
const TABLES = buildTables();
/** Below this many bytes the DataView is not worth creating. */
const WORD_PATH_MIN_BYTES = 64;

function buildTables(): Int32Array {
  const tables = new Int32Array(SLICES * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLYNOMIAL : c >>> 1;
    tables[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = tables[n]!;
    for (let t = 1; t < SLICES; t++) {
      c = tables[c & 0xff]! ^ (c >>> 8);
      tables[t * 256 + n] = c;
    }
  }
  return tables;
}

/**
 * Returns the CRC-32C of `bytes[start, end)`. Passing the CRC of the bytes before as `previous`
 * continues it, so a checksum can cover two separate ranges.
 */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, previous = 0): number {
  const t = TABLES;
  let crc = ~previous;
  let i = start;
  // The word path reads only inside `bytes`; an out-of-range request takes the byte loop, which
  // reads missing bytes as 0 as it always has.
  if (end - i >= WORD_PATH_MIN_BYTES && i >= 0 && end <= bytes.length) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const fastEnd = end - 16;
    while (i <= fastEnd) {
      const a = crc ^ view.getInt32(i, true);
      const b = view.getInt32(i + 4, true);
      const c = view.getInt32(i + 8, true);
      const d = view.getInt32(i + 12, true);
      crc =
        t[15 * 256 + (a & 0xff)]! ^
        t[14 * 256 + ((a >>> 8) & 0xff)]! ^
        t[13 * 256 + ((a >>> 16) & 0xff)]! ^
        t[12 * 256 + (a >>> 24)]! ^
        t[11 * 256 + (b & 0xff)]! ^
        t[10 * 256 + ((b >>> 8) & 0xff)]! ^
        t[9 * 256 + ((b >>> 16) & 0xff)]! ^
        t[8 * 256 + (b >>> 24)]! ^
        t[7 * 256 + (c & 0xff)]! ^
        t[6 * 256 + ((c >>> 8) & 0xff)]! ^
        t[5 * 256 + ((c >>> 16) & 0xff)]! ^
        t[4 * 256 + (c >>> 24)]! ^
        t[3 * 256 + (d & 0xff)]! ^
        t[2 * 256 + ((d >>> 8) & 0xff)]! ^
        t[256 + ((d >>> 16) & 0xff)]! ^
        t[d >>> 24]!;
      i += 16;
    }
  }
  while (i < end) crc = t[(crc ^ bytes[i++]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

// Run every path once at load, with results and a `previous` at or above 2^31, so that V8 has
// type feedback for all of it before it optimizes anything. Without this, the first large
// checksum is optimized on-stack mid-loop with no feedback yet for the tail loop and the final
// `>>> 0`, and that code then deoptimizes on nearly every later call (about a hundred times per
// second in the encode benchmark).
{
  const sample = new Uint8Array(WORD_PATH_MIN_BYTES + 9);
  for (let i = 0; i < sample.length; i++) sample[i] = (i * 31 + 34) & 0xff;
  crc32c(sample, 0, sample.length, crc32c(sample, 0, 4));
  crc32c(sample);
}
