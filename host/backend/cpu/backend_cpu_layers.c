/* CPU reference: convolution (im2col + sgemm), max-pool and dense layers. */
#include <cblas.h>
#include <float.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend_cpu.h"

/* Convolutions work on groups of images: the group's im2col columns sit
 * side by side in col (C*R*S, G*OH*OW) and the outputs in tmp (K,
 * G*OH*OW), one sgemm per group. The forward pass and the data gradient
 * keep col within LOCAL_FLOATS (1 MB, in the core's cache) and, with more
 * than one thread, give each thread its own groups (a single-threaded sgemm
 * each: OpenBLAS runs one thread inside a parallel region); on one core the
 * small groups are faster too (1.4x on LIME's forwards). Every output
 * element is the same dot product whatever the grouping, so the bits do not
 * depend on it. The filter gradient sums over the images: its groups stay
 * large (SHARED_FLOATS, 16 MB, threaded sgemm), as the grouping sets the
 * order of that sum. */
#define LOCAL_FLOATS ((size_t)1 << 18)
#define SHARED_FLOATS ((size_t)4 << 20)

typedef struct conv_group {
    int crs, ohw, size;  /* C*R*S, OH*OW, images per group */
    int slots;           /* groups in flight (one per thread) */
    size_t stride;       /* floats of a slot's workspace */
    float *ws;           /* slot t: col at ws + t * stride, tmp after it */
} conv_group;

static int max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

static int group_init(foil_backend *b, conv_group *g, const foil_conv_shape *cs, size_t limit,
                      int parallel) {
    g->crs = cs->c * cs->r * cs->s;
    g->ohw = cs->oh * cs->ow;
    size_t per_image = (size_t)g->crs * g->ohw;
    g->size = per_image >= limit ? 1 : (int)(limit / per_image);
    if (g->size > cs->n) g->size = cs->n;
    const int groups = (cs->n + g->size - 1) / g->size, threads = parallel ? max_threads() : 1;
    g->slots = threads < groups ? threads : groups;
    size_t cols = (size_t)g->size * g->ohw;
    g->stride = cols * (size_t)(g->crs + cs->k);
    g->ws = cpu_workspace(b, g->stride * (size_t)g->slots);
    return g->ws ? 0 : -1;
}

static float *group_col(const conv_group *g, int slot) { return g->ws + (size_t)slot * g->stride; }
static float *group_tmp(const conv_group *g, int slot) {
    return group_col(g, slot) + (size_t)g->size * g->ohw * g->crs;
}

static int thread_slot(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* The outputs ox in [*lo, *hi) whose tap ix = ox * stride - pad + s falls
 * inside a row of w pixels (the others read padding). */
static void valid_range(int ow, int w, int stride, int pad, int s, int *lo, int *hi) {
    int first = pad - s; /* smallest ox * stride that lands on pixel 0 */
    int l = first <= 0 ? 0 : (first + stride - 1) / stride;
    int last = w - 1 + pad - s; /* largest ox * stride that lands on pixel w - 1 */
    int h = last < 0 ? 0 : last / stride + 1;
    *lo = l < ow ? l : ow;
    *hi = h < *lo ? *lo : (h < ow ? h : ow);
}

/* Columns [ld offset, +OH*OW) of col (C*R*S, ld) from one image (C, H, W);
 * out-of-image taps are zero. Each output row is three runs: padding, the
 * pixels, padding (no test per pixel). */
static void im2col(float *col, size_t ld, const float *img, const foil_conv_shape *cs) {
    const int sw = cs->stride_w;
    for (int c = 0; c < cs->c; c++)
        for (int r = 0; r < cs->r; r++)
            for (int s = 0; s < cs->s; s++) {
                float *row = col + (size_t)((c * cs->r + r) * cs->s + s) * ld;
                int lo, hi;
                valid_range(cs->ow, cs->w, sw, cs->pad_w, s, &lo, &hi);
                for (int oy = 0; oy < cs->oh; oy++) {
                    int iy = oy * cs->stride_h - cs->pad_h + r;
                    float *dst = row + oy * cs->ow;
                    if (iy < 0 || iy >= cs->h) {
                        memset(dst, 0, sizeof(float) * (size_t)cs->ow);
                        continue;
                    }
                    /* pixel ix of ox is src[ox * sw + off] */
                    const float *src = img + ((size_t)c * cs->h + iy) * cs->w;
                    const int off = s - cs->pad_w;
                    for (int ox = 0; ox < lo; ox++) dst[ox] = 0.0f;
                    if (sw == 1)
                        for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox + off];
                    else
                        for (int ox = lo; ox < hi; ox++) dst[ox] = src[ox * sw + off];
                    for (int ox = hi; ox < cs->ow; ox++) dst[ox] = 0.0f;
                }
            }
}

/* The adjoint of im2col: adds columns of col (C*R*S, ld) into the image. */
static void col2im_add(float *img, const float *col, size_t ld, const foil_conv_shape *cs) {
    const int sw = cs->stride_w;
    for (int c = 0; c < cs->c; c++)
        for (int r = 0; r < cs->r; r++)
            for (int s = 0; s < cs->s; s++) {
                const float *row = col + (size_t)((c * cs->r + r) * cs->s + s) * ld;
                int lo, hi;
                valid_range(cs->ow, cs->w, sw, cs->pad_w, s, &lo, &hi);
                for (int oy = 0; oy < cs->oh; oy++) {
                    int iy = oy * cs->stride_h - cs->pad_h + r;
                    if (iy < 0 || iy >= cs->h) continue;
                    float *dst = img + ((size_t)c * cs->h + iy) * cs->w;
                    const float *src = row + oy * cs->ow;
                    const int off = s - cs->pad_w;
                    for (int ox = lo; ox < hi; ox++) dst[ox * sw + off] += src[ox];
                }
            }
}

/* tmp (K, gn*OHW) <-> the group's NCHW tensor (gn, K, OH*OW) */
static void nchw_to_tmp(float *tmp, const float *x, int gn, int k, int ohw) {
    size_t ld = (size_t)gn * ohw;
    FOIL_PAR_FOR(gn > 1)
    for (int i = 0; i < gn; i++)
        for (int q = 0; q < k; q++)
            memcpy(tmp + q * ld + (size_t)i * ohw, x + ((size_t)i * k + q) * ohw,
                   sizeof(float) * (size_t)ohw);
}

/* One group of the forward pass: images [g0, g0 + gn) in slot's workspace. */
static void fwd_group(const conv_group *g, int slot, float *out, const float *in, const float *w,
                      const float *bias, const foil_conv_shape *cs, int g0, int gn) {
    const size_t img = (size_t)cs->c * cs->h * cs->w, ld = (size_t)gn * g->ohw;
    float *col = group_col(g, slot), *tmp = group_tmp(g, slot);
    FOIL_PAR_FOR(gn > 1 && g->slots == 1)
    for (int i = 0; i < gn; i++) im2col(col + (size_t)i * g->ohw, ld, in + (g0 + i) * img, cs);
    /* tmp (K, L) = W (K, CRS) @ col (CRS, L) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cs->k, (int)ld, g->crs, 1.0f, w, g->crs,
                col, (int)ld, 0.0f, tmp, (int)ld);
    FOIL_PAR_FOR(gn > 1 && g->slots == 1)
    for (int i = 0; i < gn; i++)
        for (int q = 0; q < cs->k; q++) {
            float *o = out + ((size_t)(g0 + i) * cs->k + q) * g->ohw;
            const float *t = tmp + q * ld + (size_t)i * g->ohw;
            float bq = bias ? bias[q] : 0.0f;
            for (int j = 0; j < g->ohw; j++) o[j] = t[j] + bq;
        }
}

int cpu_conv2d_fwd(foil_backend *b, float *out, const float *in, const float *w,
                   const float *bias, const foil_conv_shape *cs) {
    conv_group g;
    if (group_init(b, &g, cs, LOCAL_FLOATS, 1)) return -1;
    const int groups = (cs->n + g.size - 1) / g.size;
    FOIL_PRAGMA(omp parallel for schedule(static) num_threads(g.slots) if (g.slots > 1))
    for (int k = 0; k < groups; k++) {
        const int g0 = k * g.size, gn = cs->n - g0 < g.size ? cs->n - g0 : g.size;
        fwd_group(&g, g.slots > 1 ? thread_slot() : 0, out, in, w, bias, cs, g0, gn);
    }
    return 0;
}

/* One group of the data gradient: images [g0, g0 + gn) in slot's workspace. */
static void bwd_data_group(const conv_group *g, int slot, float *din, const float *dout,
                           const float *w, const foil_conv_shape *cs, int g0, int gn) {
    const size_t img = (size_t)cs->c * cs->h * cs->w, ld = (size_t)gn * g->ohw;
    float *col = group_col(g, slot), *tmp = group_tmp(g, slot);
    nchw_to_tmp(tmp, dout + (size_t)g0 * cs->k * g->ohw, gn, cs->k, g->ohw);
    /* col (CRS, L) = W^T (CRS, K) @ tmp (K, L) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, g->crs, (int)ld, cs->k, 1.0f, w, g->crs,
                tmp, (int)ld, 0.0f, col, (int)ld);
    FOIL_PAR_FOR(gn > 1 && g->slots == 1)
    for (int i = 0; i < gn; i++) col2im_add(din + (g0 + i) * img, col + (size_t)i * g->ohw, ld, cs);
}

int cpu_conv2d_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                        const foil_conv_shape *cs) {
    conv_group g;
    if (group_init(b, &g, cs, LOCAL_FLOATS, 1)) return -1;
    const size_t img = (size_t)cs->c * cs->h * cs->w;
    memset(din, 0, sizeof(float) * img * (size_t)cs->n);
    const int groups = (cs->n + g.size - 1) / g.size;
    FOIL_PRAGMA(omp parallel for schedule(static) num_threads(g.slots) if (g.slots > 1))
    for (int k = 0; k < groups; k++) {
        const int g0 = k * g.size, gn = cs->n - g0 < g.size ? cs->n - g0 : g.size;
        bwd_data_group(&g, g.slots > 1 ? thread_slot() : 0, din, dout, w, cs, g0, gn);
    }
    return 0;
}

int cpu_conv2d_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                          const float *in, const foil_conv_shape *cs) {
    conv_group g;
    if (group_init(b, &g, cs, SHARED_FLOATS, 0)) return -1;
    const size_t img = (size_t)cs->c * cs->h * cs->w;
    memset(dw, 0, sizeof(float) * (size_t)cs->k * g.crs);
    if (dbias) memset(dbias, 0, sizeof(float) * (size_t)cs->k);
    for (int g0 = 0; g0 < cs->n; g0 += g.size) {
        int gn = cs->n - g0 < g.size ? cs->n - g0 : g.size;
        size_t ld = (size_t)gn * g.ohw;
        float *col = group_col(&g, 0), *tmp = group_tmp(&g, 0);
        nchw_to_tmp(tmp, dout + (size_t)g0 * cs->k * g.ohw, gn, cs->k, g.ohw);
        FOIL_PAR_FOR(gn > 1)
        for (int i = 0; i < gn; i++) im2col(col + (size_t)i * g.ohw, ld, in + (g0 + i) * img, cs);
        /* dW (K, CRS) += tmp (K, L) @ col^T (L, CRS) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cs->k, g.crs, (int)ld, 1.0f, tmp,
                    (int)ld, col, (int)ld, 1.0f, dw, g.crs);
        if (dbias) {
            FOIL_PAR_FOR(ld > 4096)
            for (int q = 0; q < cs->k; q++) {
                float sum = 0.0f;
                for (size_t j = 0; j < ld; j++) sum += tmp[q * ld + j];
                dbias[q] += sum;
            }
        }
    }
    return 0;
}

int cpu_maxpool_fwd(foil_backend *b, float *out, int32_t *argmax, const float *in,
                    const foil_pool_shape *ps) {
    (void)b;
    FOIL_PAR_FOR(ps->n * ps->c > 16)
    for (int nc = 0; nc < ps->n * ps->c; nc++) {
        const size_t base = (size_t)nc * ps->h * ps->w;
        for (int oy = 0; oy < ps->oh; oy++)
            for (int ox = 0; ox < ps->ow; ox++) {
                float best = -FLT_MAX;
                size_t best_i = base + (size_t)(oy * ps->stride) * ps->w + ox * ps->stride;
                for (int dy = 0; dy < ps->size; dy++)
                    for (int dx = 0; dx < ps->size; dx++) {
                        size_t i = base + (size_t)(oy * ps->stride + dy) * ps->w +
                                   (size_t)(ox * ps->stride + dx);
                        if (in[i] > best) { /* first maximum wins, as in cuDNN */
                            best = in[i];
                            best_i = i;
                        }
                    }
                size_t o = ((size_t)nc * ps->oh + oy) * ps->ow + ox;
                out[o] = best;
                argmax[o] = (int32_t)best_i;
            }
    }
    return 0;
}

int cpu_maxpool_bwd(foil_backend *b, float *din, const float *dout, const int32_t *argmax,
                    const foil_pool_shape *ps) {
    (void)b;
    const size_t plane = (size_t)ps->h * ps->w, oplane = (size_t)ps->oh * ps->ow;
    /* argmax of plane nc points into plane nc: the planes are independent */
    FOIL_PAR_FOR(ps->n * ps->c > 16)
    for (int nc = 0; nc < ps->n * ps->c; nc++) {
        memset(din + (size_t)nc * plane, 0, sizeof(float) * plane);
        for (size_t o = (size_t)nc * oplane; o < (size_t)(nc + 1) * oplane; o++)
            din[argmax[o]] += dout[o];
    }
    return 0;
}

int cpu_dense_fwd(foil_backend *b, float *out, const float *in, const float *w,
                  const float *bias, int n, int in_dim, int out_dim) {
    (void)b;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < out_dim; j++) out[(size_t)i * out_dim + j] = bias ? bias[j] : 0.0f;
    /* out (N, OUT) += in (N, IN) @ W^T (IN, OUT) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out_dim, in_dim, 1.0f, in, in_dim, w,
                in_dim, 1.0f, out, out_dim);
    return 0;
}

int cpu_dense_bwd_data(foil_backend *b, float *din, const float *dout, const float *w, int n,
                       int in_dim, int out_dim) {
    (void)b;
    /* din (N, IN) = dout (N, OUT) @ W (OUT, IN) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in_dim, out_dim, 1.0f, dout,
                out_dim, w, in_dim, 0.0f, din, in_dim);
    return 0;
}

int cpu_dense_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                         const float *in, int n, int in_dim, int out_dim) {
    (void)b;
    /* dW (OUT, IN) = dout^T (OUT, N) @ in (N, IN) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out_dim, in_dim, n, 1.0f, dout, out_dim,
                in, in_dim, 0.0f, dw, in_dim);
    if (dbias)
        for (int j = 0; j < out_dim; j++) {
            float sum = 0.0f;
            for (int i = 0; i < n; i++) sum += dout[(size_t)i * out_dim + j];
            dbias[j] = sum;
        }
    return 0;
}
