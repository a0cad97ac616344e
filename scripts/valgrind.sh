#!/usr/bin/env bash
# Valgrind memcheck over a representative subset of the tests and of the foil
# command line (CPU backend): invalid reads and writes, uses of uninitialised
# values (with their origins) and definite or indirect leaks are errors.
# Exits non-zero when any process valgrind watched reported one, or when a
# test or command failed. A few minutes on 2 cores; see docs/sanitizers.md.
#
# The build: build/ when it is up to date (no source newer than its binaries),
# CPU-only and not sanitized; otherwise build-valgrind/ (FOIL_CUDA=OFF, -O2 -g).
# The CUDA runtime under memcheck reports thousands of errors of its own.
#
# The tests start the foil binary (FOIL_BIN) through /bin/sh. Valgrind does not
# follow children (--trace-children=yes would trace every sh, rm and curl too);
# instead FOIL_BIN is a wrapper that runs foil itself under valgrind, with its
# own log, so each foil a test starts is checked and nothing else is.
#
# Arguments: test names to run instead of the default subset (e.g. test_idx),
# `cli` for the command-line invocations alone, or `all` for every CPU test
# but test_faults and test_quickstart, and the command line.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

bash scripts/deps.sh valgrind
command -v valgrind >/dev/null || { echo "valgrind: valgrind is not installed" >&2; exit 1; }

# The default subset: parsers and checkpoints, configs, the CLI's error paths,
# training, attacks and explanations through the library and the binary.
# test_sweep and test_run (over a minute each under memcheck) are left to
# `all`; the cli part below runs foil attack -c and foil run anyway.
TESTS="test_idx test_safetensors test_config test_sha256 test_math test_image test_report
       test_gradcheck test_errors test_train test_attack test_explain test_explain_ig
       test_explain_cli test_shift"
if [ "${1:-}" = all ]; then
  # Every CPU test but two: test_faults times signals against a running
  # training and caps the address space (valgrind needs more), and
  # test_quickstart trains a real MNIST epoch (hours under memcheck).
  TESTS=$(ls tests/test_*.c | sed 's|tests/\(.*\)\.c|\1|' |
          grep -v -e '^test_gpu_' -e '^test_faults$' -e '^test_quickstart$')
  shift
  set -- $TESTS cli
fi
[ $# -eq 0 ] || TESTS="$*"

# ---- which build --------------------------------------------------------------
usable() { # $1: build folder; its binaries exist, are newer than every source, CPU-only, unsanitized
  local b
  for b in foil $(for t in $TESTS; do [ "$t" = cli ] || echo "tests/$t"; done); do
    [ -x "$1/$b" ] || return 1
    [ -z "$(find host include tests bench cmake CMakeLists.txt -newer "$1/$b" -print -quit 2>/dev/null)" ] || return 1
  done
  ! grep -aq -e cudaGetDeviceCount -e __asan_init -e __ubsan_handle "$1/foil"
}
if usable build; then
  B=build
else
  B=build-valgrind
  echo "valgrind: build/ is missing, stale, sanitized or has the CUDA backend; building $B" >&2
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOIL_CUDA=OFF -DFOIL_CUDA_EMU=OFF -DFOIL_SANITIZE= \
    -DFOIL_WERROR=ON >/dev/null
  cmake --build "$B" -j"$(nproc)"
fi
echo "valgrind: using $B/" >&2

# ---- valgrind and the foil wrapper ------------------------------------------------
run="$root/build-valgrind/run"   # scratch folders and logs (never inside build/)
rm -rf "$run"
mkdir -p "$run/logs"
VG=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes --num-callers=30
    --error-exitcode=99)
[ ! -f tests/valgrind.supp ] || VG+=(--suppressions="$root/tests/valgrind.supp")
{
  echo '#!/usr/bin/env bash'
  printf 'exec'; printf ' %q' "${VG[@]}" "--log-file=$run/logs/foil.%p.log" "$root/$B/foil"
  echo ' "$@"'
} >"$run/foil-vg"
chmod +x "$run/foil-vg"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 # valgrind runs threads one at a time anyway
# Set, so that foil does not restart itself (foil_cpu_restart): an exec would
# leave valgrind. Valgrind has no AVX-512 anyway.
export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-Haswell}" OMP_WAIT_POLICY=passive

failed=""
data="${FOIL_DATA:-$root/data/raw/mnist}"
[ -f "$data/t10k-images-idx3-ubyte.gz" ] || [ -f "$data/t10k-images-idx3-ubyte" ] || data=""

run_test() { # $1: test executable
  local t0=$SECONDS rc=0
  FOIL_BIN="$run/foil-vg" FOIL_SOURCE_DIR="$root" FOIL_TEST_DATA="$data" \
    FOIL_TEST_TMP="$run/tmp_$1" "${VG[@]}" --log-file="$run/logs/$1.log" \
    "$B/tests/$1" >"$run/$1.out" 2>&1 || rc=$?
  case $rc in
    0) echo "valgrind: $1 passed ($((SECONDS - t0)) s)" >&2 ;;
    77) echo "valgrind: $1 skipped: $(tail -n 1 "$run/$1.out")" >&2 ;;
    *) echo "valgrind: $1 FAILED (exit $rc, $((SECONDS - t0)) s):" >&2
       tail -n 20 "$run/$1.out" >&2
       failed="$failed $1" ;;
  esac
}

# ---- the command line on a small data set ----------------------------------------
# 512 training and 128 test images (labels 0..9 in turn, random pixels), a
# two-layer CNN, every command once, and error paths.
be32() { # a big-endian 32-bit integer
  printf "\\$(printf %03o $(($1 >> 24 & 255)))\\$(printf %03o $(($1 >> 16 & 255)))"
  printf "\\$(printf %03o $(($1 >> 8 & 255)))\\$(printf %03o $(($1 & 255)))"
}
small_idx() { # $1: file, $2: count, $3: images (1) or labels (0)
  local i
  {
    if [ "$3" = 1 ]; then
      printf '\0\0\10\3'; be32 "$2"; be32 28; be32 28
      head -c $(($2 * 784)) /dev/urandom
    else
      printf '\0\0\10\1'; be32 "$2"
      for ((i = 0; i < $2; i++)); do printf "\\$(printf %03o $((i % 10)))"; done
    fi
  } | gzip -n >"$1"
}

cli() { # $1: expected exit code, then foil's arguments
  local want=$1 rc=0 t0=$SECONDS
  shift
  "$run/foil-vg" "$@" >"$run/cli.out" 2>&1 </dev/null || rc=$?
  if [ "$rc" = "$want" ]; then
    echo "valgrind: foil $1 ... exit $rc as expected ($((SECONDS - t0)) s)" >&2
  else
    echo "valgrind: foil $* FAILED: exit $rc, expected $want:" >&2
    tail -n 20 "$run/cli.out" >&2
    failed="$failed foil-$1"
  fi
}

run_cli() {
  local d="$run/cli" m="$run/cli/model/model.safetensors"
  mkdir -p "$d/data"
  small_idx "$d/data/train-images-idx3-ubyte.gz" 512 1
  small_idx "$d/data/train-labels-idx1-ubyte.gz" 512 0
  small_idx "$d/data/t10k-images-idx3-ubyte.gz" 128 1
  small_idx "$d/data/t10k-labels-idx1-ubyte.gz" 128 0
  cat >"$d/study.yaml" <<'EOF'
name: vg_study
seed: 3
device: cpu
model:
  name: tiny
  input: [1, 28, 28]
  classes: 10
  layers:
    - conv2d: {filters: 4, kernel: 5, stride: 2, padding: same}
    - relu
    - maxpool: {size: 2}
    - dropout: {rate: 0.2}
    - flatten
    - dense: {units: 10}
train: {epochs: 1, batch_size: 32, optimizer: adam, lr: 0.01}
attack:
  batch_size: 64
  eps: [0, 0.1, 0.3]
  attacks:
    - fgsm
    - pgd: {steps: 3, step: 0.1, label: pgd3}
    - pgd_l2: {steps: 2, label: pgdl2}
    - mifgsm: {steps: 2}
  examples: 2
explain: {steps: 8, images: 4, batch: 4, chunk: 8}
report: {grid_eps: 2}
EOF
  # the attack and explain sections alone, for foil attack -c / foil shift -c
  sed -n '/^attack:/,$p' "$d/study.yaml" | grep -v '^report:' >"$d/sweep.yaml"
  sed 's/^train: .*/train: {epochs: "one"}/' "$d/study.yaml" >"$d/bad_type.yaml"
  sed 's/^seed: 3/seed: 3\nsede: 4/' "$d/study.yaml" >"$d/bad_key.yaml"
  local D=(--data "$d/data")
  cli 0 train -q -c "$d/study.yaml" -o "$d/model" "${D[@]}"
  cli 0 train -q -c "$d/study.yaml" -o "$d/model" "${D[@]}" --resume train.epochs=2 train.optimizer=adam
  cli 0 eval -q -m "$m" "${D[@]}" --json "$d/eval.json" --csv "$d/eval.csv"
  cli 0 attack -m "$m" -c "$d/sweep.yaml" -o "$d/sweep" "${D[@]}" --limit 64
  cli 0 attack -m "$m" -o "$d/bim" --attack bim --eps 0,0.2 --steps 2 "${D[@]}" --limit 32
  cli 0 explain -q -m "$m" -o "$d/ig" --method ig --steps 8 --rule gauss-legendre --baseline blur --indices 0,5 "${D[@]}"
  cli 0 explain -q -m "$m" -o "$d/sg" --method smoothgrad --limit 2 explain.smoothgrad.samples=3 "${D[@]}"
  cli 0 shift -m "$m" -c "$d/sweep.yaml" -o "$d/shift" "${D[@]}"
  cli 0 run "$d/study.yaml" -o "$d/run" "${D[@]}"
  cli 0 run "$d/study.yaml" -o "$d/run" "${D[@]}"    # everything reused
  # error paths: one line and exit 1 (2 for an unknown command)
  cli 1 train -q -c "$d/bad_type.yaml" -o "$d/bad" "${D[@]}"
  cli 1 train -q -c "$d/bad_key.yaml" -o "$d/bad" "${D[@]}"
  cli 1 train -q -c "$d/study.yaml" -o "$d/bad" "${D[@]}" train.batch_size=0
  cli 1 eval -q -m "$d/missing.safetensors" "${D[@]}"
  head -c 100 "$m" >"$d/truncated.safetensors"
  cli 1 eval -q -m "$d/truncated.safetensors" "${D[@]}"
  cli 1 eval -q -m "$m" --data "$d/nowhere"
  cli 1 explain -q -m "$m" -o "$d/bad" --indices 500 "${D[@]}"
  cli 1 eval --bogus
  cli 1 eval -m
  cli 2 frobnicate
}

# ---- run ---------------------------------------------------------------------
t_start=$SECONDS
for t in $TESTS; do
  if [ "$t" = cli ]; then run_cli; else run_test "$t"; fi
done
[ $# -gt 0 ] || run_cli

# A foil a test started may have failed its check in a way the test accepts
# (an expected exit 1): the logs are the record. Every process's error summary
# must say 0 errors.
bad=$(grep -L 'ERROR SUMMARY: 0 errors' "$run"/logs/*.log || true)
for log in $bad; do
  echo "valgrind: errors in $log:" >&2
  cat "$log" >&2
done
echo "valgrind: $(ls "$run"/logs | wc -l) processes checked in $((SECONDS - t_start)) s; logs in $run/logs" >&2
if [ -n "$bad" ] || [ -n "$failed" ]; then
  echo "valgrind: FAILED:$failed${bad:+ (memcheck errors in $(echo "$bad" | wc -l) logs)}" >&2
  exit 1
fi
echo "valgrind: no errors" >&2
