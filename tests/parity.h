/* Helpers for the CPU <-> GPU parity tests (tests/test_gpu_*.c), in the spirit
 * of ggml's test-backend-ops: run an op on both backends from the same seeded
 * inputs, poison the GPU outputs first so an unwritten element shows up as
 * NaN, and print max-abs error, max relative error and NMSE. */
#ifndef FOIL_TEST_PARITY_H
#define FOIL_TEST_PARITY_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/backend.h"
#include "foil/philox.h"
#include "testutil.h"

/* The CUDA backend; exit 77 (skipped) when there is no GPU (a failure
 * instead with FOIL_REQUIRE_GPU=1, for GPU machines), exit 1 when there is
 * one but the backend cannot start on it. */
static inline foil_backend *parity_gpu_or_skip(void) {
    char why[512];
    foil_err err;
    if (foil_cuda_device_count(why, sizeof why) == 0) {
        const char *req = getenv("FOIL_REQUIRE_GPU");
        if (req && *req && strcmp(req, "0") != 0) {
            fprintf(stderr, "FOIL_REQUIRE_GPU is set but: %s\n", why);
            exit(1);
        }
        tu_skip(why);
    }
    foil_backend *b = foil_backend_cuda_create(0, &err);
    if (!b) {
        fprintf(stderr, "FAIL: a GPU is present but the CUDA backend did not start: %s\n",
                err.msg);
        exit(1);
    }
    return b;
}

/* n floats uniform in [lo, hi) from a Philox stream. */
static inline float *parity_random(size_t n, float lo, float hi, uint64_t stream) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * foil_rng_uniform(1234, stream, i);
    return x;
}

/* A device copy of host data. */
static inline void *parity_upload(foil_backend *b, const void *host, size_t bytes) {
    void *d = b->alloc(b, bytes);
    if (!d || b->upload(b, d, host, bytes)) {
        fprintf(stderr, "upload failed: %s\n", b->err.msg);
        exit(1);
    }
    return d;
}

/* A device buffer filled with NaN, so elements an op forgets stay NaN. */
static inline float *parity_poisoned(foil_backend *b, size_t n) {
    float *d = foil_alloc_floats(b, n);
    if (!d || b->fill(b, d, NAN, n)) {
        fprintf(stderr, "alloc/fill failed: %s\n", b->err.msg);
        exit(1);
    }
    return d;
}

/* Downloads n floats of gpu and compares them with cpu: fails on NaN/Inf, on
 * NMSE above nmse_tol, or on an element with |g - c| > atol + rtol * |c|. */
static inline void parity_check(foil_backend *g, const char *name, const float *cpu, const float *gpu,
                         size_t n, double atol, double rtol, double nmse_tol) {
    float *h = malloc(sizeof(float) * (n ? n : 1));
    if (g->download(g, h, gpu, sizeof(float) * n)) {
        TU_CHECK(0, "%s: download: %s", name, g->err.msg);
        free(h);
        return;
    }
    double max_abs = 0, max_rel = 0, se = 0, ref = 0;
    size_t bad = 0, nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        double c = cpu[i], d = h[i], e = fabs(d - c);
        if (!isfinite(d)) {
            nonfinite++;
            continue;
        }
        max_abs = fmax(max_abs, e);
        max_rel = fmax(max_rel, e / fmax(fabs(c), 1e-6));
        se += e * e;
        ref += c * c;
        bad += e > atol + rtol * fabs(c);
    }
    double nmse = ref > 0 ? se / ref : se;
    printf("  %-28s n=%-8zu max_abs=%.3e max_rel=%.3e nmse=%.3e %s\n", name, n, max_abs, max_rel,
           nmse, nonfinite || bad || nmse > nmse_tol ? "FAIL" : "ok");
    TU_CHECK(nonfinite == 0, "%s: %zu NaN/Inf (unwritten or overflowed) elements", name, nonfinite);
    TU_CHECK(bad == 0, "%s: %zu elements outside atol %g + rtol %g", name, bad, atol, rtol);
    TU_CHECK(nmse <= nmse_tol, "%s: NMSE %.3e above %.1e", name, nmse, nmse_tol);
    free(h);
}

/* Integer outputs must match exactly. */
static inline void parity_check_i32(foil_backend *g, const char *name, const int32_t *cpu,
                             const int32_t *gpu, size_t n) {
    int32_t *h = malloc(sizeof(int32_t) * (n ? n : 1));
    size_t bad = 0;
    if (g->download(g, h, gpu, sizeof(int32_t) * n)) {
        TU_CHECK(0, "%s: download: %s", name, g->err.msg);
        free(h);
        return;
    }
    for (size_t i = 0; i < n; i++) bad += h[i] != cpu[i];
    printf("  %-28s n=%-8zu mismatches=%zu %s\n", name, n, bad, bad ? "FAIL" : "ok");
    TU_CHECK(bad == 0, "%s: %zu of %zu differ", name, bad, n);
    free(h);
}

#endif
