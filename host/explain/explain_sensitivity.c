/* Max-sensitivity of an explanation (Yeh et al. 2019, as Captum's
 * sensitivity_max with its default perturbation): the explainer is run
 * again on FOIL_FAITH_SENS_DRAWS copies x + d of each image, d uniform in
 * [-FOIL_FAITH_RADIUS, FOIL_FAITH_RADIUS] per pixel (not clamped, as
 * Captum's) from Philox (seed, FOIL_RNG_NOISE, ((0xFFFFE0 + draw) << 32) |
 * index), and the largest ||attr(x + d) - attr(x)|| / ||attr(x)|| (2-norms
 * over the image; the plain difference where ||attr(x)|| is 0) is the
 * image's value. The targets stay those of x. */
#include <math.h>
#include <stdlib.h>

#include "explain_internal.h"
#include "foil/philox.h"

int ex_sensitivity_max(foil_explain_work *w, const foil_explain_spec *s, const float *attr,
                       const float *x, const int32_t *target_host, const int64_t *index_host,
                       int n, float *out, foil_err *err) {
    foil_backend *b = w->b;
    const size_t row = w->row, count = (size_t)n * row;
    float *a0 = malloc(sizeof(float) * count), *pert = malloc(sizeof(float) * count);
    float *a1 = malloc(sizeof(float) * count);
    double *norm0 = malloc(sizeof(double) * (size_t)n);
    foil_explain_stats *st = malloc(sizeof *st * (size_t)n);
    float *xd = foil_alloc_floats(b, count), *ad = foil_alloc_floats(b, count);
    int rc = -1;
    if (!a0 || !pert || !a1 || !norm0 || !st || !xd || !ad) {
        foil_fail(err, "sensitivity: out of memory for %d images", n);
        goto done;
    }
    if (b->download(b, a0, attr, sizeof(float) * count) ||
        b->download(b, pert, x, sizeof(float) * count)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        double q = 0.0;
        for (size_t j = 0; j < row; j++) q += (double)a0[i * row + j] * a0[i * row + j];
        norm0[i] = sqrt(q);
        out[i] = 0.0f;
    }
    for (int k = 0; k < FOIL_FAITH_SENS_DRAWS; k++) {
        float *xp = a1; /* the perturbed images, then their attributions */
        for (int i = 0; i < n; i++) {
            const uint64_t idx = (uint64_t)(index_host ? index_host[i] : i);
            const uint64_t stream = FOIL_STREAM(FOIL_RNG_NOISE, ((uint64_t)(0xFFFFE0 + k) << 32) | idx);
            for (size_t j = 0; j < row; j++) {
                float u = foil_rng_uniform(s->seed, stream, j);
                xp[i * row + j] = pert[i * row + j] + FOIL_FAITH_RADIUS * (2.0f * u - 1.0f);
            }
        }
        if (b->upload(b, xd, xp, sizeof(float) * count)) {
            foil_fail(err, "%s", b->err.msg);
            goto done;
        }
        if (foil_explain_batch(w, s, ad, xd, target_host, index_host, n, st, err)) {
            foil_fail_prefix(err, "sensitivity (the explainer on a perturbed copy)");
            goto done;
        }
        if (b->download(b, a1, ad, sizeof(float) * count)) {
            foil_fail(err, "%s", b->err.msg);
            goto done;
        }
        for (int i = 0; i < n; i++) {
            double q = 0.0;
            for (size_t j = 0; j < row; j++) {
                double d = (double)a1[i * row + j] - a0[i * row + j];
                q += d * d;
            }
            double v = norm0[i] > 0.0 ? sqrt(q) / norm0[i] : sqrt(q);
            if (!isfinite(v)) {
                foil_fail(err, "image %lld: the attributions of a perturbed copy are not "
                          "finite (sensitivity)", (long long)(index_host ? index_host[i] : i));
                goto done;
            }
            if (v > out[i]) out[i] = (float)v;
        }
    }
    rc = 0;
done:
    free(a0), free(pert), free(a1), free(norm0), free(st);
    b->free(b, xd);
    b->free(b, ad);
    return rc;
}
