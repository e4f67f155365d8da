// The viewer's level of detail (src/view/browser/lod.ts) against the exact answer: whatever the
// zoom, each pixel's busy and I/O-callback shares must match the stretches it covers, whether they
// come from the binned levels or from the stretches themselves, and counters keep their peaks.

import { describe, expect, it } from 'vitest';
import { RecordCode, TraceDecoder, TraceEncoder } from '../src/format/index.js';
import { buildMaxLevels, busyPerPixel, counterPerPixel } from '../src/view/browser/lod.js';
import { assembleModel } from '../src/view/browser/model-assembly.js';
import { IntervalIndex } from '../src/view/browser/interval-index.js';
import { ModelBuilder } from '../src/view/browser/model-builder.js';
import type { TimelineModel } from '../src/view/browser/model.js';
import { Rng } from './helpers.js';

interface Stretch {
  startNs: number;
  endNs: number;
  ioNs: number;
}

/** One loop: random busy stretches (I/O part first) and blocked polls, as records; returns the truth. */
function build(iterations: number, seed: number): { model: TimelineModel; stretches: Stretch[] } {
  const rng = new Rng(seed);
  const enc = new TraceEncoder();
  enc.writeMagic();
  enc.writeHeader({ traceId: 'ab'.repeat(16), fileIndex: 0, originMonoNs: 1n, originWallUnixNs: 1_700_000_000_000_000_000n, fileStartNs: 0, threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }] });
  enc.beginFrame(1, 0);
  const stretches: Stretch[] = [];
  let t = 1000;
  let runStart = -1;
  let io = 0;
  for (let i = 0; i < iterations; i++) {
    // A busy stretch of 1 µs .. 2 ms, now and then 80 ms; then a poll: blocked, then I/O callbacks.
    const timers = Math.floor(rng.u32() % 100 === 0 ? 80e6 : 1000 + (rng.u32() % 2_000_000));
    t += timers;
    enc.pollStart(t);
    if (runStart >= 0) stretches.push({ startNs: runStart, endNs: t, ioNs: io });
    const blocked = Math.floor(rng.u32() % 3_000_000);
    io = Math.floor(rng.u32() % 300_000);
    enc.pollEnd(t + blocked + io, blocked, 1, 0);
    runStart = t + blocked;
    t += blocked + io;
    if (enc.frameBodyBytes > 60_000) {
      enc.endFrame();
      enc.beginFrame(1, t);
    }
  }
  enc.pollStart(t + 500);
  stretches.push({ startNs: runStart, endNs: t + 500, ioNs: io });
  enc.endFrame();
  const builder = new ModelBuilder(50e6);
  const decoder = new TraceDecoder({ onRecord: builder.onRecord, onHeader: builder.onHeader });
  builder.attach(decoder);
  decoder.push(enc.take());
  decoder.end();
  return { model: builder.finish({ bytes: 0, files: [], decodeMs: 0 }).model, stretches };
}

/** The exact shares per pixel, from the stretches themselves. */
function exact(stretches: Stretch[], t0: number, t1: number, px: number): { busy: number[]; io: number[] } {
  const busy = new Array<number>(px).fill(0);
  const io = new Array<number>(px).fill(0);
  const w = (t1 - t0) / px;
  const add = (arr: number[], a: number, b: number) => {
    for (let p = Math.max(0, Math.floor((a - t0) / w)); p < px && t0 + p * w < b; p++) {
      const lo = Math.max(a, t0 + p * w);
      const hi = Math.min(b, t0 + (p + 1) * w);
      if (hi > lo) arr[p]! += (hi - lo) / w;
    }
  };
  for (const s of stretches) {
    if (s.endNs <= t0 || s.startNs >= t1) continue;
    add(busy, s.startNs, s.endNs);
    add(io, s.startNs, s.startNs + s.ioNs);
  }
  return { busy, io };
}

describe('busyPerPixel', () => {
  const { model, stretches } = build(200_000, 7);
  const lane = model.threads[0]!;
  const px = 1000;

  it('keeps every stretch, 10 bytes each', () => {
    expect(lane.iterations).toBe(stretches.length);
    const bytes = lane.busy.reduce((n, c) => n + c.startOffNs.byteLength + c.durNs.byteLength + c.ioShare.byteLength, 0);
    expect(bytes).toBe(stretches.length * 10);
    // The chunks are views of a few shared arrays, which hold nothing else.
    const buffers = new Set(lane.busy.flatMap((c) => [c.startOffNs.buffer, c.durNs.buffer, c.ioShare.buffer]));
    expect(buffers.size).toBeLessThan(lane.busy.length);
    expect([...buffers].reduce((n, b) => n + b.byteLength, 0)).toBe(stretches.length * 10);
  });

  for (const [label, fraction] of [
    ['all', 1],
    ['a tenth', 0.1],
    ['a thousandth', 0.001],
    ['a hundred-thousandth', 0.00001],
  ] as const) {
    it(`matches the exact shares per pixel over ${label} of the trace`, () => {
      const full = model.endNs - model.startNs;
      const t0 = model.startNs + full * 0.37;
      const t1 = t0 + full * fraction;
      const busy = new Float32Array(px);
      const io = new Float32Array(px);
      const level = busyPerPixel(lane, t0, t1, px, busy, io);
      const truth = exact(stretches, t0, t1, px);
      // A level's bins are a quarter to half a pixel wide, so a pixel's share can be off by the
      // part of a bin that straddles its edges; exact mode is exact up to Float32 durations.
      const tolerance = level < 0 ? 1e-3 : 0.5;
      let sumErr = 0;
      let absErr = 0;
      for (let p = 0; p < px; p++) {
        absErr += Math.abs(busy[p]! - truth.busy[p]!);
        expect(Math.abs(busy[p]! - truth.busy[p]!), `busy share at pixel ${p} (level ${level})`).toBeLessThan(tolerance + 1e-6);
        expect(Math.abs(io[p]! - truth.io[p]!), `I/O share at pixel ${p} (level ${level})`).toBeLessThan(tolerance + 1e-6);
        sumErr += busy[p]! - truth.busy[p]!;
      }
      // Whatever the level, no busy time is lost or invented over the view.
      expect(Math.abs(sumErr) / px).toBeLessThan(level < 0 ? 1e-6 : 0.01);
      expect(absErr / px, 'mean error per pixel').toBeLessThan(level < 0 ? 1e-6 : 0.05);
      if (fraction === 1) expect(level).toBeGreaterThanOrEqual(0);
      if (fraction === 0.00001) expect(level).toBe(-1);
    });
  }
});

describe('counterPerPixel', () => {
  it('keeps the peak of every pixel, through the max levels, and carries values across empty pixels', () => {
    const n = 100_000;
    const timeNs = new Float64Array(n);
    const value = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      timeNs[i] = i * 1000;
      value[i] = i === 54_321 ? 999 : i % 7;
    }
    const series = { name: 'x', unit: 'count' as const, timeNs, value, maxLevels: buildMaxLevels(timeNs, value) };
    const out = new Float32Array(100);
    counterPerPixel(series, 0, n * 1000, 100, out);
    expect(Math.max(...out)).toBe(999);
    expect(out[54]).toBe(999);
    const sparse = { name: 'y', unit: 'count' as const, timeNs: new Float64Array([10, 500]), value: new Float32Array([3, 5]), maxLevels: [] };
    counterPerPixel(sparse, 0, 1000, 10, out);
    expect([...out.subarray(0, 10)]).toEqual([3, 3, 3, 3, 3, 5, 5, 5, 5, 5]);
  });
});

/**
 * Each group of files decoded on its own, as one decode worker does (a lost frame breaks every
 * loop's pairing), and the parts joined in order by assembleModel.
 */
function decodeParts(groups: Uint8Array[][]): TimelineModel {
  const parts = groups.map((files) => {
    const builder = new ModelBuilder(50e6);
    const decoder = new TraceDecoder(
      {
        onRecord: builder.onRecord,
        onHeader: builder.onHeader,
        onDiagnostic: (d) => builder.diagnostic(d.kind, d.kind === 'corrupt-frame'),
      },
      builder.pollCallbacks,
    );
    builder.attach(decoder);
    for (const f of files) {
      decoder.push(f);
      decoder.end();
    }
    return builder.part();
  });
  return assembleModel(parts, 50e6, { bytes: 0, files: [], decodeMs: 0 }).model;
}

describe('assembleModel: parts decoded on their own, joined in trace order', () => {
  /**
   * One loop's trace in `files` rotated files, split right after a POLL_END, so that a busy
   * stretch runs across every file boundary; the stretch across the first boundary is a long task.
   */
  function rotated(iterations: number, files: number, seed: number): Uint8Array[] {
    const rng = new Rng(seed);
    const out: Uint8Array[] = [];
    const perFile = Math.ceil(iterations / files);
    let t = 1000;
    for (let f = 0; f < files; f++) {
      const enc = new TraceEncoder();
      enc.writeMagic();
      enc.writeHeader({ traceId: 'cd'.repeat(16), fileIndex: f, originMonoNs: 1n, originWallUnixNs: 1_700_000_000_000_000_000n, fileStartNs: t, threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }] });
      enc.beginFrame(1, t);
      for (let i = f * perFile; i < Math.min(iterations, (f + 1) * perFile); i++) {
        // The first stretch of the second file (closing the first file's open run) is 120 ms.
        t += i === perFile ? 120e6 : 1000 + (rng.u32() % 2_000_000);
        enc.pollStart(t);
        const blocked = rng.u32() % 3_000_000;
        const io = rng.u32() % 300_000;
        enc.pollEnd(t + blocked + io, blocked, 1, rng.u32() % 4);
        t += blocked + io;
        if (enc.frameBodyBytes > 60_000) {
          enc.endFrame();
          enc.beginFrame(1, t);
        }
      }
      enc.endFrame();
      out.push(enc.take());
    }
    return out;
  }

  function stretches(m: TimelineModel): number[] {
    const out: number[] = [];
    for (const c of m.threads[0]!.busy) for (let i = 0; i < c.startOffNs.length; i++) out.push(c.baseNs + c.startOffNs[i]!, c.durNs[i]!, c.ioShare[i]!);
    return out;
  }

  it('gives the model of one decode: every stretch (the ones across file boundaries too), long tasks, counters, levels', () => {
    const files = rotated(60_000, 4, 11);
    const whole = decodeParts([files]);
    const split = decodeParts([[files[0]!], [files[1]!, files[2]!], [files[3]!]]);
    expect(whole.threads[0]!.iterations).toBe(60_000 - 1);
    expect(split.threads[0]!.iterations).toBe(whole.threads[0]!.iterations);
    expect(split.threads[0]!.busyTotalNs).toBe(whole.threads[0]!.busyTotalNs);
    expect(stretches(split)).toEqual(stretches(whole));
    expect(whole.longTasks.map((lt) => [lt.startNs, lt.endNs])).toHaveLength(1);
    expect(split.longTasks.map((lt) => [lt.index, lt.startNs, lt.endNs, lt.ioNs, lt.timersNs])).toEqual(whole.longTasks.map((lt) => [lt.index, lt.startNs, lt.endNs, lt.ioNs, lt.timersNs]));
    expect([split.startNs, split.endNs, split.records]).toEqual([whole.startNs, whole.endNs, whole.records]);
    for (let k = 0; k < whole.threads[0]!.counters.length; k++) {
      expect([...split.threads[0]!.counters[k]!.timeNs]).toEqual([...whole.threads[0]!.counters[k]!.timeNs]);
      expect([...split.threads[0]!.counters[k]!.value]).toEqual([...whole.threads[0]!.counters[k]!.value]);
    }
    expect(split.threads[0]!.levels.map((l) => [l.binNs, [...l.busyNs]])).toEqual(whole.threads[0]!.levels.map((l) => [l.binNs, [...l.busyNs]]));
  });

  it('never joins across a lost frame: the stretch is dropped as a single decode drops it', () => {
    const files = rotated(40_000, 2, 12);
    // Damage the first frame of the second file: its records are lost, so its first POLL_START
    // (the one that would close the first file's open run) is gone too.
    const damaged = files[1]!.slice();
    const headerEnd = damaged.indexOf(0xf5, 8 + 12);
    damaged[headerEnd + 20]! ^= 0xff;
    const whole = decodeParts([[files[0]!, damaged]]);
    const split = decodeParts([[files[0]!], [damaged]]);
    expect(whole.diagnostics.length + decodeParts([[damaged]]).diagnostics.length).toBeGreaterThan(0);
    expect(whole.threads[0]!.iterations).toBeLessThan(decodeParts([files]).threads[0]!.iterations - 1);
    expect(split.threads[0]!.iterations).toBe(whole.threads[0]!.iterations);
    expect(stretches(split)).toEqual(stretches(whole));
  });
});

describe('assembleModel: operations across parts', () => {
  const MS = 1e6;
  const NAMES = ['spans-one-boundary', 'spans-two-boundaries', 'ends-after-a-later-task', 'inside-a-part'];
  /**
   * One loop from 0 to 600 ms in three rotated files (boundaries at 200 and 400 ms): 1 ms busy
   * stretches every 5 ms, and two long tasks: 148.9-260 ms across the first boundary, 299-360 ms
   * inside the second file. Operations (thread 1, ids 1-4, NAMES): 190-230 ms, 100-500 ms,
   * 195-370 ms, 310-320 ms; and an OPERATION_END at 330 ms whose start is in no file (id 5).
   */
  function files(): Uint8Array[] {
    const events: [number, (enc: TraceEncoder) => void][] = [];
    const poll = (t: number, blockedNs = 4 * MS, ioNs = 0): void => {
      events.push([t, (e) => e.pollStart(t)]);
      events.push([t + blockedNs + ioNs, (e) => e.pollEnd(t + blockedNs + ioNs, blockedNs, 1, 0)]);
    };
    for (let t = 0; t < 145 * MS; t += 5 * MS) poll(t);
    poll(145 * MS, 3.9 * MS, 0.1 * MS);
    for (let t = 260 * MS; t < 300 * MS; t += 5 * MS) poll(t);
    for (let t = 360 * MS; t < 595 * MS; t += 5 * MS) poll(t);
    const op = (id: number, startNs: number, endNs: number): void => {
      if (startNs >= 0) events.push([startNs, (e) => e.counted(RecordCode.OperationStart, startNs, 2, id, id)]);
      events.push([endNs, (e) => e.counted(RecordCode.OperationEnd, endNs, 2, id, 0)]);
    };
    op(1, 190 * MS, 230 * MS);
    op(2, 100 * MS, 500 * MS);
    op(3, 195 * MS, 370 * MS);
    op(4, 310 * MS, 320 * MS);
    op(5, -1, 330 * MS);
    events.sort((a, b) => a[0] - b[0]);
    const out: Uint8Array[] = [];
    for (let f = 0; f < 3; f++) {
      const from = f * 200 * MS;
      const enc = new TraceEncoder();
      enc.writeMagic();
      enc.writeHeader({ traceId: 'ef'.repeat(16), fileIndex: f, originMonoNs: 1n, originWallUnixNs: 1_700_000_000_000_000_000n, fileStartNs: from, threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }] });
      // Definitions first, in every file.
      enc.beginFrame(0, from);
      NAMES.forEach((name, i) => enc.stringDef(from, i + 1, name));
      enc.endFrame();
      const mine = events.filter(([t]) => t >= from && t < from + 200 * MS);
      enc.beginFrame(1, mine[0]![0]);
      for (const [, write] of mine) write(enc);
      enc.endFrame();
      out.push(enc.take());
    }
    return out;
  }

  const ops = (m: TimelineModel) => m.operations.map((o) => [o.operationId, o.name, o.startNs / MS, o.endNs / MS]);
  const tasks = (m: TimelineModel) => m.longTasks.map((lt) => [lt.startNs / MS, lt.endNs / MS, lt.operations.map((o) => [o.operationId, o.name, o.startNs / MS, o.endNs / MS])]);

  it('pairs an operation begun in one part with its end in a later one, and gives long tasks across and after a boundary their operations, as one decode does', () => {
    const f = files();
    const whole = decodeParts([f]);
    // What one decode finds: four operations in order of their ends (not the one without a start),
    // and each long task with the operations that overlap it.
    const [one, two, three, four] = NAMES;
    expect(ops(whole)).toEqual([
      [1, one, 190, 230],
      [4, four, 310, 320],
      [3, three, 195, 370],
      [2, two, 100, 500],
    ]);
    expect(tasks(whole)).toEqual([
      [148.9, 260, [[1, one, 190, 230], [3, three, 195, 370], [2, two, 100, 500]]],
      [299, 360, [[4, four, 310, 320], [3, three, 195, 370], [2, two, 100, 500]]],
    ]);
    for (const groups of [[[f[0]!], [f[1]!], [f[2]!]], [[f[0]!], [f[1]!, f[2]!]], [[f[0]!, f[1]!], [f[2]!]]]) {
      const split = decodeParts(groups);
      expect(ops(split)).toEqual(ops(whole));
      expect(tasks(split)).toEqual(tasks(whole));
    }
  });
});

describe('IntervalIndex', () => {
  it('finds exactly the items overlapping a view, long ones that start far before it included', () => {
    const rng = new Rng(5);
    const items = Array.from({ length: 5000 }, (_, i) => {
      const startNs = rng.u32() % 1_000_000;
      return { i, startNs, endNs: startNs + (i % 97 === 0 ? 200_000 : rng.u32() % 500) };
    });
    const index = new IntervalIndex([...items], (x) => x.startNs, (x) => x.endNs);
    for (let k = 0; k < 200; k++) {
      const t0 = rng.u32() % 1_000_000;
      const t1 = t0 + (rng.u32() % 20_000);
      const want = items.filter((x) => x.endNs >= t0 && x.startNs <= t1).map((x) => x.i).sort((a, b) => a - b);
      expect(index.between(t0, t1).map((x) => x.i).sort((a, b) => a - b)).toEqual(want);
    }
  });
});
