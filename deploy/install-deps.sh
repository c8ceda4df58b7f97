#!/usr/bin/env bash
# Installs everything Azimuth needs to build and test on Debian 12.
#
# The README's set-up, CI (.ci/run) and the container images all call this one
# script, so there is a single list of dependencies. CUDA is optional: when
# /usr/local/cuda is present its CCCL (Thrust, CUB) and nvcc are used, otherwise
# Debian's Thrust is installed and only the OpenMP backend is built.
#
#   deploy/install-deps.sh            # build + test dependencies
#   deploy/install-deps.sh --runtime  # shared libraries azimuthd needs at run time
set -euo pipefail

runtime=(libabsl20220623 libprotobuf32 libgomp1 libgrpc++1.51 libgrpc29 libprometheus-cpp-pull1.0 libprometheus-cpp-core1.0 libssl3 libhiredis0.14)
build=(
  build-essential cmake ninja-build pkg-config
  libabsl-dev libprotobuf-dev protobuf-compiler
  libgrpc++-dev protobuf-compiler-grpc prometheus-cpp-dev
  # Replicas sharing Redis: the client library, TLS, and the server the
  # tests start.
  libhiredis-dev libssl-dev redis-server
  # Tests: certificates for the TLS tests, a venv for the deploy checks.
  openssl python3-venv
  libgtest-dev libgmock-dev libbenchmark-dev
  # Exact references, used by tests and benchmarks only.
  liblemon-dev coinor-libclp-dev
  # Sanitizer, thread-safety and fuzz builds (deploy/sanitizers.sh): clang
  # with its sanitizer and libFuzzer runtimes and its OpenMP; clang-format.
  clang libclang-rt-14-dev libomp-14-dev clang-format
)

if [[ "${1:-}" == "--runtime" ]]; then
  pkgs=("${runtime[@]}")
else
  pkgs=("${build[@]}")
  if [[ ! -d /usr/local/cuda/lib64/cmake/thrust ]]; then
    pkgs+=(libthrust-dev libcub-dev)
  fi
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
