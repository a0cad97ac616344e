#!/usr/bin/env bash
# Installs foil's build dependencies (Debian/Ubuntu, when run as root or with
# sudo), configures and builds into build/. Extra arguments go to cmake, e.g.
#   bash scripts/setup.sh -DFOIL_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

werror=OFF
[ "${CI:-}" = true ] && werror=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFOIL_WERROR=$werror \
  -DFOIL_TEST_DATA="${FOIL_DATA:-$PWD/data/raw/mnist}" "$@" >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/foil" >&2
