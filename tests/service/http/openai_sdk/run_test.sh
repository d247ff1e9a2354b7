#!/usr/bin/env bash
# ctest http.openai_sdk_conformance: the official `openai` npm package
# (conformance.mjs) against a live loraplex-server with API keys and the
# demo model, compared with the same request through gRPC Generate.
#   run_test.sh SERVER_BINARY CLI_BINARY WORK_DIR
# The package comes from the committed package-lock.json through `npm ci`
# into WORK_DIR (kept between runs: a lock whose package is installed
# already is not fetched again). Needs node and npm (Node >= 18); `npm ci`
# needs the npm registry, or npm's cache, the first time: without either the
# test is skipped (exit 77). A missing or broken node or npm, Node < 18, or
# a failed install with the registry reachable, fails it.
set -euo pipefail
if (($# != 3)); then
  echo "usage: $0 SERVER_BINARY CLI_BINARY WORK_DIR" >&2
  exit 2
fi
server_bin=$1
cli_bin=$2
work=$3
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../../.." && pwd)
for tool in node npm; do
  command -v "$tool" >/dev/null ||
    { echo "FAIL: $tool not found (apt-get install nodejs npm)" >&2; exit 1; }
  # A tool that is there but does not run (a Node missing its builtins
  # aborts) must fail the test, not pass for an offline machine below.
  "$tool" --version >/dev/null 2>&1 ||
    { echo "FAIL: $tool is installed but does not run: $tool --version failed" >&2; exit 1; }
done
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 18)) ||
  { echo "FAIL: Node $node_major is too old: the openai package needs Node >= 18" >&2; exit 1; }

# The SDK, exactly as locked.
mkdir -p "$work"
cp "$here/package.json" "$here/package-lock.json" "$here/conformance.mjs" "$work/"
if ! cmp -s "$work/package-lock.json" "$work/node_modules/.package-lock.json.installed" 2>/dev/null; then
  if ! (cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline); then
    # Without the registry (an offline machine) the SDK cannot exist here:
    # ctest reports the test as skipped (77), loudly, instead of failing
    # every offline build. Any other failure below fails it.
    if ! (cd "$work" && npm ping >/dev/null 2>&1); then
      echo "SKIPPED: the npm registry is unreachable and npm's cache lacks the openai package" >&2
      exit 77
    fi
    echo "FAIL: npm ci of the openai package" >&2
    exit 1
  fi
  cp "$work/package-lock.json" "$work/node_modules/.package-lock.json.installed"
fi

run=$(mktemp -d "${TMPDIR:-/tmp}/loraplex-openai-sdk-XXXXXX")
server_pid=
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$run"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  [[ -f $run/server.log ]] && tail -n 40 "$run/server.log" >&2
  exit 1
}

key=acme-sdk-conformance-key
printf 'acme tenant %s\n' "$(printf %s "$key" | sha256sum | cut -d' ' -f1)" >"$run/keys"
"$server_bin" --listen=127.0.0.1:0 --metrics-listen= --http-listen=127.0.0.1:0 \
  --api-keys="$run/keys" --registry-dir="$run/registry" \
  --model="$repo/models/demo" --seed-adapters="$repo/models/demo/adapters" \
  --threads=1 --shutdown-grace=5s >"$run/server.log" 2>&1 &
server_pid=$!
# The start-up line names the bound ports; 120 s is only a safety net.
for _ in $(seq 1 600); do
  grep -q 'HTTP API on port' "$run/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server exited while starting"
  sleep 0.2
done
line=$(grep -m1 'HTTP API on port' "$run/server.log") || fail "the server never said its ports"
grpc_port=$(sed -E 's/.*listening on [^ ]+ \(port ([0-9]+)\).*/\1/' <<<"$line")
http_port=$(sed -E 's/.*HTTP API on port ([0-9]+).*/\1/' <<<"$line")

# The gRPC side of "the same greedy text".
grpc_greedy=$("$cli_bin" generate --server="127.0.0.1:$grpc_port" --api-key="$key" \
  --timeout=60 --no-stream --json --adapter demo/scripture --max-new-tokens 12 \
  "In the beginning") || fail "loraplex generate failed"

cd "$work"
LORAPLEX_HTTP_BASE="http://127.0.0.1:$http_port/v1" LORAPLEX_API_KEY="$key" \
  GRPC_GREEDY="$grpc_greedy" node conformance.mjs || fail "conformance.mjs failed"
