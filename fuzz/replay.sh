#!/bin/sh
# Runs every input of the given corpus directories once through a libFuzzer
# target (no fuzzing) and fails if any crashes. Directories that do not
# exist are skipped; the first one receives nothing new (-runs=0).
#   fuzz/replay.sh FUZZER SCRATCH_DIR CORPUS_DIR...
set -eu
fuzzer=$1
shift
scratch=$1
shift
mkdir -p "$scratch"
for dir in "$@"; do
  shift
  if [ -d "$dir" ]; then set -- "$@" "$dir"; fi
done
exec "$fuzzer" -runs=0 "$scratch" "$@"
