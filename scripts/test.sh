#!/bin/sh
# Runs the whole test suite: a -Werror build and its tests, the same tests
# under AddressSanitizer and UndefinedBehaviorSanitizer, then every libFuzzer
# harness for MVM_FUZZ_SECONDS seconds (default 60) each.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
fuzz_seconds=${MVM_FUZZ_SECONDS:-60}
jobs=$(nproc)

"$here/scripts/deps.sh"

failed=0
passed=0
failed_names=""

run_suite() {
  name=$1
  shift
  echo "== $name build"
  cmake -S . -B "build/$name" -DCMAKE_BUILD_TYPE=Debug "$@" >/dev/null
  cmake --build "build/$name" -j"$jobs"
  echo "== $name tests"
  if (cd "build/$name" && ctest --output-on-failure -j"$jobs"); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names="$failed_names $name"
  fi
}

run_suite default
run_suite asan -DMVM_SANITIZE=ON

echo "== fuzz build (clang)"
CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DMVM_FUZZ=ON \
  >/dev/null
cmake --build build/fuzz -j"$jobs"
for f in build/fuzz/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  corpus="fuzz/corpus-run/$name"
  mkdir -p "$corpus"
  seeds=""
  [ -d "fuzz/corpus/$name" ] && seeds="fuzz/corpus/$name"
  echo "== fuzz $name for ${fuzz_seconds}s"
  # shellcheck disable=SC2086
  if "$f" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 "$corpus" $seeds >"build/fuzz/$name.log" 2>&1
  then
    passed=$((passed + 1))
    tail -n 3 "build/fuzz/$name.log"
  else
    failed=$((failed + 1))
    failed_names="$failed_names $name"
    tail -n 60 "build/fuzz/$name.log"
  fi
done

[ -n "$failed_names" ] && echo "failed suites:$failed_names"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
