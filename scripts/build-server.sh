#!/usr/bin/env bash
# Builds loraplex-server and the loraplex CLI (Release) and stages them with
# the demo model under PREFIX (scripts/stage-server.sh). This is the build
# step of docker/Dockerfile and docker/Dockerfile.cuda; it configures and
# builds the way scripts/test.sh does, without the tests and benchmarks.
#
#   scripts/build-server.sh BUILD_DIR PREFIX [extra cmake configure args...]
#   LORAPLEX_JOBS=N   parallel build jobs (default: nproc)
set -euo pipefail
if (($# < 2)); then
  echo "usage: $0 BUILD_DIR PREFIX [cmake args...]" >&2
  exit 2
fi
build_dir=$1
prefix=$2
shift 2
cd "$(dirname "$0")/.."
jobs=${LORAPLEX_JOBS:-$(nproc)}

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DLORAPLEX_BUILD_TESTS=OFF -DLORAPLEX_BUILD_BENCH=OFF "$@"
cmake --build "$build_dir" -j "$jobs" --target loraplex-server loraplex
scripts/stage-server.sh "$build_dir" "$prefix"
