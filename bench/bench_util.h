/* Shared by the bench programs. Header-only: each bench/bench_NAME.c is a program of
 * its own (see CMakeLists.txt). */
#ifndef FOIL_BENCH_UTIL_H
#define FOIL_BENCH_UTIL_H

#include <stdio.h>
#include <string.h>

#include "foil/backend.h"
#include "foil/clock.h"

/* --precision fp32|tf32 at argv[*i]: 1 when it was that option (tf32 set),
 * 0 when not, -1 on a bad value. */
static inline int bench_precision_arg(int argc, char **argv, int *i, int *tf32) {
    if (strcmp(argv[*i], "--precision") != 0 || *i + 1 >= argc) return 0;
    const char *v = argv[++*i];
    if (strcmp(v, "fp32") != 0 && strcmp(v, "tf32") != 0) {
        fprintf(stderr, "--precision: expected fp32 or tf32, got '%s'\n", v);
        return -1;
    }
    *tf32 = strcmp(v, "tf32") == 0;
    return 1;
}

/* The backend for --device, with TF32 math when tf32. */
static inline foil_backend *bench_backend(const char *device, int tf32, foil_err *err) {
    foil_backend *b = foil_backend_create(device, NULL, err);
    if (b && tf32 && b->set_precision(b, 1)) {
        foil_fail(err, "precision tf32: %s", b->err.msg);
        b->destroy(b);
        return NULL;
    }
    return b;
}

/* A line above the table saying how the CPU backend runs (threads, kernels). */
static inline void bench_print_cpu(void) {
    char cpu[160];
    foil_cpu_describe(cpu, sizeof cpu);
    printf("cpu backend: %s\n\n", cpu);
}

/* "cpu", "cuda" or "cuda tf32" for the tables. */
static inline const char *bench_device_label(const foil_backend *b, int tf32, char *buf,
                                             size_t cap) {
    snprintf(buf, cap, "%s%s", b->name, tf32 && strcmp(b->name, "cpu") != 0 ? " tf32" : "");
    return buf;
}

#endif
