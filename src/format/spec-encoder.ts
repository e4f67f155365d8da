// Encodes a whole trace from a plain description: used to write golden vectors, fixtures and
// property tests, where records are data rather than calls.

import { TraceEncoder } from './encoder.js';
import type { TraceHeaderInit, TraceRecord } from './records.js';

export interface FrameSpec {
  threadId: number;
  baseTimeNs: number;
  /** Records in time order; their own threadId is ignored in favour of the frame's. */
  records: TraceRecord[];
}

export interface TraceSpec {
  header: TraceHeaderInit;
  frames: FrameSpec[];
}

export function encodeTrace(spec: TraceSpec, encoder = new TraceEncoder()): Uint8Array {
  encoder.writeMagic();
  encoder.writeHeader(spec.header);
  for (const frame of spec.frames) {
    encoder.beginFrame(frame.threadId, frame.baseTimeNs);
    for (const record of frame.records) encoder.record(record);
    encoder.endFrame();
  }
  return encoder.take();
}
