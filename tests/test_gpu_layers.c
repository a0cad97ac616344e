/* CPU <-> GPU parity of the layer ops (skipped without a GPU): convolutions
 * (forward, backward-data, backward-filter with bias), max-pool (output,
 * argmax, backward) and dense layers, on the shapes of the Madry and
 * CleverHans MNIST models plus asymmetric 'same', explicit and cropped
 * padding. Each GPU output is poisoned with NaN first, so an element an op
 * forgets fails. `test_gpu_layers WORD` runs only the cases whose name
 * contains WORD.
 *
 * Tolerances, inputs in [0, 1], weights U(+-1/sqrt(fan_in)), output
 * gradients in [-1, 1]:
 *   fp32 (TF32 off)
 *     - forward and backward-data (sums of up to 3136 products, values O(1)):
 *       atol 1e-4, rtol 1e-3, NMSE 1e-9;
 *     - backward-filter and bias gradients (sums over the batch and every
 *       output pixel, up to 6272 terms, values O(10)): atol 1e-3, rtol 1e-2,
 *       NMSE 1e-8;
 *     - max-pool: exact (a selection, and the GPU gathers its gradient sums
 *       in the order the CPU scatters them); argmax exact.
 *     Backward ops must also be deterministic: two runs agree bit for bit.
 *   TF32 (set_precision 1: products of 10-bit-mantissa operands, relative
 *     error ~5e-4 each): rtol 1e-2, NMSE 1e-5 and atol 1e-2 x the RMS of the
 *     reference (the error of a sum scales with its typical size). TF32 must
 *     also really be TF32: a convolution and a dense layer differ bitwise
 *     from the same op in fp32 mode (the emulator rounds operands to TF32
 *     in TF32 mode, so this holds there too). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"

typedef struct tol {
    double atol, rtol, nmse;
} tol;

static const tol TOL_FWD = {1e-4, 1e-3, 1e-9};
static const tol TOL_BWD_W = {1e-3, 1e-2, 1e-8};
static const tol TOL_EXACT = {0, 0, 0};

typedef struct env {
    foil_backend *cpu, *gpu;
    const char *filter; /* run only cases whose name contains it (NULL: all) */
    int tf32;           /* the GPU's precision mode: selects the tolerances */
} env;

static int selected(const env *e, const char *name) {
    return !e->filter || strstr(name, e->filter) != NULL;
}

static void check(const env *e, const char *name, const char *what, const float *cpu,
                  const float *gpu, size_t n, tol t) {
    char label[96];
    snprintf(label, sizeof label, "%s %s", name, what);
    if (e->tf32) {
        double ss = 0;
        for (size_t i = 0; i < n; i++) ss += (double)cpu[i] * cpu[i];
        t = (tol){1e-2 * sqrt(ss / (double)(n ? n : 1)), 1e-2, 1e-5};
    }
    parity_check(e->gpu, label, cpu, gpu, n, t.atol, t.rtol, t.nmse);
}

/* Two GPU results must be identical (deterministic algorithms and kernels). */
static void check_same(const env *e, const char *name, const char *what, const float *a,
                       const float *b, size_t n) {
    float *ha = malloc(sizeof(float) * n), *hb = malloc(sizeof(float) * n);
    int ok = e->gpu->download(e->gpu, ha, a, sizeof(float) * n) == 0 &&
             e->gpu->download(e->gpu, hb, b, sizeof(float) * n) == 0;
    TU_CHECK(ok, "%s %s: download: %s", name, what, e->gpu->err.msg);
    if (ok) {
        int same = memcmp(ha, hb, sizeof(float) * n) == 0;
        char label[96];
        snprintf(label, sizeof label, "%s %s", name, what);
        printf("  %-28s run twice: %s\n", label, same ? "identical ok" : "DIFFERENT FAIL");
        TU_CHECK(same, "%s %s: two runs differ (not deterministic)", name, what);
    }
    free(ha);
    free(hb);
}

static float *host_floats(size_t n) { return malloc(sizeof(float) * (n ? n : 1)); }

/* ---- shapes ----------------------------------------------------------------- */

/* TensorFlow's 'same', as host/nn/model.c: any odd padding pixel goes bottom/right */
static foil_conv_shape conv_same(int n, int c, int h, int w, int k, int r, int s, int sh,
                                 int sw) {
    foil_conv_shape cs = {n, c, h, w, k, r, s, sh, sw, 0, 0, 0, 0};
    cs.oh = (h + sh - 1) / sh;
    cs.ow = (w + sw - 1) / sw;
    int th = (cs.oh - 1) * sh + r - h, tw = (cs.ow - 1) * sw + s - w;
    cs.pad_h = th > 0 ? th / 2 : 0;
    cs.pad_w = tw > 0 ? tw / 2 : 0;
    return cs;
}

static foil_conv_shape conv_explicit(int n, int c, int h, int w, int k, int r, int s,
                                     int stride, int pad) {
    foil_conv_shape cs = {n, c, h, w, k, r, s, stride, stride, pad, pad, 0, 0};
    cs.oh = (h + 2 * pad - r) / stride + 1;
    cs.ow = (w + 2 * pad - s) / stride + 1;
    return cs;
}

/* ---- convolution ------------------------------------------------------------ */

typedef struct conv_data {
    size_t nin, nw, nout;
    float *x, *w, *bias, *dy;     /* host inputs */
    float *y, *dx, *dw, *db;      /* CPU results */
    float *gx, *gw, *gbias, *gdy; /* GPU copies of the inputs */
} conv_data;

static void conv_data_init(conv_data *d, const env *e, const foil_conv_shape *cs) {
    d->nin = (size_t)cs->n * cs->c * cs->h * cs->w;
    d->nw = (size_t)cs->k * cs->c * cs->r * cs->s;
    d->nout = (size_t)cs->n * cs->k * cs->oh * cs->ow;
    float bound = 1.0f / sqrtf((float)(cs->c * cs->r * cs->s));
    d->x = parity_random(d->nin, 0.0f, 1.0f, 1);
    d->w = parity_random(d->nw, -bound, bound, 2);
    d->bias = parity_random((size_t)cs->k, -0.1f, 0.1f, 3);
    d->dy = parity_random(d->nout, -1.0f, 1.0f, 4);
    d->y = host_floats(d->nout);
    d->dx = host_floats(d->nin);
    d->dw = host_floats(d->nw);
    d->db = host_floats((size_t)cs->k);
    d->gx = parity_upload(e->gpu, d->x, sizeof(float) * d->nin);
    d->gw = parity_upload(e->gpu, d->w, sizeof(float) * d->nw);
    d->gbias = parity_upload(e->gpu, d->bias, sizeof(float) * (size_t)cs->k);
    d->gdy = parity_upload(e->gpu, d->dy, sizeof(float) * d->nout);
}

static void conv_data_free(conv_data *d, const env *e) {
    float *host[] = {d->x, d->w, d->bias, d->dy, d->y, d->dx, d->dw, d->db};
    float *dev[] = {d->gx, d->gw, d->gbias, d->gdy};
    for (size_t i = 0; i < sizeof host / sizeof *host; i++) free(host[i]);
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) e->gpu->free(e->gpu, dev[i]);
}

static void test_conv(const env *e, const char *name, foil_conv_shape cs, int with_bias) {
    if (!selected(e, name)) return;
    printf("%s: n %d, %d->%d, %dx%d, kernel %dx%d, stride %d/%d, pad %d/%d, out %dx%d%s\n", name,
           cs.n, cs.c, cs.k, cs.h, cs.w, cs.r, cs.s, cs.stride_h, cs.stride_w, cs.pad_h,
           cs.pad_w, cs.oh, cs.ow, with_bias ? "" : ", no bias");
    conv_data d;
    conv_data_init(&d, e, &cs);
    foil_backend *c = e->cpu, *g = e->gpu;
    const float *bias = with_bias ? d.bias : NULL, *gbias = with_bias ? d.gbias : NULL;
    TU_CHECK(c->conv2d_fwd(c, d.y, d.x, d.w, bias, &cs) == 0 &&
                 c->conv2d_bwd_data(c, d.dx, d.dy, d.w, &cs) == 0 &&
                 c->conv2d_bwd_filter(c, d.dw, with_bias ? d.db : NULL, d.dy, d.x, &cs) == 0,
             "%s on the CPU: %s", name, c->err.msg);

    float *y = parity_poisoned(g, d.nout), *dx = parity_poisoned(g, d.nin);
    float *dw = parity_poisoned(g, d.nw), *db = parity_poisoned(g, (size_t)cs.k);
    float *dx2 = parity_poisoned(g, d.nin), *dw2 = parity_poisoned(g, d.nw);
    int rc = g->conv2d_fwd(g, y, d.gx, d.gw, gbias, &cs);
    TU_CHECK(rc == 0, "%s fwd: %s", name, g->err.msg);
    if (rc == 0) check(e, name, "fwd", d.y, y, d.nout, TOL_FWD);
    rc = g->conv2d_bwd_data(g, dx, d.gdy, d.gw, &cs);
    TU_CHECK(rc == 0, "%s bwd_data: %s", name, g->err.msg);
    if (rc == 0) check(e, name, "bwd_data", d.dx, dx, d.nin, TOL_FWD);
    rc = g->conv2d_bwd_filter(g, dw, with_bias ? db : NULL, d.gdy, d.gx, &cs);
    TU_CHECK(rc == 0, "%s bwd_filter: %s", name, g->err.msg);
    if (rc == 0) check(e, name, "bwd_filter dw", d.dw, dw, d.nw, TOL_BWD_W);
    if (rc == 0 && with_bias) check(e, name, "bwd_filter dbias", d.db, db, (size_t)cs.k, TOL_BWD_W);
    if (!e->tf32 && rc == 0 && g->conv2d_bwd_data(g, dx2, d.gdy, d.gw, &cs) == 0 &&
        g->conv2d_bwd_filter(g, dw2, NULL, d.gdy, d.gx, &cs) == 0) {
        check_same(e, name, "bwd_data", dx, dx2, d.nin);
        check_same(e, name, "bwd_filter dw", dw, dw2, d.nw);
    }
    float *outs[] = {y, dx, dw, db, dx2, dw2};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++) g->free(g, outs[i]);
    conv_data_free(&d, e);
}

/* ---- max-pool --------------------------------------------------------------- */

static void test_pool(const env *e, const char *name, foil_pool_shape ps, int ties) {
    if (!selected(e, name)) return;
    printf("%s: n %d, c %d, %dx%d, window %d, stride %d, out %dx%d%s\n", name, ps.n, ps.c, ps.h,
           ps.w, ps.size, ps.stride, ps.oh, ps.ow, ties ? ", many ties" : "");
    foil_backend *c = e->cpu, *g = e->gpu;
    size_t nin = (size_t)ps.n * ps.c * ps.h * ps.w, nout = (size_t)ps.n * ps.c * ps.oh * ps.ow;
    float *x = parity_random(nin, 0.0f, 1.0f, 5), *dy = parity_random(nout, -1.0f, 1.0f, 6);
    if (ties) /* four levels: most windows hold several maxima, the first must win */
        for (size_t i = 0; i < nin; i++) x[i] = floorf(x[i] * 4.0f) / 4.0f;
    float *y = host_floats(nout), *dx = host_floats(nin);
    int32_t *am = malloc(sizeof(int32_t) * nout);
    TU_CHECK(c->maxpool_fwd(c, y, am, x, &ps) == 0 && c->maxpool_bwd(c, dx, dy, am, &ps) == 0,
             "%s on the CPU: %s", name, c->err.msg);

    float *gx = parity_upload(g, x, sizeof(float) * nin);
    float *gdy = parity_upload(g, dy, sizeof(float) * nout);
    float *gy = parity_poisoned(g, nout), *gdx = parity_poisoned(g, nin);
    /* NaN's bit pattern (0x7fc00000) is no valid index either */
    int32_t *gam = (int32_t *)parity_poisoned(g, nout);
    int rc = g->maxpool_fwd(g, gy, gam, gx, &ps);
    TU_CHECK(rc == 0, "%s fwd: %s", name, g->err.msg);
    if (rc == 0) {
        check(e, name, "fwd", y, gy, nout, TOL_EXACT);
        char label[96];
        snprintf(label, sizeof label, "%s argmax", name);
        parity_check_i32(g, label, am, gam, nout);
        rc = g->maxpool_bwd(g, gdx, gdy, gam, &ps);
        TU_CHECK(rc == 0, "%s bwd: %s", name, g->err.msg);
        if (rc == 0) check(e, name, "bwd", dx, gdx, nin, TOL_EXACT);
    }
    void *dev[] = {gx, gdy, gy, gdx, gam};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) g->free(g, dev[i]);
    free(x), free(dy), free(y), free(dx), free(am);
}

static foil_pool_shape pool(int n, int c, int h, int w, int size, int stride) {
    foil_pool_shape ps = {n, c, h, w, size, stride, (h - size) / stride + 1,
                          (w - size) / stride + 1};
    return ps;
}

/* ---- dense ------------------------------------------------------------------ */

static void test_dense(const env *e, int n, int in_dim, int out_dim, int with_bias) {
    char name[64];
    snprintf(name, sizeof name, "dense %d->%d n=%d%s", in_dim, out_dim, n,
             with_bias ? "" : " nobias");
    if (!selected(e, name)) return;
    printf("%s\n", name);
    foil_backend *c = e->cpu, *g = e->gpu;
    size_t nin = (size_t)n * in_dim, nw = (size_t)in_dim * out_dim, nout = (size_t)n * out_dim;
    float bound = 1.0f / sqrtf((float)in_dim);
    float *x = parity_random(nin, 0.0f, 1.0f, 7), *w = parity_random(nw, -bound, bound, 8);
    float *bias = parity_random((size_t)out_dim, -0.1f, 0.1f, 9);
    float *dy = parity_random(nout, -1.0f, 1.0f, 10);
    float *y = host_floats(nout), *dx = host_floats(nin), *dw = host_floats(nw);
    float *db = host_floats((size_t)out_dim);
    TU_CHECK(c->dense_fwd(c, y, x, w, with_bias ? bias : NULL, n, in_dim, out_dim) == 0 &&
                 c->dense_bwd_data(c, dx, dy, w, n, in_dim, out_dim) == 0 &&
                 c->dense_bwd_filter(c, dw, db, dy, x, n, in_dim, out_dim) == 0,
             "%s on the CPU: %s", name, c->err.msg);

    float *gx = parity_upload(g, x, sizeof(float) * nin);
    float *gw = parity_upload(g, w, sizeof(float) * nw);
    float *gbias = parity_upload(g, bias, sizeof(float) * (size_t)out_dim);
    float *gdy = parity_upload(g, dy, sizeof(float) * nout);
    float *gy = parity_poisoned(g, nout), *gdx = parity_poisoned(g, nin);
    float *gdw = parity_poisoned(g, nw), *gdb = parity_poisoned(g, (size_t)out_dim);
    int rc = g->dense_fwd(g, gy, gx, gw, with_bias ? gbias : NULL, n, in_dim, out_dim);
    TU_CHECK(rc == 0, "%s fwd: %s", name, g->err.msg);
    if (rc == 0) check(e, name, "fwd", y, gy, nout, TOL_FWD);
    rc = g->dense_bwd_data(g, gdx, gdy, gw, n, in_dim, out_dim);
    TU_CHECK(rc == 0, "%s bwd_data: %s", name, g->err.msg);
    if (rc == 0) check(e, name, "bwd_data", dx, gdx, nin, TOL_FWD);
    rc = g->dense_bwd_filter(g, gdw, gdb, gdy, gx, n, in_dim, out_dim);
    TU_CHECK(rc == 0, "%s bwd_filter: %s", name, g->err.msg);
    if (rc == 0) {
        check(e, name, "bwd_filter dw", dw, gdw, nw, TOL_BWD_W);
        check(e, name, "bwd_filter dbias", db, gdb, (size_t)out_dim, TOL_BWD_W);
    }
    float *dev[] = {gx, gw, gbias, gdy, gy, gdx, gdw, gdb};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) g->free(g, dev[i]);
    float *host[] = {x, w, bias, dy, y, dx, dw, db};
    for (size_t i = 0; i < sizeof host / sizeof *host; i++) free(host[i]);
}

/* The same conv forward and dense forward in fp32 mode and in TF32 mode:
 * TF32 that silently ran the FMA path would give the fp32 bits. Returns to
 * fp32 mode. */
static void test_tf32_used(const env *e) {
    if (!selected(e, "tf32_used")) return;
    foil_backend *g = e->gpu;
    foil_conv_shape cs = conv_same(8, 32, 14, 14, 64, 5, 5, 1, 1);
    const int n = 128, in_dim = 3136, out_dim = 1024;
    size_t nx = (size_t)cs.n * cs.c * cs.h * cs.w, nw = (size_t)cs.k * cs.c * cs.r * cs.s;
    size_t ny = (size_t)cs.n * cs.k * cs.oh * cs.ow, nd = (size_t)n * out_dim;
    float *x = parity_random(nx, 0, 1, 90), *w = parity_random(nw, -0.05f, 0.05f, 91);
    float *dx = parity_random((size_t)n * in_dim, 0, 1, 92);
    float *dw = parity_random((size_t)out_dim * in_dim, -0.02f, 0.02f, 93);
    float *gx = parity_upload(g, x, sizeof(float) * nx);
    float *gw = parity_upload(g, w, sizeof(float) * nw);
    float *gdx = parity_upload(g, dx, sizeof(float) * (size_t)n * in_dim);
    float *gdw = parity_upload(g, dw, sizeof(float) * (size_t)out_dim * in_dim);
    float *out[2][2]; /* [mode][conv, dense], host */
    for (int tf = 0; tf < 2; tf++) {
        TU_CHECK(g->set_precision(g, tf) == 0, "set_precision(%d): %s", tf, g->err.msg);
        float *gy = parity_poisoned(g, ny), *gd = parity_poisoned(g, nd);
        TU_CHECK(g->conv2d_fwd(g, gy, gx, gw, NULL, &cs) == 0 &&
                     g->dense_fwd(g, gd, gdx, gdw, NULL, n, in_dim, out_dim) == 0,
                 "tf32 %d: %s", tf, g->err.msg);
        out[tf][0] = host_floats(ny), out[tf][1] = host_floats(nd);
        TU_CHECK(g->download(g, out[tf][0], gy, sizeof(float) * ny) == 0 &&
                     g->download(g, out[tf][1], gd, sizeof(float) * nd) == 0, "download");
        g->free(g, gy), g->free(g, gd);
    }
    TU_CHECK(g->set_precision(g, 0) == 0, "back to fp32: %s", g->err.msg);
    const char *what[2] = {"conv2d_fwd", "dense_fwd"};
    size_t len[2] = {ny, nd};
    for (int k = 0; k < 2; k++) {
        size_t differ = 0;
        for (size_t i = 0; i < len[k]; i++) differ += memcmp(&out[0][k][i], &out[1][k][i], 4) != 0;
        printf("  %-28s TF32 vs fp32: %zu of %zu outputs differ in their bits\n", what[k], differ,
               len[k]);
        TU_CHECK(differ > len[k] / 10, "%s in TF32 mode gives the fp32 result (%zu of %zu "
                 "differ): TF32 is not in use", what[k], differ, len[k]);
        free(out[0][k]), free(out[1][k]);
    }
    g->free(g, gx), g->free(g, gw), g->free(g, gdx), g->free(g, gdw);
    free(x), free(w), free(dx), free(dw);
}

/* ---- groups ----------------------------------------------------------------- */

static void conv_cases(const env *e, int all) {
    test_conv(e, "madry_conv1", conv_same(8, 1, 28, 28, 32, 5, 5, 1, 1), 1);
    test_conv(e, "madry_conv2", conv_same(8, 32, 14, 14, 64, 5, 5, 1, 1), 1);
    if (all) {
        test_conv(e, "cleverhans_conv1", conv_same(8, 1, 28, 28, 64, 8, 8, 2, 2), 1);
        test_conv(e, "cleverhans_conv2", conv_explicit(8, 64, 14, 14, 128, 6, 6, 2, 0), 1);
        test_conv(e, "asym_7x7_k4s2", conv_same(4, 3, 7, 7, 5, 4, 4, 2, 2), 1);
    }
    /* 'same' with a 4x4 kernel at stride 1: 1 row of zeros on top, 2 at the bottom */
    test_conv(e, "asym_28x28_k4s1", conv_same(4, 8, 28, 28, 16, 4, 4, 1, 1), 1);
    if (!all) return;
    /* symmetric in h, asymmetric in w; a 3x5 kernel with strides 1/2 */
    test_conv(e, "asym_w_only_10x16", conv_same(3, 2, 10, 16, 4, 3, 5, 1, 2), 0);
    test_conv(e, "explicit_pad2_13x11", conv_explicit(5, 4, 13, 11, 6, 5, 5, 2, 2), 1);
    /* an output shorter than the input allows: rows 7 and 8 are never read */
    foil_conv_shape crop = {2, 3, 9, 9, 4, 3, 3, 2, 2, 0, 0, 3, 4};
    test_conv(e, "cropped_9x9_oh3", crop, 1);
}

static void dense_cases(const env *e, int all) {
    int ns[] = {1, 7, 128};
    for (int i = 0; i < 3; i++) {
        if (!all && ns[i] != 128) continue;
        test_dense(e, ns[i], 3136, 1024, 1);
        test_dense(e, ns[i], 1024, 10, 1);
    }
    if (all) test_dense(e, 7, 1024, 10, 0);
}

/* Impossible or invalid shapes: -1 and a message, no crash, and the backend
 * stays usable (the cases after this one run on it). The invalid ones are
 * refused in front of both backends (host/backend/check.c): the CPU gives
 * the same message; the 2^42-element input is cuDNN's limit alone. */
static void test_errors(const env *e) {
    if (!selected(e, "errors")) return;
    printf("errors\n");
    foil_backend *be[2] = {e->gpu, e->cpu};
    float *buf[2];
    int32_t *ibuf[2];
    for (int k = 0; k < 2; k++)
        buf[k] = parity_poisoned(be[k], 64), ibuf[k] = (int32_t *)parity_poisoned(be[k], 64);
    foil_conv_shape huge = conv_same(1 << 20, 64, 256, 256, 64, 3, 3, 1, 1);
    foil_conv_shape bad = conv_same(2, 1, 8, 8, 2, 3, 3, 1, 1);
    bad.stride_w = 0;
    foil_pool_shape big_window = {1, 1, 4, 4, 5, 1, 1, 1};
    /* one at a time, so that each message is its own */
    for (int i = 0; i < 4; i++) {
        static const char *const WHAT[] = {"conv2d_fwd, 2^42-element input",
                                           "conv2d_bwd_filter, stride 0",
                                           "maxpool_fwd, window > input", "dense_fwd, n = -1"};
        char msg[2][sizeof e->gpu->err.msg];
        for (int k = 0; k < (i == 0 ? 1 : 2); k++) {
            foil_backend *g = be[k];
            float *f = buf[k];
            g->err.msg[0] = 0;
            int rc = i == 0   ? g->conv2d_fwd(g, f, f, f, NULL, &huge)
                     : i == 1 ? g->conv2d_bwd_filter(g, f, NULL, f, f, &bad)
                     : i == 2 ? g->maxpool_fwd(g, f, ibuf[k], f, &big_window)
                              : g->dense_fwd(g, f, f, f, NULL, -1, 4, 4);
            printf("  %-4s %-34s -> %d: %s\n", g->name, WHAT[i], rc, g->err.msg);
            TU_CHECK(rc == -1 && g->err.msg[0], "%s on %s: returned %d, expected -1 and a message",
                     WHAT[i], g->name, rc);
            snprintf(msg[k], sizeof msg[k], "%s", g->err.msg);
        }
        TU_CHECK(i == 0 || strcmp(msg[0], msg[1]) == 0, "%s: the backends differ ('%s' / '%s')",
                 WHAT[i], msg[0], msg[1]);
    }
    for (int k = 0; k < 2; k++) be[k]->free(be[k], buf[k]), be[k]->free(be[k], ibuf[k]);
}

int main(int argc, char **argv) {
    foil_cpu_restart(argv); /* the CPU oracle on OpenBLAS's kernels for this CPU, as foil runs */
    foil_backend *gpu = parity_gpu_or_skip();
    foil_err err;
    foil_backend *cpu = foil_backend_cpu_create(&err);
    if (!cpu) {
        fprintf(stderr, "CPU backend: %s\n", err.msg);
        return 1;
    }
    env e = {cpu, gpu, argc > 1 ? argv[1] : NULL, 0};

    printf("== fp32 (TF32 off)\n");
    conv_cases(&e, 1);
    test_pool(&e, "pool_2x2s2_28x28", pool(8, 32, 28, 28, 2, 2), 1);
    test_pool(&e, "pool_3x3s2_13x13", pool(4, 16, 13, 13, 3, 2), 1);
    test_pool(&e, "pool_2x2s2_7x7", pool(4, 8, 7, 7, 2, 2), 0);
    dense_cases(&e, 1);
    test_errors(&e);

    printf("== TF32 (rtol 1e-2, NMSE 1e-5, atol 1e-2 x RMS of the reference)\n");
    TU_CHECK(gpu->set_precision(gpu, 1) == 0, "set_precision(1): %s", gpu->err.msg);
    e.tf32 = 1;
    conv_cases(&e, 0);
    dense_cases(&e, 0);
    test_tf32_used(&e);

    printf("== fp32 again: plans made under TF32 must be re-chosen\n");
    TU_CHECK(gpu->set_precision(gpu, 0) == 0, "set_precision(0): %s", gpu->err.msg);
    e.tf32 = 0;
    conv_cases(&e, 0);
    test_dense(&e, 128, 3136, 1024, 1);

    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return tu_finish("test_gpu_layers");
}
