/* LIME for images, as the `lime` package's LimeImageExplainer: binary
 * feature masks (row 0 the whole image, the rest from Philox (seed, image
 * index)), weights sqrt(exp(-d^2 / width^2)) on the cosine distance d of a
 * mask to the all-on one, and a weighted ridge regression with intercept
 * (alpha 1, as sklearn's Ridge with sample weights: centred by the weighted
 * means, the intercept not penalised), solved with LAPACK. The feature
 * weights are the coefficients; the weighted R^2 and the intercept are
 * reported per image. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/philox.h"

#define RIDGE_ALPHA 1.0

/* Image i's masks: rows (samples, stride), its first nf columns drawn. */
static void draw_masks(uint8_t *m, int samples, int stride, int nf, uint64_t seed,
                       uint64_t index) {
    const uint64_t stream = FOIL_STREAM(FOIL_RNG_FEATURES, index); /* method 0 */
    memset(m, 0, (size_t)samples * stride);
    memset(m, 1, (size_t)nf); /* row 0: every feature on */
    for (int r = 1; r < samples; r++)
        for (int j = 0; j < nf; j++)
            m[(size_t)r * stride + j] = foil_rng_u32(seed, stream, (uint64_t)r * nf + j) & 1u;
}

typedef struct lime_fit {
    double *x, *gram, *rhs, *xbar; /* (samples, nf) centred and scaled, (nf, nf), (nf), (nf) */
} lime_fit;

/* foil/explain.h */
int foil_lime_ridge(const uint8_t *m, int samples, int stride, int nf, const float *y,
                    const double *wt, double alpha, double *coef, double *intercept, double *r2,
                    foil_err *err) {
    lime_fit f = {calloc((size_t)samples * nf, sizeof(double)),
                  calloc((size_t)nf * nf, sizeof(double)), calloc((size_t)nf, sizeof(double)),
                  calloc((size_t)nf, sizeof(double))};
    int rc = -1;
    if (!f.x || !f.gram || !f.rhs || !f.xbar) {
        foil_fail(err, "LIME: out of memory for %d features", nf);
        goto done;
    }
    double sw = 0.0, ybar = 0.0;
    for (int r = 0; r < samples; r++) {
        sw += wt[r];
        ybar += wt[r] * y[r];
        for (int j = 0; j < nf; j++) f.xbar[j] += wt[r] * m[(size_t)r * stride + j];
    }
    ybar /= sw;
    for (int j = 0; j < nf; j++) f.xbar[j] /= sw;
    /* rows sqrt(w) (x - xbar): gram = X^T X + alpha I, rhs = X^T sqrt(w) (y - ybar) */
    for (int r = 0; r < samples; r++)
        for (int j = 0; j < nf; j++)
            f.x[(size_t)r * nf + j] = sqrt(wt[r]) * (m[(size_t)r * stride + j] - f.xbar[j]);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, nf, samples, 1.0, f.x, nf, 0.0, f.gram,
                nf);
    for (int j = 0; j < nf; j++) {
        f.gram[(size_t)j * nf + j] += alpha;
        f.rhs[j] = 0.0;
    }
    for (int r = 0; r < samples; r++)
        for (int j = 0; j < nf; j++) f.rhs[j] += f.x[(size_t)r * nf + j] * sqrt(wt[r]) * (y[r] - ybar);
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'U', nf, 1, f.gram, nf, f.rhs, 1);
    if (info != 0) {
        foil_fail(err, "LIME: the ridge system is not positive definite (LAPACK dposv %d)",
                  (int)info);
        goto done;
    }
    double b0 = ybar, ss_res = 0.0, ss_tot = 0.0;
    for (int j = 0; j < nf; j++) {
        coef[j] = f.rhs[j];
        b0 -= f.xbar[j] * coef[j];
    }
    for (int r = 0; r < samples; r++) {
        double pred = b0;
        for (int j = 0; j < nf; j++) pred += coef[j] * m[(size_t)r * stride + j];
        ss_res += wt[r] * (y[r] - pred) * (y[r] - pred);
        ss_tot += wt[r] * (y[r] - ybar) * (y[r] - ybar);
    }
    *intercept = b0;
    *r2 = ss_tot > 0.0 ? 1.0 - ss_res / ss_tot : NAN;
    rc = 0;
done:
    free(f.x), free(f.gram), free(f.rhs), free(f.xbar);
    return rc;
}

int ex_lime(foil_explain_work *w, const foil_explain_spec *s, float *attr, const ex_problem *p,
            foil_explain_stats *stats, foil_err *err) {
    const int n = p->n, stride = w->maxf, samples = s->samples;
    const size_t plane = (size_t)w->h * w->w;
    for (int i = 0; i < n; i++)
        if (samples <= w->nfeat[i])
            return foil_fail(err, "explain.samples: %d evaluations for the %d features of image "
                             "%lld; LIME needs more than one per feature", samples, w->nfeat[i],
                             (long long)(p->index ? p->index[i] : i));
    uint8_t *masks = malloc((size_t)n * samples * stride);
    float *values = malloc(sizeof(float) * (size_t)n * samples);
    double *wt = malloc(sizeof(double) * samples), *coef = malloc(sizeof(double) * stride);
    int rc = -1;
    if (!masks || !values || !wt || !coef) {
        foil_fail(err, "LIME: out of memory for %d x %d masks", n, samples);
        goto done;
    }
    for (int i = 0; i < n; i++)
        draw_masks(masks + (size_t)i * samples * stride, samples, stride, w->nfeat[i], s->seed,
                   (uint64_t)(p->index ? p->index[i] : i));
    if (ex_fx(w, s, p, stats, err) ||
        ex_masked_values(w, s, p, masks, samples, stride, values, err))
        goto done;
    for (int i = 0; i < n; i++) {
        const uint8_t *m = masks + (size_t)i * samples * stride;
        const int nf = w->nfeat[i];
        for (int r = 0; r < samples; r++) {
            int on = 0;
            for (int j = 0; j < nf; j++) on += m[(size_t)r * stride + j];
            double d = 1.0 - sqrt((double)on / nf); /* cosine distance to all-on */
            wt[r] = sqrt(exp(-d * d / ((double)s->kernel_width * s->kernel_width)));
        }
        double b0, r2, sum = 0.0;
        if (foil_lime_ridge(m, samples, stride, nf, values + (size_t)i * samples, wt,
                            RIDGE_ALPHA, coef, &b0, &r2, err))
            goto done;
        float *fw = w->fw + (size_t)i * plane;
        for (int j = 0; j < stride; j++) {
            fw[j] = j < nf ? (float)coef[j] : 0.0f;
            sum += fw[j];
        }
        stats[i].attr_sum = (float)sum;
        stats[i].intercept = (float)b0;
        stats[i].r2 = (float)r2;
        stats[i].steps = samples;
    }
    rc = ex_paint(w, attr, n, err);
done:
    free(masks), free(values), free(wt), free(coef);
    return rc;
}
