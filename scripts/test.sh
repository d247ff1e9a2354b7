#!/usr/bin/env bash
# Installs the dependencies (Debian 12 packages), builds everything and runs
# the whole test suite. This is what CI runs (.ci/run).
#   LORAPLEX_JOBS=N       parallel build/test jobs (default: nproc)
#   LORAPLEX_SKIP_ASAN=1  skip the AddressSanitizer/UBSan pass (and fuzzing)
#   LORAPLEX_FUZZ_RUNS=N  inputs each fuzz target tries (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${LORAPLEX_JOBS:-$(nproc)}

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
# Clang's thread-safety analysis (ABSL_GUARDED_BY & co.) as errors, on the
# annotated code of the build above (syntax only: a few minutes).
scripts/thread-safety-check.sh build
ctest --test-dir build --output-on-failure -j "$jobs"

if [[ "${LORAPLEX_SKIP_ASAN:-0}" != 1 ]]; then
  # The parsers (safetensors, configs, adapters, tokenizers, sampling) see
  # untrusted bytes: run their tests again under ASan + UBSan. Built with
  # clang, the same build holds the libFuzzer targets (fuzz/): ctest replays
  # their seeds and saved crashes, then each target is fuzzed briefly: a
  # fixed seed and number of runs from the committed seeds only (about 1.5
  # min in all), as repeatable as libFuzzer allows (Abseil's per-process
  # hash seed still varies the paths a little); scripts/fuzz.sh alone
  # fuzzes with random seeds, for as long as asked.
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DLORAPLEX_SANITIZE=ON -DLORAPLEX_FUZZ=ON
  cmake --build build-asan -j "$jobs"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$jobs"
  LORAPLEX_FUZZ_BUILD_DIR=build-asan LORAPLEX_FUZZ_BUILD=0 \
    LORAPLEX_FUZZ_FRESH=1 \
    LORAPLEX_FUZZ_ARGS="-seed=1 -runs=${LORAPLEX_FUZZ_RUNS:-10000}" \
    scripts/fuzz.sh 300
fi
echo "All tests passed."
