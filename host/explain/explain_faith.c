/* Faithfulness of attributions, for any method (foil/explain.h):
 *   deletion / insertion AUC (Petsiuk et al. 2018, RISE): pixels in
 *   attribution order (the channels' sum, largest first, ties by index),
 *   FOIL_FAITH_STEP at a time; deletion turns them black starting from the
 *   image, insertion puts them back starting from the image blurred with a
 *   Gaussian of FOIL_FAITH_BLUR pixels; the AUC is the trapezoid mean of F
 *   over the steps (0 to all pixels). The ordered steps are a segment map,
 *   so the images are made on the backend by mask_images.
 *   infidelity (Yeh et al. 2019, as Captum's infidelity without
 *   normalisation): the mean over FOIL_FAITH_DRAWS Gaussian perturbations I
 *   (sigma FOIL_FAITH_SIGMA, from Philox (seed, FOIL_RNG_NOISE, (draw << 32)
 *   | index)) of (I . attr - (F(x) - F(x - I)))^2.
 *   max-sensitivity: explain_sensitivity.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/philox.h"

/* A backend call inside a function with memory to free at `done`. */
#define TRY(b, call)                                                                   \
    do {                                                                               \
        if ((call) != 0) {                                                             \
            foil_fail(err, "%s", (b)->err.msg);                                        \
            goto done;                                                                 \
        }                                                                              \
    } while (0)

typedef struct ranked {
    float v;
    int32_t p;
} ranked;

static int by_value(const void *a, const void *b) {
    const ranked *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->p > y->p) - (x->p < y->p);
}

/* seg[p] = the step at which pixel p goes, for each of the n images of attr */
static int order(foil_explain_work *w, const float *attr_host, int n, int *steps,
                 foil_err *err) {
    const size_t plane = (size_t)w->h * w->w;
    ranked *r = malloc(sizeof(ranked) * plane);
    if (!r) return foil_fail(err, "faithfulness: out of memory");
    for (int i = 0; i < n; i++) {
        for (size_t p = 0; p < plane; p++) {
            float v = 0.0f;
            for (int c = 0; c < w->c; c++) v += attr_host[(size_t)i * w->row + c * plane + p];
            r[p] = (ranked){isnan(v) ? -INFINITY : v, (int32_t)p};
        }
        qsort(r, plane, sizeof *r, by_value);
        for (size_t k = 0; k < plane; k++)
            w->seg_host[(size_t)i * plane + r[k].p] = (int32_t)(k / FOIL_FAITH_STEP);
    }
    free(r);
    *steps = (int)((plane + FOIL_FAITH_STEP - 1) / FOIL_FAITH_STEP);
    FOIL_OP(w->b, w->b->upload(w->b, w->seg, w->seg_host, sizeof(int32_t) * n * plane), err);
    return 0;
}

/* The AUC of deletion (insert 0) or insertion (1) per image into auc. */
static int curve(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p, int steps,
                 int insert, float *auc, foil_err *err) {
    const int rows = steps + 1, n = p->n;
    uint8_t *m = calloc((size_t)n * rows * steps, 1);
    float *v = malloc(sizeof(float) * (size_t)n * rows);
    int rc = -1;
    if (!m || !v) {
        foil_fail(err, "faithfulness: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) /* row t: the first t steps deleted (inserted) */
        for (int t = 0; t < rows; t++)
            for (int f = 0; f < steps; f++)
                m[((size_t)i * rows + t) * steps + f] = insert ? f < t : f >= t;
    if (ex_masked_values(w, s, p, m, rows, steps, v, err)) goto done;
    for (int i = 0; i < n; i++) {
        double a = 0.0;
        for (int t = 0; t < steps; t++) a += 0.5 * (v[(size_t)i * rows + t] + v[(size_t)i * rows + t + 1]);
        auc[i] = (float)(a / steps);
    }
    rc = 0;
done:
    free(m);
    free(v);
    return rc;
}

/* Infidelity per image; x and attr host copies in w->xh and w->host. */
static int infidelity(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p,
                      const float *fx, float *out, foil_err *err) {
    foil_backend *b = w->b;
    const int n = p->n, per = FOIL_FAITH_DRAWS, total = n * per;
    const size_t row = w->row;
    float *pert = malloc(sizeof(float) * (size_t)w->max_batch * row);
    float *vals = malloc(sizeof(float) * (size_t)total);
    double *dot = malloc(sizeof(double) * (size_t)total);
    int rc = -1;
    if (!pert || !vals || !dot) {
        foil_fail(err, "faithfulness: out of memory");
        goto done;
    }
    for (int first = 0; first < total; first += w->max_batch) {
        const int count = total - first < w->max_batch ? total - first : w->max_batch;
        for (int r = 0; r < count; r++) {
            const int g = first + r, i = g / per, k = g % per;
            const uint64_t idx = (uint64_t)(p->index ? p->index[i] : i);
            const uint64_t stream = FOIL_STREAM(FOIL_RNG_NOISE, ((uint64_t)(0xFFFFF0 + k) << 32) | idx);
            double d = 0.0;
            for (size_t j = 0; j < row; j++) {
                float noise = FOIL_FAITH_SIGMA * foil_rng_normal(s->seed, stream, j);
                pert[(size_t)r * row + j] = w->xh[(size_t)i * row + j] - noise;
                d += (double)noise * w->host[(size_t)i * row + j];
            }
            dot[g] = d;
            w->rep_host[r] = p->tgt_host[i];
        }
        w->rep_n = 0;
        TRY(b, b->upload(b, w->rep, w->rep_host, sizeof(int32_t) * (size_t)count));
        TRY(b, b->upload(b, w->xs, pert, sizeof(float) * (size_t)count * row));
        if (ex_f_at(w, s->output, w->values, w->xs, w->rep, count, err)) goto done;
        TRY(b, b->download(b, vals + first, w->values, sizeof(float) * (size_t)count));
    }
    for (int g = 0; g < total; g++)
        if (!isfinite(vals[g]) || !isfinite(dot[g])) {
            foil_fail(err, "image %lld: the explained output of a perturbed copy, or the "
                      "attributions, are not finite (infidelity)",
                      (long long)(p->index ? p->index[g / per] : g / per));
            goto done;
        }
    for (int i = 0; i < n; i++) {
        double e = 0.0;
        for (int k = 0; k < per; k++) {
            double gap = dot[i * per + k] - ((double)fx[i] - vals[i * per + k]);
            e += gap * gap;
        }
        out[i] = (float)(e / per);
    }
    rc = 0;
done:
    free(pert), free(vals), free(dot);
    return rc;
}

int foil_explain_faithfulness(foil_explain_work *w, const foil_explain_spec *s,
                              const float *attr, const float *x, const int32_t *target_host,
                              const int64_t *index_host, int n, foil_faithfulness *out,
                              foil_err *err) {
    foil_backend *b = w->b;
    if (n < 1 || n > w->max_images)
        return foil_fail(err, "faithfulness: batch of %d images, at most %d", n, w->max_images);
    const size_t bytes = sizeof(float) * (size_t)n * w->row;
    float *del = malloc(sizeof(float) * 5 * (size_t)n), *blur = malloc(bytes);
    int steps, rc = -1;
    if (!del || !blur) {
        foil_fail(err, "faithfulness: out of memory");
        goto done;
    }
    float *ins = del + n, *inf = del + 2 * n, *fx = del + 3 * n, *sens = del + 4 * n;
    TRY(b, b->upload(b, w->targets, target_host, sizeof(int32_t) * (size_t)n));
    TRY(b, b->download(b, w->host, attr, bytes));
    TRY(b, b->download(b, w->xh, x, bytes));
    if (order(w, w->host, n, &steps, err)) goto done;
    ex_problem p = {x, w->base, w->targets, target_host, index_host, n};
    TRY(b, b->fill(b, w->base, 0.0f, (size_t)n * w->row));
    if (curve(w, s, &p, steps, 0, del, err)) goto done;
    for (int i = 0; i < n; i++)
        if (foil_blur(blur + (size_t)i * w->row, w->xh + (size_t)i * w->row, w->c, w->h, w->w,
                      FOIL_FAITH_BLUR, err))
            goto done;
    TRY(b, b->upload(b, w->base, blur, bytes));
    if (curve(w, s, &p, steps, 1, ins, err)) goto done;
    if (ex_f_at(w, s->output, w->fx, x, w->targets, n, err)) goto done;
    TRY(b, b->download(b, fx, w->fx, sizeof(float) * (size_t)n));
    if (infidelity(w, s, &p, fx, inf, err)) goto done;
    /* last: it explains again, over the work's buffers */
    if (ex_sensitivity_max(w, s, attr, x, target_host, index_host, n, sens, err)) goto done;
    for (int i = 0; i < n; i++) out[i] = (foil_faithfulness){del[i], ins[i], inf[i], sens[i]};
    rc = 0;
done:
    free(del);
    free(blur);
    return rc;
}
