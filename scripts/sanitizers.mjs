// Runs the recorder and attribution tests against sanitizer builds of the native addon:
// AddressSanitizer + UndefinedBehaviorSanitizer, then ThreadSanitizer. Node itself is not
// instrumented, so the sanitizer runtime is preloaded (LD_PRELOAD) into the test programs (the
// fixtures, through LOOPTRACE_TEST_PRELOAD; not into the test runner); it checks the addon's own
// code, and the pthread and atomic operations it uses.
// - ASan and UBSan reports are errors wherever they come from: the process exits non-zero and
//   the tests fail.
// - ThreadSanitizer cannot see the synchronisation inside uninstrumented Node and V8, so it
//   reports races between Node's own threads (MessagePort, V8's platform workers) by the
//   hundred. Its reports go to files instead; the run fails on every report that has a frame of
//   looptrace's code in it, and counts the others. The exception is a race of NODE_RACES: both
//   accesses made by Node's or V8's own code, reported without looptrace in the same runs, and
//   sometimes with a looptrace frame further down a stack; it is printed in full and counted apart.
//
// The builds happen in a temporary copy of the checkout, so the normal build is left alone.
//
//   npm run test:sanitizers -- [--only asan|tsan] [--keep]
//
// CI runs both. Under ThreadSanitizer the worker-churn fixtures run 5 to 15 times slower, so the
// time limits are multiplied (LOOPTRACE_TEST_TIME_SCALE); the work is the same. (Processes in
// which only workers loaded looptrace used to crash at exit under TSan: Node unloaded the addon
// with the last worker, and TSan's atexit interceptor then called the unloaded exit handler. The
// addons now stay loaded until the process ends: native/pin_library.h.)
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// The tests that exercise the addon's threads and teardown paths: loops and workers coming and
// going, enable/disable, the stack watchdog and its interrupts, GC callbacks, bad arguments.
const TESTS = [
  'test/recorder-lifecycle.test.ts',
  'test/recorder-workers.test.ts',
  'test/attribution-stacks.test.ts',
  'test/attribution-gc.test.ts',
  'test/attribution-teardown.test.ts',
  'test/native-checks.test.ts',
];
const MODES = {
  asan: {
    flags: '-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined',
    runtime: 'libasan.so',
    env: { ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0:exitcode=86', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1', LOOPTRACE_TEST_TIME_SCALE: '2' },
  },
  tsan: {
    flags: '-fsanitize=thread -fno-omit-frame-pointer',
    runtime: 'libtsan.so',
    reportFiles: true,
    // ThreadSanitizer runs the worker-churn fixtures 5 to 15 times slower.
    env: { LOOPTRACE_TEST_TIME_SCALE: '10' },
  },
};

/**
 * Races inside Node itself that ThreadSanitizer sometimes reports with a frame of looptrace's
 * code further down one stack, recognised by both accesses (each done by Node's or V8's own
 * code). Such a report is printed and counted apart, not failed: the same pair of accesses is
 * reported in the same runs with no looptrace frame at all.
 */
const NODE_RACES = [
  {
    what: "a worker's MessagePort::PostMessage frees memory whose bytes the main thread copied into a V8 string",
    // 2026-11-30: six reports of this pair in one run of these tests, none with a looptrace
    // frame; in another run one more, whose main-thread stack TSan restored through the stack
    // sample interrupt (looptrace_v8 OnInterrupt, then the core's OnStackSample, which calls no
    // V8 function: the restored stack is not a call chain).
    matches: (report) =>
      /Write of size \d+ at \S+ by thread T\d+[^\n]*:\n\s+#0 free [^\n]*\n\s+#1 node::worker::MessagePort::PostMessage\(/.test(report) &&
      /Previous read of size \d+ at \S+ by main thread[^\n]*:\n(?:\s+#\d+ memmove [^\n]*\n)+\s+#\d+ v8::internal::FactoryBase<v8::internal::Factory>::NewStringFromOneByte\(/.test(report),
  },
];

function runtimePath(name) {
  const out = spawnSync('gcc', [`-print-file-name=${name}`], { encoding: 'utf8' });
  const path = out.stdout.trim();
  if (out.status !== 0 || !path.startsWith('/') || !existsSync(path)) {
    console.error(`sanitizers: cannot find ${name} (gcc -print-file-name=${name} said ${JSON.stringify(path)}); install gcc's sanitizer runtimes`);
    process.exit(2);
  }
  return path;
}

function run(command, args, options) {
  const result = spawnSync(command, args, { stdio: 'inherit', ...options });
  return result.status ?? 1;
}

const onlyIndex = process.argv.indexOf('--only');
const only = onlyIndex >= 0 ? process.argv[onlyIndex + 1] : undefined;
if (only !== undefined && !(only in MODES)) {
  console.error(`sanitizers: --only takes asan or tsan, got ${JSON.stringify(only)}`);
  process.exit(2);
}
const keep = process.argv.includes('--keep');
let failed = false;
for (const [mode, config] of Object.entries(MODES)) {
  if (only !== undefined && mode !== only) continue;
  const runtime = runtimePath(config.runtime);
  const dir = mkdtempSync(join(tmpdir(), `looptrace-${mode}-`));
  console.log(`sanitizers: ${mode} build in ${dir}`);
  // No build output and no prebuilt binaries: the install script would use a prebuilt binary
  // that loads instead of compiling, and that one is not instrumented.
  for (const entry of readdirSync(root)) {
    if (['node_modules', 'build', '.git', 'out', 'prebuilds'].includes(entry)) continue;
    cpSync(join(root, entry), join(dir, entry), {
      recursive: true,
      filter: (source) => !['build', 'prebuilds'].includes(basename(source)) || !source.includes(`${join(root, 'native')}`),
    });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const buildEnv = { ...process.env, CXXFLAGS: config.flags, CFLAGS: config.flags, LDFLAGS: config.flags };
  // The core and the attribution part; none of the tests above needs the test build.
  if (run(process.execPath, ['scripts/build-native.mjs'], { cwd: dir, env: buildEnv }) !== 0) {
    console.error(`sanitizers: the ${mode} build failed`);
    failed = true;
    continue;
  }
  const reports = join(dir, 'sanitizer-reports');
  mkdirSync(reports);
  const extra = config.reportFiles ? { TSAN_OPTIONS: `exitcode=0:second_deadlock_stack=1:log_path=${join(reports, 'tsan')}` } : {};
  const testEnv = { ...process.env, ...config.env, ...extra, LOOPTRACE_TEST_PRELOAD: runtime };
  const status = run(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...TESTS], { cwd: dir, env: testEnv });
  let ours = 0;
  let theirs = 0;
  let known = 0;
  for (const file of readdirSync(reports)) {
    const text = readFileSync(join(reports, file), 'utf8');
    for (const report of text.split(/^==================$/m)) {
      if (!report.includes('WARNING: ThreadSanitizer')) continue;
      if (/looptrace/.test(report)) {
        const race = NODE_RACES.find((r) => r.matches(report));
        if (race !== undefined) {
          known++;
          process.stderr.write(`${report}\nsanitizers: not counted against looptrace: a race inside Node (${race.what}), with a looptrace frame further down a stack\n`);
          continue;
        }
        ours++;
        process.stderr.write(`${report}\n`);
      } else {
        theirs++;
      }
    }
  }
  const verdict = status !== 0 ? `FAILED (tests exit ${status})` : ours > 0 ? `FAILED (${ours} reports in looptrace's code)` : 'tests pass, no reports in looptrace\'s code';
  const ignored = config.reportFiles ? `; ${theirs} reports inside Node's own code ignored${known > 0 ? `, and ${known} of a known race inside Node with a looptrace frame further down (printed above)` : ''}` : '';
  console.log(`sanitizers: ${mode}: ${verdict}${ignored}`);
  if (status !== 0 || ours > 0) failed = true;
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
