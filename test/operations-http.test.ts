// HTTP without code: real node:http servers in a child process, instrumented through
// diagnostics_channel. Incoming requests become low-cardinality operations that continue the
// caller's trace; fetch() carries the context to the next service; failures and abandoned
// requests are marked; concurrent requests keep their own context.

import { beforeAll, describe, expect, it } from 'vitest';
import { collapsePath, httpOperationName } from '../src/index.js';
import { requireBuild, runFixture } from './fixtures/recorder/harness.js';

beforeAll(requireBuild);

interface Finished { name: string; status: string; traceId: string; spanId: string; parentSpanId: string | null; remoteParent: boolean; attributes: Record<string, unknown>; baggage: Record<string, string> }
interface Seen { server: string; url: string; op: string | null; traceId?: string | null; spanId?: string | null; traceparent?: string | null; baggage?: string | null; same?: boolean }

describe('operation names', () => {
  it.each([
    ['/orders/12345', '/orders/:id'],
    ['/orders/12345/items/7?expand=1#x', '/orders/:id/items/:id'],
    ['/users/550e8400-e29b-41d4-a716-446655440000', '/users/:id'],
    ['/blobs/9f86d081884c7d65', '/blobs/:id'],
    ['/files/report%20final.pdf', '/files/:id'],
    ['/a/b/c/d/e/f/g/h', '/a/b/c/d/e/f/…'],
    ['/health', '/health'],
    ['/v1/api', '/v1/api'],
    ['/', '/'],
    ['http://example.com/x/42', '/x/:id'],
    ['*', '/:other'],
  ])('%s collapses to %s', (url, expected) => {
    expect(collapsePath(url)).toBe(expected);
  });

  it('unknown methods become OTHER', () => {
    expect(httpOperationName('GET', '/a/1')).toBe('GET /a/:id');
    expect(httpOperationName('FOOBAR', '/a')).toBe('OTHER /a');
  });
});

for (const viaTelemetry of [false, true]) {
  describe(`node:http service (${viaTelemetry ? 'startRuntimeTelemetry({ operations })' : 'startOperations()'})`, () => {
    let finished: Finished[];
    let seen: Seen[];
    let metrics: Record<string, { count: number; failed: number; cancelled: number; completed: number }>;
    beforeAll(async () => {
      const run = await runFixture('../operations/http-service.mjs', { viaTelemetry });
      expect(run.code, run.stderr).toBe(0);
      ({ finished, seen, metrics } = run.results[0] as { finished: Finished[]; seen: Seen[]; metrics: typeof metrics });
    });

    it('names an incoming request by method and route and continues its traceparent', () => {
      const op = finished.find((o) => o.name === 'GET /orders/:id')!;
      expect(op).toBeDefined();
      expect(op.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(op.parentSpanId).toBe('00f067aa0ba902b7');
      expect(op.remoteParent).toBe(true);
      expect(op.status).toBe('completed');
      expect(op.attributes).toMatchObject({ 'http.request.method': 'GET', 'url.path': '/orders/12345', 'http.response.status_code': 200 });
      expect(op.baggage).toEqual({ user: 'alice' });
      expect(seen.find((s) => s.server === 'upstream' && s.url.startsWith('/orders'))!.op).toBe('GET /orders/:id');
    });

    it('the handler runs in the request operation: its operations are children', () => {
      const request = finished.find((o) => o.name === 'GET /orders/:id')!;
      const load = finished.find((o) => o.name === 'load-order')!;
      expect(load.parentSpanId).toBe(request.spanId);
      expect(load.traceId).toBe(request.traceId);
    });

    it('fetch() injects traceparent and baggage; the downstream continues the same trace', () => {
      const call = finished.find((o) => o.name === 'call-inventory')!;
      const down = seen.find((s) => s.server === 'downstream')!;
      expect(down.traceparent).toBe(`00-4bf92f3577b34da6a3ce929d0e0e4736-${call.spanId}-01`);
      expect(down.baggage).toBe('user=alice');
      const downOp = finished.find((o) => o.name === 'GET /stock/:id')!;
      expect(downOp.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(downOp.parentSpanId).toBe(call.spanId);
      expect(down.op).toBe('GET /stock/:id');
    });

    it('a 5xx response fails the operation; a request abandoned by the client is cancelled', () => {
      expect(finished.find((o) => o.name === 'GET /fail')!.status).toBe('failed');
      expect(finished.find((o) => o.name === 'GET /hang')!.status).toBe('cancelled');
      expect(metrics['GET /fail']).toMatchObject({ count: 1, failed: 1 });
      expect(metrics['GET /hang']).toMatchObject({ count: 1, cancelled: 1 });
    });

    it('20 concurrent requests are one operation name and keep their own context across awaits', () => {
      const concurrent = seen.filter((s) => s.server === 'concurrent');
      expect(concurrent).toHaveLength(20);
      for (const s of concurrent) {
        expect(s.same).toBe(true);
        expect(s.op).toBe('GET /concurrent/:id');
      }
      expect(new Set(concurrent.map((s) => s.spanId)).size).toBe(20);
      expect(metrics['GET /concurrent/:id']).toMatchObject({ count: 20, completed: 20 });
    });
  });
}

describe('outgoing node:http requests on this Node version', () => {
  it(`get traceparent and baggage inside an operation (Node ${process.versions.node}), nothing outside one, and stop() restores node:http`, async () => {
    const run = await runFixture('../operations/http-client.mjs', {});
    expect(run.code, run.stderr).toBe(0);
    const { op, received, restored } = run.results[0] as {
      op: { traceId: string; spanId: string };
      received: Array<{ url: string; traceparent: string | null; baggage: string | null }>;
      restored: boolean;
    };
    const expected = `00-${op.traceId}-${op.spanId}-01`;
    const at = (url: string) => received.find((r) => r.url === url)!;
    for (const url of ['/get-1', '/get-2', '/post', '/named']) {
      expect(at(url), url).toMatchObject({ traceparent: expected, baggage: 'tenant=t-42' });
    }
    expect(at('/own').traceparent).toBe('00-11111111111111111111111111111111-2222222222222222-01');
    expect(at('/outside').traceparent).toBeNull();
    expect(at('/after-stop').traceparent).toBeNull();
    expect(restored).toBe(true);
  });
});
