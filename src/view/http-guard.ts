// What the viewer's servers (analyze-trace --view/--live, and the in-process live view) check
// before answering anything: the token of the URL they printed, compared in constant time, and a
// read-only method. Every answer carries SECURITY_HEADERS.

import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * The request's URL when it carries the token and is a GET or HEAD; otherwise answers it (403
 * with `forbiddenText`, or 405) and returns undefined.
 */
export function admitRequest(req: IncomingMessage, res: ServerResponse, tokenBytes: Buffer, forbiddenText: string): URL | undefined {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const given = Buffer.from(url.searchParams.get('token') ?? '');
  if (given.length !== tokenBytes.length || !timingSafeEqual(given, tokenBytes)) {
    res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS });
    res.end(forbiddenText);
    return undefined;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, SECURITY_HEADERS);
    res.end();
    return undefined;
  }
  return url;
}
