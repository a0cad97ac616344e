/* Explanation work buffers, spec checks and target classes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"

static void *alloc_rows(foil_explain_work *w, size_t rows, size_t per_row, size_t elem,
                        int *failed) {
    size_t n;
    if (foil_mul_size(rows, per_row, &n) || foil_mul_size(n, elem, &n)) {
        *failed = 1;
        return NULL;
    }
    void *p = w->b->alloc(w->b, n);
    if (!p) *failed = 1;
    return p;
}

int foil_explain_work_create(foil_explain_work **out, foil_net *net, int max_images,
                             foil_err *err) {
    *out = NULL;
    if (max_images < 1 || max_images > net->max_batch)
        return foil_fail(err, "explain: %d images per batch, the network holds 1 to %d",
                         max_images, net->max_batch);
    /* every backend fills the whole op table (foil_backend_finish) */
    foil_explain_work *w = calloc(1, sizeof *w);
    if (!w) return foil_fail(err, "out of memory");
    const foil_model_def *d = &net->model->def;
    w->net = net, w->b = net->b, w->max_images = max_images, w->max_batch = net->max_batch;
    w->classes = d->classes, w->c = d->in_c, w->h = d->in_h, w->w = d->in_w;
    w->row = net->model->in_size;
    size_t mi = (size_t)max_images, mb = (size_t)net->max_batch, row = w->row;
    int failed = 0;
    float **per_image[] = {&w->base, &w->noisy, &w->one, &w->diff, &w->cx, &w->cbase, &w->cattr};
    for (size_t i = 0; i < sizeof per_image / sizeof *per_image; i++)
        *per_image[i] = alloc_rows(w, mi, row, sizeof(float), &failed);
    w->xs = alloc_rows(w, mb, row, sizeof(float), &failed);
    w->dlogits = alloc_rows(w, mb, (size_t)w->classes, sizeof(float), &failed);
    w->values = alloc_rows(w, mb, 1, sizeof(float), &failed);
    w->rep = alloc_rows(w, mb, 1, sizeof(int32_t), &failed);
    w->targets = alloc_rows(w, mi, 1, sizeof(int32_t), &failed);
    w->ctargets = alloc_rows(w, mi, 1, sizeof(int32_t), &failed);
    w->pred = alloc_rows(w, mi, 1, sizeof(int32_t), &failed);
    w->fx = alloc_rows(w, mi, 1, sizeof(float), &failed);
    w->fb = alloc_rows(w, mi, 1, sizeof(float), &failed);
    w->sums = alloc_rows(w, mi, 1, sizeof(float), &failed);
    const size_t plane = (size_t)w->h * w->w;
    w->seg = alloc_rows(w, mi, plane, sizeof(int32_t), &failed);
    w->masks = alloc_rows(w, mb, plane, 1, &failed);
    w->seg_host = malloc(sizeof(int32_t) * mi * plane);
    w->xh = malloc(sizeof(float) * mi * row);
    w->fw = malloc(sizeof(float) * mi * plane);
    w->nfeat = calloc(mi, sizeof(int));
    w->host = malloc(sizeof(float) * mi * row);
    w->rep_host = malloc(sizeof(int32_t) * mb);
    w->active = malloc(sizeof(int) * mi);
    w->ctarget_host = malloc(sizeof(int32_t) * mi);
    w->cindex = malloc(sizeof(int64_t) * mi);
    w->fx_host = malloc(sizeof(float) * mi);
    w->sum_host = malloc(sizeof(float) * mi);
    if (failed || !w->host || !w->rep_host || !w->active || !w->ctarget_host || !w->cindex ||
        !w->fx_host || !w->sum_host || !w->seg_host || !w->xh || !w->fw || !w->nfeat) {
        foil_explain_work_destroy(w);
        return foil_fail(err, "out of memory for explanation buffers (%d images, batch %d)",
                         max_images, net->max_batch);
    }
    *out = w;
    return 0;
}

void foil_explain_work_destroy(foil_explain_work *w) {
    if (!w) return;
    foil_backend *b = w->b;
    void *dev[] = {w->base,    w->noisy,    w->one,  w->diff, w->cx,     w->cbase,
                   w->cattr,   w->xs,       w->dlogits, w->values, w->rep, w->targets,
                   w->ctargets, w->pred,    w->fx,   w->fb,   w->sums,   w->alpha,
                   w->weight,  w->seg,      w->masks, w->bg, w->gs_base, w->gs_diff,
                   w->gs_alpha, w->gs_wt,  w->gs_bidx, w->gs_iidx};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) b->free(b, dev[i]);
    free(w->host);
    free(w->rep_host);
    free(w->qa);
    free(w->qw);
    free(w->qf);
    free(w->active);
    free(w->ctarget_host);
    free(w->cindex);
    free(w->fx_host);
    free(w->sum_host);
    free(w->seg_host);
    free(w->xh);
    free(w->fw);
    free(w->nfeat);
    free(w->gs_bidx_host);
    free(w->gs_iidx_host);
    free(w->gs_alpha_host);
    free(w);
}

int foil_explain_spec_check(const foil_explain_spec *s, foil_err *err) {
    if ((unsigned)s->method >= FOIL_EXPLAIN_METHOD_COUNT)
        return foil_fail(err, "method: unknown method %d", (int)s->method);
    const foil_explain_method_info *info = foil_explain_method_info_of(s->method);
    if ((unsigned)s->rule >= FOIL_RULE_COUNT)
        return foil_fail(err, "rule: unknown quadrature rule %d", (int)s->rule);
    if ((unsigned)s->baseline >= FOIL_BASELINE_COUNT)
        return foil_fail(err, "baseline: unknown baseline %d", (int)s->baseline);
    int min_steps = s->rule == FOIL_RULE_TRAPEZOID ? 2 : 1;
    if (info->path && s->steps < min_steps)
        return foil_fail(err, "steps: %d is too few for the %s rule (at least %d)", s->steps,
                         foil_quad_rule_name(s->rule), min_steps);
    if (info->path && s->steps > FOIL_EXPLAIN_MAX_STEPS)
        return foil_fail(err, "steps: %d is more than the %d IG allows", s->steps,
                         FOIL_EXPLAIN_MAX_STEPS);
    if (s->tolerance < 0.0 || !isfinite(s->tolerance))
        return foil_fail(err, "tolerance: must be >= 0, got %g", s->tolerance);
    if (info->path && s->tolerance > 0.0 && s->max_steps < s->steps)
        return foil_fail(err, "max_steps: %d is below steps (%d)", s->max_steps, s->steps);
    if (s->chunk < 0) return foil_fail(err, "chunk: must be >= 0, got %d", s->chunk);
    if (s->smooth_samples < 0 || !(s->smooth_sigma >= 0.0f) || !isfinite(s->smooth_sigma))
        return foil_fail(err, "smoothgrad: samples must be >= 0 and sigma >= 0");
    if (info->smoothing && s->smooth_samples < 1)
        return foil_fail(err, "smoothgrad: the %s method needs samples >= 1", info->name);
    if (info->sampled && (s->samples < 1 || !s->background || s->nbackground < 1))
        return foil_fail(err, "explain.background: gradshap needs explain.samples >= 1 and a "
                              "background set of at least one image");
    if (info->perturb && s->smooth_samples > 0)
        return foil_fail(err, "smoothgrad: the %s method takes no SmoothGrad samples", info->name);
    if (info->features && s->samples < 0)
        return foil_fail(err, "samples: must be >= 0, got %d", s->samples);
    if (s->method == FOIL_EXPLAIN_LIME && (s->samples < 2 || !(s->kernel_width > 0.0f)))
        return foil_fail(err, "samples and kernel_width: LIME needs samples >= 2 and "
                              "kernel_width > 0");
    if (s->baseline == FOIL_BASELINE_MEAN && !info->features)
        return foil_fail(err, "baseline: mean (each segment's mean) is for the feature methods "
                              "(lime, kernelshap, ablation), not %s", info->name);
    if (s->baseline == FOIL_BASELINE_IMAGE && !s->baseline_image)
        return foil_fail(err, "baseline: an image baseline needs the image");
    if (s->baseline == FOIL_BASELINE_BLUR && !(s->blur_sigma >= 0.0f && isfinite(s->blur_sigma)))
        return foil_fail(err, "blur_sigma: must be >= 0");
    return 0;
}

int foil_explain_targets(foil_explain_work *w, foil_class_rule rule, int cls, const float *x,
                         const int32_t *labels_host, int n, int32_t *pred_host,
                         int32_t *target_host, foil_err *err) {
    foil_backend *b = w->b;
    const float *logits;
    if (n < 1 || n > w->max_images)
        return foil_fail(err, "explain: batch of %d images, at most %d", n, w->max_images);
    if (rule == FOIL_CLASS_GIVEN && (cls < 0 || cls >= w->classes))
        return foil_fail(err, "target: class %d is not in [0, %d)", cls, w->classes);
    if (foil_net_forward(w->net, x, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
    FOIL_OP(b, b->download(b, pred_host, w->pred, sizeof(int32_t) * (size_t)n), err);
    for (int i = 0; i < n; i++) {
        if (rule == FOIL_CLASS_LABEL && (labels_host[i] < 0 || labels_host[i] >= w->classes))
            return foil_fail(err, "target: label %d of image %d is not in [0, %d)",
                             labels_host[i], i, w->classes);
        target_host[i] = rule == FOIL_CLASS_LABEL ? labels_host[i]
                         : rule == FOIL_CLASS_PREDICTED ? pred_host[i]
                                                        : cls;
    }
    return 0;
}

int foil_explain_baseline(foil_explain_work *w, const foil_explain_spec *s, float *base,
                          const float *x, const int64_t *index_host, int n, foil_err *err) {
    if (n < 1 || n > w->max_images)
        return foil_fail(err, "explain: batch of %d images, at most %d", n, w->max_images);
    if (s->baseline == FOIL_BASELINE_MEAN)
        return foil_fail(err, "baseline: mean needs a batch's segments (foil_explain_batch)");
    return ex_fill_baseline(w, s, base, x, index_host, n, err);
}
