#!/usr/bin/env bash
# Creates (or refreshes) the Python venv that runs HiGHS for the LP reference:
# PyPI's highspy, pinned in bench/reference/requirements.txt. Tests and the
# solver benchmark's `--lp highs` use it; the product never does.
#
#   bench/reference/highs_venv.sh build/default/highs-venv
set -euo pipefail
venv="${1:?usage: highs_venv.sh VENV_DIR}"
requirements="$(cd "$(dirname "$0")" && pwd)/requirements.txt"
if [[ -x "$venv/bin/python" ]] && cmp -s "$requirements" "$venv/requirements.txt"; then
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$venv/requirements.txt"
"$venv/bin/python" -c 'import highspy; print("highs_venv: HiGHS", highspy.Highs().version())'
