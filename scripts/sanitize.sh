#!/usr/bin/env bash
# The whole test suite under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer: installs the build dependencies when run as root
# (as scripts/setup.sh does), configures and builds build-asan/ with
# -DFOIL_SANITIZE=address,undefined,float-cast-overflow (GCC leaves
# float-cast-overflow out of "undefined") and the CPU backend only (the CUDA
# runtime and ASan do not mix well), and runs ctest there. A sanitizer report
# aborts the process that made it and is kept in build-asan/sanitizer-logs/;
# the script exits non-zero on any report or failed test. Extra arguments go
# to ctest, e.g.
#   bash scripts/sanitize.sh -R test_idx
# Environment: FOIL_SANITIZE (the -fsanitize= list), CC (e.g. clang; remove
# build-asan/ when changing it), FOIL_DATA (the MNIST folder for the tests
# that need real data; else fetched into data/raw/mnist, as scripts/test.sh
# does). About 3 minutes on 2 cores; see docs/sanitizers.md.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/deps.sh

sanitize="${FOIL_SANITIZE:-address,undefined,float-cast-overflow}"
jobs=$(nproc)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFOIL_WERROR=ON \
  -DFOIL_CUDA=OFF -DFOIL_SANITIZE="$sanitize" \
  -DFOIL_TEST_DATA="${FOIL_DATA:-$PWD/data/raw/mnist}" >/dev/null
cmake --build build-asan -j"$jobs"

# Leaks are errors; a report stops the process at once (abort) with a stack
# trace. The foil binary the tests start (FOIL_BIN) inherits these too, so a
# report is also written to sanitizer-logs/: a test that expects foil to fail
# (exit 1) must not hide one. The folder is world-writable because test_faults
# runs foil as uid 65534 when it runs as root.
logs="$PWD/build-asan/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
chmod 1777 "$logs"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:log_path=$logs/asan"
export LSAN_OPTIONS="print_suppressions=0"
[ ! -f tests/lsan.supp ] || LSAN_OPTIONS="$LSAN_OPTIONS:suppressions=$PWD/tests/lsan.supp"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$logs/ubsan"
# ctest runs $jobs tests at once. With the pthreads OpenBLAS: one BLAS thread
# per test. With its OpenMP build the GEMMs and foil's loops share OpenMP
# threads (kept, so that ASan checks the parallel loops too), asleep when
# idle rather than spinning against the other tests.
export OPENBLAS_NUM_THREADS=1 OMP_WAIT_POLICY=passive

if [ -z "${FOIL_DATA:-}" ]; then
  build-asan/foil data fetch || echo "sanitize: no MNIST data; tests that need it will be skipped" >&2
fi
rc=0
(cd build-asan && ctest --output-on-failure -j"$jobs" "$@") || rc=$?
if [ -n "$(ls -A "$logs")" ]; then
  for f in "$logs"/*; do
    echo "sanitize: report in $f:" >&2
    cat "$f" >&2
  done
  rc=1
fi
[ "$rc" = 0 ] && echo "sanitize: no sanitizer reports, all tests passed" >&2
exit "$rc"
