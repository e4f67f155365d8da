// A pool of four worker threads fed by a dispatcher that sends most jobs to the first worker:
// the trace shows worker 1 saturated while the others sit blocked in their poll.
//
//   npm run example:unbalanced-workers -- [--duration S] [--out DIR]
import { Worker } from 'node:worker_threads';
import { RotatingWriter, startRuntimeTelemetry } from '../dist/index.js';
import { exampleOptions, summarize } from './lib/run.mjs';

const { durationMs, outDir, tracePath } = exampleOptions('unbalanced-workers', 6);
const POOL_SIZE = 4;
const JOB_MS = 4;

const telemetry = startRuntimeTelemetry({
  writer: new RotatingWriter(tracePath, { maxFileBytes: 8 << 20, maxTotalBytes: 64 << 20 }),
  serviceName: 'unbalanced-workers',
});

// The workers contain no telemetry code: looptrace traces them because they start after it.
const source = `
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (ms) => {
    const end = Date.now() + ms;
    while (Date.now() < end);
    parentPort.postMessage(ms);
  });
`;
const workers = Array.from({ length: POOL_SIZE }, () => new Worker(source, { eval: true }));
const sent = new Array(POOL_SIZE).fill(0);
const done = new Array(POOL_SIZE).fill(0);
workers.forEach((w, i) => w.on('message', () => done[i]++));

// The flaw on show: jobs are routed by a key whose hash is almost always 0, so worker 0 gets
// about 85% of the work.
let jobId = 0;
const dispatcher = setInterval(() => {
  for (let k = 0; k < 4; k++) {
    const key = jobId++;
    const target = key % 20 < 17 ? 0 : 1 + (key % 3);
    sent[target]++;
    workers[target].postMessage(JOB_MS);
  }
}, 20);

const busiestThreadId = workers[0].threadId;

setTimeout(async () => {
  clearInterval(dispatcher);
  await new Promise((r) => setTimeout(r, 200));
  await Promise.all(workers.map((w) => w.terminate()));
  await telemetry.stop();
  console.log(`jobs sent per worker: ${sent.join(', ')}; finished: ${done.join(', ')}`);
  // The busiest worker's worker_threads id names it in the trace ("worker <id> ([eval])").
  summarize('unbalanced-workers', telemetry, outDir, { poolSize: POOL_SIZE, jobMs: JOB_MS, jobsSent: sent, jobsDone: done, busiestWorkerIndex: 0, busiestWorkerThreadId: busiestThreadId });
}, durationMs);
