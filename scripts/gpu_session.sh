#!/usr/bin/env bash
# Everything foil wants from a lent GPU machine, in phases that each fit one
# 10-minute device call (docs/gpu.md). The machine cannot install packages:
# foil's libraries come from .device/debs (scripts/gpu_pack.sh), unpacked
# into build-gpu-deps/ (git-ignored and not carried, so it stays on a warm
# machine; every phase unpacks again when it is missing); cuDNN and cuBLAS from the CUDA toolkit or, failing
# that, from python3's nvidia-* packages. Logs and tables go to $OUT (the
# device tool's output folder) or gpu_out/; summary.txt has one line per
# phase with its exit status and seconds.
#   bash scripts/gpu_session.sh [PHASE ...]
# Phases, in order (default: env build test):
#   env       what the machine has (GPU, nvcc, cmake, cuDNN/cuBLAS locations)
#   build     unpack the packages, configure build-gpu/ (sm_90, -Werror), build
#   test      the GPU tests (FOIL_REQUIRE_GPU=1: a skip fails), then the CPU suite
#   sanitize  compute-sanitizer memcheck on the GPU tests, racecheck on two
#   bench     bench_train/attack/explain on cuda, fp32 and tf32 (10k / 1000 images)
#   torch     bench/torch_ref.py bench (PyTorch eager and compile on the same GPU)
#   study     foil run configs/madry_study.yaml, then PyTorch's PGD-40 on its checkpoint
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
OUT="${OUT:-$root/gpu_out}"
mkdir -p "$OUT"
summary="$OUT/summary.txt"
phases="${*:-env build test}"
P="$root/build-gpu-deps"
B="$root/build-gpu"
arch=$(gcc -print-multiarch 2>/dev/null || true)
arch=${arch:-x86_64-linux-gnu}
cuda=${CUDA_HOME:-/usr/local/cuda}
jobs=$(nproc)
LIBS="$P/usr/lib/$arch:$P/lib/$arch:$P/usr/lib/$arch/openblas-openmp"

note() { echo "gpu_session: $*" >&2; }

# phase NAME CMD...: runs CMD with its output in $OUT/NAME.log; never stops the script
phase() {
  local name=$1 t0=$SECONDS rc=0
  shift
  note "== $name"
  "$@" >"$OUT/$name.log" 2>&1 || rc=$?
  printf '%-22s rc %-4s %5d s\n' "$name" "$rc" "$((SECONDS - t0))" | tee -a "$summary" >&2
  tail -n 8 "$OUT/$name.log" >&2
}

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
  # the CUDA emulator's tests (tests/cuda_emu) are for machines without a GPU
  cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DFOIL_CUDA=ON -DFOIL_CUDA_EMU=OFF -DFOIL_WERROR=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH="$P/usr;$P" \
    ${CUDNN_ROOT:+-DCUDNN_ROOT="$CUDNN_ROOT"} ${CUDA_CMAKE[@]+"${CUDA_CMAKE[@]}"} \
    -DFOIL_TEST_DATA="$root/data/raw/mnist" || return 1
  cmake --build "$B" -j"$jobs" || return 1
  with_libs "$B/foil" data fetch --from "$root/.device/mnist" --data "$root/data/raw/mnist"
  with_libs "$B/foil" devices
}

do_test_gpu() { (cd "$B" && with_libs env FOIL_REQUIRE_GPU=1 ctest -L gpu --output-on-failure); }
do_test_cpu() { (cd "$B" && with_libs ctest -LE gpu -j"$jobs" --output-on-failure); }

# compute-sanitizer TOOL TEST: one GPU test under the sanitizer, with the
# environment ctest would give it
sanitized() {
  local tool=$1 t=$2 cs
  cs=$(command -v compute-sanitizer || ls "$cuda"/bin/compute-sanitizer \
       "$cuda"/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
  [ -n "$cs" ] || { echo "compute-sanitizer not found (PATH, $cuda)"; return 127; }
  with_libs env FOIL_BIN="$B/foil" FOIL_SOURCE_DIR="$root" FOIL_TEST_DATA="$root/data/raw/mnist" \
    FOIL_TEST_TMP="$B/tests/tmp_cs_${tool}_$t" FOIL_REQUIRE_GPU=1 \
    timeout 280 "$cs" --tool "$tool" --error-exitcode 99 "$B/tests/$t"
}

do_bench() {
  local p
  for p in fp32 tf32; do
    with_libs "$B/bench_train" --device cuda --precision "$p" --batch 128 --steps 50
    with_libs "$B/bench_train" --device cuda --precision "$p" --batch 512 --steps 50 | tail -n 2
    with_libs "$B/bench_attack" --device cuda --precision "$p" --images 10000
    with_libs "$B/bench_explain" --device cuda --precision "$p" --images 1000
  done
}

do_torch() { timeout 560 python3 bench/torch_ref.py bench --data data/raw/mnist; }

do_study() {
  with_libs "$B/foil" run configs/madry_study.yaml -o runs/madry_study_gpu --device cuda || return 1
  mkdir -p "$OUT/study"
  cp runs/madry_study_gpu/summary.md runs/madry_study_gpu/*.json "$OUT/study/" 2>/dev/null
  # issue 6: foil's PGD at least as strong as PyTorch's on the same weights
  python3 bench/torch_ref.py attack -m runs/madry_study_gpu/model.safetensors --attack pgd \
    --eps 0.1,0.2,0.3 --steps 40 --step 0.01 --seed 0
}

: >>"$summary"
for ph in $phases; do
  case $ph in
    env | torch) ;;
    build | test | sanitize | bench | study)
      unpack || { printf '%-22s no packages\n' "$ph" >>"$summary"; continue; }
      locate_cuda_libs ;;
  esac
  case $ph in
    env) phase env do_env ;;
    build) phase build do_build ;;
    test) phase test_gpu do_test_gpu; phase test_cpu do_test_cpu ;;
    sanitize)
      for t in test_gpu_layers test_gpu_elementwise test_gpu_algorithms; do
        phase "memcheck_$t" sanitized memcheck "$t"
      done
      for t in test_gpu_layers test_gpu_elementwise; do
        phase "racecheck_$t" sanitized racecheck "$t"
      done ;;
    bench) phase bench do_bench; cp "$OUT/bench.log" "$OUT/bench.md" ;;
    torch) phase torch do_torch; cp "$OUT/torch.log" "$OUT/torch.md" ;;
    study) phase study do_study ;;
    *) note "unknown phase '$ph' (env build test sanitize bench torch study)"; exit 2 ;;
  esac
done
cat "$summary" >&2
