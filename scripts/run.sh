#!/usr/bin/env bash
# The main job: sets up (dependencies, build), fetches and verifies MNIST
# (FOIL_DATA or $FOIL_MIRROR to use a local copy), and runs the default study
# with `foil run`: the full Madry study (configs/madry_study.yaml) when a
# CUDA GPU is usable, else the quickstart study (configs/quickstart.yaml, a
# few minutes on a 2-core CPU). Prints where the report is.
#   bash scripts/run.sh                               # the default study
#   bash scripts/run.sh configs/madry_study.yaml      # another study
#   bash scripts/run.sh attack.eps='[0, 0.1]'         # overrides go to foil run
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${FOIL_DATA:-}" ]; then
  build/foil data fetch
fi
study=""
if [ $# -gt 0 ] && [[ "$1" != *=* ]] && [[ "$1" != -* ]]; then
  study=$1
  shift
fi
if [ -z "$study" ]; then
  if build/foil devices 2>/dev/null | grep -q '^cuda'; then
    study=configs/madry_study.yaml
  else
    study=configs/quickstart.yaml
  fi
fi
echo "study: $study"
build/foil run "$study" "$@"
