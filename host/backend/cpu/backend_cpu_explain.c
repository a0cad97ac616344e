/* CPU reference: explanation ops (target outputs, IG path points and
 * accumulation, Gaussian noise, row sums). */
#include <math.h>

#include "backend_cpu.h"
#include "foil/elementwise.h"
#include "foil/philox.h"

static int cpu_target_output(foil_backend *b, float *value, float *dlogits, const float *logits,
                             const int32_t *target, int n, int classes, foil_target_mode mode) {
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        float *d = dlogits ? dlogits + (size_t)i * classes : NULL;
        int t = target[i];
        if (t < 0 || t >= classes)
            return foil_fail(&b->err, "target_output: target %d of sample %d is not in [0, %d)",
                             t, i, classes);
        if (mode == FOIL_TARGET_LOGIT) {
            value[i] = z[t];
            for (int j = 0; d && j < classes; j++) d[j] = j == t ? 1.0f : 0.0f;
            continue;
        }
        float mx = z[foil_row_argmax(z, classes)];
        double sum = foil_softmax_sum(z, classes, mx), pt = exp((double)(z[t] - mx)) / sum;
        value[i] = (float)pt;
        /* d p_t / d z_j = p_t (onehot_t(j) - p_j) */
        for (int j = 0; d && j < classes; j++) {
            double pj = exp((double)(z[j] - mx)) / sum;
            d[j] = (float)(pt * ((j == t ? 1.0 : 0.0) - pj));
        }
    }
    return 0;
}

static int cpu_ig_interp(foil_backend *b, float *xs, const float *x, const float *base,
                         const float *alpha, int n, int m, size_t row) {
    (void)b;
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * row, *bi = base + (size_t)i * row;
        for (int k = 0; k < m; k++) {
            float *out = xs + ((size_t)i * m + k) * row, a = alpha[k];
            for (size_t j = 0; j < row; j++) out[j] = bi[j] + a * (xi[j] - bi[j]);
        }
    }
    return 0;
}

/* Sums over the m path points of a chunk in double, so that the result
 * depends on the chunking only through the final float additions. */
static int cpu_ig_accumulate(foil_backend *b, float *attr, const float *grads, const float *w,
                             int n, int m, size_t row) {
    (void)b;
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        float *a = attr + (size_t)i * row;
        const float *g = grads + (size_t)i * m * row;
        for (size_t j = 0; j < row; j++) {
            double s = 0.0;
            for (int k = 0; k < m; k++) s += (double)w[k] * g[(size_t)k * row + j];
            a[j] = (float)((double)a[j] + s);
        }
    }
    return 0;
}

static int cpu_lerp_rows(foil_backend *b, float *out, const float *x, const float *base,
                         const float *alpha, int n, size_t row) {
    (void)b;
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * row, *bi = base + (size_t)i * row;
        float *o = out + (size_t)i * row;
        for (size_t j = 0; j < row; j++) o[j] = bi[j] + alpha[i] * (xi[j] - bi[j]);
    }
    return 0;
}

static int cpu_gaussian_noise(foil_backend *b, float *out, const float *x, float sigma,
                              uint64_t seed, uint64_t draw, int64_t first, int n, size_t row) {
    (void)b;
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        uint64_t stream = FOIL_STREAM(FOIL_RNG_NOISE, (draw << 32) | (uint64_t)(first + i));
        float *o = out + (size_t)i * row;
        const float *xi = x + (size_t)i * row;
        for (size_t j = 0; j < row; j++) o[j] = xi[j] + sigma * foil_rng_normal(seed, stream, j);
    }
    return 0;
}

static int cpu_row_sum(foil_backend *b, float *out, const float *x, int n, size_t row) {
    (void)b;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * row;
        double s = 0.0;
        for (size_t j = 0; j < row; j++) s += xi[j];
        out[i] = (float)s;
    }
    return 0;
}

static int cpu_mask_images(foil_backend *b, float *out, const float *x, const float *fill,
                           const int32_t *segments, const uint8_t *masks, int64_t first,
                           int count, int samples, int nfeat, int channels, size_t plane) {
    (void)b;
    const size_t row = (size_t)channels * plane;
    FOIL_PAR_FOR(count > 8)
    for (int r = 0; r < count; r++) {
        const int64_t i = (first + r) / samples;
        const int32_t *seg = segments + (size_t)i * plane;
        const uint8_t *m = masks + (size_t)r * nfeat;
        const float *xi = x + (size_t)i * row, *fi = fill + (size_t)i * row;
        float *o = out + (size_t)r * row;
        for (size_t p = 0; p < plane; p++) {
            const int on = seg[p] >= 0 && seg[p] < nfeat && m[seg[p]];
            for (int c = 0; c < channels; c++)
                o[c * plane + p] = on ? xi[c * plane + p] : fi[c * plane + p];
        }
    }
    return 0;
}

static int cpu_occlude(foil_backend *b, float *out, const float *x, const float *fill,
                       int64_t first, int count, int channels, const foil_window_shape *ws) {
    (void)b;
    const size_t plane = (size_t)ws->h * ws->w, row = plane * (size_t)channels;
    const int64_t windows = (int64_t)ws->ny * ws->nx;
    FOIL_PAR_FOR(count > 8)
    for (int r = 0; r < count; r++) {
        const int64_t g = first + r, i = g / windows, k = g % windows;
        const int y0 = (int)(k / ws->nx) * ws->sh, x0 = (int)(k % ws->nx) * ws->sw;
        const float *xi = x + (size_t)i * row, *fi = fill + (size_t)i * row;
        float *o = out + (size_t)r * row;
        for (size_t p = 0; p < plane; p++) {
            const int y = (int)(p / (size_t)ws->w), xx = (int)(p % (size_t)ws->w);
            const int off = y >= y0 && y < y0 + ws->wh && xx >= x0 && xx < x0 + ws->ww;
            for (int c = 0; c < channels; c++)
                o[c * plane + p] = off ? fi[c * plane + p] : xi[c * plane + p];
        }
    }
    return 0;
}

void cpu_register_explain_ops(foil_backend *b) {
    b->target_output = cpu_target_output;
    b->ig_interp = cpu_ig_interp;
    b->ig_accumulate = cpu_ig_accumulate;
    b->gaussian_noise = cpu_gaussian_noise;
    b->row_sum = cpu_row_sum;
    b->mask_images = cpu_mask_images;
    b->lerp_rows = cpu_lerp_rows;
    b->occlude = cpu_occlude;
}
