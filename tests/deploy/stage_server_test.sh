#!/usr/bin/env bash
# ctest deploy.stage_server: what the runtime image gets, checked without
# Docker. Stages this build tree the way the image build does
# (scripts/stage-server.sh), checks that every shared library the staged
# binaries load comes from `install-deps.sh --runtime` packages, then starts
# the staged server on loopback with the staged demo model, answers the
# image's HEALTHCHECK command, and drains on SIGTERM with exit status 0.
#   tests/deploy/stage_server_test.sh BUILD_DIR
set -euo pipefail
build_dir=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/loraplex-stage-test-XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [[ -f $work/server.log ]] && tail -n 40 "$work/server.log" >&2
  exit 1
}

prefix=$work/opt/loraplex
"$repo/scripts/stage-server.sh" "$build_dir" "$prefix"
python3 "$repo/tests/deploy/runtime_libs_check.py" \
  "$prefix/bin/loraplex-server" "$prefix/bin/loraplex" \
  "$prefix/bin/loraplex-offline" \
  "$prefix/lib/loraplex/libloraplex_sentencepiece.so"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The image's CMD flags, with loopback and scratch paths.
"$prefix/bin/loraplex-server" --listen="127.0.0.1:$port" --metrics-listen= \
  --http-listen=none \
  --registry-dir="$work/registry" \
  --model="$prefix/share/loraplex/models/demo" \
  --seed-adapters="$prefix/share/loraplex/models/demo/adapters" \
  --threads=1 --shutdown-grace=5s >"$work/server.log" 2>&1 &
server_pid=$!

# The image's HEALTHCHECK command; not SERVING (exit 1) while it loads.
health=("$prefix/bin/loraplex" health "--server=127.0.0.1:$port" --timeout=3)
for _ in $(seq 1 180); do
  kill -0 "$server_pid" 2>/dev/null || fail "staged server exited while starting"
  if "${health[@]}" >"$work/health.out" 2>&1; then break; fi
  sleep 0.5
done
grep -qx SERVING "$work/health.out" || fail "health check never answered SERVING: $(cat "$work/health.out")"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
((status == 0)) || fail "staged server exited with status $status after SIGTERM"
# A stopped server must fail the health check (exit status 1).
if "${health[@]}" >/dev/null 2>&1; then fail "health check passed with no server"; fi
echo "stage-server: staged, runtime libraries covered, SERVING, drained on SIGTERM"
