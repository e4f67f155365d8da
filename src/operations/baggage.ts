// W3C Baggage (https://www.w3.org/TR/baggage/): application key/value pairs that travel with a
// request. Parsing never throws. A list-member that does not follow the grammar is removed (the
// specification allows removing an entry that is not in its format); the rest is kept.

export type Baggage = Readonly<Record<string, string>>;

/** The specification's grammar allows at most 180 list-members. */
export const BAGGAGE_MAX_MEMBERS = 180;
/** Platforms must propagate at least 8192 bytes; more is dropped, member by member. */
export const BAGGAGE_MAX_BYTES = 8192;

// token (RFC 7230 3.2.6): 1*tchar.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// value = *baggage-octet; baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E.
const VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;

function trimOws(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

/**
 * Parses a baggage header (or several, joined with commas) into key/value pairs with percent-
 * decoded values. Properties are checked and then dropped: their meaning is opaque to the
 * specification and to looptrace. Duplicate keys keep the last value.
 */
export function parseBaggage(value: unknown): Record<string, string> | undefined {
  if (Array.isArray(value)) value = value.join(',');
  if (typeof value !== 'string') return undefined;
  const out: Record<string, string> = {};
  let members = 0;
  let bytes = 0;
  for (const raw of value.split(',')) {
    const member = trimOws(raw);
    if (member.length === 0) continue;
    if (members >= BAGGAGE_MAX_MEMBERS || bytes + member.length > BAGGAGE_MAX_BYTES) break;
    const parts = member.split(';');
    const pair = parts[0]!;
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const key = trimOws(pair.slice(0, eq));
    const rawValue = trimOws(pair.slice(eq + 1));
    if (!TOKEN.test(key) || !VALUE.test(rawValue)) continue;
    let propertiesValid = true;
    for (let i = 1; i < parts.length; i++) {
      const property = trimOws(parts[i]!);
      const peq = property.indexOf('=');
      const pkey = trimOws(peq < 0 ? property : property.slice(0, peq));
      if (!TOKEN.test(pkey) || (peq >= 0 && !VALUE.test(trimOws(property.slice(peq + 1))))) propertiesValid = false;
    }
    if (!propertiesValid) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(rawValue);
    } catch {
      continue; // a malformed percent-escape: not a URL-encoded UTF-8 string
    }
    // A key seen before is replaced, which also keeps the key out of prototype lookups.
    Object.defineProperty(out, key, { value: decoded, enumerable: true, writable: true, configurable: true });
    members++;
    bytes += member.length + 1;
  }
  return out;
}

// Characters a value may carry unescaped: baggage-octet minus '%' (which starts an escape).
const SAFE_VALUE = /[^\x21\x23-\x24\x26-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]/gu;

/**
 * Formats key/value pairs as a baggage header. Keys that are not tokens are left out; values are
 * percent-encoded as UTF-8. Members past the specification's limits are left out.
 */
export function formatBaggage(baggage: Baggage): string {
  let out = '';
  let members = 0;
  for (const key of Object.keys(baggage)) {
    if (!TOKEN.test(key)) continue;
    const v = baggage[key];
    if (typeof v !== 'string') continue;
    const member = `${key}=${encodeBaggageValue(v)}`;
    if (members >= BAGGAGE_MAX_MEMBERS || out.length + member.length + 1 > BAGGAGE_MAX_BYTES) break;
    out += (out.length === 0 ? '' : ',') + member;
    members++;
  }
  return out;
}

function encodeBaggageValue(value: string): string {
  return value.replace(SAFE_VALUE, (c) => {
    let s = '';
    for (const byte of Buffer.from(c, 'utf8')) s += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    return s;
  });
}
