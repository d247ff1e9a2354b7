#!/usr/bin/env bash
# Builds Abseil with ThreadSanitizer, as static libraries, for the TSan build
# (-DLORAPLEX_TSAN=ON, cmake/LoraplexTsan.cmake), from Debian's own source
# package of the installed libabsl-dev (same version, same Debian patches,
# hence the same headers and ABI that gRPC was built against).
#
#   scripts/build-tsan-absl.sh [BUILD_DIR]     (default: build-tsan)
#
# Installs into BUILD_DIR/absl-tsan/install (the default of
# LORAPLEX_TSAN_ABSL_PREFIX); does nothing if that install matches the
# installed libabsl-dev already. Why: Debian's libabsl is not instrumented,
# and absl::Mutex's TSan annotations live in its mutex.cc, so with the system
# library every absl::Mutex (ours and gRPC's) is invisible to TSan and each
# access it guards is reported as a race. The test binaries link this copy
# and export its symbols, so libgrpc's calls into absl bind to it too.
#
# The source comes through apt with a private configuration under
# BUILD_DIR/absl-tsan/apt (its own sources list, lists and cache): the
# machine's apt sources are neither read nor changed, and no root is needed.
#   LORAPLEX_DEBIAN_MIRROR   (default http://deb.debian.org)
#   LORAPLEX_JOBS            parallel compile jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build-tsan}
jobs=${LORAPLEX_JOBS:-$(nproc)}
mirror=${LORAPLEX_DEBIAN_MIRROR:-http://deb.debian.org}

version=$(dpkg-query -W -f='${Version}' libabsl-dev)
root=$(realpath -m "$build_dir/absl-tsan")
prefix=$root/install
stamp=$prefix/loraplex-absl-version
if [[ -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "build-tsan-absl: Abseil $version (TSan) already in $prefix"
  exit 0
fi
rm -rf "$root"
mkdir -p "$root/apt/lists/partial" "$root/apt/cache/archives/partial" \
  "$root/download"

# Where the installed version may come from: the release, its point
# releases and security updates.
cat >"$root/apt/sources.list" <<EOF
deb-src $mirror/debian bookworm main
deb-src $mirror/debian bookworm-updates main
deb-src $mirror/debian-security bookworm-security main
EOF
apt_options=(
  -o "Dir::Etc::SourceList=$root/apt/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$root/apt/lists"
  -o "Dir::Cache=$root/apt/cache"
)
apt-get "${apt_options[@]}" -q update
(cd "$root/download" &&
  apt-get "${apt_options[@]}" -q source --download-only "abseil=$version")
# Unpacks the upstream tarball and applies Debian's patches (options.h: the
# inline namespace and absl's own optional/string_view/any/variant).
dpkg-source -x "$root"/download/abseil_*.dsc "$root/src" >/dev/null

cmake -S "$root/src" -B "$root/build" -G Ninja \
  -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_STANDARD=17 -DABSL_PROPAGATE_CXX_STD=ON \
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
  -DBUILD_TESTING=OFF -DCMAKE_CXX_FLAGS="-fsanitize=thread" \
  -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib
cmake --build "$root/build" -j "$jobs"
cmake --install "$root/build" >/dev/null
# The installed headers must be the system's (gRPC's and protobuf's headers
# include absl headers from /usr/include).
if ! diff -r -q "$prefix/include/absl" /usr/include/absl >/dev/null; then
  echo "build-tsan-absl: headers of abseil $version differ from /usr/include/absl" >&2
  exit 1
fi
rm -rf "$root/build" "$root/src" "$root/download" "$root/apt"
echo "$version" >"$stamp"
echo "build-tsan-absl: Abseil $version (TSan) installed in $prefix"
