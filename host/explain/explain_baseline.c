/* IG baselines: black, white, seeded uniform noise, a blurred copy of the
 * image, or an image from a file. Noise and blur are made on the host and
 * uploaded once per batch (a few KB per image, at the edge of the loop). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/fileio.h"
#include "foil/data.h"
#include "foil/philox.h"

/* One pass of a 1-D Gaussian along rows (dx = 1) or columns (dx = w) of an
 * (h, w) plane; taps that fall outside are dropped and the rest renormalised. */
static void blur_pass(float *out, const float *in, int h, int w, const float *k, int r,
                      int vertical) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double s = 0.0, ks = 0.0;
            for (int d = -r; d <= r; d++) {
                int yy = vertical ? y + d : y, xx = vertical ? x : x + d;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                s += (double)k[d + r] * in[yy * w + xx];
                ks += k[d + r];
            }
            out[y * w + x] = (float)(s / ks);
        }
}

int foil_blur(float *out, const float *in, int c, int h, int w, float sigma, foil_err *err) {
    size_t plane = (size_t)h * w;
    if (!(sigma > 0.0f)) {
        memmove(out, in, sizeof(float) * plane * (size_t)c);
        return 0;
    }
    int r = (int)ceilf(3.0f * sigma), big = h > w ? h : w;
    r = r > big ? big : r;
    float *k = malloc(sizeof(float) * (size_t)(2 * r + 1)), *tmp = malloc(sizeof(float) * plane);
    if (!k || !tmp) {
        free(k);
        free(tmp);
        return foil_fail(err, "blur: out of memory");
    }
    for (int d = -r; d <= r; d++) k[d + r] = expf(-(float)(d * d) / (2.0f * sigma * sigma));
    for (int ch = 0; ch < c; ch++) {
        blur_pass(tmp, in + ch * plane, h, w, k, r, 0);
        blur_pass(out + ch * plane, tmp, h, w, k, r, 1);
    }
    free(k);
    free(tmp);
    return 0;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Raw little-endian float32, exactly `count` values. */
static int load_raw(const char *path, size_t count, float *out, foil_err *err) {
    FILE *f = foil_fopen_read(path, 0, err);
    if (!f) return foil_fail_prefix(err, "baseline");
    unsigned char b[4];
    size_t i = 0;
    for (; i < count && fread(b, 1, 4, f) == 4; i++) {
        uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                     (uint32_t)b[3] << 24;
        memcpy(&out[i], &u, 4);
    }
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (i != count || extra)
        return foil_fail(err, "%s: a raw baseline must hold exactly %zu float32 values (%zu bytes)",
                         path, count, count * 4);
    for (i = 0; i < count; i++)
        if (!isfinite(out[i]))
            return foil_fail(err, "%s: baseline value %zu is not finite", path, i);
    return 0;
}

static int load_idx(const char *path, size_t count, float *out, foil_err *err) {
    float *px;
    int n, rows, cols;
    if (foil_idx_read_images(path, 1, &px, &n, &rows, &cols, err)) return -1; /* its first image */
    int ok = (size_t)rows * cols == count;
    if (ok) memcpy(out, px, sizeof(float) * count);
    free(px);
    if (!ok)
        return foil_fail(err, "%s: baseline image is %dx%d, the model takes %zu pixels", path,
                         rows, cols, count);
    return 0;
}

int foil_baseline_load(const char *path, size_t in_size, float **out, foil_err *err) {
    *out = NULL;
    float *v = malloc(sizeof(float) * in_size + 1);
    if (!v) return foil_fail(err, "out of memory");
    int raw = ends_with(path, ".f32") || ends_with(path, ".raw");
    if (raw ? load_raw(path, in_size, v, err) : load_idx(path, in_size, v, err)) {
        free(v);
        return -1;
    }
    for (size_t i = 0; i < in_size; i++)
        if (!isfinite(v[i])) {
            free(v);
            return foil_fail(err, "%s: value %zu of the baseline is not finite", path, i);
        }
    *out = v;
    return 0;
}

/* Uniform noise, per image from its own stream so that the baseline of an
 * image does not depend on the batch it is in. */
static void uniform_rows(float *host, const int64_t *index_host, int n, size_t row,
                         uint64_t seed) {
    for (int i = 0; i < n; i++) {
        uint64_t idx = index_host ? (uint64_t)index_host[i] : (uint64_t)i;
        uint64_t stream = FOIL_STREAM(FOIL_RNG_NOISE, (0xFFFFFFull << 32) | idx);
        for (size_t j = 0; j < row; j++) host[i * row + j] = foil_rng_uniform(seed, stream, j);
    }
}

int ex_fill_baseline(foil_explain_work *w, const foil_explain_spec *s, float *base,
                     const float *x, const int64_t *index_host, int n, foil_err *err) {
    foil_backend *b = w->b;
    const size_t row = w->row, bytes = sizeof(float) * (size_t)n * row;
    switch (s->baseline) {
    case FOIL_BASELINE_BLACK:
    case FOIL_BASELINE_WHITE:
    case FOIL_BASELINE_CONSTANT: {
        const float v = s->baseline == FOIL_BASELINE_WHITE      ? 1.0f
                        : s->baseline == FOIL_BASELINE_CONSTANT ? s->baseline_value
                                                                : 0.0f;
        FOIL_OP(b, b->fill(b, base, v, n * row), err);
        return 0;
    }
    case FOIL_BASELINE_UNIFORM:
        uniform_rows(w->host, index_host, n, row, s->seed);
        break;
    case FOIL_BASELINE_BLUR:
        FOIL_OP(b, b->download(b, w->host, x, bytes), err);
        for (int i = 0; i < n; i++)
            if (foil_blur(w->host + i * row, w->host + i * row, w->c, w->h, w->w, s->blur_sigma,
                          err))
                return -1;
        break;
    case FOIL_BASELINE_MEAN: /* the segments are set (ex_segment) */
        ex_segment_means(w, n, w->host);
        break;
    case FOIL_BASELINE_IMAGE:
        if (!s->baseline_image) return foil_fail(err, "baseline: no baseline image given");
        for (int i = 0; i < n; i++) memcpy(w->host + i * row, s->baseline_image, sizeof(float) * row);
        break;
    default:
        return foil_fail(err, "baseline: unknown kind %d", (int)s->baseline);
    }
    FOIL_OP(b, b->upload(b, base, w->host, bytes), err);
    return 0;
}
