/* What the feature methods share: the segments of a batch, the model's
 * output on perturbed images (built on the backend from the masks: only the
 * masks cross to it), the per-pixel map of feature weights; and feature
 * ablation, the simplest of them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/elementwise.h"

int ex_segment(foil_explain_work *w, const foil_explain_spec *s, const float *x,
               const int64_t *index_host, int n, foil_err *err) {
    foil_backend *b = w->b;
    const size_t plane = (size_t)w->h * w->w;
    FOIL_OP(b, b->download(b, w->xh, x, sizeof(float) * (size_t)n * w->row), err);
    w->maxf = 0;
    for (int i = 0; i < n; i++) {
        int32_t *seg = w->seg_host + (size_t)i * plane;
        if (foil_segment(&s->features, w->xh + (size_t)i * w->row, w->c, w->h, w->w, seg,
                         &w->nfeat[i], err))
            return -1;
        if (w->nfeat[i] < 2)
            return foil_fail(err, "explain.features: the %s segmentation of image %lld gives "
                             "%d segment; the feature methods need at least 2",
                             foil_features_name(s->features.kind),
                             (long long)(index_host ? index_host[i] : i), w->nfeat[i]);
        if (w->nfeat[i] > w->maxf) w->maxf = w->nfeat[i];
    }
    FOIL_OP(b, b->upload(b, w->seg, w->seg_host, sizeof(int32_t) * (size_t)n * plane), err);
    return 0;
}

void ex_segment_means(const foil_explain_work *w, int n, float *host) {
    const size_t plane = (size_t)w->h * w->w;
    double *sum = calloc((size_t)w->maxf * w->c + 1, sizeof(double));
    size_t *count = calloc((size_t)w->maxf + 1, sizeof(size_t));
    for (int i = 0; i < n && sum && count; i++) {
        const int32_t *seg = w->seg_host + (size_t)i * plane;
        const float *x = w->xh + (size_t)i * w->row;
        memset(sum, 0, sizeof(double) * (size_t)w->maxf * w->c);
        memset(count, 0, sizeof(size_t) * (size_t)w->maxf);
        for (size_t p = 0; p < plane; p++) {
            count[seg[p]]++;
            for (int c = 0; c < w->c; c++) sum[(size_t)seg[p] * w->c + c] += x[c * plane + p];
        }
        for (size_t p = 0; p < plane; p++)
            for (int c = 0; c < w->c; c++)
                host[(size_t)i * w->row + c * plane + p] =
                    (float)(sum[(size_t)seg[p] * w->c + c] / (double)count[seg[p]]);
    }
    if (!sum || !count) /* out of memory: black, which the caller's stats still describe */
        memset(host, 0, sizeof(float) * (size_t)n * w->row);
    free(sum);
    free(count);
}

int ex_masked_values(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p,
                     const uint8_t *masks, int samples, int stride, float *values,
                     foil_err *err) {
    foil_backend *b = w->b;
    const size_t plane = (size_t)w->h * w->w;
    const int64_t total = (int64_t)p->n * samples;
    for (int64_t first = 0; first < total; first += w->max_batch) {
        const int count = (int)(total - first < w->max_batch ? total - first : w->max_batch);
        for (int r = 0; r < count; r++) w->rep_host[r] = p->tgt_host[(first + r) / samples];
        w->rep_n = 0; /* rep no longer holds an IG layout */
        FOIL_OP(b, b->upload(b, w->rep, w->rep_host, sizeof(int32_t) * (size_t)count), err);
        FOIL_OP(b, b->upload(b, w->masks, masks + (size_t)first * stride, (size_t)count * stride),
                err);
        FOIL_OP(b, b->mask_images(b, w->xs, p->x, p->base, w->seg, w->masks, first, count,
                                  samples, stride, w->c, plane),
                err);
        if (ex_f_at(w, s->output, w->values, w->xs, w->rep, count, err)) return -1;
        FOIL_OP(b, b->download(b, values + first, w->values, sizeof(float) * (size_t)count), err);
    }
    for (int64_t r = 0; r < total; r++)
        if (!foil_finitef(values[r]))
            return foil_fail(err, "image %lld: the explained output of a perturbed copy is not "
                             "finite (NaN or infinity): the checkpoint or the data are broken",
                             (long long)(p->index ? p->index[r / samples] : r / samples));
    return 0;
}

int ex_paint(foil_explain_work *w, float *attr, int n, foil_err *err) {
    const size_t plane = (size_t)w->h * w->w;
    for (int i = 0; i < n; i++) {
        const int32_t *seg = w->seg_host + (size_t)i * plane;
        const float *fw = w->fw + (size_t)i * plane;
        for (size_t q = 0; q < plane; q++)
            for (int c = 0; c < w->c; c++) w->host[(size_t)i * w->row + c * plane + q] = fw[seg[q]];
    }
    FOIL_OP(w->b, w->b->upload(w->b, attr, w->host, sizeof(float) * (size_t)n * w->row), err);
    return 0;
}

int ex_fx(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p,
          foil_explain_stats *stats, foil_err *err) {
    if (ex_f_at(w, s->output, w->fx, p->x, p->tgt, p->n, err)) return -1;
    FOIL_OP(w->b, w->b->download(w->b, w->fx_host, w->fx, sizeof(float) * (size_t)p->n), err);
    for (int i = 0; i < p->n; i++) {
        if (!foil_finitef(w->fx_host[i]))
            return foil_fail(err, "image %lld: the explained output F(x) is not finite",
                             (long long)(p->index ? p->index[i] : i));
        stats[i].f_x = w->fx_host[i];
        stats[i].features = w->nfeat[i];
        stats[i].r2 = stats[i].intercept = NAN;
        stats[i].delta = stats[i].rel_delta = NAN;
    }
    return 0;
}

/* Feature ablation: one evaluation per feature with only it off; its weight
 * is F(x) minus that. */
int ex_ablation(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                const ex_problem *p, foil_explain_stats *stats, foil_err *err) {
    const int n = p->n, f = w->maxf;
    const size_t plane = (size_t)w->h * w->w;
    uint8_t *masks = malloc((size_t)n * f * f);
    float *values = malloc(sizeof(float) * (size_t)n * f);
    int rc = -1;
    if (!masks || !values) {
        foil_fail(err, "out of memory for %d x %d feature masks", n, f);
        goto done;
    }
    memset(masks, 1, (size_t)n * f * f);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < f; j++) masks[((size_t)i * f + j) * f + j] = 0;
    if (ex_fx(w, s, p, stats, err) || ex_masked_values(w, s, p, masks, f, f, values, err))
        goto done;
    for (int i = 0; i < n; i++) {
        double sum = 0.0;
        for (int j = 0; j < f; j++) {
            float v = j < w->nfeat[i] ? stats[i].f_x - values[(size_t)i * f + j] : 0.0f;
            w->fw[(size_t)i * plane + j] = v;
            sum += v;
        }
        stats[i].attr_sum = (float)sum;
        stats[i].steps = w->nfeat[i];
    }
    rc = ex_paint(w, attr, n, err);
done:
    free(masks);
    free(values);
    return rc;
}

void foil_explain_feature_outputs(const foil_explain_work *w, const int32_t **segments,
                                  const float **weights, int *stride) {
    *segments = w->seg_host;
    *weights = w->fw;
    *stride = w->h * w->w;
}
