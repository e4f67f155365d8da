// A worker of the demo's pool: each message is a job of that many milliseconds of CPU work.
import { parentPort } from 'node:worker_threads';

parentPort.on('message', (ms) => {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  parentPort.postMessage(x > 0 ? ms : 0);
});
