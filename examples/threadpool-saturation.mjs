// Keeps sixteen crypto.pbkdf2 calls in flight on the default libuv threadpool of four threads:
// the trace's threadpool probe shows tasks waiting tens of milliseconds for a free thread.
//
//   npm run example:threadpool -- [--duration S] [--out DIR]
import { pbkdf2 } from 'node:crypto';
import { RotatingWriter, startRuntimeTelemetry } from '../dist/index.js';
import { exampleOptions, summarize } from './lib/run.mjs';

const { durationMs, outDir, tracePath } = exampleOptions('threadpool-saturation', 6);
const IN_FLIGHT = 16;
const ITERATIONS = 60_000;

const telemetry = startRuntimeTelemetry({
  writer: new RotatingWriter(tracePath, { maxFileBytes: 8 << 20, maxTotalBytes: 64 << 20 }),
  serviceName: 'threadpool-saturation',
});

let stopping = false;
let hashes = 0;
function hashLoop() {
  if (stopping) return;
  pbkdf2('password', 'salt', ITERATIONS, 64, 'sha512', () => {
    hashes++;
    hashLoop();
  });
}
// A quiet first second gives the probe an idle baseline to compare with.
setTimeout(() => {
  for (let i = 0; i < IN_FLIGHT; i++) hashLoop();
}, 1000);

setTimeout(async () => {
  stopping = true;
  await new Promise((r) => setTimeout(r, 300));
  await telemetry.stop();
  console.log(`${hashes} pbkdf2 hashes with ${IN_FLIGHT} in flight on a pool of ${process.env.UV_THREADPOOL_SIZE ?? 4}`);
  summarize('threadpool-saturation', telemetry, outDir, { inFlight: IN_FLIGHT, threadpoolSize: Number(process.env.UV_THREADPOOL_SIZE ?? 4), saturatedAfterMs: 1000, hashes });
}, durationMs);
