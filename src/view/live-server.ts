// The live view served from inside the traced process: startRuntimeTelemetry({ live: { port } }).
// A local HTTP server (127.0.0.1 unless told otherwise) with a random token that every request
// must carry serves the viewer page, which shows the live panel, and the stream of updates
// (live-hub.ts), fed by this process's own trace: the files its writer is writing, or the chunks
// a JavaScript writer is handed. Listening is all it does while nobody is connected.

import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { admitRequest, SECURITY_HEADERS } from './http-guard.js';
import { createServer, type Server } from 'node:http';
import { DirectoryFollower, readGrowingFile } from './live-follower.js';
import { LiveHub, type LiveFeed, type LiveHubStats } from './live-hub.js';
import { viewerHtmlPath } from './viewer-path.js';
import { TraceDecoder } from '../format/decoder.js';
import type { TraceHeader } from '../format/records.js';
import { FILE_MAGIC, FRAME_HEADER_BYTES } from '../format/constants.js';

export interface LiveServerOptions {
  host: string;
  port: number;
  longTaskNs: number;
  openFeed: (decoder: TraceDecoder) => LiveFeed;
}

export interface LiveServer {
  /** The page's URL, token included, once the server listens. */
  readonly url: Promise<string>;
  readonly stats: LiveHubStats;
  close(): void;
}

export function startLiveServer(options: LiveServerOptions): LiveServer {
  const token = randomBytes(16).toString('hex');
  const tokenBytes = Buffer.from(token);
  const hub = new LiveHub(options.openFeed, options.longTaskNs, SECURITY_HEADERS);
  let html: string | undefined;
  const server: Server = createServer((req, res) => {
    const url = admitRequest(req, res, tokenBytes, 'forbidden: this live view needs the token of its URL (telemetry.liveUrl)\n');
    if (url === undefined) return;
    if (url.pathname === '/') {
      try {
        html ??= readFileSync(viewerHtmlPath(), 'utf8');
      } catch {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
        res.end(`the viewer page is missing (${viewerHtmlPath()}): the package was built without it\n`);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
      res.end(req.method === 'HEAD' ? undefined : html);
    } else if (url.pathname === '/files') {
      res.writeHead(200, { 'content-type': 'application/json', ...SECURITY_HEADERS });
      res.end(JSON.stringify({ files: [], live: true }));
    } else if (url.pathname === '/live') {
      hub.add(res);
    } else {
      res.writeHead(404, SECURITY_HEADERS);
      res.end();
    }
  });
  // Neither the server nor a connected page keeps the application alive.
  server.unref();
  server.on('connection', (socket) => socket.unref());
  const ready = new Promise<string>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : options.port;
      const host = options.host.includes(':') ? `[${options.host}]` : options.host;
      resolve(`http://${host}:${port}/?token=${token}`);
    });
  });
  // A rejection nobody awaits must not become an unhandled rejection in the application.
  ready.catch(() => {});
  return {
    url: ready,
    stats: hub.stats,
    close: () => {
      hub.closeAll();
      server.close();
      server.closeAllConnections?.();
    },
  };
}

/** A feed from one growing file (SimpleBinaryWriter). */
export function singleFileFeed(path: string, decoder: TraceDecoder): LiveFeed {
  const chunk = new Uint8Array(1 << 20);
  let offset = 0;
  return {
    poll(maxBytes) {
      const n = readGrowingFile(path, offset, maxBytes, chunk, (bytes) => decoder.push(bytes));
      offset += n;
      return n;
    },
    close() {},
  };
}

/**
 * A feed from a rotating writer's files of this trace: the writer names them
 * <stem>.<pid>-<random>.N[.active]<ext>; the tag is found (when a page first connects) among
 * this pid's by the trace id in a file's header, so that files another process left with the
 * same pid are never read.
 */
export function rotatingFeed(path: string, traceId: string, decoder: TraceDecoder): LiveFeed {
  let follower: DirectoryFollower | undefined;
  return {
    poll: (maxBytes) => {
      if (follower === undefined) {
        const tag = ownTag(path, traceId);
        if (tag === undefined) return 0;
        follower = new DirectoryFollower(path, decoder, tag);
      }
      return follower.poll(maxBytes);
    },
    close() {},
  };
}

function ownTag(path: string, traceId: string): string | undefined {
  const dir = dirname(path);
  const base = basename(path);
  const dot = base.lastIndexOf('.');
  const stem = dot <= 0 ? base : base.slice(0, dot);
  const ext = dot <= 0 ? '' : base.slice(dot);
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return undefined;
  }
  const prefix = `${stem}.${process.pid}-`;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith(ext)) continue;
    const tag = name.slice(stem.length + 1).split('.')[0]!;
    if (!/^\d+-[0-9a-f]+$/.test(tag)) continue;
    let header: TraceHeader | undefined;
    try {
      const fd = openSync(join(dir, name), 'r');
      try {
        const probe = new Uint8Array(64 << 10);
        const n = readSync(fd, probe, 0, probe.length, 0);
        new TraceDecoder({ onHeader: (h) => (header ??= h) }).push(probe.subarray(0, n));
      } finally {
        closeSync(fd);
      }
    } catch {
      continue;
    }
    if (header?.traceId === traceId) return tag;
  }
  return undefined;
}

/**
 * A feed from the chunks handed to a JavaScript writer: the recorder calls tee() with each chunk
 * only while the feed is open. The file header (the start of the first chunk) is kept, so that
 * a page connecting later still decodes; strings and stacks defined before it connected are not
 * (their stacks show as missing).
 */
export class ChunkTee {
  private header: Uint8Array | undefined;
  private queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** Set while a page is connected: the recorder hands it each chunk. */
  tee: ((chunk: Uint8Array) => void) | undefined;

  /** Called with the first chunk: keeps its header frame. */
  keepHeader(chunk: Uint8Array): void {
    if (this.header !== undefined || chunk.length < FILE_MAGIC.length + FRAME_HEADER_BYTES) return;
    const at = FILE_MAGIC.length + 4;
    const body = (chunk[at]! | (chunk[at + 1]! << 8) | (chunk[at + 2]! << 16) | (chunk[at + 3]! << 24)) >>> 0;
    const end = FILE_MAGIC.length + FRAME_HEADER_BYTES + body;
    if (end <= chunk.length) this.header = chunk.slice(0, end);
  }

  open(decoder: TraceDecoder): LiveFeed {
    const header = this.header;
    let headerPushed = false;
    this.queue = [];
    this.queuedBytes = 0;
    this.tee = (chunk) => {
      // At most 64 MiB waiting for the next tick; past that the oldest chunks go.
      this.queue.push(chunk.slice());
      this.queuedBytes += chunk.length;
      while (this.queuedBytes > 64 << 20) this.queuedBytes -= this.queue.shift()!.length;
    };
    return {
      poll: (maxBytes) => {
        let total = 0;
        if (header !== undefined && !headerPushed) {
          decoder.push(header);
          headerPushed = true;
          total += header.length;
        }
        while (this.queue.length > 0 && total < maxBytes) {
          const c = this.queue.shift()!;
          this.queuedBytes -= c.length;
          total += c.length;
          decoder.push(c);
        }
        return total;
      },
      close: () => {
        this.tee = undefined;
        this.queue = [];
        this.queuedBytes = 0;
      },
    };
  }
}
