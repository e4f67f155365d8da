// The pure parts of scripts/compare-overhead-perf.ts: the command line, the reading of `perf
// script` output and the attribution of samples to looptrace. The measurement itself needs perf
// and minutes of load (docs/COMPARE-OVERHEAD.md, "Sampled by perf").

import { describe, expect, it } from 'vitest';
import { functionName, parsePerfArgs, parsePerfScript, perfPass, perfShareOf, PerfUsageError, renderPerf, withinTolerance, type PerfResult } from '../scripts/compare-overhead-perf.js';

// Five samples as `perf script -F comm,tid,ip,sym,dso` prints them (taken from a real run, cut
// short): JavaScript on the main thread, the hooks' CPU-clock syscall, the writer in a page fault,
// the entry callback, and a watchdog sample whose chain perf could not walk (its one frame on
// the header line) in a binary replaced since.
const SCRIPT = `node 15256 
\t         14dc8a6 Builtins_LoadIC_NoFeedback (/usr/bin/node)
\t          8df767 non-virtual thunk to node::(anonymous namespace)::Parser::OnStreamRead(long, uv_buf_t const&) (/usr/bin/node)
\t         14c05fb uv__io_poll (/usr/bin/node)

node 15256 
\tffffffff81e5b2a0 pvm_irq_enable ([kernel.kallsyms])
\tffffffff8113c2b0 posix_cpu_clock_get ([kernel.kallsyms])
\t           e5c0d __vdso_clock_gettime ([vdso])
\t           d5c3a clock_gettime@@GLIBC_2.17 (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t           19fdf looptrace::LoopHooks::OnCheck+0x1f (/work/main/build/Release/looptrace.node)
\t         14ac8a7 uv_run (/usr/bin/node)

looptrace-write 15267 
\tffffffff81604a94 __handle_mm_fault ([kernel.kallsyms])
\t          16e0ba __memset_avx512_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t           227aa looptrace::Encoder::Counted (/work/main/build/Release/looptrace.node)

node 15256 
\t            2497 looptrace_v8::(anonymous namespace)::OnCallEntered(v8::Isolate*) (/opt/x/prebuilds/linux-x64/looptrace_v8.abi115.node)
\t          b0c01d v8::Function::Call (/usr/bin/node)

looptrace-watch   15268          2180a looptrace::Watchdog::Run (/work/main/build/Release/looptrace.node (deleted))
`;

describe('compare-overhead --perf', () => {
  it('has the documented defaults and reads its options', () => {
    expect(parsePerfArgs(['--perf'])).toEqual({ handlers: ['async', 'sync'], seconds: 20, frequencyHz: 2000, connections: 8, timeScaled: false, tolerancePct: 30, json: false });
    expect(parsePerfArgs(['--perf', '--handler', 'sync', '--seconds', '5', '--frequency', '997', '--connections', '2', '--time-scaled', '--tolerance', '20', '--json'])).toEqual({
      handlers: ['sync'],
      seconds: 5,
      frequencyHz: 997,
      connections: 2,
      timeScaled: true,
      tolerancePct: 20,
      json: true,
    });
  });

  it.each([
    [['--seconds', '0'], /--seconds must be an integer from 1 to 3600, got "0"/],
    [['--frequency', '1.5'], /--frequency must be an integer .* got "1.5"/],
    [['--handler', 'all'], /--handler must be async, sync or both, got "all"/],
    [['--connections'], /--connections needs a value/],
    [['--rounds', '3'], /unknown argument "--rounds" with --perf/],
    [['--tolerance', '100'], /--tolerance must be an integer from 1 to 99, got "100"/],
    [['--tolerance', '-5'], /--tolerance must be an integer from 1 to 99, got "-5"/],
  ])('rejects %j naming the bad value', (args, message) => {
    expect(() => parsePerfArgs(args)).toThrow(PerfUsageError);
    expect(() => parsePerfArgs(args)).toThrow(message);
  });

  it('reads samples: the thread name, then each frame as symbol and object', () => {
    const samples = parsePerfScript(SCRIPT);
    expect(samples.map((s) => s.comm)).toEqual(['node', 'node', 'looptrace-write', 'node', 'looptrace-watch']);
    expect(samples[4]!.frames).toEqual([{ symbol: 'looptrace::Watchdog::Run', object: '/work/main/build/Release/looptrace.node' }]);
    expect(samples[0]!.frames[1]).toEqual({ symbol: 'non-virtual thunk to node::(anonymous namespace)::Parser::OnStreamRead(long, uv_buf_t const&)', object: '/usr/bin/node' });
    expect(samples[1]!.frames[0]).toEqual({ symbol: 'pvm_irq_enable', object: '[kernel.kallsyms]' });
    expect(samples[1]!.frames).toHaveLength(6);
  });

  it('names functions without offset and parameters, keeping namespaces in parentheses', () => {
    expect(functionName('looptrace::LoopHooks::OnCheck+0x1f')).toBe('looptrace::LoopHooks::OnCheck');
    expect(functionName('looptrace_v8::(anonymous namespace)::OnCallEntered(v8::Isolate*)')).toBe('looptrace_v8::(anonymous namespace)::OnCallEntered');
    expect(functionName('f(std::function<void (int)>)')).toBe('f');
    expect(functionName('[unknown]')).toBe('[unknown]');
  });

  it("counts looptrace's samples: its threads whole, other threads where the chain passes through its objects", () => {
    const share = perfShareOf(parsePerfScript(SCRIPT));
    expect(share).toMatchObject({ samples: 5, writer: 1, watchdog: 1, inLoops: 2, inKernel: 2 });
    expect(share.byFunction).toEqual([
      { fn: 'looptrace.node:looptrace::LoopHooks::OnCheck', samples: 1, kernel: 1 },
      { fn: 'looptrace_v8.abi115.node:looptrace_v8::(anonymous namespace)::OnCallEntered', samples: 1, kernel: 0 },
    ]);
  });

  it('gates on self-accounting / perf within the tolerance on every handler', () => {
    expect(withinTolerance(1.3, 30)).toBe(true);
    expect(withinTolerance(0.7, 30)).toBe(true);
    expect(withinTolerance(1.31, 30)).toBe(false);
    expect(withinTolerance(0.69, 30)).toBe(false);
    expect(withinTolerance(1.15, 10)).toBe(false);
    const share = perfShareOf(parsePerfScript(SCRIPT));
    const result = (handler: 'async' | 'sync', selfOverPerf: number): PerfResult => ({
      handler,
      requests: 1000,
      processNsPerRequest: 40_000,
      perf: share,
      perfPct: 1,
      perfPctPlusMinus: 0.1,
      selfPct: selfOverPerf,
      selfParts: { writerNs: 1, watchdogNs: 1, hooksNs: 1, timersNs: 0, stacksNs: 0 },
      selfOverPerf,
      within: withinTolerance(selfOverPerf, 30),
    });
    const good = [result('async', 1.09), result('sync', 0.93)];
    expect(perfPass(good)).toBe(true);
    expect(renderPerf(good, 30)).toMatch(/self-accounting \/ perf 1\.09 \(within 30%\)[\s\S]*gate: .* PASS$/);
    const bad = [result('async', 1.09), result('sync', 1.45)];
    expect(perfPass(bad)).toBe(false);
    expect(renderPerf(bad, 30)).toMatch(/self-accounting \/ perf 1\.45 \(NOT within 30%\)[\s\S]*gate: .* FAIL$/);
    expect(perfPass([])).toBe(false);
  });
});
