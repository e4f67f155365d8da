// The C++ side re-checks every number that crosses from JavaScript (STYLE.md: check in
// TypeScript with exact messages, re-check cheaply in C++): a value the TypeScript layer would
// refuse, passed to the native start() directly, throws a RangeError naming the option.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectCleanExit, removeTempDirs, requireBuild, result, runFixture } from './fixtures/recorder/harness.js';

beforeAll(() => requireBuild());
afterAll(() => removeTempDirs());

it('out-of-range, non-finite and non-integer values throw a RangeError naming the option; nothing aborts or hangs', async () => {
  const run = await runFixture('native-checks.mjs', {}, { timeoutMs: 20_000 });
  expectCleanExit(run);
  const { results } = result<{ results: { key: string; threw: boolean; name?: string; message?: string }[] }>(run);
  expect(results).toHaveLength(12);
  for (const r of results) {
    expect(r.threw, r.key).toBe(true);
    expect(r.name, r.key).toBe('RangeError');
    expect(r.message, r.key).toContain(`start: ${r.key} must be`);
  }
});
