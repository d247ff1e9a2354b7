#!/usr/bin/env bash
# Installs the dependencies (Debian 12 packages), builds everything and runs
# the whole test suite. This is what CI runs (.ci/run).
#   LORAPLEX_JOBS=N       parallel build/test jobs (default: nproc)
#   LORAPLEX_SKIP_ASAN=1  skip the AddressSanitizer/UBSan pass (and fuzzing)
#   LORAPLEX_SKIP_TSAN=1  skip the ThreadSanitizer pass
#   LORAPLEX_FUZZ_RUNS=N  inputs each fuzz target tries (default 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${LORAPLEX_JOBS:-$(nproc)}

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
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

tsan_build=
if [[ "${LORAPLEX_SKIP_TSAN:-0}" != 1 ]]; then
  # ThreadSanitizer (cmake/LoraplexTsan.cmake): the engine runtime and the
  # service built with clang's -fsanitize=thread, with third-party
  # suppressions only (tests/tsan/tsan.supp). First an Abseil built with TSan
  # from Debian's source package (scripts/build-tsan-absl.sh; kept while its
  # version matches), so that absl::Mutex, ours and gRPC's, is visible to
  # TSan. To fit CI's time, only the tests of what is concurrent are built
  # and run: the engine loop and adapter cache (engine_tests), the registry,
  # the end-to-end gRPC service, and TSan's self-test. The TSan build has
  # more test binaries (auth, metrics, proto, HTTP API): `cmake --build
  # build-tsan && ctest --test-dir build-tsan` runs them all. Tests of a
  # binary not built here are named <binary>_NOT_BUILT, hence -E.
  tsan_targets=(tsan_self_tests engine_tests registry_tests service_e2e_tests)
  LORAPLEX_JOBS=$jobs scripts/build-tsan-absl.sh build-tsan
  cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DLORAPLEX_TSAN=ON
  cmake --build build-tsan -j "$jobs" --target "${tsan_targets[@]}"
  ctest --test-dir build-tsan --output-on-failure -j "$jobs" \
    -E '_NOT_BUILT$'
  tsan_build=build-tsan
fi

# Clang's thread-safety analysis (ABSL_GUARDED_BY & co.) as errors, on the
# annotated code of the Release build (syntax only: a few minutes); the units
# the TSan build compiled were analysed there already (-Werror=thread-safety).
scripts/thread-safety-check.sh build $tsan_build
echo "All tests passed."
