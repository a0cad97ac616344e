#!/usr/bin/env bash
# Packs what a GPU machine without package access needs to build and run foil
# into .device/ (git-ignored): the Debian packages of foil's libraries (their
# files are unpacked there by scripts/gpu_session.sh, not installed) and a
# copy of the four MNIST files. Run it here, then run scripts/gpu_session.sh
# on the GPU machine with .device carried along (docs/gpu.md).
#   bash scripts/gpu_pack.sh [MNIST_DIR]      (default $FOIL_MIRROR, ../shared/data/mnist)
set -euo pipefail
cd "$(dirname "$0")/.."
mnist="${1:-${FOIL_MIRROR:-../shared/data/mnist}}"
# Libraries with their headers; zlib's runtime too, since zlib1g-dev's
# libz.so points at an absolute path. libgomp is not carried: the machine's
# gcc has its own, matching its -fopenmp.
PKGS="libyaml-0-2 libyaml-dev libcjson1 libcjson-dev libopenblas0-openmp libopenblas-openmp-dev
      libgfortran5 libquadmath0 libpng16-16 libpng-dev zlib1g zlib1g-dev libssl3 libssl-dev
      libvlfeat1 libvlfeat-dev liblapacke liblapacke-dev libtmglib3"
mkdir -p .device/debs .device/mnist
rm -f .device/debs/*.deb
# shellcheck disable=SC2086 # one word per package
(cd .device/debs && apt-get download $PKGS >/dev/null 2>&1) || {
  echo "gpu_pack: apt-get download failed (no access to the Debian archive?)" >&2
  exit 1
}
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz \
         t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [ -f "$mnist/$f" ] || { echo "gpu_pack: $mnist/$f: missing" >&2; exit 1; }
  cp "$mnist/$f" .device/mnist/
done
echo "gpu_pack: $(du -sh .device | cut -f1) in .device ($(ls .device/debs | wc -l) packages);" \
     "carry [\".device\"] and run: bash scripts/gpu_session.sh" >&2
