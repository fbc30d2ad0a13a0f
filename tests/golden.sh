#!/bin/sh
# Golden tests of the mvm CLI, run by ctest with the mvm binary as $1.
#
# tests/golden/broken/NAME.mvs: `mvm verify --strict NAME.mvs` must exit 3
#   and print exactly NAME.err on stderr.
# tests/golden/run/NAME.mvs: `mvm run NAME.mvs --no-input ARGS` must print
#   exactly NAME.out on stdout and exit with the code in NAME.code (0 when
#   the file is absent), and print exactly NAME.stderr on stderr when that
#   file exists. ARGS are the lines of NAME.args, one argument per line,
#   run from tests/golden/run so paths are relative to it. A NAME.args
#   without NAME.mvs names the program itself.
# lib/*.mvs and examples/*.mvs: `mvm verify --strict` must succeed.
#
# Set MVM_GOLDEN_UPDATE=1 to rewrite the expected files from the current
# output (then review the diff before committing).
set -u

mvm=${1:?usage: golden.sh PATH-TO-MVM}
case $mvm in
/*) ;;
*) mvm=$(pwd)/$mvm ;;
esac
here=$(cd "$(dirname "$0")/golden" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
# Runs test the VM, not a policy: the monitor is off, and the audit log and
# manifests go to a scratch state directory.
export MVM_STATE_DIR="$tmp/state"
export MVM_POLICY=permissive
unset MVM_CONFIG MVM_MODEL MVM_MCP_CONFIG MVM_MODEL_CONFIG
update=${MVM_GOLDEN_UPDATE:-0}
failed=0
passed=0

fail() {
  echo "FAIL $1: $2"
  failed=$((failed + 1))
}

# Compares an expected file with actual output, or rewrites it.
check_file() {
  name=$1
  expected=$2
  actual=$3
  if [ "$update" = 1 ]; then
    cp "$actual" "$expected"
    return 0
  fi
  if [ ! -f "$expected" ]; then
    fail "$name" "missing $(basename "$expected")"
    return 1
  fi
  if ! cmp -s "$expected" "$actual"; then
    fail "$name" "output differs from $(basename "$expected"):"
    diff -u "$expected" "$actual" | sed 's/^/    /'
    return 1
  fi
  return 0
}

cd "$here/broken" || exit 2
for src in *.mvs; do
  name=broken/${src%.mvs}
  "$mvm" verify --strict "$src" >/dev/null 2>"$tmp/err"
  code=$?
  if [ "$code" -ne 3 ]; then
    fail "$name" "exit code $code, expected 3"
    continue
  fi
  check_file "$name" "${src%.mvs}.err" "$tmp/err" &&
    passed=$((passed + 1))
done

# A case is NAME.mvs, or NAME.args alone when the program is elsewhere
# (the args then name it, e.g. ../../../lib/agent.mvs).
cd "$here/run" || exit 2
for case_file in *.mvs *.args; do
  [ -f "$case_file" ] || continue
  base=${case_file%.*}
  case $case_file in
  *.args) [ -f "$base.mvs" ] && continue ;;
  esac
  name=run/$base
  if [ -f "$base.mvs" ]; then
    set -- run "$base.mvs" --no-input --quiet
  else
    set -- run --no-input --quiet
  fi
  if [ -f "$base.args" ]; then
    while IFS= read -r arg || [ -n "$arg" ]; do
      set -- "$@" "$arg"
    done <"$base.args"
  fi
  "$mvm" "$@" >"$tmp/out.raw" 2>"$tmp/stderr" </dev/null
  code=$?
  # run_end names the run id and state paths, which change every run.
  grep -v '"event":"run_end"' "$tmp/out.raw" >"$tmp/out"
  want=0
  [ -f "$base.code" ] && want=$(cat "$base.code")
  if [ "$update" = 1 ]; then
    [ "$code" -ne 0 ] && echo "$code" >"$base.code"
  elif [ "$code" -ne "$want" ]; then
    fail "$name" "exit code $code, expected $want; stderr:"
    sed 's/^/    /' "$tmp/stderr"
    continue
  fi
  ok=1
  check_file "$name" "$base.out" "$tmp/out" || ok=0
  if [ -f "$base.stderr" ]; then
    check_file "$name" "$base.stderr" "$tmp/stderr" || ok=0
  elif [ "$update" = 1 ] && [ -s "$tmp/stderr" ]; then
    cp "$tmp/stderr" "$base.stderr"
  fi
  [ "$ok" = 1 ] && passed=$((passed + 1))
done

# Every program that ships must pass the strict verifier.
cd "$here/../.." || exit 2
for src in lib/*.mvs examples/*.mvs; do
  [ -f "$src" ] || continue
  if "$mvm" verify --strict "$src" >/dev/null 2>"$tmp/err"; then
    passed=$((passed + 1))
  else
    fail "shipped/$src" "does not verify:"
    sed 's/^/    /' "$tmp/err"
  fi
done

echo "golden: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
