#!/bin/sh
# Times a tools/call round trip to server-everything's echo tool over
# stdio with mvm's C client (bench_mcp) and with the TypeScript SDK's
# client, one after the other, and prints both results.
#
# Usage: bench/mcp_roundtrip.sh BUILD_DIR [CALLS [WARMUP]]
# BUILD_DIR holds a built bench_mcp (a Release build for real numbers).
set -eu

if [ $# -lt 1 ]; then
  echo "usage: $0 BUILD_DIR [CALLS [WARMUP]]" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")/.." && pwd)
build=$1
calls=${2:-1000}
warmup=${3:-100}

if [ ! -x "$build/bench_mcp" ]; then
  echo "$build/bench_mcp is missing; build it with" \
       "'cmake --build $build --target bench_mcp'" >&2
  exit 2
fi
if [ ! -d "$here/node/node_modules/@modelcontextprotocol/sdk" ]; then
  echo "the npm packages are missing: run scripts/deps.sh" >&2
  exit 2
fi

echo "node: $(command -v node) $(node --version)"
"$build/bench_mcp" "$calls" "$warmup"
node "$here/bench/mcp_sdk_roundtrip.mjs" "$calls" "$warmup"
