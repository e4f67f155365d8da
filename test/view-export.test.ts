// --perfetto and --chrome-trace on a trace with known contents: the protobuf output is decoded
// with protobufjs from Perfetto's published message definitions (test/fixtures/perfetto), not by
// the exporter's own code, and must hold the process and thread tracks, busy and long-task
// slices at their times, GC, operations, stack samples and the counters.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE, writeFixtureTrace } from './view-trace-fixture.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli/analyze-trace.js');

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'looptrace-export-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Track {
  uuid: number;
  parentUuid?: number;
  name?: string;
  process?: { pid: number; processName: string };
  thread?: { pid: number; tid: number; threadName: string };
  counter?: { unit?: string };
}
interface Event {
  type: string;
  trackUuid: number;
  nameIid?: number;
  counterValue?: number;
  doubleCounterValue?: number;
  debugAnnotations?: { name: string; stringValue?: string; uintValue?: number; doubleValue?: number }[];
  callstack?: { frames: { functionName: string; sourceFile?: string; lineNumber?: number }[] };
}
interface Packet {
  timestamp?: number;
  trackDescriptor?: Track;
  trackEvent?: Event;
  internedData?: { eventNames?: { iid: number; name: string }[] };
  sequenceFlags?: number;
  trustedPacketSequenceId?: number;
}

function decodePerfetto(path: string): Packet[] {
  const root = protobuf.loadSync(join(ROOT, 'test/fixtures/perfetto/perfetto_trace.proto'));
  const Trace = root.lookupType('perfetto.protos.Trace');
  const message = Trace.decode(readFileSync(path));
  const object = Trace.toObject(message, { longs: Number, enums: String, defaults: false }) as { packet: Packet[] };
  return object.packet;
}

function runCli(...args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
}

describe('--perfetto', () => {
  let packets: Packet[] = [];
  const names = new Map<number, string>();
  const tracks = new Map<number, Track>();
  const eventsOn = (uuid: number) => packets.filter((p) => p.trackEvent?.trackUuid === uuid);

  beforeAll(() => {
    const [trace] = writeFixtureTrace((i) => join(dir, `fixture.${i}.bin`), { workerName: 'worker 1 (pool.mjs)' });
    const out = join(dir, 'out.pftrace');
    const r = runCli(trace!, '--perfetto', out, '--no-progress');
    expect(r.status, r.stderr).toBe(0);
    packets = decodePerfetto(out);
    for (const p of packets) {
      for (const n of p.internedData?.eventNames ?? []) names.set(n.iid, n.name);
      if (p.trackDescriptor !== undefined) tracks.set(p.trackDescriptor.uuid, p.trackDescriptor);
    }
  });

  it('describes the process and a named thread track per loop', () => {
    const proc = [...tracks.values()].find((t) => t.process !== undefined);
    expect(proc?.process).toEqual({ pid: FIXTURE.pid, processName: `fixture-service (pid ${FIXTURE.pid})` });
    const threads = [...tracks.values()].filter((t) => t.thread !== undefined);
    expect(threads.map((t) => t.thread!.threadName).sort()).toEqual(['main', 'worker 1 (pool.mjs)']);
    for (const t of threads) expect(t.parentUuid).toBe(proc!.uuid);
    expect(threads.find((t) => t.thread!.threadName === 'main')!.thread!.tid).toBe(FIXTURE.pid);
  });

  it('starts the sequence with cleared incremental state and interns every event name it uses', () => {
    expect(packets[0]!.sequenceFlags).toBe(1);
    for (const p of packets.slice(1)) expect(p.sequenceFlags).toBe(2);
    for (const p of packets) if (p.trackEvent?.nameIid !== undefined) expect(names.has(p.trackEvent.nameIid), `iid ${p.trackEvent.nameIid}`).toBe(true);
  });

  function slices(uuid: number): { name: string; startNs: number; endNs: number; args: Event['debugAnnotations'] }[] {
    const out: { name: string; startNs: number; endNs: number; args: Event['debugAnnotations'] }[] = [];
    const open: Packet[] = [];
    for (const p of [...eventsOn(uuid)].sort((a, b) => a.timestamp! - b.timestamp! || (a.trackEvent!.type === 'TYPE_SLICE_END' ? -1 : 1))) {
      if (p.trackEvent!.type === 'TYPE_SLICE_BEGIN') open.push(p);
      else if (p.trackEvent!.type === 'TYPE_SLICE_END') {
        const b = open.pop()!;
        out.push({ name: names.get(b.trackEvent!.nameIid!)!, startNs: b.timestamp!, endNs: p.timestamp!, args: b.trackEvent!.debugAnnotations });
      }
    }
    expect(open).toEqual([]);
    return out;
  }
  const mainUuid = () => [...tracks.values()].find((t) => t.thread?.threadName === 'main')!.uuid;
  const child = (name: string) => [...tracks.values()].find((t) => t.parentUuid === mainUuid() && t.name === name)!.uuid;

  it('draws every busy stretch of the main loop as a slice on its thread track', () => {
    const busy = slices(mainUuid());
    expect(busy.every((s) => s.name === 'busy')).toBe(true);
    // The 1 ms stretches before the long task, the long task itself, and those after it.
    expect(busy.filter((s) => s.endNs <= 50_000_000)).toHaveLength(FIXTURE.iterations - 1 + 1);
    expect(busy.find((s) => s.startNs === FIXTURE.longTask.startNs)?.endNs).toBe(FIXTURE.longTask.endNs);
  });

  it('puts the long task on the long-tasks track with its phase split and stack', () => {
    const lt = slices(child('long tasks'));
    expect(lt).toHaveLength(1);
    expect(lt[0]).toMatchObject({ name: 'long task', startNs: FIXTURE.longTask.startNs, endNs: FIXTURE.longTask.endNs });
    const args = Object.fromEntries((lt[0]!.args ?? []).map((a) => [a.name, a.stringValue ?? a.uintValue ?? a.doubleValue]));
    expect(args.phase).toBe('timers-immediates');
    expect(args.ioCallbacksMs).toBeCloseTo(0.02, 6);
    expect(args.stack).toBe(FIXTURE.stackFrames.join('\n'));
  });

  it('has the GC pause, the operation and the stack sample', () => {
    expect(slices(child('GC'))).toEqual([{ name: 'GC mark-sweep-compact', startNs: FIXTURE.gc.endNs - FIXTURE.gc.durationNs, endNs: FIXTURE.gc.endNs, args: [{ name: 'gcType', uintValue: 2 }] }]);
    const ops = slices(child('operations'));
    expect(ops.map((o) => [o.name, o.startNs, o.endNs])).toEqual([[FIXTURE.operation.name, FIXTURE.operation.startNs, FIXTURE.operation.endNs]]);
    const samples = eventsOn(child('stack samples'));
    expect(samples).toHaveLength(1);
    expect(samples[0]!.timestamp).toBe(FIXTURE.stackSampleNs);
    expect(samples[0]!.trackEvent!.type).toBe('TYPE_INSTANT');
    expect(samples[0]!.trackEvent!.callstack!.frames).toEqual([
      { functionName: 'buildReport', sourceFile: '/srv/app/report.js', lineNumber: 42 },
      { functionName: 'onRequest', sourceFile: '/srv/app/server.js', lineNumber: 10 },
    ]);
  });

  it('has counter tracks for queue depths, threadpool delay and utilization', () => {
    const counters = [...tracks.values()].filter((t) => t.counter !== undefined);
    const byName = (name: string, parent: number) => counters.find((t) => t.name === name && t.parentUuid === parent);
    const proc = [...tracks.values()].find((t) => t.process !== undefined)!.uuid;
    const tp = byName('threadpool delay', proc)!;
    expect(tp.counter!.unit).toBe('UNIT_TIME_NS');
    expect(eventsOn(tp.uuid).map((p) => [p.timestamp, p.trackEvent!.counterValue])).toEqual([[FIXTURE.longTask.endNs + 1_100_000, FIXTURE.threadpoolDelayNs]]);
    const handles = byName('active handles', mainUuid())!;
    expect(eventsOn(handles.uuid).map((p) => p.trackEvent!.counterValue)).toEqual([12]);
    const waiting = byName('events waiting', mainUuid())!;
    expect(eventsOn(waiting.uuid).map((p) => p.trackEvent!.counterValue)).toContain(2);
    const util = byName('utilization', mainUuid())!;
    const values = eventsOn(util.uuid).map((p) => [p.timestamp!, p.trackEvent!.doubleCounterValue ?? p.trackEvent!.counterValue!] as const);
    // The bucket [100 ms, 200 ms) lies inside the long task until 170.12 ms, then 1 ms stretches.
    const bucket = values.find(([t]) => t === 100_000_000)!;
    expect(bucket[1]).toBeGreaterThan(0.7);
    expect(bucket[1]).toBeLessThanOrEqual(1);
    expect(values.find(([t]) => t === 300_000_000)![1]).toBeCloseTo(0.2, 1);
  });
});

describe('--chrome-trace', () => {
  it('writes Trace Event JSON with named threads, the long task and counters', () => {
    const [trace] = writeFixtureTrace((i) => join(dir, `chrome.${i}.bin`));
    const out = join(dir, 'out.json');
    const r = runCli(trace!, '--chrome-trace', out, '--no-progress');
    expect(r.status, r.stderr).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8')) as { traceEvents: { ph: string; name: string; tid: number; ts?: number; dur?: number; args?: Record<string, unknown> }[] };
    const ev = json.traceEvents;
    const threadNames = ev.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args!.name);
    expect(threadNames).toContain('main');
    expect(threadNames).toContain('worker 1 (pool.mjs)');
    const lt = ev.filter((e) => e.ph === 'X' && e.name === 'long task');
    expect(lt).toHaveLength(1);
    expect(lt[0]!.ts).toBeCloseTo(FIXTURE.longTask.startNs / 1000, 3);
    expect(lt[0]!.dur).toBeCloseTo((FIXTURE.longTask.endNs - FIXTURE.longTask.startNs) / 1000, 3);
    expect(ev.some((e) => e.ph === 'C' && e.name === 'threadpool delay' && e.args!.value === FIXTURE.threadpoolDelayNs)).toBe(true);
    expect(ev.some((e) => e.ph === 'X' && e.name === FIXTURE.operation.name)).toBe(true);
  });

  it('names the file it cannot write', () => {
    const [trace] = writeFixtureTrace((i) => join(dir, `bad.${i}.bin`));
    const r = runCli(trace!, '--chrome-trace', join(dir, 'no/such/dir/out.json'), '--no-progress');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot write .*no\/such\/dir\/out\.json/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('--html', () => {
  it('writes one self-contained page with the findings, threads, long tasks with their stacks and the threadpool chart, and no script', () => {
    const [trace] = writeFixtureTrace((i) => join(dir, `html.${i}.bin`));
    const out = join(dir, 'report.html');
    const r = runCli(trace!, '--html', out, '--no-progress');
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
    expect(html).not.toMatch(/<script|<link|src="http|href="http/i);
    expect(html).toContain('<h2>Findings, worst first</h2>');
    expect(html).toMatch(/<li class="(crit|warn)">[^<]*long task[^<]*120 ms/);
    expect(html).toContain(`<pre>${FIXTURE.stackFrames.join('\n')}</pre>`);
    expect(html).toContain('<td class="l">worker 1 (pool.mjs)</td>');
    expect(html).toMatch(/<svg class="timeline"[^>]*>.*<rect class="long-task"/s);
    expect(html).toMatch(/<svg class="threadpool"/);
  });

  it('lists long tasks per thread with the operation that ran in each, the blocking code, and the operations table', () => {
    const [trace] = writeFixtureTrace((i) => join(dir, `html-ops.${i}.bin`));
    const out = join(dir, 'report-ops.html');
    const r = runCli(trace!, '--html', out, '--no-progress');
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    // Per thread, main first, with its count and time.
    expect(html).toMatch(/<h3 class="thread-long-tasks">main: 1 long task, 120 ms in all<\/h3>\s*<table class="long-tasks">/);
    // The operation open across the task is named under its stack.
    expect(html).toMatch(new RegExp(`<pre>[^<]*buildReport[^<]*</pre><div class="task-ops">during <b>${FIXTURE.operation.name}</b> <span class="meta">\\(open across it\\)</span></div>`));
    // The blocking code of all long tasks, by site and by function.
    expect(html).toMatch(/<h2>Blocking code, all long tasks together: [^<]* sampled in 1 long task \(1 samples\)<\/h2>/);
    expect(html).toMatch(/<table class="blocking-self">.*<td>100%<\/td>.*<code>buildReport \/srv\/app\/report\.js:42:7<\/code>/s);
    expect(html).toMatch(/<table class="blocking-total">.*<code>onRequest \/srv\/app\/server\.js:10:3<\/code>/s);
    // Operations: count, failures, percentiles (135 ms, within 1%).
    expect(html).toContain('<h2>Operations: 1 (1 ended, 0 open at the end)</h2>');
    expect(html).toMatch(new RegExp(`<table class="operations">.*<td class="l">${FIXTURE.operation.name.replace('/', '\\/')}</td><td>1</td><td>0</td><td>0</td><td>0%</td><td>13[45] ms</td>`, 's'));
  });

  it('escapes operation names from the trace everywhere they appear', () => {
    const hostile = '<img src=x onerror=alert(1)>&"\'';
    const [trace] = writeFixtureTrace((i) => join(dir, `html-xss.${i}.bin`), { operationName: hostile, serviceName: hostile, workerName: hostile });
    const out = join(dir, 'report-xss.html');
    const r = runCli(trace!, '--html', out, '--no-progress', '--op', '*', '--trace-id', '0'.repeat(31) + '1');
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).not.toContain('<img');
    const escaped = '&lt;img src=x onerror=alert(1)&gt;&amp;&quot;&#39;';
    expect(html).toContain(`<td class="l">${escaped}</td><td>1</td>`);
    expect(html).toContain(`during <b>${escaped}</b>`);
    expect(html).toContain(`<b>${escaped}</b> 135 ms`);
  });

  it('with --merge, opens with the processes side by side and each process after it', () => {
    const a = writeFixtureTrace((i) => join(dir, `merge-a.${i}.bin`), { serviceName: 'shop' });
    const out = join(dir, 'report-merged.html');
    const r = runCli(a[0]!, '--html', out, '--no-progress', '--merge');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('looptrace analysis of 1 process, merged');
    const html = readFileSync(out, 'utf8');
    expect(html).toMatch(/<section class="merged">\s*<h1>looptrace analysis of 1 process, merged<\/h1>/);
    expect(html).toContain(`<p class="warn">the input holds one process (shop (pid ${FIXTURE.pid})): nothing to join across processes</p>`);
    expect(html).toContain(`<p class="crit blocked-most">shop (pid ${FIXTURE.pid}) was blocked most: 120 ms in 1 long task on its request-serving loops</p>`);
    expect(html).toMatch(new RegExp(`<table class="processes">.*<td class="l">shop \\(pid ${FIXTURE.pid}\\)</td>`, 's'));
    expect(html).toContain('<h1>looptrace analysis of shop');
    expect(html).not.toMatch(/<script/i);
  });
});

describe('ProtoWriter', () => {
  it('writes nested messages whose lengths cross every varint size, as protobufjs reads them', async () => {
    const { ProtoWriter } = await import('../src/view/protobuf-writer.js');
    const root = protobuf.loadSync(join(ROOT, 'test/fixtures/perfetto/perfetto_trace.proto'));
    const Trace = root.lookupType('perfetto.protos.Trace');
    const w = new ProtoWriter(16);
    const lengths = [0, 1, 100, 127, 128, 200, 16_383, 16_384, 70_000, 2_097_152];
    for (const n of lengths) {
      w.begin(1); // packet
      w.uint(8, 2 ** 40 + n); // timestamp
      w.begin(60); // track_descriptor
      w.string(2, 'x'.repeat(n)); // name
      w.end();
      w.end();
    }
    const decoded = Trace.toObject(Trace.decode(w.bytes()), { longs: Number }) as { packet: { timestamp: number; trackDescriptor: { name?: string } }[] };
    expect(decoded.packet.map((p) => p.timestamp - 2 ** 40)).toEqual(lengths);
    expect(decoded.packet.map((p) => (p.trackDescriptor.name ?? '').length)).toEqual(lengths);
  });
});

describe('visual output flags', () => {
  it('rejects bad combinations and values with one line naming them', () => {
    const cases: [string[], RegExp][] = [
      [['--view', '--json'], /--view serves the viewer and writes no report; run --json separately/],
      [['--live', '--html', 'x.html'], /--live serves the viewer and writes no report; run --html separately/],
      [['--port', '8080'], /--port is for --view and --live/],
      [['--view', '--port', '70000'], /--port must be a port number from 0 to 65535, got "70000"/],
      [['--perfetto'], /--perfetto needs a value/],
    ];
    for (const [args, message] of cases) {
      const r = runCli('some.bin', ...args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('--view names a trace it cannot read', () => {
    const r = runCli(join(dir, 'missing.bin'), '--view');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/missing\.bin/);
    expect(r.stdout).not.toMatch(/http:\/\//);
  });
});
