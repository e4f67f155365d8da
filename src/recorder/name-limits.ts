// Bounds on the names a trace carries in its header and definitions. Every file repeats the
// header (service name, every live thread's name), and a header frame must stay far below the
// format's 1 MiB frame limit (docs/FORMAT.md 4.4) for a file to decode at all.

/** The longest serviceName, in bytes of UTF-8. */
export const MAX_SERVICE_NAME_BYTES = 256;
/** The longest thread name, in bytes of UTF-8; longer names are cut and end with "…". */
export const MAX_THREAD_NAME_BYTES = 128;

export function utf8Bytes(value: string): number {
  return Buffer.byteLength(value, 'utf8');
}

/** `value` cut to at most `maxBytes` of UTF-8 at a character boundary, ending with "…" when cut. */
export function cutName(value: string, maxBytes: number): string {
  if (utf8Bytes(value) <= maxBytes) return value;
  const ellipsis = '…';
  const bytes = Buffer.from(value, 'utf8');
  let end = maxBytes - utf8Bytes(ellipsis);
  // Back off to the first byte of a character (continuation bytes are 10xxxxxx).
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8') + ellipsis;
}
