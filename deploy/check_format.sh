#!/usr/bin/env bash
# Checks that every C++ and CUDA source is formatted with the checked-in
# .clang-format (Debian's clang-format 14). To fix:
#   git ls-files '*.cc' '*.h' '*.cuh' '*.cu' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files '*.cc' '*.h' '*.cuh' '*.cu' | xargs clang-format --dry-run --Werror
echo "check_format: $(git ls-files '*.cc' '*.h' '*.cuh' '*.cu' | wc -l) files formatted"
