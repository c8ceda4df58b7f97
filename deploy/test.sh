#!/usr/bin/env bash
# Builds (incrementally) and runs the whole test suite through CTest. Solver
# tests run on the CPU backend, and on CUDA too where a GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/default/CMakeCache.txt ]] || cmake --preset default
cmake --build --preset default
ctest --preset default -j "$(nproc)"
