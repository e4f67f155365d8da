// Conversion of a trace to JSON Lines: one object per record, with its trace time, its wall-clock
// time (Unix ms and ISO 8601) and its thread's name, so that jq, a log pipeline or a spreadsheet
// can read a trace without a decoder. Each file's header becomes a line of type "header" first.
// Stack definitions carry their frames resolved (names, scripts, source-mapped positions), and
// after a trace's records come its long tasks and blocking code, as the report has them.
// docs/ANALYZE-JSON.md describes the lines.

import type { TraceDiagnostic } from '../format/diagnostics.js';
import type { TraceHeader, TraceRecord } from '../format/records.js';
import { roundMs } from './long-tasks.js';
import type { CallFrame, TraceReport } from './report.js';
import { SourceMapResolver } from './source-maps.js';
import { clockAnchorOf, isoOf, WallClock } from './wall-clock.js';

/** Lines are handed to the sink in chunks of about this many characters. */
const CHUNK_CHARS = 1 << 20;
const RESERVED = new Set(['type', 'threadId', 'timeNs']);

export interface JsonlOptions {
  sinceNs?: number;
  untilNs?: number;
  /** Map stack frames through source maps on disk. Default true. */
  sourceMaps?: boolean;
}

export class JsonlConverter {
  private readonly sink: (text: string) => void;
  private readonly sinceNs: number;
  private readonly untilNs: number;
  private clock = new WallClock(0n);
  private traceId = '';
  private readonly names = new Map<number, string>();
  private readonly strings = new Map<number, string>();
  private buffer = '';
  private lines = 0;
  private sourceMaps: SourceMapResolver;

  constructor(sink: (text: string) => void, options: JsonlOptions = {}) {
    this.sink = sink;
    this.sinceNs = options.sinceNs ?? -Infinity;
    this.untilNs = options.untilNs ?? Infinity;
    this.sourceMaps = new SourceMapResolver(options.sourceMaps ?? true);
  }

  /** Turns source maps on or off (the CLI's --no-source-maps), before any record. */
  setSourceMaps(enabled: boolean): void {
    if (enabled !== this.sourceMaps.enabled) this.sourceMaps = new SourceMapResolver(enabled);
  }

  get lineCount(): number {
    return this.lines;
  }

  onHeader(h: TraceHeader): void {
    if (h.traceId !== this.traceId) {
      this.traceId = h.traceId;
      this.clock = new WallClock(h.originWallUnixNs);
      this.names.clear();
      this.strings.clear();
    }
    for (const t of h.threads) this.names.set(t.threadId, t.name);
    const line = {
      type: 'header',
      traceId: h.traceId,
      fileIndex: h.fileIndex,
      fileStartNs: h.fileStartNs,
      originUnixMs: roundMs(this.clock.originUnixMs),
      originIso: isoOf(this.clock.originUnixMs),
      originMonoNs: clockAnchorOf(h).originMonoNs,
      originWallUnixNs: clockAnchorOf(h).originWallUnixNs,
      formatVersion: `${h.formatMajor}.${h.formatMinor}`,
      pid: h.pid ?? null,
      hostname: h.hostname ?? null,
      nodeVersion: h.nodeVersion ?? null,
      serviceName: h.serviceName ?? null,
      producer: h.producer ?? null,
      platform: h.platform ?? null,
      threadpoolSize: h.threadpoolSize ?? null,
      capabilities: h.capabilities ?? null,
      attributionNote: h.attributionNote ?? null,
      stackSampling: h.stackSampling ?? null,
      threads: h.threads,
    };
    this.push(JSON.stringify(line));
  }

  onRecord(r: TraceRecord): void {
    const t = r.timeNs;
    if (r.type === 'stringDef') this.strings.set(r.stringId, r.value);
    else if (r.type === 'threadStart') this.names.set(r.threadId, this.strings.get(r.nameStringId) ?? `worker ${r.nodeThreadId}`);
    else if (r.type === 'clockSync') this.clock.addSync(t, r.wallOffsetNs);
    const definition = r.type === 'stringDef' || r.type === 'stackDef' || r.type === 'traceContext';
    if (!definition && (t < this.sinceNs || t > this.untilNs)) return;
    const unixMs = this.clock.unixMs(t);
    const thread = r.threadId === 0 ? 'process' : (this.names.get(r.threadId) ?? (r.threadId === 1 ? 'main' : `thread ${r.threadId}`));
    let line = `{"timeNs":${t},"unixMs":${roundMs(unixMs)},"time":"${isoOf(unixMs)}","threadId":${r.threadId},"thread":${JSON.stringify(thread)},"type":"${r.type}"`;
    for (const key in r) {
      if (RESERVED.has(key)) continue;
      line += `,"${key}":${JSON.stringify((r as unknown as Record<string, unknown>)[key])}`;
    }
    if (r.type === 'stackDef') {
      const callFrames: CallFrame[] = r.frames.map((f) => {
        const url = this.strings.get(f.scriptStringId) ?? '';
        return { function: this.strings.get(f.functionNameStringId) ?? '', url, line: f.line, column: f.column, original: this.sourceMaps.map(url, f.line, f.column) };
      });
      line += `,"callFrames":${JSON.stringify(callFrames)}`;
    }
    this.push(line + '}');
  }

  /**
   * After a trace's records: its long tasks per thread, as the text and HTML reports list them
   * (the main thread first, each thread's worst first, at most `top` each, so busy workers never
   * crowd the main thread out), and its blocking code.
   */
  onReport(report: TraceReport): void {
    for (const group of report.longTasks.byThread) {
      group.items.forEach((task, i) => this.push(JSON.stringify({ type: 'longTask', traceId: report.trace.traceId, threadRank: i + 1, threadLongTasks: group.count, ...task })));
    }
    if (report.blockingCode.samples > 0) this.push(JSON.stringify({ type: 'blockingCode', traceId: report.trace.traceId, ...report.blockingCode }));
  }

  /** Damage becomes a line too, so a converted file says where records are missing. */
  onDiagnostic(d: TraceDiagnostic & { source?: string }, message: string): void {
    this.push(JSON.stringify({ type: 'diagnostic', kind: d.kind, source: d.source ?? null, offset: d.offset, message }));
  }

  /** Hands what is buffered to the sink. */
  flush(): void {
    if (this.buffer === '') return;
    const text = this.buffer;
    this.buffer = '';
    this.sink(text);
  }

  private push(line: string): void {
    this.lines++;
    this.buffer += line + '\n';
    if (this.buffer.length >= CHUNK_CHARS) this.flush();
  }
}
