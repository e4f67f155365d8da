// Ways to feed the decoder: bytes in memory, a file, a Node stream, or a set of rotated files
// put in trace order. Files are read in fixed-size chunks into one reused buffer, so memory stays
// bounded whatever the file size.

import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { FILE_MAGIC } from './constants.js';
import { TraceDecoder, type DecoderCallbacks } from './decoder.js';
import { TraceFormatError, type SourcedDiagnostic, type TraceDiagnostic } from './diagnostics.js';
import type { TraceHeader, TraceRecord } from './records.js';

const DEFAULT_CHUNK_BYTES = 1 << 20;
/** A header frame fits in this many bytes unless a process has thousands of threads. */
const HEADER_PROBE_BYTES = 64 << 10;

export interface DecodedTrace {
  /** Copies of every record, in file order. */
  records: TraceRecord[];
  headers: TraceHeader[];
  diagnostics: SourcedDiagnostic[];
}

/** Decodes a whole trace held in memory and returns copies of its records. */
export function decodeBytes(bytes: Uint8Array): DecodedTrace {
  if (!(bytes instanceof Uint8Array)) {
    throw new TraceFormatError('INVALID_ARGUMENT', `looptrace: decodeBytes() takes a Uint8Array, got ${typeof bytes}`);
  }
  const out: DecodedTrace = { records: [], headers: [], diagnostics: [] };
  const decoder = new TraceDecoder(collector(out));
  decoder.push(bytes);
  decoder.end();
  return out;
}

/** Returns a copy of a record that the decoder handed out, safe to keep. */
export function copyRecord(record: TraceRecord): TraceRecord {
  return record.type === 'stackDef' ? { ...record, frames: record.frames.map((f) => ({ ...f })) } : { ...record };
}

function collector(out: DecodedTrace, source?: string): DecoderCallbacks {
  return {
    onRecord: (r) => out.records.push(copyRecord(r)),
    onHeader: (h) => out.headers.push(h),
    onDiagnostic: (d) => out.diagnostics.push(source === undefined ? d : { ...d, source }),
  };
}

export interface DecodeInputOptions {
  /** Read size in bytes. Default 1 MiB. */
  chunkBytes?: number;
  /** A decoder to continue with, so that strings and threads carry over between files. */
  decoder?: TraceDecoder;
}

/** Streams one file through a decoder (a new one unless given), then ends the input. */
export async function decodeFile(path: string, callbacks: DecoderCallbacks, options: DecodeInputOptions = {}): Promise<TraceDecoder> {
  if (typeof path !== 'string' || path === '') {
    throw new TraceFormatError('INVALID_ARGUMENT', `looptrace: decodeFile() needs a file path, got ${JSON.stringify(path)}`);
  }
  const chunkBytes = checkChunkBytes(options.chunkBytes);
  const decoder = options.decoder ?? new TraceDecoder(callbacks);
  const handle = await openForReading(path);
  try {
    const chunk = new Uint8Array(chunkBytes);
    for (;;) {
      let bytesRead: number;
      try {
        ({ bytesRead } = await handle.read(chunk, 0, chunkBytes, null));
      } catch (error) {
        throw readFailed(path, error);
      }
      if (bytesRead === 0) break;
      decoder.push(chunk.subarray(0, bytesRead));
    }
    decoder.end();
  } finally {
    await handle.close();
  }
  return decoder;
}

/** Streams a Node readable (of Buffers or Uint8Arrays) through a new decoder. */
export async function decodeStream(stream: Readable, callbacks: DecoderCallbacks): Promise<TraceDecoder> {
  const decoder = new TraceDecoder(callbacks);
  for await (const chunk of stream as AsyncIterable<unknown>) {
    if (!(chunk instanceof Uint8Array)) {
      throw new TraceFormatError('INVALID_ARGUMENT', 'looptrace: decodeStream() needs a byte stream; this one yields strings (do not set an encoding on it)');
    }
    decoder.push(chunk);
  }
  decoder.end();
  return decoder;
}

export interface TraceFileInfo {
  path: string;
  /** The file's header, or undefined when the start of the file holds none that decodes. */
  header: TraceHeader | undefined;
}

/**
 * Reads the header of each file and returns them in trace order: grouped by trace id (the trace
 * whose first file has the smaller origin comes first), then by file index. Files whose header
 * does not decode come last, in the order given.
 */
export async function orderTraceFiles(paths: readonly string[]): Promise<TraceFileInfo[]> {
  const infos = await Promise.all(paths.map(async (path) => ({ path, header: await readHeader(path) })));
  const originOf = new Map<string, bigint>();
  for (const { header } of infos) {
    if (header === undefined) continue;
    const known = originOf.get(header.traceId);
    if (known === undefined || header.originWallUnixNs < known) originOf.set(header.traceId, header.originWallUnixNs);
  }
  const position = new Map(infos.map((info, i) => [info, i]));
  return [...infos].sort((a, b) => {
    if (a.header === undefined || b.header === undefined) {
      return a.header === b.header ? position.get(a)! - position.get(b)! : a.header === undefined ? 1 : -1;
    }
    if (a.header.traceId !== b.header.traceId) {
      const oa = originOf.get(a.header.traceId)!;
      const ob = originOf.get(b.header.traceId)!;
      return oa < ob ? -1 : oa > ob ? 1 : a.header.traceId < b.header.traceId ? -1 : 1;
    }
    return a.header.fileIndex - b.header.fileIndex;
  });
}

/**
 * Decodes a set of files (for example the rotated files of one trace) in trace order with one
 * decoder. Diagnostics carry the path of the file they came from.
 */
export async function decodeFiles(
  paths: readonly string[],
  callbacks: DecoderCallbacks & { onFile?: (info: TraceFileInfo) => void; onDiagnostic?: (d: SourcedDiagnostic) => void },
  options: Omit<DecodeInputOptions, 'decoder'> = {},
): Promise<TraceDecoder> {
  const ordered = await orderTraceFiles(paths);
  let source = '';
  const onDiagnostic = callbacks.onDiagnostic;
  const decoder = new TraceDecoder({
    ...callbacks,
    onDiagnostic: onDiagnostic === undefined ? undefined : (d: TraceDiagnostic) => onDiagnostic({ ...d, source }),
  });
  for (const info of ordered) {
    source = info.path;
    callbacks.onFile?.(info);
    await decodeFile(info.path, {}, { ...options, decoder });
  }
  return decoder;
}

async function readHeader(path: string): Promise<TraceHeader | undefined> {
  const handle = await openForReading(path);
  try {
    const probe = new Uint8Array(HEADER_PROBE_BYTES);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(probe, 0, probe.length, 0));
    } catch (error) {
      throw readFailed(path, error);
    }
    if (bytesRead < FILE_MAGIC.length) return undefined;
    let header: TraceHeader | undefined;
    const decoder = new TraceDecoder({ onHeader: (h) => (header ??= h) });
    decoder.push(probe.subarray(0, bytesRead));
    return header;
  } finally {
    await handle.close();
  }
}

async function openForReading(path: string) {
  try {
    return await open(path, 'r');
  } catch (error) {
    throw readFailed(path, error);
  }
}

function readFailed(path: string, error: unknown): TraceFormatError {
  const code = (error as { code?: string }).code;
  const reason =
    code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String((error as Error).message ?? error);
  return new TraceFormatError('READ_FAILED', `looptrace: cannot read trace file ${path}: ${reason}`, { cause: error });
}

function checkChunkBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_CHUNK_BYTES;
  if (!Number.isInteger(value) || value < 1 || value > 1 << 30) {
    throw new TraceFormatError('INVALID_ARGUMENT', `looptrace: chunkBytes must be an integer between 1 and 2^30, got ${String(value)}`);
  }
  return value;
}
