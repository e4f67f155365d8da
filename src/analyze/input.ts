// Turns what a user names on the command line (files, directories, globs) into traces: the files of
// each trace in order. Every way it can fail says which path and why, as an InputError, so the CLI
// can print one line and exit 2 rather than a stack trace.
//
// Files named explicitly must be traces. Files found by expanding a directory or a glob may be
// skipped with a warning when they are empty or carry no readable header (a writer killed right
// after opening a new file leaves such a file), as long as some trace remains.

import { closeSync, openSync, readdirSync, readSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { FILE_MAGIC } from '../format/constants.js';
import { TraceDecoder } from '../format/decoder.js';
import type { TraceDiagnostic } from '../format/diagnostics.js';
import type { TraceHeader } from '../format/records.js';

/** A header frame fits in this many bytes unless a process has thousands of threads. */
const HEADER_PROBE_BYTES = 256 << 10;

export class InputError extends Error {
  override name = 'InputError';
}

export interface TraceFile {
  path: string;
  bytes: number;
  header: TraceHeader;
}

export interface TraceInput {
  traceId: string;
  /** In trace order: by file index. */
  files: TraceFile[];
}

export interface ResolvedInput {
  /** Traces in order of their origin. */
  traces: TraceInput[];
  /** Files skipped, each with the reason. */
  warnings: string[];
  totalBytes: number;
}

interface Candidate {
  path: string;
  /** Named by the user (must be a trace) rather than found in a directory or by a glob. */
  explicit: boolean;
  /** The argument it came from, for messages. */
  from: string;
}

export function resolveInput(args: readonly string[]): ResolvedInput {
  if (args.length === 0) throw new InputError('no trace given: name a trace file, a directory of trace files, or several files');
  const candidates: Candidate[] = [];
  const seen = new Set<string>();
  const add = (path: string, explicit: boolean, from: string): void => {
    const full = resolve(path);
    if (seen.has(full)) return;
    seen.add(full);
    candidates.push({ path, explicit, from });
  };
  for (const arg of args) {
    const stats = statOrUndefined(arg);
    if (stats === undefined) {
      if (/[*?[]/.test(basename(arg))) {
        const matches = expandGlob(arg);
        if (matches.length === 0) throw new InputError(`no files match ${arg}`);
        for (const m of matches) add(m, false, arg);
        continue;
      }
      throw new InputError(`no such file or directory: ${arg}`);
    }
    if (stats.isDirectory()) {
      const files = listTraceFiles(arg);
      if (files.length === 0) throw new InputError(`no trace files (*.bin) in directory ${arg}`);
      for (const f of files) add(f, false, arg);
    } else if (stats.isFile()) {
      add(arg, true, arg);
    } else {
      throw new InputError(`${arg} is not a regular file or a directory`);
    }
  }

  const warnings: string[] = [];
  const files: TraceFile[] = [];
  const rejected: string[] = [];
  for (const c of candidates) {
    const probe = probeFile(c.path);
    if (probe.header !== undefined) {
      files.push({ path: c.path, bytes: probe.bytes, header: probe.header });
      continue;
    }
    if (c.explicit) throw new InputError(`${c.path} ${probe.problem}`);
    warnings.push(`skipped ${c.path}: ${probe.problem}`);
    rejected.push(`${basename(c.path)} (${probe.problem})`);
  }
  if (files.length === 0) {
    const from = [...new Set(candidates.map((c) => c.from))].join(', ');
    throw new InputError(`none of the ${candidates.length} .bin file${candidates.length === 1 ? '' : 's'} in ${from} is a readable looptrace trace: ${rejected.join('; ')}`);
  }
  return { traces: groupByTrace(files), warnings, totalBytes: files.reduce((sum, f) => sum + f.bytes, 0) };
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new InputError(`cannot read ${path}: ${describeFsError(error)}`);
  }
}

/** The *.bin files of a directory (including *.active.bin, the file being written), sorted by name. */
function listTraceFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new InputError(`cannot list directory ${dir}: ${describeFsError(error)}`);
  }
  return names
    .filter((n) => n.endsWith('.bin'))
    .map((n) => join(dir, n))
    .filter((p) => statOrUndefined(p)?.isFile() === true)
    .sort();
}

/** Expands * ? and [...] in the last part of a path, for shells that do not (npm scripts on Windows). */
function expandGlob(pattern: string): string[] {
  const dir = dirname(pattern);
  const base = basename(pattern);
  const source = base.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => re.test(n))
    .map((n) => join(dir, n))
    .filter((p) => statOrUndefined(p)?.isFile() === true)
    .sort();
}

interface Probe {
  bytes: number;
  header: TraceHeader | undefined;
  /** Why there is no header, phrased to follow the path. */
  problem: string;
}

function probeFile(path: string): Probe {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new InputError(`cannot read ${path}: ${describeFsError(error)}`);
  }
  try {
    const bytes = statSync(path).size;
    if (bytes === 0) return { bytes, header: undefined, problem: 'is empty (0 bytes): not a trace file' };
    const buf = new Uint8Array(Math.min(bytes, HEADER_PROBE_BYTES));
    const n = readSync(fd, buf, 0, buf.length, 0);
    const head = buf.subarray(0, n);
    if (n < FILE_MAGIC.length ? !FILE_MAGIC.subarray(0, n).every((b, i) => head[i] === b) : !FILE_MAGIC.every((b, i) => head[i] === b)) {
      return { bytes, header: undefined, problem: 'is not a looptrace trace (it does not start with the looptrace magic bytes)' };
    }
    let header: TraceHeader | undefined;
    let diagnostic: TraceDiagnostic | undefined;
    const decoder = new TraceDecoder({ onHeader: (h) => (header ??= h), onDiagnostic: (d) => (diagnostic ??= d) });
    decoder.push(head);
    if (n === bytes) decoder.end();
    if (diagnostic?.kind === 'unsupported-version') {
      return { bytes, header: undefined, problem: `is trace format version ${diagnostic.formatMajor}.${diagnostic.formatMinor}; this analyzer reads version 1.x` };
    }
    if (header === undefined || header.traceId === '' || diagnostic?.kind === 'malformed-header') {
      const why = diagnostic?.kind === 'malformed-header' ? `: ${diagnostic.reason}` : '';
      return { bytes, header: undefined, problem: `has no readable file header (the start of the file is torn or corrupt${why})` };
    }
    return { bytes, header, problem: '' };
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`cannot read ${path}: ${describeFsError(error)}`);
  } finally {
    closeSync(fd);
  }
}

function groupByTrace(files: TraceFile[]): TraceInput[] {
  const byId = new Map<string, TraceFile[]>();
  for (const f of files) {
    let group = byId.get(f.header.traceId);
    if (group === undefined) byId.set(f.header.traceId, (group = []));
    group.push(f);
  }
  const traces = [...byId].map(([traceId, group]) => ({
    traceId,
    files: group.sort((a, b) => a.header.fileIndex - b.header.fileIndex || (a.path < b.path ? -1 : 1)),
  }));
  const origin = (t: TraceInput): bigint => t.files[0]!.header.originWallUnixNs;
  return traces.sort((a, b) => (origin(a) < origin(b) ? -1 : origin(a) > origin(b) ? 1 : a.traceId < b.traceId ? -1 : 1));
}

export function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'ENOTDIR') return 'a part of the path is not a directory';
  if (code === 'EROFS') return 'read-only file system';
  if (code === 'ENOSPC') return 'no space left on the device';
  return (error as Error).message ?? String(error);
}
