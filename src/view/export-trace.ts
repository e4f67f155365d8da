// Walks a trace's files once and feeds a TimelineWriter (Perfetto or Chrome JSON): the process and
// its threads from the headers, busy stretches and long tasks from the LoopSlicer, GC pauses,
// operations and stack samples, and counters (events waiting, active handles and requests,
// threadpool delay, utilization). The output is written as it is produced, so memory stays
// bounded whatever the trace's size.

import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { TraceDecoder } from '../format/decoder.js';
import type { TraceRecord } from '../format/records.js';
import { describeFsError, InputError, type TraceInput } from '../analyze/input.js';
import { LoopSlicer } from './loop-slicer.js';
import { formatStack, gcName } from './stack-format.js';
import type { CounterSpec, TimelineWriter } from './timeline-writer.js';

const CHUNK_BYTES = 1 << 20;
/** Stack samples kept per thread to attribute the long task they fall in. */
const RECENT_STACKS = 16;

export const COUNTERS = {
  eventsWaiting: { name: 'events waiting', unit: 'count' },
  activeHandles: { name: 'active handles', unit: 'count' },
  activeRequests: { name: 'active requests', unit: 'count' },
  threadpoolDelay: { name: 'threadpool delay', unit: 'ns' },
  utilization: { name: 'utilization', unit: 'ratio' },
} as const satisfies Record<string, CounterSpec>;

export interface ExportOptions {
  /** A busy stretch this long is a long task. */
  longTaskNs: number;
  onDiagnostic?: (message: string) => void;
}

export interface ExportSummary {
  records: number;
  bytesWritten: number;
  longTasks: number;
}

/** Exports one trace to outPath with the given writer. */
export function exportTrace(trace: TraceInput, outPath: string, writer: TimelineWriter, options: ExportOptions): ExportSummary {
  let fd: number;
  try {
    fd = openSync(outPath, 'w', 0o600);
  } catch (error) {
    throw new InputError(`cannot write ${outPath}: ${describeFsError(error)}`);
  }
  let bytesWritten = 0;
  const flush = (bytes: Uint8Array): void => {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    bytesWritten += bytes.length;
  };
  try {
    const summary = walk(trace, writer, options, flush);
    flush(writer.finish());
    return { ...summary, bytesWritten };
  } finally {
    closeSync(fd);
  }
}

function walk(trace: TraceInput, writer: TimelineWriter, options: ExportOptions, flush: (b: Uint8Array) => void): Omit<ExportSummary, 'bytesWritten'> {
  let records = 0;
  let longTasks = 0;
  let described = false;
  const lastWaiting: number[] = [];
  const recentStacks = new Map<number, { timeNs: number; stackId: number }[]>();
  let decoder!: TraceDecoder;

  const slicer = new LoopSlicer({
    busy(threadId, startNs, endNs, ioNs, timersNs) {
      if (!(endNs > startNs)) return;
      writer.slice(threadId, 'loop', 'busy', startNs, endNs);
      const durationNs = endNs - startNs;
      if (durationNs < options.longTaskNs) return;
      longTasks++;
      const args: Record<string, string | number> = {
        durationMs: durationNs / 1e6,
        ioCallbacksMs: ioNs / 1e6,
        timersImmediatesMs: timersNs / 1e6,
        phase: ioNs > timersNs ? 'io-callbacks' : 'timers-immediates',
      };
      const stacks = (recentStacks.get(threadId) ?? []).filter((s) => s.timeNs >= startNs && s.timeNs <= endNs);
      const top = stacks.find((s) => s.stackId !== 0);
      if (top !== undefined) args.stack = formatStack(decoder.stacks.get(top.stackId), decoder.strings).join('\n');
      writer.slice(threadId, 'long-tasks', 'long task', startNs, endNs, args);
    },
    gc(threadId, startNs, durationNs, gcType) {
      writer.slice(threadId, 'gc', gcName(gcType), startNs, startNs + durationNs, { gcType });
    },
    stack(threadId, timeNs, stackId) {
      let list = recentStacks.get(threadId);
      if (list === undefined) recentStacks.set(threadId, (list = []));
      list.push({ timeNs, stackId });
      if (list.length > RECENT_STACKS) list.shift();
      writer.stack(threadId, timeNs, formatStack(decoder.stacks.get(stackId), decoder.strings));
    },
    operation(threadId, operationId, startNs, endNs, name, status) {
      if (startNs < 0) return;
      writer.slice(threadId, 'operations', name || `operation ${operationId}`, startNs, endNs, { operationId, status: status === 0 ? 'ok' : 'failed' });
    },
    utilization(threadId, bucketStartNs, ratio) {
      writer.counter(threadId, COUNTERS.utilization, bucketStartNs, ratio);
    },
  });

  const onRecord = (r: TraceRecord): void => {
    records++;
    slicer.onRecord(r);
    switch (r.type) {
      case 'pollEnd':
        if (lastWaiting[r.threadId] !== r.eventsWaiting) {
          lastWaiting[r.threadId] = r.eventsWaiting;
          writer.counter(r.threadId, COUNTERS.eventsWaiting, r.timeNs, r.eventsWaiting);
        }
        break;
      case 'queueSample':
        writer.counter(r.threadId, COUNTERS.activeHandles, r.timeNs, r.activeHandles);
        writer.counter(r.threadId, COUNTERS.activeRequests, r.timeNs, r.activeRequests);
        break;
      case 'threadpoolProbe':
        writer.counter(0, COUNTERS.threadpoolDelay, r.timeNs, r.queueDelayNs);
        break;
      case 'threadStart': {
        const info = decoder.threads.get(r.threadId);
        writer.thread(r.threadId, info?.name || `thread ${r.threadId}`, r.kind === 0);
        break;
      }
      default:
        break;
    }
  };

  decoder = new TraceDecoder({
    onRecord,
    onHeader: (h) => {
      if (!described) {
        described = true;
        const service = h.serviceName ?? 'node';
        writer.process(h.pid ?? 0, h.pid === undefined ? service : `${service} (pid ${h.pid})`);
      }
      for (const t of h.threads) writer.thread(t.threadId, t.name || (t.kind === 0 ? 'main' : `thread ${t.threadId}`), t.kind === 0);
    },
    onDiagnostic: (d) => {
      if (d.kind === 'corrupt-frame' || d.kind === 'truncated' || d.kind === 'bad-magic' || d.kind === 'malformed-header') slicer.gapAll();
      options.onDiagnostic?.(`${d.kind} at offset ${d.offset}`);
    },
  });

  const chunk = new Uint8Array(CHUNK_BYTES);
  for (const file of trace.files) {
    let fd: number;
    try {
      fd = openSync(file.path, 'r');
    } catch (error) {
      options.onDiagnostic?.(`skipped ${file.path}: ${describeFsError(error)}`);
      continue;
    }
    try {
      for (;;) {
        const n = readSync(fd, chunk, 0, chunk.length, null);
        if (n === 0) break;
        decoder.push(chunk.subarray(0, n));
        const ready = writer.drain();
        if (ready.length > 0) flush(ready);
      }
      decoder.end();
    } finally {
      closeSync(fd);
    }
  }
  slicer.finish();
  return { records, longTasks };
}
