#!/usr/bin/env bash
# Installs foil's build dependencies (Debian/Ubuntu, when run as root or with
# sudo), configures and builds into build/. Extra arguments go to cmake, e.g.
#   bash scripts/setup.sh -DFOIL_CUDA=OFF
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config zlib1g-dev libpng-dev libyaml-dev libcjson-dev libopenblas-dev"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if ! command -v apt-get >/dev/null; then
    echo "setup: please install:$missing (or their equivalents for your system)" >&2
  elif [ "$(id -u)" = 0 ]; then
    echo "setup: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  elif command -v sudo >/dev/null; then
    echo "setup: installing$missing (sudo)" >&2
    sudo apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: please install:$missing" >&2
    exit 1
  fi
fi

werror=OFF
[ "${CI:-}" = true ] && werror=ON
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DFOIL_WERROR=$werror \
  -DFOIL_TEST_DATA="${FOIL_DATA:-$PWD/data/raw/mnist}" "$@" >/dev/null
cmake --build build -j"$(nproc)"
echo "setup: built build/foil" >&2
