#!/usr/bin/env bash
# ctest http.openai_sdk_fails_on_a_broken_node: run_test.sh with a `node`
# that aborts (as Debian's Node does without its externalized builtins) must
# fail (exit 1), not report a skip (77) as for an offline machine.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fake=$(mktemp -d "${TMPDIR:-/tmp}/loraplex-broken-node-XXXXXX")
trap 'rm -rf "$fake"' EXIT
for tool in node npm; do
  printf '#!/bin/sh\necho "Cannot load externalized builtin" >&2\nkill -ABRT $$\n' \
    > "$fake/$tool"
  chmod +x "$fake/$tool"
done
output=$(PATH="$fake:$PATH" bash "$here/run_test.sh" /bin/false /bin/false \
  "$fake/work" 2>&1)
rc=$?
if ((rc != 1)) || [[ $output != *"does not run"* ]]; then
  echo "FAIL: expected exit 1 saying the tool does not run, got $rc: $output" >&2
  exit 1
fi
echo "OK: $output"
