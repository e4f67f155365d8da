import { defineConfig } from 'vitest/config';

/**
 * Tests that run the examples load every core for seconds (worker pools, a saturated threadpool).
 * They run in a group of their own after the rest, so that they neither slow down nor are slowed
 * by the timing-sensitive recorder tests.
 */
const HEAVY = ['test/analyze-examples.test.ts'];
/** Chromium and a service of its own: run last, alone, so that the example tests' timings are not disturbed. */
const BROWSER = ['test/view-browser.test.ts'];

/** Sanitizer runs (scripts/sanitizers.mjs) are slower: their limits are multiplied, the work is the same. */
const TIME_SCALE = Math.max(1, Number(process.env['LOOPTRACE_TEST_TIME_SCALE']) || 1);

export default defineConfig({
  test: {
    // Forks rather than threads: tests load the native addon and spawn child processes.
    pool: 'forks',
    testTimeout: 60_000 * TIME_SCALE,
    hookTimeout: 60_000 * TIME_SCALE,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [...HEAVY, ...BROWSER], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'examples', include: HEAVY, sequence: { groupOrder: 1 } } },
      { extends: true, test: { name: 'browser', include: BROWSER, sequence: { groupOrder: 2 } } },
    ],
  },
});
