// Trace files are never silently overwritten and never reached through a symlink: a
// SimpleBinaryWriter refuses an existing file unless told to replace it, and no writer follows a
// symlink planted at its path.

import { readFileSync, symlinkSync, writeFileSync, readdirSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SimpleBinaryWriter } from '../src/index.js';
import { decodeTraceFile, expectCleanExit, removeTempDirs, requireBuild, result, runFixture, tempDir } from './fixtures/recorder/harness.js';

beforeAll(requireBuild);
afterAll(removeTempDirs);

type Case = { running: boolean; startError: string | null; records: number; errors: { code: string; message: string }[] };

describe('SimpleBinaryWriter and what exists at its path', () => {
  let dir: string;
  let out: Record<string, Case>;
  const precious = 'precious data that a trace must never overwrite\n';

  beforeAll(async () => {
    dir = tempDir();
    const elsewhere = tempDir();
    writeFileSync(join(dir, 'existing.bin'), precious);
    writeFileSync(join(dir, 'replaced.bin'), precious);
    writeFileSync(join(elsewhere, 'target'), precious);
    symlinkSync(join(elsewhere, 'target'), join(dir, 'link.bin'));
    symlinkSync(join(elsewhere, 'target'), join(dir, 'link-replace.bin'));
    symlinkSync(join(elsewhere, 'not-yet'), join(dir, 'dangling.bin'));
    const run = await runFixture('writers-existing.mjs', {
      cases: {
        existing: { path: join(dir, 'existing.bin') },
        replaced: { path: join(dir, 'replaced.bin'), replace: true },
        link: { path: join(dir, 'link.bin') },
        linkReplace: { path: join(dir, 'link-replace.bin'), replace: true },
        dangling: { path: join(dir, 'dangling.bin') },
        fresh: { path: join(dir, 'fresh.bin') },
      },
    });
    expectCleanExit(run);
    out = result(run);
    out['elsewhere'] = { running: false, startError: readdirSync(elsewhere).join(','), records: 0, errors: [] };
    (out as Record<string, unknown>)['targetContent'] = readFileSync(join(elsewhere, 'target'), 'utf8');
  });

  it('refuses an existing file, names it, and leaves it as it was', () => {
    expect(out['existing']).toMatchObject({ running: false, records: 0 });
    expect(out['existing']!.startError).toMatch(/existing\.bin already exists \(EEXIST\)/);
    expect(out['existing']!.errors.map((e) => e.code)).toEqual(['OPEN_FAILED']);
    expect(readFileSync(join(dir, 'existing.bin'), 'utf8')).toBe(precious);
  });

  it('replaces an existing file when told to', () => {
    expect(out['replaced']).toMatchObject({ running: true, startError: null });
    expect(decodeTraceFile(join(dir, 'replaced.bin')).headers).toHaveLength(1);
  });

  it('never follows a symlink, even with replace, and never creates a dangling link\'s target', () => {
    for (const name of ['link', 'linkReplace', 'dangling']) {
      expect(out[name], name).toMatchObject({ running: false });
      expect(out[name]!.startError, name).toMatch(/EEXIST|ELOOP/);
    }
    expect((out as Record<string, unknown>)['targetContent']).toBe(precious);
    expect(out['elsewhere']!.startError).toBe('target');
    expect(lstatSync(join(dir, 'link.bin')).isSymbolicLink()).toBe(true);
  });

  it('creates a new file owner-only', () => {
    expect(out['fresh']).toMatchObject({ running: true });
    expect(lstatSync(join(dir, 'fresh.bin')).mode & 0o777).toBe(0o600);
  });

  it('checks the replace option', () => {
    expect(() => new SimpleBinaryWriter('/tmp/x.bin', { replace: 'yes' as unknown as boolean })).toThrow(/option replace must be true or false, got "yes"/);
  });
});

describe('RotatingWriter and planted files', () => {
  it('symlinks named like trace files of an ended process are neither followed, counted nor deleted through', async () => {
    const dir = tempDir();
    const elsewhere = tempDir();
    writeFileSync(join(elsewhere, 'target'), 'x'.repeat(100_000));
    symlinkSync(join(elsewhere, 'target'), join(dir, 'trace.4242-deadbeef.0.bin'));
    symlinkSync(join(elsewhere, 'target'), join(dir, 'trace.4242-deadbeef.1.active.bin'));
    const run = await runFixture('shared-dir.mjs', { path: join(dir, 'trace.bin'), maxFileBytes: 16 << 10, maxTotalBytes: 64 << 10, durationMs: 300 });
    expectCleanExit(run);
    expect(result<{ errors: string[] }>(run).errors).toEqual([]);
    expect(readFileSync(join(elsewhere, 'target'), 'utf8')).toBe('x'.repeat(100_000));
  });
});
