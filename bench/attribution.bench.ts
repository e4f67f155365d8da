// What attribution costs and weighs:
// - one stack sample at a given depth: the loop time from V8's interrupt to the record in the
//   ring (stack walk, UTF-8 conversion, interning), as the recorder accounts it itself
//   (stats().attribution.stackSampleNs / stackSamples), in a child that keeps a loop busy at that
//   depth and samples every millisecond;
// - bytes per stack sample after interning, on the long-task example's real trace (STACK_SAMPLE
//   records plus the STACK_DEF and STRING_DEF records they need, once per file);
// - a GC pause record: instructions per pause in looptrace's GC callbacks, counted by callgrind
//   (deterministic; skipped with a note when valgrind is missing).
//
//   npm run bench:attribution -- [--rounds N] [--depth N]

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFiles, NullWriter, startRuntimeTelemetry, type TraceRecord } from '../src/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function varintLength(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Child: a loop kept busy 1.5 s at `depth` frames, sampled every millisecond. */
async function sampleChild(depth: number): Promise<void> {
  const telemetry = startRuntimeTelemetry({ writer: new NullWriter(), stackThresholdMs: 1, stackIntervalMs: 1, stackDepth: depth, queueSampleIntervalMs: 0, threadpoolProbeIntervalMs: 0 });
  const recurse = (n: number): number => {
    if (n > 0) return recurse(n - 1) + 1;
    const end = Date.now() + 1500;
    let x = 0;
    while (Date.now() < end) x = (x * 31 + 7) % 1000003;
    return x;
  };
  await new Promise((resolve) => setTimeout(resolve, 20));
  recurse(depth);
  await new Promise((resolve) => setTimeout(resolve, 20));
  const a = telemetry.stats().attribution;
  await telemetry.stop();
  process.stdout.write(JSON.stringify({ samples: a.stackSamples, ns: a.stackSampleNs }));
}

/** Bytes of stack attribution in a trace: samples, and the definitions they pull in. */
async function stackBytes(paths: string[]): Promise<{ samples: number; sampleBytes: number; defBytes: number }> {
  const lastTime = new Map<number, number>();
  const stackStrings = new Set<number>();
  const stringBytes = new Map<number, number>();
  let samples = 0;
  let sampleBytes = 0;
  let defBytes = 0;
  await decodeFiles(paths, {
    onRecord: (r: TraceRecord) => {
      const dt = r.timeNs - (lastTime.get(r.threadId) ?? r.timeNs);
      lastTime.set(r.threadId, r.timeNs);
      if (r.type === 'stackSample') {
        samples++;
        const fields = [r.stackId, r.reason, (r as { lagNs?: number }).lagNs ?? 0];
        while (fields.length > 0 && fields[fields.length - 1] === 0) fields.pop();
        sampleBytes += 1 + varintLength(dt) + fields.reduce((n, f) => n + varintLength(f), 0);
      } else if (r.type === 'stackDef') {
        let content = varintLength(r.stackId) + varintLength(r.frames.length);
        for (const f of r.frames) {
          content += varintLength(f.functionNameStringId) + varintLength(f.scriptStringId) + varintLength(f.line) + varintLength(f.column);
          stackStrings.add(f.functionNameStringId).add(f.scriptStringId);
        }
        defBytes += 2 + varintLength(content) + content;
      } else if (r.type === 'stringDef') {
        const content = varintLength(r.stringId) + Buffer.byteLength(r.value);
        stringBytes.set(r.stringId, (stringBytes.get(r.stringId) ?? 0) + 2 + varintLength(content) + content);
      }
    },
  });
  for (const id of stackStrings) defBytes += stringBytes.get(id) ?? 0;
  return { samples, sampleBytes, defBytes };
}

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`attribution bench: ${name} needs a positive integer, got ${JSON.stringify(process.argv[i + 1])}`);
    process.exit(2);
  }
  return value;
}

async function parent(): Promise<void> {
  const rounds = option('--rounds', 5);
  const depth = option('--depth', 32);
  const self = fileURLToPath(import.meta.url);

  const perSample: number[] = [];
  let totalSamples = 0;
  for (let round = 0; round < rounds; round++) {
    const out = JSON.parse(execFileSync(process.execPath, [self, 'sample-child', String(depth)], { encoding: 'utf8' })) as { samples: number; ns: number };
    if (out.samples > 0) perSample.push(out.ns / out.samples);
    totalSamples += out.samples;
  }
  console.log(`stack sample at depth ${depth}: ${(median(perSample) / 1000).toFixed(1)} µs of loop time each (median of ${rounds} runs, ${totalSamples} samples; self-accounted)`);

  const dir = mkdtempSync(join(tmpdir(), 'looptrace-attr-bench-'));
  try {
    execFileSync(process.execPath, [join(ROOT, 'examples', 'long-task-service.mjs'), '--duration', '6', '--out', dir], { stdio: 'ignore' });
    // --out is the trace directory itself.
    const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.bin')).map((f) => join(dir, f)) : [];
    const b = await stackBytes(files);
    const total = files.reduce((n, f) => n + readFileSync(f).length, 0);
    console.log(
      `long-task example trace: ${b.samples} stack samples, ${(b.sampleBytes / Math.max(1, b.samples)).toFixed(2)} bytes per STACK_SAMPLE record, ` +
        `${((b.sampleBytes + b.defBytes) / Math.max(1, b.samples)).toFixed(1)} bytes per sample with its definitions ` +
        `(${b.defBytes} bytes of STACK_DEF/STRING_DEF); ${(((b.sampleBytes + b.defBytes) / total) * 100).toFixed(1)}% of the trace's ${total} bytes`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const valgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' });
  if (valgrind.status !== 0) {
    console.log('GC pause record: skipped (valgrind not found; it counts the instructions deterministically)');
    return;
  }
  const cgDir = mkdtempSync(join(tmpdir(), 'looptrace-cg-'));
  try {
    const out = join(cgDir, 'cg.out');
    const run = spawnSync('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, process.execPath, self, 'gc-child'], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`callgrind failed: ${run.stderr}`);
    const pauses = Number(/^GC_PAUSES (\d+)/m.exec(run.stdout)?.[1] ?? 0);
    const annotate = spawnSync('callgrind_annotate', ['--inclusive=yes', '--threshold=100', out], { encoding: 'utf8', maxBuffer: 64 << 20 });
    let instructions = 0;
    for (const line of annotate.stdout.split('\n')) {
      const m = /^\s*([\d,]+)\s.*looptrace_v8::\(anonymous namespace\)::OnGc(Prologue|Epilogue)/.exec(line);
      if (m) instructions += Number(m[1]!.replace(/,/g, ''));
    }
    console.log(`GC pause record: ${(instructions / Math.max(1, pauses)).toFixed(0)} instructions per pause in looptrace's GC callbacks (${pauses} pauses; callgrind)`);
  } finally {
    rmSync(cgDir, { recursive: true, force: true });
  }
}

/** Child for callgrind: allocation churn that runs many scavenges, with GC pauses recorded. */
async function gcChild(): Promise<void> {
  const { PerformanceObserver } = await import('node:perf_hooks');
  let pauses = 0;
  // Node's own count of the same pauses (its PerformanceObserver uses the same V8 callbacks).
  const observer = new PerformanceObserver((list) => (pauses += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  const telemetry = startRuntimeTelemetry({ writer: new NullWriter(), stackThresholdMs: 0, queueSampleIntervalMs: 0, threadpoolProbeIntervalMs: 0 });
  let keep: unknown[] = [];
  for (let i = 0; i < 400_000; i++) {
    keep.push({ i });
    if (keep.length > 10_000) keep = [];
  }
  await telemetry.stop();
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  process.stdout.write(`GC_PAUSES ${pauses}\n`);
}

if (process.argv[2] === 'sample-child') {
  await sampleChild(Number(process.argv[3]));
} else if (process.argv[2] === 'gc-child') {
  await gcChild();
} else {
  await parent();
}
