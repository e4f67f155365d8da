// Terminal safety: a trace whose every string is hostile (service and host names, thread names,
// function names and script paths of sampled stacks, the recorder's note, operation names, file
// names) is analyzed by the built CLI in a child process; no raw control character (ESC, BEL, CR,
// a newline inside a line, C1) and no bidirectional or zero-width formatting character may reach
// stdout or stderr. The hostile text must still be shown, escaped.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TraceRecord } from '../src/format/index.js';
import { attributionFrames, attributionHeader, definitions } from './fixtures/analyze/attribution-trace.js';
import { encodeFile, MAIN, ms, stringDef, worker } from './fixtures/analyze/synth.js';

const CLI = join(resolve(import.meta.dirname, '..'), 'dist/cli/analyze-trace.js');
/** Clears the screen, homes the cursor, rings the bell, rewrites the line, forges a line, reverses text. */
const EVIL = '\u001b[2J\u001b[H\u0007x\rFORGED\nfake line\u202eevil\u009b31m\u200bz';
// Everything a terminal acts on, but the newline that ends a line (tabs are harmless).
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

let dir = '';

function run(args: readonly string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: undefined } });
  return { status: r.status, out: r.stdout + r.stderr };
}

function expectSafe(out: string): void {
  const bad = UNSAFE.exec(out);
  expect(bad, bad === null ? '' : `raw U+${bad[0].charCodeAt(0).toString(16)} at ${bad.index}: ${JSON.stringify(out.slice(Math.max(0, bad.index - 60), bad.index + 20))}`).toBeNull();
  // A newline from a trace would start a line of its own: "fake line" never begins one.
  expect(out).not.toMatch(/^fake line/m);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'looptrace-safety-'));
  const scripts = { report: `/srv/${EVIL}/report.js`, http: `file:///srv/${EVIL}.js`, build: `/srv/build${EVIL}.js` };
  const head = attributionHeader({
    serviceName: `svc${EVIL}`,
    hostname: `host${EVIL}`,
    platform: `linux${EVIL}`,
    nodeVersion: `v20${EVIL}`,
    producer: `looptrace${EVIL}`,
    attributionNote: `note${EVIL}`,
    threads: [{ ...MAIN, name: `main${EVIL}` }, worker(2, 1, `(w${EVIL}.mjs)`), worker(3, 2, `(w${EVIL}.mjs)`)],
  });
  const frames = attributionFrames(scripts, { buildReport: `build${EVIL}` });
  // The process stream's definitions with the hostile names, and an operation with a hostile name.
  frames.unshift({ threadId: 0, records: [...definitions(scripts, { buildReport: `build${EVIL}` }), stringDef(0, 99, `op${EVIL}`)] });
  const op: TraceRecord[] = [
    { type: 'operationStart', threadId: 0, timeNs: ms(600), operationId: 1, nameStringId: 99 },
    { type: 'operationEnd', threadId: 0, timeNs: ms(700), operationId: 1, status: 0 },
  ];
  frames.push({ threadId: 1, records: op });
  const bytes = encodeFile(head, frames).bytes;
  mkdirSync(join(dir, 'set'));
  writeFileSync(join(dir, 'set', `trace${EVIL.replace(/\n/g, '')}.bin`), bytes);
  // A torn copy of another trace beside it: a warning naming the hostile file.
  const torn = encodeFile({ ...head, traceId: 'ffeeddccbbaa99887766554433221100' }, frames).bytes;
  writeFileSync(join(dir, 'set', `torn${EVIL.replace(/\n/g, '')}.bin`), torn.subarray(0, torn.length - 9));
  writeFileSync(join(dir, `notatrace${EVIL.replace(/\n/g, '')}.bin`), 'hello');
});

afterAll(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

it('escapes every trace string in the text report and its warnings', () => {
  const r = run([join(dir, 'set'), '--operations', '--fail-on', 'long-task>1ms', '--long-task-ms', '40']);
  expect(r.status, r.out).toBe(1);
  expectSafe(r.out);
  // The names are there, escaped: the service, a thread, a stack's function, its script, the operation.
  for (const shown of ['svc\\x1b[2J', 'main\\x1b[2J', 'build\\x1b[2J', '/srv/\\x1b[2J', 'op\\x1b[2J', '\\u{202e}evil', 'x\\x0dFORGED\\x0afake line']) {
    expect(r.out).toContain(shown);
  }
});

it('escapes hostile file names in errors, and hostile --thread patterns', () => {
  const notTrace = run([join(dir, `notatrace${EVIL.replace(/\n/g, '')}.bin`)]);
  expect(notTrace.status).toBe(2);
  expectSafe(notTrace.out);
  const pattern = run([join(dir, 'set'), '--thread', 'x\u202ey\u009b']);
  expect(pattern.status).toBe(2);
  expectSafe(pattern.out);
  const threadBad = run([join(dir, 'set'), '--thread', `main${EVIL}`]);
  expect(threadBad.status).toBe(2);
  expectSafe(threadBad.out);
});

it('escapes every trace string in the merged report (--merge) and its checks', () => {
  const r = run([join(dir, 'set'), '--merge', '--fail-on', 'long-task>1ms', '--long-task-ms', '40']);
  expect(r.status, r.out).toBe(1);
  expectSafe(r.out);
  // Two traces of one service and pid: the labels tell them apart by trace id, escaped.
  expect(r.out).toContain('looptrace analysis of 2 processes, merged');
  expect(r.out).toMatch(/svc\\x1b\[2J.*\(pid \d+\) \[trace 00112233\]/);
  expect(r.out).toMatch(/svc\\x1b\[2J.*\(pid \d+\) \[trace ffeeddcc\]/);
  for (const shown of ['main\\x1b[2J', 'build\\x1b[2J', 'x\\x0dFORGED\\x0afake line']) expect(r.out).toContain(shown);
  const json = run([join(dir, 'set'), '--merge', '--json', '--fail-on', 'long-task>1ms', '--long-task-ms', '40']);
  expect(json.status).toBe(1);
  expectSafe(json.out.slice(json.out.lastIndexOf('}') + 1));
});
