// analyze-trace --merge: many processes in one analysis, end to end with real processes.
// - Two services (two node processes, each with looptrace and HTTP operations) write into one
//   directory; the front one calls the back one over node:http and fetch() inside each request.
//   --merge --trace-id gives one operation tree spanning both, labelled by service and pid;
//   --merge alone finds the requests that crossed processes. Two directories given together join
//   the same way.
// - A node:cluster app (three workers on one directory) blocking for different times: --merge
//   sets the processes side by side and names the one blocked most.
// - Bad input: a single process still merges and says so; conflicting options exit 2 with one line.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MergedReport, MergedTreeNode } from '../src/analyze/merge.js';
import { removeTempDirs, requireBuild, ROOT, runFixture, tempDir, type RunResult } from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/cli/analyze-trace.js'), '--no-color', '--no-progress', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Service {
  port: number;
  done: Promise<RunResult>;
}

/** Starts test/fixtures/operations/service.mjs and resolves once it listens. */
function startService(arg: Record<string, unknown>): Promise<Service> {
  return new Promise((resolve, reject) => {
    let resolved = false;
    const done = runFixture('../operations/service.mjs', arg, {
      timeoutMs: 60_000,
      onLine: (line) => {
        const m = /^PORT (\d+)$/.exec(line);
        if (m !== null && !resolved) {
          resolved = true;
          resolve({ port: Number(m[1]), done });
        }
      },
    });
    done.then((run) => {
      if (!resolved) reject(new Error(`service ended before listening: ${run.stderr}`));
    }, reject);
  });
}

async function get(port: number, path: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${await res.text()}`);
  return res.text();
}

/** The node and its descendants, depth first. */
function walk(nodes: readonly MergedTreeNode[]): MergedTreeNode[] {
  return nodes.flatMap((n) => [n, ...walk(n.children)]);
}

/** How long the back service keeps its loop busy per request. */
const SPIN_MS = 250;

describe('two services, one directory', () => {
  let dir: string;
  const orderTraces: string[] = [];
  const cartTraces: string[] = [];
  let pids: { shop: number; prices: number };

  beforeAll(async () => {
    dir = tempDir();
    const path = join(dir, 'trace.bin');
    const prices = await startService({ path, name: 'prices', spinMs: SPIN_MS });
    const shop = await startService({ path, name: 'shop', downstream: prices.port });
    // One at a time, so each request is its own busy stretch in the back service.
    for (let i = 1; i <= 3; i++) {
      orderTraces.push((JSON.parse(await get(shop.port, `/orders/${i}`)) as { traceId: string }).traceId);
      cartTraces.push((JSON.parse(await get(shop.port, `/carts/${i}`)) as { traceId: string }).traceId);
    }
    await get(shop.port, '/stop');
    await get(prices.port, '/stop');
    const [shopRun, pricesRun] = await Promise.all([shop.done, prices.done]);
    expect(shopRun.code, shopRun.stderr).toBe(0);
    expect(pricesRun.code, pricesRun.stderr).toBe(0);
    pids = { shop: (shopRun.results[0] as { pid: number }).pid, prices: (pricesRun.results[0] as { pid: number }).pid };
  }, 90_000);

  it('--merge --trace-id --json gives one tree spanning both services, labelled by service and pid', () => {
    const r = cli(dir, '--merge', '--json', '--trace-id', orderTraces[1]!);
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as MergedReport;
    expect(m.merged).toBe(true);
    expect(m.note).toBeNull();
    expect(m.processes.map((p) => p.label).sort()).toEqual([`prices (pid ${pids.prices})`, `shop (pid ${pids.shop})`]);
    expect(m.reports).toHaveLength(2);
    // The index served the join and stays out of the output.
    expect(m.reports.every((rep) => rep.operations !== undefined && !('indexed' in rep.operations))).toBe(true);
    const tree = m.operations!.tree!;
    expect(tree.traceId).toBe(orderTraces[1]);
    expect(tree.processes).toHaveLength(2);
    expect(tree.roots).toHaveLength(1);
    const [root] = tree.roots;
    expect(root).toMatchObject({ name: 'GET /orders/:id', label: `shop (pid ${pids.shop})`, status: 'completed', parentSpanId: null });
    expect(root!.children).toHaveLength(1);
    const [downstream] = root!.children;
    expect(downstream).toMatchObject({ name: 'GET /prices/:id', label: `prices (pid ${pids.prices})`, parentSpanId: root!.spanId });
    expect(downstream!.children.map((c) => c.name)).toEqual(['lookup']);
    expect(downstream!.children[0]!.label).toBe(`prices (pid ${pids.prices})`);
    // Wall-clock placement across the two processes: the call starts inside the request that made
    // it. (Its end may be stamped after the caller's: the back service's response 'finish' can run
    // after the front service has read the answer and ended its request.)
    expect(downstream!.startUnixMs).toBeGreaterThanOrEqual(root!.startUnixMs);
    expect(downstream!.startUnixMs).toBeLessThanOrEqual(root!.startUnixMs + root!.durationNs! / 1e6);
    expect(tree.durationNs).toBeGreaterThanOrEqual(60e6);
  });

  it('joins fetch() calls the same way', () => {
    const r = cli(dir, '--merge', '--json', '--trace-id', cartTraces[0]!);
    expect(r.status, r.stderr).toBe(0);
    const tree = (JSON.parse(r.stdout) as MergedReport).operations!.tree!;
    expect(walk(tree.roots).map((n) => `${n.name}@${n.label.split(' ')[0]}`)).toEqual(['GET /carts/:id@shop', 'GET /prices/:id@prices', 'lookup@prices']);
  });

  it('--merge alone finds every request that crossed the two processes, slowest first', () => {
    const r = cli(dir, '--merge', '--json');
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as MergedReport;
    const joined = m.operations!.joined;
    expect(joined.count).toBe(6);
    expect(joined.indexTruncated).toBe(false);
    expect(joined.items.map((t) => t.traceId).sort()).toEqual([...orderTraces, ...cartTraces].sort());
    for (const t of joined.items) {
      expect(t.labels).toEqual([`shop (pid ${pids.shop})`, `prices (pid ${pids.prices})`]);
      expect(walk(t.roots)).toHaveLength(3);
      expect(t.roots).toHaveLength(1);
    }
    const durations = joined.items.map((t) => t.durationNs!);
    expect([...durations].sort((a, b) => b - a)).toEqual(durations);
    // The back service spun SPIN_MS per request (the front one's first fetch() loads undici: a long task of its own, 177 ms in one
    // run on a loaded machine): its loop blocked most.
    expect(m.blockedMost?.label).toBe(`prices (pid ${pids.prices})`);
    const prices = m.processes.find((p) => p.pid === pids.prices)!;
    expect(prices.longTasks.count).toBeGreaterThanOrEqual(6);
    expect(prices.worstLongTask?.operation?.name).toMatch(/^(lookup|GET \/prices\/:id)$/);
  });

  it('prints the joined tree with service labels in the text report', () => {
    const r = cli(dir, '--merge', '--trace-id', orderTraces[0]!);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('looptrace analysis of 2 processes, merged');
    expect(r.stdout).toContain(`Trace ${orderTraces[0]} across processes: 3 operations in 2 processes`);
    expect(r.stdout).toMatch(new RegExp(`✓ GET /orders/:id .* on shop \\(pid ${pids.shop}\\) main\\n\\s+└─ ✓ GET /prices/:id .* on prices \\(pid ${pids.prices}\\) main\\n\\s+└─ ✓ lookup`));
    expect(r.stdout).toContain('Requests across processes: 6 trace ids ran in two or more processes, slowest first');
    // Each process's operations, labelled (GET /stop included).
    expect(r.stdout).toMatch(new RegExp(`\\[shop \\(pid ${pids.shop}\\)\\] Operations: 7 \\(7 ended, 0 open at the end\\)`));
    const lookupRow = new RegExp(`\\[prices \\(pid ${pids.prices}\\)\\] Operations: 13 \\(13 ended, 0 open at the end\\)[^]*\\n\\s+lookup\\s+6\\s+0\\s+0\\s+0%\\s+(\\d+) ms`).exec(r.stdout);
    expect(lookupRow, r.stdout).not.toBeNull();
    // The p50 of lookup: each spun SPIN_MS of wall time (more when the machine is loaded, never less).
    expect(Number(lookupRow![1])).toBeGreaterThanOrEqual(SPIN_MS);
    // --op filters list matches per process.
    const matches = cli(dir, '--merge', '--op', 'lookup', '--last', '2');
    expect(matches.status, matches.stderr).toBe(0);
    expect(matches.stdout).toMatch(new RegExp(`\\[prices \\(pid ${pids.prices}\\)\\] Operations: [^]*Matching operations named lookup: 6, the last 2\\n\\s+✓ lookup`));
    expect(r.stdout).toMatch(/Blocked most\n\s+✖ prices \(pid \d+\) was blocked most: .* in \d+ long tasks on its request-serving loops, \d+% of all processes'/);
  });

  it('--merge --html opens with the joined requests, each tree labelled by service', () => {
    const out = join(tempDir(), 'merged.html');
    const r = cli(dir, '--merge', '--html', out);
    expect(r.status, r.stderr).toBe(0);
    const html = readFileSync(out, 'utf8');
    expect(html).toContain('<h2>Requests across processes: 6 trace ids ran in two or more processes, slowest first</h2>');
    for (const id of [...orderTraces, ...cartTraces]) expect(html).toContain(`trace ${id}</span></h3>`);
    expect(html).toMatch(new RegExp(`<ul class="op-tree"><li><span>✓ <b>GET /(orders|carts)/:id</b>[^<]*</span> <span class="meta">[^<]*</span> <b>shop \\(pid ${pids.shop}\\)</b> main<ul class="op-tree"><li><span>✓ <b>GET /prices/:id</b>[^<]*</span> <span class="meta">[^<]*</span> <b>prices \\(pid ${pids.prices}\\)</b> main<ul class="op-tree"><li><span>✓ <b>lookup</b>`));
    // Each process's own report follows.
    expect(html).toContain('Process 1 of 2: looptrace analysis of');
    expect(html).toContain('Process 2 of 2: looptrace analysis of');
  });

  it('two directories given together join the same way', () => {
    const a = join(tempDir(), 'a');
    const b = join(tempDir(), 'b');
    mkdirSync(a);
    mkdirSync(b);
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.bin')) continue;
      copyFileSync(join(dir, name), join(name.includes(`.${pids.shop}-`) ? a : b, name));
    }
    expect(readdirSync(a).length).toBeGreaterThan(0);
    expect(readdirSync(b).length).toBeGreaterThan(0);
    const r = cli(a, b, '--merge', '--json', '--trace-id', orderTraces[2]!);
    expect(r.status, r.stderr).toBe(0);
    const tree = (JSON.parse(r.stdout) as MergedReport).operations!.tree!;
    expect(walk(tree.roots).map((n) => n.name)).toEqual(['GET /orders/:id', 'GET /prices/:id', 'lookup']);
  });

  it('one process still merges, and says there was nothing to join', () => {
    const one = join(tempDir(), 'one');
    mkdirSync(one);
    for (const name of readdirSync(dir)) if (name.includes(`.${pids.prices}-`)) copyFileSync(join(dir, name), join(one, name));
    const text = cli(one, '--merge');
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`--merge: the input holds one process (prices (pid ${pids.prices})): nothing to join across processes`);
    expect(text.stdout).toContain('looptrace analysis of 1 process, merged');
    const json = JSON.parse(cli(one, '--merge', '--json').stdout) as MergedReport;
    expect(json.processes).toHaveLength(1);
    expect(json.note).toMatch(/one process/);
    expect(json.operations!.joined.count).toBe(0);
  });
});

describe('a node:cluster app on one directory', () => {
  it('puts the workers side by side and names the one blocked most', async () => {
    const dir = tempDir();
    const run = await runFixture('../analyze/cluster.mjs', { path: join(dir, 'trace.bin'), blocks: [0, 120, 300] }, { timeoutMs: 60_000 });
    expect(run.code, run.stderr).toBe(0);
    const { workers, codes } = run.results[0] as { workers: { index: number; blockMs: number; pid: number }[]; codes: number[] };
    expect(codes).toEqual([0, 0, 0]);
    const r = cli(dir, '--merge', '--json', '--long-task-ms', '50');
    expect(r.status, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout) as MergedReport;
    expect(m.processes).toHaveLength(3);
    expect(m.operations).toBeNull();
    const byPid = new Map(m.processes.map((p) => [p.pid, p]));
    const [idle, medium, heavy] = workers.map((w) => byPid.get(w.pid)!);
    expect(idle!.label).toBe(`cluster-app (pid ${workers[0]!.pid})`);
    // Each block is a long task of at least its length. Start-up (loading modules after telemetry
    // started) can be a long task of its own on a loaded machine, in any worker: count by size.
    const atLeast = (p: typeof idle, ns: number): number => m.reports[p!.process]!.longTasks.byThread.flatMap((g) => g.items).filter((t) => t.durationNs >= ns).length;
    expect(atLeast(heavy, 300e6)).toBeGreaterThanOrEqual(3);
    expect(atLeast(medium, 120e6)).toBeGreaterThanOrEqual(3);
    expect(heavy!.longTasks.servingTotalNs).toBeGreaterThan(medium!.longTasks.servingTotalNs);
    expect(medium!.longTasks.servingTotalNs).toBeGreaterThan(idle!.longTasks.servingTotalNs);
    expect(m.blockedMost).toMatchObject({ process: heavy!.process, label: heavy!.label });
    expect(m.blockedMost!.share).toBeGreaterThan(0.5);
    for (const p of [idle!, medium!, heavy!]) expect(p.mainUtilization).not.toBeNull();
    expect(heavy!.mainUtilization!).toBeGreaterThan(idle!.mainUtilization!);
    // Findings of every process, each with its process.
    expect(m.findings.items[0]).toMatchObject({ kind: 'long-task', process: heavy!.process });

    const text = cli(dir, '--merge', '--long-task-ms', '50');
    expect(text.status, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    const table = lines.slice(lines.findIndex((l) => l.startsWith('Processes side by side')) + 1);
    expect(table[0]).toMatch(/process\s+span\s+threads\s+main util\s+busiest loop\s+long tasks\s+long-task time\s+serving\s+worst/);
    // Ranked: the heaviest first.
    expect(table[1]).toContain(`cluster-app (pid ${workers[2]!.pid})`);
    expect(table[2]).toContain(`cluster-app (pid ${workers[1]!.pid})`);
    expect(text.stdout).toContain(`cluster-app (pid ${workers[2]!.pid}) was blocked most`);
    expect(text.stdout).toMatch(new RegExp(`\\[cluster-app \\(pid ${workers[2]!.pid}\\)\\] main was (kept )?busy`));
  }, 60_000);
});

describe('bad input', () => {
  it('conflicting options give one line naming them and exit 2', () => {
    for (const [flag, ...rest] of [['--view'], ['--live'], ['--perfetto', 'out.pftrace'], ['--chrome-trace', 'out.json']] as const) {
      const r = cli('some-dir', '--merge', flag, ...rest);
      expect(r.status, flag).toBe(2);
      expect(r.stderr).toContain(`--merge joins several processes into one report, and ${flag} shows one trace; run ${flag} without --merge`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const r = cli('--merge', '--merge=yes', 'x');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--merge takes no value, got "yes"');
  });
});
