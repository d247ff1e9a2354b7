"""Checks that the runtime image has every shared library the staged
binaries need: each library ldd resolves must come from a Debian package
that `scripts/install-deps.sh --runtime` installs, directly or through
dependencies, or from the base image's essential packages.

usage: runtime_libs_check.py BINARY...
Exit status 0 when all are covered, 1 with one line per uncovered library.
"""
import os
import re
import subprocess
import sys

from deploy_test_util import read_text

# debian:12-slim has the Essential packages plus apt and what it needs.
BASE_IMAGE_ROOTS = ["apt"]


def runtime_packages():
    """The runtime_pkgs array of scripts/install-deps.sh."""
    text = read_text("scripts", "install-deps.sh")
    match = re.search(r"^runtime_pkgs=\((.*?)^\)", text, re.MULTILINE | re.DOTALL)
    if not match:
        raise SystemExit("install-deps.sh: no runtime_pkgs=( ... ) array")
    words = []
    for line in match.group(1).splitlines():
        words += line.split("#", 1)[0].split()
    return words


def installed_packages():
    """{package: (essential, [dependency alternatives...])} and
    {virtual name: [providers]} of the installed packages."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package}\t${Essential}\t${Pre-Depends}, ${Depends}\t"
         "${Provides}\t${db:Status-Abbrev}\n"],
        capture_output=True, text=True, check=True).stdout
    packages, providers = {}, {}
    for line in out.splitlines():
        name, essential, depends, provides, status = line.split("\t")
        if not status.startswith("ii"):
            continue
        alternatives = []
        for clause in depends.split(","):
            names = [re.sub(r"[\s(].*$", "", alt.strip()).split(":")[0]
                     for alt in clause.split("|")]
            alternatives.append([n for n in names if n])
        packages[name] = (essential == "yes", [a for a in alternatives if a])
        for virtual in provides.split(","):
            virtual = re.sub(r"[\s(].*$", "", virtual.strip())
            if virtual:
                providers.setdefault(virtual, []).append(name)
    return packages, providers


def closure(roots, packages, providers):
    seen, stack = set(), list(roots)
    while stack:
        name = stack.pop()
        for real in [name] + providers.get(name, []):
            if real in seen or real not in packages:
                continue
            seen.add(real)
            for alternatives in packages[real][1]:
                stack.extend(alternatives)
    return seen


def linked_libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    libs, missing = [], []
    for line in out.splitlines():
        if "=> not found" in line:
            missing.append(line.split()[0])
        match = re.search(r"=>\s+(/\S+)", line)
        if match:
            libs.append(match.group(1))
    return libs, missing


_FILE_OWNERS = None


def file_owners():
    """Path -> package, from dpkg's file lists (one pass; `dpkg-query -S`
    per library rereads every list and took minutes for 300 libraries)."""
    global _FILE_OWNERS
    if _FILE_OWNERS is None:
        _FILE_OWNERS = {}
        info = "/var/lib/dpkg/info"
        for name in os.listdir(info):
            if not name.endswith(".list"):
                continue
            package = name[:-len(".list")].split(":")[0]
            with open(os.path.join(info, name), encoding="utf-8", errors="replace") as f:
                for line in f:
                    _FILE_OWNERS.setdefault(line.rstrip("\n"), package)
    return _FILE_OWNERS


def owning_package(path):
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            candidates.append("/usr" + p)
    owners = file_owners()
    for candidate in candidates:
        if candidate in owners:
            return owners[candidate]
    return None


def main(binaries):
    packages, providers = installed_packages()
    essential = [name for name, (is_essential, _) in packages.items() if is_essential]
    allowed = closure(runtime_packages() + essential + BASE_IMAGE_ROOTS, packages, providers)
    problems = []
    for binary in binaries:
        libs, missing = linked_libraries(binary)
        problems += [f"{binary}: {lib} not found" for lib in missing]
        for lib in libs:
            package = owning_package(lib)
            if package is None:
                problems.append(f"{binary}: {lib} belongs to no Debian package")
            elif package not in allowed:
                problems.append(f"{binary}: {lib} comes from {package}, which "
                                "`install-deps.sh --runtime` does not install")
        print(f"{binary}: {len(libs)} shared libraries, all from runtime packages"
              if not problems else f"{binary}: checked {len(libs)} libraries")
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1:]))
