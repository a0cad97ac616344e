/* foil explain outputs: explain.csv, attributions.safetensors, the PNG
 * heatmaps and the Markdown summary. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_run.h"
#include "foil/checkpoint.h"
#include "foil/image.h"
#include "foil/strbuf.h"

#define GAP 4 /* pixels between the panels of a heatmap */

/* One row per image; feature methods add features, r2 and intercept. */
static int write_csv(const explain_run *r, foil_err *err) {
    foil_strbuf t = {0};
    int bad = foil_sb_put(&t, "index,label,predicted,target,f_x,f_baseline,attr_sum,"
                      "completeness_delta,relative_delta,steps%s%s\n",
                      r->features ? ",features,r2,intercept" : "",
                      r->faith ? ",deletion_auc,insertion_auc,infidelity,sensitivity_max" : "");
    for (int i = 0; i < r->n && !bad; i++) {
        const foil_explain_stats *s = &r->stats[i];
        bad = foil_sb_put(&t, "%d,%d,%d,%d,%.9g,%.9g,%.9g,%.9g,%.9g,%d", r->index[i], r->label[i],
                  r->pred[i], r->target[i], (double)s->f_x, (double)s->f_baseline,
                  (double)s->attr_sum, (double)s->delta, (double)s->rel_delta, s->steps);
        if (!bad && r->features)
            bad = foil_sb_put(&t, ",%d,%.9g,%.9g", s->features, (double)s->r2,
                              (double)s->intercept);
        if (!bad && r->faith)
            bad = foil_sb_put(&t, ",%.9g,%.9g,%.9g,%.9g", (double)r->faith[i].deletion_auc,
                              (double)r->faith[i].insertion_auc, (double)r->faith[i].infidelity,
                              (double)r->faith[i].sensitivity_max);
        if (!bad) bad = foil_sb_put(&t, "\n");
    }
    char path[FOIL_PATH_MAX];
    int rc = foil_path(path, err, "%s/explain.csv", r->outdir) ? -1
             : bad ? foil_fail(err, "%s: out of memory", path)
                   : foil_write_file_atomic(path, t.s, t.len, err);
    foil_sb_free(&t);
    return rc;
}

/* The feature weights of every image, (n, the most features of an image),
 * 0 past an image's own. */
static float *weights_table(const explain_run *r, int *maxf) {
    const size_t plane = (size_t)r->cm.model.def.in_h * r->cm.model.def.in_w;
    int most = 1;
    for (int i = 0; i < r->n; i++)
        if (r->stats[i].features > most) most = r->stats[i].features;
    *maxf = most;
    const size_t rows = r->n > 0 ? (size_t)r->n : 1, cols = (size_t)(unsigned)most;
    float *t = calloc(rows * cols, sizeof(float));
    for (int i = 0; t && i < r->n; i++)
        memcpy(t + (size_t)i * *maxf, r->fweights + (size_t)i * plane,
               sizeof(float) * (size_t)r->stats[i].features);
    return t;
}

/* Per-image columns as float32 tensors (indices up to 2^24 are exact);
 * feature methods add segments (I32) and feature_weights. */
static int write_tensors(const explain_run *r, foil_err *err) {
    const int n = r->n, c = r->cm.model.def.in_c, h = r->cm.model.def.in_h, w = r->cm.model.def.in_w;
    float *cols = malloc(sizeof(float) * 8 * (size_t)n), *fw = NULL;
    int maxf = 0;
    if (!cols || (r->features && !(fw = weights_table(r, &maxf)))) {
        free(cols);
        return foil_fail(err, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const foil_explain_stats *s = &r->stats[i];
        float v[8] = {(float)r->index[i], (float)r->label[i], (float)r->pred[i],
                      (float)r->target[i], s->f_x, s->f_baseline, s->rel_delta, (float)s->steps};
        for (int k = 0; k < 8; k++) cols[(size_t)k * n + i] = v[k];
    }
    static const char *const NAMES[8] = {"indices", "labels", "predicted", "targets",
                                         "f_x", "f_baseline", "relative_delta", "steps"};
    foil_st_entry e[12] = {{"attributions", 4, {n, c, h, w}, r->attr, 0},
                           {"inputs", 4, {n, c, h, w}, r->inputs, 0}};
    for (int k = 0; k < 8; k++)
        e[2 + k] = (foil_st_entry){NAMES[k], 1, {n}, cols + (size_t)k * n, 0};
    int ne = 10;
    if (r->features) {
        e[ne++] = (foil_st_entry){"segments", 3, {n, h, w}, (const float *)r->segments, 1};
        e[ne++] = (foil_st_entry){"feature_weights", 2, {n, maxf}, fw, 0};
    }
    const foil_explain_spec *s = &r->c.spec;
    char steps[32], samples[32];
    snprintf(steps, sizeof steps, "%d", s->steps);
    snprintf(samples, sizeof samples, "%d", s->samples);
    const char *meta[] = {"method",   foil_explain_method_name(s->method),
                          "rule",     foil_quad_rule_name(s->rule),
                          "steps",    steps,
                          "baseline", s->baseline == FOIL_BASELINE_IMAGE ? r->c.baseline_path
                                                                         : foil_baseline_name(s->baseline),
                          "output",   s->output == FOIL_TARGET_PROB ? "prob" : "logit",
                          "model",    r->c.model_path,
                          "config",   r->resolved,
                          "features", foil_features_name(s->features.kind),
                          "samples",  samples};
    char path[FOIL_PATH_MAX];
    int rc = foil_path(path, err, "%s/attributions.safetensors", r->outdir) ||
                     foil_st_write(path, e, ne, meta, r->features ? 9 : 7, err)
                 ? -1
                 : 0;
    free(cols);
    free(fw);
    return rc;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Percentile q in [0, 1] of sorted values, linearly interpolated (as numpy). */
static double percentile(const float *sorted, int n, double q) {
    double pos = q * (n - 1);
    int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/* Colour limit of a heatmap: the 99th percentile of |attr|, so that a few
 * extreme pixels do not wash out the rest (0: the map's maximum). */
static float heat_limit(const float *a, size_t row, float *scratch) {
    for (size_t j = 0; j < row; j++) scratch[j] = fabsf(a[j]);
    qsort(scratch, row, sizeof(float), cmp_float);
    return (float)percentile(scratch, (int)row, 0.99);
}

/* digit | heatmap | overlay; channels are averaged (digit) and summed (attributions). */
static int heatmap(const explain_run *r, int i, float *buf, foil_err *err) {
    const int c = r->cm.model.def.in_c, h = r->cm.model.def.in_h, w = r->cm.model.def.in_w;
    const int s = r->c.scale;
    const size_t plane = (size_t)h * w;
    float *digit = buf, *attr = buf + plane, *scratch = buf + 2 * plane;
    memset(buf, 0, sizeof(float) * 2 * plane);
    for (int ch = 0; ch < c; ch++)
        for (size_t j = 0; j < plane; j++) {
            digit[j] += r->inputs[(size_t)i * r->row + ch * plane + j] / (float)c;
            attr[j] += r->attr[(size_t)i * r->row + ch * plane + j];
        }
    float limit = heat_limit(attr, plane, scratch);
    foil_image img;
    if (foil_image_create(&img, 3 * w * s + 4 * GAP, h * s + 2 * GAP, 255, 255, 255, err))
        return -1;
    foil_image_draw_gray(&img, GAP, GAP, digit, h, w, s);
    foil_image_draw_diverging(&img, 2 * GAP + w * s, GAP, attr, h, w, s, limit);
    foil_image_draw_overlay(&img, 3 * GAP + 2 * w * s, GAP, digit, attr, h, w, s, limit, 0.8f);
    char path[FOIL_PATH_MAX];
    int rc = foil_path(path, err, "%s/img_%05d.png", r->outdir, r->index[i]) ||
                     foil_png_write(path, &img, err)
                 ? -1
                 : 0;
    foil_image_free(&img);
    return rc;
}

int explain_write_outputs(const explain_run *r, foil_err *err) {
    if (write_csv(r, err) || write_tensors(r, err)) return -1;
    if (!r->c.heatmaps) return 0;
    const size_t plane = (size_t)r->cm.model.def.in_h * r->cm.model.def.in_w;
    float *buf = malloc(sizeof(float) * 3 * plane);
    if (!buf) return foil_fail(err, "out of memory");
    int rc = 0;
    for (int i = 0; i < r->n && rc == 0; i++) rc = heatmap(r, i, buf, err);
    free(buf);
    return rc;
}

void explain_print_summary(const explain_run *r, FILE *out) {
    const foil_explain_spec *s = &r->c.spec;
    const int path = foil_explain_method_info_of(s->method)->path;
    float *rel = malloc(sizeof(float) * (size_t)r->n + 1);
    int nrel = 0;
    double steps = 0.0;
    for (int i = 0; i < r->n; i++) {
        steps += r->stats[i].steps;
        if (rel && !isnan(r->stats[i].rel_delta)) rel[nrel++] = fabsf(r->stats[i].rel_delta);
    }
    if (rel) qsort(rel, (size_t)nrel, sizeof(float), cmp_float);
    char smooth[64] = "-";
    if (s->smooth_samples > 0)
        snprintf(smooth, sizeof smooth, "%d x sigma %.3g", s->smooth_samples, (double)s->smooth_sigma);
    fprintf(out, "\n| method | rule | steps | baseline | output | smoothgrad | images | mean steps | "
                 "median abs rel delta | p95 abs rel delta | max abs rel delta | images/s |\n"
                 "|---|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|\n");
    fprintf(out, "| %s | %s | %d | %s | %s | %s | %d | %.1f | ", foil_explain_method_name(s->method),
            path ? foil_quad_rule_name(s->rule) : "-", path ? s->steps : 1,
            s->baseline == FOIL_BASELINE_IMAGE ? "file" : foil_baseline_name(s->baseline),
            s->output == FOIL_TARGET_PROB ? "prob" : "logit", smooth, r->n, steps / r->n);
    if (nrel)
        fprintf(out, "%.3g | %.3g | %.3g | ", percentile(rel, nrel, 0.5),
                percentile(rel, nrel, 0.95), (double)rel[nrel - 1]);
    else
        fprintf(out, "n/a | n/a | n/a | ");
    fprintf(out, "%.1f |\n\nper image: %s/explain.csv; attributions: %s/attributions.safetensors\n",
            r->seconds > 0 ? r->n / r->seconds : 0.0, r->outdir, r->outdir);
    if (r->faith) {
        double d = 0, in = 0, inf = 0, sens = 0;
        for (int i = 0; i < r->n; i++)
            d += r->faith[i].deletion_auc, in += r->faith[i].insertion_auc,
                inf += r->faith[i].infidelity, sens += r->faith[i].sensitivity_max;
        fprintf(out, "\n| faithfulness (mean of %d images) | deletion AUC (lower: better) | "
                     "insertion AUC (higher: better) | infidelity | max-sensitivity |\n"
                     "|---|---:|---:|---:|---:|\n| %s | %.4g | %.4g | %.4g | %.4g |\n", r->n,
                foil_explain_method_name(s->method), d / r->n, in / r->n, inf / r->n,
                sens / r->n);
    }
    free(rel);
}
