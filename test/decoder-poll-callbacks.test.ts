// TraceDecoder's PollCallbacks (the viewer's columnar path): POLL_START and POLL_END come out as
// plain numbers, the same values and order as through onRecord, and every other record still
// reaches onRecord; stats count every record either way.

import { describe, expect, it } from 'vitest';
import { TraceDecoder, TraceEncoder } from '../src/format/index.js';
import { Rng } from './helpers.js';

describe('TraceDecoder PollCallbacks', () => {
  it('gives POLL_START and POLL_END as numbers, in order, and the rest to onRecord', () => {
    const rng = new Rng(3);
    const enc = new TraceEncoder();
    enc.writeMagic();
    enc.writeHeader({ traceId: 'ef'.repeat(16), fileIndex: 0, originMonoNs: 1n, originWallUnixNs: 1n, fileStartNs: 0, threads: [{ threadId: 1, nodeThreadId: 0, kind: 0, name: 'main' }] });
    let t = 0;
    for (let f = 0; f < 20; f++) {
      enc.beginFrame(1 + (f % 3), t);
      for (let i = 0; i < 500; i++) {
        t += rng.u32() % 100_000;
        const k = rng.u32() % 10;
        if (k < 4) enc.pollStart(t);
        else if (k < 8) enc.pollEnd(t, rng.u32() % 50_000, rng.u32() % 9, rng.u32() % 300);
        else enc.record({ type: 'threadpoolProbe', threadId: 0, timeNs: t, queueDelayNs: rng.u32() % 1_000_000 });
      }
      enc.endFrame();
    }
    const bytes = enc.take();
    const viaRecords: string[] = [];
    const plain = new TraceDecoder({
      onRecord: (r) => viaRecords.push(r.type === 'pollStart' ? `S ${r.threadId} ${r.timeNs}` : r.type === 'pollEnd' ? `E ${r.threadId} ${r.timeNs} ${r.blockedNs} ${r.events} ${r.eventsWaiting}` : `R ${r.type} ${r.threadId} ${r.timeNs}`),
    });
    plain.push(bytes);
    plain.end();
    const viaNumbers: string[] = [];
    const fast = new TraceDecoder(
      { onRecord: (r) => viaNumbers.push(`R ${r.type} ${r.threadId} ${r.timeNs}`) },
      {
        onPollStart: (threadId, timeNs) => viaNumbers.push(`S ${threadId} ${timeNs}`),
        onPollEnd: (threadId, timeNs, blockedNs, events, eventsWaiting) => viaNumbers.push(`E ${threadId} ${timeNs} ${blockedNs} ${events} ${eventsWaiting}`),
      },
    );
    fast.push(bytes);
    fast.end();
    expect(viaRecords.filter((x) => x.startsWith('S')).length).toBeGreaterThan(1000);
    expect(viaRecords.filter((x) => x.startsWith('R')).length).toBeGreaterThan(500);
    expect(viaNumbers).toEqual(viaRecords);
    expect(fast.stats).toEqual(plain.stats);
  });
});
