// The viewer page: receives the model from the decode worker and draws it on one canvas, one
// render per animation frame at most. Lanes per event loop show the share of each pixel's time
// the loop was busy (level of detail per pixel, lod.ts), long tasks outlined in red, GC pauses
// and stack samples under the lane, operations above it, then counter tracks. Zoom and pan with
// the wheel, dragging and the keyboard; click a long task for its details; the findings list
// jumps to a task. Every trace string reaches the page through textContent or canvas text, never
// as markup.

import { formatNs, ticks, wallLabel } from './axis.js';
import { busyPerPixel, counterPerPixel, lowerBound, spansPerPixel } from './lod.js';
import type { Finding, TraceReport } from '../../analyze/report.js';
import type { CounterSeries, LoadRequest, LongTaskInfo, OperationInfo, StackSampleInfo, ThreadLane, TimelineModel, WorkerMessage } from './model.js';
import { IntervalIndex } from './interval-index.js';
import { startLive } from './live-panel.js';

declare const WORKER_SOURCE: string;

const AXIS_H = 26;
const LABEL_W = 180;
const LANE_H = 34;
const BAND_TOP = 8;
const BAND_H = 18;
/** The band's upper part shows the busy share, its lower part the I/O-callback share. */
const BUSY_H = 12;
const COUNTER_H = 30;
const MAX_COUNTER_ROWS = 40;
const DEFAULT_LONG_TASK_NS = 50e6;

interface Row {
  kind: 'lane' | 'counter';
  y: number;
  h: number;
  label: string;
  lane?: ThreadLane;
  series?: CounterSeries;
}

interface View {
  t0: number;
  t1: number;
}

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

const canvas = $<HTMLCanvasElement>('timeline');
const ctx = canvas.getContext('2d', { alpha: false })!;
const status = $('status');
const details = $('details');
const findings = $('findings');
const title = $('title');

let model: TimelineModel | undefined;
/** analyze-trace's report of the same trace, once the worker's second pass is done. */
let report: TraceReport | undefined;
let rows: Row[] = [];
/** The lane rows, and each thread's index among them. */
let laneRows: Row[] = [];
let laneIndexOf = new Map<number, number>();
/** What is drawn over the lanes, indexed by time; runs: per lane, the long-task outline being merged. */
let index: { longTasks: IntervalIndex<LongTaskInfo>; operations: IntervalIndex<OperationInfo>; stacks: IntervalIndex<StackSampleInfo>; runs: Float64Array } | undefined;
let view: View = { t0: 0, t1: 1 };
let selected: LongTaskInfo | undefined;
let dirty = false;
let image: ImageData | undefined;
let pixels: Uint32Array | undefined;
const frameTimes: number[] = [];
const scratch = { f32: new Float32Array(8192), io: new Float32Array(8192), u8: new Uint8Array(8192) };
const loadStarted = { at: 0 };
let firstDrawMs = -1;

// ---------------------------------------------------------------------------------------------
// Loading

let workerUrl: string | undefined;

function newWorker(): Worker {
  workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
  return new Worker(workerUrl);
}

/** Decoding threads at most: the decode worker and its helpers. */
const MAX_DECODE_THREADS = 4;

function load(request: LoadRequest): void {
  loadStarted.at = performance.now();
  firstDrawMs = -1;
  status.textContent = 'Decoding…';
  const worker = newWorker();
  // Helpers for decoding runs of files in parallel; the decode worker reaches each through a port
  // (it cannot start workers itself from a file:// page). By default one core is left to the page:
  // on two cores a second decode worker competed with the first and with the page and loaded a
  // 50 M-record trace no faster (7.85 s against 7.3-7.8 s with one, bench:viewer on an idle
  // machine) for 30% more CPU. ?threads=N asks for N.
  const threads = Math.max(1, Math.min(MAX_DECODE_THREADS, request.threads ?? (navigator.hardwareConcurrency ?? 2) - 1));
  const helpers: Worker[] = [];
  const ports: MessagePort[] = [];
  for (let i = 1; i < threads; i++) {
    const helper = newWorker();
    const channel = new MessageChannel();
    helper.postMessage({ type: 'helper', port: channel.port2 }, [channel.port2]);
    helpers.push(helper);
    ports.push(channel.port1);
  }
  const stopHelpers = (): void => helpers.forEach((h) => h.terminate());
  worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
    const m = e.data;
    if (m.type === 'progress') status.textContent = `Decoding… ${Math.round((100 * m.bytes) / Math.max(1, m.totalBytes))}% of ${(m.totalBytes / 1e6).toFixed(1)} MB`;
    else if (m.type === 'error') {
      status.textContent = `Could not read the trace: ${m.message}`;
      worker.terminate();
      stopHelpers();
    } else if (m.type === 'model') {
      stopHelpers();
      show(m.model);
    } else {
      worker.terminate();
      report = m.report;
      renderFindings();
    }
  };
  worker.onerror = (e) => {
    status.textContent = `The decoder failed: ${e.message}`;
  };
  worker.postMessage({ ...request, helpers: ports }, ports);
}

/**
 * Options from the page's URL: ?longTaskMs=100 sets the threshold, ?analysis=0 skips the findings
 * pass, ?threads=1 decodes in one worker (default: one per core, at most 4).
 */
function loadOptions(): { longTaskNs: number; analyze: boolean; threads?: number } {
  const params = new URLSearchParams(location.search);
  const ms = Number(params.get('longTaskMs'));
  const threads = Number(params.get('threads'));
  return { longTaskNs: ms > 0 ? ms * 1e6 : DEFAULT_LONG_TASK_NS, analyze: params.get('analysis') !== '0', ...(threads >= 1 ? { threads: Math.floor(threads) } : {}) };
}

function show(m: TimelineModel): void {
  model = m;
  index = {
    longTasks: new IntervalIndex(m.longTasks, (lt) => lt.startNs, (lt) => lt.endNs),
    operations: new IntervalIndex(m.operations, (op) => op.startNs, (op) => op.endNs),
    stacks: new IntervalIndex(m.stacks, (s) => s.timeNs, (s) => s.timeNs),
    runs: new Float64Array(0),
  };
  report = undefined;
  selected = undefined;
  const who = [m.serviceName, m.pid === null ? '' : `pid ${m.pid}`].filter(Boolean).join(', ');
  title.textContent = `looptrace${who === '' ? '' : ` — ${who}`}`;
  document.title = title.textContent;
  status.textContent = `${m.records.toLocaleString('en-US')} records, ${(m.bytes / 1e6).toFixed(1)} MB in ${m.files.length} file(s); ${m.threads.length} loop(s); ${m.longTasks.length} long task(s) ≥ ${formatNs(m.longTaskNs)}; decoded in ${(m.decodeMs / 1000).toFixed(2)} s${m.diagnostics.length > 0 ? `; ${m.diagnostics.length} decoder warning(s)` : ''}`;
  layout();
  view = { t0: m.startNs, t1: m.endNs };
  renderFindings();
  details.textContent = 'Click a long task (outlined in red) for its stack, split and operation.';
  requestDraw();
}

function layout(): void {
  const m = model;
  rows = [];
  if (m === undefined) return;
  let y = AXIS_H;
  const threads = [...m.threads].sort((a, b) => a.threadId - b.threadId);
  laneRows = [];
  laneIndexOf = new Map();
  for (const lane of threads) {
    const row: Row = { kind: 'lane', y, h: LANE_H, label: lane.name, lane };
    rows.push(row);
    laneIndexOf.set(lane.threadId, laneRows.length);
    laneRows.push(row);
    y += LANE_H;
  }
  if (index !== undefined) index.runs = new Float64Array(2 * laneRows.length);
  y += 6;
  const counterRows: Row[] = [];
  for (const s of m.counters) if (s.timeNs.length > 0) counterRows.push({ kind: 'counter', y: 0, h: COUNTER_H, label: s.name, series: s });
  for (const lane of threads) {
    for (const s of lane.counters) {
      if (s.timeNs.length === 0) continue;
      if (!lane.isMain && s.name !== 'utilization') continue;
      counterRows.push({ kind: 'counter', y: 0, h: COUNTER_H, label: `${lane.name}: ${s.name}`, series: s });
    }
  }
  for (const r of counterRows.slice(0, MAX_COUNTER_ROWS)) {
    r.y = y;
    rows.push(r);
    y += COUNTER_H;
  }
  const width = Math.max(400, canvas.parentElement!.clientWidth);
  canvas.width = width;
  canvas.height = y + 4;
  canvas.style.height = `${y + 4}px`;
  image = ctx.createImageData(canvas.width, canvas.height);
  pixels = new Uint32Array(image.data.buffer);
  if (scratch.f32.length < width) {
    scratch.f32 = new Float32Array(width);
    scratch.io = new Float32Array(width);
    scratch.u8 = new Uint8Array(width);
  }
}

// ---------------------------------------------------------------------------------------------
// Drawing

function requestDraw(): void {
  if (dirty) return;
  dirty = true;
  requestAnimationFrame(draw);
}

/** ABGR (little-endian RGBA) for the pixel buffer. */
function rgba(r: number, g: number, b: number): number {
  return (255 << 24) | (b << 16) | (g << 8) | r;
}
const BG = rgba(255, 255, 255);
const LANE_BG = rgba(236, 240, 245);
const GC = rgba(142, 68, 173);
const COUNTER = rgba(59, 125, 216);
/** I/O-callback shades, light to dark blue, by the share of a pixel's time (0..64). */
const IO = Array.from({ length: 65 }, (_, i) => {
  const f = i / 64;
  return rgba(Math.round(236 + (21 - 236) * f), Math.round(240 + (101 - 240) * f), Math.round(245 + (192 - 245) * f));
});
/** Busy shades from light to dark, indexed by the busy share of a pixel (0..64). */
const BUSY = Array.from({ length: 65 }, (_, i) => {
  const f = i / 64;
  return rgba(Math.round(236 + (232 - 236) * f), Math.round(240 + (113 - 240) * f), Math.round(245 + (10 - 245) * f));
});

function fillRect(x0: number, y0: number, w: number, h: number, color: number): void {
  const W = canvas.width;
  const px = pixels!;
  for (let y = y0; y < y0 + h; y++) px.fill(color, y * W + x0, y * W + x0 + w);
}

function draw(): void {
  dirty = false;
  const m = model;
  if (m === undefined || pixels === undefined || image === undefined) return;
  const started = performance.now();
  const W = canvas.width;
  const plotW = W - LABEL_W;
  const px = pixels;
  px.fill(BG);
  const { t0, t1 } = view;
  const nsPerPx = (t1 - t0) / plotW;
  const f = scratch.f32;
  const u = scratch.u8;

  for (const row of rows) {
    if (row.kind === 'lane') {
      const lane = row.lane!;
      const io = scratch.io;
      busyPerPixel(lane, t0, t1, plotW, f, io);
      const top = row.y + BAND_TOP;
      for (let p = 0; p < plotW; p++) {
        const share = f[p]! > 1 ? 1 : f[p]!;
        const color = BUSY[Math.round(share * 64)]!;
        const ioShare = io[p]! > 1 ? 1 : io[p]!;
        const ioColor = IO[Math.round(ioShare * 64)]!;
        const x = LABEL_W + p;
        for (let y = top; y < top + BUSY_H; y++) px[y * W + x] = color;
        for (let y = top + BUSY_H; y < top + BAND_H; y++) px[y * W + x] = ioColor;
      }
      spansPerPixel(lane.gc, t0, t1, plotW, u);
      const gy = top + BAND_H + 1;
      for (let p = 0; p < plotW; p++) if (u[p] === 1) for (let y = gy; y < gy + 4; y++) px[y * W + LABEL_W + p] = GC;
    } else {
      const s = row.series!;
      counterPerPixel(s, t0, t1, plotW, f);
      let max = 0;
      for (let p = 0; p < plotW; p++) if (f[p]! > max) max = f[p]!;
      if (s.unit === 'ratio') max = 1;
      fillRect(LABEL_W, row.y + 2, plotW, row.h - 4, LANE_BG);
      if (max > 0) {
        const base = row.y + row.h - 2;
        const span = row.h - 4;
        for (let p = 0; p < plotW; p++) {
          const v = f[p]!;
          if (!(v > 0)) continue;
          const h = Math.max(1, Math.round((v / max) * span));
          for (let y = base - h; y < base; y++) px[y * W + LABEL_W + p] = COUNTER;
        }
      }
      (row as Row & { max?: number }).max = max;
    }
  }
  ctx.putImageData(image, 0, 0);

  // Vector overlays: long tasks, operations, stack samples, labels, axis.
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  ctx.lineWidth = 2;
  // Long tasks whose outlines would touch on screen are outlined as one: at most a rectangle per
  // pixel column and lane, however many thousand tasks the view holds.
  ctx.strokeStyle = '#d93025';
  const runs = index!.runs;
  runs.fill(NaN);
  const outline = (laneIndex: number, a: number, b: number): void => {
    const r = laneRows[laneIndex]!;
    ctx.strokeRect(a, r.y + BAND_TOP - 1, Math.max(2, b - a), BAND_H + 2);
  };
  index!.longTasks.forEach(t0, t1, (lt) => {
    const li = laneIndexOf.get(lt.threadId);
    if (li === undefined) return;
    const a = Math.max(LABEL_W, LABEL_W + (lt.startNs - t0) / nsPerPx);
    const b = Math.min(W, LABEL_W + (lt.endNs - t0) / nsPerPx);
    const open0 = runs[2 * li]!;
    const open1 = runs[2 * li + 1]!;
    if (!Number.isNaN(open0) && a <= open1 + 2) {
      if (b > open1) runs[2 * li + 1] = b;
      return;
    }
    if (!Number.isNaN(open0)) outline(li, open0, open1);
    runs[2 * li] = a;
    runs[2 * li + 1] = b;
  });
  for (let li = 0; li < laneRows.length; li++) if (!Number.isNaN(runs[2 * li]!)) outline(li, runs[2 * li]!, runs[2 * li + 1]!);
  if (selected !== undefined && selected.endNs >= t0 && selected.startNs <= t1) {
    const li = laneIndexOf.get(selected.threadId);
    if (li !== undefined) {
      ctx.strokeStyle = '#000';
      outline(li, Math.max(LABEL_W, LABEL_W + (selected.startNs - t0) / nsPerPx), Math.min(W, LABEL_W + (selected.endNs - t0) / nsPerPx));
    }
  }
  ctx.fillStyle = '#1a7f37';
  index!.operations.forEach(t0, t1, (op) => {
    const li = laneIndexOf.get(op.threadId);
    if (li === undefined) return;
    const x0 = Math.max(LABEL_W, LABEL_W + (op.startNs - t0) / nsPerPx);
    const x1 = Math.min(W, LABEL_W + (op.endNs - t0) / nsPerPx);
    ctx.fillRect(x0, laneRows[li]!.y + 2, Math.max(1, x1 - x0), 4);
  });
  ctx.fillStyle = '#000';
  index!.stacks.forEach(t0, t1, (s) => {
    const li = laneIndexOf.get(s.threadId);
    if (li === undefined) return;
    const x = LABEL_W + (s.timeNs - t0) / nsPerPx;
    ctx.fillRect(x - 1, laneRows[li]!.y + BAND_TOP + BAND_H + 1, 3, 4);
  });
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, LABEL_W, canvas.height);
  ctx.fillStyle = '#1d2329';
  for (const r of rows) {
    ctx.fillText(clip(r.label, r.kind === 'lane' ? 28 : 22), 6, r.y + (r.kind === 'lane' ? BAND_TOP + BAND_H / 2 : r.h / 2));
    if (r.kind === 'counter') {
      const max = (r as Row & { max?: number }).max ?? 0;
      ctx.fillStyle = '#5a6470';
      ctx.fillText(r.series!.unit === 'ns' ? formatNs(max) : r.series!.unit === 'ratio' ? '100%' : String(Math.round(max)), LABEL_W - 44, r.y + 8);
      ctx.fillStyle = '#1d2329';
    }
  }
  ctx.fillStyle = '#f5f7fa';
  ctx.fillRect(LABEL_W, 0, plotW, AXIS_H - 4);
  ctx.fillStyle = '#5a6470';
  ctx.strokeStyle = '#c5ccd6';
  ctx.lineWidth = 1;
  for (const tick of ticks(t0, t1, plotW, m.originUnixMs)) {
    const x = Math.round(LABEL_W + tick.x) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, AXIS_H - 6);
    // Ticks stay in the axis strip: a line across the lanes would hide what is drawn there.
    ctx.lineTo(x, AXIS_H);
    ctx.stroke();
    ctx.fillText(tick.label, x + 3, 10);
  }
  ctx.fillText('UTC', 6, 10);
  const ms = performance.now() - started;
  frameTimes.push(ms);
  if (frameTimes.length > 10_000) frameTimes.splice(0, 5_000);
  if (firstDrawMs < 0) firstDrawMs = performance.now() - loadStarted.at;
}

function clip(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function visibleLongTasks(): LongTaskInfo[] {
  return index === undefined ? [] : index.longTasks.between(view.t0, view.t1);
}

// ---------------------------------------------------------------------------------------------
// Details and findings

function describe(lt: LongTaskInfo): void {
  const m = model!;
  const lane = m.threads.find((t) => t.threadId === lt.threadId);
  details.replaceChildren();
  const add = (tag: string, text: string, cls?: string): HTMLElement => {
    const el = document.createElement(tag);
    el.textContent = text;
    if (cls !== undefined) el.className = cls;
    details.appendChild(el);
    return el;
  };
  add('h3', `Long task: ${formatNs(lt.endNs - lt.startNs)} on ${lane?.name ?? `thread ${lt.threadId}`}`);
  add('div', `at ${wallLabel(m.originUnixMs, lt.startNs, 1e3)} UTC`, 'when');
  add('div', `I/O callbacks ${formatNs(lt.ioNs)}, timers and immediates ${formatNs(lt.timersNs)}${lt.gcNs > 0 ? `, GC ${formatNs(lt.gcNs)}` : ''}`, 'split');
  if (lt.operations.length > 0) {
    add('div', `Operation${lt.operations.length > 1 ? 's' : ''}: ${lt.operations.map((o) => `${o.name} (${formatNs(o.endNs - o.startNs)}${o.status === 0 ? '' : ', failed'})`).join('; ')}`, 'operation');
  }
  if (lt.stacks.length === 0) add('div', 'No stack was sampled during this task.', 'stack-none');
  for (const s of lt.stacks.slice(0, 3)) {
    const pre = add('pre', s.frames.length === 0 ? '(no JavaScript on the stack)' : s.frames.join('\n'), 'stack');
    pre.dataset.timeNs = String(s.timeNs);
  }
}

function renderFindings(): void {
  const m = model!;
  findings.replaceChildren();
  const r = report;
  const analysis = document.createElement('h3');
  analysis.textContent = r === undefined ? 'Findings: analyzing…' : r.findings.length === 0 ? 'Findings: none at the default thresholds' : 'Findings, worst first';
  findings.appendChild(analysis);
  for (const f of r?.findings ?? []) {
    const b = document.createElement('button');
    b.className = `finding finding-${f.kind}`;
    b.textContent = f.message;
    const target = findingTarget(f);
    if (target === undefined) b.disabled = true;
    else b.onclick = target;
    findings.appendChild(b);
  }
  const worst = [...m.longTasks].sort((a, b) => b.endNs - b.startNs - (a.endNs - a.startNs)).slice(0, 50);
  const head = document.createElement('h3');
  head.textContent = worst.length === 0 ? `No long tasks ≥ ${formatNs(m.longTaskNs)}` : `Long tasks, longest first (${m.longTasks.length})`;
  findings.appendChild(head);
  for (const lt of worst) {
    const b = document.createElement('button');
    b.className = 'finding';
    b.dataset.index = String(lt.index);
    const lane = m.threads.find((t) => t.threadId === lt.threadId);
    b.textContent = `${formatNs(lt.endNs - lt.startNs)} on ${lane?.name ?? lt.threadId} at ${wallLabel(m.originUnixMs, lt.startNs, 1e6)}`;
    b.onclick = () => focusTask(lt);
    findings.appendChild(b);
  }
  for (const d of m.diagnostics.slice(0, 10)) {
    const p = document.createElement('div');
    p.className = 'diagnostic';
    p.textContent = d;
    findings.appendChild(p);
  }
}

/** Where a finding of the analysis leads in the timeline, when it has a place. */
function findingTarget(f: Finding): (() => void) | undefined {
  const m = model!;
  const r = report!;
  if (f.kind === 'long-task') {
    const worst = m.longTasks.filter((lt) => f.threadId === null || lt.threadId === f.threadId).sort((a, b) => b.endNs - b.startNs - (a.endNs - a.startNs))[0];
    return worst === undefined ? undefined : () => focusTask(worst);
  }
  const span = (startNs: number, endNs: number) => () => {
    const pad = (endNs - startNs) * 0.1;
    setView(startNs - pad, endNs + pad);
  };
  if (f.kind === 'idle-worker') {
    const ep = r.idleWorkers.episodes.items.find((e) => e.threadId === f.threadId);
    return ep === undefined ? undefined : span(ep.startNs, ep.endNs);
  }
  if (f.kind === 'threadpool-pressure') {
    const ep = r.threadpool.pressure.episodes[0];
    return ep === undefined ? undefined : span(ep.startNs, ep.endNs);
  }
  return undefined;
}

function focusTask(lt: LongTaskInfo): void {
  const d = lt.endNs - lt.startNs;
  setView(lt.startNs - d, lt.endNs + d);
  selected = lt;
  describe(lt);
}

// ---------------------------------------------------------------------------------------------
// Interaction

function setView(t0: number, t1: number): void {
  const m = model;
  if (m === undefined) return;
  const full = m.endNs - m.startNs;
  let span = Math.min(Math.max(t1 - t0, 1000), full * 1.2);
  let a = t0;
  if (t1 - t0 !== span) a = (t0 + t1) / 2 - span / 2;
  const min = m.startNs - full * 0.1;
  const max = m.endNs + full * 0.1;
  if (a < min) a = min;
  if (a + span > max) a = Math.max(min, max - span);
  if (span > max - min) span = max - min;
  view = { t0: a, t1: a + span };
  requestDraw();
}

function zoom(factor: number, atPx: number): void {
  const plotW = canvas.width - LABEL_W;
  const frac = Math.min(1, Math.max(0, (atPx - LABEL_W) / plotW));
  const at = view.t0 + frac * (view.t1 - view.t0);
  const span = (view.t1 - view.t0) * factor;
  setView(at - frac * span, at - frac * span + span);
}

function pan(fraction: number): void {
  const d = (view.t1 - view.t0) * fraction;
  setView(view.t0 + d, view.t1 + d);
}

/** Over a stack-sample tick, the sample's frames become the canvas' tooltip (plain text). */
function hover(e: MouseEvent): void {
  const m = model;
  if (m === undefined || e.target !== canvas) return;
  const rect = canvas.getBoundingClientRect();
  const x = e.clientX - rect.left;
  const y = e.clientY - rect.top;
  const row = rows.find((r) => r.kind === 'lane' && y >= r.y && y < r.y + r.h);
  const nsPerPx = (view.t1 - view.t0) / (canvas.width - LABEL_W);
  const t = view.t0 + (x - LABEL_W) * nsPerPx;
  const sample = row === undefined || index === undefined ? undefined : index.stacks.between(t - 4 * nsPerPx, t + 4 * nsPerPx).find((s) => s.threadId === row.lane!.threadId);
  const text = sample === undefined ? '' : `stack sample at ${wallLabel(m.originUnixMs, sample.timeNs, 1e3)}\n${sample.frames.join('\n') || '(no JavaScript on the stack)'}`;
  if (canvas.title !== text) canvas.title = text;
}

function hitTest(x: number, y: number): LongTaskInfo | undefined {
  const plotW = canvas.width - LABEL_W;
  const nsPerPx = (view.t1 - view.t0) / plotW;
  const t = view.t0 + (x - LABEL_W) * nsPerPx;
  const row = rows.find((r) => r.kind === 'lane' && y >= r.y && y < r.y + r.h);
  if (row === undefined) return undefined;
  const slack = 3 * nsPerPx;
  return visibleLongTasks().find((lt) => lt.threadId === row.lane!.threadId && t >= lt.startNs - slack && t <= lt.endNs + slack);
}

canvas.addEventListener(
  'wheel',
  (e) => {
    e.preventDefault();
    const rect = canvas.getBoundingClientRect();
    if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) pan((e.deltaX || e.deltaY) / 1000);
    else zoom(Math.exp(e.deltaY * 0.002), e.clientX - rect.left);
  },
  { passive: false },
);

let drag: { x: number; t0: number; t1: number; moved: boolean } | undefined;
canvas.addEventListener('mousedown', (e) => {
  drag = { x: e.clientX, t0: view.t0, t1: view.t1, moved: false };
});
window.addEventListener('mousemove', (e) => {
  if (drag === undefined) {
    hover(e);
    return;
  }
  const dx = e.clientX - drag.x;
  if (Math.abs(dx) > 2) drag.moved = true;
  const nsPerPx = (drag.t1 - drag.t0) / (canvas.width - LABEL_W);
  setView(drag.t0 - dx * nsPerPx, drag.t1 - dx * nsPerPx);
});
window.addEventListener('mouseup', (e) => {
  const d = drag;
  drag = undefined;
  if (d === undefined || d.moved) return;
  const rect = canvas.getBoundingClientRect();
  const lt = hitTest(e.clientX - rect.left, e.clientY - rect.top);
  if (lt !== undefined) {
    selected = lt;
    describe(lt);
    requestDraw();
  }
});
window.addEventListener('keydown', (e) => {
  if (model === undefined || (e.target as HTMLElement).tagName === 'INPUT') return;
  const mid = LABEL_W + (canvas.width - LABEL_W) / 2;
  if (e.key === '+' || e.key === '=' || e.key === 'w') zoom(0.7, mid);
  else if (e.key === '-' || e.key === 's') zoom(1 / 0.7, mid);
  else if (e.key === 'ArrowLeft' || e.key === 'a') pan(-0.2);
  else if (e.key === 'ArrowRight' || e.key === 'd') pan(0.2);
  else if (e.key === '0') setView(model.startNs, model.endNs);
  else return;
  e.preventDefault();
});
window.addEventListener('resize', () => {
  if (model === undefined) return;
  layout();
  requestDraw();
});

// Drag and drop of .bin files, several at once (the rotated files of one trace).
window.addEventListener('dragover', (e) => {
  e.preventDefault();
  document.body.classList.add('dropping');
});
window.addEventListener('dragleave', () => document.body.classList.remove('dropping'));
window.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dropping');
  const files = [...(e.dataTransfer?.files ?? [])];
  if (files.length > 0) load({ type: 'files', files, ...loadOptions() });
});
$<HTMLInputElement>('file').addEventListener('change', (e) => {
  const files = [...((e.target as HTMLInputElement).files ?? [])];
  if (files.length > 0) load({ type: 'files', files, ...loadOptions() });
});

// ---------------------------------------------------------------------------------------------
// Served by analyze-trace --view / --live: the trace's files (and the live stream) come from the
// local server, which wants the token from the page's URL on every request.

const token = new URLSearchParams(location.search).get('token');
if (token !== null && location.protocol.startsWith('http')) {
  void (async () => {
    const r = await fetch(`/files?token=${encodeURIComponent(token)}`);
    if (!r.ok) {
      status.textContent = `The server refused the file list: HTTP ${r.status}`;
      return;
    }
    const list = (await r.json()) as { files: { name: string; url: string }[]; run: string; live: boolean };
    // Absolute URLs: the worker runs from a blob: URL, against which a path does not resolve.
    const urls = list.files.map((f) => ({ name: f.name, url: new URL(f.url, location.href).href }));
    if (urls.length > 0) load({ type: 'urls', urls, runUrl: new URL(list.run, location.href).href, ...loadOptions() });
    if (list.live) startLive(`/live?token=${encodeURIComponent(token)}`, $('live'));
  })().catch((error: unknown) => {
    status.textContent = `Could not reach the server: ${String(error)}`;
  });
}

// What tests and the benchmark read back: the model's shape, what is drawn where, frame times.
(window as unknown as { looptraceViewer: unknown }).looptraceViewer = {
  get loaded() {
    return model !== undefined && firstDrawMs >= 0;
  },
  get firstDrawMs() {
    return firstDrawMs;
  },
  get findings() {
    return report?.findings.map((f) => ({ kind: f.kind, threadId: f.threadId, message: f.message }));
  },
  get view() {
    return { ...view };
  },
  frameTimes,
  summary() {
    const m = model;
    if (m === undefined) return undefined;
    return {
      records: m.records,
      bytes: m.bytes,
      files: m.files,
      startNs: m.startNs,
      endNs: m.endNs,
      originUnixMs: m.originUnixMs,
      serviceName: m.serviceName,
      threads: m.threads.map((t) => ({ threadId: t.threadId, name: t.name, iterations: t.iterations, busyTotalNs: t.busyTotalNs, gcPauses: t.gcPauses })),
      longTasks: m.longTasks.map((lt) => ({ index: lt.index, threadId: lt.threadId, startNs: lt.startNs, endNs: lt.endNs, stacks: lt.stacks.length })),
      operations: m.operations.length,
      decodeMs: m.decodeMs,
      timings: m.timings,
    };
  },
  /** Where each lane is and where each visible long task is drawn, in canvas pixels. */
  layout() {
    const plotW = canvas.width - LABEL_W;
    const nsPerPx = (view.t1 - view.t0) / plotW;
    return {
      labelWidth: LABEL_W,
      lanes: rows.filter((r) => r.kind === 'lane').map((r) => ({ threadId: r.lane!.threadId, name: r.label, y: r.y, bandTop: r.y + BAND_TOP, bandHeight: BAND_H })),
      counters: rows.filter((r) => r.kind === 'counter').map((r) => ({ name: r.label, y: r.y, h: r.h })),
      longTasks: visibleLongTasks().map((lt) => ({ index: lt.index, threadId: lt.threadId, x0: LABEL_W + (lt.startNs - view.t0) / nsPerPx, x1: LABEL_W + (lt.endNs - view.t0) / nsPerPx })),
    };
  },
  setView,
  busyShareAt(threadId: number, t0: number, t1: number, px: number) {
    const lane = model?.threads.find((t) => t.threadId === threadId);
    if (lane === undefined) return undefined;
    const out = new Float32Array(px);
    const io = new Float32Array(px);
    const level = busyPerPixel(lane, t0, t1, px, out, io);
    return { level, shares: [...out], ioShares: [...io] };
  },
  lowerBound,
};
