/* The CPU backend's convolutions (im2col + SGEMM, grouped images, OpenMP)
 * against the definition, written as direct loops in double: forward,
 * backward-data and backward-filter with the bias gradient, over shapes that
 * reach every edge of im2col/col2im: strides 1 to 3, kernels wider than the
 * padding, padding wider than the kernel, asymmetric 'same' padding, one
 * output column, rectangular kernels and images. The CPU backend is the
 * oracle for the GPU, so it gets an oracle of its own. */
#include <math.h>
#include <stdlib.h>

#include "foil/backend.h"
#include "foil/philox.h"
#include "testutil.h"

static float *randoms(size_t n, uint64_t stream) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n && x; i++) x[i] = 2.0f * foil_rng_uniform(7, stream, i) - 1.0f;
    return x;
}

/* Input pixel (iy, ix) under output (oy, ox) and tap (r, s), or -1. */
static long tap(const foil_conv_shape *cs, int oy, int ox, int r, int s) {
    int iy = oy * cs->stride_h - cs->pad_h + r, ix = ox * cs->stride_w - cs->pad_w + s;
    return iy < 0 || iy >= cs->h || ix < 0 || ix >= cs->w ? -1 : (long)iy * cs->w + ix;
}

/* The three directions by the definition, in double. */
static void reference(const foil_conv_shape *cs, const float *x, const float *w,
                      const float *bias, const float *dy, double *y, double *dx, double *dw,
                      double *db) {
    size_t img = (size_t)cs->c * cs->h * cs->w, ohw = (size_t)cs->oh * cs->ow;
    size_t crs = (size_t)cs->c * cs->r * cs->s;
    for (size_t i = 0; i < img * cs->n; i++) dx[i] = 0.0;
    for (size_t i = 0; i < crs * cs->k; i++) dw[i] = 0.0;
    for (int q = 0; q < cs->k; q++) db[q] = 0.0;
    for (int n = 0; n < cs->n; n++)
        for (int q = 0; q < cs->k; q++)
            for (int oy = 0; oy < cs->oh; oy++)
                for (int ox = 0; ox < cs->ow; ox++) {
                    size_t o = ((size_t)n * cs->k + q) * ohw + (size_t)oy * cs->ow + ox;
                    double acc = bias[q], g = dy[o];
                    db[q] += g;
                    for (int c = 0; c < cs->c; c++)
                        for (int r = 0; r < cs->r; r++)
                            for (int s = 0; s < cs->s; s++) {
                                long p = tap(cs, oy, ox, r, s);
                                if (p < 0) continue;
                                size_t xi = n * img + (size_t)c * cs->h * cs->w + (size_t)p;
                                size_t wi = (size_t)q * crs + ((size_t)c * cs->r + r) * cs->s + s;
                                acc += (double)w[wi] * x[xi];
                                dx[xi] += (double)w[wi] * g;
                                dw[wi] += (double)x[xi] * g;
                            }
                    y[o] = acc;
                }
}

/* Largest |got - want| relative to the largest |want| (at least 1). */
static double rel_err(const float *got, const double *want, size_t n) {
    double err = 0.0, scale = 1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - want[i]);
        err = d > err || isnan(d) ? d : err;
        scale = fabs(want[i]) > scale ? fabs(want[i]) : scale;
    }
    return err / scale;
}

static void check(foil_backend *b, const char *name, foil_conv_shape cs) {
    size_t nx = (size_t)cs.n * cs.c * cs.h * cs.w, ny = (size_t)cs.n * cs.k * cs.oh * cs.ow;
    size_t nw = (size_t)cs.k * cs.c * cs.r * cs.s;
    float *x = randoms(nx, 1), *w = randoms(nw, 2), *bias = randoms((size_t)cs.k, 3),
          *dy = randoms(ny, 4);
    float *y = malloc(sizeof(float) * ny), *dx = malloc(sizeof(float) * nx),
          *dw = malloc(sizeof(float) * nw), *db = malloc(sizeof(float) * (size_t)cs.k);
    double *ry = malloc(sizeof(double) * ny), *rdx = malloc(sizeof(double) * nx),
           *rdw = malloc(sizeof(double) * nw), *rdb = malloc(sizeof(double) * (size_t)cs.k);
    if (!x || !w || !bias || !dy || !y || !dx || !dw || !db || !ry || !rdx || !rdw || !rdb) {
        TU_CHECK(0, "%s: out of memory", name);
        return;
    }
    reference(&cs, x, w, bias, dy, ry, rdx, rdw, rdb);
    int rc = b->conv2d_fwd(b, y, x, w, bias, &cs) | b->conv2d_bwd_data(b, dx, dy, w, &cs) |
             b->conv2d_bwd_filter(b, dw, db, dy, x, &cs);
    double e[4] = {rel_err(y, ry, ny), rel_err(dx, rdx, nx), rel_err(dw, rdw, nw),
                   rel_err(db, rdb, (size_t)cs.k)};
    printf("%-26s fwd %.1e  bwd-data %.1e  bwd-filter %.1e  bias %.1e\n", name, e[0], e[1],
           e[2], e[3]);
    TU_CHECK(rc == 0, "%s: %s", name, b->err.msg);
    for (int i = 0; i < 4; i++)
        TU_CHECK(e[i] <= 1e-5, "%s: direction %d off by %g (relative)", name, i, e[i]);
    free(x), free(w), free(bias), free(dy), free(y), free(dx), free(dw), free(db);
    free(ry), free(rdx), free(rdw), free(rdb);
}

/* Output size for explicit padding pad_h/pad_w before and `extra` more after. */
static foil_conv_shape shape(int n, int c, int h, int w, int k, int r, int s, int sh, int sw,
                             int ph, int pw, int extra) {
    foil_conv_shape cs = {n, c, h, w, k, r, s, sh, sw, ph, pw, 0, 0};
    cs.oh = (h + 2 * ph + extra - r) / sh + 1;
    cs.ow = (w + 2 * pw + extra - s) / sw + 1;
    return cs;
}

int main(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    if (!b) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    check(b, "madry conv2 (5x5 same)", shape(3, 4, 14, 14, 6, 5, 5, 1, 1, 2, 2, 0));
    check(b, "stride 2, 8x8 asym same", shape(3, 2, 28, 28, 4, 8, 8, 2, 2, 3, 3, 1));
    check(b, "stride 2 valid, 6x6", shape(2, 5, 14, 14, 3, 6, 6, 2, 2, 0, 0, 0));
    check(b, "one output column", shape(2, 3, 5, 5, 4, 5, 5, 1, 1, 0, 0, 0));
    check(b, "stride 3, pad > kernel", shape(2, 2, 9, 11, 3, 2, 2, 3, 3, 3, 3, 0));
    check(b, "rect kernel, strides 1/2", shape(2, 3, 10, 16, 2, 3, 5, 1, 2, 1, 2, 1));
    check(b, "1x1 kernel, stride 2", shape(2, 4, 7, 9, 3, 1, 1, 2, 2, 0, 0, 0));
    check(b, "kernel wider than image", shape(2, 1, 4, 3, 2, 5, 5, 1, 1, 2, 2, 0));
    /* 26 images per group here (host/backend/cpu/backend_cpu_layers.c: 16 MB of columns) */
    check(b, "three image groups", shape(60, 32, 14, 14, 4, 5, 5, 1, 1, 2, 2, 0));
    b->destroy(b);
    return tu_finish("test_conv");
}
