// W3C Trace Context and Baggage: the specifications' valid and invalid examples, parse and
// format round trips, and ids from the CSPRNG pool.

import { describe, expect, it } from 'vitest';
import {
  formatBaggage,
  formatTraceParent,
  formatTraceState,
  newSpanId,
  newTraceId,
  parseBaggage,
  parseTraceParent,
  parseTraceState,
} from '../src/operations/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent (Trace Context section 3.2)', () => {
  it('parses the specification examples', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, parentSpanId: SPAN, traceFlags: 1, sampled: true });
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, parentSpanId: SPAN, traceFlags: 0, sampled: false });
  });

  it('masks the flags: sampled is bit 0 whatever other bits are set', () => {
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-09`)?.sampled).toBe(true);
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-08`)?.sampled).toBe(false);
    expect(parseTraceParent(`00-${TRACE}-${SPAN}-03`)?.traceFlags).toBe(3);
  });

  it('reads a higher version by its first 55 characters, followed by the end or a dash', () => {
    expect(parseTraceParent(`01-${TRACE}-${SPAN}-01`)?.traceId).toBe(TRACE);
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-01-what-the-future-will-be-like`)?.parentSpanId).toBe(SPAN);
    expect(parseTraceParent(`cc-${TRACE}-${SPAN}-01.what-the-future-will-be-like`)).toBeUndefined();
  });

  it.each([
    ['version ff', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with extra fields', `00-${TRACE}-${SPAN}-01-extra`],
    ['version 00 one character long', `00-${TRACE}-${SPAN}-011`],
    ['too short', `00-${TRACE}-${SPAN}-1`],
    ['all-zero trace id', `00-00000000000000000000000000000000-${SPAN}-01`],
    ['all-zero parent id', `00-${TRACE}-0000000000000000-01`],
    ['uppercase trace id', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['uppercase version', `0A-${TRACE}-${SPAN}-01`],
    ['uppercase flags', `00-${TRACE}-${SPAN}-0A`],
    ['non-hex trace id', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
    ['non-hex version', `0g-${TRACE}-${SPAN}-01`],
    ['wrong separator', `00_${TRACE}_${SPAN}_01`],
    ['short trace id', `00-${TRACE.slice(1)}-${SPAN}0-01`],
    ['empty', ''],
    ['not a string', 42],
    ['undefined', undefined],
  ])('ignores an invalid value: %s', (_label, value) => {
    expect(parseTraceParent(value)).toBeUndefined();
  });

  it('formats version 00 with the sampled flag', () => {
    expect(formatTraceParent(TRACE, SPAN, true)).toBe(`00-${TRACE}-${SPAN}-01`);
    expect(formatTraceParent(TRACE, SPAN, false)).toBe(`00-${TRACE}-${SPAN}-00`);
    expect(parseTraceParent(formatTraceParent(TRACE, SPAN, true))?.sampled).toBe(true);
  });
});

describe('tracestate (Trace Context section 3.3)', () => {
  it('parses list-members, simple and multi-tenant keys, with optional whitespace and empty members', () => {
    expect(parseTraceState('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE')).toEqual([
      { key: 'rojo', value: '00f067aa0ba902b7' },
      { key: 'congo', value: 't61rcWkgMzE' },
    ]);
    expect(parseTraceState(' fw529a3039@dt = 7n, , \tabc/x*_-=v ')).toBeUndefined(); // space before '=' is part of the key: invalid
    expect(parseTraceState(' fw529a3039@dt=7n, , \tabc/x*_-=v a ')).toEqual([
      { key: 'fw529a3039@dt', value: '7n' },
      { key: 'abc/x*_-', value: 'v a' },
    ]);
    expect(parseTraceState(['a=1', 'b=2'])).toEqual([{ key: 'a', value: '1' }, { key: 'b', value: '2' }]);
  });

  it('accepts 32 list-members and discards a header with 33', () => {
    const members = Array.from({ length: 33 }, (_, i) => `k${i}=v${i}`);
    expect(parseTraceState(members.slice(0, 32).join(','))).toHaveLength(32);
    expect(parseTraceState(members.join(','))).toBeUndefined();
  });

  it.each([
    ['a duplicate key', 'a=1,a=2'],
    ['an uppercase key', 'Rojo=1'],
    ['a key starting with a digit (simple key)', '1abc=1'],
    ['a key too long', `${'a'.repeat(257)}=1`],
    ['a tenant id too long', `${'a'.repeat(242)}@x=1`],
    ['a system id too long', `a@${'x'.repeat(15)}=1`],
    ['an equals sign in a value', 'a=1=2'],
    ['a control character in a value', 'a=b\u0001'],
    ['an empty value', 'a='],
    ['a value too long', `a=${'x'.repeat(257)}`],
    ['no equals sign', 'abc'],
  ])('discards the whole header with %s', (_label, value) => {
    expect(parseTraceState(value)).toBeUndefined();
  });

  it('formats in order', () => {
    expect(formatTraceState([{ key: 'rojo', value: '1' }, { key: 'a@b', value: 'x y' }])).toBe('rojo=1,a@b=x y');
  });
});

describe('baggage (W3C Baggage)', () => {
  it('parses the specification examples', () => {
    expect(parseBaggage('userId=alice,serverNode=DF%2028,isProduction=false')).toEqual({ userId: 'alice', serverNode: 'DF 28', isProduction: 'false' });
    expect(parseBaggage(['userId=alice', 'serverNode=DF%2028,isProduction=false'])).toEqual({ userId: 'alice', serverNode: 'DF 28', isProduction: 'false' });
    expect(parseBaggage('userId =   alice, serverNode = DF%2028, isProduction = false')).toEqual({ userId: 'alice', serverNode: 'DF 28', isProduction: 'false' });
    expect(parseBaggage('key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue')).toEqual({ key1: 'value1', key2: 'value2', key3: 'value3' });
  });

  it('keeps equals signs inside values and decodes UTF-8', () => {
    expect(parseBaggage('a=b=c,u=%E2%9C%93')).toEqual({ a: 'b=c', u: '✓' });
  });

  it('removes invalid list-members and keeps the rest', () => {
    expect(parseBaggage('good=1,bad key=2,quote="x",bad=%E2%9C,noequals,prop=1;bad prop=2,ok=2')).toEqual({ good: '1', ok: '2' });
  });

  it('never throws on any input', () => {
    for (const value of [undefined, null, 42, {}, '', ',,,', '=', '=x', '%', 'a=%', 'a=%zz', '\u0000=\u0000']) {
      expect(() => parseBaggage(value)).not.toThrow();
    }
  });

  it('formats with percent-encoding and round-trips', () => {
    const baggage = { tenant: 't-42', note: 'a b,c;d\\e"f%', unicode: '✓ 😀' };
    const header = formatBaggage(baggage);
    expect(header).not.toMatch(/[ "\\;]/);
    expect(header.split(',')).toHaveLength(3);
    expect(parseBaggage(header)).toEqual(baggage);
  });

  it('leaves out keys that are not tokens', () => {
    expect(formatBaggage({ 'bad key': 'x', good: 'y' })).toBe('good=y');
  });
});

describe('ids', () => {
  it('are lowercase hex of the right length, never zero, and do not repeat', () => {
    const traces = new Set<string>();
    const spans = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const t = newTraceId();
      const s = newSpanId();
      expect(t).toMatch(/^[0-9a-f]{32}$/);
      expect(s).toMatch(/^[0-9a-f]{16}$/);
      traces.add(t);
      spans.add(s);
    }
    expect(traces.size).toBe(20_000);
    expect(spans.size).toBe(20_000);
  });

  it('have uniformly distributed hex digits (chi-square over 20k trace ids)', () => {
    const counts = new Array(16).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) for (const c of newTraceId()) counts[Number.parseInt(c, 16)]++;
    const expected = (n * 32) / 16;
    const chi = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
    // 15 degrees of freedom: p = 0.001 at 37.7.
    expect(chi).toBeLessThan(37.7);
  });
});
