// Human wording for numbers, shared by the analyses' messages and the terminal report, so that a
// finding and the table beside it say "2.80 s" the same way.

/** A duration with a unit that keeps three significant figures: 850 µs, 12.3 ms, 2.80 s, 3 min 20 s. */
export function formatDuration(ns: number): string {
  if (ns < 0) return `-${formatDuration(-ns)}`;
  const abs = ns;
  if (abs < 1e3) return `${Math.round(ns)} ns`;
  if (abs < 1e6) return `${sig(ns / 1e3)} µs`;
  if (abs < 1e9) return `${sig(ns / 1e6)} ms`;
  if (abs < 60e9) return `${sig(ns / 1e9)} s`;
  const totalS = Math.round(ns / 1e9);
  const h = Math.floor(totalS / 3600);
  const m = Math.floor((totalS % 3600) / 60);
  const s = totalS % 60;
  return h > 0 ? `${h} h ${m} min` : `${m} min ${s} s`;
}

/** Three significant figures, without a fraction for whole numbers (thresholds read "50 ms"). */
function sig(x: number): string {
  const abs = Math.abs(x);
  const text = abs >= 100 ? x.toFixed(0) : abs >= 10 ? x.toFixed(1) : x.toFixed(2);
  return Number.isInteger(Number(text)) ? String(Number(text)) : text;
}

/** A ratio as a whole percentage ("94%"), with one decimal below 10% so small shares stay visible. */
export function formatPercent(ratio: number | null): string {
  if (ratio === null) return '–';
  const pct = ratio * 100;
  if (pct > 0 && pct < 0.05) return '<0.1%';
  return pct > 0 && pct < 10 ? `${pct.toFixed(1)}%` : `${Math.round(pct)}%`;
}

/** A range of percentages: "3–5%", or "4%" when both ends round alike. */
export function formatPercentRange(lo: number, hi: number): string {
  const a = formatPercent(lo);
  const b = formatPercent(hi);
  return a === b ? a : `${a.slice(0, -1)}–${b}`;
}

/** A count with thousands separators. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** The wall-clock time of day of an ISO string, to the millisecond: "14:03:07.123". */
export function timeOfDay(iso: string): string {
  const m = /T(\d\d:\d\d:\d\d\.\d\d\d)/.exec(iso);
  return m === null ? iso : m[1]!;
}
