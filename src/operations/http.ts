// HTTP without code changes, through node:diagnostics_channel (no monkey-patching):
// - every incoming node:http request becomes an operation named "METHOD /route/:id", continuing
//   the caller's trace when it sent a valid traceparent; its handler runs in the operation's
//   context; a 5xx response ends it as failed, a connection closed before the response ends it
//   as cancelled;
// - outgoing fetch() (undici) requests, and node:http requests on Node versions that publish
//   `http.client.request.created` (22.14+, 23.2+), get traceparent, tracestate and baggage
//   headers from the operation they are made in. Node 20 publishes only
//   `http.client.request.start`, after the headers have been written: there node:http and
//   node:https requests get them through wrappers of request() and get()
//   (http-client-legacy.ts says why there is no other way).

import dc from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse, ClientRequest } from 'node:http';
import { operationStorage } from './context.js';
import type { Operation } from './operation.js';
import { httpOperationName } from './route-name.js';
import { activeRuntime } from './runtime.js';
import { installLegacyClientInjection } from './http-client-legacy.js';

export interface HttpOptions {
  /** Incoming requests become operations. Default true. */
  server: boolean;
  /** Outgoing requests carry trace headers. Default true. */
  client: boolean;
  /** Names an incoming request's operation; default: method and collapsed path. */
  name: ((request: IncomingMessage) => string) | undefined;
}

const SERVER_START = 'http.server.request.start';
const SERVER_FINISH = 'http.server.response.finish';
const CLIENT_CREATED = 'http.client.request.created';
const UNDICI_CREATE = 'undici:request:create';

const byResponse = new WeakMap<ServerResponse, Operation>();

/** Whether this Node version lets node:http client requests get headers injected. */
export const canInjectNodeHttp = nodeAtLeast([22, 14], [23, 2]);

function nodeAtLeast(...versions: Array<[number, number]>): boolean {
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  if (major > versions[versions.length - 1]![0]) return true;
  return versions.some(([m, n]) => major === m && minor >= n);
}

export class HttpInstrumentation {
  private readonly options: HttpOptions;
  private readonly subscriptions: Array<[string, (message: unknown) => void]> = [];
  private uninstallLegacyClient: (() => void) | undefined;

  constructor(options: HttpOptions) {
    this.options = options;
  }

  install(): void {
    if (this.options.server) {
      this.subscribe(SERVER_START, (m) => this.onServerStart(m as { request: IncomingMessage; response: ServerResponse }));
      this.subscribe(SERVER_FINISH, (m) => this.onServerFinish(m as { response: ServerResponse }));
    }
    if (this.options.client) {
      if (canInjectNodeHttp) this.subscribe(CLIENT_CREATED, (m) => onClientCreated(m as { request: ClientRequest }));
      else this.uninstallLegacyClient = installLegacyClientInjection((request) => onClientCreated({ request }));
      this.subscribe(UNDICI_CREATE, (m) => onUndiciCreate(m as { request: UndiciRequest }));
    }
  }

  uninstall(): void {
    for (const [name, fn] of this.subscriptions) dc.unsubscribe(name, fn);
    this.subscriptions.length = 0;
    this.uninstallLegacyClient?.();
    this.uninstallLegacyClient = undefined;
  }

  private subscribe(name: string, fn: (message: unknown) => void): void {
    // A failure inside telemetry must never reach the request: every handler is guarded.
    const guarded = (message: unknown): void => {
      try {
        fn(message);
      } catch {
        // Nothing to do: the request goes on untraced.
      }
    };
    dc.subscribe(name, guarded);
    this.subscriptions.push([name, guarded]);
  }

  private onServerStart({ request, response }: { request: IncomingMessage; response: ServerResponse }): void {
    const runtime = activeRuntime();
    if (runtime === undefined) return;
    let name: string | undefined;
    if (this.options.name !== undefined) {
      try {
        const custom = this.options.name(request);
        if (typeof custom === 'string' && custom.length > 0) name = custom;
      } catch {
        // An application namer that throws falls back to the default name.
      }
    }
    name ??= httpOperationName(request.method, request.url);
    const headers = request.headers;
    const op = runtime.begin(name, undefined, { traceparent: headers.traceparent, tracestate: headers.tracestate, baggage: headers.baggage }, undefined, true);
    if (op.sampled) {
      op.setAttribute('http.request.method', request.method ?? '');
      op.setAttribute('url.path', (request.url ?? '').split('?')[0]!);
    }
    byResponse.set(response, op);
    response.once('close', () => {
      if (!response.writableFinished) op.end('cancelled');
    });
    // The subscriber runs synchronously just before the server emits 'request', in the same
    // execution; entering the operation's context here makes the handler, and everything it
    // schedules, run inside it.
    operationStorage.enterWith(op);
  }

  private onServerFinish({ response }: { response: ServerResponse }): void {
    const op = byResponse.get(response);
    if (op === undefined) return;
    byResponse.delete(response);
    const status = response.statusCode;
    op.setAttribute('http.response.status_code', status);
    op.end(status >= 500 ? 'failed' : 'completed', status >= 500 ? `HTTP ${status}` : undefined);
  }
}

function onClientCreated({ request }: { request: ClientRequest }): void {
  const op = operationStorage.getStore();
  if (op === undefined || activeRuntime() === undefined || request.headersSent) return;
  if (request.getHeader('traceparent') !== undefined) return; // the application set its own
  const headers = op.headers();
  for (const key of Object.keys(headers)) request.setHeader(key, headers[key]!);
}

interface UndiciRequest {
  headers: string | string[];
  addHeader(name: string, value: string): unknown;
}

function onUndiciCreate({ request }: { request: UndiciRequest }): void {
  const op = operationStorage.getStore();
  if (op === undefined || activeRuntime() === undefined) return;
  const existing = request.headers;
  if (typeof existing === 'string' ? /(^|\r\n)traceparent:/i.test(existing) : Array.isArray(existing) && existing.some((h, i) => i % 2 === 0 && String(h).toLowerCase() === 'traceparent')) return;
  const headers = op.headers();
  for (const key of Object.keys(headers)) request.addHeader(key, headers[key]!);
}
