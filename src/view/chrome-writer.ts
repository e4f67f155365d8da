// Writes the Trace Event Format (the JSON that chrome://tracing, Perfetto's UI and speedscope
// read): metadata events name the process and each thread, complete events ("X") carry slices,
// instant events ("i") stack samples and counter events ("C") queue depths and utilization.
// Times are microseconds with a fraction, so nanoseconds survive. Child tracks of a loop (long
// tasks, GC, operations) become pseudo-threads next to it, since the format has no nested tracks.

import type { ArgValue, CounterSpec, SliceTrack, TimelineWriter } from './timeline-writer.js';

const DRAIN_CHARS = 1 << 20;
const encoder = new TextEncoder();
const TRACK_OFFSETS: Record<SliceTrack, number> = { loop: 0, 'long-tasks': 1, gc: 2, operations: 3 };
const TRACK_LABELS: Record<SliceTrack, string> = { loop: '', 'long-tasks': ' · long tasks', gc: ' · GC', operations: ' · operations' };
/** Pseudo-thread ids: a loop's own id times this, plus its track's offset. */
const TIDS_PER_LOOP = 8;

export class ChromeTraceWriter implements TimelineWriter {
  private pid = 0;
  private parts: string[] = ['{"displayTimeUnit":"ns","traceEvents":[\n'];
  private chars = 0;
  private firstEvent = true;
  private readonly names = new Map<number, string>();
  private readonly named = new Set<number>();

  process(pid: number, name: string): void {
    this.pid = pid;
    this.push({ ph: 'M', pid, tid: 0, name: 'process_name', args: { name } });
  }

  thread(threadId: number, name: string): void {
    if (this.names.has(threadId)) return;
    this.names.set(threadId, name);
    this.nameTrack(threadId, 'loop');
  }

  slice(threadId: number, track: SliceTrack, name: string, startNs: number, endNs: number, args?: Record<string, ArgValue>): void {
    const tid = this.nameTrack(threadId, track);
    this.push({ ph: 'X', pid: this.pid, tid, name, ts: us(startNs), dur: us(endNs - startNs), ...(args === undefined ? {} : { args }) });
  }

  stack(threadId: number, timeNs: number, frames: readonly string[]): void {
    const tid = this.nameTrack(threadId, 'long-tasks');
    this.push({ ph: 'i', s: 't', pid: this.pid, tid, name: 'stack sample', ts: us(timeNs), args: { stack: frames.join('\n') } });
  }

  counter(threadId: number, spec: CounterSpec, timeNs: number, value: number): void {
    const who = threadId === 0 ? '' : `${this.names.get(threadId) ?? `thread ${threadId}`}: `;
    this.push({ ph: 'C', pid: this.pid, tid: threadId * TIDS_PER_LOOP, name: `${who}${spec.name}`, ts: us(timeNs), args: { value } });
  }

  drain(): Uint8Array {
    if (this.chars < DRAIN_CHARS) return new Uint8Array(0);
    return this.take();
  }

  finish(): Uint8Array {
    this.parts.push('\n]}\n');
    return this.take();
  }

  private take(): Uint8Array {
    const out = encoder.encode(this.parts.join(''));
    this.parts = [];
    this.chars = 0;
    return out;
  }

  private nameTrack(threadId: number, track: SliceTrack): number {
    const tid = threadId * TIDS_PER_LOOP + TRACK_OFFSETS[track];
    if (!this.named.has(tid)) {
      this.named.add(tid);
      if (!this.names.has(threadId)) this.names.set(threadId, `thread ${threadId}`);
      const name = `${this.names.get(threadId)}${TRACK_LABELS[track]}`;
      this.push({ ph: 'M', pid: this.pid, tid, name: 'thread_name', args: { name } });
      this.push({ ph: 'M', pid: this.pid, tid, name: 'thread_sort_index', args: { sort_index: tid } });
    }
    return tid;
  }

  private push(event: object): void {
    const text = (this.firstEvent ? '' : ',\n') + JSON.stringify(event);
    this.firstEvent = false;
    this.parts.push(text);
    this.chars += text.length;
  }
}

function us(ns: number): number {
  return Math.round(ns) / 1000;
}
