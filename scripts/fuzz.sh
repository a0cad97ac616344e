#!/usr/bin/env bash
# Runs the libFuzzer targets in tests/fuzz (IDX, safetensors, YAML configs) for
# a bounded time each, for CI or by hand:
#   bash scripts/fuzz.sh [SECONDS] [TARGET ...]     (default 60 s; all targets)
#   bash scripts/fuzz.sh 300 fuzz_config
# Installs clang, libFuzzer and the build dependencies with apt-get when run as
# root and they are missing (as scripts/setup.sh does), configures and builds
# build-fuzz/ with clang, -DFOIL_FUZZ=ON and the CPU backend only, then runs
# each target on a scratch copy of its seed corpus (tests/fuzz/corpus/<name>/
# is never written; the grown corpus is left in build-fuzz/fuzz-work/<name>).
# Prints per target: seconds, executions, executions/s and the result; exits
# non-zero if any target crashed, leaked, ran out of memory or timed out. The
# input that did it is saved in build-fuzz/fuzz-artifacts/ and the log in
# build-fuzz/fuzz-logs/; replay it with build-fuzz/tests/fuzz/<target> FILE.
# Environment: CC (default clang), FOIL_FUZZ_JOBS (build jobs, default nproc),
# FOIL_FUZZ_SEED (libFuzzer's -seed; default 1, so that a run, CI's above all,
# explores the same inputs again; 0 draws a new seed each time: use it for
# longer runs by hand). See docs/fuzzing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
seed="${FOIL_FUZZ_SEED:-1}"
case "$seed" in '' | *[!0-9]*) echo "fuzz: FOIL_FUZZ_SEED must be a whole number, got '$seed'" >&2; exit 2 ;; esac
case "$seconds" in '' | *[!0-9]*) echo "fuzz: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_idx fuzz_safetensors fuzz_config)
export CC="${CC:-clang}"

# ---- dependencies -------------------------------------------------------------
# libFuzzer works when a trivial target links with -fsanitize=fuzzer.
fuzzer_ok() {
  printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' |
    "$CC" -x c -fsanitize=fuzzer,address,undefined - -o /dev/null >/dev/null 2>&1
}
bash scripts/deps.sh
if ! { command -v "$CC" >/dev/null && fuzzer_ok; }; then
  # Debian 12 names the runtime libclang-rt-dev (default clang) or libclang-rt-14-dev.
  bash scripts/deps.sh clang libclang-rt-dev 2>/dev/null || bash scripts/deps.sh clang libclang-rt-14-dev || true
fi
if ! fuzzer_ok; then
  echo "fuzz: $CC cannot build libFuzzer targets; install clang and its libFuzzer runtime" \
       "(Debian: clang libclang-rt-dev)" >&2
  exit 1
fi

# ---- build ----------------------------------------------------------------------
# No OpenMP: clang's runtime (libomp) and the OpenBLAS build's (libgomp)
# would both load; the targets parse files and use no threads.
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOIL_CUDA=OFF -DFOIL_CUDA_EMU=OFF -DFOIL_FUZZ=ON \
  -DFOIL_OPENMP=OFF -DFOIL_WERROR=ON >/dev/null
cmake --build build-fuzz -j"${FOIL_FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}"

# ---- run ------------------------------------------------------------------------
# The largest input each target gets: a 4 KiB gzip IDX file still inflates to
# megabytes; configs and checkpoint headers are far smaller than 8 KiB.
max_len() {
  case "$1" in fuzz_config) echo 8192 ;; *) echo 4096 ;; esac
}
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
mkdir -p build-fuzz/fuzz-logs build-fuzz/fuzz-artifacts
summary=()
failed=0
for t in "${targets[@]}"; do
  name="${t#fuzz_}"
  bin="build-fuzz/tests/fuzz/$t"
  work="build-fuzz/fuzz-work/$name"
  log="build-fuzz/fuzz-logs/$t.log"
  artifacts="build-fuzz/fuzz-artifacts/$t"
  rm -rf "$work" "$artifacts"
  mkdir -p "$work" "$artifacts"
  cp tests/fuzz/corpus/"$name"/* "$work"/
  dict=()
  [ ! -f "tests/fuzz/$name.dict" ] || dict=(-dict="tests/fuzz/$name.dict")
  echo "fuzz: $t for ${seconds}s (log: $log)" >&2
  start=$(date +%s)
  rc=0
  # timeout(1) is a backstop should the target hang outside libFuzzer's watch.
  timeout -k 10 $((seconds + 120)) "$bin" "$work" "${dict[@]}" \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 -seed="$seed" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1 || rc=$?
  elapsed=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  found=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
            -o -name 'oom-*' \) | wc -l)
  if [ "$rc" = 0 ] && [ "$found" = 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc, $found input(s) in $artifacts)"
    failed=1
    grep -a -m1 -E '^==[0-9]+==ERROR|^SUMMARY|fuzz check failed|runtime error' "$log" >&2 || true
  fi
  summary+=("$(printf '%-18s %6ss %12s %10s  %s' "$t" "$elapsed" "${execs:-?}" "${rate:-?}" "$result")")
done

printf '%-18s %7s %12s %10s  %s\n' target seconds executions 'execs/s' result
printf '%s\n' "${summary[@]}"
exit $failed
