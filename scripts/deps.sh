#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are missing
# (apt-get, as root or with sudo), plus foil's build dependencies; prints
# what to install and exits 1 where it cannot. Used by the other scripts:
#   bash scripts/deps.sh [PACKAGE ...]
set -euo pipefail
BUILD_DEPS="build-essential cmake pkg-config zlib1g-dev libpng-dev libyaml-dev libcjson-dev libssl-dev libopenblas-openmp-dev libvlfeat-dev liblapacke-dev python3"
missing=""
for p in $BUILD_DEPS "$@"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
# Another OpenBLAS build does too (the CPU loops then stay serial): only
# ask for the OpenMP one where packages can be installed.
can_install=0
{ [ "$(id -u)" = 0 ] || command -v sudo >/dev/null; } && command -v apt-get >/dev/null && can_install=1
if [ "$can_install" = 0 ] && dpkg -s libopenblas-dev >/dev/null 2>&1; then
  missing=${missing// libopenblas-openmp-dev/}
  echo "deps: using the installed OpenBLAS; libopenblas-openmp-dev would put foil's CPU loops on all cores" >&2
  [ -z "$missing" ] && exit 0
fi
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
${as_root[@]+"${as_root[@]}"} apt-get update -qq
# shellcheck disable=SC2086 # one word per package
${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
