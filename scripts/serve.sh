#!/usr/bin/env bash
# Installs the dependencies (Debian 12 packages), builds loraplex-server and
# the loraplex CLI, and starts the server on its embedded default model
# (models/demo) with the demo tenants' adapters. Arguments are passed to
# loraplex-server (e.g. --model DIR, --api-keys FILE; see --help).
#   LORAPLEX_JOBS=N   parallel build jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=${LORAPLEX_JOBS:-$(nproc)}
# The same build tree as scripts/test.sh, so one build serves both.
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build build -j "$jobs" --target loraplex-server loraplex
echo "serve: try   build/tools/cli/loraplex generate --adapter demo/scripture \"The best way to\"" >&2
exec build/service/server/loraplex-server "$@"
