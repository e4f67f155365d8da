// The decode worker: reads the dropped files (or the served URLs) in chunks, puts them in trace
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
import { assembleModel, partBuffers, type ModelPart } from './model-assembly.js';
import type { WorkerMessage, WorkerRequest } from './model.js';

/**
 * Bytes read from a dropped file at once. (A whole rotated file per read, 16 MiB pieces, peaked at
 * 2.24-2.32x the trace's bytes in bench-viewer, against 1.98-2.11x with 4 MiB; load 13-19.)
 */
const CHUNK_BYTES = 4 << 20;
const HEADER_PROBE_BYTES = 256 << 10;
const URL_PIECE_BYTES = 16 << 20;
const ANALYSIS_PIECE_BYTES = 1 << 20;
/** The least trace worth a second decoding thread. */
const PARALLEL_MIN_BYTES = 16 << 20;

/** A source as it can be handed to a helper worker: a File, or a served file's URL. */
interface SourceSpec {
  name: string;
  file?: File;
  url?: string;
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
  /** Bytes [from, to) of the source. */
  read(from: number, to: number): Promise<Uint8Array>;
  /** The whole source as a stream of chunks. */
  /** The whole source as a stream of pieces of at most pieceBytes. */
  stream(pieceBytes: number): AsyncIterable<Uint8Array>;
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
    stream: async function* (pieceBytes: number) {
      // The next chunk is read while the decoder works on this one.
      const read = (at: number) => file.slice(at, Math.min(file.size, at + pieceBytes)).arrayBuffer();
      let next = file.size > 0 ? read(0) : undefined;
      for (let at = 0; next !== undefined; at += pieceBytes) {
        const chunk = new Uint8Array(await next);
        next = at + pieceBytes < file.size ? read(at + pieceBytes) : undefined;
        yield chunk;
      }
    },
  };
}

/**
 * A served file. Its bytes come in pieces of up to URL_PIECE_BYTES by Range requests, and the next
 * piece is requested while the decoder works on this one, so reading and decoding overlap.
 */
async function urlSource(name: string, url: string): Promise<Source> {
  const head = await fetch(url, { method: 'HEAD' });
  if (!head.ok) throw new Error(`cannot read ${name}: HTTP ${head.status}`);
  const size = Number(head.headers.get('content-length') ?? 0);
  const read = async (from: number, to: number): Promise<Uint8Array> => {
    const r = await fetch(url, { headers: { range: `bytes=${from}-${Math.max(from, to - 1)}` } });
    if (!r.ok) throw new Error(`cannot read ${name}: HTTP ${r.status}`);
    // Through a Blob, like a dropped file: the response's bytes go to the browser's blob store
    // and are copied once into the worker, which held about 200 MB less than reading the response
    // straight into an ArrayBuffer (bench-viewer, 50 M records).
    return new Uint8Array(await (await r.blob()).arrayBuffer());
  };
  return {
    spec: { name, url },
    name,
    size,
    read,
    stream: async function* (pieceBytes: number) {
      let next = size > 0 ? read(0, Math.min(size, pieceBytes)) : undefined;
      for (let at = 0; next !== undefined; at += pieceBytes) {
        const piece = await next;
        const from = at + pieceBytes;
        next = from < size ? read(from, Math.min(size, from + pieceBytes)) : undefined;
        yield piece;
      }
    },
  };
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
  for (const s of sources) {
    source = s.name;
    for await (const chunk of s.stream(s.spec.file !== undefined ? CHUNK_BYTES : URL_PIECE_BYTES)) {
      const before = performance.now();
      decoder.push(chunk);
      decodeMs += performance.now() - before;
      chunks++;
      progress(chunk.length);
    }
    decoder.end();
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
  for (const s of ordered) {
    analyzer.addFile({ path: s.name, fileIndex: -1, bytes: s.size });
    // Small pieces: this pass runs while the page holds the model, so it adds little to the peak.
    for await (const chunk of s.stream(ANALYSIS_PIECE_BYTES)) again.push(chunk);
    again.end();
  }
  post({ type: 'report', report: analyzer.finish(again.stats) });
}

function sourceOf(spec: SourceSpec): Promise<Source> {
  return spec.file !== undefined ? Promise.resolve(fileSource(spec.file)) : urlSource(spec.name, spec.url!);
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
    const specs: SourceSpec[] = req.type === 'files' ? req.files.map((file) => ({ name: file.name, file })) : req.urls.map((u) => ({ name: u.name, url: u.url }));
    const sources = await Promise.all(specs.map(sourceOf));
    if (sources.length === 0) throw new Error('no trace files given');
    await decode(sources, req.longTaskNs, req.analyze, req.helpers as MessagePort[], req.threads !== undefined);
  };
  run().catch((error: unknown) => post({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
};
