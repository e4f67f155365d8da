// analyze-trace --view and --live: a local HTTP server for the viewer page. It binds to
// 127.0.0.1, makes a random token that every request must carry (?token=...), prints the URL and
// opens nothing by itself. It serves the page, the list of the trace's files and their bytes
// (with Range support, so the page's worker can read headers first; and runs of files back to back
// in one response, so the worker reads a run through one stream), and for --live a stream of
// Server-Sent Events with one update a second, computed only while a page is connected.

import { escapeTerminal } from '../cli/escape.js';
import { randomBytes } from 'node:crypto';
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { admitRequest, SECURITY_HEADERS } from './http-guard.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { basename } from 'node:path';
import { InputError, resolveInput } from '../analyze/input.js';
import { DEFAULT_ANALYSIS_OPTIONS } from '../analyze/options.js';
import type { TraceDecoder } from '../format/decoder.js';
import { DirectoryFollower } from './live-follower.js';
import { LiveHub, type LiveFeed } from './live-hub.js';
import { viewerHtmlPath } from './viewer-path.js';

export interface ServeOptions {
  paths: string[];
  live: boolean;
  port: number;
  longTaskNs: number | undefined;
}

export interface ServeIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export { viewerHtmlPath };

/** Starts the server; returns the exit status to use if it cannot start (the process then stays up). */
export function serveViewer(options: ServeOptions, io: ServeIo): number {
  let html: string;
  try {
    html = readFileSync(viewerHtmlPath(), 'utf8');
  } catch {
    io.stderr(`analyze-trace: the viewer page is missing (${viewerHtmlPath()}); run npm run build\n`);
    return 2;
  }
  let files: { name: string; path: string }[] = [];
  if (!options.live) {
    try {
      const input = resolveInput(options.paths);
      for (const w of input.warnings) io.stderr(`analyze-trace: warning: ${escapeTerminal(w)}\n`);
      files = input.traces.flatMap((t) => t.files.map((f) => ({ name: basename(f.path), path: f.path })));
    } catch (error) {
      if (error instanceof InputError) {
        io.stderr(`analyze-trace: ${escapeTerminal(error.message)}\n`);
        return 2;
      }
      throw error;
    }
  } else if (options.paths.length !== 1) {
    io.stderr('analyze-trace: --live follows one directory (or a RotatingWriter base path); got ' + `${options.paths.length} paths\n`);
    return 2;
  }
  const token = randomBytes(16).toString('hex');
  const tokenBytes = Buffer.from(token);
  const longTaskNs = options.longTaskNs ?? DEFAULT_ANALYSIS_OPTIONS.longTaskNs;
  const live = options.live ? new LiveHub((decoder) => directoryFeed(options.paths[0]!, decoder), longTaskNs, SECURITY_HEADERS) : undefined;

  const server = createServer((req, res) => {
    const url = admitRequest(req, res, tokenBytes, 'forbidden: this viewer needs the token printed by analyze-trace\n');
    if (url === undefined) return;
    if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : html);
    } else if (url.pathname === '/files') {
      const list = files.map((f, i) => ({ name: f.name, url: `/file/${i}?token=${token}` }));
      res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS });
      res.end(JSON.stringify({ files: list, run: `/run?token=${token}`, live: live !== undefined }));
    } else if (url.pathname.startsWith('/file/')) {
      const f = files[Number(url.pathname.slice('/file/'.length))];
      if (f === undefined) {
        res.writeHead(404, SECURITY_HEADERS);
        res.end();
        return;
      }
      sendFile(req, res, f.path);
    } else if (url.pathname === '/run') {
      sendRun(req, res, url.searchParams.get('files') ?? '', files);
    } else if (url.pathname === '/live' && live !== undefined) {
      live.add(res);
    } else {
      res.writeHead(404, SECURITY_HEADERS);
      res.end();
    }
  });
  server.on('error', (error: NodeJS.ErrnoException) => {
    io.stderr(`analyze-trace: cannot serve the viewer on 127.0.0.1:${options.port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}\n`);
    process.exit(2);
  });
  server.listen(options.port, '127.0.0.1', () => {
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : options.port;
    io.stdout(`looptrace viewer: http://127.0.0.1:${port}/?token=${token}\n(${options.live ? `following ${options.paths[0]}` : `${files.length} file(s)`}; Ctrl-C to stop)\n`);
  });
  return 0;
}

function sendFile(req: IncomingMessage, res: ServerResponse, path: string): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    res.writeHead(404, SECURITY_HEADERS);
    res.end();
    return;
  }
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  const headers = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', ...SECURITY_HEADERS };
  if (range !== null) {
    const start = Number(range[1]);
    const end = Math.min(size - 1, range[2] === '' ? size - 1 : Number(range[2]));
    if (start > end) {
      res.writeHead(416, { 'content-range': `bytes */${size}`, ...SECURITY_HEADERS });
      res.end();
      return;
    }
    res.writeHead(206, { ...headers, 'content-length': end - start + 1, 'content-range': `bytes ${start}-${end}/${size}` });
    if (req.method === 'HEAD') res.end();
    else createReadStream(path, { start, end, highWaterMark: 1 << 20 }).pipe(res);
    return;
  }
  res.writeHead(200, { ...headers, 'content-length': size });
  if (req.method === 'HEAD') res.end();
  else createReadStream(path, { highWaterMark: 1 << 20 }).pipe(res);
}

/**
 * /run?files=I:BYTES,I:BYTES...: the first BYTES of each listed file, back to back, in one
 * response (the worker cuts it at those sizes). A file now shorter than asked (it was replaced) is
 * refused with 409, before anything is sent.
 */
function sendRun(req: IncomingMessage, res: ServerResponse, spec: string, files: { path: string }[]): void {
  const parts: { path: string; bytes: number }[] = [];
  for (const item of spec.split(',')) {
    const m = /^(\d+):(\d+)$/.exec(item);
    const f = m === null ? undefined : files[Number(m[1])];
    const bytes = m === null ? NaN : Number(m[2]);
    if (f === undefined || !Number.isSafeInteger(bytes)) {
      res.writeHead(400, SECURITY_HEADERS);
      res.end();
      return;
    }
    let size: number;
    try {
      size = statSync(f.path).size;
    } catch {
      size = -1;
    }
    if (size < bytes) {
      res.writeHead(409, SECURITY_HEADERS);
      res.end();
      return;
    }
    parts.push({ path: f.path, bytes });
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': parts.reduce((n, p) => n + p.bytes, 0), ...SECURITY_HEADERS });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  async function* bytes(): AsyncGenerator<Buffer> {
    for (const p of parts) if (p.bytes > 0) yield* createReadStream(p.path, { end: p.bytes - 1, highWaterMark: 1 << 20 });
  }
  // A page that goes away mid-run, or a file that cannot be read any more: the response is cut.
  pipeline(Readable.from(bytes()), res).catch(() => res.destroy());
}

/** --live: the newest file of the directory (or base path) and the ones after it, as they grow. */
function directoryFeed(path: string, decoder: TraceDecoder): LiveFeed {
  const follower = new DirectoryFollower(path, decoder);
  return { poll: (maxBytes) => follower.poll(maxBytes), close() {} };
}
