#!/usr/bin/env bash
# Everything foil wants from a lent GPU machine (docs/gpu.md). A lease is 15
# minutes of device time in all, start and idle waits included, so the first
# call does the whole first check (`all`, at most 8 minutes by the budgets
# below) and a second, shorter one (`retest`) fits after a fix.
#
# The machine cannot install packages: foil's libraries come from
# .device/debs (scripts/gpu_pack.sh), unpacked into build-gpu-deps/
# (git-ignored, not carried; it stays on a warm machine); cuDNN and cuBLAS
# from the CUDA toolkit or, failing that, from python3's nvidia-* packages.
# Logs and tables go to $OUT (the device tool's output folder) or gpu_out/:
# summary.txt has one line per phase (status, seconds, budget), NAME.log one
# log per phase, bench.md the foil and PyTorch tables side by side.
# Every phase runs under `timeout` with its own budget, so a hang in one
# cannot eat the call; a phase that needs a GPU is reported as skipped on a
# machine without one (the dry run here).
#   bash scripts/gpu_session.sh [PHASE ...]          (default: all)
# Groups:
#   all       env build test_gpu test_sync memcheck bench torch     (budgets: 450 s)
#   retest    build test_gpu test_sync, and bench / torch unless their last run on
#             this (warm) machine was ok                            (240 s, or 370 s)
# Phases:
#   env        what the machine has (GPU, driver, nvcc, cmake, cuDNN/cuBLAS locations)
#   build      unpack the packages, configure build-gpu/ (sm_90, Release, -Werror), build
#              foil and the GPU tests and benchmarks on all cores (incremental on a warm machine)
#   test_gpu   the GPU tests, FOIL_REQUIRE_GPU=1 (a skip fails), 60 s per test
#   test_sync  test_gpu_elementwise again with FOIL_CUDA_SYNC=1 (the label-check path)
#   memcheck   compute-sanitizer memcheck on test_gpu_elementwise (the shortest)
#   bench      bench_train (50 Adam steps), bench_attack (PGD-40, 2000 images) and
#              bench_explain (IG-64, 500 images) on the Madry CNN, fp32 and tf32
#   torch      bench/torch_ref.py bench: the same rows in PyTorch eager on the same GPU
#   test_cpu   the CPU suite (CI runs it too; not in `all`)
#   sanitize   memcheck on the three GPU tests, racecheck on two (a long call of its own)
#   bench_full the 10k / 1000-image benchmarks and torch_ref.py with torch.compile
#   study      foil run configs/madry_study.yaml, then PyTorch's PGD-40 on its checkpoint
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
OUT="${OUT:-$root/gpu_out}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
phases="${*:-all}"
P="$root/build-gpu-deps"
B="$root/build-gpu"
arch=$(gcc -print-multiarch 2>/dev/null || true)
arch=${arch:-x86_64-linux-gnu}
cuda=${CUDA_HOME:-/usr/local/cuda}
jobs=$(nproc)
LIBS="$P/usr/lib/$arch:$P/lib/$arch:$P/usr/lib/$arch/openblas-openmp"
GPU_TESTS="test_gpu_ops test_gpu_layers test_gpu_elementwise test_gpu_algorithms"

note() { echo "gpu_session: $*" >&2; }

# Seconds each phase may take; `all` adds up to 450 s, `retest` to 240
# (370 when the benchmarks are redone). The build's budget is five times the
# build measured on 2 cores here (18 s, docs/gpu.md), for a slower CPU or a
# cold cache there.
budget() {
  case $1 in
    env) echo 20 ;; build) echo 90 ;; test_gpu) echo 120 ;; test_sync) echo 30 ;;
    memcheck) echo 60 ;; bench) echo 60 ;; torch) echo 70 ;;
    test_cpu) echo 300 ;; sanitize) echo 560 ;; bench_full) echo 400 ;; study) echo 560 ;;
    *) echo 60 ;;
  esac
}

# limited SECONDS FLAG CMD...: runs CMD (a shell function too, which
# timeout(1) cannot run) in a process group of its own and ends the whole
# group (nvcc, ctest, the tests) when it runs past SECONDS, touching FLAG.
limited() {
  local limit=$1 flag=$2 pid watch rc=0
  shift 2
  set -m # background jobs in their own process groups
  "$@" &
  pid=$!
  { sleep "$limit"; touch "$flag"; kill -TERM -"$pid" 2>/dev/null; sleep 10
    kill -KILL -"$pid" 2>/dev/null; } &
  watch=$!
  set +m
  wait "$pid" || rc=$?
  kill -TERM -"$watch" 2>/dev/null
  wait "$watch" 2>/dev/null
  return $rc
}

# phase NAME CMD...: runs CMD under its budget with its output in
# $OUT/NAME.log; one summary line; never stops the script
phase() {
  local name=$1 t0=$SECONDS rc=0 b status flag="$OUT/.timeout_$1"
  b=$(budget "$name")
  shift
  note "== $name (budget $b s)"
  rm -f "$flag"
  limited "$b" "$flag" "$@" >"$OUT/$name.log" 2>&1 || rc=$?
  if [ -e "$flag" ]; then status=TIMEOUT; rm -f "$flag"
  elif [ "$rc" = 0 ]; then status=ok
  else status="FAILED($rc)"; fi
  printf '%-12s %-12s %5d s  (budget %d s)\n' "$name" "$status" "$((SECONDS - t0))" "$b" \
    | tee -a "$summary" >&2
  [ "$rc" = 0 ] || tail -n 8 "$OUT/$name.log" >&2
}

skipped() {
  printf '%-12s %-12s %5d s  (budget %d s) %s\n' "$1" skipped 0 "$(budget "$1")" "$2" \
    | tee -a "$summary" >&2
}

# Whether a GPU is there for the driver (the dry run on a machine without one
# skips the phases that need it).
have_gpu() { nvidia-smi -L 2>/dev/null | grep -q '^GPU'; }

# with_libs CMD...: CMD with the unpacked libraries and cuDNN/cuBLAS on the loader path
with_libs() { LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$@"; }

# The folder of python3's nvidia.NAME package ("" when there is none).
py_nvidia() {
  python3 -c "import nvidia.$1 as m, os; print(os.path.dirname(m.__file__))" 2>/dev/null || true
}

# Where cuDNN and cuBLAS are; sets CUDNN_ROOT, CUDA_CMAKE (extra cmake
# arguments) and extends LIBS. cuDNN from pip has only versioned names
# (libcudnn.so.9): build-gpu-deps/cudnn gets the unversioned link CMake
# looks for.
CUDA_CMAKE=()
locate_cuda_libs() {
  CUDNN_ROOT=""
  if [ -f "$cuda/include/cudnn.h" ] || [ -f /usr/include/cudnn.h ]; then
    return 0 # in the toolkit or the system: CMake finds it
  fi
  local d
  d=$(py_nvidia cudnn)
  if [ -n "$d" ] && [ -f "$d/include/cudnn.h" ]; then
    mkdir -p "$P/cudnn/lib"
    ln -sfn "$d/include" "$P/cudnn/include"
    for f in "$d"/lib/libcudnn*.so.*; do ln -sf "$f" "$P/cudnn/lib/"; done
    ln -sf "$(ls "$d"/lib/libcudnn.so.* | head -n 1)" "$P/cudnn/lib/libcudnn.so"
    CUDNN_ROOT="$P/cudnn"
    LIBS="$LIBS:$d/lib"
  fi
  if [ ! -e "$cuda/lib64/libcublas.so" ] && [ ! -e "$cuda/lib/libcublas.so" ]; then
    d=$(py_nvidia cublas)
    if [ -n "$d" ]; then
      CUDA_CMAKE+=("-DCUDA_cublas_LIBRARY=$(ls "$d"/lib/libcublas.so.* | head -n 1)"
                   "-DCUDA_cublasLt_LIBRARY=$(ls "$d"/lib/libcublasLt.so.* | head -n 1)"
                   "-DCMAKE_CUDA_FLAGS=-I$d/include")
      LIBS="$LIBS:$d/lib"
    fi
  fi
}

do_env() {
  date -u
  git log -1 --format='commit %H %s' 2>/dev/null || true
  nvidia-smi || true
  nvcc --version || true
  cmake --version | head -n 1 || true
  gcc --version | head -n 1 || true
  command -v compute-sanitizer ncu dpkg-deb pkg-config || true
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'cudnn', torch.backends.cudnn.version(), torch.cuda.get_device_name(0))" || true
  echo "cudnn.h:"; ls "$cuda"/include/cudnn*.h /usr/include/cudnn*.h 2>/dev/null || true
  echo "libcublas in the toolkit:"; ls "$cuda"/lib64/libcublas* 2>/dev/null || true
  for m in cudnn cublas; do echo "python nvidia.$m: $(py_nvidia $m)"; done
  ls .device/debs .device/mnist 2>/dev/null || echo "no .device: run scripts/gpu_pack.sh first"
}

# The carried packages' files, unpacked once per machine (static libraries
# left out); returns 1 without them.
unpack() {
  [ -f "$P/.unpacked" ] && return 0
  [ -d .device/debs ] || { note "no .device/debs: run scripts/gpu_pack.sh here first"; return 1; }
  rm -rf "$P" && mkdir -p "$P"
  local d z
  for d in .device/debs/*.deb; do dpkg-deb -x "$d" "$P" || return 1; done
  find "$P" -name '*.a' -delete
  # zlib1g-dev's libz.so points at /lib/<arch>/libz.so.1.x (absolute)
  z=$(ls "$P"/lib/"$arch"/libz.so.1.* "$P"/usr/lib/"$arch"/libz.so.1.* 2>/dev/null | head -n 1)
  [ -z "$z" ] || ln -sf "$z" "$P/usr/lib/$arch/libz.so"
  touch "$P/.unpacked"
}

do_build() {
  local targets="foil_cli bench_train bench_attack bench_explain $GPU_TESTS" t0=$SECONDS
  [ "${1:-}" = all ] && targets=""
  # the CUDA emulator's tests (tests/cuda_emu) are for machines without a GPU
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DFOIL_CUDA=ON -DFOIL_CUDA_EMU=OFF -DFOIL_WERROR=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH="$P/usr;$P" \
    ${CUDNN_ROOT:+-DCUDNN_ROOT="$CUDNN_ROOT"} ${CUDA_CMAKE[@]+"${CUDA_CMAKE[@]}"} \
    -DFOIL_TEST_DATA="$root/data/raw/mnist" || return 1
  echo "configure: $((SECONDS - t0)) s"
  # shellcheck disable=SC2086 # one word per target
  cmake --build "$B" -j"$jobs" ${targets:+--target $targets} || return 1
  echo "build: $((SECONDS - t0)) s on $jobs cores"
  with_libs "$B/foil" data fetch --from "$root/.device/mnist" --data "$root/data/raw/mnist"
  with_libs "$B/foil" devices
}

do_test_gpu() {
  (cd "$B" && with_libs env FOIL_REQUIRE_GPU=1 ctest -L gpu --timeout 60 --output-on-failure)
}
do_test_sync() {
  (cd "$B" && with_libs env FOIL_REQUIRE_GPU=1 FOIL_CUDA_SYNC=1 ctest -R '^test_gpu_elementwise$' \
    --timeout 30 --output-on-failure)
}
do_test_cpu() { (cd "$B" && with_libs ctest -LE gpu -j"$jobs" --output-on-failure); }

# foil's own kernels (racecheck is limited to them: a shared-memory hazard
# in cuDNN's or cuBLAS's kernels is not ours to fix, and they are slow under it)
FOIL_KERNELS='k_(adam|add|apgd|argmax|attack|axpy|compare|cw|deepfool|dlr|dropout|fab|fill|flag|gather|gaussian|ig|lerp|mask|mul|occlude|random|relu|row|scale|select|sgd|softmax|square|sub|target)|conv_(bias_grad|crop|pad)_kernel|dense_bias_(add|grad)_kernel|maxpool_(fwd|bwd)_kernel'

# compute-sanitizer TOOL TEST [SECONDS]: one GPU test under the sanitizer,
# with the environment ctest would give it (PGD parity on 200 images: the
# sanitizer slows every kernel)
sanitized() {
  local tool=$1 t=$2 limit=${3:-280} cs filter=()
  cs=$(command -v compute-sanitizer || ls "$cuda"/bin/compute-sanitizer \
       "$cuda"/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
  [ -n "$cs" ] || { echo "compute-sanitizer not found (PATH, $cuda)"; return 127; }
  [ "$tool" = racecheck ] && filter=(--kernel-regex "kns=$FOIL_KERNELS")
  with_libs env FOIL_BIN="$B/foil" FOIL_SOURCE_DIR="$root" FOIL_TEST_DATA="$root/data/raw/mnist" \
    FOIL_TEST_TMP="$B/tests/tmp_cs_${tool}_$t" FOIL_REQUIRE_GPU=1 FOIL_PARITY_PGD_IMAGES=200 \
    timeout "$limit" "$cs" --tool "$tool" ${filter[@]+"${filter[@]}"} --error-exitcode 99 \
    "$B/tests/$t"
}
do_memcheck() { sanitized memcheck test_gpu_elementwise 55; }
do_sanitize() {
  local t rc=0
  for t in $GPU_TESTS; do
    echo "== memcheck $t"; sanitized memcheck "$t" 150 || rc=1
  done
  for t in test_gpu_ops test_gpu_elementwise; do
    echo "== racecheck $t"; sanitized racecheck "$t" 100 || rc=1
  done
  return $rc
}

# The short rows of `all` (the Madry CNN; bench/README.md): foil, then the
# same in PyTorch eager, both into bench.md.
MADRY=configs/models/madry.yaml
# The training rows also write the convolution algorithms cuDNN gave each
# shape and precision (FOIL_CUDA_PLANS=1) to conv_plans.log.
do_bench() {
  local p
  for p in fp32 tf32; do
    echo "== $p" >>"$OUT/conv_plans.log"
    with_libs env FOIL_CUDA_PLANS=1 "$B/bench_train" --device cuda --precision "$p" --batch 128 \
      --steps 50 "$MADRY" 2>>"$OUT/conv_plans.log"
    with_libs "$B/bench_attack" --device cuda --precision "$p" --images 2000 "$MADRY"
    with_libs "$B/bench_explain" --device cuda --precision "$p" --images 500 "$MADRY"
  done
}
do_torch() {
  PYTHONUNBUFFERED=1 python3 bench/torch_ref.py bench "$MADRY" --data data/raw/mnist \
    --modes eager --fgsm-images 2000 --pgd-images 2000 --ig-images 500
}
do_bench_full() {
  local p
  for p in fp32 tf32; do
    with_libs "$B/bench_train" --device cuda --precision "$p" --batch 128 --steps 50
    with_libs "$B/bench_train" --device cuda --precision "$p" --batch 512 --steps 50 | tail -n 2
    with_libs "$B/bench_attack" --device cuda --precision "$p" --images 10000
    with_libs "$B/bench_explain" --device cuda --precision "$p" --images 1000
  done
  PYTHONUNBUFFERED=1 timeout 300 python3 bench/torch_ref.py bench --data data/raw/mnist
}

do_study() {
  with_libs "$B/foil" run configs/madry_study.yaml -o runs/madry_study_gpu --device cuda || return 1
  mkdir -p "$OUT/study"
  cp runs/madry_study_gpu/summary.md "$OUT/study/" 2>/dev/null
  # issue 6: foil's PGD at least as strong as PyTorch's on the same weights
  python3 bench/torch_ref.py attack -m runs/madry_study_gpu/model.safetensors --attack pgd \
    --eps 0.1,0.2,0.3 --steps 40 --step 0.01 --seed 0
}

# bench.md: the foil rows, then PyTorch's (whatever of the two ran)
write_bench_md() {
  { echo "# foil (build-gpu, $(git log -1 --format=%h 2>/dev/null))"; echo
    [ -s "$OUT/bench.log" ] && cat "$OUT/bench.log"
    echo; echo "# PyTorch (bench/torch_ref.py)"; echo
    [ -s "$OUT/torch.log" ] && cat "$OUT/torch.log"; } >"$OUT/bench.md"
}

expand() {
  local ph
  for ph in "$@"; do
    case $ph in
      all) echo env build test_gpu test_sync memcheck bench torch ;;
      retest) # the benchmarks again only where they did not pass on this machine
        echo build test_gpu test_sync
        for b in bench torch; do
          grep -q "^$b ok$" "$B/.last_status" 2>/dev/null || echo "$b"
        done ;;
      test) echo test_gpu test_cpu ;;
      *) echo "$ph" ;;
    esac
  done
}

needs_gpu() { case $1 in test_gpu | test_sync | memcheck | sanitize | bench | torch | bench_full | study) return 0 ;; esac; return 1; }

{ echo "# gpu_session $* ($(date -u '+%Y-%m-%d %H:%M UTC'), $(git log -1 --format=%h 2>/dev/null)," \
       "$jobs cores)"; } >>"$summary"
gpu=0
have_gpu && gpu=1
t_all=$SECONDS
# shellcheck disable=SC2086 # one word per phase
for ph in $(expand $phases); do
  case $ph in
    env | build | test_gpu | test_sync | memcheck | bench | torch | test_cpu | sanitize | bench_full | study) ;;
    *) note "unknown phase '$ph' (all retest env build test_gpu test_sync memcheck bench torch test_cpu sanitize bench_full study)"; exit 2 ;;
  esac
  if needs_gpu "$ph" && [ "$gpu" = 0 ]; then skipped "$ph" "(no GPU)"; continue; fi
  if [ "$ph" != env ] && [ "$ph" != torch ]; then
    unpack || { skipped "$ph" "(no .device packages: run scripts/gpu_pack.sh)"; continue; }
    locate_cuda_libs
  fi
  if [ "$ph" != env ] && [ "$ph" != build ] && [ "$ph" != torch ] && [ ! -x "$B/foil" ]; then
    skipped "$ph" "(nothing built)"; continue
  fi
  phase "$ph" "do_$ph"
  case $ph in bench | torch) write_bench_md ;; esac
  # what passed, for a later `retest` on the same (warm) machine
  if [ -d "$B" ]; then
    st=$(awk -v p="$ph" '$1 == p { s = $2 } END { print s }' "$summary")
    { grep -v "^$ph " "$B/.last_status" 2>/dev/null; echo "$ph $st"; } >"$B/.last_status.new"
    mv "$B/.last_status.new" "$B/.last_status"
  fi
done
printf '%-12s %-12s %5d s\n' total "" "$((SECONDS - t_all))" | tee -a "$summary" >&2
