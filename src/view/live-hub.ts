// The live stream of the viewer (analyze-trace --live, and startRuntimeTelemetry({ live }) in the
// traced process itself): Server-Sent Events with one update a second (live-follower.ts's
// LiveAggregator), computed only while a page listens. With nobody connected there is no timer, no
// read and no decode: the feed is opened on the first connection and closed with the last.

import type { ServerResponse } from 'node:http';
import type { TraceDecoder } from '../format/decoder.js';
import { LiveAggregator } from './live-follower.js';

export const LIVE_INTERVAL_MS = 1000;

/** Where the live view's bytes come from: read what is new into the decoder. */
export interface LiveFeed {
  /** Pushes about maxBytes of new trace bytes at most into the decoder; returns the bytes pushed. */
  poll(maxBytes: number): number;
  close(): void;
}

/** What a hub has done, for the tests that show it does nothing while nobody listens. */
export interface LiveHubStats {
  clients: number;
  /** Updates sent (one per second per hub while connected, whatever the number of pages). */
  updates: number;
  /** Feeds opened: one per stretch of time with at least one page connected. */
  feedsOpened: number;
  /** Whether the once-a-second timer exists (only while a page is connected). */
  ticking: boolean;
}

/** Bytes read between two turns of the event loop while catching up, so the host never stalls long. */
const CATCH_UP_SLICE_BYTES = 256 << 10;

export class LiveHub {
  private readonly clients = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private aggregator: LiveAggregator | undefined;
  private feed: LiveFeed | undefined;
  private catchingUp = false;
  private caughtUpBytes = 0;
  readonly stats: LiveHubStats = { clients: 0, updates: 0, feedsOpened: 0, ticking: false };

  constructor(
    private readonly openFeed: (decoder: TraceDecoder) => LiveFeed,
    private readonly longTaskNs: number,
    private readonly securityHeaders: Record<string, string>,
  ) {}

  add(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...this.securityHeaders });
    res.write(': looptrace live\n\n');
    this.clients.add(res);
    this.stats.clients = this.clients.size;
    res.on('close', () => {
      this.clients.delete(res);
      this.stats.clients = this.clients.size;
      if (this.clients.size === 0) this.stop();
    });
    if (this.timer === undefined) this.start();
  }

  /** Ends every stream and stops. */
  closeAll(): void {
    for (const c of this.clients) c.end();
    this.clients.clear();
    this.stats.clients = 0;
    this.stop();
  }

  private start(): void {
    this.aggregator = new LiveAggregator(this.longTaskNs);
    this.feed = this.openFeed(this.aggregator.decoder);
    this.stats.feedsOpened++;
    // What was written before the page connected is read (for the header, threads and
    // definitions) a slice per turn of the loop, and its long tasks are not shown as new.
    this.catchingUp = true;
    this.caughtUpBytes = 0;
    this.drain();
    // Unref'd: a page left open never keeps a traced application from exiting.
    this.timer = setInterval(() => this.tick(), LIVE_INTERVAL_MS).unref();
    this.stats.ticking = true;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.stats.ticking = false;
    this.feed?.close();
    this.feed = undefined;
    this.aggregator = undefined;
  }

  /** Reads a slice; while more is waiting, the next slice follows on the next turn of the loop. */
  private drain(): void {
    const feed = this.feed;
    if (feed === undefined) return;
    const bytes = feed.poll(CATCH_UP_SLICE_BYTES);
    if (this.catchingUp) this.caughtUpBytes += bytes;
    if (bytes >= CATCH_UP_SLICE_BYTES) {
      setImmediate(() => {
        if (this.feed === feed) this.drain();
      });
      return;
    }
    // Caught up once the trace's start (its header) has been read: until then the feed may not
    // have found the file yet, and the next tick tries again.
    if (this.catchingUp && this.caughtUpBytes > 0) {
      this.catchingUp = false;
      this.aggregator!.take();
    }
  }

  private tick(): void {
    if (this.feed === undefined) return;
    const wasCatchingUp = this.catchingUp;
    this.drain();
    if (wasCatchingUp || this.catchingUp) return;
    const update = this.aggregator!.take();
    this.stats.updates++;
    const frame = `event: update\ndata: ${JSON.stringify(update)}\n\n`;
    for (const c of this.clients) c.write(frame);
  }
}
