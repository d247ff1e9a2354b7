#!/usr/bin/env bash
# Installs everything Loraplex needs to build, test and run, from Debian 12's packages.
# Idempotent: packages already present are left as they are. Needs root (or sudo).
#
#   scripts/install-deps.sh            build + test + runtime dependencies
#   scripts/install-deps.sh --runtime  only the shared libraries the server needs at run time
set -euo pipefail

build_pkgs=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libtorch-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libre2-dev libssl-dev zlib1g-dev libc-ares-dev
  prometheus-cpp-dev libcivetweb-dev
  # HTTP: the /metrics server and the tools' HTTP client.
  libcpp-httplib-dev
  nlohmann-json3-dev libsentencepiece-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  # Without an optimized BLAS, Debian's LibTorch uses the reference BLAS (about 17x slower).
  libopenblas0-openmp
  # Tests: health checks, metric scrapes, config checks.
  curl python3 python3-yaml prometheus
  # The sanitizer passes and fuzzing (scripts/fuzz.sh): clang, and its ASan,
  # UBSan, TSan and libFuzzer runtimes (only recommended by clang-14, so
  # named). The TSan pass also unpacks Debian's Abseil source with
  # dpkg-source (dpkg-dev, from build-essential): scripts/build-tsan-absl.sh.
  clang libclang-rt-14-dev
  # The OpenAI SDK conformance test (tests/service/http/openai_sdk): Node.js,
  # and npm below.
  nodejs
)
runtime_pkgs=(
  libtorch1.13 libgrpc++1.51 libprotobuf32 libabsl20220623 libre2-9
  libprometheus-cpp-core1.0 libcpp-httplib0.11 libsentencepiece0
  libopenblas0-openmp ca-certificates
)

pkgs=("${build_pkgs[@]}")
if [[ "${1:-}" == "--runtime" ]]; then pkgs=("${runtime_pkgs[@]}"); fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# npm: Debian's package, unless the installed nodejs brings its own (as
# NodeSource's does, which Debian's npm would conflict with).
if [[ "${1:-}" != "--runtime" ]] && ! command -v npm >/dev/null; then
  missing+=(npm)
fi
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
