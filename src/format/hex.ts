// Conversions between the format's fixed-size ids (trace and span ids) and lowercase hex.

const HEX_DIGITS = '0123456789abcdef';

export function hexToBytes(hex: string, byteLength: number, name: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length !== byteLength * 2 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new TypeError(`looptrace: ${name} must be ${byteLength * 2} hex digits, got ${JSON.stringify(hex)}`);
  }
  const out = new Uint8Array(byteLength);
  for (let i = 0; i < byteLength; i++) out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function bytesToHex(bytes: Uint8Array, start: number, end: number): string {
  let out = '';
  for (let i = start; i < end; i++) {
    const b = bytes[i]!;
    out += HEX_DIGITS[b >>> 4]! + HEX_DIGITS[b & 0xf]!;
  }
  return out;
}
