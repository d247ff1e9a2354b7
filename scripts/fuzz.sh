#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang, ASan + UBSan; the same build
# as the sanitizer test pass) and runs each for SECONDS (default 60): first
# every saved crash in fuzz/regressions/<target>/ once, then fuzzing from the
# seeds in fuzz/corpus/<target>/. Fails on any crash, leak, timeout (an input
# running over 10 s) or out-of-memory (over 2 GB); libFuzzer then leaves the
# input in <build>/fuzz-artifacts/<target>/. See fuzz/README.md.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (targets: all by default)
#
#   LORAPLEX_FUZZ_BUILD_DIR=dir  build directory (default build-fuzz)
#   LORAPLEX_FUZZ_BUILD=0        use the build directory as it is
#   LORAPLEX_JOBS=N              parallel compile jobs (default: nproc)
#   LORAPLEX_FUZZ_ARGS="..."     extra libFuzzer flags, e.g. -runs=1000000
#   LORAPLEX_FUZZ_FRESH=1        start from the seeds only, forgetting what
#                                earlier runs found (<build>/fuzz-corpus)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(safetensors adapter_config adapter_dir model_config tokenizer_json
           tokenizer_config generate_request)
fi
dir=${LORAPLEX_FUZZ_BUILD_DIR:-build-fuzz}

if [[ "${LORAPLEX_FUZZ_BUILD:-1}" != 0 ]]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DLORAPLEX_SANITIZE=ON -DLORAPLEX_FUZZ=ON \
    >/dev/null
  fuzzers=()
  for t in "${targets[@]}"; do fuzzers+=("${t}_fuzzer"); done
  cmake --build "$dir" -j "${LORAPLEX_JOBS:-$(nproc)}" --target "${fuzzers[@]}"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
read -r -a extra <<<"${LORAPLEX_FUZZ_ARGS:-}"
summary=()
for t in "${targets[@]}"; do
  fuzzer="$dir/fuzz/${t}_fuzzer"
  work="$dir/fuzz-corpus/$t"        # What this machine found; kept.
  artifacts="$dir/fuzz-artifacts/$t/"
  if [[ "${LORAPLEX_FUZZ_FRESH:-0}" == 1 ]]; then rm -rf "$work"; fi
  mkdir -p "$work" "$artifacts"
  corpora=("fuzz/corpus/$t")
  if [[ -d "fuzz/regressions/$t" ]]; then
    corpora+=("fuzz/regressions/$t")
    echo "== $t: replaying fuzz/regressions/$t"
    fuzz/replay.sh "$fuzzer" "$dir/fuzz/replay_$t" "fuzz/regressions/$t" \
      2>"$dir/fuzz-$t-replay.log" ||
      { tail -40 "$dir/fuzz-$t-replay.log"; echo "FAILED: $t regression"; exit 1; }
  fi
  echo "== $t: fuzzing for ${seconds}s"
  log="$dir/fuzz-$t.log"
  if ! "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts" "${extra[@]}" \
      "$work" "${corpora[@]}" >"$log" 2>&1; then
    tail -60 "$log"
    echo "FAILED: $t (input saved under $artifacts; log: $log)"
    exit 1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" |
         grep -o '[0-9]*$' || echo "?")
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  summary+=("$(printf '%-18s runs %-10s %s' "$t" "$runs" \
               "$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9a-zA-Z]+' \
                   <<<"$done_line" || true)")")
done
printf '%s\n' "fuzz summary (${seconds}s each):" "${summary[@]}"
