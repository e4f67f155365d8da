// Outgoing node:http / node:https requests on Node versions without the
// `http.client.request.created` diagnostics channel (before 22.14 and 23.2; Node 20 among them).
//
// Why this wraps http.request and http.get: Node 20 publishes only `http.client.request.start`
// (from ClientRequest#_finish, after the headers have been written) and `net.client.socket` (a
// socket, not a request, and none at all for a reused keep-alive socket); an async_hooks init of
// HTTPCLIENTREQUEST comes on the next tick, also after end() has written the headers. No
// supported hook runs between a request's creation and its headers, so on these versions the
// only way to add traceparent without the application's help is to wrap the module functions
// that create requests. The wrappers call the original and add the headers to the request it
// returns (before the application calls write() or end()); they are installed only on these
// versions, only while client injection is on, and removed by uninstall() when still in place.
// Code that took a reference to http.request before they were installed (a CommonJS
// destructuring at load time) is not covered; ES module named imports are (their bindings are
// resynchronised).

import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import type { ClientRequest } from 'node:http';

type RequestFn = typeof http.request;

interface Installed {
  module: typeof http | typeof https;
  request: RequestFn;
  get: RequestFn;
  wrappedRequest: RequestFn;
  wrappedGet: RequestFn;
}

let installed: Installed[] | undefined;

/** Wraps node:http and node:https request() and get() so that `inject` sees each new request; returns the uninstaller. */
export function installLegacyClientInjection(inject: (request: ClientRequest) => void): () => void {
  if (installed !== undefined) return () => {};
  const mine: Installed[] = [];
  for (const module of [http, https]) {
    const request = module.request;
    const get = module.get;
    const wrappedRequest = function request_(this: unknown, ...args: unknown[]): ClientRequest {
      const req = (request as (...a: unknown[]) => ClientRequest).apply(this, args);
      guardedInject(inject, req);
      return req;
    } as RequestFn;
    // get() is request() then end(): the same as Node's own, with the headers added in between.
    const wrappedGet = function get_(this: unknown, ...args: unknown[]): ClientRequest {
      const req = (wrappedRequest as (...a: unknown[]) => ClientRequest).apply(this, args);
      req.end();
      return req;
    } as RequestFn;
    module.request = wrappedRequest;
    module.get = wrappedGet;
    mine.push({ module, request, get, wrappedRequest, wrappedGet });
  }
  installed = mine;
  syncBuiltinESMExports();
  return () => {
    if (installed !== mine) return;
    installed = undefined;
    for (const m of mine) {
      // Someone wrapped them after us: leave theirs in place (ours then only passes through).
      if (m.module.request === m.wrappedRequest) m.module.request = m.request;
      if (m.module.get === m.wrappedGet) m.module.get = m.get;
    }
    syncBuiltinESMExports();
  };
}

function guardedInject(inject: (request: ClientRequest) => void, req: ClientRequest): void {
  try {
    inject(req);
  } catch {
    // Telemetry never breaks a request: it goes out without trace headers.
  }
}
