// traced(): async context through await, timers, emitters, streams and worker messages;
// attributes, events, errors, cancellation, lifecycle events; the no-op path when off.

import { EventEmitter, once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CallbackExporter,
  ConsoleExporter,
  InMemoryExporter,
  InMemoryTraceSink,
  NOOP_OPERATION,
  currentOperation,
  startOperations,
  traced,
  type OperationData,
  type Operations,
} from '../src/index.js';

let ops: Operations | undefined;
let exporter: InMemoryExporter;

beforeEach(() => {
  exporter = new InMemoryExporter();
  ops = startOperations({ exporters: exporter });
});
afterEach(async () => {
  await ops?.stop();
  ops = undefined;
});

function parentName(child: OperationData): string | undefined {
  return exporter.finished().find((op) => op.spanId === child.parentSpanId)?.name;
}

describe('async context', () => {
  it('finds children through await, timers, immediates and promises', async () => {
    await traced('root', async () => {
      await traced('after-await', async () => {
        await sleep(1);
      });
      await new Promise<void>((resolve) => setTimeout(() => traced('in-timeout', () => resolve()), 1));
      await new Promise<void>((resolve) => setImmediate(() => traced('in-immediate', () => resolve())));
      await Promise.resolve().then(() => traced('in-then', () => undefined));
      queueMicrotask(() => traced('in-microtask', () => undefined));
      await sleep(1);
    });
    for (const name of ['after-await', 'in-timeout', 'in-immediate', 'in-then', 'in-microtask']) {
      expect(parentName(exporter.byName(name)[0]!), name).toBe('root');
    }
    const root = exporter.byName('root')[0]!;
    for (const op of exporter.finished()) expect(op.traceId).toBe(root.traceId);
    expect(root.parentSpanId).toBeUndefined();
  });

  it('finds children through event emitters and streams', async () => {
    const emitter = new EventEmitter();
    const stream = new PassThrough();
    const seen: string[] = [];
    await traced('producer', async () => {
      // Listeners run synchronously inside emit(), so in the emitter's caller's context.
      emitter.on('tick', () => traced('on-emit', () => undefined));
      emitter.emit('tick');
      stream.on('data', () => traced('on-data', () => seen.push('data')));
      const arrived = once(stream, 'data');
      stream.write('x');
      await arrived;
      const readable = Readable.from(['a', 'b']);
      for await (const chunk of readable) traced(`chunk-${String(chunk)}`, () => undefined);
    });
    expect(parentName(exporter.byName('on-emit')[0]!)).toBe('producer');
    expect(parentName(exporter.byName('on-data')[0]!)).toBe('producer');
    expect(parentName(exporter.byName('chunk-a')[0]!)).toBe('producer');
    expect(parentName(exporter.byName('chunk-b')[0]!)).toBe('producer');
  });

  it('finds children in handlers of messages from a worker created inside the operation', async () => {
    await traced('spawner', async () => {
      const worker = new Worker('const { parentPort } = require("node:worker_threads"); parentPort.postMessage("hello");', { eval: true });
      const [message] = (await once(worker, 'message')) as [string];
      traced(`got-${message}`, () => undefined);
      await worker.terminate();
    });
    expect(parentName(exporter.byName('got-hello')[0]!)).toBe('spawner');
  });

  it('keeps concurrent operations apart', async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        traced(`request-${i}`, async () => {
          await sleep(Math.random() * 5);
          expect(currentOperation()?.name).toBe(`request-${i}`);
          await traced(`db-${i}`, () => sleep(Math.random() * 5));
        }),
      ),
    );
    for (let i = 0; i < 20; i++) expect(parentName(exporter.byName(`db-${i}`)[0]!)).toBe(`request-${i}`);
  });

  it('currentOperation() is the innermost operation and undefined outside', async () => {
    expect(currentOperation()).toBeUndefined();
    await traced('outer', async (outer) => {
      expect(currentOperation()).toBe(outer);
      traced('inner', (inner) => expect(currentOperation()).toBe(inner));
      expect(currentOperation()).toBe(outer);
    });
    expect(currentOperation()).toBeUndefined();
  });

  it('root: true starts a new trace inside another operation', () => {
    traced('a', () => traced('b', () => undefined, { root: true }));
    const [b, a] = exporter.finished();
    expect(b!.name).toBe('b');
    expect(b!.traceId).not.toBe(a!.traceId);
    expect(b!.parentSpanId).toBeUndefined();
  });
});

describe('outcomes and lifecycle', () => {
  it('returns a sync value, completes and times the operation', () => {
    expect(traced('sync', () => 42)).toBe(42);
    const op = exporter.finished()[0]!;
    expect(op.status).toBe('completed');
    expect(op.durationNs).toBeGreaterThan(0);
  });

  it('rethrows a sync throw and an async rejection, marking failed with the error', async () => {
    expect(() => traced('sync-fail', () => { throw new TypeError('bad'); })).toThrow('bad');
    await expect(traced('async-fail', async () => { await sleep(1); throw new Error('worse'); })).rejects.toThrow('worse');
    expect(exporter.byName('sync-fail')[0]).toMatchObject({ status: 'failed', error: { name: 'TypeError', message: 'bad' } });
    expect(exporter.byName('async-fail')[0]).toMatchObject({ status: 'failed', error: { name: 'Error', message: 'worse' } });
  });

  it('keeps attributes, events and recorded errors of sampled operations', () => {
    traced('detailed', (op) => {
      op.setAttribute('cart.items', 3).setAttributes({ 'user.tier': 'gold', retry: false });
      op.addEvent('validated', { rules: 4 });
      op.recordError(new RangeError('soft'));
    }, { attributes: { region: 'eu' } });
    const op = exporter.finished()[0]!;
    expect(op.attributes).toEqual({ region: 'eu', 'cart.items': 3, 'user.tier': 'gold', retry: false });
    expect(op.events.map((e) => e.name)).toEqual(['validated', 'exception']);
    expect(op.events[0]!.attributes).toEqual({ rules: 4 });
    expect(op.status).toBe('completed');
    expect(op.error).toMatchObject({ name: 'RangeError', message: 'soft' });
  });

  it('an abort ends the operation as cancelled and rejects with the reason', async () => {
    const controller = new AbortController();
    const pending = traced('slow', () => sleep(10_000, undefined, { ref: false }), { signal: controller.signal });
    setTimeout(() => controller.abort(new Error('user went away')), 5);
    await expect(pending).rejects.toThrow('user went away');
    expect(exporter.byName('slow')[0]).toMatchObject({ status: 'cancelled' });
    expect(ops!.metrics().operations['slow']).toMatchObject({ count: 1, active: 0, cancelled: 1, failed: 0 });
  });

  it('an already aborted signal cancels without running fn', () => {
    let ran = false;
    expect(() => traced('never', () => { ran = true; }, { signal: AbortSignal.abort(new Error('early')) })).toThrow('early');
    expect(ran).toBe(false);
    expect(exporter.byName('never')[0]!.status).toBe('cancelled');
  });

  it('an AbortError from fn counts as cancelled', async () => {
    await expect(traced('aborted-fetch', () => sleep(1_000, undefined, { signal: AbortSignal.timeout(2) }))).rejects.toThrow();
    expect(exporter.byName('aborted-fetch')[0]!.status).toBe('cancelled');
  });

  it('calls the lifecycle callbacks: start, complete, fail, cancel', async () => {
    await ops!.stop();
    const events: string[] = [];
    ops = startOperations({
      exporters: new CallbackExporter({
        onStart: (op) => events.push(`start ${op.name}`),
        onComplete: (op) => events.push(`complete ${op.name}`),
        onFail: (op) => events.push(`fail ${op.name}`),
        onCancel: (op) => events.push(`cancel ${op.name}`),
      }),
    });
    traced('a', () => undefined);
    try { traced('b', () => { throw new Error('x'); }); } catch { /* expected */ }
    await traced('c', () => sleep(50), { signal: AbortSignal.timeout(1) }).catch(() => undefined);
    expect(events).toEqual(['start a', 'complete a', 'start b', 'fail b', 'start c', 'cancel c']);
  });

  it('baggage flows to children and adds up', () => {
    traced('parent', () => traced('child', (op) => expect(op.baggage).toEqual({ tenant: 't-42', step: '2' }), { baggage: { step: '2' } }), { baggage: { tenant: 't-42' } });
    expect(exporter.byName('child')[0]!.baggage).toEqual({ tenant: 't-42', step: '2' });
  });

  it('continues an incoming trace and sends headers for an outgoing one', () => {
    const incoming = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'rojo=1', baggage: 'user=alice' };
    traced('handler', (op) => {
      expect(op.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(op.parentSpanId).toBe('00f067aa0ba902b7');
      expect(op.remoteParent).toBe(true);
      expect(op.headers()).toEqual({ traceparent: `00-4bf92f3577b34da6a3ce929d0e0e4736-${op.spanId}-01`, tracestate: 'rojo=1', baggage: 'user=alice' });
    }, { incoming });
    traced('bad-incoming', (op) => expect(op.parentSpanId).toBeUndefined(), { incoming: { traceparent: 'garbage' } });
  });

  it('writes sampled operations to the trace sink with start and end', async () => {
    await ops!.stop();
    const sink = new InMemoryTraceSink();
    ops = startOperations({ sampler: { type: 'never' } }, { sink });
    traced('unsampled', () => undefined);
    expect(sink.records).toHaveLength(0);
    await ops.stop();
    ops = startOperations({}, { sink });
    expect(() => traced('outer', () => traced('inner', () => { throw new Error('x'); }))).toThrow('x');
    const [outerStart, innerStart, innerEnd, outerEnd] = sink.records;
    expect(sink.records.map((r) => `${r.kind} ${r.name} ${r.status ?? ''}`)).toEqual(['start outer ', 'start inner ', 'end inner 1', 'end outer 1']);
    expect(innerStart!.parentSpanId).toBe(outerStart!.spanId);
    expect(innerStart!.traceId).toBe(outerStart!.traceId);
    expect(innerEnd!.operationId).toBe(innerStart!.operationId);
    expect(outerEnd!.operationId).not.toBe(innerEnd!.operationId);
  });
});

describe('isolation and the off path', () => {
  it('an exporter that throws (or rejects) does not reach the application and is counted', async () => {
    await ops!.stop();
    const good = new InMemoryExporter();
    const warnings: string[] = [];
    const emitWarning = process.emitWarning;
    process.emitWarning = ((message: string) => { warnings.push(message); }) as typeof process.emitWarning;
    ops = startOperations({
      exporters: [{ onStart: () => { throw new Error('start boom'); }, onEnd: () => { throw new Error('end boom'); } }, { onEnd: () => Promise.reject(new Error('async boom')) }, good],
    });
    for (let i = 0; i < 10; i++) expect(traced('work', () => i)).toBe(i);
    await sleep(10);
    process.emitWarning = emitWarning;
    expect(good.finished()).toHaveLength(10);
    expect(ops.metrics().exporterErrors).toBe(30);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toMatch(/exporter threw and was isolated: start boom/);
  });

  it('runs fn with a no-op operation when operations are off', async () => {
    await ops!.stop();
    ops = undefined;
    const result = await traced('off', async (op) => {
      expect(op).toBe(NOOP_OPERATION);
      op.setAttribute('x', 1).addEvent('e');
      expect(currentOperation()).toBeUndefined();
      return 'done';
    });
    expect(result).toBe('done');
    expect(NOOP_OPERATION.attributes).toEqual({});
  });

  it('rejects bad arguments with messages naming the value', () => {
    expect(() => traced('', () => 1)).toThrow('traced() name must be a non-empty string, got ""');
    expect(() => traced('x', 5 as never)).toThrow('traced("x") fn must be a function, got 5');
    expect(() => traced('x', () => 1, { signal: {} as AbortSignal })).toThrow('options.signal must be an AbortSignal, got an object');
    expect(() => startOperations({ sampler: { type: 'ratio', ratio: 2 } } as never)).toThrow('operations.sampler.ratio must be a number from 0 to 1, got 2');
    expect(() => startOperations({ bogus: 1 } as never)).toThrow('operations.bogus');
  });

  it('starting twice in one thread is refused', () => {
    expect(() => startOperations({})).toThrow(/already on/);
  });
});

describe('console exporter', () => {
  const op = (name: string, spanId: string, parentSpanId: string | undefined, durationMs: number, status: 'completed' | 'failed' | 'cancelled', startTimeMs: number, error?: { name: string; message: string }): OperationData => ({
    name,
    operationId: 1,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId,
    parentSpanId,
    remoteParent: false,
    sampled: true,
    status,
    startTimeMs,
    durationNs: durationMs * 1e6,
    attributes: {},
    events: [],
    error,
    baggage: {},
    traceState: [],
  });

  it('prints one tree per root when the root ends, with status, duration, slow and failed marked, escaping names', () => {
    let out = '';
    const console = new ConsoleExporter({ stream: { write: (s: string) => (out += s) }, slowMs: 100, color: false });
    const root = op('checkout\u001b[2J', 'a1', undefined, 250, 'completed', 1000);
    const load = op('load-cart', 'b1', 'a1', 3, 'completed', 1001);
    const charge = op('charge-card', 'b2', 'a1', 120, 'failed', 1005, { name: 'Error', message: 'card declined' });
    const retry = op('retry', 'c1', 'b2', 2, 'cancelled', 1006);
    for (const o of [root, load, charge, retry]) console.onStart(o);
    console.onEnd(load);
    console.onEnd(retry);
    console.onEnd(charge);
    expect(out).toBe('');
    console.onEnd(root);
    expect(out.trimEnd().split('\n')).toEqual([
      '✓ checkout\\u001b[2J  250 ms  SLOW  trace 4bf92f3577b34da6a3ce929d0e0e4736',
      '├─ ✓ load-cart  3 ms',
      '└─ ✗ charge-card  120 ms  SLOW  FAILED Error: card declined',
      '   └─ ⊘ retry  2 ms  CANCELLED',
    ]);
  });

  it('prints real operations as they end', async () => {
    await ops!.stop();
    let out = '';
    ops = startOperations({ exporters: new ConsoleExporter({ stream: { write: (s: string) => (out += s) }, color: false }) });
    await traced('outer', () => traced('inner', () => sleep(1)));
    expect(out).toMatch(/^✓ outer {2}[\d.]+ (ms|µs).*\n└─ ✓ inner {2}[\d.]+ (ms|µs)/);
  });
});
