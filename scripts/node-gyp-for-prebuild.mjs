#!/usr/bin/env node
// The node-gyp that scripts/prebuild.mjs hands to prebuildify (PREBUILD_NODE_GYP): npm's bundled
// node-gyp, with --nodedir set to the headers of the Node.js being built for
// (LOOPTRACE_PREBUILD_NODEDIR), so that nothing is downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const nodeDir = process.env.LOOPTRACE_PREBUILD_NODEDIR;
if (!nodeDir) {
  console.error('node-gyp-for-prebuild: LOOPTRACE_PREBUILD_NODEDIR is not set');
  process.exit(2);
}
const bundled = join(dirname(dirname(process.execPath)), 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
const nodeGyp = process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp) ? process.env.npm_config_node_gyp : bundled;
// npm exports a configured nodedir (~/.npmrc) as npm_config_nodedir, which node-gyp prefers to
// its command line: pin it too, or a part would be built against another Node's headers.
const env = { ...process.env, npm_config_nodedir: nodeDir };
const result = spawnSync(process.execPath, [nodeGyp, ...process.argv.slice(2), `--nodedir=${nodeDir}`, '--jobs=max', '--loglevel=warn'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
