// Follows a RotatingWriter's directory as it grows (analyze-trace --live): reads the new bytes of
// the file being written, moves on to the next file when one appears, and decodes everything with
// one decoder (definitions carry over within a trace). A LiveAggregator turns the records into one
// update per second: each loop's utilization over that second, the long tasks that ended in it
// with their stacks, and the threadpool delay. It runs only while someone is watching.

import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TraceDecoder } from '../format/decoder.js';
import type { TraceHeader, TraceRecord } from '../format/records.js';
import { LoopSlicer } from './loop-slicer.js';
import { formatStack } from './stack-format.js';
import type { LiveUpdate } from './live-update.js';

const ROTATED = /^(.*)\.(\d+)(\.active)?(\.[^.]+)$/;
const CHUNK_BYTES = 1 << 20;
const MAX_TASKS_PER_UPDATE = 20;

export class LiveAggregator {
  readonly decoder: TraceDecoder;
  private readonly slicer: LoopSlicer;
  private header: TraceHeader | undefined;
  private originUnixMs = 0;
  private readonly busyNs = new Map<number, number>();
  private readonly blockedNs = new Map<number, number>();
  private readonly names = new Map<number, string>();
  private tasks: LiveUpdate['longTasks'] = [];
  private probes: number[] = [];
  private readonly recentStacks = new Map<number, { timeNs: number; stackId: number }[]>();

  constructor(private readonly longTaskNs: number) {
    this.slicer = new LoopSlicer({
      poll: (threadId, _start, blockedNs, _end) => {
        this.blockedNs.set(threadId, (this.blockedNs.get(threadId) ?? 0) + blockedNs);
      },
      busy: (threadId, startNs, endNs) => {
        const d = endNs - startNs;
        this.busyNs.set(threadId, (this.busyNs.get(threadId) ?? 0) + d);
        if (d < this.longTaskNs || this.tasks.length >= MAX_TASKS_PER_UPDATE) return;
        const sample = (this.recentStacks.get(threadId) ?? []).find((s) => s.timeNs >= startNs && s.timeNs <= endNs && s.stackId !== 0);
        this.tasks.push({
          threadId,
          threadName: this.threadName(threadId),
          durationNs: d,
          startUnixMs: this.originUnixMs + startNs / 1e6,
          stack: sample === undefined ? [] : formatStack(this.decoder.stacks.get(sample.stackId), this.decoder.strings),
        });
      },
      stack: (threadId, timeNs, stackId) => {
        let list = this.recentStacks.get(threadId);
        if (list === undefined) this.recentStacks.set(threadId, (list = []));
        list.push({ timeNs, stackId });
        if (list.length > 16) list.shift();
      },
    });
    this.decoder = new TraceDecoder({
      onRecord: this.onRecord,
      onHeader: (h) => {
        if (this.header === undefined) {
          this.header = h;
          const ms = h.originWallUnixNs / 1_000_000n;
          this.originUnixMs = Number(ms) + Number(h.originWallUnixNs - ms * 1_000_000n) / 1e6;
        }
        for (const t of h.threads) this.names.set(t.threadId, t.name);
      },
      onDiagnostic: (d) => {
        if (d.kind === 'corrupt-frame' || d.kind === 'truncated') this.slicer.gapAll();
      },
    });
  }

  private readonly onRecord = (r: TraceRecord): void => {
    this.slicer.onRecord(r);
    if (r.type === 'threadpoolProbe') this.probes.push(r.queueDelayNs);
    else if (r.type === 'threadStart') this.names.set(r.threadId, this.decoder.threads.get(r.threadId)?.name ?? '');
  };

  private threadName(threadId: number): string {
    return this.names.get(threadId) || (threadId === 1 ? 'main' : `thread ${threadId}`);
  }

  /** The update for the time since the previous one; resets the window. */
  take(): LiveUpdate {
    const ids = [...new Set([...this.busyNs.keys(), ...this.blockedNs.keys(), ...this.names.keys()])].filter((id) => id !== 0).sort((a, b) => a - b);
    const threads = ids.map((threadId) => {
      const busy = this.busyNs.get(threadId) ?? 0;
      const blocked = this.blockedNs.get(threadId) ?? 0;
      return { threadId, name: this.threadName(threadId), utilization: busy + blocked > 0 ? busy / (busy + blocked) : null };
    });
    const sorted = [...this.probes].sort((a, b) => a - b);
    const update: LiveUpdate = {
      timeUnixMs: Date.now(),
      threads,
      longTasks: this.tasks,
      threadpool: { count: sorted.length, p50Ns: sorted[Math.floor(sorted.length / 2)] ?? 0, maxNs: sorted[sorted.length - 1] ?? 0 },
    };
    this.busyNs.clear();
    this.blockedNs.clear();
    this.tasks = [];
    this.probes = [];
    return update;
  }
}

/** Reads the growing files of a rotating trace: call poll() now and then. */
export class DirectoryFollower {
  private readonly dir: string;
  private readonly stem: string | undefined;
  private index = -1;
  private offset = 0;
  private readonly chunk = new Uint8Array(CHUNK_BYTES);

  private readonly ext: string;

  /**
   * `path` is a directory (its .bin files) or a base path like trace.bin (trace.N.bin, and with
   * `tag`, the files a RotatingWriter names trace.<tag>.N.bin).
   */
  constructor(
    path: string,
    private readonly decoder: TraceDecoder,
    tag?: string,
  ) {
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      isDir = false;
    }
    this.dir = isDir ? path : dirname(path);
    const base = basename(path);
    const dot = base.lastIndexOf('.');
    this.ext = isDir || dot <= 0 ? '.bin' : base.slice(dot);
    // A base path like trace.bin follows trace.N.bin; a directory follows its only stem.
    const stem = isDir ? undefined : dot <= 0 ? base : base.slice(0, dot);
    this.stem = stem === undefined || tag === undefined ? stem : `${stem}.${tag}`;
  }

  /** The rotated files by index: the newest name each has (sealed or still active). */
  private files(): Map<number, string> {
    const out = new Map<number, string>();
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return out;
    }
    for (const name of names) {
      const m = ROTATED.exec(name);
      if (m === null || m[4] !== this.ext || (this.stem !== undefined && m[1] !== this.stem)) continue;
      const i = Number(m[2]);
      if (!out.has(i) || m[3] === undefined) out.set(i, join(this.dir, name));
    }
    return out;
  }

  /** Reads what is new, up to about maxBytes; returns the bytes read. */
  poll(maxBytes = Infinity): number {
    const files = this.files();
    if (files.size === 0) return 0;
    const indexes = [...files.keys()].sort((a, b) => a - b);
    if (this.index < 0) {
      // Start with the newest file: it decodes alone (header, threads and definitions).
      this.index = indexes[indexes.length - 1]!;
      this.offset = 0;
    }
    let total = this.readFrom(files.get(this.index), maxBytes);
    for (const next of indexes) {
      if (next <= this.index || total >= maxBytes) continue;
      this.decoder.end();
      this.index = next;
      this.offset = 0;
      total += this.readFrom(files.get(next), maxBytes - total);
    }
    return total;
  }

  private readFrom(path: string | undefined, maxBytes: number): number {
    if (path === undefined) return 0;
    const n = readGrowingFile(path, this.offset, maxBytes, this.chunk, (bytes) => this.decoder.push(bytes));
    this.offset += n;
    return n;
  }
}

/**
 * Reads what a growing file holds past `offset`, at most `maxBytes`, in `chunk`-sized pieces
 * handed to `push`; returns the bytes read (0 when the file cannot be opened: not yet created, or
 * already rotated away).
 */
export function readGrowingFile(path: string, offset: number, maxBytes: number, chunk: Uint8Array, push: (bytes: Uint8Array) => void): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 0;
  }
  let total = 0;
  try {
    while (total < maxBytes) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, maxBytes - total), offset + total);
      if (n === 0) break;
      total += n;
      push(chunk.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return total;
}
