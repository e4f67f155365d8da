// The decode worker: reads the dropped files (or the served URLs) in chunks, puts them in trace
// order by their headers, decodes them with looptrace's TypeScript decoder and builds the
// columnar model, then transfers its buffers to the page. The page's thread never decodes.

import { TraceDecoder } from '../../format/decoder.js';
import { describeDiagnostic } from '../../format/diagnostics.js';
import type { TraceHeader } from '../../format/records.js';
import { TraceAnalyzer } from '../../analyze/analyzer.js';
import { ModelBuilder } from './model-builder.js';
import type { WorkerMessage, WorkerRequest } from './model.js';

const CHUNK_BYTES = 4 << 20;
const HEADER_PROBE_BYTES = 256 << 10;
const URL_PIECE_BYTES = 8 << 20;

interface Source {
  name: string;
  size: number;
  /** Bytes [from, to) of the source. */
  read(from: number, to: number): Promise<Uint8Array>;
  /** The whole source as a stream of chunks. */
  stream(): AsyncIterable<Uint8Array>;
}

const scope = self as unknown as { postMessage(message: WorkerMessage, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null };

function post(message: WorkerMessage, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function fileSource(file: File): Source {
  return {
    name: file.name,
    size: file.size,
    read: async (from, to) => new Uint8Array(await file.slice(from, to).arrayBuffer()),
    stream: async function* () {
      // The next chunk is read while the decoder works on this one.
      const read = (at: number) => file.slice(at, Math.min(file.size, at + CHUNK_BYTES)).arrayBuffer();
      let next = file.size > 0 ? read(0) : undefined;
      for (let at = 0; next !== undefined; at += CHUNK_BYTES) {
        const chunk = new Uint8Array(await next);
        next = at + CHUNK_BYTES < file.size ? read(at + CHUNK_BYTES) : undefined;
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
    name,
    size,
    read,
    stream: async function* () {
      let next = size > 0 ? read(0, Math.min(size, URL_PIECE_BYTES)) : undefined;
      for (let at = 0; next !== undefined; at += URL_PIECE_BYTES) {
        const piece = await next;
        const from = at + URL_PIECE_BYTES;
        next = from < size ? read(from, Math.min(size, from + URL_PIECE_BYTES)) : undefined;
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

async function decode(sources: Source[], longTaskNs: number, analyze: boolean): Promise<void> {
  const started = performance.now();
  const ordered = await order(sources);
  const totalBytes = ordered.reduce((n, s) => n + s.size, 0);
  const builder = new ModelBuilder(longTaskNs);
  let source = '';
  const decoder = new TraceDecoder({
    onRecord: builder.onRecord,
    onHeader: builder.onHeader,
    onDiagnostic: (d) => {
      const lost = d.kind === 'corrupt-frame' || d.kind === 'truncated' || d.kind === 'bad-magic' || d.kind === 'malformed-header';
      builder.diagnostic(describeDiagnostic({ ...d, source }), lost);
    },
  });
  builder.attach(decoder);
  let bytes = 0;
  let lastPost = 0;
  /** Time inside the decoder (and the model it feeds), apart from waiting for bytes. */
  let decodeMs = 0;
  let chunks = 0;
  for (const s of ordered) {
    source = s.name;
    for await (const chunk of s.stream()) {
      const before = performance.now();
      decoder.push(chunk);
      decodeMs += performance.now() - before;
      chunks++;
      bytes += chunk.length;
      const now = performance.now();
      if (now - lastPost > 100) {
        lastPost = now;
        post({ type: 'progress', bytes, totalBytes });
      }
    }
    decoder.end();
  }
  const finishStarted = performance.now();
  const { model, transfer } = builder.finish({ bytes, files: ordered.map((s) => s.name), decodeMs: performance.now() - started });
  model.timings = { decodeMs, finishMs: performance.now() - finishStarted, chunks };
  post({ type: 'model', model }, transfer);

  // Then analyze-trace's analysis of the same files, for the findings list: a second pass, after
  // the first drawing, so it does not delay it.
  if (!analyze) return;
  const analyzer = new TraceAnalyzer({ longTaskNs });
  const again = new TraceDecoder(analyzer.callbacks());
  for (const s of ordered) {
    analyzer.addFile({ path: s.name, fileIndex: -1, bytes: s.size });
    for await (const chunk of s.stream()) again.push(chunk);
    again.end();
  }
  post({ type: 'report', report: analyzer.finish(again.stats) });
}

scope.onmessage = (e) => {
  const req = e.data;
  const run = async (): Promise<void> => {
    const sources = req.type === 'files' ? req.files.map(fileSource) : await Promise.all(req.urls.map((u) => urlSource(u.name, u.url)));
    if (sources.length === 0) throw new Error('no trace files given');
    await decode(sources, req.longTaskNs, req.analyze);
  };
  run().catch((error: unknown) => post({ type: 'error', message: error instanceof Error ? error.message : String(error) }));
};
