#!/usr/bin/env bash
# Debian 12's C++ dependencies for a CUDA build against a PyTorch wheel's
# LibTorch on a machine that is not Debian 12 (docker/Dockerfile.cuda; the
# same steps as shared/device/README.md). The packages are unpacked into a
# prefix, never into /, so they cannot clash with the host's own.
#
#   scripts/cuda-deps.sh download DIR       apt-get download the .debs into DIR
#                                           (on Debian 12; needs apt lists)
#   scripts/cuda-deps.sh unpack DIR PREFIX  dpkg -x every .deb of DIR into PREFIX
#   scripts/cuda-deps.sh list               print the package names
#
# Then point CMake at PREFIX/usr and PREFIX/usr/lib/x86_64-linux-gnu/cmake
# (CMAKE_PREFIX_PATH), and export LIBRARY_PATH and LD_LIBRARY_PATH to
# PREFIX/usr/lib/x86_64-linux-gnu (gRPC's CMake config links re2 by bare
# name, and protoc needs its libraries).
set -euo pipefail

# Headers, CMake configs, code generators and the runtime libraries they need.
# No test-only packages: the image builds without tests.
packages=(
  libgrpc++-dev libgrpc++1.51 libgrpc-dev libgrpc29 protobuf-compiler-grpc
  libprotobuf-dev libprotobuf32 libprotobuf-lite32 libprotoc32 protobuf-compiler
  libabsl-dev libabsl20220623
  prometheus-cpp-dev libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
  libprometheus-cpp-push1.0 civetweb libcivetweb-dev libcivetweb1
  libcpp-httplib-dev libcpp-httplib0.11 libbrotli-dev libbrotli1
  libc-ares-dev libc-ares2 libre2-dev libre2-9 libssl-dev zlib1g-dev
  libcurl4-openssl-dev libcurl4 nlohmann-json3-dev
  libsentencepiece-dev libsentencepiece0
)

case "${1:-}" in
  list)
    printf '%s\n' "${packages[@]}"
    ;;
  download)
    dest=${2:?usage: $0 download DIR}
    mkdir -p "$dest"
    (cd "$dest" && apt-get download "${packages[@]}")
    echo "cuda-deps: $(ls "$dest"/*.deb | wc -l) packages in $dest"
    ;;
  unpack)
    src=${2:?usage: $0 unpack DIR PREFIX}
    prefix=${3:?usage: $0 unpack DIR PREFIX}
    mkdir -p "$prefix"
    shopt -s nullglob
    debs=("$src"/*.deb)
    if ((${#debs[@]} == 0)); then
      echo "cuda-deps: no .deb files in $src" >&2
      exit 1
    fi
    for deb in "${debs[@]}"; do dpkg -x "$deb" "$prefix"; done
    echo "cuda-deps: unpacked ${#debs[@]} packages into $prefix"
    ;;
  *)
    echo "usage: $0 list | download DIR | unpack DIR PREFIX" >&2
    exit 2
    ;;
esac
