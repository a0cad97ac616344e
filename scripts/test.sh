#!/usr/bin/env bash
# The test command: sets up (dependencies, build), makes sure the MNIST files
# are there for the tests that need real data (FOIL_DATA, else fetched into
# data/raw/mnist from $FOIL_MIRROR or the public mirrors), and runs ctest.
# Tests that need data or a GPU that is not there are reported as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${FOIL_DATA:-}" ]; then
  build/foil data fetch || echo "test: no MNIST data; tests that need it will be skipped" >&2
fi
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
