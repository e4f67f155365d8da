// The streaming decoder of docs/FORMAT.md. Bytes go in through push() in chunks of any size;
// records, headers and diagnostics come out through callbacks. It never throws on input bytes,
// and it allocates nothing per counted record: each record type has one object that is refilled
// for every record, so a callback that keeps a record must copy it.

import {
  EXTENDED_TYPE,
  FILE_MAGIC,
  FORMAT_MAJOR,
  FRAME_HEADER_BYTES,
  FrameKind,
  HeaderKey,
  MAX_FRAME_BODY_BYTES,
  SHAPE_BYTES,
  SHAPE_SHIFT,
  TYPE_MASK,
} from './constants.js';
import { crc32c } from './crc32c.js';
import type { TraceDiagnostic } from './diagnostics.js';
import { bytesToHex } from './hex.js';
import type {
  CallbackEndRecord,
  CallbackStartRecord,
  ClockSyncRecord,
  DroppedRecord,
  ResumedRecord,
  SelfCostRecord,
  GcPauseRecord,
  MarkRecord,
  OperationEndRecord,
  OperationStartRecord,
  PollEndRecord,
  PollStartRecord,
  QueueSampleRecord,
  StackFrame,
  StackSampleRecord,
  ThreadSchedRecord,
  ThreadCpuRecord,
  ThreadInfo,
  ThreadStartRecord,
  ThreadStopRecord,
  ThreadpoolProbeRecord,
  TraceHeader,
  TraceRecord,
  UserQueueSampleRecord,
} from './records.js';

export interface DecoderCallbacks {
  /** Called for every record. The object is reused for the next record of its type: copy it to keep it. */
  onRecord?: (record: TraceRecord) => void;
  onHeader?: (header: TraceHeader) => void;
  onDiagnostic?: (diagnostic: TraceDiagnostic) => void;
}

/**
 * The two commonest records as plain numbers, for a consumer that fills typed columns (the
 * viewer's decode worker): given to the constructor, they are called for POLL_START and POLL_END
 * instead of onRecord, so these records fill no record object and go through one monomorphic call.
 */
export interface PollCallbacks {
  onPollStart: (threadId: number, timeNs: number) => void;
  onPollEnd: (threadId: number, timeNs: number, blockedNs: number, events: number, eventsWaiting: number) => void;
}

export interface DecoderStats {
  bytes: number;
  frames: number;
  records: number;
  corruptFrames: number;
  truncated: number;
  unknownRecords: number;
}

const enum State {
  /** Expecting the file magic at the start of an input. */
  Magic,
  /** Magic read; expecting the header frame. */
  Header,
  Frames,
  /** The file's major version is unknown: skip frames until the next magic. */
  SkipFile,
}

/** varint() results that are not values. */
const PAST_END = -1;
const TOO_LARGE = -2;

const MAGIC_FIRST = FILE_MAGIC[0]!;
const SYNC_FIRST = 0xf5;

const textDecoder = new TextDecoder('utf-8');
const EMPTY = new Uint8Array(0);

export class TraceDecoder {
  readonly stats: DecoderStats = { bytes: 0, frames: 0, records: 0, corruptFrames: 0, truncated: 0, unknownRecords: 0 };
  /** Threads of the current trace, from its header and THREAD_START records. */
  readonly threads = new Map<number, ThreadInfo>();
  /** Strings and stacks of the current trace, from its definitions. */
  readonly strings = new Map<number, string>();
  readonly stacks = new Map<number, StackFrame[]>();
  /** The header of the file being decoded, once read. */
  header: TraceHeader | undefined;

  private readonly onRecord: (record: TraceRecord) => void;
  private readonly onHeader: (header: TraceHeader) => void;
  private readonly onDiagnostic: (diagnostic: TraceDiagnostic) => void;
  private readonly onPollStart: PollCallbacks['onPollStart'] | undefined;
  private readonly onPollEnd: PollCallbacks['onPollEnd'] | undefined;

  private state = State.Magic;
  /** Unconsumed input: either the caller's chunk or this.carry. */
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private limit = 0;
  private carry: Uint8Array = EMPTY;
  /** Input offset of buf[0], so diagnostics carry offsets into the whole input. */
  private bufOffset = 0;
  private inputBytes = 0;
  /** Start (input offset) and reason of a damaged region being skipped, or -1. */
  private badOffset = -1;
  private badReason = '';
  /** Input offset just after the latest magic: where that file's header frame must start. */
  private headerAt = -1;
  private readonly reportedRecordTypes = new Set<number>();
  private readonly reportedFrameKinds = new Set<number>();

  /** Cursor of varint() and the limit it may not pass. */
  private cur = 0;
  private lim = 0;

  private readonly rPollStart: PollStartRecord = { type: 'pollStart', threadId: 0, timeNs: 0 };
  private readonly rPollEnd: PollEndRecord = { type: 'pollEnd', threadId: 0, timeNs: 0, blockedNs: 0, events: 0, eventsWaiting: 0 };
  private readonly rThreadCpu: ThreadCpuRecord = { type: 'threadCpu', threadId: 0, timeNs: 0, wallNs: 0, cpuNs: 0 };
  private readonly rQueueSample: QueueSampleRecord = { type: 'queueSample', threadId: 0, timeNs: 0, activeHandles: 0, activeRequests: 0, eventsWaiting: 0 };
  private readonly rThreadpoolProbe: ThreadpoolProbeRecord = { type: 'threadpoolProbe', threadId: 0, timeNs: 0, queueDelayNs: 0 };
  private readonly rGcPause: GcPauseRecord = { type: 'gcPause', threadId: 0, timeNs: 0, durationNs: 0, gcType: 0 };
  private readonly rStackSample: StackSampleRecord = { type: 'stackSample', threadId: 0, timeNs: 0, stackId: 0, reason: 0, lagNs: 0 };
  private readonly rThreadSched: ThreadSchedRecord = { type: 'threadSched', threadId: 0, timeNs: 0, runnableNs: 0 };
  private readonly rCallbackStart: CallbackStartRecord = { type: 'callbackStart', threadId: 0, timeNs: 0, asyncId: 0, resourceTypeStringId: 0, siteStackId: 0 };
  private readonly rCallbackEnd: CallbackEndRecord = { type: 'callbackEnd', threadId: 0, timeNs: 0, asyncId: 0, operationId: 0 };
  private readonly rOperationStart: OperationStartRecord = { type: 'operationStart', threadId: 0, timeNs: 0, operationId: 0, nameStringId: 0 };
  private readonly rOperationEnd: OperationEndRecord = { type: 'operationEnd', threadId: 0, timeNs: 0, operationId: 0, status: 0 };
  private readonly rMark: MarkRecord = { type: 'mark', threadId: 0, timeNs: 0, nameStringId: 0, value: 0 };
  private readonly rUserQueueSample: UserQueueSampleRecord = { type: 'userQueueSample', threadId: 0, timeNs: 0, nameStringId: 0, depth: 0 };
  private readonly rDropped: DroppedRecord = { type: 'dropped', threadId: 0, timeNs: 0, droppedRecords: 0 };
  private readonly rThreadStart: ThreadStartRecord = { type: 'threadStart', threadId: 0, timeNs: 0, nodeThreadId: 0, nameStringId: 0, kind: 0 };
  private readonly rThreadStop: ThreadStopRecord = { type: 'threadStop', threadId: 0, timeNs: 0, reason: 0 };
  private readonly rClockSync: ClockSyncRecord = { type: 'clockSync', threadId: 0, timeNs: 0, wallOffsetNs: 0 };
  private readonly rResumed: ResumedRecord = { type: 'resumed', threadId: 0, timeNs: 0 };
  private readonly rSelfCost: SelfCostRecord = { type: 'selfCost', threadId: 0, timeNs: 0, component: 0, cpuNs: 0 };

  constructor(callbacks: DecoderCallbacks = {}, poll?: PollCallbacks) {
    const noop = (): void => {};
    this.onRecord = callbacks.onRecord ?? noop;
    this.onHeader = callbacks.onHeader ?? noop;
    this.onDiagnostic = callbacks.onDiagnostic ?? noop;
    this.onPollStart = poll?.onPollStart;
    this.onPollEnd = poll?.onPollEnd;
  }

  /** Decodes as much of `chunk` as it can; the rest waits for the next push() or end(). */
  push(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) {
      throw new TypeError(`looptrace: TraceDecoder.push() takes a Uint8Array, got ${describe(chunk)}`);
    }
    if (chunk.length === 0) return;
    this.inputBytes += chunk.length;
    this.stats.bytes += chunk.length;
    if (this.pos === this.limit) {
      this.bufOffset += this.pos;
      this.buf = chunk;
      this.pos = 0;
      this.limit = chunk.length;
    } else {
      this.append(chunk);
    }
    this.run(false);
    this.keepRemainder();
  }

  /**
   * Ends the current input: reports a truncated tail or a damaged region that runs to the end.
   * The decoder can then read another input (the next file of a set); strings, stacks and
   * threads carry over while the trace id stays the same.
   */
  end(): void {
    this.run(true);
    if (this.inputBytes === 0) {
      this.stats.truncated++;
      this.onDiagnostic({ kind: 'truncated', offset: 0, availableBytes: 0 });
    }
    this.state = State.Magic;
    this.buf = EMPTY;
    this.pos = 0;
    this.limit = 0;
    this.bufOffset = 0;
    this.inputBytes = 0;
    this.badOffset = -1;
    this.headerAt = -1;
  }

  private append(chunk: Uint8Array): void {
    const remaining = this.limit - this.pos;
    const needed = remaining + chunk.length;
    if (this.buf === this.carry && this.carry.length >= needed) {
      this.carry.copyWithin(0, this.pos, this.limit);
    } else {
      const next = new Uint8Array(Math.max(needed, this.carry.length * 2, 1 << 16));
      next.set(this.buf.subarray(this.pos, this.limit));
      this.carry = next;
    }
    this.carry.set(chunk, remaining);
    this.bufOffset += this.pos;
    this.buf = this.carry;
    this.pos = 0;
    this.limit = needed;
  }

  /**
   * Copies unconsumed bytes out of the caller's chunk, which the caller may reuse (or detach, as a
   * BYOB stream reader does): nothing of it is kept.
   */
  private keepRemainder(): void {
    if (this.buf === this.carry) return;
    if (this.pos === this.limit) {
      this.bufOffset += this.pos;
      this.buf = EMPTY;
      this.pos = 0;
      this.limit = 0;
      return;
    }
    const remaining = this.limit - this.pos;
    if (this.carry.length < remaining) this.carry = new Uint8Array(Math.max(remaining, 1 << 16));
    this.carry.set(this.buf.subarray(this.pos, this.limit));
    this.bufOffset += this.pos;
    this.buf = this.carry;
    this.pos = 0;
    this.limit = remaining;
  }

  private run(final: boolean): void {
    const b = this.buf;
    for (;;) {
      const p = this.pos;
      const avail = this.limit - p;
      if (this.state === State.Magic) {
        if (avail < FILE_MAGIC.length) {
          if (!final || avail === 0) return;
          if (isPrefixOfMagic(b, p, this.limit)) this.truncated(p);
          else this.diagnostic({ kind: 'bad-magic', offset: this.bufOffset + p });
          this.pos = this.limit;
          return;
        }
        if (isMagicAt(b, p)) {
          this.pos = p + FILE_MAGIC.length;
          this.headerAt = this.bufOffset + this.pos;
          this.state = State.Header;
          continue;
        }
        this.diagnostic({ kind: 'bad-magic', offset: this.bufOffset + p });
        // Look for frames anyway: only the magic may be damaged. No corrupt-frame is reported for
        // the skipped bytes, since bad-magic already said what is wrong.
        this.state = State.Header;
        this.badOffset = this.bufOffset + p;
        this.badReason = '';
        this.pos = this.nextCandidate(p);
        continue;
      }
      if (avail === 0) {
        // An input that ends where a file's header frame should start is torn there (section 3).
        if (final && this.state === State.Header && this.bufOffset + p === this.headerAt) this.truncated(p);
        if (final) this.closeBadRegion(p);
        return;
      }
      // Inside a damaged region only a sync or magic byte can start anything. A scan that reached
      // the end of the previous chunk resumes here, so that chunking never changes the result.
      if (this.badOffset >= 0 && b[p] !== SYNC_FIRST && b[p] !== MAGIC_FIRST) {
        this.pos = this.nextCandidate(p);
        continue;
      }
      if (b[p] === MAGIC_FIRST && avail >= FILE_MAGIC.length && isMagicAt(b, p)) {
        this.closeBadRegion(p);
        this.pos = p + FILE_MAGIC.length;
        this.headerAt = this.bufOffset + this.pos;
        this.state = State.Header;
        continue;
      }
      if (avail < FRAME_HEADER_BYTES) {
        if (!final) return;
        this.finishTail(p);
        continue;
      }
      if (b[p] !== SYNC_FIRST || b[p + 1] !== 0x4c || b[p + 2] !== 0x54 || b[p + 3] !== 0x46) {
        this.markBad(p, 'no frame sync where a frame should start');
        continue;
      }
      const bodyLength = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
      if (bodyLength === 0 || bodyLength > MAX_FRAME_BODY_BYTES) {
        this.markBad(p, `frame length ${bodyLength} is outside 1..${MAX_FRAME_BODY_BYTES}`);
        continue;
      }
      const frameEnd = p + FRAME_HEADER_BYTES + bodyLength;
      if (frameEnd > this.limit) {
        if (!final) return;
        this.finishTail(p);
        continue;
      }
      const expected = (b[p + 8]! | (b[p + 9]! << 8) | (b[p + 10]! << 16) | (b[p + 11]! << 24)) >>> 0;
      if (crc32c(b, p + FRAME_HEADER_BYTES, frameEnd, crc32c(b, p + 4, p + 8)) !== expected) {
        this.markBad(p, 'checksum mismatch');
        continue;
      }
      this.closeBadRegion(p);
      this.pos = frameEnd;
      this.stats.frames++;
      this.frame(b, p, p + FRAME_HEADER_BYTES, frameEnd);
    }
  }

  /** The frame at p is bad: remember where the damage began and move to the next candidate. */
  private markBad(p: number, reason: string): void {
    if (this.badOffset < 0) {
      this.badOffset = this.bufOffset + p;
      this.badReason = reason;
    }
    this.pos = this.nextCandidate(p + 1);
  }

  /** The next position at or after `from` that could start a frame or a file, or the end. */
  private nextCandidate(from: number): number {
    const b = this.buf;
    const end = this.limit;
    for (let i = from; i < end; i++) {
      const x = b[i];
      if (x === SYNC_FIRST || x === MAGIC_FIRST) return i;
    }
    return end;
  }

  private closeBadRegion(p: number): void {
    if (this.badOffset < 0) return;
    const offset = this.badOffset;
    this.badOffset = -1;
    if (this.badReason === '') return;
    this.stats.corruptFrames++;
    this.onDiagnostic({ kind: 'corrupt-frame', offset, reason: this.badReason, skippedBytes: this.bufOffset + p - offset });
  }

  /**
   * The input ended inside the frame at p. If a good frame or file starts later, the length was
   * wrong and the frame is corrupt (section 4.3); otherwise the tail is truncated.
   */
  private finishTail(p: number): void {
    for (let q = this.nextCandidate(p + 1); q < this.limit; q = this.nextCandidate(q + 1)) {
      if (this.completeFrameOrMagicAt(q)) {
        this.markBad(p, 'frame length runs past the next good frame');
        this.pos = q;
        return;
      }
    }
    if (b0(this.buf, p) === SYNC_FIRST || b0(this.buf, p) === MAGIC_FIRST) {
      this.closeBadRegion(p);
      this.truncated(p);
    } else {
      if (this.badOffset < 0) {
        this.badOffset = this.bufOffset + p;
        this.badReason = 'no frame sync where a frame should start';
      }
      this.closeBadRegion(this.limit);
    }
    this.pos = this.limit;
  }

  private completeFrameOrMagicAt(q: number): boolean {
    const b = this.buf;
    if (this.limit - q >= FILE_MAGIC.length && isMagicAt(b, q)) return true;
    if (this.limit - q < FRAME_HEADER_BYTES || b[q] !== SYNC_FIRST || b[q + 1] !== 0x4c || b[q + 2] !== 0x54 || b[q + 3] !== 0x46) return false;
    const bodyLength = (b[q + 4]! | (b[q + 5]! << 8) | (b[q + 6]! << 16) | (b[q + 7]! << 24)) >>> 0;
    const frameEnd = q + FRAME_HEADER_BYTES + bodyLength;
    if (bodyLength === 0 || bodyLength > MAX_FRAME_BODY_BYTES || frameEnd > this.limit) return false;
    const expected = (b[q + 8]! | (b[q + 9]! << 8) | (b[q + 10]! << 16) | (b[q + 11]! << 24)) >>> 0;
    return crc32c(b, q + FRAME_HEADER_BYTES, frameEnd, crc32c(b, q + 4, q + 8)) === expected;
  }

  private truncated(p: number): void {
    this.stats.truncated++;
    this.onDiagnostic({ kind: 'truncated', offset: this.bufOffset + p, availableBytes: this.limit - p });
  }

  private diagnostic(d: TraceDiagnostic): void {
    this.onDiagnostic(d);
  }

  private frame(b: Uint8Array, frameStart: number, bodyStart: number, bodyEnd: number): void {
    const kind = b[bodyStart]!;
    const offset = this.bufOffset + frameStart;
    if (kind === FrameKind.Header) {
      if (this.state === State.Header) this.headerFrame(b, bodyStart + 1, bodyEnd, offset);
      else this.diagnostic({ kind: 'misplaced-header', offset });
      return;
    }
    if (this.state === State.SkipFile) return;
    if (kind === FrameKind.Records) {
      if (this.state === State.Header) {
        this.diagnostic({ kind: 'malformed-header', offset, reason: 'the file has no readable header frame' });
        this.header = undefined;
        this.state = State.Frames;
      }
      this.recordsFrame(b, bodyStart + 1, bodyEnd, offset);
      return;
    }
    if (!this.reportedFrameKinds.has(kind)) {
      this.reportedFrameKinds.add(kind);
      this.diagnostic({ kind: 'unknown-frame-kind', offset, frameKind: kind });
    }
  }

  private recordsFrame(b: Uint8Array, start: number, end: number, frameOffset: number): void {
    this.cur = start;
    this.lim = end;
    const threadId = this.varint();
    // A base time may exceed 2^53 ns (a process traced for more than 104 days): it is read whole
    // and rounded to the nearest double. Past 2^52 ns each record's time is then the base plus
    // its exact offset in the frame, so rounding never accumulates from record to record.
    const baseNs = this.longVarint();
    let t = baseNs;
    if (threadId < 0 || t < 0) {
      this.malformed(frameOffset, 'bad thread id or base time');
      return;
    }
    const longBase = baseNs >= LONG_TIME_NS;
    let offsetNs = 0;
    // The record loop keeps its cursor in a local: varints go through readVarint(), whose
    // one-byte case is inlined here, rather than through this.cur.
    const onRecord = this.onRecord;
    const onPollStart = this.onPollStart;
    const onPollEnd = this.onPollEnd;
    const stats = this.stats;
    let p = this.cur;
    let f0 = 0;
    let f1 = 0;
    let f2 = 0;
    let x = 0;
    let y = 0;
    let z = 0;
    while (p < end) {
      const recordStart = p;
      const tag = b[p++]!;
      let type = tag & TYPE_MASK;
      const shape = tag >>> SHAPE_SHIFT;
      if (type === EXTENDED_TYPE) {
        const ext = readVarint(b, p, end);
        if (ext < 0) return this.malformed(frameOffset, 'bad extended record type');
        p = varintEnd;
        type = 32 + ext;
      } else if (type === 0) {
        return this.malformed(frameOffset, 'record type 0 is reserved');
      }
      // Deltas of up to 2 ms (one to three bytes) are read inline; the rest via readVarint().
      if (p + 3 <= end && (x = b[p]!) < 0x80) p++;
      else if (p + 3 <= end && (y = b[p + 1]!) < 0x80) {
        x = (x & 0x7f) | (y << 7);
        p += 2;
      } else if (p + 3 <= end && (z = b[p + 2]!) < 0x80) {
        x = (x & 0x7f) | ((y & 0x7f) << 7) | (z << 14);
        p += 3;
      } else if ((x = readVarint(b, p, end)) < 0) return this.malformed(frameOffset, 'bad time delta');
      else p = varintEnd;
      if (longBase) {
        offsetNs += x;
        t = baseNs + offsetNs;
      } else t += x;
      if (shape === SHAPE_BYTES) {
        const length = readVarint(b, p, end);
        if (length < 0 || length > end - varintEnd) return this.malformed(frameOffset, 'definition runs past the end of the frame');
        const contentStart = varintEnd;
        p = contentStart + length;
        this.cur = p;
        if (!this.definition(type, threadId, t, b, contentStart, p, frameOffset + (recordStart - (start - 1)) + FRAME_HEADER_BYTES)) {
          return this.malformed(frameOffset, `definition of type ${type} is cut short`);
        }
        continue;
      }
      f0 = 0;
      f1 = 0;
      f2 = 0;
      if (shape > 0) {
        if (p < end && (f0 = b[p]!) < 0x80) p++;
        else if ((f0 = readVarint(b, p, end)) < 0) return this.malformed(frameOffset, 'bad record field');
        else p = varintEnd;
        if (shape > 1) {
          if (p < end && (f1 = b[p]!) < 0x80) p++;
          else if ((f1 = readVarint(b, p, end)) < 0) return this.malformed(frameOffset, 'bad record field');
          else p = varintEnd;
          if (shape > 2) {
            if (p < end && (f2 = b[p]!) < 0x80) p++;
            else if ((f2 = readVarint(b, p, end)) < 0) return this.malformed(frameOffset, 'bad record field');
            else p = varintEnd;
            for (let i = 3; i < shape; i++) {
              if (readVarint(b, p, end) < 0) return this.malformed(frameOffset, 'bad record field');
              p = varintEnd;
            }
          }
        }
      }
      stats.records++;
      switch (type) {
        case 1: {
          if (onPollStart !== undefined) {
            onPollStart(threadId, t);
            break;
          }
          const r = this.rPollStart;
          r.threadId = threadId;
          r.timeNs = t;
          onRecord(r);
          break;
        }
        case 2: {
          if (onPollEnd !== undefined) {
            onPollEnd(threadId, t, f0, f1, f2);
            break;
          }
          const r = this.rPollEnd;
          r.threadId = threadId;
          r.timeNs = t;
          r.blockedNs = f0;
          r.events = f1;
          r.eventsWaiting = f2;
          onRecord(r);
          break;
        }
        case 3: {
          const r = this.rThreadCpu;
          r.threadId = threadId;
          r.timeNs = t;
          r.wallNs = f0;
          r.cpuNs = f1;
          onRecord(r);
          break;
        }
        case 4: {
          const r = this.rQueueSample;
          r.threadId = threadId;
          r.timeNs = t;
          r.activeHandles = f0;
          r.activeRequests = f1;
          r.eventsWaiting = f2;
          onRecord(r);
          break;
        }
        case 5: {
          const r = this.rThreadpoolProbe;
          r.threadId = threadId;
          r.timeNs = t;
          r.queueDelayNs = f0;
          onRecord(r);
          break;
        }
        case 6: {
          const r = this.rGcPause;
          r.threadId = threadId;
          r.timeNs = t;
          r.durationNs = f0;
          r.gcType = f1;
          onRecord(r);
          break;
        }
        case 7: {
          const r = this.rStackSample;
          r.threadId = threadId;
          r.timeNs = t;
          r.stackId = f0;
          r.reason = f1;
          r.lagNs = f2;
          onRecord(r);
          break;
        }
        case 8: {
          const r = this.rCallbackStart;
          r.threadId = threadId;
          r.timeNs = t;
          r.asyncId = f0;
          r.resourceTypeStringId = f1;
          r.siteStackId = f2;
          onRecord(r);
          break;
        }
        case 9: {
          const r = this.rCallbackEnd;
          r.threadId = threadId;
          r.timeNs = t;
          r.asyncId = f0;
          r.operationId = f1;
          onRecord(r);
          break;
        }
        case 10: {
          const r = this.rOperationStart;
          r.threadId = threadId;
          r.timeNs = t;
          r.operationId = f0;
          r.nameStringId = f1;
          onRecord(r);
          break;
        }
        case 11: {
          const r = this.rOperationEnd;
          r.threadId = threadId;
          r.timeNs = t;
          r.operationId = f0;
          r.status = f1;
          onRecord(r);
          break;
        }
        case 12: {
          const r = this.rMark;
          r.threadId = threadId;
          r.timeNs = t;
          r.nameStringId = f0;
          r.value = unzigzag(f1);
          onRecord(r);
          break;
        }
        case 13: {
          const r = this.rUserQueueSample;
          r.threadId = threadId;
          r.timeNs = t;
          r.nameStringId = f0;
          r.depth = f1;
          onRecord(r);
          break;
        }
        case 14: {
          const r = this.rDropped;
          r.threadId = threadId;
          r.timeNs = t;
          r.droppedRecords = f0;
          onRecord(r);
          break;
        }
        case 15: {
          const r = this.rThreadStart;
          r.threadId = threadId;
          r.timeNs = t;
          r.nodeThreadId = f0;
          r.nameStringId = f1;
          r.kind = f2;
          this.threads.set(threadId, { threadId, nodeThreadId: f0, kind: f2, name: this.strings.get(f1) ?? '' });
          onRecord(r);
          break;
        }
        case 16: {
          const r = this.rThreadStop;
          r.threadId = threadId;
          r.timeNs = t;
          r.reason = f0;
          onRecord(r);
          break;
        }
        case 17: {
          const r = this.rClockSync;
          r.threadId = threadId;
          r.timeNs = t;
          r.wallOffsetNs = unzigzag(f0);
          onRecord(r);
          break;
        }
        case 18: {
          const r = this.rResumed;
          r.threadId = threadId;
          r.timeNs = t;
          onRecord(r);
          break;
        }
        case 19: {
          const r = this.rThreadSched;
          r.threadId = threadId;
          r.timeNs = t;
          r.runnableNs = f0;
          onRecord(r);
          break;
        }
        case 20: {
          const r = this.rSelfCost;
          r.threadId = threadId;
          r.timeNs = t;
          r.component = f0;
          r.cpuNs = f1;
          onRecord(r);
          break;
        }
        default:
          this.stats.records--;
          this.unknownRecord(type, frameOffset + FRAME_HEADER_BYTES + (recordStart - (start - 1)));
      }
    }
  }

  /** Decodes a shape-7 record. Returns false when its content is cut short. */
  private definition(type: number, threadId: number, timeNs: number, b: Uint8Array, start: number, end: number, recordOffset: number): boolean {
    const savedCur = this.cur;
    const savedLim = this.lim;
    this.cur = start;
    this.lim = end;
    try {
      switch (type) {
        case 24: {
          const stringId = this.varint();
          if (stringId < 0) return false;
          const value = textDecoder.decode(b.subarray(this.cur, end));
          this.strings.set(stringId, value);
          this.stats.records++;
          this.onRecord({ type: 'stringDef', threadId, timeNs, stringId, value });
          return true;
        }
        case 25: {
          const stackId = this.varint();
          const frameCount = this.varint();
          // Each frame takes at least four bytes, which bounds what a bad count can allocate.
          if (stackId < 0 || frameCount < 0 || frameCount * 4 > end - this.cur) return false;
          const frames: StackFrame[] = new Array<StackFrame>(frameCount);
          for (let i = 0; i < frameCount; i++) {
            const functionNameStringId = this.varint();
            const scriptStringId = this.varint();
            const line = this.varint();
            const column = this.varint();
            if (functionNameStringId < 0 || scriptStringId < 0 || line < 0 || column < 0) return false;
            frames[i] = { functionNameStringId, scriptStringId, line, column };
          }
          this.stacks.set(stackId, frames);
          this.stats.records++;
          this.onRecord({ type: 'stackDef', threadId, timeNs, stackId, frames });
          return true;
        }
        case 26: {
          const operationId = this.varint();
          const p = this.cur;
          if (operationId < 0 || end - p < 33) return false;
          this.stats.records++;
          this.onRecord({
            type: 'traceContext',
            threadId,
            timeNs,
            operationId,
            traceId: bytesToHex(b, p, p + 16),
            spanId: bytesToHex(b, p + 16, p + 24),
            parentSpanId: bytesToHex(b, p + 24, p + 32),
            traceFlags: b[p + 32]!,
          });
          return true;
        }
        default:
          this.unknownRecord(type, recordOffset);
          return true;
      }
    } finally {
      this.cur = savedCur;
      this.lim = savedLim;
    }
  }

  private unknownRecord(type: number, offset: number): void {
    this.stats.unknownRecords++;
    if (this.reportedRecordTypes.has(type)) return;
    this.reportedRecordTypes.add(type);
    this.diagnostic({ kind: 'unknown-record-type', offset, recordType: type });
  }

  private malformed(frameOffset: number, reason: string): void {
    this.stats.corruptFrames++;
    this.diagnostic({ kind: 'corrupt-frame', offset: frameOffset, reason: `malformed frame: ${reason}`, skippedBytes: 0 });
  }

  private headerFrame(b: Uint8Array, start: number, end: number, offset: number): void {
    this.cur = start;
    this.lim = end;
    // Header varints may take 10 bytes and any value below 2^64 (section 2): read them as u64.
    const major = readU64(b, start, end);
    const minor = major === undefined ? undefined : readU64(b, major.next, end);
    if (major === undefined || minor === undefined) {
      this.diagnostic({ kind: 'malformed-header', offset, reason: 'the version is cut short' });
      this.state = State.Frames;
      return;
    }
    const formatMajor = Number(major.value);
    const formatMinor = Number(minor.value);
    this.cur = minor.next;
    if (formatMajor !== FORMAT_MAJOR) {
      this.diagnostic({ kind: 'unsupported-version', offset, formatMajor, formatMinor });
      this.state = State.SkipFile;
      return;
    }
    const header: TraceHeader = {
      formatMajor,
      formatMinor,
      traceId: '',
      fileIndex: 0,
      originMonoNs: 0n,
      originWallUnixNs: 0n,
      fileStartNs: 0,
      threads: [],
    };
    const seen = new Set<number>();
    let problem = '';
    while (this.cur < end && problem === '') {
      const k = readU64(b, this.cur, end);
      const l = k === undefined ? undefined : readU64(b, k.next, end);
      if (k === undefined || l === undefined || l.value > BigInt(end - l.next)) {
        problem = 'an entry runs past the end of the header';
        break;
      }
      // A key too large for a number is unknown all the same, and skipped.
      const key = Number(k.value);
      const length = Number(l.value);
      this.cur = l.next;
      const vStart = this.cur;
      const vEnd = vStart + length;
      this.cur = vStart;
      this.lim = vEnd;
      seen.add(key);
      switch (key) {
        case HeaderKey.TraceId:
          if (length < 16) problem = 'traceId is shorter than 16 bytes';
          else header.traceId = bytesToHex(b, vStart, vStart + 16);
          break;
        case HeaderKey.FileIndex:
          problem = this.headerNumber(header, 'fileIndex');
          break;
        case HeaderKey.ClockAnchor: {
          const mono = readU64(b, vStart, vEnd);
          const wall = mono === undefined ? undefined : readU64(b, mono.next, vEnd);
          if (mono === undefined || wall === undefined) problem = 'clockAnchor is cut short';
          else {
            header.originMonoNs = mono.value;
            header.originWallUnixNs = wall.value;
          }
          break;
        }
        case HeaderKey.FileStartNs:
          problem = this.headerNumber(header, 'fileStartNs');
          break;
        case HeaderKey.Pid:
          problem = this.headerNumber(header, 'pid');
          break;
        case HeaderKey.Hostname:
          header.hostname = textDecoder.decode(b.subarray(vStart, vEnd));
          break;
        case HeaderKey.NodeVersion:
          header.nodeVersion = textDecoder.decode(b.subarray(vStart, vEnd));
          break;
        case HeaderKey.ServiceName:
          header.serviceName = textDecoder.decode(b.subarray(vStart, vEnd));
          break;
        case HeaderKey.Producer:
          header.producer = textDecoder.decode(b.subarray(vStart, vEnd));
          break;
        case HeaderKey.Thread: {
          const threadId = this.varint();
          const nodeThreadId = this.varint();
          const kind = this.varint();
          if (threadId < 0 || nodeThreadId < 0 || kind < 0) problem = 'a thread entry is cut short';
          else header.threads.push({ threadId, nodeThreadId, kind, name: textDecoder.decode(b.subarray(this.cur, vEnd)) });
          break;
        }
        case HeaderKey.Platform:
          header.platform = textDecoder.decode(b.subarray(vStart, vEnd));
          break;
        case HeaderKey.ThreadpoolSize:
          problem = this.headerNumber(header, 'threadpoolSize');
          break;
        case HeaderKey.Capabilities:
          problem = this.headerNumber(header, 'capabilities');
          break;
        case HeaderKey.AttributionNote:
          header.attributionNote = textDecoder.decode(b.subarray(vStart, vEnd));
          break;
        case HeaderKey.StackSampling: {
          const thresholdNs = this.varint();
          const intervalNs = this.varint();
          if (thresholdNs < 0 || intervalNs < 0) problem = 'stackSampling is cut short or too large';
          else header.stackSampling = { thresholdNs, intervalNs };
          break;
        }
        default:
          break;
      }
      this.cur = vEnd;
      this.lim = end;
    }
    const missing = [
      [HeaderKey.TraceId, 'traceId'],
      [HeaderKey.FileIndex, 'fileIndex'],
      [HeaderKey.ClockAnchor, 'clockAnchor'],
      [HeaderKey.FileStartNs, 'fileStartNs'],
    ]
      .filter(([key]) => !seen.has(key as number))
      .map(([, name]) => name);
    if (problem === '' && missing.length > 0) problem = `required entries are missing: ${missing.join(', ')}`;
    if (problem !== '') this.diagnostic({ kind: 'malformed-header', offset, reason: problem });
    this.state = State.Frames;
    if (this.header === undefined || this.header.traceId !== header.traceId) {
      this.threads.clear();
      this.strings.clear();
      this.stacks.clear();
    }
    for (const thread of header.threads) this.threads.set(thread.threadId, thread);
    this.header = header;
    this.onHeader(header);
  }

  private headerNumber(header: TraceHeader, name: 'fileIndex' | 'fileStartNs' | 'pid' | 'threadpoolSize' | 'capabilities'): string {
    // fileStartNs, like a frame's base time, may exceed 2^53 ns in a trace older than 104 days.
    const value = name === 'fileStartNs' ? this.longVarint() : this.varint();
    if (value < 0) return `${name} is cut short or too large`;
    header[name] = value;
    return '';
  }

  /**
   * Reads a varint of up to 10 bytes (a value below 2^64) at this.cur as the nearest double, for
   * times since the origin (docs/FORMAT.md section 2); returns PAST_END or TOO_LARGE on a fault.
   */
  private longVarint(): number {
    const b = this.buf;
    let p = this.cur;
    const e = this.lim;
    let value = 0n;
    for (let i = 0; i < 10; i++) {
      if (p >= e) return PAST_END;
      const byte = b[p++]!;
      value |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if (byte < 0x80) {
        if (value >= 1n << 64n) return TOO_LARGE;
        this.cur = p;
        return Number(value);
      }
    }
    return TOO_LARGE;
  }

  /** Reads a varint of at most 8 bytes at this.cur; returns PAST_END or TOO_LARGE on a fault. */
  private varint(): number {
    const b = this.buf;
    let p = this.cur;
    const e = this.lim;
    if (p >= e) return PAST_END;
    let byte = b[p++]!;
    if (byte < 0x80) {
      this.cur = p;
      return byte;
    }
    let value = byte & 0x7f;
    let scale = 128;
    for (let i = 1; ; i++) {
      if (p >= e) return PAST_END;
      byte = b[p++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) break;
      if (i === 7) return TOO_LARGE;
      scale *= 128;
    }
    if (value > Number.MAX_SAFE_INTEGER) return TOO_LARGE;
    this.cur = p;
    return value;
  }
}

/** From this base time on, record times are computed as base + offset (see recordsFrame). */
const LONG_TIME_NS = 2 ** 52;

/** Where the last successful readVarint() stopped. */
let varintEnd = 0;

/**
 * Reads a record-field varint (at most 8 bytes, at most 2^53 - 1) at b[p] without passing `end`.
 * Returns the value and leaves the position after it in varintEnd, or returns PAST_END or
 * TOO_LARGE. Values below 2^28 (every time delta under 268 ms) stay in int32 arithmetic.
 */
function readVarint(b: Uint8Array, p: number, end: number): number {
  if (p + 4 <= end) {
    let x = b[p]!;
    if (x < 0x80) {
      varintEnd = p + 1;
      return x;
    }
    let v = x & 0x7f;
    x = b[p + 1]!;
    v |= (x & 0x7f) << 7;
    if (x < 0x80) {
      varintEnd = p + 2;
      return v;
    }
    x = b[p + 2]!;
    v |= (x & 0x7f) << 14;
    if (x < 0x80) {
      varintEnd = p + 3;
      return v;
    }
    x = b[p + 3]!;
    v |= (x & 0x7f) << 21;
    if (x < 0x80) {
      varintEnd = p + 4;
      return v;
    }
  }
  return readVarintSlow(b, p, end);
}

/** readVarint() for long values and for varints near the end of the range. */
function readVarintSlow(b: Uint8Array, p: number, end: number): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 8; i++) {
    if (p >= end) return PAST_END;
    const byte = b[p++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (value > Number.MAX_SAFE_INTEGER) return TOO_LARGE;
      varintEnd = p;
      return value;
    }
    scale *= 128;
  }
  return TOO_LARGE;
}

function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

function b0(b: Uint8Array, p: number): number {
  return b[p] ?? -1;
}

function isMagicAt(b: Uint8Array, p: number): boolean {
  for (let i = 0; i < FILE_MAGIC.length; i++) if (b[p + i] !== FILE_MAGIC[i]) return false;
  return true;
}

function isPrefixOfMagic(b: Uint8Array, p: number, end: number): boolean {
  for (let i = 0; p + i < end; i++) if (b[p + i] !== FILE_MAGIC[i]) return false;
  return true;
}

/** Reads a header varint of up to 10 bytes as a bigint. */
function readU64(b: Uint8Array, start: number, end: number): { value: bigint; next: number } | undefined {
  let value = 0n;
  let shift = 0n;
  for (let p = start; p < end && shift < 70n; p++) {
    const byte = b[p]!;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return value < 1n << 64n ? { value, next: p + 1 } : undefined;
    shift += 7n;
  }
  return undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return `${typeof value} ${String(value)}`;
}

