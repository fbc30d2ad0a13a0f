#!/bin/sh
# Redaction of tool results that a policy marks secret, run by ctest with
# the mvm binary as $1. A replay model reads the demo's credentials file
# through the real npm filesystem server (the default servers), then
# copies one line and one value of it into later calls, one of which needs
# a confirmation, and into its answer. No part of the secret may reach the
# audit database, its WAL or the run manifest in clear.
mvm=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export MVM_STATE_DIR="$tmp/state"
unset MVM_CONFIG MVM_MODEL MVM_MCP_CONFIG MVM_MODEL_CONFIG MVM_POLICY
failed=0

check() {
  if eval "$2"; then
    echo "ok: $1"
  else
    echo "FAIL: $1"
    failed=1
  fi
}

if [ ! -d "$here/../node/node_modules/@modelcontextprotocol" ]; then
  echo "FAIL: the npm MCP servers are missing; run scripts/deps.sh"
  exit 1
fi

ws="$MVM_STATE_DIR/demo/workspace"
cat >"$tmp/secret.policy" <<POLICY
version 1
pin off
allow model "replay:*"
allow user.show
allow tool "fs.read_text_file" {
  arg path required type string under "$ws"
}
tool "fs.read_text_file" readonly {
  result trusted
  result secret when arg path under "$ws/private"
}
allow tool "std.*"
tool "std.*" consequential {
  result trusted
}
ask tool "std.length"
POLICY

cat >"$tmp/model.json" <<REPLAY
{"format": "mvm-replay/1", "model": "leaker", "replies": [
  {"text": "", "stop_reason": "tool_calls", "tool_calls": [
    {"id": "c1", "name": "fs__read_text_file",
     "arguments": {"path": "$ws/private/credentials.txt"}}]},
  {"text": "", "stop_reason": "tool_calls", "tool_calls": [
    {"id": "c2", "name": "std__upper",
     "arguments": {"text": "db_password = correct-horse-battery-staple-demo"}},
    {"id": "c3", "name": "std__echo",
     "arguments": {"text": "mvmdemo-7f3a9c2e-secret-do-not-leak"}},
    {"id": "c4", "name": "std__length",
     "arguments": {"text": "key: mvmdemo-7f3a9c2e-secret-do-not-leak"}}]},
  {"text": "done: mvmdemo-7f3a9c2e-secret-do-not-leak", "stop_reason": "end"}]}
REPLAY

"$mvm" run "go" --policy "$tmp/secret.policy" \
  --model "replay:$tmp/model.json" --no-input >"$tmp/out" 2>"$tmp/err"
code=$?
check "run exits 0 (got $code)" '[ "$code" -eq 0 ]'
check "the secret file was read" 'grep -q "<- fs.read_text_file" "$tmp/err"'
check "the confirmation was asked and refused" \
  'grep -q "DENIED tool.call std.length" "$tmp/err"'
check "the audit log has records" '[ -s "$MVM_STATE_DIR/audit.db" ]'
check "a copied line of the secret is not in clear" \
  '! cat "$MVM_STATE_DIR"/audit.db* | grep -a -q "correct-horse-battery"'
check "a copied value of the secret is not in clear" \
  '! cat "$MVM_STATE_DIR"/audit.db* | grep -a -q "mvmdemo-7f3a9c2e"'
check "the manifest does not repeat the secret answer" \
  '! cat "$MVM_STATE_DIR"/runs/*.json | grep -q "mvmdemo-7f3a9c2e"'
check "redaction markers are there" \
  'cat "$MVM_STATE_DIR"/audit.db* | grep -a -q "redacted:sha256"'
"$mvm" audit verify --db "$MVM_STATE_DIR/audit.db" >"$tmp/verify" 2>&1
check "audit log verifies" '[ $? -eq 0 ]'

if [ "$failed" -ne 0 ]; then
  echo "--- stderr"
  cat "$tmp/err"
fi
exit "$failed"
