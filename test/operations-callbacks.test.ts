// Callback mode: a window in which every callback's start, end, resource type and operation are
// recorded; nothing outside the window; bad durations refused.

import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { InMemoryTraceSink, startOperations, traced } from '../src/index.js';

describe('callback mode', () => {
  it('records callbacks with resource type and operation inside the window only', async () => {
    const sink = new InMemoryTraceSink();
    const ops = startOperations({}, { sink });
    try {
      await sleep(5);
      expect(sink.callbacks).toHaveLength(0);
      const window = ops.recordCallbacks({ durationMs: 10_000 });
      let operationId = 0;
      await traced('job', async (op) => {
        operationId = op.operationId;
        await new Promise<void>((resolve) => setTimeout(resolve, 2));
        await new Promise<void>((resolve) => setImmediate(resolve));
      });
      window.stop();
      const summary = await window.done;
      const count = sink.callbacks.length;
      await sleep(5);
      expect(sink.callbacks).toHaveLength(count);
      const starts = sink.callbacks.filter((c) => c.kind === 'callbackStart');
      const ends = sink.callbacks.filter((c) => c.kind === 'callbackEnd');
      expect(summary.callbacks).toBe(starts.length);
      // The operation comes with each callback's end.
      const endOf = (asyncId: number | undefined) => ends.find((c) => c.asyncId === asyncId);
      const timeout = starts.find((c) => c.resourceType === 'Timeout');
      const immediate = starts.find((c) => c.resourceType === 'Immediate');
      expect(endOf(timeout?.asyncId)?.operationId).toBe(operationId);
      expect(endOf(immediate?.asyncId)?.operationId).toBe(operationId);
      // Every start has its end, in nesting order.
      const open: number[] = [];
      for (const c of sink.callbacks) {
        if (c.kind === 'callbackStart') open.push(c.asyncId);
        else expect(open.pop()).toBe(c.asyncId);
      }
      expect(ends.length).toBeGreaterThanOrEqual(starts.length - open.length);
    } finally {
      await ops.stop();
    }
  });

  it('closes by itself after durationMs', async () => {
    const sink = new InMemoryTraceSink();
    const ops = startOperations({}, { sink });
    try {
      const window = ops.recordCallbacks({ durationMs: 30 });
      const summary = await window.done;
      expect(summary.durationMs).toBeGreaterThanOrEqual(25);
      const count = sink.callbacks.length;
      await sleep(10);
      expect(sink.callbacks.length).toBe(count);
    } finally {
      await ops.stop();
    }
  });

  it('refuses bad durations and a missing trace', async () => {
    const ops = startOperations({}, { sink: new InMemoryTraceSink() });
    try {
      expect(() => ops.recordCallbacks({ durationMs: 0 })).toThrow('recordCallbacks() durationMs must be a number of milliseconds above 0 and at most 600000, got 0');
      expect(() => ops.recordCallbacks({ durationMs: Number.NaN })).toThrow('got NaN');
      expect(() => ops.recordCallbacks(null as never)).toThrow('recordCallbacks() options must be an object');
    } finally {
      await ops.stop();
    }
    const bare = startOperations({});
    try {
      expect(() => bare.recordCallbacks({ durationMs: 10 })).toThrow(/writes callbacks into the trace/);
    } finally {
      await bare.stop();
    }
  });
});
