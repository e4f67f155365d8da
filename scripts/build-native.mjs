// Builds the two native parts with node-gyp: build/Release/looptrace.node (the N-API core) and
// native/attribution/build/Release/looptrace_v8.node (stacks and GC pauses, tied to this Node's
// ABI). The second is optional: when it does not build, looptrace records everything but stacks
// and GC pauses, and says so. It is a separate node-gyp project so that each build directory holds
// exactly one .node file, which is what node-gyp-build expects. Runs as the npm "install" script, so it must
// work on a machine whose ~/.npmrc says nothing about nodedir and that cannot download headers.
//
// A part whose prebuilt binary (prebuilds/, scripts/prebuild.mjs) loads into this Node is not
// compiled: an installed package on linux-x64 needs no compiler, and works the same when the
// package manager skips this script (pnpm's ignored build scripts, npm's allowScripts).
// LOOPTRACE_BUILD_FROM_SOURCE=1 compiles anyway. A failed build never fails the installation:
// the decoder and analyze-trace need no native code, and telemetry then reports that it cannot
// start (NATIVE_UNAVAILABLE) instead of recording.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const buildingTestBinary = process.argv.includes('--test');

function fail(message) {
  console.error(`looptrace: ${message}`);
  // The test binary is the project's own; its failure must fail the build.
  if (buildingTestBinary) process.exit(1);
  console.error('looptrace: telemetry cannot start without the addon; the decoder and analyze-trace still work.');
  process.exit(0);
}

/** The prebuilt binary of the part in `dir` when it loads into this Node; undefined otherwise. */
function loadablePrebuild(dir) {
  if (process.env.LOOPTRACE_BUILD_FROM_SOURCE === '1' || existsSync(join(dir, 'build'))) return undefined;
  try {
    const require = createRequire(import.meta.url);
    const path = require('node-gyp-build').path(dir);
    if (!path.includes(`${join('prebuilds', '')}`)) return undefined;
    require(path);
    return path;
  } catch {
    return undefined;
  }
}

// Node installs its own headers under <prefix>/include/node, next to bin/node; using them avoids a
// header download from nodejs.org, which is unreachable on locked-down machines.
function findNodeDir() {
  const execDir = dirname(process.execPath);
  const prefixes = process.platform === 'win32' ? [execDir, dirname(execDir)] : [dirname(execDir)];
  for (const prefix of prefixes) {
    if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) {
      return prefix;
    }
  }
  const configured = process.env.npm_config_nodedir;
  if (configured) {
    return configured;
  }
  return fail(
    `cannot find Node's headers: no include/node/node_api.h under ${prefixes.join(' or ')}.\n` +
      'Set the directory that contains include/node, for example:\n' +
      '  npm_config_nodedir=/path/to/node-prefix npm install\n' +
      'or install the Node headers package of your distribution.',
  );
}

// npm exports the path of its bundled node-gyp to lifecycle scripts; outside npm, fall back to the
// copy bundled with the npm that sits next to this Node binary.
function findNodeGyp() {
  const candidates = [];
  if (process.env.npm_config_node_gyp) {
    candidates.push(process.env.npm_config_node_gyp);
  }
  const execDir = dirname(process.execPath);
  const bundled = join('node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (process.platform === 'win32') {
    candidates.push(join(execDir, bundled));
  } else {
    candidates.push(join(dirname(execDir), 'lib', bundled));
  }
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) {
    fail(
      `cannot find node-gyp (looked at ${candidates.join(', ')}).\n` +
        'Run the build through npm (npm install or npm rebuild looptrace), which provides node-gyp.',
    );
  }
  return found;
}

const corePrebuild = buildingTestBinary ? undefined : loadablePrebuild(packageRoot);
const attributionPrebuild = buildingTestBinary ? undefined : loadablePrebuild(join(packageRoot, 'native', 'attribution'));
if (corePrebuild !== undefined && attributionPrebuild !== undefined) {
  console.log(`looptrace: using the prebuilt ${corePrebuild.slice(packageRoot.length + 1)}`);
  console.log(`looptrace: using the prebuilt ${attributionPrebuild.slice(packageRoot.length + 1)}`);
  process.exit(0);
}

const nodeDir = findNodeDir();
const nodeGyp = findNodeGyp();
const args = [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=max', '--loglevel=warn'];

// npm exports the user's config (a ~/.npmrc nodedir, say) as npm_config_* variables, and
// node-gyp lets them override its command line: pin the headers of the Node.js running this
// script both ways, or a V8-API build would target another Node.js ABI.
const env = { ...process.env, npm_config_nodedir: nodeDir };
const started = process.hrtime.bigint();

// `--test` builds only the test binary (native/test: the core plus test entry points such as
// encodeForTest), which `npm test` and the benches use; the installed package never builds it.
if (buildingTestBinary) {
  const test = spawnSync(process.execPath, args, {
    cwd: join(packageRoot, 'native', 'test'),
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (test.error || test.status !== 0) {
    process.stderr.write(test.stdout ?? '');
    fail(`node-gyp rebuild of the test binary (native/test) failed (${test.error?.message ?? `exit ${test.status ?? test.signal}`}).`);
  }
  console.log(`looptrace: built native/test/build/Release/looptrace_test.node in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
  process.exit(0);
}

// The compiler's stdout (one line per file) is only shown on failure; warnings and errors go to
// stderr and are always shown.
const skipped = { status: 0, stdout: '', stderr: '' };
const result = corePrebuild !== undefined ? skipped : spawnSync(process.execPath, args, {
  cwd: packageRoot,
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
});
const attribution = attributionPrebuild !== undefined ? skipped : spawnSync(process.execPath, args, {
  cwd: join(packageRoot, 'native', 'attribution'),
  env,
  stdio: ['ignore', 'pipe', 'pipe'],
  encoding: 'utf8',
});
if (result.error) {
  fail(`could not run node-gyp: ${result.error.message}`);
}
if (result.status !== 0) {
  process.stderr.write(result.stdout ?? '');
  fail(
    `node-gyp rebuild failed (exit ${result.status ?? result.signal}). ` +
      'Building the addon needs python3, make and a C++17 compiler.',
  );
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
if (corePrebuild !== undefined) console.log(`looptrace: using the prebuilt ${corePrebuild.slice(packageRoot.length + 1)}`);
else console.log(`looptrace: built build/Release/looptrace.node in ${seconds.toFixed(1)} s (nodedir ${nodeDir})`);
if (attribution.error || attribution.status !== 0) {
  process.stderr.write(attribution.stdout ?? '');
  process.stderr.write(attribution.stderr ?? '');
  console.warn(
    `looptrace: the attribution part (native/attribution, V8 API) did not build ` +
      `(${attribution.error?.message ?? `exit ${attribution.status ?? attribution.signal}`}); ` +
      'telemetry will record no JavaScript stacks and no GC pauses.',
  );
} else if (attributionPrebuild !== undefined) {
  console.log(`looptrace: using the prebuilt ${attributionPrebuild.slice(packageRoot.length + 1)}`);
} else {
  process.stderr.write(attribution.stderr ?? '');
  console.log('looptrace: built native/attribution/build/Release/looptrace_v8.node');
}
