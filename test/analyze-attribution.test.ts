// Attribution on synthetic traces written with the TypeScript encoder (test/fixtures/analyze/
// attribution-trace.ts): stacks land in the right task and thread, hottest first; self and total
// time of all long tasks; GC share; the on-CPU/runnable/waiting split with and without scheduler
// statistics; late samples; source maps read from real files; and trace strings escaped on the
// terminal (through the built CLI, in a child process).

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { JsonlConverter, StretchSampler, type TraceReport } from '../src/analyze/index.js';
import { TraceDecoder, type TraceRecord } from '../src/format/index.js';
import { DEFAULT_SCRIPTS, STACK, attributionFrames, attributionHeader, attributionTrace, definitions, type Scripts } from './fixtures/analyze/attribution-trace.js';
import { analyzeBytes, cpu, encodeFile, gc, ms, pe, ps, sched, stack, stringDef } from './fixtures/analyze/synth.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli/analyze-trace.js');
const dir = mkdtempSync(join(tmpdir(), 'looptrace-attribution-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const task = (r: TraceReport, durationNs: number) => {
  const t = r.longTasks.items.find((x) => x.durationNs === durationNs);
  if (t === undefined) throw new Error(`no long task of ${durationNs} ns in ${r.longTasks.items.map((x) => x.durationNs).join(', ')}`);
  return t;
};

describe('stack samples of long tasks', () => {
  const r = analyzeBytes(attributionTrace(), { sourceMaps: false });

  it('lands each sample in its own task and thread, hottest stack first', () => {
    expect(r.longTasks.items.map((t) => [t.threadName, t.durationNs])).toEqual([
      ['main', ms(250)],
      ['worker 1 (build.mjs)', ms(160)],
      ['main', ms(100)],
    ]);
    const a = task(r, ms(250));
    expect(a.attribution.stacks.map((s) => [s.stackId, s.samples])).toEqual([
      [STACK.report, 21],
      [STACK.stringify, 1],
    ]);
    expect(a.attribution.samples).toBe(22);
    const b = task(r, ms(100));
    // Three samples of stack 2 (10 ms each) beat one of stack 4 that stands for 30 ms: sample counts order them.
    expect(b.attribution.stacks.map((s) => [s.stackId, s.samples, s.weightNs])).toEqual([
      [STACK.stringify, 3, ms(30)],
      [STACK.renderOnly, 1, ms(30)],
    ]);
    // The sample of the short stretch at 420-425 ms belongs to no long task.
    expect(r.blockingCode.samples).toBe(22 + 4 + 1);
    const c = task(r, ms(160));
    expect(c.threadId).toBe(2);
    expect(c.attribution.stacks.map((s) => s.stackId)).toEqual([STACK.execSync]);
  });

  it('weights each sample by the time until the next sample or the task end', () => {
    const a = task(r, ms(250)).attribution;
    // 20 intervals of 10 ms, the last stack-1 sample up to the stack-2 sample at 250 ms (10.1 ms:
    // samples were requested 0.1 ms before they were taken), and stack 2 up to the end at 260 ms.
    expect(a.stacks[0]!.weightNs).toBe(ms(210.1));
    expect(a.stacks[1]!.weightNs).toBe(ms(10));
    expect(a.sampledNs).toBe(ms(220.1));
  });

  it('gives frames with their parts, the recorded text and the blocking site', () => {
    const a = task(r, ms(250)).attribution;
    expect(a.stacks[0]!.frames[0]).toBe('buildReport (/srv/app/dist/report.js:88:13)');
    expect(a.stacks[0]!.callFrames[0]).toEqual({ function: 'buildReport', url: '/srv/app/dist/report.js', line: 88, column: 13, original: null });
    expect(a.blocking?.text).toBe('buildReport /srv/app/dist/report.js:88:13');
    expect(a.blocking?.above).toEqual([]);
    // A builtin (no script) above user code stays visible; file: URLs read as paths.
    const b = task(r, ms(100)).attribution;
    expect(b.blocking?.text).toBe('stringify ← sendPage /srv/app/dist/http.js:51:9');
    expect(b.blocking?.frame.url).toBe('file:///srv/app/dist/http.js');
    // Node's own code (node:child_process) above user code: the caller is the blocking function.
    const c = task(r, ms(160)).attribution;
    expect(c.blocking?.frame.function).toBe('runBuild');
    expect(c.blocking?.above.map((f) => f.function)).toEqual(['execSync']);
  });

  it('reports a late sample: the time before it was spent outside JavaScript, and it counts for the stack it shows', () => {
    const c = task(r, ms(160)).attribution;
    expect(c.maxLagNs).toBe(ms(150));
    expect(c.stacks[0]!.maxLagNs).toBe(ms(150));
    // Requested at 10 ms, taken at 160 ms, the task ends at 165 ms.
    expect(c.stacks[0]!.weightNs).toBe(ms(155));
    expect(c.sampledNs).toBe(ms(155));
  });

  it('aggregates self time by blocking site and total time by function over all long tasks', () => {
    const b = r.blockingCode;
    expect(b.longTasks).toBe(3);
    expect(b.sampledNs).toBe(ms(220.1) + ms(60) + ms(155));
    expect(b.self.map((e) => [e.site.text, e.weightNs])).toEqual([
      ['buildReport /srv/app/dist/report.js:88:13', ms(210.1)],
      ['execSync ← runBuild /srv/app/build.js:5:3', ms(155)],
      ['stringify ← sendPage /srv/app/dist/http.js:51:9', ms(40)],
      ['renderAll /srv/app/dist/report.js:41:7', ms(30)],
    ]);
    expect(b.self.reduce((sum, e) => sum + e.share, 0)).toBeCloseTo(1, 9);
    const total = new Map(b.total.map((e) => [e.site.frame.function, e.weightNs]));
    // onTimeout is on stacks 1, 2 and 4; renderAll on 1 (as a caller) and 4 (on top).
    expect(total.get('onTimeout')).toBe(ms(210.1) + ms(40) + ms(30));
    expect(total.get('renderAll')).toBe(ms(210.1) + ms(30));
    expect(total.get('buildReport')).toBe(ms(210.1));
    expect(total.get('execSync')).toBe(ms(155));
    expect(b.total[0]!.site.frame.function).toBe('onTimeout');
    // renderAll is named by its hottest line (40, as buildReport's caller), not the line of stack 4.
    expect(b.total.find((e) => e.site.frame.function === 'renderAll')!.site.frame.line).toBe(40);
  });

  it('counts recursion once per sample in total time', () => {
    const sampler = new StretchSampler();
    sampler.add(ms(10), 1, 0);
    sampler.add(ms(20), 1, 0);
    expect(sampler.finish(0, ms(30))).toMatchObject({ samples: 2, sampledNs: ms(20), stacks: [{ stackId: 1, samples: 2, weightNs: ms(20) }] });
  });

  it('names the blocking function in the findings', () => {
    const messages = r.findings.filter((f) => f.kind === 'long-task').map((f) => f.message);
    // The worker is background work: its long task is named, but it blocked no request-serving loop.
    expect(messages).toContainEqual(expect.stringMatching(/^worker 1 \(build\.mjs\), a background worker, ran a long task of at least 50 ms, 100% of the sampled time in runBuild \(\/srv\/app\/build\.js:5\) in execSync; the worst 160 ms/));
    // Named as serving requests, it ranks like main.
    const serving = analyzeBytes(attributionTrace(), { sourceMaps: false, servingThreads: ['worker*'] });
    expect(serving.findings.map((f) => f.message)).toContainEqual(expect.stringMatching(/^worker 1 \(build\.mjs\) was kept busy 160 ms by runBuild \(\/srv\/app\/build\.js:5\) in execSync in a long task of at least 50 ms; the worst 160 ms/));
    // Inferred from the trace: a worker on which operations began serves them.
    const frames = attributionFrames();
    frames.push({ threadId: 0, records: [stringDef(0, 77, 'GET /build')] });
    frames.push({ threadId: 2, records: [{ type: 'operationStart', threadId: 0, timeNs: ms(400), operationId: 1, nameStringId: 77 }, { type: 'operationEnd', threadId: 0, timeNs: ms(410), operationId: 1, status: 0 }] });
    const inferred = analyzeBytes(encodeFile(attributionHeader(), frames).bytes, { sourceMaps: false });
    expect(inferred.threads.map((t) => t.role)).toEqual(['main', 'serving']);
    expect(inferred.findings.map((f) => f.message)).toContainEqual(expect.stringMatching(/^worker 1 \(build\.mjs\) was kept busy 160 ms by runBuild/));
    expect(r.threads.map((t) => t.role)).toEqual(['main', 'background']);
    // On main, buildReport took 75% of the sampled time: named with its share.
    expect(messages).toContainEqual(expect.stringMatching(/^main was busy in 2 long tasks \(350 ms in all\) of at least 50 ms, 75% of the sampled time in buildReport \(\/srv\/app\/dist\/report\.js:88\); the worst 250 ms/));
  });
});

describe('samples without frames', () => {
  it('names stack 0 as no JavaScript and an undefined stack as missing, and names no function in the finding', () => {
    const frames = [
      { threadId: 0, records: definitions(DEFAULT_SCRIPTS) },
      { threadId: 1, records: [ps(0), pe(ms(10), ms(10)), stack(ms(40), 0), stack(ms(50), 0), stack(ms(60), 99), ps(ms(100)), pe(ms(200), ms(100))] },
    ];
    const r = analyzeBytes(encodeFile(attributionHeader(), frames).bytes, { sourceMaps: false });
    const a = r.longTasks.items[0]!.attribution;
    expect(a.stacks.map((s) => [s.stackId, s.samples, s.frames])).toEqual([
      [0, 2, []],
      [99, 1, []],
    ]);
    expect(a.blocking?.text).toBe('(no JavaScript on the stack)');
    expect(r.blockingCode.self.map((e) => e.site.text)).toEqual(['(stack 99, not defined in the trace)', '(no JavaScript on the stack)']);
    expect(r.findings[0]!.message).toMatch(/^main was busy in a long task of at least 50 ms; the worst 90 ms/);
  });
});

describe('GC and where off-CPU time went', () => {
  it('reports GC pauses inside a task with their share, and GC time per thread', () => {
    const r = analyzeBytes(attributionTrace(), { sourceMaps: false });
    expect(task(r, ms(250)).attribution.gc).toEqual({ pauses: 2, totalNs: ms(5), share: ms(5) / ms(250) });
    expect(task(r, ms(100)).attribution.gc).toBeNull();
    const main = r.threads.find((t) => t.threadId === 1)!;
    expect(main.gc).toMatchObject({ pauses: 2, totalNs: ms(5), maxNs: ms(3) });
    expect(main.gc!.busyShare).toBeCloseTo(ms(5) / main.busyNs, 12);
    expect(r.threads.find((t) => t.threadId === 2)!.gc).toEqual({ pauses: 0, totalNs: 0, maxNs: 0, busyShare: 0 });
    // Without the GC capability, a thread without GC records has gc null: the trace cannot say.
    const noGc = analyzeBytes(attributionTrace({ header: { capabilities: 3 } }), { sourceMaps: false });
    expect(noGc.threads.find((t) => t.threadId === 2)!.gc).toBeNull();
    expect(noGc.threads.find((t) => t.threadId === 1)!.gc).toMatchObject({ pauses: 2 });
  });

  it('says in the finding when GC took a large share of the worst task', () => {
    const frames = [{ threadId: 1, records: [ps(0), pe(ms(10), ms(10)), gc(ms(50), ms(20), 2), gc(ms(80), ms(10), 2), ps(ms(110))] }];
    const r = analyzeBytes(encodeFile(attributionHeader(), frames).bytes, { sourceMaps: false });
    expect(r.longTasks.items[0]!.attribution.gc).toEqual({ pauses: 2, totalNs: ms(30), share: 0.3 });
    expect(r.findings[0]!.message).toMatch(/the worst 100 ms at \S+ in timers\/immediates, CPU not measured, 30% of it in GC \(2 pauses\)$/);
    // 2% of GC (task A of the attribution trace) is not worth a word.
    expect(analyzeBytes(attributionTrace(), { sourceMaps: false }).findings.some((f) => f.message.includes('in GC'))).toBe(false);
  });

  it('splits a task three ways with scheduler statistics', () => {
    const r = analyzeBytes(attributionTrace(), { sourceMaps: false });
    expect(r.trace.capabilities).toMatchObject({ bits: 7, schedstat: true, stacks: true, gc: true, stackSampling: { thresholdNs: ms(30), intervalNs: ms(10) } });
    expect(task(r, ms(250)).split).toEqual({ wallNs: ms(250), onCpuNs: ms(240), offCpuNs: ms(10), runnableNs: ms(6), waitingNs: ms(4) });
    // execSync: waiting, not on CPU and not runnable.
    const c = task(r, ms(160));
    expect(c.split).toEqual({ wallNs: ms(160), onCpuNs: ms(4), offCpuNs: ms(156), runnableNs: ms(1), waitingNs: ms(155) });
    // A THREAD_CPU without THREAD_SCHED means 0 runnable when the recorder reads scheduler statistics.
    expect(task(r, ms(100)).split).toEqual({ wallNs: ms(90), onCpuNs: ms(88), offCpuNs: ms(2), runnableNs: 0, waitingNs: ms(2) });
    expect(r.threads.find((t) => t.threadId === 1)!.cpu.runnableNs).toBe(ms(6));
    expect(r.findings.find((f) => f.threadId === 2 && f.kind === 'long-task')!.message).toContain('off CPU (2.5% on CPU: 97% waiting in a blocking call, 0.6% runnable without a core)');
  });

  it('keeps the two-way split, and says so, without the scheduler-statistics bit', () => {
    const bytes = attributionTrace({ header: { capabilities: 6, attributionNote: 'schedstat: /proc/thread-self/schedstat is not readable' } });
    const r = analyzeBytes(bytes, { sourceMaps: false });
    expect(r.trace.capabilities).toMatchObject({ bits: 6, schedstat: false, note: 'schedstat: /proc/thread-self/schedstat is not readable' });
    // The THREAD_SCHED records are in the trace, but without the bit they are not trusted either way.
    expect(task(r, ms(250)).split).toEqual({ wallNs: ms(250), onCpuNs: ms(240), offCpuNs: ms(10), runnableNs: null, waitingNs: null });
    expect(r.threads.find((t) => t.threadId === 1)!.cpu.runnableNs).toBeNull();
    expect(r.findings.find((f) => f.threadId === 2 && f.kind === 'long-task')!.message).toContain('off CPU (2.5% on CPU: a synchronous wait or descheduled)');
    // A 1.0 trace has no capabilities at all.
    const old = analyzeBytes(attributionTrace({ header: { capabilities: undefined, stackSampling: undefined } }), { sourceMaps: false });
    expect(old.trace.capabilities).toEqual({ bits: null, schedstat: false, stacks: false, gc: false, note: null, stackSampling: null });
    expect(task(old, ms(250)).split?.runnableNs).toBeNull();
  });
});

describe('random loops with samples, GC, CPU and scheduler records', () => {
  /** A small deterministic generator (xorshift32). */
  function rng(seed: number) {
    let x = seed >>> 0 || 1;
    const next = (): number => {
      x ^= x << 13;
      x >>>= 0;
      x ^= x >>> 17;
      x ^= x << 5;
      x >>>= 0;
      return x / 2 ** 32;
    };
    return { next, int: (n: number) => Math.floor(next() * n) };
  }

  it.each(Array.from({ length: 60 }, (_, i) => i + 1))('seed %d: the report holds together', (seed) => {
    const g = rng(seed);
    const records: TraceRecord[] = [];
    let t = 0;
    for (let i = 0; i < 40; i++) {
      records.push(ps(t));
      t += g.int(ms(30));
      records.push(pe(t, g.int(ms(30))));
      const end = t + g.int(ms(300));
      while (t < end) {
        t += 1 + g.int(ms(15));
        const kind = g.int(3);
        if (kind === 0) records.push(stack(t, g.int(6), g.next() < 0.3 ? g.int(ms(200)) : 0));
        else if (kind === 1) records.push(gc(t, g.int(ms(20))));
        else if (g.next() < 0.2) records.push({ type: 'stackSample', threadId: 0, timeNs: t, stackId: 1, reason: 1, lagNs: 0 });
      }
      t = Math.max(t, end);
      records.push(ps(t));
      // CPU and scheduler records with any values, even more CPU or runnable time than wall time.
      if (g.next() < 0.8) records.push(cpu(t, g.int(ms(400)), g.int(ms(400))));
      if (g.next() < 0.5) records.push(sched(t, g.int(ms(400))));
      t += 1;
    }
    const caps = g.int(8);
    const r = analyzeBytes(encodeFile(attributionHeader({ capabilities: caps }), [{ threadId: 0, records: definitions(DEFAULT_SCRIPTS) }, { threadId: 1, records }]).bytes, {
      sourceMaps: false,
      top: 100,
    });
    expect(r.longTasks.items.length).toBe(r.longTasks.count);
    // Not vacuous: every seed makes long tasks with samples and measured CPU.
    expect(r.blockingCode.samples).toBeGreaterThan(0);
    expect(r.longTasks.items.some((x) => x.split !== null)).toBe(true);
    for (const task of r.longTasks.items) {
      const s = task.split;
      if (s !== null) {
        expect(s.onCpuNs + s.offCpuNs).toBe(s.wallNs);
        expect(s.onCpuNs).toBeGreaterThanOrEqual(0);
        expect(s.offCpuNs).toBeGreaterThanOrEqual(0);
        if (caps & 1) {
          expect(s.runnableNs! + s.waitingNs!).toBe(s.offCpuNs);
          expect(s.runnableNs).toBeGreaterThanOrEqual(0);
          expect(s.waitingNs).toBeGreaterThanOrEqual(0);
        } else expect([s.runnableNs, s.waitingNs]).toEqual([null, null]);
      }
      const a = task.attribution;
      if (a.gc !== null) expect(a.gc.share).toBeLessThanOrEqual(1);
      expect(a.sampledNs).toBeLessThanOrEqual(task.durationNs);
      expect(a.stacks.reduce((sum, x) => sum + x.samples, 0)).toBeLessThanOrEqual(a.samples);
      expect(a.stacks.reduce((sum, x) => sum + x.weightNs, 0)).toBeLessThanOrEqual(a.sampledNs);
      for (let i = 1; i < a.stacks.length; i++) expect(a.stacks[i - 1]!.samples).toBeGreaterThanOrEqual(a.stacks[i]!.samples);
      expect(a.blocking === null).toBe(a.samples === 0);
    }
    const b = r.blockingCode;
    expect(b.sampledNs).toBe(r.longTasks.items.reduce((sum, x) => sum + x.attribution.sampledNs, 0));
    expect(b.self.reduce((sum, e) => sum + e.share, 0)).toBeLessThanOrEqual(1 + 1e-9);
    for (const e of b.total) expect(e.share).toBeLessThanOrEqual(1 + 1e-9);
  });
});

// ---------------------------------------------------------------------------------------------
// Source maps, with real files

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function vlq(n: number): string {
  let v = n < 0 ? (-n << 1) | 1 : n << 1;
  let out = '';
  do {
    let digit = v & 31;
    v >>>= 5;
    if (v > 0) digit |= 32;
    out += B64[digit];
  } while (v > 0);
  return out;
}

/**
 * A source map in which generated line g (1-based), from column 0, comes from line g + offset,
 * column 1 of `source`; on line `namedLine` the segment also names `name`.
 */
function lineMap(source: string, lines: number, offset: number, named?: { line: number; name: string }): string {
  const segments: string[] = [];
  let prevLine = 0;
  let prevName = 0;
  for (let g = 1; g <= lines; g++) {
    const orig = g - 1 + offset;
    let seg = vlq(0) + vlq(0) + vlq(orig - prevLine) + vlq(0);
    if (named !== undefined && g === named.line) {
      seg += vlq(0 - prevName);
      prevName = 0;
    }
    prevLine = orig;
    segments.push(seg);
  }
  return JSON.stringify({ version: 3, sources: [source], names: named === undefined ? [] : [named.name], mappings: segments.join(';') });
}

function writeBuiltApp(root: string): Scripts {
  mkdirSync(join(root, 'dist'), { recursive: true });
  // report.js: an external map next to it; its sources are relative to the map.
  const report = join(root, 'dist', 'report.js');
  writeFileSync(report, '"use strict";\nfunction buildReport() {}\n//# sourceMappingURL=report.js.map\n');
  writeFileSync(`${report}.map`, lineMap('../src/report.ts', 100, 100, { line: 88, name: 'buildReportTs' }));
  // http.js: an inline base64 map, named by a file: URL (an ES module).
  const http = join(root, 'dist', 'http.js');
  const inline = Buffer.from(lineMap('../src/http.ts', 60, 7)).toString('base64');
  writeFileSync(http, `export function sendPage() {}\n//# sourceMappingURL=data:application/json;charset=utf-8;base64,${inline}\n`);
  // build.js: plain code, written by hand: nothing to map and nothing to say.
  const build = join(root, 'build.js');
  writeFileSync(build, 'function runBuild() {}\n');
  return { report, http: pathToFileURL(http).href, build };
}

describe('source maps', () => {
  it('maps frames of built code to their sources through external and inline maps', () => {
    const root = join(dir, 'app-mapped');
    const scripts = writeBuiltApp(root);
    const r = analyzeBytes(attributionTrace({ scripts }));
    const a = task(r, ms(250)).attribution;
    expect(a.stacks[0]!.callFrames[0]).toEqual({
      function: 'buildReport',
      url: scripts.report,
      line: 88,
      column: 13,
      original: { source: join(root, 'src', 'report.ts'), line: 188, column: 1, name: 'buildReportTs' },
    });
    // The recorded text stays as V8 reported it; the site reads with the original position.
    expect(a.stacks[0]!.frames[0]).toBe(`buildReport (${scripts.report}:88:13)`);
    expect(a.blocking?.text).toBe(`buildReport ${join(root, 'src', 'report.ts')}:188:1`);
    const b = task(r, ms(100)).attribution;
    expect(b.blocking?.frame.original).toEqual({ source: join(root, 'src', 'http.ts'), line: 58, column: 1, name: null });
    expect(r.sourceMaps).toEqual({
      enabled: true,
      mapped: [
        { script: scripts.report, map: `${scripts.report}.map` },
        { script: join(root, 'dist', 'http.js'), map: 'inline' },
      ],
      missing: [],
      notOnThisMachine: [],
      counts: { mapped: 2, missing: 0, notOnThisMachine: 0 },
    });
    expect(r.findings.find((f) => f.threadId === 1)!.message).toContain(`75% of the sampled time in buildReport (${join(root, 'src', 'report.ts')}:188)`);
  });

  it('says which built scripts have no map and which scripts are not on this machine', () => {
    const root = join(dir, 'app-unmapped');
    mkdirSync(join(root, 'dist'), { recursive: true });
    const report = join(root, 'dist', 'report.js');
    writeFileSync(report, '"use strict";\nfunction buildReport() {}\n');
    const http = join(root, 'dist', 'http.js');
    writeFileSync(http, 'export function sendPage() {}\n//# sourceMappingURL=http.js.map\n');
    const r = analyzeBytes(attributionTrace({ scripts: { report, http: pathToFileURL(http).href, build: '/nowhere/on/this/machine/build.js' } }));
    expect(r.sourceMaps.counts).toEqual({ mapped: 0, missing: 2, notOnThisMachine: 1 });
    expect(r.sourceMaps.missing).toEqual([
      { script: report, reason: 'no sourceMappingURL comment in the script' },
      { script: http, reason: `its source map ${join(root, 'dist', 'http.js.map')} cannot be read` },
    ]);
    expect(r.sourceMaps.notOnThisMachine).toEqual(['/nowhere/on/this/machine/build.js']);
    expect(task(r, ms(250)).attribution.stacks[0]!.callFrames[0]!.original).toBeNull();
  });

  it('reads no file with sourceMaps off', () => {
    const root = join(dir, 'app-off');
    const scripts = writeBuiltApp(root);
    const r = analyzeBytes(attributionTrace({ scripts }), { sourceMaps: false });
    expect(task(r, ms(250)).attribution.stacks[0]!.callFrames[0]!.original).toBeNull();
    expect(r.sourceMaps).toMatchObject({ enabled: false, counts: { mapped: 0, missing: 0, notOnThisMachine: 0 } });
    expect(r.options.sourceMaps).toBe(false);
  });

  it('rejects a sourceMaps option that is not a boolean, naming it', () => {
    expect(() => analyzeBytes(attributionTrace(), { sourceMaps: 'no' as unknown as boolean })).toThrow(/sourceMaps must be true or false, got "no"/);
  });
});

describe('JSON Lines', () => {
  it('writes resolved frames with stack definitions, lagNs with samples, and the long tasks after the records', () => {
    const root = join(dir, 'app-jsonl');
    const scripts = writeBuiltApp(root);
    let text = '';
    const jsonl = new JsonlConverter((t) => (text += t));
    const decoder = new TraceDecoder({ onRecord: (rec) => jsonl.onRecord(rec), onHeader: (h) => jsonl.onHeader(h) });
    decoder.push(attributionTrace({ scripts }));
    decoder.end();
    jsonl.onReport(analyzeBytes(attributionTrace({ scripts })));
    jsonl.flush();
    const lines = text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'header', capabilities: 7, stackSampling: { thresholdNs: ms(30), intervalNs: ms(10) }, attributionNote: null });
    const def = lines.find((l) => l.type === 'stackDef' && l.stackId === STACK.report)!;
    expect((def.callFrames as unknown[])[0]).toEqual({ function: 'buildReport', url: scripts.report, line: 88, column: 13, original: { source: join(root, 'src', 'report.ts'), line: 188, column: 1, name: 'buildReportTs' } });
    expect(lines.find((l) => l.type === 'stackSample' && l.threadId === 2)).toMatchObject({ stackId: STACK.execSync, lagNs: ms(150) });
    expect(lines.find((l) => l.type === 'threadSched')).toMatchObject({ threadId: 1, runnableNs: ms(6) });
    const tasks = lines.filter((l) => l.type === 'longTask');
    // Per thread, as the reports list them: the main thread's worst first, then the worker's.
    expect(tasks.map((l) => [l.threadId, l.threadRank, l.durationNs])).toEqual([
      [1, 1, ms(250)],
      [1, 2, ms(100)],
      [2, 1, ms(160)],
    ]);
    expect(tasks.map((l) => l.threadLongTasks)).toEqual([2, 2, 1]);
    expect(tasks[0]).toMatchObject({ split: { runnableNs: ms(6) }, attribution: { gc: { pauses: 2 }, samples: 22 } });
    expect(lines.at(-1)).toMatchObject({ type: 'blockingCode', samples: 27 });
  });
});

// ---------------------------------------------------------------------------------------------
// The terminal report, through the built CLI

function cli(args: readonly string[]) {
  if (!existsSync(CLI)) throw new Error(`the CLI tests need the build: missing ${CLI}. Run npm run build.`);
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined }, timeout: 30_000 });
}

describe('analyze-trace text report', () => {
  it('shows the split, GC, the stack under each task and the blocking code', () => {
    const file = join(dir, 'attribution.bin');
    writeFileSync(file, attributionTrace());
    const r = cli([file, '--no-source-maps']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/#\s+duration\s+thread\s+at \(UTC\)\s+phase\s+on CPU\s+runnable\s+waiting\s+GC/);
    expect(out).toMatch(/1\s+250 ms\s+main\s+\S+\s+timers\/immediates\s+96%\s+2\.4%\s+1\.6%\s+2\.0%\n\s+buildReport \/srv\/app\/dist\/report\.js:88:13 ← renderAll \/srv\/app\/dist\/report\.js:40:5 ← onTimeout \/srv\/app\/dist\/report\.js:12:3 …\s+\(21 of 22 samples\)/);
    expect(out).toMatch(/execSync ← runBuild \/srv\/app\/build\.js:5:3\s+\(1 of 1 sample\)\n\s+sampled 150 ms late: the loop was in native code/);
    expect(out).toMatch(/Blocking code, all long tasks together \(435 ms sampled in 3 long tasks, 27 samples\)/);
    expect(out).toMatch(/48%\s+buildReport \/srv\/app\/dist\/report\.js:88:13\n\s+36%\s+execSync ← runBuild \/srv\/app\/build\.js:5:3/);
    expect(out).toMatch(/Source maps: off/);
    // The Threads table has GC time.
    expect(out).toMatch(/GC\s+dropped\n\s+main .* 5 ms \(2\)/);
  });

  it('--no-source-maps is echoed in the JSON options, and takes no value', () => {
    const file = join(dir, 'attribution-options.bin');
    writeFileSync(file, attributionTrace());
    const on = JSON.parse(cli([file, '--json']).stdout) as TraceReport;
    const off = JSON.parse(cli([file, '--json', '--no-source-maps']).stdout) as TraceReport;
    expect([on.options.sourceMaps, off.options.sourceMaps]).toEqual([true, false]);
    expect(on.sourceMaps.counts.notOnThisMachine).toBe(3);
    const bad = cli([file, '--no-source-maps=yes']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--no-source-maps takes no value, got "yes"');
  });

  it('without scheduler statistics: an off-CPU column and a note saying why', () => {
    const file = join(dir, 'no-schedstat.bin');
    writeFileSync(file, attributionTrace({ header: { capabilities: 6, attributionNote: 'no schedstat here' } }));
    const out = cli([file, '--no-source-maps']).stdout;
    expect(out).toMatch(/phase\s+on CPU\s+off CPU\s+GC\n/);
    expect(out).toContain('off CPU is waiting and runnable together: the recorder did not read scheduler statistics (no schedstat here)');
  });

  it('says once which built scripts have no source map', () => {
    const root = join(dir, 'cli-unmapped');
    mkdirSync(join(root, 'dist'), { recursive: true });
    const report = join(root, 'dist', 'report.js');
    writeFileSync(report, 'function buildReport() {}\n');
    const file = join(dir, 'unmapped.bin');
    writeFileSync(file, attributionTrace({ scripts: { ...DEFAULT_SCRIPTS, report } }));
    const out = cli([file]).stdout;
    expect(out.match(/No source map for 1 built script/g)).toHaveLength(1);
    expect(out).toContain(`${report}: no sourceMappingURL comment in the script`);
    expect(out).toMatch(/2 scripts are not on this machine, so not source-mapped: \/srv\/app\/dist\/http\.js, \/srv\/app\/build\.js/);
  });

  it('escapes control characters of function names and scripts from the trace', () => {
    const file = join(dir, 'hostile.bin');
    const evil = 'build\u001b[2J\u001b]0;pwned\u0007Report\u202e';
    writeFileSync(file, attributionTrace({ names: { buildReport: evil }, scripts: { ...DEFAULT_SCRIPTS, build: '/srv/\u001b[31mred.js' }, header: { attributionNote: 'note\u001b[1m' } }));
    const r = cli([file, '--no-source-maps']);
    expect(r.status).toBe(0);
    // eslint-disable-next-line no-control-regex
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f\u202e]/);
    expect(r.stdout).toContain('build\\x1b[2J\\x1b]0;pwned\\x07Report\\u{202e} /srv/app/dist/report.js:88:13');
    expect(r.stdout).toContain('runBuild /srv/\\x1b[31mred.js:5:3');
    // JSON carries the strings as they are (JSON escapes them itself).
    const json = JSON.parse(cli([file, '--json', '--no-source-maps']).stdout) as TraceReport;
    expect(task(json, ms(250)).attribution.stacks[0]!.callFrames[0]!.function).toBe(evil);
  });
});

it('the fixture header carries the 1.1 keys', () => {
  expect(attributionHeader()).toMatchObject({ capabilities: 7, stackSampling: { thresholdNs: ms(30), intervalNs: ms(10) } });
});
