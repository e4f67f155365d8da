// The time axis: tick positions at a round step (1, 2 or 5 times a power of ten nanoseconds) at
// least minPx apart, labelled in wall-clock time (UTC) to the precision the step needs.

export interface Tick {
  timeNs: number;
  x: number;
  label: string;
}

export function ticks(t0: number, t1: number, widthPx: number, originUnixMs: number, minPx = 90): Tick[] {
  const nsPerPx = (t1 - t0) / widthPx;
  const minStep = nsPerPx * minPx;
  let step = 1;
  for (let p = 1; step < minStep; p *= 10) {
    for (const m of [1, 2, 5]) {
      step = m * p;
      if (step >= minStep) break;
    }
  }
  const out: Tick[] = [];
  const first = Math.ceil(t0 / step) * step;
  for (let t = first; t <= t1 && out.length < 200; t += step) out.push({ timeNs: t, x: (t - t0) / nsPerPx, label: wallLabel(originUnixMs, t, step) });
  return out;
}

export function wallLabel(originUnixMs: number, timeNs: number, stepNs: number): string {
  const unixMs = originUnixMs + timeNs / 1e6;
  const d = new Date(Math.floor(unixMs));
  if (Number.isNaN(d.getTime())) return `${(timeNs / 1e9).toFixed(3)} s`;
  const hms = d.toISOString().slice(11, 19);
  if (stepNs >= 1e9) return hms;
  const subMs = unixMs - Math.floor(unixMs / 1000) * 1000;
  if (stepNs >= 1e6) return `${hms}.${String(Math.floor(subMs)).padStart(3, '0')}`;
  const us = Math.floor(subMs * 1000);
  return `${hms}.${String(us).padStart(6, '0')}`;
}

export function formatNs(ns: number): string {
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${(ns / 1e3).toFixed(ns < 1e4 ? 2 : 1)} µs`;
  if (ns < 1e9) return `${(ns / 1e6).toFixed(ns < 1e7 ? 2 : 1)} ms`;
  return `${(ns / 1e9).toFixed(2)} s`;
}
