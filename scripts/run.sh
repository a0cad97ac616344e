#!/usr/bin/env bash
# The main job: sets up (dependencies, build), fetches and verifies MNIST
# (FOIL_DATA or $FOIL_MIRROR to use a local copy), trains the quickstart
# recipe and evaluates it. Extra arguments go to `foil train`, e.g.
#   bash scripts/quickstart.sh train.epochs=2
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${FOIL_DATA:-}" ]; then
  build/foil data fetch
fi
out=runs/quickstart
build/foil train -c configs/quickstart.yaml -o "$out" "$@"
build/foil eval -m "$out/model.safetensors" --json "$out/eval.json" --csv "$out/eval.csv"
echo "quickstart: results in $out (model.safetensors, metrics.json, eval.json, eval.csv)"
