// Runs the recorder and attribution tests against sanitizer builds of the native addon:
// AddressSanitizer + UndefinedBehaviorSanitizer, then ThreadSanitizer. Node itself is not
// instrumented, so the sanitizer runtime is preloaded (LD_PRELOAD) into the test programs (the
// fixtures, through LOOPTRACE_TEST_PRELOAD; not into the test runner); it checks the addon's own
// code, and the pthread and atomic operations it uses. Node's own uninstrumented threads produce
// reports that do not involve looptrace; scripts/tsan-suppressions.txt names those, and nothing
// else. Any other report fails the run: the sanitizers exit non-zero and write to the child's
// stderr, which the tests check.
//
// The builds happen in a temporary copy of the checkout, so the normal build is left alone.
//
//   npm run test:sanitizers -- [--only asan|tsan] [--keep]
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TESTS = [
  'test/recorder-loop.test.ts',
  'test/recorder-workers.test.ts',
  'test/recorder-lifecycle.test.ts',
  'test/recorder-writers.test.ts',
  'test/recorder-failure.test.ts',
  'test/attribution-stacks.test.ts',
  'test/attribution-gc.test.ts',
  'test/attribution-teardown.test.ts',
  'test/native-checks.test.ts',
];
const MODES = {
  asan: {
    flags: '-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined',
    runtime: 'libasan.so',
    env: { ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0:exitcode=86', UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1' },
  },
  tsan: {
    flags: '-fsanitize=thread -fno-omit-frame-pointer',
    runtime: 'libtsan.so',
    env: { TSAN_OPTIONS: `exitcode=86:second_deadlock_stack=1:suppressions=${join(root, 'scripts', 'tsan-suppressions.txt')}` },
  },
};

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
  for (const entry of readdirSync(root)) {
    if (['node_modules', 'build', '.git', 'out'].includes(entry)) continue;
    cpSync(join(root, entry), join(dir, entry), {
      recursive: true,
      filter: (source) => basename(source) !== 'build' || !source.includes(`${join(root, 'native')}`),
    });
  }
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const buildEnv = { ...process.env, CXXFLAGS: config.flags, CFLAGS: config.flags, LDFLAGS: config.flags };
  if (run(process.execPath, ['scripts/build-native.mjs'], { cwd: dir, env: buildEnv }) !== 0 ||
      run(process.execPath, ['scripts/build-native.mjs', '--test'], { cwd: dir, env: buildEnv }) !== 0) {
    console.error(`sanitizers: the ${mode} build failed`);
    failed = true;
    continue;
  }
  const testEnv = { ...process.env, ...config.env, LOOPTRACE_TEST_PRELOAD: runtime };
  const status = run(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...TESTS], { cwd: dir, env: testEnv });
  console.log(`sanitizers: ${mode}: ${status === 0 ? 'no reports, tests pass' : `FAILED (exit ${status})`}`);
  if (status !== 0) failed = true;
  if (!keep) rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
