/* CPU <-> GPU parity of the stateful and multi-step ops (cuda/elementwise_ops.cu,
 * attack_ops.cu, explain_ops.cu) that do not fit the op table's one-call rows
 * (tests/test_gpu_ops.c has fill, relu, mul, add, sub, scale, axpy, dropout
 * and softmax_xent); skipped (exit 77) without a usable GPU. Each op runs on
 * both backends from the same seeded inputs; GPU outputs start as NaN
 * (parity_poisoned) so an unwritten element fails. Tolerances, fp32:
 *   - exact: gathers, argmax, compare, select_rows, flag_nonfinite, the Linf
 *     random start, attack_step with the sign rule in the Linf ball: the same
 *     float operations in the same order (the kernels spell a*b + c with
 *     __fmul_rn/__fadd_rn so nvcc cannot fuse it);
 *   - 1e-6 relative (plus a small atol where values cancel towards 0): SGD
 *     and Adam after 3 steps (nvcc contracts the shared update functions to
 *     fmas), attack_step with row norms (a double sum in another order can
 *     move a float per-row factor by an ulp), target_output, IG ops, row_sum;
 *   - 1e-5 absolute: the L2 random start and Gaussian noise, whose normal
 *     draws use logf/cosf/sinf (and powf for the L2 radius), which may differ
 *     in the last bit between glibc and CUDA.
 * Determinism: the L2 random start and attack_step (L2 rule, L2 ball) run
 * twice on the GPU give bitwise identical outputs.
 * Bad labels: with FOIL_CUDA_SYNC=1 the GPU returns the CPU's error; without
 * it the op succeeds and the bad row's outputs are NaN (see elementwise_ops.cu). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"

#define OK(b, call) TU_CHECK((call) == 0, "%s: %s", (b)->name, (b)->err.msg)
#define EXACT 0.0, 0.0, 0.0

typedef struct pair {
    foil_backend *cpu, *gpu;
} pair;

static float *host_copy(const float *x, size_t n) {
    float *h = malloc(sizeof(float) * (n ? n : 1));
    memcpy(h, x, sizeof(float) * n);
    return h;
}

/* Device copies of n host floats / ints. */
static float *upf(foil_backend *g, const float *h, size_t n) {
    return parity_upload(g, h, sizeof(float) * n);
}
static int32_t *upi(foil_backend *g, const int32_t *h, size_t n) {
    return parity_upload(g, h, sizeof(int32_t) * n);
}

static int32_t *random_ints(size_t n, int lo, int hi, uint64_t stream) {
    int32_t *x = malloc(sizeof(int32_t) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (int32_t)(foil_rng_u32(1234, stream, i) % (uint32_t)(hi - lo));
    return x;
}

/* A device int buffer of sentinels, so that unwritten outputs differ. */
static int32_t *poisoned_i32(foil_backend *g, size_t n) {
    int32_t *h = malloc(sizeof(int32_t) * n);
    for (size_t i = 0; i < n; i++) h[i] = -12345;
    int32_t *d = upi(g, h, n);
    free(h);
    return d;
}

static int debug_sync_mode(void) {
    const char *s = getenv("FOIL_CUDA_SYNC");
    return s && *s && strcmp(s, "0") != 0;
}

/* Two GPU results that must be bitwise identical (same seed, same inputs). */
static void check_same_bits(foil_backend *g, const char *name, const float *d1, const float *d2,
                            size_t n) {
    float *h1 = malloc(sizeof(float) * n), *h2 = malloc(sizeof(float) * n);
    OK(g, g->download(g, h1, d1, sizeof(float) * n));
    OK(g, g->download(g, h2, d2, sizeof(float) * n));
    int same = memcmp(h1, h2, sizeof(float) * n) == 0;
    printf("  %-28s n=%-8zu %s\n", name, n, same ? "identical" : "FAIL: differs");
    TU_CHECK(same, "%s: two GPU runs with the same seed differ", name);
    free(h1);
    free(h2);
}

/* A bad label: the CPU's error in debug-sync mode, else NaN in its row (the
 * op table, tests/test_gpu_ops.c, checks softmax_xent's values). */
static void test_softmax_xent_bad_label(pair p, int n, int classes) {
    foil_backend *c = p.cpu, *g = p.gpu;
    size_t total = (size_t)n * classes;
    printf("softmax_xent: a bad label in %d rows of %d classes\n", n, classes);
    float *logits = parity_random(total, -20, 20, 10 + (uint64_t)classes);
    int32_t *labels = random_ints((size_t)n, 0, classes, 20 + (uint64_t)classes);
    float *loss = malloc(sizeof(float) * n), *dl = malloc(sizeof(float) * total);
    labels[3] = classes; /* out of range */
    float *dlog = upf(g, logits, total);
    int32_t *dlab = upi(g, labels, n);
    float *gloss = parity_poisoned(g, (size_t)n), *gdl = parity_poisoned(g, total);
    const float scale = 1.0f / (float)n;
    TU_CHECK(c->softmax_xent(c, loss, dl, logits, labels, n, classes, scale) == -1,
             "cpu bad label");
    int rc = g->softmax_xent(g, gloss, gdl, dlog, dlab, n, classes, scale);
    if (debug_sync_mode()) {
        TU_CHECK(rc == -1 && strcmp(g->err.msg, c->err.msg) == 0, "bad label: '%s' vs '%s'",
                 g->err.msg, c->err.msg);
    } else {
        float h[4];
        OK(g, g->download(g, h, gloss, sizeof h));
        TU_CHECK(rc == 0 && isnan(h[3]) && isfinite(h[2]), "bad label: row 3 must be NaN");
    }
    float *ptrs[] = {dlog, gloss, gdl};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) g->free(g, ptrs[i]);
    g->free(g, dlab);
    free(logits), free(labels), free(loss), free(dl);
}

/* Three steps of each optimizer from the same weights and gradients. */
static void test_optimizers(pair p) {
    foil_backend *c = p.cpu, *g = p.gpu;
    const size_t n = 10007;
    printf("optimizers: 3 steps over %zu parameters\n", n);
    float *w0 = parity_random(n, -1, 1, 30), *v0 = parity_random(n, -0.1f, 0.1f, 31);
    float *gr[3] = {parity_random(n, -1, 1, 32), parity_random(n, -1, 1, 33),
                    parity_random(n, -1, 1, 34)};
    float *dg[3];
    for (int s = 0; s < 3; s++) dg[s] = upf(g, gr[s], n);
    const foil_sgd_hparams sgd[3] = {{0.1f, 0.9f, 5e-4f, 0}, {0.1f, 0.9f, 5e-4f, 1},
                                     {0.05f, 0.0f, 0.0f, 0}};
    for (int k = 0; k < 3; k++) {
        float *w = host_copy(w0, n), *v = host_copy(v0, n);
        float *dw = upf(g, w0, n), *dv = upf(g, v0, n);
        for (int s = 0; s < 3; s++) {
            OK(c, c->sgd_step(c, w, v, gr[s], n, &sgd[k]));
            OK(g, g->sgd_step(g, dw, dv, dg[s], n, &sgd[k]));
        }
        char name[64];
        snprintf(name, sizeof name, "sgd w (m=%.1f nesterov=%d)", (double)sgd[k].momentum,
                 sgd[k].nesterov);
        parity_check(g, name, w, dw, n, 1e-6, 1e-6, 1e-12);
        parity_check(g, "sgd velocity", v, dv, n, 1e-6, 1e-6, 1e-12);
        g->free(g, dw), g->free(g, dv);
        free(w), free(v);
    }
    float *w = host_copy(w0, n), *m = calloc(n, sizeof(float)), *v = calloc(n, sizeof(float));
    float *dw = upf(g, w0, n);
    float *dm = foil_alloc_floats(g, n), *dv = foil_alloc_floats(g, n); /* zeroed */
    for (int s = 0; s < 3; s++) {
        foil_adam_hparams hp = {1e-2f, 0.9f, 0.999f, 1e-8f, 0.01f, s + 1};
        OK(c, c->adam_step(c, w, m, v, gr[s], n, &hp));
        OK(g, g->adam_step(g, dw, dm, dv, dg[s], n, &hp));
    }
    parity_check(g, "adam w", w, dw, n, 1e-6, 1e-6, 1e-12);
    parity_check(g, "adam m", m, dm, n, 1e-6, 1e-6, 1e-12);
    parity_check(g, "adam v", v, dv, n, 1e-9, 1e-6, 1e-12);
    g->free(g, dw), g->free(g, dm), g->free(g, dv);
    for (int s = 0; s < 3; s++) g->free(g, dg[s]), free(gr[s]);
    free(w), free(m), free(v), free(w0), free(v0);
}

static void test_gathers_and_ints(pair p) {
    foil_backend *c = p.cpu, *g = p.gpu;
    const int rows = 50, n = 32, classes = 10, nl = 300;
    const size_t row = 784;
    printf("gathers, argmax, compare, select_rows\n");
    float *src = parity_random((size_t)rows * row, 0, 1, 40);
    float *dst = malloc(sizeof(float) * n * row);
    int32_t *idx = random_ints((size_t)n, 0, rows, 41), *lab = random_ints((size_t)rows, 0, 10, 42);
    int32_t *ilab = malloc(sizeof(int32_t) * nl);
    float *dsrc = upf(g, src, rows * row), *ddst = parity_poisoned(g, n * row);
    int32_t *didx = upi(g, idx, n), *dlab = upi(g, lab, rows);
    int32_t *dil = poisoned_i32(g, (size_t)nl);
    OK(c, c->gather_rows(c, dst, src, idx, n, row));
    OK(g, g->gather_rows(g, ddst, dsrc, didx, n, row));
    parity_check(g, "gather_rows", dst, ddst, n * row, EXACT);
    OK(c, c->gather_labels(c, ilab, lab, idx, n));
    OK(g, g->gather_labels(g, dil, dlab, didx, n));
    parity_check_i32(g, "gather_labels", ilab, dil, (size_t)n);

    /* logits on a coarse grid: many ties, the first maximum must win */
    float *lg = parity_random((size_t)nl * classes, 0, 4, 43);
    for (size_t i = 0; i < (size_t)nl * classes; i++) lg[i] = floorf(lg[i]);
    float *dlg = upf(g, lg, nl * classes);
    g->free(g, dil);
    dil = poisoned_i32(g, (size_t)nl);
    OK(c, c->argmax(c, ilab, lg, nl, classes));
    OK(g, g->argmax(g, dil, dlg, nl, classes));
    parity_check_i32(g, "argmax (ties)", ilab, dil, (size_t)nl);
    int32_t *a = random_ints((size_t)nl, 0, 3, 44), *b = random_ints((size_t)nl, 0, 3, 45);
    int32_t *da = upi(g, a, nl), *db = upi(g, b, nl);
    for (int eq = 0; eq < 2; eq++) {
        g->free(g, dil);
        dil = poisoned_i32(g, (size_t)nl);
        OK(c, c->compare(c, ilab, a, b, nl, eq));
        OK(g, g->compare(g, dil, da, db, nl, eq));
        parity_check_i32(g, eq ? "compare equal" : "compare not-equal", ilab, dil, (size_t)nl);
    }
    /* select_rows: rows of src where a != 0 over an initialised dst */
    float *init = parity_random((size_t)n * row, 0, 1, 46);
    memcpy(dst, init, sizeof(float) * n * row);
    OK(g, g->upload(g, ddst, init, sizeof(float) * n * row));
    OK(c, c->select_rows(c, dst, src, a, n, row));
    OK(g, g->select_rows(g, ddst, dsrc, da, n, row));
    parity_check(g, "select_rows", dst, ddst, n * row, EXACT);

    g->free(g, dsrc), g->free(g, ddst), g->free(g, dlg);
    g->free(g, didx), g->free(g, dlab), g->free(g, dil), g->free(g, da), g->free(g, db);
    free(src), free(dst), free(idx), free(lab), free(ilab), free(lg), free(a), free(b), free(init);
}

/* Rows with a NaN, +inf or -inf somewhere (first, middle, last element,
 * and a row of huge finite values that is not flagged) set their flags;
 * flags already set stay set, the others stay 0. */
static void test_flag_nonfinite(pair p) {
    foil_backend *c = p.cpu, *g = p.gpu;
    const int n = 300;
    const size_t row = 784;
    printf("flag_nonfinite\n");
    float *x = parity_random((size_t)n * row, -1, 1, 47);
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    for (int i = 0; i < n; i += 7) x[(size_t)i * row + (size_t)(i * 31) % row] = bad[i % 3];
    for (size_t j = 0; j < row; j++) x[3 * row + j] = 3.4e38f; /* finite */
    x[10 * row] = NAN;            /* first element */
    x[11 * row + row - 1] = NAN;  /* last element */
    int32_t *flags = calloc((size_t)n, sizeof(int32_t));
    flags[5] = 1; /* set before: stays set */
    float *dx = upf(g, x, (size_t)n * row);
    int32_t *dflags = upi(g, flags, (size_t)n);
    OK(c, c->flag_nonfinite(c, flags, x, n, row));
    OK(g, g->flag_nonfinite(g, dflags, dx, n, row));
    parity_check_i32(g, "flag_nonfinite", flags, dflags, (size_t)n);
    int want = 0, got = 0;
    for (int i = 0; i < n; i++) {
        want += i % 7 == 0 || i == 5 || i == 10 || i == 11;
        got += flags[i] != 0;
    }
    TU_CHECK(got == want && !flags[3], "CPU flags: %d set, expected %d (row 3 finite: %d)", got,
             want, flags[3]);
    g->free(g, dx), g->free(g, dflags);
    free(x), free(flags);
}

/* Random starts, then steps for every rule and ball, half the rows active. */
static void test_attack(pair p) {
    foil_backend *c = p.cpu, *g = p.gpu;
    const int n = 23;
    const size_t row = 785, total = (size_t)n * row; /* odd row: the L2 radius index */
    printf("attack: %d rows of %zu\n", n, row);
    float *x0 = parity_random(total, 0, 1, 50), *grad = parity_random(total, -1, 1, 51);
    float *vel0 = parity_random(total, -0.1f, 0.1f, 52);
    for (size_t j = 0; j < total; j += 7) grad[j] = 0.0f; /* sign(0) = 0 */
    int32_t *active = malloc(sizeof(int32_t) * n);
    for (int i = 0; i < n; i++) active[i] = i % 3 != 0;
    float *dx0 = upf(g, x0, total);
    float *dgrad = upf(g, grad, total);
    int32_t *dact = upi(g, active, n);
    float *start[2], *dstart = parity_poisoned(g, total), *dstart2 = parity_poisoned(g, total);
    const foil_attack_hparams balls[2] = {{FOIL_NORM_LINF, FOIL_STEP_SIGN, 0.3f, 0.05f, 1.0f, 0},
                                          {FOIL_NORM_L2, FOIL_STEP_SIGN, 2.0f, 0.5f, 1.0f, 0}};
    for (int k = 0; k < 2; k++) {
        start[k] = malloc(sizeof(float) * total);
        OK(c, c->attack_random_start(c, start[k], x0, n, row, &balls[k], 11, 2, 5, NULL));
        OK(g, g->fill(g, dstart, NAN, total));
        OK(g, g->attack_random_start(g, dstart, dx0, n, row, &balls[k], 11, 2, 5, NULL));
        if (k == 0) parity_check(g, "random_start linf", start[k], dstart, total, EXACT);
        else parity_check(g, "random_start l2", start[k], dstart, total, 1e-5, 0.0, 1e-10);
    }
    OK(g, g->attack_random_start(g, dstart2, dx0, n, row, &balls[1], 11, 2, 5, NULL));
    check_same_bits(g, "random_start l2 determinism", dstart, dstart2, total);
    /* a sub-batch: row i is sample 5 + index[i] (reversed), on both */
    int32_t *index = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) index[i] = n - 1 - i;
    int32_t *dindex = upi(g, index, n);
    OK(c, c->attack_random_start(c, start[0], x0, n, row, &balls[0], 11, 2, 5, index));
    OK(g, g->attack_random_start(g, dstart, dx0, n, row, &balls[0], 11, 2, 5, dindex));
    parity_check(g, "random_start linf, indexed rows", start[0], dstart, total, EXACT);
    foil_attack_hparams open_box = balls[0]; /* FGSM-RS's start: not clipped to [0, 1] */
    open_box.unclipped = 1;
    OK(c, c->attack_random_start(c, start[0], x0, n, row, &open_box, 11, 2, 5, NULL));
    OK(g, g->attack_random_start(g, dstart, dx0, n, row, &open_box, 11, 2, 5, NULL));
    parity_check(g, "random_start linf, unclipped", start[0], dstart, total, EXACT);
    int outside = 0;
    for (size_t j = 0; j < total; j++) outside += start[0][j] < 0.0f || start[0][j] > 1.0f;
    TU_CHECK(outside > 0, "the unclipped start leaves [0, 1] (%d values)", outside);
    OK(c, c->attack_random_start(c, start[0], x0, n, row, &balls[0], 11, 2, 5, NULL));
    free(index);
    g->free(g, dindex);

    static const char *rules[] = {"sign", "l2", "momentum"};
    float *x = malloc(sizeof(float) * total), *v = malloc(sizeof(float) * total);
    float *dx = foil_alloc_floats(g, total), *dv = foil_alloc_floats(g, total);
    for (int k = 0; k < 2; k++)
        for (int r = 0; r < 3; r++) {
            foil_attack_hparams hp = balls[k];
            hp.rule = (foil_step_rule)r;
            memcpy(x, start[k], sizeof(float) * total);
            memcpy(v, vel0, sizeof(float) * total);
            OK(g, g->upload(g, dx, start[k], sizeof(float) * total));
            OK(g, g->upload(g, dv, vel0, sizeof(float) * total));
            for (int s = 0; s < 2; s++) { /* masked, then all rows */
                OK(c, c->attack_step(c, x, v, grad, x0, s ? NULL : active, n, row, &hp));
                OK(g, g->attack_step(g, dx, dv, dgrad, dx0, s ? NULL : dact, n, row, &hp));
            }
            char name[64];
            int exact = k == 0 && r == FOIL_STEP_SIGN;
            snprintf(name, sizeof name, "attack_step %s %s", k ? "l2" : "linf", rules[r]);
            parity_check(g, name, x, dx, total, exact ? 0.0 : 1e-6, exact ? 0.0 : 1e-6,
                         exact ? 0.0 : 1e-12);
            snprintf(name, sizeof name, "  velocity %s %s", k ? "l2" : "linf", rules[r]);
            parity_check(g, name, v, dv, total, 1e-6, 1e-6, 1e-12);
            if (k == 1 && r == FOIL_STEP_L2) { /* determinism, two reductions per row */
                OK(g, g->upload(g, dstart2, start[k], sizeof(float) * total));
                for (int s = 0; s < 2; s++)
                    OK(g, g->attack_step(g, dstart2, dv, dgrad, dx0, s ? NULL : dact, n, row, &hp));
                check_same_bits(g, "attack_step l2 determinism", dx, dstart2, total);
            }
        }
    foil_attack_hparams mi = balls[0];
    mi.rule = FOIL_STEP_MOMENTUM_SIGN;
    TU_CHECK(g->attack_step(g, dx, NULL, dgrad, dx0, NULL, n, row, &mi) == -1 &&
                 strstr(g->err.msg, "velocity"), "MI-FGSM without velocity: '%s'", g->err.msg);

    g->free(g, dx0), g->free(g, dgrad), g->free(g, dact), g->free(g, dstart), g->free(g, dstart2);
    g->free(g, dx), g->free(g, dv);
    free(x0), free(grad), free(vel0), free(active), free(start[0]), free(start[1]);
    free(x), free(v);
}

static void test_target_output(pair p) {
    foil_backend *c = p.cpu, *g = p.gpu;
    const int n = 65, classes = 10;
    const size_t total = (size_t)n * classes;
    printf("target_output\n");
    float *z = parity_random(total, -5, 5, 60), *val = malloc(sizeof(float) * n);
    float *d = malloc(sizeof(float) * total);
    int32_t *t = random_ints((size_t)n, 0, classes, 61);
    float *dz = upf(g, z, total);
    int32_t *dt = upi(g, t, n);
    float *gval = parity_poisoned(g, (size_t)n), *gd = parity_poisoned(g, total);
    for (int mode = 0; mode < 2; mode++) {
        const char *mname = mode == FOIL_TARGET_LOGIT ? "logit" : "prob";
        char name[64];
        OK(c, c->target_output(c, val, d, z, t, n, classes, (foil_target_mode)mode));
        OK(g, g->fill(g, gval, NAN, (size_t)n));
        OK(g, g->fill(g, gd, NAN, total));
        OK(g, g->target_output(g, gval, gd, dz, dt, n, classes, (foil_target_mode)mode));
        snprintf(name, sizeof name, "target_output %s value", mname);
        parity_check(g, name, val, gval, (size_t)n, 1e-9, 1e-6, 1e-12);
        snprintf(name, sizeof name, "target_output %s dlogits", mname);
        parity_check(g, name, d, gd, total, 1e-9, 1e-6, 1e-12);
        OK(g, g->fill(g, gval, NAN, (size_t)n));
        OK(g, g->target_output(g, gval, NULL, dz, dt, n, classes, (foil_target_mode)mode));
        snprintf(name, sizeof name, "target_output %s no-grad", mname);
        parity_check(g, name, val, gval, (size_t)n, 1e-9, 1e-6, 1e-12);
    }
    t[5] = -1;
    OK(g, g->upload(g, dt, t, sizeof(int32_t) * n));
    TU_CHECK(c->target_output(c, val, d, z, t, n, classes, FOIL_TARGET_PROB) == -1, 
             "cpu bad target");
    int rc = g->target_output(g, gval, gd, dz, dt, n, classes, FOIL_TARGET_PROB);
    if (debug_sync_mode()) {
        TU_CHECK(rc == -1 && strcmp(g->err.msg, c->err.msg) == 0, "bad target: '%s' vs '%s'",
                 g->err.msg, c->err.msg);
    } else {
        float h[6];
        OK(g, g->download(g, h, gval, sizeof h));
        TU_CHECK(rc == 0 && isnan(h[5]) && isfinite(h[4]), "bad target: row 5 must be NaN");
    }
    g->free(g, dz), g->free(g, dt), g->free(g, gval), g->free(g, gd);
    free(z), free(val), free(d), free(t);
}

static void test_ig_noise_sums(pair p) {
    foil_backend *c = p.cpu, *g = p.gpu;
    const int n = 3, m = 5;
    const size_t row = 785, total = (size_t)n * row, paths = (size_t)n * m * row;
    printf("IG, noise, row sums\n");
    float *x = parity_random(total, 0, 1, 70), *base = parity_random(total, 0, 1, 71);
    float *alpha = malloc(sizeof(float) * m), *w = parity_random((size_t)m, 0, 0.4f, 72);
    for (int k = 0; k < m; k++) alpha[k] = ((float)k + 0.5f) / (float)m;
    float *xs = malloc(sizeof(float) * paths), *grads = parity_random(paths, -1, 1, 73);
    float *attr = parity_random(total, -1, 1, 74), *out = malloc(sizeof(float) * total);
    float *dx = upf(g, x, total), *db = upf(g, base, total);
    float *dal = upf(g, alpha, m), *dw = upf(g, w, m);
    float *dgr = upf(g, grads, paths), *dattr = upf(g, attr, total);
    float *dxs = parity_poisoned(g, paths), *dout = parity_poisoned(g, total);

    OK(c, c->ig_interp(c, xs, x, base, alpha, n, m, row));
    OK(g, g->ig_interp(g, dxs, dx, db, dal, n, m, row));
    parity_check(g, "ig_interp", xs, dxs, paths, 1e-7, 1e-6, 1e-12);
    for (int s = 0; s < 2; s++) { /* two chunks accumulate into attr */
        OK(c, c->ig_accumulate(c, attr, grads, w, n, m, row));
        OK(g, g->ig_accumulate(g, dattr, dgr, dw, n, m, row));
    }
    parity_check(g, "ig_accumulate", attr, dattr, total, 1e-7, 1e-6, 1e-12);
    OK(c, c->gaussian_noise(c, out, x, 0.25f, 5, 3, 7, n, row));
    OK(g, g->gaussian_noise(g, dout, dx, 0.25f, 5, 3, 7, n, row));
    parity_check(g, "gaussian_noise", out, dout, total, 1e-5, 0.0, 1e-10);

    const size_t rows[2] = {785, 100000}; /* a few and many strides per thread */
    for (int k = 0; k < 2; k++) {
        const int nr = 33;
        float *big = parity_random((size_t)nr * rows[k], -1, 1, 75 + (uint64_t)k);
        float *dbig = upf(g, big, nr * rows[k]);
        float *sums = malloc(sizeof(float) * nr), *dsums = parity_poisoned(g, (size_t)nr);
        OK(c, c->row_sum(c, sums, big, nr, rows[k]));
        OK(g, g->row_sum(g, dsums, dbig, nr, rows[k]));
        parity_check(g, k ? "row_sum (row 100000)" : "row_sum (row 785)", sums, dsums,
                     (size_t)nr, 1e-6, 1e-6, 1e-12);
        g->free(g, dbig), g->free(g, dsums);
        free(big), free(sums);
    }
    float *ptrs[] = {dx, db, dal, dw, dgr, dattr, dxs, dout};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) g->free(g, ptrs[i]);
    free(x), free(base), free(alpha), free(w), free(xs), free(grads), free(attr), free(out);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* the CPU oracle on OpenBLAS's kernels for this CPU, as foil runs */
    foil_backend *gpu = parity_gpu_or_skip();
    foil_err err;
    foil_backend *cpu = foil_backend_cpu_create(&err);
    if (!cpu) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    pair p = {cpu, gpu};
    test_softmax_xent_bad_label(p, 257, 10);
    test_softmax_xent_bad_label(p, 257, 1000);
    test_optimizers(p);
    test_gathers_and_ints(p);
    test_flag_nonfinite(p);
    test_attack(p);
    test_target_output(p);
    test_ig_noise_sums(p);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return tu_finish("test_gpu_elementwise");
}
