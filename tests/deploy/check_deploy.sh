#!/usr/bin/env bash
# Runs check_deploy.py in its own virtual environment (created once under
# the build directory) with the checkers from PyPI, pinned.
#
#   tests/deploy/check_deploy.sh BUILD_DIR AZIMUTHD
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
build="$1"
azimuthd="$2"
venv="$build/deploy-venv"
requirements="$repo/tests/deploy/requirements.txt"
if [[ ! -x "$venv/bin/python" ]] || ! cmp -s "$requirements" "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
exec "$venv/bin/python" "$repo/tests/deploy/check_deploy.py" --repo "$repo" --azimuthd "$azimuthd" \
  --hadolint "$venv/bin/hadolint"
