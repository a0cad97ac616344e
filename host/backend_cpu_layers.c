/* CPU reference: convolution (im2col + sgemm), max-pool and dense layers. */
#include <cblas.h>
#include <float.h>
#include <string.h>

#include "backend_cpu.h"

/* col (C*R*S, OH*OW) from one image (C, H, W); out-of-image taps are zero. */
static void im2col(float *col, const float *img, const foil_conv_shape *cs) {
    const int ohw = cs->oh * cs->ow;
    for (int c = 0; c < cs->c; c++)
        for (int r = 0; r < cs->r; r++)
            for (int s = 0; s < cs->s; s++) {
                float *row = col + (size_t)((c * cs->r + r) * cs->s + s) * ohw;
                for (int oy = 0; oy < cs->oh; oy++) {
                    int iy = oy * cs->stride_h - cs->pad_h + r;
                    float *dst = row + oy * cs->ow;
                    if (iy < 0 || iy >= cs->h) {
                        memset(dst, 0, sizeof(float) * (size_t)cs->ow);
                        continue;
                    }
                    const float *src = img + ((size_t)c * cs->h + iy) * cs->w;
                    for (int ox = 0; ox < cs->ow; ox++) {
                        int ix = ox * cs->stride_w - cs->pad_w + s;
                        dst[ox] = (ix >= 0 && ix < cs->w) ? src[ix] : 0.0f;
                    }
                }
            }
}

/* The adjoint of im2col: adds col back into the image (C, H, W). */
static void col2im_add(float *img, const float *col, const foil_conv_shape *cs) {
    const int ohw = cs->oh * cs->ow;
    for (int c = 0; c < cs->c; c++)
        for (int r = 0; r < cs->r; r++)
            for (int s = 0; s < cs->s; s++) {
                const float *row = col + (size_t)((c * cs->r + r) * cs->s + s) * ohw;
                for (int oy = 0; oy < cs->oh; oy++) {
                    int iy = oy * cs->stride_h - cs->pad_h + r;
                    if (iy < 0 || iy >= cs->h) continue;
                    float *dst = img + ((size_t)c * cs->h + iy) * cs->w;
                    const float *src = row + oy * cs->ow;
                    for (int ox = 0; ox < cs->ow; ox++) {
                        int ix = ox * cs->stride_w - cs->pad_w + s;
                        if (ix >= 0 && ix < cs->w) dst[ix] += src[ox];
                    }
                }
            }
}

int cpu_conv2d_fwd(foil_backend *b, float *out, const float *in, const float *w,
                   const float *bias, const foil_conv_shape *cs) {
    const int crs = cs->c * cs->r * cs->s, ohw = cs->oh * cs->ow;
    float *col = cpu_workspace(b, (size_t)crs * ohw);
    if (!col) return -1;
    for (int n = 0; n < cs->n; n++) {
        const float *img = in + (size_t)n * cs->c * cs->h * cs->w;
        float *o = out + (size_t)n * cs->k * ohw; /* (K, OH*OW) */
        im2col(col, img, cs);
        for (int k = 0; k < cs->k; k++)
            for (int i = 0; i < ohw; i++) o[(size_t)k * ohw + i] = bias ? bias[k] : 0.0f;
        /* out (K, OHW) += W (K, CRS) @ col (CRS, OHW) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, cs->k, ohw, crs, 1.0f, w, crs,
                    col, ohw, 1.0f, o, ohw);
    }
    return 0;
}

int cpu_conv2d_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                        const foil_conv_shape *cs) {
    const int crs = cs->c * cs->r * cs->s, ohw = cs->oh * cs->ow;
    const size_t img_size = (size_t)cs->c * cs->h * cs->w;
    float *col = cpu_workspace(b, (size_t)crs * ohw);
    if (!col) return -1;
    memset(din, 0, sizeof(float) * img_size * (size_t)cs->n);
    for (int n = 0; n < cs->n; n++) {
        /* col (CRS, OHW) = W^T (CRS, K) @ dout (K, OHW) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, crs, ohw, cs->k, 1.0f, w, crs,
                    dout + (size_t)n * cs->k * ohw, ohw, 0.0f, col, ohw);
        col2im_add(din + (size_t)n * img_size, col, cs);
    }
    return 0;
}

int cpu_conv2d_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                          const float *in, const foil_conv_shape *cs) {
    const int crs = cs->c * cs->r * cs->s, ohw = cs->oh * cs->ow;
    float *col = cpu_workspace(b, (size_t)crs * ohw);
    if (!col) return -1;
    memset(dw, 0, sizeof(float) * (size_t)cs->k * crs);
    if (dbias) memset(dbias, 0, sizeof(float) * (size_t)cs->k);
    for (int n = 0; n < cs->n; n++) {
        const float *d = dout + (size_t)n * cs->k * ohw;
        im2col(col, in + (size_t)n * cs->c * cs->h * cs->w, cs);
        /* dW (K, CRS) += dout (K, OHW) @ col^T (OHW, CRS) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, cs->k, crs, ohw, 1.0f, d, ohw, col,
                    ohw, 1.0f, dw, crs);
        if (dbias)
            for (int k = 0; k < cs->k; k++) {
                float sum = 0.0f;
                for (int i = 0; i < ohw; i++) sum += d[(size_t)k * ohw + i];
                dbias[k] += sum;
            }
    }
    return 0;
}

int cpu_maxpool_fwd(foil_backend *b, float *out, int32_t *argmax, const float *in,
                    const foil_pool_shape *ps) {
    (void)b;
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
    memset(din, 0, sizeof(float) * (size_t)ps->n * ps->c * ps->h * ps->w);
    const size_t nout = (size_t)ps->n * ps->c * ps->oh * ps->ow;
    for (size_t o = 0; o < nout; o++) din[argmax[o]] += dout[o];
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
