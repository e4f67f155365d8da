// Where a trace goes. The file writers are descriptions: nothing is opened until
// startRuntimeTelemetry() starts recording, and the native writer thread does all file I/O.

import { isAbsolute, resolve } from 'node:path';
import { describeValue, invalidOption, TelemetryError } from './errors.js';

/** The smallest file a RotatingWriter accepts: a header plus a few frames. */
export const MIN_FILE_BYTES = 16 << 10;

export interface RotatingWriterOptions {
  /** A file is sealed and a new one started when it would grow past this. Default 8 MiB. */
  maxFileBytes?: number;
  /** The oldest sealed files are deleted so that all files together stay within this. Default 64 MiB. */
  maxTotalBytes?: number;
}

/**
 * Writes numbered files next to `path`, named for this process: `trace.bin` becomes
 * `trace.<pid>-<random>.0.bin`, `trace.<pid>-<random>.1.bin`, ... The file being written is
 * named `….N.active.bin` and renamed when sealed. Every file decodes alone. This process's
 * files never exceed maxTotalBytes together; processes sharing the directory each keep their own
 * budget and never touch each other's files, and the files of processes that have ended count
 * against the budget of the next process started with the same path.
 */
export class RotatingWriter {
  readonly kind = 'rotating' as const;
  readonly path: string;
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;

  constructor(path: string, options: RotatingWriterOptions = {}) {
    this.path = checkPath('RotatingWriter', path);
    if (typeof options !== 'object' || options === null) throw invalidOption('RotatingWriter options', 'an object', options);
    this.maxFileBytes = checkBytes('maxFileBytes', options.maxFileBytes, 8 << 20);
    this.maxTotalBytes = checkBytes('maxTotalBytes', options.maxTotalBytes, 64 << 20);
    if (this.maxTotalBytes < this.maxFileBytes) {
      throw new TelemetryError(
        'INVALID_OPTION',
        `looptrace: maxTotalBytes (${this.maxTotalBytes}) must be at least maxFileBytes (${this.maxFileBytes})`,
      );
    }
  }
}

export interface SimpleBinaryWriterOptions {
  /** Replace a file that already exists at the path. Default false: starting fails instead. */
  replace?: boolean;
}

/**
 * Writes one file with no size limit: for experiments. The file must not exist unless
 * `replace` is set; a symlink at the path is never followed.
 */
export class SimpleBinaryWriter {
  readonly kind = 'simple' as const;
  readonly path: string;
  readonly replace: boolean;
  constructor(path: string, options: SimpleBinaryWriterOptions = {}) {
    this.path = checkPath('SimpleBinaryWriter', path);
    if (typeof options !== 'object' || options === null) throw invalidOption('SimpleBinaryWriter options', 'an object', options);
    if (options.replace !== undefined && typeof options.replace !== 'boolean') throw invalidOption('replace', 'true or false', options.replace);
    this.replace = options.replace ?? false;
  }
}

/** Encodes everything and writes nothing: for measuring the recorder's own cost. */
export class NullWriter {
  readonly kind = 'null' as const;
}

/**
 * Any object with a write() method. It is called on the thread that started telemetry with
 * whole frames (the first chunk starts with the file header); an exception it throws turns
 * telemetry off with an error event.
 */
export interface ChunkWriter {
  write(chunk: Uint8Array): void;
}

export type TraceWriter = RotatingWriter | SimpleBinaryWriter | NullWriter | ChunkWriter;

export function isChunkWriter(writer: TraceWriter): writer is ChunkWriter {
  return !(writer instanceof RotatingWriter || writer instanceof SimpleBinaryWriter || writer instanceof NullWriter);
}

export function checkWriter(writer: unknown): TraceWriter {
  if (writer instanceof RotatingWriter || writer instanceof SimpleBinaryWriter || writer instanceof NullWriter) return writer;
  if (typeof writer === 'object' && writer !== null && typeof (writer as ChunkWriter).write === 'function') return writer as ChunkWriter;
  throw invalidOption('writer', 'a RotatingWriter, SimpleBinaryWriter, NullWriter or an object with a write(chunk) method', writer);
}

function checkPath(what: string, path: unknown): string {
  if (typeof path !== 'string' || path.length === 0 || path.includes('\0')) {
    throw new TelemetryError('INVALID_OPTION', `looptrace: ${what} needs a file path, got ${describeValue(path)}`);
  }
  return isAbsolute(path) ? path : resolve(path);
}

function checkBytes(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < MIN_FILE_BYTES) {
    throw invalidOption(name, `an integer number of bytes of at least ${MIN_FILE_BYTES}`, value);
  }
  return value;
}
