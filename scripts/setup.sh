#!/bin/sh
# Installs what mvm needs on Debian 12, builds it, and runs the demo: an
# agent summarizes an inbox through the npm MCP filesystem server while
# one of the files carries a prompt injection.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

"$here/scripts/deps.sh"

echo "== building mvm (build/release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j"$(nproc)" --target mvm

exec bash "$here/scripts/demo.sh" "$here/build/release/mvm"
