// Records at a high rate into a RotatingWriter with a small budget: files are sealed and the
// oldest deleted, the total on disk never exceeds the budget, and every file decodes alone.
//
//   npm run example:rotating -- [--duration S] [--out DIR]
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFile, RotatingWriter, startRuntimeTelemetry } from '../dist/index.js';
import { exampleOptions, summarize } from './lib/run.mjs';

const { durationMs, outDir, tracePath } = exampleOptions('rotating-writer', 4);
const MAX_FILE_BYTES = 64 << 10;
const MAX_TOTAL_BYTES = 256 << 10;

const telemetry = startRuntimeTelemetry({
  writer: new RotatingWriter(tracePath, { maxFileBytes: MAX_FILE_BYTES, maxTotalBytes: MAX_TOTAL_BYTES }),
  serviceName: 'rotating-writer',
  queueSampleIntervalMs: 1,
});

// Watch the directory while recording: the budget must hold at every moment.
let largestTotal = 0;
const watcher = setInterval(() => {
  const total = readdirSync(outDir).reduce((sum, f) => {
    try {
      return sum + statSync(join(outDir, f)).size;
    } catch {
      return sum; // Deleted between listing and stat.
    }
  }, 0);
  largestTotal = Math.max(largestTotal, total);
}, 5);

// A busy loop of short turns keeps records coming.
let stopping = false;
(function spin() {
  if (!stopping) setImmediate(spin);
})();

setTimeout(async () => {
  stopping = true;
  clearInterval(watcher);
  await telemetry.stop();
  const files = readdirSync(outDir).filter((f) => f.endsWith('.bin')).sort();
  for (const f of files) {
    let problems = 0;
    let records = 0;
    await decodeFile(join(outDir, f), { onRecord: () => records++, onDiagnostic: () => problems++ });
    console.log(`  ${f}: ${statSync(join(outDir, f)).size} bytes, ${records} records, ${problems === 0 ? 'decodes alone' : `${problems} problems`}`);
  }
  console.log(`largest total seen on disk: ${largestTotal} bytes (budget ${MAX_TOTAL_BYTES}); ${telemetry.stats().files} files written, ${files.length} kept`);
  summarize('rotating-writer', telemetry, outDir, { maxFileBytes: MAX_FILE_BYTES, maxTotalBytes: MAX_TOTAL_BYTES, largestTotalBytes: largestTotal });
}, durationMs);
