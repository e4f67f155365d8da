// W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent and tracestate
// headers. Parsing never throws: a header that does not follow the specification is ignored,
// which for traceparent means the receiver starts a new trace and for tracestate means it is
// dropped, as the specification requires.

import { INVALID_SPAN_ID, INVALID_TRACE_ID } from './ids.js';

export interface TraceParent {
  /** 32 lowercase hex digits. */
  traceId: string;
  /** The caller's span id: 16 lowercase hex digits. */
  parentSpanId: string;
  /** The trace-flags byte as received; bit 0 is "sampled". */
  traceFlags: number;
  sampled: boolean;
}

/** Bit 0 of trace-flags: the caller may have recorded its part of the trace. */
export const FLAG_SAMPLED = 0x01;
/** Bit 1 (Trace Context Level 2): the right-most 7 bytes of the trace id are random. */
export const FLAG_RANDOM = 0x02;

const TRACEPARENT_V0_LENGTH = 55;

function isLowerHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66))) return false;
  }
  return true;
}

/**
 * Parses a traceparent header value. Returns undefined for anything the specification calls
 * invalid: a version other than two lowercase hex digits or `ff`, a version-00 value that is not
 * exactly 55 characters, uppercase hex, an all-zero trace id or parent id. A value with a higher
 * version is read by its first 55 characters, which must be followed by the end or a `-`
 * (section 3.2.4, "Versioning of traceparent").
 */
export function parseTraceParent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string') return undefined;
  // Leading and trailing optional whitespace is allowed around an HTTP header value.
  const s = value.length > 0 && (value.charCodeAt(0) <= 0x20 || value.charCodeAt(value.length - 1) <= 0x20) ? value.replace(/^[ \t]+|[ \t]+$/g, '') : value;
  if (s.length < TRACEPARENT_V0_LENGTH) return undefined;
  if (!isLowerHex(s, 0, 2)) return undefined;
  const version = s.slice(0, 2);
  if (version === 'ff') return undefined;
  if (version === '00') {
    if (s.length !== TRACEPARENT_V0_LENGTH) return undefined;
  } else if (s.length > TRACEPARENT_V0_LENGTH && s.charCodeAt(TRACEPARENT_V0_LENGTH) !== 0x2d) {
    return undefined;
  }
  if (s.charCodeAt(2) !== 0x2d || s.charCodeAt(35) !== 0x2d || s.charCodeAt(52) !== 0x2d) return undefined;
  if (!isLowerHex(s, 3, 35) || !isLowerHex(s, 36, 52) || !isLowerHex(s, 53, 55)) return undefined;
  const traceId = s.slice(3, 35);
  const parentSpanId = s.slice(36, 52);
  if (traceId === INVALID_TRACE_ID || parentSpanId === INVALID_SPAN_ID) return undefined;
  const traceFlags = Number.parseInt(s.slice(53, 55), 16);
  return { traceId, parentSpanId, traceFlags, sampled: (traceFlags & FLAG_SAMPLED) !== 0 };
}

/** Formats a version-00 traceparent. Only the flags this version defines are sent. */
export function formatTraceParent(traceId: string, spanId: string, sampled: boolean, random = false): string {
  const flags = (sampled ? FLAG_SAMPLED : 0) | (random ? FLAG_RANDOM : 0);
  return `00-${traceId}-${spanId}-0${flags.toString(16)}`;
}

/** One tracestate list-member, in header order (most recent vendor first). */
export interface TraceStateEntry {
  key: string;
  value: string;
}

/** The specification's limit on list-members; a header with more is discarded. */
export const TRACESTATE_MAX_MEMBERS = 32;

// key = simple-key / multi-tenant-key (section 3.3.1.3.1).
const SIMPLE_KEY = /^[a-z][a-z0-9_\-*/]{0,255}$/;
const MULTI_TENANT_KEY = /^[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}$/;
// value = 0*255(chr) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E.
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/**
 * Parses tracestate (one header value, or several headers' values joined with commas). Empty
 * list-members are allowed and skipped. Any invalid list-member, a duplicated key or more than
 * 32 list-members make the whole header invalid: the result is undefined and nothing is
 * propagated.
 */
export function parseTraceState(value: unknown): TraceStateEntry[] | undefined {
  if (Array.isArray(value)) value = value.join(',');
  if (typeof value !== 'string') return undefined;
  const entries: TraceStateEntry[] = [];
  const seen = new Set<string>();
  for (const raw of value.split(',')) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (member.length === 0) continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const v = member.slice(eq + 1);
    if (!(SIMPLE_KEY.test(key) || MULTI_TENANT_KEY.test(key)) || !VALUE.test(v)) return undefined;
    if (seen.has(key)) return undefined;
    seen.add(key);
    entries.push({ key, value: v });
    if (entries.length > TRACESTATE_MAX_MEMBERS) return undefined;
  }
  return entries;
}

export function formatTraceState(entries: readonly TraceStateEntry[]): string {
  let out = '';
  for (const e of entries) out += (out.length === 0 ? '' : ',') + `${e.key}=${e.value}`;
  return out;
}
