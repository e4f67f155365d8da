// Level of detail: whatever the zoom, drawing a lane costs about one step per pixel. Busy time is
// summed into bins of a power-of-two width, and each coarser level halves the bin count; a view
// where a pixel spans at least two of the finest bins reads the level whose bins are a quarter to
// half a pixel wide, and a closer view adds up the busy stretches themselves (few, by then).
// Counters keep the max of blocks of 4, 16, 64 ... points for the same reason.

import type { BusyLevel, CounterSeries, ThreadLane } from './model.js';
import { chunkAt, chunkLowerBound, type SpanChunk } from './span-column.js';

/** The finest level has about one bin per this many busy stretches. */
// (8, not 4: the decode workers' bins and the joined ones are held together for a moment; measured
// 1.88–2.06x the trace's bytes at peak with 4, against the 2x bar.)
const STRETCHES_PER_BIN = 8;
const MIN_BIN_NS = 1024;
const COARSEST_BINS = 256;

/** The finest bin width for `count` stretches over spanNs: a power of two times 1024 ns. */
export function chooseBinNs(count: number, spanNs: number): number {
  const wanted = Math.max(1, Math.ceil(count / STRETCHES_PER_BIN));
  let binNs = MIN_BIN_NS;
  while (Math.max(1, spanNs) / binNs > wanted) binNs *= 2;
  return binNs;
}

/** Busy and I/O-callback time per bin of binNs; bin i covers [(firstBin + i) * binNs, +binNs). */
export interface Bins {
  binNs: number;
  firstBin: number;
  busyNs: Float32Array;
  ioNs: Float32Array;
}

/** Empty bins of binNs on the grid of multiples of binNs, covering [fromNs, toNs]. */
export function emptyBins(binNs: number, fromNs: number, toNs: number): Bins {
  const firstBin = Math.floor(fromNs / binNs);
  const n = Math.max(1, Math.floor(toNs / binNs) - firstBin + 1);
  return { binNs, firstBin, busyNs: new Float32Array(n), ioNs: new Float32Array(n) };
}

/** Adds the stretches of `chunks` to the bins (a pass over the stretches: done in each decode worker). */
export function binStretches(bins: Bins, chunks: readonly SpanChunk[]): void {
  const { binNs, busyNs, ioNs } = bins;
  const origin = bins.firstBin * binNs;
  // binNs is a power of two: multiplying by its inverse is exact.
  const perBin = 1 / binNs;
  const last = busyNs.length;
  for (const c of chunks) {
    const base = c.baseNs - origin;
    const offs = c.startOffNs;
    const durs = c.durNs;
    const io = c.ioShare;
    for (let i = 0; i < offs.length; i++) {
      let a = base + offs[i]!;
      const d = durs[i]!;
      const b = a + d;
      // The I/O callbacks come first in a stretch (they end the poll that began it).
      const ioEnd = a + (d * io[i]!) / 65535;
      let bin = Math.floor(a * perBin);
      // Most stretches fall inside one bin.
      if (b <= (bin + 1) * binNs) {
        busyNs[bin]! += d;
        ioNs[bin]! += ioEnd - a;
        continue;
      }
      while (a < b && bin < last) {
        const edge = (bin + 1) * binNs;
        const end = b < edge ? b : edge;
        busyNs[bin]! += end - a;
        if (ioEnd > a) ioNs[bin]! += (ioEnd < end ? ioEnd : end) - a;
        a = end;
        bin++;
      }
    }
  }
}

/** Adds bins of a finer (or equal) power-of-two width into `into`, on the same grid. */
export function addBins(into: Bins, from: Bins): void {
  const factor = into.binNs / from.binNs;
  for (let i = 0; i < from.busyNs.length; i++) {
    const busy = from.busyNs[i]!;
    const io = from.ioNs[i]!;
    if (busy === 0 && io === 0) continue;
    const j = Math.floor((from.firstBin + i) / factor) - into.firstBin;
    if (j < 0 || j >= into.busyNs.length) continue;
    into.busyNs[j]! += busy;
    into.ioNs[j]! += io;
  }
}

/** The levels of detail from the finest bins: each coarser level halves the bin count. */
export function levelsFrom(finest: Bins): BusyLevel[] {
  const levels: BusyLevel[] = [{ binNs: finest.binNs, busyNs: finest.busyNs, ioNs: finest.ioNs }];
  let prev = levels[0]!;
  // Bin i of every level starts at firstBin * finest.binNs + i * its binNs (ThreadLane.levelStartNs).
  while (prev.busyNs.length > COARSEST_BINS) {
    const n = Math.ceil(prev.busyNs.length / 2);
    const next: BusyLevel = { binNs: prev.binNs * 2, busyNs: new Float32Array(n), ioNs: new Float32Array(n) };
    for (let i = 0; i < prev.busyNs.length; i++) {
      next.busyNs[i >> 1]! += prev.busyNs[i]!;
      next.ioNs[i >> 1]! += prev.ioNs[i]!;
    }
    levels.push(next);
    prev = next;
  }
  return levels;
}

/** All levels for one lane's stretches over [fromNs, toNs] (one pass; the levels start at the returned startNs). */
export function buildBusyLevels(chunks: readonly SpanChunk[], count: number, fromNs: number, toNs: number): { startNs: number; levels: BusyLevel[] } {
  const bins = emptyBins(chooseBinNs(count, toNs - fromNs), fromNs, toNs);
  binStretches(bins, chunks);
  return { startNs: bins.firstBin * bins.binNs, levels: levelsFrom(bins) };
}

export function buildMaxLevels(timeNs: Float64Array, value: Float32Array): CounterSeries['maxLevels'] {
  const levels: CounterSeries['maxLevels'] = [];
  let t = timeNs;
  let v = value;
  while (t.length > 64) {
    const n = Math.ceil(t.length / 4);
    const nt = new Float64Array(n);
    const nv = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const i = j * 4;
      nt[j] = t[i]!;
      let m = v[i]!;
      for (let k = i + 1; k < i + 4 && k < v.length; k++) if (v[k]! > m) m = v[k]!;
      nv[j] = m;
    }
    levels.push({ timeNs: nt, value: nv });
    t = nt;
    v = nv;
  }
  return levels;
}

/** The first index whose value is >= x in a sorted array (length when none). */
export function lowerBound(a: Float64Array, x: number, from = 0): number {
  let lo = from;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Fills out[0..px) with the share of each pixel's time that the loop was busy, and ioOut with the
 * share spent in I/O callbacks, for the view [t0, t1). Returns the level used (-1: the stretches
 * themselves), for the tests and the bench.
 */
export function busyPerPixel(lane: ThreadLane, t0: number, t1: number, px: number, out: Float32Array, ioOut: Float32Array): number {
  out.fill(0, 0, px);
  ioOut.fill(0, 0, px);
  const nsPerPx = (t1 - t0) / px;
  if (!(nsPerPx > 0)) return -1;
  let level = -1;
  for (let i = lane.levels.length - 1; i >= 0; i--) {
    if (lane.levels[i]!.binNs * 2 <= nsPerPx) {
      level = i;
      break;
    }
  }
  if (level < 0) {
    forEachSpan(lane.busy, t0, t1, (s, e, io) => {
      addSpan(out, px, (s - t0) / nsPerPx, (e - t0) / nsPerPx);
      if (io > 0) addSpan(ioOut, px, (s - t0) / nsPerPx, (s + ((e - s) * io) / 65535 - t0) / nsPerPx);
    });
  } else {
    const { binNs, busyNs, ioNs } = lane.levels[level]!;
    const base = lane.levelStartNs;
    const first = Math.max(0, Math.floor((t0 - base) / binNs));
    const last = Math.min(busyNs.length - 1, Math.floor((t1 - base) / binNs));
    for (let b = first; b <= last; b++) {
      const v = busyNs[b]!;
      if (v === 0) continue;
      const a = (base + b * binNs - t0) / nsPerPx;
      const w = binNs / nsPerPx;
      // A bin narrower than a pixel: its busy time is spread evenly over what it covers.
      addWeighted(out, px, a, a + w, v / binNs);
      const io = ioNs[b]!;
      if (io > 0) addWeighted(ioOut, px, a, a + w, io / binNs);
    }
  }
  return level;
}

/** Adds full coverage of the pixel range [a, b) (in pixels, fractional). */
function addSpan(out: Float32Array, px: number, a: number, b: number): void {
  addWeighted(out, px, a, b, 1);
}

function addWeighted(out: Float32Array, px: number, a: number, b: number, density: number): void {
  if (b <= 0 || a >= px) return;
  if (a < 0) a = 0;
  if (b > px) b = px;
  let p = Math.floor(a);
  while (a < b) {
    const edge = p + 1;
    const end = b < edge ? b : edge;
    out[p]! += (end - a) * density;
    a = end;
    p++;
  }
}

/**
 * Fills out[0..px) with the max of the counter's values in each pixel, carrying the last value
 * across pixels without a point (a counter holds its value until the next sample); NaN before the
 * first point.
 */
let seenScratch = new Uint8Array(0);

export function counterPerPixel(series: CounterSeries, t0: number, t1: number, px: number, out: Float32Array): void {
  out.fill(NaN, 0, px);
  const nsPerPx = (t1 - t0) / px;
  let times = series.timeNs;
  let values = series.value;
  for (const level of series.maxLevels) {
    const inView = lowerBound(times, t1) - lowerBound(times, t0);
    if (inView <= px * 2) break;
    times = level.timeNs;
    values = level.value;
  }
  let i = lowerBound(times, t0);
  let carry = i > 0 ? values[i - 1]! : NaN;
  // Reused from frame to frame: a frame allocates nothing.
  if (seenScratch.length < px) seenScratch = new Uint8Array(px);
  const seen = seenScratch;
  seen.fill(0, 0, px);
  for (; i < times.length; i++) {
    const t = times[i]!;
    if (t >= t1) break;
    const p = Math.floor((t - t0) / nsPerPx);
    if (p < 0 || p >= px) continue;
    const v = values[i]!;
    if (seen[p] === 0 || v > out[p]!) out[p] = v;
    seen[p] = 1;
  }
  for (let p = 0; p < px; p++) {
    if (seen[p] === 1) carry = out[p]!;
    else out[p] = carry;
  }
}

/**
 * Calls fn(start, end) for the spans that overlap [t0, t1), starting with the one before t0 (spans
 * of one loop do not overlap, so only that one can reach into the view).
 */
export function forEachSpan(chunks: readonly SpanChunk[], t0: number, t1: number, fn: (startNs: number, endNs: number, ioShare: number) => void): void {
  if (chunks.length === 0) return;
  let ci = chunkAt(chunks, t0);
  let i = chunkLowerBound(chunks[ci]!, t0);
  if (i > 0) i--;
  else if (ci > 0) {
    ci--;
    i = chunks[ci]!.startOffNs.length - 1;
  }
  for (; ci < chunks.length; ci++, i = 0) {
    const c = chunks[ci]!;
    const offs = c.startOffNs;
    const durs = c.durNs;
    const io = c.ioShare;
    const base = c.baseNs;
    for (; i < offs.length; i++) {
      const s = base + offs[i]!;
      if (s >= t1) return;
      fn(s, s + durs[i]!, io.length > 0 ? io[i]! : 0);
    }
  }
}

/** Marks pixels where a GC pause (or any span list) is present: 1 for present. */
export function spansPerPixel(chunks: readonly SpanChunk[], t0: number, t1: number, px: number, out: Uint8Array): void {
  out.fill(0, 0, px);
  const nsPerPx = (t1 - t0) / px;
  forEachSpan(chunks, t0, t1, (s, e) => {
    if (e < t0) return;
    const a = Math.max(0, Math.floor((s - t0) / nsPerPx));
    const b = Math.min(px - 1, Math.floor((e - t0) / nsPerPx));
    for (let p = a; p <= b; p++) out[p] = 1;
  });
}
