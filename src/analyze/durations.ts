// Parsing of durations written by people ("100ms", "1.5s", "2m30s") into nanoseconds, shared by
// --fail-on conditions and --since/--until offsets.

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  min: 60e9,
  h: 3600e9,
};

export const DURATION_UNITS = 'ns, us, ms, s, m, h';

const PART = /(\d+(?:\.\d+)?|\.\d+)\s*(ns|us|µs|ms|min|s|m|h)/y;

/**
 * Nanoseconds in a duration made of one or more number-unit parts ("1m30s"), or undefined when
 * the text is not one. A bare number has no unit and is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === '') return undefined;
  let total = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < s.length) {
    const m = PART.exec(s);
    if (m === null) return undefined;
    total += Number(m[1]) * UNIT_NS[m[2]!]!;
  }
  return Math.round(total);
}
