#!/usr/bin/env bash
# Checks the package as users get it: packs this checkout (with the prebuilt binaries of
# `npm run prebuilds`), installs the tarball into an empty application with --ignore-scripts
# (as pnpm and npm's allowScripts leave it), and runs the zero-code preload: records must arrive,
# with stack samples from the attribution part, and analyze-trace must read them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
platform="$(node -p 'process.platform + "-" + process.arch')"
[[ -f "prebuilds/$platform/looptrace.node" ]] || { echo "check-package: no prebuilds/$platform/looptrace.node; run npm run prebuilds first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/looptrace-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -1)"
listing=$(tar -tzf "$tarball")
grep -q "package/prebuilds/$platform/looptrace.node" <<<"$listing" || { echo "check-package: the tarball has no prebuilt core" >&2; exit 1; }
if grep -q "package/native/attribution/build/" <<<"$listing"; then echo "check-package: the tarball ships a native/attribution/build/ of the packing Node" >&2; exit 1; fi
mkdir "$work/app"
cd "$work/app"
echo '{ "name": "app", "version": "1.0.0", "private": true }' > package.json
npm install --ignore-scripts --no-audit --no-fund --loglevel=error "$tarball"
cat > app.mjs <<'APP'
function blockCpu() { const s = Date.now(); while (Date.now() - s < 300); }
setTimeout(blockCpu, 200);
setTimeout(() => {}, 700);
APP
LOOPTRACE_DIR=traces LOOPTRACE_STACK_THRESHOLD_MS=20 node --import looptrace/register app.mjs 2> stderr.txt
if [[ -s stderr.txt ]]; then cat stderr.txt >&2; echo "check-package: the app wrote to stderr" >&2; exit 1; fi
node node_modules/looptrace/dist/cli/analyze-trace.js --json traces > report.json
node -e '
const r = JSON.parse(require("fs").readFileSync("report.json", "utf8"));
const frames = r.longTasks.items.flatMap((t) => (t.attribution?.stacks ?? []).map((s) => s.frames[0]));
console.log(`check-package: ${r.trace.records} records, ${r.longTasks.count} long task(s), top frames ${JSON.stringify(frames)} from the installed package (Node ${process.version})`);
if (!(r.trace.records > 0) || r.longTasks.count < 1) process.exit(1);
if (!frames.some((f) => f.startsWith("blockCpu "))) { console.error("check-package: no stack names blockCpu: the attribution part did not load"); process.exit(1); }
'
