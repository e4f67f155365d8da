// The pure parts of scripts/compare-overhead.ts: the command line, the statistics and the gate.
// The measurement itself runs in CI after the tests (.ci/run) and is too slow for a unit test.

import { describe, expect, it } from 'vitest';
import { gate, median, parseArgs, summarise, UsageError, type Options, type Run } from '../scripts/compare-overhead.js';

function parse(args: string[]): Options {
  const o = parseArgs(args);
  if (o === 'help') throw new Error('unexpected help');
  return o;
}

describe('compare-overhead command line', () => {
  it('has the documented defaults', () => {
    const o = parse([]);
    expect(o).toMatchObject({ rounds: 5, durationS: 5, warmupS: 1, connections: 32, handlers: ['async', 'sync'], maxOverheadPct: 10, maxBytesPerRecord: 12, confirmRounds: 5, pin: true, json: false });
    expect(o.labels).toEqual(['baseline', 'rotating-writer', 'null-writer']);
  });

  it('reads --name value and --name=value', () => {
    const o = parse(['--rounds', '3', '--duration=2', '--warmup', '0.5', '--handler', 'sync', '--max-overhead', '2.5', '--json', '--no-pin']);
    expect(o).toMatchObject({ rounds: 3, durationS: 2, warmupS: 0.5, handlers: ['sync'], maxOverheadPct: 2.5, json: true, pin: false, confirmRounds: 3 });
    expect(parse(['--confirm-rounds', '0']).confirmRounds).toBe(0);
  });

  it('adds the peers and the baseline, and numbers repeats for A/A checks', () => {
    expect(parse(['--peers']).labels).toEqual(['baseline', 'rotating-writer', 'null-writer', 'async-hooks', 'eld-elu', 'trace-events']);
    expect(parse(['--configs', 'null-writer,hooks-only']).labels).toEqual(['baseline', 'null-writer', 'hooks-only']);
    expect(parse(['--configs', 'baseline,baseline']).labels).toEqual(['baseline', 'baseline#2']);
  });

  it.each([
    [['--rounds', '0'], /--rounds must be an integer from 1 to 1000, got "0"/],
    [['--rounds', 'x'], /--rounds .* got "x"/],
    [['--duration', '1.5'], /--duration must be an integer .* got "1.5"/],
    [['--duration'], /--duration needs a value/],
    [['--rounds', '--json'], /--rounds needs a value/],
    [['--handler', 'both2'], /--handler must be async, sync or both, got "both2"/],
    [['--configs', 'baseline,nope'], /unknown configuration "nope"/],
    [['--max-overhead', '-1'], /--max-overhead must be a number from 0 .* got "-1"/],
    [['--json=yes'], /--json takes no value, got "yes"/],
    [['--frobnicate'], /unknown argument "--frobnicate"/],
  ])('rejects %j', (args, message) => {
    expect(() => parseArgs(args)).toThrow(UsageError);
    expect(() => parseArgs(args)).toThrow(message);
  });
});

function run(round: number, label: string, reqPerS: number, cpuUsPerRequest: number, extra: Partial<Run> = {}): Run {
  return {
    round, handler: 'async', label, slices: 1, reqPerS, latencyP50Ms: 1, latencyP99Ms: 2, requests: 1000, cpuUsPerRequest, idleCpuMsPerS: 0,
    serverCpuPct: 99, loopBusyPct: 99, recordsPerRequest: null, bytesPerRequest: null, bytesPerRecord: null, droppedRecords: null, selfCpuPct: null,
    clientErrors: 0, telemetryErrors: [], ...extra,
  };
}

describe('compare-overhead statistics', () => {
  it('takes medians', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('computes overhead as the median of per-round ratios to the same round', () => {
    // Round 2 is slow for everyone: ratios, not absolute medians, must cancel it.
    const runs = [
      run(0, 'baseline', 1000, 10), run(0, 'rotating-writer', 990, 10.1),
      run(1, 'baseline', 500, 20), run(1, 'rotating-writer', 495, 20.2),
      run(2, 'baseline', 1000, 10), run(2, 'rotating-writer', 900, 11),
    ];
    const [base, rw] = summarise(runs, ['async'], ['baseline', 'rotating-writer']);
    expect(base!.reqPerSOverheadPct).toBeNull();
    expect(rw!.reqPerSOverheadPct).toBeCloseTo(1, 6);
    expect(rw!.cpuPerRequestOverheadPct).toBeCloseTo(1, 6);
    expect(rw!.reqPerSOverheadRangePct![0]).toBeCloseTo(1, 6);
    expect(rw!.reqPerSOverheadRangePct![1]).toBeCloseTo(10, 6);
  });

  it('gates req/s, CPU/request and bytes/record of rotating-writer', () => {
    const telemetry = { recordsPerRequest: 0.1, bytesPerRequest: 0.5, bytesPerRecord: 5, droppedRecords: 0 };
    const ok = summarise([run(0, 'baseline', 1000, 10), run(0, 'rotating-writer', 950, 10.5, telemetry)], ['async'], ['baseline', 'rotating-writer']);
    expect(gate(ok, 10, 12).passed).toBe(true);
    expect(gate(ok, 4, 12).checks.filter((c) => c.startsWith('FAIL'))).toHaveLength(2);
    const fat = summarise([run(0, 'baseline', 1000, 10), run(0, 'rotating-writer', 1000, 10, { ...telemetry, bytesPerRecord: 13 })], ['async'], ['baseline', 'rotating-writer']);
    expect(gate(fat, 10, 12)).toMatchObject({ applied: true, passed: false });
    const aa = summarise([run(0, 'baseline', 1000, 10), run(0, 'baseline#2', 500, 20)], ['async'], ['baseline', 'baseline#2']);
    expect(gate(aa, 10, 12)).toMatchObject({ applied: false, passed: true });
  });
});
