// The in-process live view (startRuntimeTelemetry({ live: { port } })): a real service in a child
// process serves the viewer page; real Chromium follows it over Server-Sent Events and sees the
// loops' utilization and a long task with its stack as it happens. The token is required, and
// with nobody connected the view does nothing: no timer, no feed opened, no update computed.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type LaunchedBrowser } from '../scripts/chromium.js';
import { NullWriter, RotatingWriter, startRuntimeTelemetry, TelemetryError } from '../src/index.js';

const FIXTURE = resolve(import.meta.dirname, 'fixtures/live/service.mjs');

interface LiveStats {
  url: string | undefined;
  clients: number;
  updates: number;
  feedsOpened: number;
  ticking: boolean;
}

class Service {
  readonly child: ChildProcess;
  private readonly waiting: ((m: { type: string } & Record<string, unknown>) => boolean)[] = [];
  readonly errors: string[] = [];
  constructor(arg: object) {
    this.child = fork(FIXTURE, [JSON.stringify(arg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (m: { type: string } & Record<string, unknown>) => {
      if (m.type === 'error') this.errors.push(String(m['message']));
      const i = this.waiting.findIndex((w) => w(m));
      if (i >= 0) this.waiting.splice(i, 1);
    });
  }
  next<T>(type: string, send?: object): Promise<T> {
    const p = new Promise<T>((done) => this.waiting.push((m) => (m.type === type ? (done(m as T), true) : false)));
    if (send !== undefined) this.child.send(send);
    return p;
  }
  async stats(): Promise<LiveStats> {
    return (await this.next<{ live: LiveStats }>('stats', { type: 'stats' })).live;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let chrome: LaunchedBrowser;
let dir = '';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'looptrace-live-'));
  chrome = await launchChromium();
}, 60_000);

afterAll(async () => {
  await chrome?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('startRuntimeTelemetry({ live })', () => {
  it('rejects a bad live option by name, before anything starts', () => {
    const writer = new RotatingWriter(join(dir, 'never', 'trace.bin'));
    const bad: [unknown, RegExp][] = [
      [{ port: 70000 }, /option live\.port must be an integer from 0 to 65535.*got 70000/],
      [{ port: -1 }, /option live\.port .* got -1/],
      [{ port: '8080' }, /option live\.port .* got "8080"/],
      [{ host: '' }, /option live\.host must be an IP address or host name, got ""/],
      [{ longTaskMs: 0 }, /option live\.longTaskMs .* got 0/],
      [{ prot: 1 }, /option live\.prot must be one of port, host, longTaskMs \(unknown option\), got 1/],
      [8080, /option live must be an object such as \{ port: 0 \}, got 8080/],
    ];
    for (const [live, message] of bad) {
      const start = () => startRuntimeTelemetry({ writer, live } as never);
      expect(start).toThrow(TelemetryError);
      expect(start).toThrow(message);
    }
    expect(() => startRuntimeTelemetry({ writer: new NullWriter(), live: { port: 0 } })).toThrow(/option live must be used with a writer that keeps the trace/);
  });

  for (const writer of ['rotating', 'chunks'] as const) {
    it(`serves a live page that updates every second with utilization and a long task with its stack (${writer} writer); idle while nobody is connected`, async () => {
      const service = new Service({ dir: mkdtempSync(join(dir, `${writer}-`)), writer });
      try {
        const { url, before } = await service.next<{ url: string; before: LiveStats }>('url');
        expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
        expect(before.url).toBe(url);

        // Nobody connected, while the loop works: no timer, no feed, no update.
        await service.next('blocked', { type: 'block', ms: 150 });
        await sleep(1500);
        expect(await service.stats()).toMatchObject({ clients: 0, updates: 0, feedsOpened: 0, ticking: false });

        // The token is required, on every path.
        const base = url.slice(0, url.indexOf('?'));
        for (const path of ['', '?token=', `?token=${'0'.repeat(32)}`, 'live', 'files', `live?token=${'f'.repeat(32)}`]) {
          const r = await fetch(`${base}${path}`);
          expect(r.status, `${base}${path}`).toBe(403);
        }
        expect(await service.stats()).toMatchObject({ clients: 0, feedsOpened: 0 });

        const page = await chrome.context.newPage();
        page.on('dialog', () => {
          throw new Error('a dialog opened');
        });
        await page.goto(url);
        await page.waitForFunction(() => ((globalThis as unknown as { looptraceLive?: { count: number } }).looptraceLive?.count ?? 0) >= 2, null, { timeout: 15_000 });
        const connected = await service.stats();
        expect(connected).toMatchObject({ clients: 1, feedsOpened: 1, ticking: true });
        const mainRow = await page.locator('.live-threads tr', { hasText: 'main' }).first().textContent();
        expect(mainRow).toMatch(/main\d+%/);

        // A long task as it happens, with its stack.
        await service.next('blocked', { type: 'block', ms: 300 });
        // (The busy stretch also holds the IPC message's handling: at least 300 ms, under 1 s.)
        const task = page.locator('.live-long-task', { hasText: /^[3-9]\d\d(\.\d)? ms on main at/ }).first();
        await task.waitFor({ timeout: 10_000 });
        // The chunk writer's view connected after the stack's strings were defined: only the
        // rotating writer's files (each decodes alone) give the names.
        if (writer === 'rotating') expect(await task.locator('pre').textContent()).toContain('blockTheLoopForLive');
        const updatesSeen = await page.evaluate(() => (globalThis as unknown as { looptraceLive: { count: number } }).looptraceLive.count);
        await sleep(2200);
        expect(await page.evaluate(() => (globalThis as unknown as { looptraceLive: { count: number } }).looptraceLive.count)).toBeGreaterThanOrEqual(updatesSeen + 1);

        // The page goes: the timer stops and no more updates are computed.
        await page.close();
        await sleep(500);
        const after = await service.stats();
        expect(after).toMatchObject({ clients: 0, ticking: false });
        await sleep(2000);
        expect((await service.stats()).updates).toBe(after.updates);

        const stopped = await service.next<{ liveUrl: string | null }>('stopped', { type: 'stop' });
        expect(stopped.liveUrl).toBeNull();
        await expect(fetch(url)).rejects.toThrow();
        expect(service.errors).toEqual([]);
      } finally {
        service.child.kill();
      }
    }, 60_000);
  }
});
