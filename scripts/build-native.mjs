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

function fail(message) {
  console.error(`looptrace: ${message}`);
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

const corePrebuild = loadablePrebuild(packageRoot);
const attributionPrebuild = loadablePrebuild(join(packageRoot, 'native', 'attribution'));
if (corePrebuild !== undefined && attributionPrebuild !== undefined) {
  console.log(`looptrace: using the prebuilt ${corePrebuild.slice(packageRoot.length + 1)}`);
  console.log(`looptrace: using the prebuilt ${attributionPrebuild.slice(packageRoot.length + 1)}`);
  process.exit(0);
}

const nodeDir = findNodeDir();
const nodeGyp = findNodeGyp();
const args = [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=max', '--loglevel=warn'];

const started = process.hrtime.bigint();
// The compiler's stdout (one line per file) is only shown on failure; warnings and errors go to
// stderr and are always shown.
const skipped = { status: 0, stdout: '', stderr: '' };
const result = corePrebuild !== undefined ? skipped : spawnSync(process.execPath, args, {
  cwd: packageRoot,
  stdio: ['ignore', 'pipe', 'inherit'],
  encoding: 'utf8',
});
const attribution = attributionPrebuild !== undefined ? skipped : spawnSync(process.execPath, args, {
  cwd: join(packageRoot, 'native', 'attribution'),
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
