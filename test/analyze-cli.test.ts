// The analyze-trace command line, run as a child process on fixture traces written with the
// TypeScript encoder: its outputs (text, colour rules, --json, --jsonl), --fail-on exit codes,
// several traces and rotated sets, damaged traces, and every kind of bad input, which must give
// one clear line naming the bad value and exit 2, never a stack trace.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TraceReport } from '../src/analyze/index.js';
import { ProgressBar } from '../src/cli/progress.js';
import { MAIN, encodeFile, header, ms, pe, probe, ps, rhythm, worker } from './fixtures/analyze/synth.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/cli/analyze-trace.js');

let dir = '';
const path = (name: string): string => join(dir, name);

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: readonly string[], env: Record<string, string | undefined> = {}): Run {
  const clean = { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...env };
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: clean as NodeJS.ProcessEnv, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function json(args: readonly string[]): TraceReport {
  const r = cli([...args, '--json']);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  return JSON.parse(r.stdout) as TraceReport;
}

/**
 * Two seconds of a main loop (polls blocked 89 ms, short stretches, a probe each 100 ms) that ends
 * with one 76 ms long task at 2.010 s, and a worker 50% busy.
 */
function goodTrace(traceId = '00112233445566778899aabbccddeeff', fileIndex = 0, offsetNs = 0): Uint8Array {
  const main = [];
  for (let i = 0; i < 20; i++) {
    const t = offsetNs + ms(i * 100);
    main.push(ps(t), pe(t + ms(90), ms(89), 1), probe(t + ms(91), 20_000), ps(t + ms(95)), pe(t + ms(96), ms(1)));
  }
  const t = offsetNs + ms(2000);
  main.push(ps(t), pe(t + ms(10), ms(10)), ps(t + ms(86)), pe(t + ms(90), ms(4)));
  const work = rhythm(offsetNs, offsetNs + ms(2090), ms(5), ms(5));
  // Frames of a few dozen records, interleaved, as a writer flushing every 100 ms would write them.
  const frames = [];
  for (let i = 0; i < 21; i++) {
    frames.push({ threadId: 1, records: main.slice(i * 5, i * 5 + 5) }, { threadId: 2, records: work.slice(i * 20, i * 20 + 20) });
  }
  return encodeFile(
    header([MAIN, worker(2, 1)], { traceId, fileIndex, fileStartNs: offsetNs }),
    frames.filter((f) => f.records.length > 0),
  ).bytes;
}

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`the CLI tests need the build: missing ${CLI}. Run npm run build.`);
  dir = mkdtempSync(join(tmpdir(), 'looptrace-cli-'));
  writeFileSync(path('good.bin'), goodTrace());
  writeFileSync(path('empty.bin'), new Uint8Array(0));
  writeFileSync(path('notes.txt'), 'not a trace\n');
  mkdirSync(path('emptydir'));
  writeFileSync(path('emptydir/readme.txt'), 'nothing here');
  mkdirSync(path('junk'));
  writeFileSync(path('junk/a.bin'), 'hello');
  writeFileSync(path('junk/b.bin'), new Uint8Array(0));
  mkdirSync(path('two'));
  writeFileSync(path('two/first.bin'), goodTrace('aa112233445566778899aabbccddeeff'));
  writeFileSync(path('two/second.bin'), goodTrace('bb112233445566778899aabbccddeeff'));
  mkdirSync(path('rotated'));
  writeFileSync(path('rotated/trace.7.bin'), goodTrace(undefined, 7));
  writeFileSync(path('rotated/trace.8.bin'), goodTrace(undefined, 8, ms(2100)));
  writeFileSync(path('rotated/trace.9.active.bin'), new Uint8Array(0));
  mkdirSync(path('live'));
  writeFileSync(path('live/trace.0.bin'), goodTrace());
  const active = goodTrace(undefined, 1, ms(2100));
  writeFileSync(path('live/trace.1.active.bin'), active.subarray(0, active.length - 5));
  // A flipped bit in the middle and a torn tail.
  const damaged = goodTrace().slice();
  damaged[Math.floor(damaged.length / 2)]! ^= 0x10;
  writeFileSync(path('damaged.bin'), damaged.subarray(0, damaged.length - 7));
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('bad input: one clear line naming the value, exit 2, no stack trace', () => {
  const cases: [string, () => string[], RegExp][] = [
    ['a missing file', () => [path('nope.bin')], /analyze-trace: no such file or directory: .*nope\.bin/],
    ['an empty file', () => [path('empty.bin')], /empty\.bin is empty \(0 bytes\): not a trace file/],
    ['a directory with no trace files', () => [path('emptydir')], /no trace files \(\*\.bin\) in directory .*emptydir/],
    ['a directory whose .bin files are not traces', () => [path('junk')], /none of the 2 \.bin files in .*junk is a readable looptrace trace: a\.bin \(is not a looptrace trace.*b\.bin \(is empty/],
    ['a file that is not a trace', () => [path('notes.txt')], /notes\.txt is not a looptrace trace \(it does not start with the looptrace magic bytes\)/],
    ['a glob that matches nothing', () => [join(dir, 'zzz*.bin')], /no files match .*zzz\*\.bin/],
    ['no trace at all', () => [], /no trace given/],
    ['an unknown flag', () => ['--frobnicate', path('good.bin')], /unknown option "--frobnicate"/],
    ['a flag without its value', () => [path('good.bin'), '--long-task-ms'], /--long-task-ms needs a value/],
    ['a bad number', () => ['--long-task-ms', 'abc', path('good.bin')], /--long-task-ms must be a positive number of milliseconds, got "abc"/],
    ['a bad ratio', () => ['--saturation', '1.5', path('good.bin')], /--saturation is a ratio between 0 and 1 .*got "1\.5"/],
    ['a flag given a value it does not take', () => ['--json=yes', path('good.bin')], /--json takes no value, got "yes"/],
    ['a --fail-on with an unknown metric', () => ['--fail-on', 'latency>5ms', path('good.bin')], /--fail-on "latency>5ms": unknown metric "latency"/],
    ['a --fail-on duration without a unit', () => ['--fail-on', 'long-task>100', path('good.bin')], /--fail-on "long-task>100": long-task is a duration: give 100 a unit/],
    ['a --fail-on without an operator', () => ['--fail-on=dropped', path('good.bin')], /--fail-on "dropped": expected \[THREAD:\]METRIC OP VALUE/],
    ['a bad --since', () => ['--since', 'yesterday', path('good.bin')], /--since "yesterday" is neither an ISO time .* nor an offset/],
    ['--since after --until', () => ['--since', '+2s', '--until', '+1s', path('good.bin')], /--since \+2s is not before --until \+1s/],
    ['--jsonl into a missing directory', () => ['--jsonl', join(dir, 'no/such/dir/out.jsonl'), path('good.bin')], /cannot write --jsonl .*no\/such\/dir\/out\.jsonl: no such file or directory/],
    ['--jsonl onto a directory', () => ['--jsonl', path('emptydir'), path('good.bin')], /cannot write --jsonl .*emptydir: it is a directory/],
    ['--json with --jsonl to stdout', () => ['--json', '--jsonl', '-', path('good.bin')], /--json and --jsonl - both write to stdout/],
  ];
  for (const [name, args, message] of cases) {
    it(name, () => {
      const r = cli(args());
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at |Error:|node:internal/);
      expect(r.stdout).toBe('');
    });
  }
});

describe('output', () => {
  it('prints a plain text report when stdout is not a terminal', () => {
    const r = cli([path('good.bin')]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/looptrace analysis of synthetic, pid 4242/);
    expect(r.stdout).toMatch(/Findings, worst first\n {2}▲ main was busy in a long task of at least 50 ms; the worst 76 ms at 22:13:22\.010/);
    expect(r.stdout).toMatch(/Threads\n.*thread.*iterations.*util/);
    expect(r.stdout).toMatch(/Long tasks ≥ 50 ms: 1/);
    expect(r.stdout).toMatch(/Threadpool \(UV_THREADPOOL_SIZE=4; queueing delay of 20 probes\)/);
    expect(r.stdout).not.toContain('\u001b[');
  });

  it('respects FORCE_COLOR and NO_COLOR, and the flags beat both', () => {
    expect(cli([path('good.bin')], { FORCE_COLOR: '1' }).stdout).toContain('\u001b[1m');
    expect(cli([path('good.bin')], { FORCE_COLOR: '0' }).stdout).not.toContain('\u001b[');
    expect(cli([path('good.bin'), '--no-color'], { FORCE_COLOR: '1' }).stdout).not.toContain('\u001b[');
    expect(cli([path('good.bin'), '--color'], { NO_COLOR: '1' }).stdout).toContain('\u001b[');
  });

  it('prints the documented JSON report with --json', () => {
    const report = json([path('good.bin')]);
    expect(report.schemaVersion).toBe(1);
    expect(Object.keys(report)).toEqual(['schemaVersion', 'generator', 'trace', 'decode', 'options', 'findings', 'threads', 'longTasks', 'idleWorkers', 'threadpool', 'blockingCode', 'sourceMaps', 'selfCost', 'checks']);
    expect(report.trace).toMatchObject({ traceId: '00112233445566778899aabbccddeeff', serviceName: 'synthetic', threadpoolSize: 4, files: [{ path: path('good.bin'), fileIndex: 0 }] });
    expect(report.threads.map((t) => t.name)).toEqual(['main', 'worker 1 (pool.mjs)']);
    expect(report.longTasks.items[0]).toMatchObject({ threadName: 'main', durationNs: ms(76), startIso: '2023-11-14T22:13:22.010Z' });
    expect(report.threadpool.delay.count).toBe(20);
    // The thresholds given on the command line are echoed.
    expect(json([path('good.bin'), '--long-task-ms', '80', '--idle-ms=5', '--top', '2']).options).toMatchObject({ longTaskNs: 80e6, idleNs: 5e6, top: 2 });
  });

  it('converts to JSON Lines with --jsonl, and still prints the report', () => {
    const out = join(dir, 'records.jsonl');
    const r = cli([path('good.bin'), '--jsonl', out]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Findings/);
    const lines = readFileSync(out, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'header', traceId: '00112233445566778899aabbccddeeff' });
    // The header, every record, then one line per listed long task (this trace has no stack samples: no blockingCode line).
    const report = json([path('good.bin')]);
    expect(lines.length).toBe(1 + report.decode.records + report.longTasks.items.length);
    expect(lines.at(-1)).toMatchObject({ type: 'longTask', durationNs: report.longTasks.items.at(-1)!.durationNs });
    expect(lines[1]).toMatchObject({ type: 'pollStart', thread: 'main', time: '2023-11-14T22:13:20.000Z' });
    expect(lines.some((l) => l.thread === 'worker 1 (pool.mjs)')).toBe(true);
  });

  it('writes JSON Lines to stdout with --jsonl -', () => {
    const r = cli([path('good.bin'), '--jsonl', '-']);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'header' });
    expect(lines.every((l) => l.startsWith('{'))).toBe(true);
  });

  it('analyzes only the --since/--until window', () => {
    const report = json([path('good.bin'), '--since', '+0.5s', '--until', '1s']);
    expect(report.trace.window).toEqual({ sinceNs: 0.5e9, untilNs: 1e9, sinceIso: '2023-11-14T22:13:20.500Z', untilIso: '2023-11-14T22:13:21.000Z' });
    expect(report.trace.startNs).toBeGreaterThanOrEqual(0.5e9);
    expect(report.trace.endNs).toBeLessThanOrEqual(1e9);
    const iso = json([path('good.bin'), '--since', '2023-11-14T22:13:21Z']);
    expect(iso.trace.window.sinceNs).toBe(1e9);
  });
});

describe('--fail-on', () => {
  it('exits 1 and prints each violated condition', () => {
    const r = cli([path('good.bin'), '--json', '--fail-on', 'long-task>50ms', '--fail-on', 'dropped>0', '--fail-on', 'threadpool-p99>=20us']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^analyze-trace: FAIL long-task>50ms violated: the longest busy stretch was 76 ms \(main at 22:13:22\.010\)$/m);
    expect(r.stderr).toMatch(/^analyze-trace: FAIL threadpool-p99>=20us violated: the p99 threadpool queueing delay was 20 µs$/m);
    expect(r.stderr).not.toMatch(/dropped>0/);
    const checks = (JSON.parse(r.stdout) as TraceReport).checks;
    expect(checks.map((c) => [c.expression, c.violated])).toEqual([
      ['long-task>50ms', true],
      ['dropped>0', false],
      ['threadpool-p99>=20us', true],
    ]);
  });

  it('exits 0 when every condition holds, and lists the checks in the text report', () => {
    const r = cli([path('good.bin'), '--fail-on', 'long-task>100ms', '--fail-on', 'utilization>0.9']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Checks \(--fail-on\)\n {2}✔ ok {3}long-task>100ms ok/);
  });

  it('shows a failed check in the text report', () => {
    const r = cli([path('good.bin'), '--fail-on', 'long-tasks>0']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/✖ FAIL long-tasks>0 violated: the number of long tasks was 1/);
  });
});

describe('inputs', () => {
  it('analyzes each trace of the input and reports each (JSON: an array)', () => {
    const r = cli([path('two'), '--json']);
    expect(r.status).toBe(0);
    const reports = JSON.parse(r.stdout) as TraceReport[];
    expect(reports.map((x) => x.trace.traceId)).toEqual(['aa112233445566778899aabbccddeeff', 'bb112233445566778899aabbccddeeff']);
    expect(cli([path('two')]).stdout).toMatch(/Trace 1 of 2[\s\S]*Trace 2 of 2/);
  });

  it('reads the rotated files of a directory in order, skipping an empty file being written, with a warning', () => {
    const r = cli([path('rotated'), '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: skipped .*trace\.9\.active\.bin: is empty/);
    const report = JSON.parse(r.stdout) as TraceReport;
    expect(report.trace.files.map((f) => f.fileIndex)).toEqual([7, 8]);
    expect(report.trace.durationNs).toBeGreaterThan(ms(3900));
    expect(report.longTasks.count).toBe(2);
  });

  it('says that a torn tail of the file being written is no damage', () => {
    const r = cli([path('live'), '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: .*trace\.1\.active\.bin: offset \d+: truncated: .*\(the file is still being written\)/);
    expect((JSON.parse(r.stdout) as TraceReport).trace.files.map((f) => f.fileIndex)).toEqual([0, 1]);
  });

  it('expands a glob itself (for shells that do not)', () => {
    const report = json([join(dir, 'rotated', 'trace.?.bin')]);
    expect(report.trace.files).toHaveLength(2);
  });

  it('analyzes a damaged trace with warnings: a corrupt frame and a truncated tail', () => {
    const r = cli([path('damaged.bin'), '--json']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: .*damaged\.bin: offset \d+: corrupt frame \(checksum mismatch\)/);
    expect(r.stderr).toMatch(/warning: .*damaged\.bin: offset \d+: truncated/);
    const report = JSON.parse(r.stdout) as TraceReport;
    expect(report.decode).toMatchObject({ corruptFrames: 1, truncated: 1 });
    expect(report.threads.length).toBeGreaterThan(0);
    expect(report.findings.some((f) => f.kind === 'damaged-trace')).toBe(true);
  });

  it('runs as an executable with its shebang', () => {
    const r = spawnSync(CLI, ['--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^looptrace\/\d+\.\d+\.\d+ analyze-trace\n$/);
  });
});

describe('progress bar', () => {
  it('draws at most ten times a second and erases itself', () => {
    const writes: string[] = [];
    const bar = new ProgressBar(100 << 20, (s) => writes.push(s));
    bar.update(10 << 20);
    bar.update(20 << 20); // within 100 ms of the first: skipped
    expect(writes).toHaveLength(1);
    expect(writes[0]).toMatch(/^\r\[###-+\] 10% 10\/100 MiB/);
    bar.done();
    expect(writes.at(-1)).toBe('\r\u001b[2K');
  });
});
