#!/usr/bin/env bash
# Runs the whole ctest suite of a build N times in a row while stress-ng
# saturates every core: a test that waits on time instead of events fails
# here long before it fails CI. Stops at the first failing run.
#   scripts/stress-test.sh [BUILD_DIR] [RUNS]   (defaults: build 20)
# Needs stress-ng (Debian package). Each run's output goes to
# BUILD_DIR/stress/run-N.log, one line per run to BUILD_DIR/stress/summary.
# Do not rebuild BUILD_DIR while it runs: a test binary being relinked is
# missing for a moment.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-20}
command -v stress-ng >/dev/null || { echo "stress-ng not found (apt-get install stress-ng)" >&2; exit 1; }
[[ -f $build/CTestTestfile.cmake ]] || { echo "$build has no tests (build it first)" >&2; exit 1; }
jobs=$(nproc)
mkdir -p "$build/stress"
stress-ng --cpu "$jobs" --timeout 0 >/dev/null 2>&1 &
stress_pid=$!
trap 'kill $stress_pid 2>/dev/null; wait $stress_pid 2>/dev/null' EXIT
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
for ((i = 1; i <= runs; ++i)); do
  start=$(date +%s)
  ctest --test-dir "$build" -j "$jobs" --timeout 900 --output-on-failure \
    > "$build/stress/run-$i.log" 2>&1
  rc=$?
  line="run $i/$runs commit $commit rc $rc $(( $(date +%s) - start ))s $(date -u +%FT%TZ) $(grep -E 'tests passed|tests failed' "$build/stress/run-$i.log" | tail -1)"
  echo "$line" | tee -a "$build/stress/summary"
  if ((rc != 0)); then
    sed -n '/The following tests FAILED/,$p' "$build/stress/run-$i.log"
    exit 1
  fi
done
echo "all $runs runs passed"
