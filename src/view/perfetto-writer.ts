// Writes Perfetto's protobuf trace format: a Trace message is a sequence of `packet` fields
// (field 1), so packets are appended one after another and the file can be written as it grows.
// One process track, a thread track per event loop (named), child tracks for long tasks, GC,
// operations and stack samples, and counter tracks; event names are interned on one packet
// sequence. Field numbers are those of Perfetto's published protos (protos/perfetto/trace/...),
// which test/fixtures/perfetto/*.proto reproduce for the independent decoder in the tests.

import { ProtoWriter } from './protobuf-writer.js';
import type { ArgValue, CounterSpec, SliceTrack, TimelineWriter } from './timeline-writer.js';

/** trace_packet.proto */
const Packet = {
  timestamp: 8,
  trustedPacketSequenceId: 10,
  trackEvent: 11,
  internedData: 12,
  sequenceFlags: 13,
  trackDescriptor: 60,
} as const;
/** TracePacket.SequenceFlags */
const SEQ_INCREMENTAL_STATE_CLEARED = 1;
const SEQ_NEEDS_INCREMENTAL_STATE = 2;
/** track_descriptor.proto */
const Track = { uuid: 1, name: 2, process: 3, thread: 4, parentUuid: 5, counter: 8 } as const;
/** process_descriptor.proto, thread_descriptor.proto, counter_descriptor.proto */
const ProcessDesc = { pid: 1, processName: 6 } as const;
const ThreadDesc = { pid: 1, tid: 2, threadName: 5 } as const;
const CounterDesc = { unit: 3 } as const;
const UNIT_TIME_NS = 1;
const UNIT_COUNT = 2;
/** track_event.proto */
const Event = { debugAnnotations: 4, type: 9, nameIid: 10, trackUuid: 11, counterValue: 30, doubleCounterValue: 44, callstack: 55 } as const;
const TYPE_SLICE_BEGIN = 1;
const TYPE_SLICE_END = 2;
const TYPE_INSTANT = 3;
const TYPE_COUNTER = 4;
/** TrackEvent.InlineCallstack and its Frame */
const Callstack = { frames: 1 } as const;
const Frame = { functionName: 1, sourceFile: 2, lineNumber: 3 } as const;
/** debug_annotation.proto */
const Annotation = { uintValue: 3, doubleValue: 5, stringValue: 6, name: 10 } as const;
/** interned_data.proto: event_names, each an EventName { iid = 1, name = 2 } */
const Interned = { eventNames: 2 } as const;

const SEQUENCE_ID = 1;
const PROCESS_UUID = 1;
/** Bytes buffered before drain() hands them out. */
const DRAIN_BYTES = 1 << 20;

const CHILD_TRACKS: readonly (SliceTrack | 'stacks')[] = ['long-tasks', 'gc', 'operations', 'stacks'];
const CHILD_NAMES: Record<string, string> = { 'long-tasks': 'long tasks', gc: 'GC', operations: 'operations', stacks: 'stack samples' };

export class PerfettoWriter implements TimelineWriter {
  private readonly w = new ProtoWriter(DRAIN_BYTES * 2);
  private pid = 0;
  private nextUuid = PROCESS_UUID + 1;
  private readonly threadUuids = new Map<number, number>();
  private readonly childUuids = new Map<string, number>();
  private readonly counterUuids = new Map<string, number>();
  private readonly nameIids = new Map<string, number>();
  private first = true;

  process(pid: number, name: string): void {
    this.pid = pid;
    this.beginPacket(-1);
    this.w.begin(Packet.trackDescriptor);
    this.w.uint(Track.uuid, PROCESS_UUID);
    this.w.begin(Track.process);
    this.w.uint(ProcessDesc.pid, pid);
    this.w.string(ProcessDesc.processName, name);
    this.w.end();
    this.w.end();
    this.w.end();
  }

  thread(threadId: number, name: string, isMain: boolean): void {
    if (this.threadUuids.has(threadId)) return;
    const uuid = this.nextUuid++;
    this.threadUuids.set(threadId, uuid);
    this.beginPacket(-1);
    this.w.begin(Packet.trackDescriptor);
    this.w.uint(Track.uuid, uuid);
    this.w.uint(Track.parentUuid, PROCESS_UUID);
    this.w.begin(Track.thread);
    this.w.uint(ThreadDesc.pid, this.pid);
    // Perfetto wants a thread id per thread; the main thread's is the pid, workers get pid + n.
    this.w.uint(ThreadDesc.tid, isMain ? this.pid : this.pid + threadId);
    this.w.string(ThreadDesc.threadName, name);
    this.w.end();
    this.w.end();
    this.w.end();
    for (const track of CHILD_TRACKS) {
      const child = this.nextUuid++;
      this.childUuids.set(`${threadId}/${track}`, child);
      this.descriptor(child, uuid, CHILD_NAMES[track]!);
    }
  }

  slice(threadId: number, track: SliceTrack, name: string, startNs: number, endNs: number, args?: Record<string, ArgValue>): void {
    const uuid = track === 'loop' ? this.threadTrack(threadId) : this.childTrack(threadId, track);
    const iid = this.iid(name);
    this.event(uuid, startNs, TYPE_SLICE_BEGIN, iid);
    if (args !== undefined) this.annotations(args);
    this.w.end();
    this.w.end();
    this.event(uuid, endNs, TYPE_SLICE_END, 0);
    this.w.end();
    this.w.end();
  }

  stack(threadId: number, timeNs: number, frames: readonly string[]): void {
    const uuid = this.childTrack(threadId, 'stacks');
    this.event(uuid, timeNs, TYPE_INSTANT, this.iid(frames[0] ?? '(no JavaScript on the stack)'));
    this.annotations({ stack: frames.join('\n') });
    this.w.begin(Event.callstack);
    for (const line of frames) {
      const m = /^(.*) \((.*):(\d+):\d+\)$/.exec(line);
      this.w.begin(Callstack.frames);
      this.w.string(Frame.functionName, m === null ? line : m[1]!);
      if (m !== null) {
        this.w.string(Frame.sourceFile, m[2]!);
        this.w.uint(Frame.lineNumber, Number(m[3]));
      }
      this.w.end();
    }
    this.w.end();
    this.w.end();
    this.w.end();
  }

  counter(threadId: number, spec: CounterSpec, timeNs: number, value: number): void {
    const key = `${threadId}/${spec.name}`;
    let uuid = this.counterUuids.get(key);
    if (uuid === undefined) {
      uuid = this.nextUuid++;
      this.counterUuids.set(key, uuid);
      const parent = threadId === 0 ? PROCESS_UUID : this.threadTrack(threadId);
      this.beginPacket(-1);
      this.w.begin(Packet.trackDescriptor);
      this.w.uint(Track.uuid, uuid);
      this.w.uint(Track.parentUuid, parent);
      this.w.string(Track.name, spec.name);
      this.w.begin(Track.counter);
      if (spec.unit !== 'ratio') this.w.uint(CounterDesc.unit, spec.unit === 'ns' ? UNIT_TIME_NS : UNIT_COUNT);
      this.w.end();
      this.w.end();
      this.w.end();
    }
    this.event(uuid, timeNs, TYPE_COUNTER, 0);
    if (Number.isInteger(value) && value >= 0) this.w.uint(Event.counterValue, value);
    else this.w.double(Event.doubleCounterValue, value);
    this.w.end();
    this.w.end();
  }

  drain(): Uint8Array {
    if (this.w.length < DRAIN_BYTES) return new Uint8Array(0);
    return this.take();
  }

  finish(): Uint8Array {
    return this.take();
  }

  private take(): Uint8Array {
    const out = this.w.bytes().slice();
    this.w.reset();
    return out;
  }

  private threadTrack(threadId: number): number {
    let uuid = this.threadUuids.get(threadId);
    if (uuid === undefined) {
      this.thread(threadId, `thread ${threadId}`, threadId === 1);
      uuid = this.threadUuids.get(threadId)!;
    }
    return uuid;
  }

  private childTrack(threadId: number, track: string): number {
    this.threadTrack(threadId);
    return this.childUuids.get(`${threadId}/${track}`)!;
  }

  private descriptor(uuid: number, parent: number, name: string): void {
    this.beginPacket(-1);
    this.w.begin(Packet.trackDescriptor);
    this.w.uint(Track.uuid, uuid);
    this.w.uint(Track.parentUuid, parent);
    this.w.string(Track.name, name);
    this.w.end();
    this.w.end();
  }

  /** Opens a packet (and for timeNs >= 0 its track event); the caller closes what it opened. */
  private beginPacket(timeNs: number): void {
    this.w.begin(1);
    if (timeNs >= 0) this.w.uint(Packet.timestamp, Math.round(timeNs));
    this.w.uint(Packet.trustedPacketSequenceId, SEQUENCE_ID);
    if (this.first) {
      this.w.uint(Packet.sequenceFlags, SEQ_INCREMENTAL_STATE_CLEARED);
      this.first = false;
    } else {
      this.w.uint(Packet.sequenceFlags, SEQ_NEEDS_INCREMENTAL_STATE);
    }
  }

  /** Opens a packet holding a track event; two end() calls close it. */
  private event(trackUuid: number, timeNs: number, type: number, nameIid: number): void {
    const newName = nameIid > 0 && this.pendingName !== undefined ? this.pendingName : undefined;
    this.pendingName = undefined;
    this.beginPacket(timeNs);
    if (newName !== undefined) {
      this.w.begin(Packet.internedData);
      this.w.begin(Interned.eventNames);
      this.w.uint(1, nameIid);
      this.w.string(2, newName);
      this.w.end();
      this.w.end();
    }
    this.w.begin(Packet.trackEvent);
    this.w.uint(Event.type, type);
    this.w.uint(Event.trackUuid, trackUuid);
    if (nameIid > 0) this.w.uint(Event.nameIid, nameIid);
  }

  /** A name first seen is interned in the next event's packet. */
  private pendingName: string | undefined;

  private iid(name: string): number {
    let iid = this.nameIids.get(name);
    if (iid === undefined) {
      iid = this.nameIids.size + 1;
      this.nameIids.set(name, iid);
      this.pendingName = name;
    }
    return iid;
  }

  private annotations(args: Record<string, ArgValue>): void {
    for (const [name, value] of Object.entries(args)) {
      this.w.begin(Event.debugAnnotations);
      this.w.string(Annotation.name, name);
      if (typeof value === 'string') this.w.string(Annotation.stringValue, value);
      else if (Number.isInteger(value) && value >= 0) this.w.uint(Annotation.uintValue, value);
      else this.w.double(Annotation.doubleValue, value);
      this.w.end();
    }
  }
}
