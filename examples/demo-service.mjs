// One small service with three problems at once, for `npm run demo`: a report built synchronously
// every two seconds (a long task on the main loop), a worker pool whose dispatcher sends most jobs
// to one worker (an unbalanced pool), and a burst of crypto.pbkdf2 calls that queue up on the
// libuv threadpool (threadpool pressure). analyze-trace should name all three.
//
//   npm run demo                                  # build, run this, then analyze its trace
//   node examples/demo-service.mjs [--duration S] [--out DIR]
import { pbkdf2 } from 'node:crypto';
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import { RotatingWriter, startRuntimeTelemetry } from '../dist/index.js';
import { exampleOptions, summarize } from './lib/run.mjs';

// A pool of two threads (unless set otherwise) keeps the demo's own CPU load small enough that a
// two-core machine still shows each problem on its own. libuv reads this at its first pool task.
process.env.UV_THREADPOOL_SIZE ??= '2';

const { durationMs, outDir, tracePath } = exampleOptions('demo-service', 7);
const REPORT_MS = 200;
const REPORT_EVERY_MS = 2000;
const POOL_SIZE = 4;
const JOB_MS = 3;
const HASHES_IN_FLIGHT = 6;
const HASH_FROM_MS = 2500;
const HASH_UNTIL_MS = Math.max(HASH_FROM_MS + 3500, durationMs - 500);

const telemetry = startRuntimeTelemetry({
  writer: new RotatingWriter(tracePath, { maxFileBytes: 8 << 20, maxTotalBytes: 64 << 20 }),
  serviceName: 'demo-service',
});

// 1. A long task: the report is built synchronously on the main thread.
const reports = [];
function buildReport() {
  const started = performance.now();
  const startedUnixMs = Date.now();
  let checksum = 0;
  while (performance.now() - started < REPORT_MS) checksum = (checksum + Math.imul(checksum ^ 0x9e3779b9, 31)) | 0;
  reports.push({ atUnixMs: startedUnixMs, durationMs: Math.round(performance.now() - started), checksum });
}
const reportTimer = setInterval(buildReport, REPORT_EVERY_MS);

// 2. An unbalanced pool: the dispatcher routes by a key that nearly always hashes to worker 0.
const workerUrl = new URL('./lib/demo-worker.mjs', import.meta.url);
const workers = Array.from({ length: POOL_SIZE }, () => new Worker(workerUrl));
const busiestThreadId = workers[0].threadId;
const sent = new Array(POOL_SIZE).fill(0);
let jobId = 0;
const dispatcher = setInterval(() => {
  for (let k = 0; k < 4; k++) {
    const key = jobId++;
    const target = key % 10 < 8 ? 0 : 1 + (key % 3);
    sent[target]++;
    workers[target].postMessage(JOB_MS);
  }
}, 20);

// 3. Threadpool pressure: more pbkdf2 calls in flight than the pool has threads.
let hashing = false;
let hashes = 0;
function hashLoop() {
  if (!hashing) return;
  pbkdf2('password', 'salt', 40_000, 64, 'sha512', () => {
    hashes++;
    hashLoop();
  });
}
setTimeout(() => {
  hashing = true;
  for (let i = 0; i < HASHES_IN_FLIGHT; i++) hashLoop();
}, HASH_FROM_MS);
setTimeout(() => (hashing = false), HASH_UNTIL_MS);

// Light HTTP traffic, so the main loop has I/O to serve between reports.
const server = http.createServer((req, res) => res.end('ok'));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
let requests = 0;
const traffic = setInterval(() => {
  http.get({ port: server.address().port, path: '/health', agent }, (res) => {
    res.resume();
    res.on('end', () => requests++);
  });
}, 5);

setTimeout(async () => {
  clearInterval(reportTimer);
  clearInterval(dispatcher);
  clearInterval(traffic);
  hashing = false;
  await new Promise((r) => setTimeout(r, 300));
  agent.destroy();
  server.close();
  await Promise.all(workers.map((w) => w.terminate()));
  await telemetry.stop();
  console.log(`${reports.length} reports of ~${REPORT_MS} ms; jobs per worker ${sent.join(', ')}; ${hashes} pbkdf2 hashes; ${requests} requests`);
  summarize('demo-service', telemetry, outDir, {
    longTasks: reports.map(({ atUnixMs, durationMs }) => ({ atUnixMs, durationMs })),
    busiestWorkerThreadId: busiestThreadId,
    jobsSent: sent,
    threadpoolSize: Number(process.env.UV_THREADPOOL_SIZE),
    hashesInFlight: HASHES_IN_FLIGHT,
    saturatedFromMs: HASH_FROM_MS,
    saturatedUntilMs: HASH_UNTIL_MS,
  });
}, durationMs);
