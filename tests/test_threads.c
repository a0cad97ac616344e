/* The CPU backend and its threads: `foil devices` says how it runs; foil
 * sets OMP_WAIT_POLICY (what the OpenMP runtime reads when it loads) only
 * where the user left it unset; training gives bit-identical weights on two
 * threads and on three (foil's OpenMP loops and OpenBLAS's threads split
 * work, not sums; OpenBLAS's one-thread path rounds differently, so one
 * thread is not compared), with denormals flushed on every thread. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foil/backend.h"
#include "synth.h"
#include "testutil.h"

/* First stdout line of `env ENV foil ARGS`. */
static void first_line(const char *env, const char *args, char *out, size_t cap) {
    const char *bin = getenv("FOIL_BIN");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "env %s '%s' %s 2>/dev/null", env, bin ? bin : "foil", args);
    out[0] = 0;
    FILE *p = popen(cmd, "r");
    if (!p) return;
    if (fgets(out, (int)cap, p)) out[strcspn(out, "\n")] = 0;
    while (fgetc(p) != EOF) {
    }
    pclose(p);
}

static void check_devices(void) {
    char line[512];
    first_line("-u OMP_WAIT_POLICY -u OPENBLAS_CORETYPE", "devices", line, sizeof line);
    printf("foil devices: %s\n", line);
    TU_CHECK(strncmp(line, "cpu (OpenBLAS ", 14) == 0, "the CPU line names OpenBLAS: %s", line);
#ifdef _OPENMP
    TU_CHECK(strstr(line, "own loops on OpenMP") && strstr(line, "OMP_WAIT_POLICY=passive"),
             "an OpenMP build sets OMP_WAIT_POLICY=passive when it is unset: %s", line);
    first_line("OMP_WAIT_POLICY=active", "devices", line, sizeof line);
    TU_CHECK(strstr(line, "OMP_WAIT_POLICY=active") != NULL, "the user's policy is kept: %s",
             line);
#else
    TU_CHECK(strstr(line, "single-threaded") != NULL, "no OpenMP: %s", line);
#endif
}

/* The Madry CNN: its GEMMs are large enough for OpenBLAS to split them. */
static const char RECIPE[] =
    "name: threads\n"
    "seed: 5\n"
    "model:\n"
    "  input: [1, 28, 28]\n"
    "  layers:\n"
    "    - conv2d: {filters: 32, kernel: 5, padding: same}\n"
    "    - relu\n"
    "    - maxpool: {size: 2}\n"
    "    - conv2d: {filters: 64, kernel: 5, padding: same}\n"
    "    - relu\n"
    "    - maxpool: {size: 2}\n"
    "    - flatten\n"
    "    - dense: {units: 1024}\n"
    "    - relu\n"
    "    - dropout: {rate: 0.25}\n"
    "    - dense: {units: 10}\n"
    "train: {epochs: 1, batch_size: 64, optimizer: adam, lr: 0.001}\n";

static void check_thread_count(void) {
    char data[1024], cfg[1024], d2[1024], d3[1024], args[4096], line[512], a[1200], b[1200];
    synth_dataset("synth", 384, 64);
    tu_path(data, sizeof data, "synth");
    tu_write_file(cfg, sizeof cfg, "threads.yaml", RECIPE, strlen(RECIPE));
    tu_path(d2, sizeof d2, "two_threads");
    tu_path(d3, sizeof d3, "three_threads");
    const char *dirs[2] = {d2, d3};
    /* with the kernels foil picks for the CPU: a kernel set forced through
     * OPENBLAS_CORETYPE need not split alike (Haswell's on an AVX-512 Zen 5
     * differ between 2 and 3 threads, docs/benchmarks.md) */
    const char *envs[2] = {"-u OPENBLAS_CORETYPE OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2",
                           "-u OPENBLAS_CORETYPE OMP_NUM_THREADS=3 OPENBLAS_NUM_THREADS=3"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s' --device cpu",
                 cfg, dirs[i], data);
        first_line(envs[i], args, line, sizeof line);
        TU_CHECK(strstr(line, "test accuracy") != NULL, "training with %s: %s", envs[i], line);
    }
    snprintf(a, sizeof a, "%s/model.safetensors", d2);
    snprintf(b, sizeof b, "%s/model.safetensors", d3);
    TU_CHECK(tu_same_file(a, b), "two threads and three give a bit-identical checkpoint");
}

/* Denormals are flushed on every thread (host/backend/cpu/backend_cpu.c): a ReLU long
 * enough to be split across the threads turns every denormal input into 0.
 * Were a worker thread's MXCSR left alone, its part would keep them. */
static void check_denormals(void) {
#if !defined(__x86_64__) && !defined(__i386__)
    printf("denormals: not x86, the backend leaves them alone\n");
    return;
#endif
    foil_err err;
#ifdef _OPENMP
    /* the pool's threads exist before the backend (new threads would copy
     * the creating thread's MXCSR, flushed or not) */
#pragma omp parallel
    {
        volatile int started = 1;
        (void)started;
    }
#endif
    foil_backend *b = foil_backend_cpu_create(&err);
    TU_CHECK(b != NULL, "cpu backend: %s", b ? "" : err.msg);
    if (!b) return;
    const size_t n = (size_t)1 << 20;
    float *in = b->alloc(b, n * sizeof(float)), *out = b->alloc(b, n * sizeof(float));
    if (in && out) {
        for (size_t i = 0; i < n; i++) in[i] = 1e-40f; /* denormal */
        b->relu_fwd(b, out, in, n);
        size_t kept = 0;
        for (size_t i = 0; i < n; i++) { /* bits: this thread reads denormals as 0 too */
            uint32_t bits;
            memcpy(&bits, &out[i], sizeof bits);
            kept += bits != 0;
        }
        TU_CHECK(kept == 0, "denormal inputs read as zero on every thread: %zu of %zu kept", kept,
                 n);
    }
    b->free(b, in);
    b->free(b, out);
    b->destroy(b);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* OpenBLAS's kernels as foil picks them (same bits per batch) */
    check_devices();
    check_denormals();
    check_thread_count();
    return tu_finish("test_threads");
}
