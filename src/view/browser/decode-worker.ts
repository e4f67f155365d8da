// The decode worker: reads the dropped files (or the served URLs) in pieces, puts them in trace
// order by their headers, decodes them with looptrace's TypeScript decoder and builds the
// columnar model, then transfers its buffers to the page. The page's thread never decodes.
// Rotated files decode alone, so a large trace is split into runs of whole files decoded in
// parallel: this worker decodes the first run and hands the others to helper workers (this same
// script, started by the page, which gives this worker a MessagePort to each: a worker started
// from a page opened as file:// cannot start workers itself), then joins their parts
// (model-assembly.ts).

import { TraceDecoder } from '../../format/decoder.js';
import { describeDiagnostic } from '../../format/diagnostics.js';
import type { TraceHeader } from '../../format/records.js';
import { TraceAnalyzer } from '../../analyze/analyzer.js';
import { ModelBuilder } from './model-builder.js';
import { PieceReader } from './piece-reader.js';
import { assembleModel, partBuffers, type ModelPart } from './model-assembly.js';
import type { WorkerMessage, WorkerRequest } from './model.js';

/** Bytes handed to the decoder at once, all read into one buffer (runBytes()). */
const PIECE_BYTES = 4 << 20;
const HEADER_PROBE_BYTES = 256 << 10;
/** The least trace worth a second decoding thread. */
const PARALLEL_MIN_BYTES = 16 << 20;

/** A source as it can be handed to a helper worker: a File, or a served file's URL. */
interface SourceSpec {
  name: string;
  file?: File;
  url?: string;
  /** A served file's place in the server's list, and the server's /run (runBytes()). */
  served?: { index: number; runUrl: string };
}

interface HelperRequest {
  sources: SourceSpec[];
  longTaskNs: number;
}

type HelperMessage =
  | { type: 'helper-progress'; bytes: number }
  | { type: 'helper-part'; part: ModelPart; decodeMs: number; chunks: number }
  | { type: 'helper-error'; message: string };

interface Source {
  spec: SourceSpec;
  name: string;
  size: number;
  /** Bytes [from, to) of the source (the header probe; the whole source is read by runBytes()). */
  read(from: number, to: number): Promise<Uint8Array>;
}

const scope = self as unknown as { postMessage(message: WorkerMessage | HelperMessage, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<WorkerRequest | { type: 'helper'; port: MessagePort }>) => void) | null };

function post(message: WorkerMessage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function fileSource(file: File): Source {
  return {
    spec: { name: file.name, file },
    name: file.name,
    size: file.size,
    read: async (from, to) => new Uint8Array(await file.slice(from, to).arrayBuffer()),
  };
}

/** A served file: its size by a HEAD request, its header by a Range request. */
async function urlSource(spec: SourceSpec): Promise<Source> {
  const { name, url } = spec as { name: string; url: string };
  const head = await fetch(url, { method: 'HEAD' });
  if (!head.ok) throw new Error(`cannot read ${name}: HTTP ${head.status}`);
  const size = Number(head.headers.get('content-length') ?? 0);
  return {
    spec,
    name,
    size,
    read: async (from, to) => {
      const r = await fetch(url, { headers: { range: `bytes=${from}-${Math.max(from, to - 1)}` } });
      if (!r.ok) throw new Error(`cannot read ${name}: HTTP ${r.status}`);
      return new Uint8Array(await r.arrayBuffer());
    },
  };
}

/**
 * The bytes of a run of sources in trace order: pieces of at most pieceBytes, then an end (no
 * piece) after each source. Dropped files are read as one Blob made of them all, through one
 * stream: a stream, or a Blob.arrayBuffer() read, per file or per piece leaves browser-side
 * objects that hold the bytes they moved until a major garbage collection, and in the findings
 * pass, which allocates little else, none came. (bench-viewer, 50 M records: the worker ended that
 * pass holding about the trace's bytes, 2.5x them at the peak; a stream per file held half as
 * much; one stream for the run, nothing: 1.56x at the peak, as with a forced collection after each
 * file.) Served files come the same way, back to back in one response of the server's /run (per
 * 200 files), each cut at the size its HEAD request gave (a response per file held about 250 MB more).
 */
async function* runBytes(run: Source[], pieceBytes: number): AsyncGenerator<{ source: Source; piece?: Uint8Array }> {
  for (const batch of batches(run)) {
    const reader = new PieceReader(await batchStream(batch), pieceBytes);
    try {
      for (const s of batch) {
        for (let left = s.size; left > 0; ) {
          const piece = await reader.next(left);
          if (piece === undefined) throw new Error(`cannot read ${s.name}: it ended after ${s.size - left} of its ${s.size} bytes`);
          left -= piece.length;
          yield { source: s, piece };
        }
        yield { source: s };
      }
    } finally {
      reader.close();
    }
  }
}

/** Served files per /run request: its URL lists them, and a URL stays well below a server's header limit. */
const FILES_PER_RUN_REQUEST = 200;

/** The sources read through one stream: all dropped files at once; served files by up to FILES_PER_RUN_REQUEST. */
function batches(run: Source[]): Source[][] {
  if (run.every((s) => s.spec.file !== undefined)) return run.length === 0 ? [] : [run];
  const out: Source[][] = [];
  for (let i = 0; i < run.length; i += FILES_PER_RUN_REQUEST) out.push(run.slice(i, i + FILES_PER_RUN_REQUEST));
  return out;
}

/** The bytes of a batch of sources (all dropped files, or all served ones) as one stream. */
async function batchStream(batch: Source[]): Promise<ReadableStream<Uint8Array>> {
  if (batch.every((s) => s.spec.file !== undefined)) return new Blob(batch.map((s) => s.spec.file!)).stream();
  const runUrl = batch[0]!.spec.served!.runUrl;
  const r = await fetch(`${runUrl}&files=${batch.map((s) => `${s.spec.served!.index}:${s.size}`).join(',')}`);
  if (!r.ok || r.body === null) throw new Error(`cannot read ${batch[0]!.name}${batch.length > 1 ? ` and the ${batch.length - 1} file(s) after it` : ''}: HTTP ${r.status}`);
  return r.body;
}

async function readHeader(source: Source): Promise<TraceHeader | undefined> {
  let header: TraceHeader | undefined;
  const d = new TraceDecoder({ onHeader: (h) => (header ??= h) });
  d.push(await source.read(0, Math.min(source.size, HEADER_PROBE_BYTES)));
  return header;
}

/** Trace order: by trace (earliest origin first), then file index; files without a header last. */
async function order(sources: Source[]): Promise<Source[]> {
  const withHeaders = await Promise.all(sources.map(async (s, i) => ({ s, i, h: await readHeader(s) })));
  withHeaders.sort((a, b) => {
    if (a.h === undefined || b.h === undefined) return a.h === b.h ? a.i - b.i : a.h === undefined ? 1 : -1;
    if (a.h.traceId !== b.h.traceId) return a.h.originWallUnixNs < b.h.originWallUnixNs ? -1 : 1;
    return a.h.fileIndex - b.h.fileIndex;
  });
  return withHeaders.map((x) => x.s);
}

/** Decodes a run of sources (whole files, in trace order) into one part of the model. */
async function decodePart(sources: Source[], longTaskNs: number, progress: (bytes: number) => void): Promise<{ part: ModelPart; decodeMs: number; chunks: number }> {
  const builder = new ModelBuilder(longTaskNs);
  let source = '';
  const decoder = new TraceDecoder(
    {
      onRecord: builder.onRecord,
      onHeader: builder.onHeader,
      onDiagnostic: (d) => {
        const lost = d.kind === 'corrupt-frame' || d.kind === 'truncated' || d.kind === 'bad-magic' || d.kind === 'malformed-header';
        builder.diagnostic(describeDiagnostic({ ...d, source }), lost);
      },
    },
    builder.pollCallbacks,
  );
  builder.attach(decoder);
  /** Time inside the decoder (and the model it feeds), apart from waiting for bytes. */
  let decodeMs = 0;
  let chunks = 0;
  for await (const { source: s, piece } of runBytes(sources, PIECE_BYTES)) {
    source = s.name;
    const before = performance.now();
    if (piece === undefined) decoder.end();
    else decoder.push(piece);
    decodeMs += performance.now() - before;
    if (piece === undefined) continue;
    chunks++;
    progress(piece.length);
  }
  return { part: builder.part(), decodeMs, chunks };
}

/**
 * Splits the ordered sources into runs of about equal bytes, one per decoding thread. Every run
 * starts at a file boundary: each rotated file decodes alone (header, threads, definitions).
 */
function split(ordered: Source[], runs: number): Source[][] {
  const total = ordered.reduce((n, s) => n + s.size, 0);
  const out: Source[][] = [[]];
  let bytes = 0;
  for (const s of ordered) {
    if (out.length < runs && out[out.length - 1]!.length > 0 && bytes + s.size / 2 > (total * out.length) / runs) out.push([]);
    out[out.length - 1]!.push(s);
    bytes += s.size;
  }
  return out;
}

/** A helper worker, reached through its port, decoding one run of sources into a part. */
function helperPart(helper: MessagePort, run: Source[], longTaskNs: number, progress: (bytes: number) => void): Promise<{ part: ModelPart; decodeMs: number; chunks: number }> {
  return new Promise((resolve, reject) => {
    helper.onmessage = (e: MessageEvent<HelperMessage>) => {
      const m = e.data;
      if (m.type === 'helper-progress') progress(m.bytes);
      else if (m.type === 'helper-part') resolve(m);
      else reject(new Error(m.message));
    };
    helper.postMessage({ sources: run.map((s) => s.spec), longTaskNs } satisfies HelperRequest);
  });
}

async function decode(sources: Source[], longTaskNs: number, analyze: boolean, helpers: MessagePort[], threadsGiven: boolean): Promise<void> {
  const started = performance.now();
  const ordered = await order(sources);
  const totalBytes = ordered.reduce((n, s) => n + s.size, 0);
  let bytes = 0;
  let lastPost = 0;
  const progress = (n: number): void => {
    bytes += n;
    const now = performance.now();
    if (now - lastPost > 100) {
      lastPost = now;
      post({ type: 'progress', bytes, totalBytes });
    }
  };
  // Unless the page asked for a number of threads, parallel only when it pays: a small trace
  // decodes faster than a worker starts.
  const runs = split(ordered, threadsGiven || totalBytes >= PARALLEL_MIN_BYTES ? helpers.length + 1 : 1);
  const results = await Promise.all(runs.map((run, i) => (i === 0 ? decodePart(run, longTaskNs, progress) : helperPart(helpers[i - 1]!, run, longTaskNs, progress))));
  const finishStarted = performance.now();
  const { model, transfer } = assembleModel(
    results.map((r) => r.part),
    longTaskNs,
    { bytes: totalBytes, files: ordered.map((s) => s.name), decodeMs: performance.now() - started },
  );
  model.timings = {
    decodeMs: Math.max(...results.map((r) => r.decodeMs)),
    finishMs: performance.now() - finishStarted,
    chunks: results.reduce((n, r) => n + r.chunks, 0),
    workers: runs.length,
  };
  post({ type: 'model', model }, transfer);

  // Then analyze-trace's analysis of the same files, for the findings list: a second pass, after
  // the first drawing, so it does not delay it.
  if (!analyze) return;
  const analyzer = new TraceAnalyzer({ longTaskNs });
  const again = new TraceDecoder(analyzer.callbacks());
  let current: Source | undefined;
  for await (const { source: s, piece } of runBytes(ordered, PIECE_BYTES)) {
    if (s !== current) {
      current = s;
      analyzer.addFile({ path: s.name, fileIndex: -1, bytes: s.size });
    }
    if (piece === undefined) again.end();
    else again.push(piece);
  }
  post({ type: 'report', report: analyzer.finish(again.stats) });
}

function sourceOf(spec: SourceSpec): Promise<Source> {
  return spec.file !== undefined ? Promise.resolve(fileSource(spec.file)) : urlSource(spec);
}

/** A helper: decodes the run it is given on its port and hands the part back, buffers transferred. */
function serveAsHelper(port: MessagePort): void {
  port.onmessage = (e: MessageEvent<HelperRequest>) => {
    const req = e.data;
    const run = async (): Promise<void> => {
      const sources = await Promise.all(req.sources.map(sourceOf));
      const r = await decodePart(sources, req.longTaskNs, (bytes) => port.postMessage({ type: 'helper-progress', bytes } satisfies HelperMessage));
      port.postMessage({ type: 'helper-part', ...r } satisfies HelperMessage, partBuffers(r.part));
    };
    run().catch((error: unknown) => port.postMessage({ type: 'helper-error', message: error instanceof Error ? error.message : String(error) } satisfies HelperMessage));
  };
}

scope.onmessage = (e) => {
  const req = e.data;
  if (req.type === 'helper') {
    serveAsHelper(req.port);
    return;
  }
  const run = async (): Promise<void> => {
    const specs: SourceSpec[] = req.type === 'files' ? req.files.map((file) => ({ name: file.name, file })) : req.urls.map((u, index) => ({ name: u.name, url: u.url, served: { index, runUrl: req.runUrl } }));
    const sources = await Promise.all(specs.map(sourceOf));
    if (sources.length === 0) throw new Error('no trace files given');
    await decode(sources, req.longTaskNs, req.analyze, req.helpers as MessagePort[], req.threads !== undefined);
  };
  run().catch((error: unknown) => post({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
};
