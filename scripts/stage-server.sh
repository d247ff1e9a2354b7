#!/usr/bin/env bash
# Copies what the server image runs out of a build tree into PREFIX:
#
#   PREFIX/bin/loraplex-server            the server (stripped)
#   PREFIX/bin/loraplex                   the CLI (`loraplex health` is the
#                                         image's HEALTHCHECK)
#   PREFIX/bin/loraplex-offline           the CLI's engine commands (batch,
#                                         tokenize), which `loraplex` runs
#   PREFIX/lib/loraplex/libloraplex_sentencepiece.so
#                                         SentencePiece support (a module
#                                         the tokenizer dlopen()s)
#   PREFIX/share/loraplex/models/demo/    the bundled demo model
#
#   scripts/stage-server.sh BUILD_DIR PREFIX
#
# docker/Dockerfile{,.cuda} run it through scripts/build-server.sh; CI runs it
# on its own build tree (tests/deploy, deploy.stage_server) and starts the
# staged server, so a broken staging step fails CI.
set -euo pipefail
if (($# != 2)); then
  echo "usage: $0 BUILD_DIR PREFIX" >&2
  exit 2
fi
build_dir=$1
prefix=$2
repo=$(cd "$(dirname "$0")/.." && pwd)

# The one executable called $1 in the build tree (not under CMakeFiles/).
find_binary() {
  local found
  found=$(find "$build_dir" -path '*/CMakeFiles' -prune -o \
    -type f -name "$1" -perm -u+x -print)
  if [[ -z "$found" ]]; then
    echo "stage-server: no $1 in $build_dir (build it first)" >&2
    return 1
  fi
  if [[ $(wc -l <<<"$found") -ne 1 ]]; then
    echo "stage-server: several $1 in $build_dir:" $found >&2
    return 1
  fi
  echo "$found"
}

server=$(find_binary loraplex-server)
cli=$(find_binary loraplex)
cli_offline=$(find_binary loraplex-offline)
demo_model=$repo/models/demo
if [[ ! -f $demo_model/config.json ]]; then
  echo "stage-server: $demo_model has no config.json (no demo model)" >&2
  exit 1
fi

spm_module=$(find_binary libloraplex_sentencepiece.so)

install -d "$prefix/bin" "$prefix/lib/loraplex" "$prefix/share/loraplex/models"
install -m 0755 --strip "$server" "$prefix/bin/loraplex-server"
install -m 0755 --strip "$cli" "$prefix/bin/loraplex"
install -m 0755 --strip "$cli_offline" "$prefix/bin/loraplex-offline"
install -m 0755 --strip "$spm_module" "$prefix/lib/loraplex/"
rm -rf "$prefix/share/loraplex/models/demo"
cp -r "$demo_model" "$prefix/share/loraplex/models/demo"
chmod -R a+rX "$prefix"
echo "stage-server: staged into $prefix"
