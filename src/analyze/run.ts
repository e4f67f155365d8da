// The streaming driver: reads each trace's files in order, in fixed-size chunks into one reused
// buffer, through one decoder per trace into a TraceAnalyzer (and a JSONL converter when asked).
// Memory is the chunk, the decoder's carry-over and the analyzer's bounded state, whatever the
// size of the input. Reads are synchronous: the CLI has nothing else to do meanwhile, and it keeps
// the per-chunk cost to a system call.

import { closeSync, openSync, readSync } from 'node:fs';
import { TraceDecoder } from '../format/decoder.js';
import { describeDiagnostic, type SourcedDiagnostic } from '../format/diagnostics.js';
import type { TraceRecord } from '../format/records.js';
import { TraceAnalyzer } from './analyzer.js';
// Frames are source-mapped from the files on this machine.
import './source-files-node.js';
import { describeFsError, InputError, type TraceInput } from './input.js';
import type { JsonlConverter } from './jsonl.js';
import type { AnalysisOptions } from './options.js';
import type { TraceReport } from './report.js';
import { WallClock } from './wall-clock.js';
import { resolveTimeSpec, type TimeSpec } from './window.js';

const DEFAULT_CHUNK_BYTES = 1 << 20;
/**
 * A file opened this long after --until holds no record inside the window: records reach a file
 * at most a few flush intervals after they happen.
 */
const UNTIL_MARGIN_NS = 5e9;

export interface RunOptions extends Omit<AnalysisOptions, 'sinceNs' | 'untilNs'> {
  since?: TimeSpec;
  until?: TimeSpec;
  chunkBytes?: number;
  /** Called after each chunk with the bytes read so far, over all traces. */
  onProgress?: (bytesRead: number) => void;
  /** Called for each decoder diagnostic (a corrupt frame, a truncated tail), described. */
  onDiagnostic?: (message: string, diagnostic: SourcedDiagnostic) => void;
  /** Called for problems that are not in the data (a file that vanished while being read). */
  onWarning?: (message: string) => void;
  /** Also converts every record to JSON Lines. */
  jsonl?: JsonlConverter;
}

/** Analyzes each trace and returns one report per trace, in the order given. */
export function analyzeTraces(traces: readonly TraceInput[], options: RunOptions = {}): TraceReport[] {
  const chunk = new Uint8Array(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
  const jsonl = options.jsonl;
  if (options.sourceMaps !== undefined) jsonl?.setSourceMaps(options.sourceMaps);
  let bytesRead = 0;
  const reports: TraceReport[] = [];
  for (const trace of traces) {
    const first = trace.files[0];
    if (first === undefined) continue;
    const startNs = Math.min(...trace.files.map((f) => f.header.fileStartNs));
    const clock = new WallClock(first.header.originWallUnixNs);
    const sinceNs = options.since === undefined ? undefined : resolveTimeSpec(options.since, startNs, clock);
    const untilNs = options.until === undefined ? undefined : resolveTimeSpec(options.until, startNs, clock);
    if (sinceNs !== undefined && untilNs !== undefined && !(sinceNs < untilNs)) {
      throw new InputError(`--since ${options.since!.text} is not before --until ${options.until!.text}`);
    }
    const analyzer = new TraceAnalyzer({ ...options, sinceNs, untilNs });
    let source = '';
    const onRecord =
      jsonl === undefined
        ? analyzer.onRecord
        : (r: TraceRecord) => {
            analyzer.onRecord(r);
            jsonl.onRecord(r);
          };
    const decoder = new TraceDecoder({
      onRecord,
      onHeader: (h) => {
        analyzer.onHeader(h);
        jsonl?.onHeader(h);
      },
      onDiagnostic: (d) => {
        const sourced: SourcedDiagnostic = { ...d, source };
        let message = describeDiagnostic(sourced);
        // The file a recorder is writing ends inside a frame now and then: that is no damage.
        if (d.kind === 'truncated' && source.endsWith('.active.bin')) message += ' (the file is still being written)';
        analyzer.onDiagnostic(sourced);
        jsonl?.onDiagnostic(sourced, message);
        options.onDiagnostic?.(message, sourced);
      },
    });
    let filesRead = 0;
    for (let i = 0; i < trace.files.length; i++) {
      const file = trace.files[i]!;
      const next = trace.files[i + 1];
      // Files wholly outside the window are not read: a file's records all precede the next file's start.
      if (sinceNs !== undefined && next !== undefined && next.header.fileStartNs < sinceNs) {
        bytesRead += file.bytes;
        continue;
      }
      if (untilNs !== undefined && file.header.fileStartNs > untilNs + UNTIL_MARGIN_NS) {
        bytesRead += file.bytes;
        continue;
      }
      source = file.path;
      filesRead++;
      analyzer.addFile({ path: file.path, fileIndex: file.header.fileIndex, bytes: file.bytes });
      bytesRead = streamFile(file.path, decoder, chunk, bytesRead, options);
    }
    // A window before the whole input reads no file: the report still names the trace.
    if (filesRead === 0) analyzer.onHeader(first.header);
    const report = analyzer.finish(decoder.stats);
    jsonl?.onReport(report);
    jsonl?.flush();
    reports.push(report);
  }
  return reports;
}

function streamFile(path: string, decoder: TraceDecoder, chunk: Uint8Array, bytesRead: number, options: RunOptions): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    // A live directory rotates under the reader: the oldest file may be deleted meanwhile.
    options.onWarning?.(`skipped ${path}: ${describeFsError(error)} (it may have been rotated away while reading)`);
    return bytesRead;
  }
  try {
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (error) {
        options.onWarning?.(`stopped reading ${path}: ${describeFsError(error)}`);
        break;
      }
      if (n === 0) break;
      decoder.push(chunk.subarray(0, n));
      bytesRead += n;
      options.onProgress?.(bytesRead);
    }
    decoder.end();
  } finally {
    closeSync(fd);
  }
  return bytesRead;
}
