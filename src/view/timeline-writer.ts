// The interface between the trace walk (export-trace.ts) and the file formats it writes (Perfetto
// protobuf, Chrome JSON). A writer hears about the process, its threads, slices on a thread's
// tracks, instants and counter values, in the order the walk finds them (slices are reported when
// they end, so times are not globally ordered), and hands out bytes to write as it goes.

export type SliceTrack = 'loop' | 'long-tasks' | 'gc' | 'operations';
export type CounterUnit = 'ns' | 'count' | 'ratio';

export interface CounterSpec {
  /** Shown as the track name, for example "events waiting". */
  name: string;
  unit: CounterUnit;
}

export type ArgValue = string | number;

export interface TimelineWriter {
  process(pid: number, name: string): void;
  thread(threadId: number, name: string, isMain: boolean): void;
  slice(threadId: number, track: SliceTrack, name: string, startNs: number, endNs: number, args?: Record<string, ArgValue>): void;
  /** A point event on the thread's "stack samples" track; frames innermost first. */
  stack(threadId: number, timeNs: number, frames: readonly string[]): void;
  /** A counter value; threadId 0 is a process-wide counter. */
  counter(threadId: number, spec: CounterSpec, timeNs: number, value: number): void;
  /** Bytes ready to be written since the last call (may be empty). */
  drain(): Uint8Array;
  /** The last bytes, after which the writer is done. */
  finish(): Uint8Array;
}
