#!/usr/bin/env bash
# Sets up Azimuth on Debian 12 from a fresh clone: installs the dependencies,
# configures and builds (the CUDA backend too when nvcc is present), then runs
# the demo: built-in Azure/AWS/GCP endpoints and a generated batch, solved.
#
#   deploy/setup.sh            # install, build, demo
#   deploy/setup.sh --no-demo  # install and build only (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
cmake --preset default
cmake --build --preset default
if [[ "${1:-}" != "--no-demo" ]]; then
  build/default/scheduler/azimuth demo
fi
