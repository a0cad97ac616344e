/* OpenBLAS picks its kernels from CPUID when it loads. On some virtual
 * machines the CPU model is hidden (e.g. "Intel Xeon Processor") and OpenBLAS
 * falls back to its generic Prescott (SSE3) kernels, which run foil's GEMMs
 * at half the speed or less although the CPU has AVX2 or AVX-512 (measured in
 * docs/benchmarks.md). The kernels can only be chosen before OpenBLAS loads,
 * through OPENBLAS_CORETYPE, so the programs (foil, the benches) call
 * foil_cpu_blas_restart first thing in main. */
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

const char *foil_cpu_blas_better_core(void) {
#if defined(OPENBLAS_VERSION) && defined(__x86_64__) && defined(__GNUC__)
    if (strcasecmp(foil_cpu_blas_core(), "prescott") != 0) return NULL;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

void foil_cpu_blas_restart(char **argv) {
    const char *core = getenv("OPENBLAS_CORETYPE");
    if (core && *core) return; /* the user's choice, or this is the restart */
    if (!(core = foil_cpu_blas_better_core())) return;
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0) return;
    fflush(NULL);
    execv("/proc/self/exe", argv); /* returns only on failure: go on as we are */
}
