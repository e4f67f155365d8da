// An HTTP service under steady load that runs a long synchronous task every few seconds: the
// trace shows each one as a busy stretch of the main loop, CPU-bound, while requests wait.
//
//   npm run example:long-task -- [--duration S] [--out DIR]
import http from 'node:http';
import { RotatingWriter, startRuntimeTelemetry } from '../dist/index.js';
import { exampleOptions, summarize } from './lib/run.mjs';

const { durationMs, outDir, tracePath } = exampleOptions('long-task-service', 8);
const LONG_TASK_MS = 300;
const EVERY_MS = 2000;

const telemetry = startRuntimeTelemetry({
  writer: new RotatingWriter(tracePath, { maxFileBytes: 8 << 20, maxTotalBytes: 64 << 20 }),
  serviceName: 'long-task-service',
});

const server = http.createServer(async (req, res) => {
  await Promise.resolve();
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ ok: true, path: req.url }));
});
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const { port } = server.address();

// A report that sorts batches of numbers synchronously for LONG_TASK_MS: the long task. Each
// batch is small, so the task ends within a millisecond of its budget.
const injected = [];
let checksum = 0;
function buildReport() {
  const started = Date.now();
  while (Date.now() - started < LONG_TASK_MS) {
    const values = Array.from({ length: 2000 }, Math.random).sort((a, b) => a - b);
    checksum += values[0];
  }
  injected.push({ atUnixMs: started, durationMs: Date.now() - started });
}
const reportTimer = setInterval(buildReport, EVERY_MS);

// Steady load from the same process: eight clients in a loop over keep-alive connections.
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
let requests = 0;
let stopping = false;
async function client() {
  while (!stopping) {
    await new Promise((resolve, reject) => {
      http.get({ port, path: '/items', agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      }).on('error', reject);
    });
    requests++;
  }
}
const clients = Array.from({ length: 8 }, client);

setTimeout(async () => {
  stopping = true;
  clearInterval(reportTimer);
  await Promise.all(clients);
  agent.destroy();
  server.close();
  await telemetry.stop();
  console.log(`${requests} requests served; ${injected.length} long tasks of ~${LONG_TASK_MS} ms injected (checksum ${checksum.toFixed(3)})`);
  summarize('long-task-service', telemetry, outDir, { longTasks: injected, longTaskMs: LONG_TASK_MS, requests });
}, durationMs);
