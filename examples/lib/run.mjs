// Shared by the examples: command-line options, where the trace goes, and the closing summary.
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const examplesDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** Parses --duration S and --out DIR; the trace directory is emptied first. */
export function exampleOptions(name, defaultDurationS) {
  const args = process.argv.slice(2);
  const value = (flag) => {
    const i = args.indexOf(flag);
    return i < 0 ? undefined : args[i + 1];
  };
  const durationS = Number(value('--duration') ?? defaultDurationS);
  if (!Number.isFinite(durationS) || durationS <= 0) {
    console.error(`${name}: --duration must be a positive number of seconds, got ${JSON.stringify(value('--duration'))}`);
    process.exit(2);
  }
  const outDir = resolve(value('--out') ?? join(examplesDir, 'out', name));
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  return { durationMs: durationS * 1000, outDir, tracePath: join(outDir, 'trace.bin') };
}

/** Prints what was recorded and writes the example's ground truth next to the trace. */
export function summarize(name, telemetry, outDir, groundTruth) {
  const s = telemetry.stats();
  const files = readdirSync(outDir).filter((f) => f.endsWith('.bin'));
  const onDisk = files.reduce((sum, f) => sum + statSync(join(outDir, f)).size, 0);
  writeFileSync(join(outDir, 'expected.json'), JSON.stringify(groundTruth, null, 2) + '\n');
  console.log(`${name}: ${s.records} records, ${s.bytes} bytes, ${(s.bytes / Math.max(1, s.records)).toFixed(2)} bytes/record, ${s.droppedRecords} dropped`);
  console.log(`trace: ${files.length} file(s), ${onDisk} bytes in ${outDir}`);
  console.log(`analyze: npx analyze-trace ${outDir}`);
}
