#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are missing
# (apt-get, as root or with sudo), plus foil's build dependencies; prints
# what to install and exits 1 where it cannot. Used by the other scripts:
#   bash scripts/deps.sh [PACKAGE ...]
set -euo pipefail
BUILD_DEPS="build-essential cmake pkg-config zlib1g-dev libpng-dev libyaml-dev libcjson-dev libopenblas-openmp-dev"
missing=""
for p in $BUILD_DEPS "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null; then
  echo "deps: please install:$missing (or their equivalents for your system)" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "deps: please install:$missing" >&2
  exit 1
fi
echo "deps: installing$missing" >&2
"${as_root[@]}" apt-get update -qq
# shellcheck disable=SC2086 # one word per package
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
