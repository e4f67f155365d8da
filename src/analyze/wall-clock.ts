// Turns trace times (nanoseconds since the origin) into wall-clock times: the header's clock
// anchor plus the latest CLOCK_SYNC correction at or before the time (docs/FORMAT.md 3.3).

/** Clock syncs kept for lookups; a recorder writes one every 10 s, so this covers 11 days. */
const MAX_SYNCS = 100_000;

/** The header's clock anchor as the report and JSON Lines give it (bigints as decimal strings). */
export function clockAnchorOf(h: { originMonoNs: bigint; originWallUnixNs: bigint }): {
  originMonoNs: string;
  originWallUnixNs: string;
  originUnixMs: number;
  originIso: string;
} {
  const originUnixMs = new WallClock(h.originWallUnixNs).originUnixMs;
  return {
    originMonoNs: h.originMonoNs.toString(),
    originWallUnixNs: h.originWallUnixNs.toString(),
    originUnixMs: Math.round(originUnixMs * 1000) / 1000,
    originIso: isoOf(originUnixMs),
  };
}

export class WallClock {
  /** Wall-clock milliseconds since the Unix epoch at the origin (sub-microsecond precision). */
  readonly originUnixMs: number;
  private readonly syncTimesNs: number[] = [];
  private readonly syncOffsetsNs: number[] = [];

  constructor(originWallUnixNs: bigint) {
    // Split before converting: the full nanosecond count does not fit a double exactly.
    const ms = originWallUnixNs / 1_000_000n;
    this.originUnixMs = Number(ms) + Number(originWallUnixNs - ms * 1_000_000n) / 1e6;
  }

  /** Records a CLOCK_SYNC: at timeNs the wall clock read origin + timeNs + wallOffsetNs. */
  addSync(timeNs: number, wallOffsetNs: number): void {
    const times = this.syncTimesNs;
    const last = times.length - 1;
    if (last >= 0 && timeNs < times[last]!) {
      // Out of order (a file read late): insert in place so lookups stay a binary search.
      let i = last;
      while (i >= 0 && times[i]! > timeNs) i--;
      times.splice(i + 1, 0, timeNs);
      this.syncOffsetsNs.splice(i + 1, 0, wallOffsetNs);
    } else {
      times.push(timeNs);
      this.syncOffsetsNs.push(wallOffsetNs);
    }
    if (times.length > MAX_SYNCS) {
      // Thin out every other sync: corrections change slowly, so the halved set still tracks them.
      for (let i = 0, j = 0; i < times.length; i += 2, j++) {
        times[j] = times[i]!;
        this.syncOffsetsNs[j] = this.syncOffsetsNs[i]!;
      }
      times.length = Math.ceil(times.length / 2);
      this.syncOffsetsNs.length = times.length;
    }
  }

  /** The correction in effect at timeNs: the latest sync at or before it, else the first one. */
  offsetAt(timeNs: number): number {
    const times = this.syncTimesNs;
    if (times.length === 0) return 0;
    let lo = 0;
    let hi = times.length - 1;
    if (timeNs < times[0]!) return this.syncOffsetsNs[0]!;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid]! <= timeNs) lo = mid;
      else hi = mid - 1;
    }
    return this.syncOffsetsNs[lo]!;
  }

  /** Wall-clock milliseconds since the Unix epoch, with a fraction. */
  unixMs(timeNs: number): number {
    return this.originUnixMs + (timeNs + this.offsetAt(timeNs)) / 1e6;
  }

  iso(timeNs: number): string {
    return isoOf(this.unixMs(timeNs));
  }

  /** The trace time at a wall-clock time, for --since and --until given as dates. */
  timeNsAt(unixMs: number): number {
    const approx = (unixMs - this.originUnixMs) * 1e6;
    return approx - this.offsetAt(approx);
  }
}

export function isoOf(unixMs: number): string {
  const date = new Date(Math.floor(unixMs));
  return Number.isNaN(date.getTime()) ? 'invalid time' : date.toISOString();
}
