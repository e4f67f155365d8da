// The load generator of scripts/compare-overhead.ts: one long-lived process (pinned to its own
// core) that runs autocannon against a server on request, so that the many short interleaved
// slices of a comparison do not each pay for starting Node and loading autocannon.
//
//   parent -> load  { type: 'run', port, seconds, connections }
//   load -> parent  { type: 'result', result: LoadResult } or { type: 'failed', message }
//   parent -> load  { type: 'watch', pids }   the servers alive now (see 'disconnect' below)

import autocannon from 'autocannon';

export interface LoadResult {
  /** Responses completed, as autocannon counts them. */
  requests: number;
  /** Latency percentiles of the slice, milliseconds (autocannon records whole milliseconds). */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Requests that failed: connection errors, timeouts, non-2xx responses. */
  errors: number;
}

if (process.send === undefined) {
  console.error('compare-overhead load: run by scripts/compare-overhead.ts with an IPC channel');
  process.exit(2);
}

// The round's servers, which the parent freezes between slices: a frozen process cannot notice
// that its parent died, so this process, which is never frozen, ends them if the parent goes.
let watched: number[] = [];

process.on('message', (message: { type?: string; port?: number; seconds?: number; connections?: number; pids?: number[] }) => {
  if (message.type === 'watch') {
    watched = message.pids ?? [];
    return;
  }
  if (message.type === 'exit') {
    process.disconnect();
    return;
  }
  if (message.type !== 'run') return;
  autocannon(
    {
      url: `http://127.0.0.1:${message.port}/`,
      connections: message.connections,
      pipelining: 1,
      duration: message.seconds,
      // autocannon notices the end of `duration` only at a sample tick: tick often, so that a
      // one-second slice lasts one second rather than two.
      sampleInt: 100,
    },
    (error, result) => {
      if (error !== null) {
        process.send?.({ type: 'failed', message: error.message });
        return;
      }
      const out: LoadResult = {
        requests: result.requests.total,
        latencyP50Ms: result.latency.p50,
        latencyP99Ms: result.latency.p99,
        errors: result.errors + result.timeouts + result.non2xx,
      };
      process.send?.({ type: 'result', result: out });
    },
  );
});
// The parent gone (killed, crashed): end its frozen servers and stop, even in the middle of a run.
// After a normal 'exit' the list is empty.
process.on('disconnect', () => {
  for (const pid of watched) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  process.exit(0);
});
process.send({ type: 'ready' });
