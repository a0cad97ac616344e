/* The backend-op test harness (tests/test_gpu_ops.c holds the rows), after
 * ggml's test-backend-ops: an op test is a row (its tensors, a run function
 * and tolerances); the harness makes the row's inputs from Philox, and
 *   - parity mode: runs the op on the CPU and on the GPU (outputs poisoned
 *     with NaN first), prints max-abs / max-rel / NMSE and checks them, and
 *     runs it twice on the GPU where the row asks for determinism;
 *   - gradient mode (CPU): compares a backward op's output with central
 *     finite differences of the row's forward, L = sum(dy * forward(x));
 *   - perf mode: the time of one call on each backend.
 * Tensor roles: IN (random), DERIVED (filled by the row's prep on the CPU
 * from the inputs, then an input for both backends), OUT (compared), INOUT
 * (random at the start, compared at the end: in-place ops), SCRATCH (the
 * forward's output in gradient mode; never compared). A row's tensors sit at
 * fixed places per op family, NONE where the row has no use for one. */
#ifndef FOIL_TEST_OP_HARNESS_H
#define FOIL_TEST_OP_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/clock.h"
#include "parity.h"

enum { OP_NONE, OP_IN, OP_DERIVED, OP_OUT, OP_INOUT, OP_SCRATCH }; /* NONE: not used */
enum { OP_MAX_T = 16, OP_MAX_ROWS = 160, OP_FD_SAMPLES = 24 };

typedef struct op_tol {
    double atol, rtol, nmse;
} op_tol;

typedef struct op_tensor {
    int role;
    size_t n;
    int i32;        /* int32 elements (labels, argmax): compared exactly */
    int u8;         /* bytes (masks; inputs only) */
    float lo, hi;   /* IN / INOUT values: uniform in [lo, hi) (ints: [lo, hi)) */
    int has_tol;    /* its own parity tolerance instead of the row's */
    op_tol tol;
} op_tensor;

typedef struct op_row op_row;
typedef int (*op_fn)(foil_backend *b, void *const *t, const op_row *r);

struct op_row {
    char name[80];
    int nt;
    op_tensor t[OP_MAX_T];
    op_fn run;        /* the op under test */
    op_fn prep;       /* optional, on the CPU with host tensors: DERIVED from IN */
    op_tol tol;       /* parity (fp32) */
    int twice;        /* the GPU must give the same bits twice */
    int tf32;         /* also checked with TF32 on (tolerances from the reference's RMS) */
    /* gradient mode: fwd writes t[fd_y] from the inputs; L = sum(w * t[fd_y]) with
     * w = t[fd_dy] (or fd_scale when fd_dy < 0); pair[k] = {input, its gradient} */
    op_fn fwd;
    int fd_y, fd_dy, npairs, pair[2][2];
    float fd_h, fd_scale;
    int fd_smooth;    /* no kinks (softmax): every sampled element is checked */
    op_tol fd_tol;
    /* the op's arguments */
    foil_conv_shape cs;
    foil_pool_shape ps;
    int n, in_dim, out_dim, classes, bias;
    size_t len;
    float alpha;
};

typedef struct op_table {
    int n;
    op_row rows[OP_MAX_ROWS];
} op_table;

static inline op_row *op_add(op_table *tab, const char *name) {
    if (tab->n == OP_MAX_ROWS) {
        fprintf(stderr, "op table: more than %d rows\n", OP_MAX_ROWS);
        exit(1);
    }
    op_row *r = &tab->rows[tab->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->fd_y = r->fd_dy = -1;
    return r;
}

/* Sets tensor k of r; i32: 0 floats, 1 int32, 8 bytes. */
static inline void op_set(op_row *r, int k, int role, size_t n, float lo, float hi, int i32) {
    op_tensor *t = &r->t[k];
    t->role = role, t->n = n, t->lo = lo, t->hi = hi, t->i32 = i32 == 1, t->u8 = i32 == 8;
    if (k >= r->nt) r->nt = k + 1;
}

static inline size_t op_bytes(const op_tensor *t) { return (t->n ? t->n : 1) * (t->u8 ? 1 : 4); }

/* Host tensors of row `id`: inputs drawn from Philox (stream per row and
 * tensor), the rest NaN (or -12345 for ints). */
static inline void op_host_make(const op_row *r, int id, void **h) {
    for (int k = 0; k < r->nt; k++) {
        const op_tensor *t = &r->t[k];
        h[k] = NULL;
        if (t->role == OP_NONE) continue;
        h[k] = malloc(op_bytes(t));
        const int random = t->role == OP_IN || t->role == OP_INOUT;
        const uint64_t stream = (uint64_t)id * 16 + (uint64_t)k;
        for (size_t i = 0; i < t->n; i++) {
            float u = foil_rng_uniform(4321, stream, i);
            if (t->u8)
                ((uint8_t *)h[k])[i] = random ? (uint8_t)(t->lo + u * (t->hi - t->lo)) : 0xA5;
            else if (t->i32)
                ((int32_t *)h[k])[i] = random ? (int32_t)t->lo + (int32_t)(u * (t->hi - t->lo))
                                              : -12345;
            else
                ((float *)h[k])[i] = random ? t->lo + (t->hi - t->lo) * u : NAN;
        }
    }
}

static inline void op_host_free(const op_row *r, void **h) {
    for (int k = 0; k < r->nt; k++) free(h[k]);
}

static inline void *op_host_copy(const op_tensor *t, const void *h) {
    if (!h) return NULL;
    void *c = malloc(op_bytes(t));
    memcpy(c, h, op_bytes(t));
    return c;
}

/* The CPU reference: host tensors after prep and the op. */
static inline int op_reference(foil_backend *cpu, const op_row *r, int id, void **h) {
    op_host_make(r, id, h);
    if ((r->prep && r->prep(cpu, h, r)) || r->run(cpu, h, r)) {
        TU_CHECK(0, "%s on the CPU: %s", r->name, cpu->err.msg);
        return -1;
    }
    return 0;
}

/* Device tensors: inputs uploaded from `start` (host tensors before the
 * op), the rest poisoned. */
static inline void op_device_make(foil_backend *g, const op_row *r, void *const *start,
                                  void **d) {
    for (int k = 0; k < r->nt; k++) {
        const op_tensor *t = &r->t[k];
        int given = t->role == OP_IN || t->role == OP_DERIVED || t->role == OP_INOUT;
        d[k] = t->role == OP_NONE ? NULL
               : given || t->u8   ? parity_upload(g, start[k], op_bytes(t))
                                  : parity_poisoned(g, t->n);
    }
}

static inline void op_device_free(foil_backend *g, const op_row *r, void **d) {
    for (int k = 0; k < r->nt; k++)
        if (d[k]) g->free(g, d[k]);
}

/* TF32 tolerances: 1e-2 relative, NMSE 1e-5, atol 1e-2 x the reference's RMS
 * (the error of a sum of products scales with its typical size). */
static inline op_tol op_tf32_tol(const float *ref, size_t n) {
    double ss = 0;
    for (size_t i = 0; i < n; i++) ss += (double)ref[i] * ref[i];
    return (op_tol){1e-2 * sqrt(ss / (double)(n ? n : 1)), 1e-2, 1e-5};
}

/* Parity of one row on the GPU g; tf32: g is in TF32 mode. */
static inline void op_parity(foil_backend *cpu, foil_backend *g, const op_row *r, int id,
                             int tf32) {
    void *h[OP_MAX_T], *start[OP_MAX_T], *d[OP_MAX_T], *d2[OP_MAX_T];
    op_host_make(r, id, start);
    if (r->prep && r->prep(cpu, start, r)) {
        TU_CHECK(0, "%s prep: %s", r->name, cpu->err.msg);
        op_host_free(r, start);
        return;
    }
    for (int k = 0; k < r->nt; k++) h[k] = op_host_copy(&r->t[k], start[k]);
    if (r->run(cpu, h, r)) {
        TU_CHECK(0, "%s on the CPU: %s", r->name, cpu->err.msg);
        op_host_free(r, h);
        op_host_free(r, start);
        return;
    }
    op_device_make(g, r, start, d);
    int rc = r->run(g, d, r);
    TU_CHECK(rc == 0, "%s on %s: %s", r->name, g->name, g->err.msg);
    for (int k = 0; rc == 0 && k < r->nt; k++) {
        const op_tensor *t = &r->t[k];
        if (t->role != OP_OUT && t->role != OP_INOUT) continue;
        char label[112];
        snprintf(label, sizeof label, "%s [%d]", r->name, k);
        if (t->i32) {
            parity_check_i32(g, label, h[k], d[k], t->n);
        } else {
            op_tol tol = tf32 ? op_tf32_tol(h[k], t->n) : t->has_tol ? t->tol : r->tol;
            parity_check(g, label, h[k], d[k], t->n, tol.atol, tol.rtol, tol.nmse);
        }
    }
    if (rc == 0 && r->twice && !tf32) {
        op_device_make(g, r, start, d2);
        TU_CHECK(r->run(g, d2, r) == 0, "%s again: %s", r->name, g->err.msg);
        for (int k = 0; k < r->nt; k++) {
            const op_tensor *t = &r->t[k];
            if (t->role != OP_OUT && t->role != OP_INOUT) continue;
            void *a = malloc(op_bytes(t)), *b = malloc(op_bytes(t));
            int same = g->download(g, a, d[k], op_bytes(t)) == 0 &&
                       g->download(g, b, d2[k], op_bytes(t)) == 0 && !memcmp(a, b, op_bytes(t));
            printf("  %-40s [%d] run twice: %s\n", r->name, k, same ? "identical" : "FAIL");
            TU_CHECK(same, "%s [%d]: two GPU runs differ (not deterministic)", r->name, k);
            free(a), free(b);
        }
        op_device_free(g, r, d2);
    }
    op_device_free(g, r, d);
    op_host_free(r, h);
    op_host_free(r, start);
}

/* L = sum(w * y) after the row's forward, in double. */
static inline double op_loss(foil_backend *cpu, const op_row *r, void **h) {
    if (r->fwd(cpu, h, r)) {
        TU_CHECK(0, "%s forward: %s", r->name, cpu->err.msg);
        return NAN;
    }
    const float *y = h[r->fd_y], *w = r->fd_dy >= 0 ? h[r->fd_dy] : NULL;
    double s = 0;
    for (size_t i = 0; i < r->t[r->fd_y].n; i++) s += (w ? (double)w[i] : r->fd_scale) * y[i];
    return s;
}

/* Gradient mode on the CPU: the row's backward output against central
 * differences at OP_FD_SAMPLES elements of each differentiated input, over
 * the step the floats really took. Where a piecewise-linear function bends
 * inside [x - h, x + h] (a ReLU at 0, a max-pool tie) its two one-sided
 * slopes differ and the element is skipped; at most a third may be. A
 * non-finite analytic gradient always fails. */
static inline void op_gradient(foil_backend *cpu, const op_row *r, int id) {
    void *h[OP_MAX_T];
    if (op_reference(cpu, r, id, h)) {
        op_host_free(r, h);
        return;
    }
    for (int p = 0; p < r->npairs; p++) {
        float *x = h[r->pair[p][0]];
        const float *an = h[r->pair[p][1]];
        const size_t n = r->t[r->pair[p][0]].n;
        const int samples = n < OP_FD_SAMPLES ? (int)n : OP_FD_SAMPLES;
        int bad = 0, skipped = 0;
        double max_err = 0;
        for (int s = 0; s < samples; s++) {
            size_t j = n <= OP_FD_SAMPLES ? (size_t)s
                                          : foil_rng_u32(99, (uint64_t)id * 4 + (uint64_t)p,
                                                         (uint64_t)s) % n;
            const float keep = x[j], hi = keep + r->fd_h, lo = keep - r->fd_h;
            x[j] = hi;
            double up = op_loss(cpu, r, h);
            x[j] = lo;
            double down = op_loss(cpu, r, h);
            x[j] = keep;
            double mid = op_loss(cpu, r, h);
            double s_up = (up - mid) / ((double)hi - keep);
            double s_down = (mid - down) / ((double)keep - lo);
            if (!r->fd_smooth &&
                fabs(s_up - s_down) > 1e-3 * (fabs(s_up) + fabs(s_down)) + 1e-6) {
                skipped++;
                continue;
            }
            double fd = (up - down) / ((double)hi - lo), e = fabs(fd - an[j]);
            if (isfinite(e)) max_err = fmax(max_err, e);
            bad += !(e <= r->fd_tol.atol + r->fd_tol.rtol * fabs(an[j])); /* NaN fails */
        }
        printf("  %-40s d[%d]/d[%d]: %d elements, %d at a kink, max |fd - analytic| %.2e %s\n",
               r->name, r->pair[p][1], r->pair[p][0], samples - skipped, skipped, max_err,
               bad || 3 * skipped > samples ? "FAIL" : "ok");
        TU_CHECK(bad == 0, "%s: %d of %d gradient elements differ from finite differences",
                 r->name, bad, samples - skipped);
        TU_CHECK(3 * skipped <= samples, "%s: %d of %d elements at a kink", r->name, skipped,
                 samples);
    }
    op_host_free(r, h);
}

/* Perf mode: microseconds per call of the row's op on backend b. */
static inline double op_time(foil_backend *b, const op_row *r, int id, foil_backend *cpu) {
    void *start[OP_MAX_T], *d[OP_MAX_T];
    op_host_make(r, id, start);
    if (r->prep) r->prep(cpu, start, r);
    int dev = b != cpu;
    if (dev) op_device_make(b, r, start, d);
    void **t = dev ? d : start;
    int reps = 0;
    double t0 = foil_now_s(), el = 0;
    while (el < 0.2 || reps < 3) {
        if (r->run(b, t, r) || b->sync(b)) break;
        reps++;
        el = foil_now_s() - t0;
    }
    if (dev) op_device_free(b, r, d);
    op_host_free(r, start);
    return reps ? 1e6 * el / reps : NAN;
}

#endif
