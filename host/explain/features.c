/* Segmentations for the perturbation explainers (foil/features.h). */
#include "foil/features.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <vl/quickshift.h>
#include <vl/slic.h>

static const char *const NAMES[FOIL_FEATURES_COUNT] = {"grid", "slic", "quickshift"};

const char *foil_features_name(foil_features_kind kind) {
    return (unsigned)kind < FOIL_FEATURES_COUNT ? NAMES[kind] : "?";
}

int foil_features_parse(const char *name, foil_features_kind *kind) {
    for (int i = 0; name && i < FOIL_FEATURES_COUNT; i++)
        if (strcmp(name, NAMES[i]) == 0) {
            *kind = (foil_features_kind)i;
            return 0;
        }
    return -1;
}

foil_features_spec foil_features_default(foil_features_kind kind) {
    return (foil_features_spec){.kind = kind, .size = 4, .regularization = 0.1f,
                                .min_size = 4, .kernel_size = 4.0f, .max_dist = 200.0f,
                                .ratio = 0.2f};
}

/* Renumbers labels (any values) 0.. in the order of first appearance. */
static int renumber(const int64_t *label, int32_t *seg, size_t n, int *nseg, foil_err *err) {
    int64_t *seen = malloc(sizeof(int64_t) * n); /* seen[k]: the label numbered k */
    if (!seen) return foil_fail(err, "out of memory for a segmentation");
    int k = 0;
    for (size_t i = 0; i < n; i++) {
        int j = 0;
        while (j < k && seen[j] != label[i]) j++; /* few segments: a scan is enough */
        if (j == k) seen[k++] = label[i];
        seg[i] = j;
    }
    free(seen);
    *nseg = k;
    return 0;
}

static int grid(int size, int h, int w, int32_t *seg, int *nseg) {
    const int cols = (w + size - 1) / size;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) seg[y * w + x] = (y / size) * cols + x / size;
    *nseg = ((h + size - 1) / size) * cols;
    return 0;
}

static int slic(const foil_features_spec *s, const float *img, int c, int h, int w,
                int32_t *seg, int *nseg, foil_err *err) {
    const size_t n = (size_t)h * w;
    float *scaled = malloc(sizeof(float) * n * c);
    vl_uint32 *out = malloc(sizeof(vl_uint32) * n);
    int64_t *label = malloc(sizeof(int64_t) * n);
    int rc = -1;
    if (!scaled || !out || !label) {
        foil_fail(err, "out of memory for a segmentation");
    } else {
        /* VLFeat reads (x, y, channel) at x + w * (y + h * channel): foil's (C, H, W) */
        for (size_t i = 0; i < n * c; i++) scaled[i] = 255.0f * img[i];
        vl_slic_segment(out, scaled, (vl_size)w, (vl_size)h, (vl_size)c, (vl_size)s->size,
                        s->regularization, (vl_size)s->min_size);
        for (size_t i = 0; i < n; i++) label[i] = out[i];
        rc = renumber(label, seg, n, nseg, err);
    }
    free(scaled), free(out), free(label);
    return rc;
}

/* sRGB in [0, 1] to CIE L* (D65), as skimage's rgb2lab for a grey pixel. */
static double lightness(double v) {
    double lin = v > 0.04045 ? pow((v + 0.055) / 1.055, 2.4) : v / 12.92;
    const double e = 216.0 / 24389.0, k = 24389.0 / 27.0;
    return lin > e ? 116.0 * cbrt(lin) - 16.0 : k * lin;
}

/* The features quickshift compares, in VLFeat's layout (x fastest, as foil's
 * CHW with height and width swapped): ratio * L* for grey images, ratio *
 * (L*, a*, b*) for RGB (lime's convert2lab), ratio * 100 * value otherwise. */
static void lab_features(const float *img, int c, size_t n, double ratio, double *f) {
    if (c != 3) {
        for (size_t i = 0; i < n * c; i++)
            f[i] = ratio * (c == 1 ? lightness(img[i]) : 100.0 * img[i]);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        double rgb[3], xyz[3];
        for (int k = 0; k < 3; k++) {
            double v = img[k * n + i];
            rgb[k] = v > 0.04045 ? pow((v + 0.055) / 1.055, 2.4) : v / 12.92;
        }
        static const double M[3][3] = {{0.412453, 0.357580, 0.180423},
                                       {0.212671, 0.715160, 0.072169},
                                       {0.019334, 0.119193, 0.950227}};
        static const double WHITE[3] = {0.95047, 1.0, 1.08883};
        for (int r = 0; r < 3; r++) {
            double t = (M[r][0] * rgb[0] + M[r][1] * rgb[1] + M[r][2] * rgb[2]) / WHITE[r];
            xyz[r] = t > 216.0 / 24389.0 ? cbrt(t) : (24389.0 / 27.0 * t + 16.0) / 116.0;
        }
        f[i] = ratio * (116.0 * xyz[1] - 16.0);
        f[n + i] = ratio * 500.0 * (xyz[0] - xyz[1]);
        f[2 * n + i] = ratio * 200.0 * (xyz[1] - xyz[2]);
    }
}

static int quickshift(const foil_features_spec *s, const float *img, int c, int h, int w,
                      int32_t *seg, int *nseg, foil_err *err) {
    const size_t n = (size_t)h * w;
    double *f = malloc(sizeof(double) * n * c);
    int64_t *label = malloc(sizeof(int64_t) * n);
    if (f) lab_features(img, c, n, s->ratio, f);
    /* VLFeat's height is foil's width; it keeps f (no copy) */
    VlQS *q = f ? vl_quickshift_new(f, w, h, c) : NULL;
    int rc = -1;
    if (!f || !label || !q) {
        foil_fail(err, "out of memory for a segmentation");
    } else {
        vl_quickshift_set_kernel_size(q, s->kernel_size);
        vl_quickshift_set_max_dist(q, s->max_dist);
        vl_quickshift_process(q);
        const int *parent = vl_quickshift_get_parents(q);
        for (size_t i = 0; i < n; i++) { /* each pixel's root: a parent of itself */
            size_t r = i, steps = 0;
            while ((size_t)parent[r] != r && steps++ < n) r = (size_t)parent[r];
            label[i] = (int64_t)r;
        }
        rc = renumber(label, seg, n, nseg, err);
    }
    if (q) vl_quickshift_delete(q);
    free(f), free(label);
    return rc;
}

int foil_segment(const foil_features_spec *s, const float *img, int c, int h, int w,
                 int32_t *seg, int *nseg, foil_err *err) {
    *nseg = 0;
    if (c < 1 || h < 1 || w < 1) return foil_fail(err, "features: empty image");
    switch (s->kind) {
    case FOIL_FEATURES_GRID:
        if (s->size < 1 || s->size > (h > w ? h : w))
            return foil_fail(err, "explain.features.size: %d; a patch side must be 1 to %d",
                             s->size, h > w ? h : w);
        return grid(s->size, h, w, seg, nseg);
    case FOIL_FEATURES_SLIC:
        if (s->size < 1 || s->min_size < 0 || !(s->regularization >= 0.0f))
            return foil_fail(err, "explain.features: slic needs size >= 1, min_size >= 0 and "
                                  "regularization >= 0");
        return slic(s, img, c, h, w, seg, nseg, err);
    case FOIL_FEATURES_QUICKSHIFT:
        if (!(s->kernel_size > 0.0f) || !(s->max_dist > 0.0f) || !(s->ratio >= 0.0f))
            return foil_fail(err, "explain.features: quickshift needs kernel_size > 0, "
                                  "max_dist > 0 and ratio >= 0");
        return quickshift(s, img, c, h, w, seg, nseg, err);
    default:
        return foil_fail(err, "explain.features.kind: unknown");
    }
}
