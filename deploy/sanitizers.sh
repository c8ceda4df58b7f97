#!/usr/bin/env bash
# The sanitizer stages of CI, each runnable alone:
#
#   deploy/sanitizers.sh asan   # the whole suite under AddressSanitizer + UBSan (leaks checked)
#   deploy/sanitizers.sh tsan   # engine, batcher, ledger, cluster and server tests under ThreadSanitizer,
#                               # one OpenMP thread; built with clang's -Wthread-safety as an error
#   deploy/sanitizers.sh fuzz [SECONDS]   # every libFuzzer target (deploy/fuzz.sh), 60 s each
#   deploy/sanitizers.sh all [SECONDS]
#
# Presets in CMakePresets.json; build trees in build/asan (the fuzz targets too) and build/tsan.
set -euo pipefail
cd "$(dirname "$0")/.."
stage="${1:-all}"
jobs="$(nproc)"

asan() {
  cmake --preset asan >/dev/null
  cmake --build --preset asan
  ctest --preset asan -j "${jobs}"
}

tsan() {
  cmake --preset tsan >/dev/null
  cmake --build --preset tsan
  ctest --preset tsan -j "${jobs}"
}

case "${stage}" in
  asan) asan ;;
  tsan) tsan ;;
  fuzz) bash deploy/fuzz.sh "${2:-60}" ;;
  all)
    asan
    tsan
    bash deploy/fuzz.sh "${2:-60}"
    ;;
  *)
    echo "usage: deploy/sanitizers.sh asan|tsan|fuzz|all [fuzz seconds]" >&2
    exit 2
    ;;
esac
