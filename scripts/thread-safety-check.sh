#!/usr/bin/env bash
# Clang's thread-safety analysis (-Wthread-safety) over the code that uses
# Abseil's annotations (ABSL_GUARDED_BY, ABSL_EXCLUSIVE_LOCKS_REQUIRED, ...),
# as errors, so that the annotations are checked, not decorative.
#
#   scripts/thread-safety-check.sh [BUILD_DIR [TSAN_BUILD_DIR]]
#                                     (default: build, no TSAN_BUILD_DIR)
#
# Runs clang++ -fsyntax-only on every translation unit of BUILD_DIR's
# compile_commands.json (a configured and built tree: the generated protobuf
# headers must exist) that includes a header with annotations, with the
# flags the build used. Syntax-only: no code is generated, so this takes a
# fraction of a build. Exit status 1 at the first unit with a finding.
#
# TSAN_BUILD_DIR: a built -DLORAPLEX_TSAN=ON tree (cmake/LoraplexTsan.cmake).
# It compiles its units with clang and -Werror=thread-safety, so the units it
# compiled are not checked again here; only the others are.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
tsan_dir=${2:-}
jobs=${LORAPLEX_JOBS:-$(nproc)}
if [[ ! -f "$build_dir/compile_commands.json" ]]; then
  echo "thread-safety-check: no $build_dir/compile_commands.json (build first)" >&2
  exit 2
fi
if [[ -n "$tsan_dir" ]] &&
  ! grep -qx 'LORAPLEX_TSAN:BOOL=ON' "$tsan_dir/CMakeCache.txt" 2>/dev/null; then
  echo "thread-safety-check: $tsan_dir is not a LORAPLEX_TSAN build" >&2
  exit 2
fi

python3 - "$build_dir/compile_commands.json" "$jobs" \
  "${tsan_dir:+$tsan_dir/compile_commands.json}" <<'PY'
import concurrent.futures
import json
import os
import re
import shlex
import subprocess
import sys

ANNOTATED = re.compile(r"ABSL_(GUARDED_BY|PT_GUARDED_BY|EXCLUSIVE_LOCKS_REQUIRED|"
                       r"SHARED_LOCKS_REQUIRED|LOCKS_EXCLUDED|LOCK_RETURNED)")
root = os.getcwd()
commands = json.load(open(sys.argv[1]))
jobs = int(sys.argv[2])
# Units the TSan build compiled with -Werror=thread-safety: those whose object
# file is there and newer than the source (a build of some targets only, as
# scripts/test.sh does, lists every unit in compile_commands.json but
# compiles only some).
def object_file(entry):
    args = shlex.split(entry["command"])
    if "-o" not in args:
        return None
    return os.path.join(entry["directory"], args[args.index("-o") + 1])


def compiled(entry):
    obj = object_file(entry)
    return (obj is not None and os.path.exists(obj) and
            os.path.getmtime(obj) >= os.path.getmtime(entry["file"]))


compiled_with_analysis = set()
if sys.argv[3]:
    compiled_with_analysis = {os.path.relpath(e["file"], root)
                              for e in json.load(open(sys.argv[3]))
                              if compiled(e)}

# Our files that carry annotations; a unit is checked when it is one of
# them or includes one (directly, by the path from the repository root).
annotated = set()
for directory in ("engine", "service", "tools", "tests", "bench", "fuzz"):
    for base, _, names in os.walk(directory):
        for name in names:
            if name.endswith((".h", ".cc")):
                path = os.path.join(base, name)
                with open(path, errors="replace") as f:
                    if ANNOTATED.search(f.read()):
                        annotated.add(path)
included = re.compile(r'#include "([^"]+)"')


def checked(source):
    rel = os.path.relpath(source, root)
    if rel in annotated:
        return True
    with open(source, errors="replace") as f:
        return any(h in annotated for h in included.findall(f.read()))


def clang_command(entry):
    args = shlex.split(entry["command"]) if "command" in entry else entry["arguments"]
    out = ["clang++"]
    skip = False
    for arg in args[1:]:
        if skip:
            skip = False
            continue
        if arg in ("-o", "-MF", "-MT", "-MQ"):
            skip = True
            continue
        if arg in ("-c", "-MD", "-MMD"):
            continue
        out.append(arg)
    # Debian's gRPC and LibTorch headers are not ours to fix: their
    # warnings stay off; only the analysis is an error.
    return out + ["-fsyntax-only", "-Wno-everything", "-Wthread-safety",
                  "-Werror=thread-safety"], entry["directory"]


units = [e for e in commands
         if os.path.relpath(e["file"], root).split(os.sep)[0] != ".."
         and os.path.relpath(e["file"], root) not in compiled_with_analysis
         and checked(e["file"])]


def run(entry):
    command, directory = clang_command(entry)
    result = subprocess.run(command, cwd=directory, capture_output=True,
                            text=True)
    return entry["file"], result.returncode, result.stderr


failed = 0
with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
    for source, code, errors in pool.map(run, units):
        if code != 0:
            failed += 1
            print(f"--- {os.path.relpath(source, root)}\n{errors}",
                  file=sys.stderr)
skipped = (f" (and {len(compiled_with_analysis)} compiled by the TSan build)"
           if compiled_with_analysis else "")
print(f"thread-safety-check: {len(units)} translation units{skipped}, "
      f"{failed} with findings")
sys.exit(1 if failed else 0)
PY
