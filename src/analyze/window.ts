// --since and --until: a wall-clock time (ISO 8601) or an offset from the start of the input
// ("+5s", "90s", "1m30s"), resolved per trace into trace time.

import { parseDuration } from './durations.js';
import type { WallClock } from './wall-clock.js';

export type TimeSpec = { kind: 'offset'; ns: number; text: string } | { kind: 'wall'; unixMs: number; text: string };

/** Dates with at least a day, optionally a time and a zone; a time without a zone is local time. */
const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Parses a --since/--until value, or returns undefined when it is neither form. */
export function parseTimeSpec(text: string): TimeSpec | undefined {
  const s = text.trim();
  if (ISO.test(s)) {
    const unixMs = Date.parse(s.replace(' ', 'T'));
    return Number.isNaN(unixMs) ? undefined : { kind: 'wall', unixMs, text };
  }
  const offset = parseDuration(s.startsWith('+') ? s.slice(1) : s);
  return offset === undefined ? undefined : { kind: 'offset', ns: offset, text };
}

/** The trace time of a spec: offsets count from startNs, the start of the input. */
export function resolveTimeSpec(spec: TimeSpec, startNs: number, clock: WallClock): number {
  return spec.kind === 'offset' ? startNs + spec.ns : Math.round(clock.timeNsAt(spec.unixMs));
}
