/* How the CPU backend's libraries run, and the environment they need.
 *
 * OpenBLAS picks its kernels from CPUID when it loads. On some virtual
 * machines the CPU model is hidden (e.g. "Intel Xeon Processor") and OpenBLAS
 * falls back to its generic Prescott (SSE3) kernels, which run foil's GEMMs
 * at half the speed or less although the CPU has AVX2 or AVX-512 (measured in
 * docs/benchmarks.md); where it picks its AVX2 kernels, their bits depend on
 * the batch size (foil_cpu_blas_better_core). The kernels can only be chosen before OpenBLAS loads,
 * through OPENBLAS_CORETYPE, and the OpenMP runtime reads OMP_WAIT_POLICY
 * when it loads too, so the programs (foil, the benches) call
 * foil_cpu_restart first thing in main. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "foil/backend.h"

const char *foil_cpu_blas_core(void) {
#ifdef OPENBLAS_VERSION
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
#else
    return "unknown";
#endif
}

void foil_cpu_describe(char *out, size_t cap) {
    const char *pool = "unknown threading";
    int threads = 1;
#ifdef OPENBLAS_VERSION
    int par = openblas_get_parallel();
    pool = par == 2 ? "OpenMP" : par == 1 ? "pthreads" : "sequential";
    threads = openblas_get_num_threads();
#endif
#ifdef _OPENMP
    const char *wait = getenv("OMP_WAIT_POLICY");
    snprintf(out, cap, "OpenBLAS %s kernels, %s, %d thread%s; own loops on OpenMP, "
             "OMP_WAIT_POLICY=%s", foil_cpu_blas_core(), pool, threads, threads == 1 ? "" : "s",
             wait && *wait ? wait : "unset");
#else
    snprintf(out, cap, "OpenBLAS %s kernels, %s, %d thread%s; own loops single-threaded",
             foil_cpu_blas_core(), pool, threads, threads == 1 ? "" : "s");
#endif
}

/* The kernels to restart with, or NULL to keep OpenBLAS's choice. Besides
 * the Prescott fallback: OpenBLAS 0.3.21's Haswell and Zen SGEMM kernels
 * (AVX2 + FMA) round a row differently with the matrix's size and the
 * thread split, so a batch of 10 gave other bits than one of 40 and two
 * threads others than three (an AVX2 AMD EPYC, 2026-12-06: test_apgd,
 * test_square, test_threads, ...); the Sandybridge kernels (AVX) keep
 * foil's same-bits promises there. OPENBLAS_CORETYPE set by the user wins. */
const char *foil_cpu_blas_better_core(void) {
#if defined(OPENBLAS_VERSION) && defined(__x86_64__) && defined(__GNUC__)
    const char *core = foil_cpu_blas_core();
    if (strcasecmp(core, "haswell") == 0 || strcasecmp(core, "zen") == 0) return "Sandybridge";
    if (strcasecmp(core, "prescott") != 0) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

/* Whether /proc/self/exe is the program argv[0] names (not a loader such as
 * ld-linux.so that started it, which would take argv[1] for the program). */
static int self_is_argv0(const char *argv0) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0 || !argv0) return 0;
    self[n] = 0;
    const char *a = strrchr(argv0, '/'), *b = strrchr(self, '/');
    return strcmp(a ? a + 1 : argv0, b ? b + 1 : self) == 0;
}

void foil_cpu_restart(char **argv) {
    const char *core = getenv("OPENBLAS_CORETYPE"), *better = NULL;
    if (!(core && *core)) better = foil_cpu_blas_better_core();
    int set_wait = 0;
#ifdef _OPENMP
    /* libgomp's threads spin between parallel loops by default: with two
     * foil processes on two cores (ctest -j2) that made them 2.5x slower;
     * passive costs 2-3% alone (docs/benchmarks.md) */
    const char *wait = getenv("OMP_WAIT_POLICY");
    set_wait = !(wait && *wait);
#endif
    /* the user's choices are kept; after the restart both are set. The
     * environment changes only when the program really starts again. */
    if ((!better && !set_wait) || !self_is_argv0(argv[0])) return;
    if ((better && setenv("OPENBLAS_CORETYPE", better, 1) != 0) ||
        (set_wait && setenv("OMP_WAIT_POLICY", "passive", 1) != 0))
        return;
    fflush(NULL);
    execv("/proc/self/exe", argv); /* returns only on failure: go on as we are */
    if (better) unsetenv("OPENBLAS_CORETYPE");
    if (set_wait) unsetenv("OMP_WAIT_POLICY");
}
