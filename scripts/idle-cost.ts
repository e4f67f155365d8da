// idle-cost: what looptrace costs a process that does nothing, and whether its threads sleep.
//
//   npm run idle-cost -- [--rounds N] [--seconds S] [--options JSON] [--tick-ms MS] [--json]
//
// --tick-ms gives every child a light load instead of idleness: a ref'd timer whose callback
// runs every MS milliseconds and does nothing, as a service's housekeeping timer or a trickle of
// requests would. What telemetry costs such a process is reported without a bar (the 1 ms/s bar is
// for an idle process); the disabled children are still held to 0 wake-ups.
//
// --options adds startRuntimeTelemetry options (for example '{"stackThresholdMs":0}') to the
// traced children, to see what each part costs.
//
// Each round starts one child process per mode, interleaved: untraced, telemetry enabled with
// the default RotatingWriter, and telemetry started then disabled. A child settles for a second,
// then idles for --seconds (default 3) with nothing of its own but one ref'd timer that keeps it
// alive, and reports:
// - the whole process's CPU (process.cpuUsage(), user + system, every thread), in ms per second;
// - the wake-ups of looptrace's own threads (the writer "looptrace-write" and the stack watchdog
//   "looptrace-watch"), counted from /proc/self/task/<tid>/status: every sleep that ends is one
//   voluntary context switch, and a thread that never sleeps shows involuntary ones instead.
// The report gives medians over rounds, and "above untraced" is the median of each round's
// difference to that round's untraced child, so a noisy neighbour hurts all modes alike.
//
// Bars (README "Performance"): enabled ≤ 1 ms/s above untraced; disabled 0 wake-ups/s.
// Exit 1 when a bar is missed, 2 on a bad command line, 3 when a child failed.

import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export type IdleMode = 'untraced' | 'enabled' | 'disabled';
const MODES: IdleMode[] = ['untraced', 'enabled', 'disabled'];
/** Thread names (comm) of looptrace's own threads, as native/recorder.cc and watchdog.cc set them. */
export const LOOPTRACE_THREADS = ['looptrace-write', 'looptrace-watch'];

export interface IdleChildReport {
  mode: IdleMode;
  seconds: number;
  cpuMsPerS: number;
  /** Wake-ups per second of each looptrace thread, by thread name. */
  wakeupsPerS: Record<string, number>;
}

/** Voluntary plus involuntary context switches of each of this process's threads, by tid. */
export function threadSwitches(): Map<string, { name: string; switches: number }> {
  const out = new Map<string, { name: string; switches: number }>();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const status = readFileSync(`/proc/self/task/${tid}/status`, 'utf8');
      const voluntary = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      const involuntary = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      out.set(tid, { name, switches: voluntary + involuntary });
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return out;
}

async function child(mode: IdleMode, seconds: number, dir: string, extra: Record<string, unknown>, tickMs: number): Promise<void> {
  const root = new URL('../../', import.meta.url);
  const looptrace = (await import(new URL('dist/index.js', root).href)) as typeof import('../src/index.js');
  let telemetry: import('../src/index.js').RuntimeTelemetry | undefined;
  if (mode !== 'untraced') {
    telemetry = looptrace.startRuntimeTelemetry({
      writer: new looptrace.RotatingWriter(join(dir, 'trace.bin'), { maxFileBytes: 8 << 20, maxTotalBytes: 64 << 20 }),
      ...extra,
    });
  }
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
  const tick = tickMs > 0 ? setInterval(() => {}, tickMs) : undefined;
  await sleep(1000);
  if (mode === 'disabled') {
    telemetry!.disable();
    // The writer's last pass after disable() and the watchdog's last look happen now.
    await sleep(300);
  }
  const before = threadSwitches();
  const cpuBefore = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await sleep(seconds * 1000);
  const cpu = process.cpuUsage(cpuBefore);
  const elapsedS = Number(process.hrtime.bigint() - t0) / 1e9;
  const after = threadSwitches();
  const wakeupsPerS: Record<string, number> = {};
  for (const [tid, now] of after) {
    if (!LOOPTRACE_THREADS.includes(now.name)) continue;
    const was = before.get(tid)?.switches ?? 0;
    wakeupsPerS[now.name] = (wakeupsPerS[now.name] ?? 0) + (now.switches - was) / elapsedS;
  }
  const report: IdleChildReport = { mode, seconds: elapsedS, cpuMsPerS: (cpu.user + cpu.system) / 1000 / elapsedS, wakeupsPerS };
  process.stdout.write(`RESULT ${JSON.stringify(report)}\n`);
  if (tick !== undefined) clearInterval(tick);
  await telemetry?.stop();
}

function runChild(mode: IdleMode, seconds: number, extra: string, tickMs: number): Promise<IdleChildReport> {
  const dir = mkdtempSync(join(tmpdir(), 'looptrace-idle-'));
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, String(seconds), dir, extra, String(tickMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.on('close', (code) => {
      rmSync(dir, { recursive: true, force: true });
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (code !== 0 || line === undefined) reject(new Error(`idle-cost: the ${mode} child failed (exit ${code})`));
      else resolve(JSON.parse(line.slice(7)) as IdleChildReport);
    });
  });
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--child') {
    await child(argv[1] as IdleMode, Number(argv[2]), argv[3]!, JSON.parse(argv[4] ?? '{}') as Record<string, unknown>, Number(argv[5] ?? 0));
    return 0;
  }
  let rounds = 3;
  let seconds = 3;
  let json = false;
  let extra = '{}';
  let tickMs = 0;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--json') json = true;
    else if (a === '--options') {
      extra = argv[++i] ?? '';
      try {
        if (typeof JSON.parse(extra) !== 'object') throw new Error('not an object');
      } catch {
        process.stderr.write(`idle-cost: --options must be a JSON object of startRuntimeTelemetry options, got ${JSON.stringify(extra)}\n`);
        return 2;
      }
    }
    else if (a === '--tick-ms') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1 || v > 60_000) {
        process.stderr.write(`idle-cost: --tick-ms must be an integer from 1 to 60000, got ${JSON.stringify(argv[i] ?? '')}\n`);
        return 2;
      }
      tickMs = v;
    } else if (a === '--rounds' || a === '--seconds') {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 1 || v > 60) {
        process.stderr.write(`idle-cost: ${a} must be an integer from 1 to 60, got ${JSON.stringify(argv[i] ?? '')}\n`);
        return 2;
      }
      if (a === '--rounds') rounds = v;
      else seconds = v;
    } else {
      process.stderr.write(`idle-cost: unknown argument ${JSON.stringify(a)}\n`);
      return 2;
    }
  }
  const byMode: Record<IdleMode, IdleChildReport[]> = { untraced: [], enabled: [], disabled: [] };
  try {
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < MODES.length; k++) {
        const mode = MODES[(k + r) % MODES.length]!;
        byMode[mode].push(await runChild(mode, seconds, extra, tickMs));
      }
    }
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 3;
  }
  const above = (mode: IdleMode): number => median(byMode[mode].map((c, i) => c.cpuMsPerS - byMode.untraced[i]!.cpuMsPerS));
  const wake = (mode: IdleMode): Record<string, number> => {
    const names = new Set(byMode[mode].flatMap((c) => Object.keys(c.wakeupsPerS)));
    return Object.fromEntries([...names].map((n) => [n, median(byMode[mode].map((c) => c.wakeupsPerS[n] ?? 0))]));
  };
  const summary = {
    rounds,
    seconds,
    tickMs: tickMs > 0 ? tickMs : null,
    cpuMsPerS: Object.fromEntries(MODES.map((m) => [m, median(byMode[m].map((c) => c.cpuMsPerS))])),
    aboveUntracedMsPerS: { enabled: above('enabled'), disabled: above('disabled') },
    wakeupsPerS: { enabled: wake('enabled'), disabled: wake('disabled') },
  };
  const disabledWakeups = Object.values(summary.wakeupsPerS.disabled).reduce((a, b) => a + b, 0);
  // The 1 ms/s bar is for an idle process; under --tick-ms only the disabled children's is held.
  const pass = (tickMs > 0 || summary.aboveUntracedMsPerS.enabled <= 1) && disabledWakeups === 0;
  if (json) process.stdout.write(`${JSON.stringify({ ...summary, pass })}\n`);
  else {
    const fmt = (w: Record<string, number>): string => Object.entries(w).map(([n, v]) => `${n} ${v.toFixed(1)}/s`).join(', ') || 'no looptrace threads';
    process.stdout.write(
      `${tickMs > 0 ? `CPU with a timer every ${tickMs} ms` : 'idle CPU'} over ${seconds} s, median of ${rounds} rounds (whole process, process.cpuUsage()):\n` +
        `  untraced            ${summary.cpuMsPerS['untraced']!.toFixed(2)} ms/s\n` +
        `  telemetry enabled   ${summary.cpuMsPerS['enabled']!.toFixed(2)} ms/s  (${summary.aboveUntracedMsPerS.enabled.toFixed(2)} ms/s above untraced; ${tickMs > 0 ? 'no bar under load' : 'bar 1'})\n` +
        `  telemetry disabled  ${summary.cpuMsPerS['disabled']!.toFixed(2)} ms/s  (${summary.aboveUntracedMsPerS.disabled.toFixed(2)} ms/s above untraced)\n` +
        `wake-ups of looptrace's threads: enabled ${fmt(summary.wakeupsPerS.enabled)}; disabled ${fmt(summary.wakeupsPerS.disabled)} (bar 0)\n` +
        `${pass ? 'PASS' : 'FAIL'}\n`,
    );
  }
  return pass ? 0 : 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
