#!/usr/bin/env bash
# Runs every libFuzzer target (built by the asan preset, clang with ASan +
# UBSan) for a bounded time each, from its seed corpus in
# tests/fuzz/corpus/. Fails on any finding; a crashing input is left in
# build/asan/fuzz-artifacts/ to reproduce with
#   build/asan/tests/fuzz/fuzz_<target> build/asan/fuzz-artifacts/<file>
#
#   deploy/fuzz.sh          # 60 s per target
#   deploy/fuzz.sh 300      # longer
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
cmake --preset asan >/dev/null
cmake --build --preset asan
out=build/asan
mkdir -p "${out}/fuzz-artifacts"
status=0
for target in endpoints_csv requests_csv policy_json server_config assign_request telemetry_sample; do
  work="${out}/fuzz-corpus/${target}"
  mkdir -p "${work}"
  echo "fuzz: ${target} for ${seconds} s"
  # New inputs go to the working corpus; the repo's seeds are read only.
  log="${out}/fuzz-${target}.log"
  if ! ASAN_OPTIONS=detect_leaks=1 OMP_NUM_THREADS=1 \
      UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
      "${out}/tests/fuzz/fuzz_${target}" -max_total_time="${seconds}" -timeout=20 -rss_limit_mb=3072 \
      -artifact_prefix="${out}/fuzz-artifacts/${target}-" -print_final_stats=1 \
      "${work}" "tests/fuzz/corpus/${target}" >"${log}" 2>&1; then
    echo "fuzz: ${target} FOUND A PROBLEM (${log}):"
    tail -40 "${log}"
    status=1
  else
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "${log}" | tr '\n' ' '
    echo
  fi
done
exit "${status}"
