/* Explaining a batch in backend memory, whatever the method: baselines,
 * the explained output at the baseline, the method's run function
 * (explain_table.c) averaged over SmoothGrad's noisy copies, the per-image
 * completeness deltas and, for path methods, the quadrature and the
 * adaptive doubling of steps. Per batch only the targets, the quadrature (m
 * floats) and the per-image values cross to the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/elementwise.h"

/* Uploads the rule's m nodes and weights, growing the buffers as needed;
 * kept from batch to batch (Gauss-Legendre costs O(m^2) to compute). */
static int set_quadrature(foil_explain_work *w, foil_quad_rule rule, int m, foil_err *err) {
    foil_backend *b = w->b;
    if (w->q_m == m && w->q_rule == (int)rule) return 0;
    w->q_m = 0;
    if (m > w->quad_cap) {
        b->free(b, w->alpha);
        b->free(b, w->weight);
        free(w->qa), free(w->qw), free(w->qf);
        w->alpha = foil_alloc_floats(b, (size_t)m);
        w->weight = foil_alloc_floats(b, (size_t)m);
        w->qa = malloc(sizeof(double) * (size_t)m);
        w->qw = malloc(sizeof(double) * (size_t)m);
        w->qf = malloc(sizeof(float) * 2 * (size_t)m);
        w->quad_cap = w->alpha && w->weight && w->qa && w->qw && w->qf ? m : 0;
        if (!w->quad_cap) return foil_fail(err, "out of memory for %d quadrature points", m);
    }
    if (foil_quadrature(rule, m, w->qa, w->qw, err)) return -1;
    for (int k = 0; k < m; k++) w->qf[k] = (float)w->qa[k], w->qf[m + k] = (float)w->qw[k];
    FOIL_OP(b, b->upload(b, w->alpha, w->qf, sizeof(float) * (size_t)m), err);
    FOIL_OP(b, b->upload(b, w->weight, w->qf + m, sizeof(float) * (size_t)m), err);
    w->q_m = m, w->q_rule = (int)rule;
    return 0;
}

/* out = x + sigma N(0, 1) for SmoothGrad draw `draw`; one op call per run of
 * consecutive data set indices, since the op numbers rows from `first`. */
static int noisy_copy(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p,
                      int draw, foil_err *err) {
    foil_backend *b = w->b;
    for (int i = 0, j; i < p->n; i = j) {
        for (j = i + 1; p->index && j < p->n && p->index[j] == p->index[j - 1] + 1;) j++;
        if (!p->index) j = p->n;
        int64_t first = p->index ? p->index[i] : 0;
        FOIL_OP(b, b->gaussian_noise(b, w->noisy + (size_t)i * w->row, p->x + (size_t)i * w->row,
                                   s->smooth_sigma, s->seed, (uint64_t)draw, first, j - i, w->row),
              err);
    }
    return 0;
}

/* attr (n, row) = the method at m points averaged over the SmoothGrad draws,
 * w->fx (n) = F averaged over the same inputs. */
static int evaluate(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                    const ex_problem *p, int m, foil_err *err) {
    foil_backend *b = w->b;
    const foil_explain_method_info *info = foil_explain_method_info_of(s->method);
    const int n = p->n, draws = s->smooth_samples > 0 ? s->smooth_samples : 1;
    const float inv_draws = 1.0f / (float)draws;
    FOIL_OP(b, b->fill(b, w->fx, 0.0f, (size_t)n), err);
    if (draws > 1) FOIL_OP(b, b->fill(b, attr, 0.0f, (size_t)n * w->row), err);
    for (int d = 0; d < draws; d++) {
        const float *xin = p->x;
        if (s->smooth_samples > 0) {
            if (noisy_copy(w, s, p, d, err)) return -1;
            xin = w->noisy;
        }
        if (info->run(w, s, draws > 1 ? w->one : attr, xin, p, m, err)) return -1;
        if (draws > 1) FOIL_OP(b, b->axpy(b, attr, inv_draws, w->one, (size_t)n * w->row), err);
        if (ex_f_at(w, s->output, w->values, xin, p->tgt, n, err)) return -1;
        FOIL_OP(b, b->axpy(b, w->fx, inv_draws, w->values, (size_t)n), err);
    }
    return 0;
}

static int nonfinite(const int64_t *index, int j, const char *what, foil_err *err) {
    return foil_fail(err, "image %lld: %s not finite (NaN or infinity): the checkpoint, the "
                          "baseline or the data are broken, and no attribution can come from "
                          "them", (long long)(index ? index[j] : j), what);
}

/* Downloads F(x) and sum(attr) of problem p into stats[map[j]] (map NULL:
 * identity) and derives the completeness deltas. A sum is finite only when
 * every attribution is (a NaN or an infinity anywhere in a row reaches it),
 * so one download checks the whole map. index: the images' data set
 * indices (NULL: 0..n-1), for messages. */
static int collect(foil_explain_work *w, const foil_explain_spec *s, const float *attr, int n,
                   int m, const int *map, const int64_t *index, foil_explain_stats *stats,
                   foil_err *err) {
    foil_backend *b = w->b;
    FOIL_OP(b, b->row_sum(b, w->sums, attr, n, w->row), err);
    FOIL_OP(b, b->download(b, w->sum_host, w->sums, sizeof(float) * (size_t)n), err);
    FOIL_OP(b, b->download(b, w->fx_host, w->fx, sizeof(float) * (size_t)n), err);
    for (int j = 0; j < n; j++) {
        if (!foil_finitef(w->fx_host[j])) return nonfinite(index, j, "the explained output F(x) is", err);
        if (!foil_finitef(w->sum_host[j])) return nonfinite(index, j, "its attributions are", err);
    }
    const int completeness = foil_explain_method_info_of(s->method)->completeness;
    for (int j = 0; j < n; j++) {
        foil_explain_stats *st = &stats[map ? map[j] : j];
        double fx = w->fx_host[j], fb = st->f_baseline, diff = fx - fb;
        double floor = FOIL_EXPLAIN_REL_FLOOR * fmax(1.0, fmax(fabs(fx), fabs(fb)));
        double delta = (double)w->sum_host[j] - diff;
        st->f_x = (float)fx;
        st->attr_sum = w->sum_host[j];
        st->delta = completeness ? (float)delta : NAN;
        st->rel_delta = completeness ? (float)(delta / fmax(fabs(diff), floor)) : NAN;
        st->steps = m;
    }
    return 0;
}

/* Images whose |relative delta| is not yet below the tolerance (NaN is not). */
static int unconverged(foil_explain_work *w, const foil_explain_spec *s, int n,
                       const foil_explain_stats *stats) {
    int na = 0;
    for (int i = 0; i < n; i++)
        if (!(fabsf(stats[i].rel_delta) < s->tolerance)) w->active[na++] = i;
    return na;
}

/* Doubles the steps of the unconverged images, compacted into cx/cbase, until
 * they converge or the next doubling would pass max_steps. */
static int refine(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                  const ex_problem *p, int m, foil_explain_stats *stats, foil_err *err) {
    foil_backend *b = w->b;
    const size_t rb = sizeof(float) * w->row;
    for (int na = unconverged(w, s, p->n, stats); na > 0 && m <= s->max_steps / 2;
         na = unconverged(w, s, p->n, stats)) {
        m *= 2;
        if (set_quadrature(w, s->rule, m, err)) return -1;
        for (int j = 0; j < na; j++) {
            int i = w->active[j];
            FOIL_OP(b, b->copy(b, w->cx + j * w->row, p->x + i * w->row, rb), err);
            FOIL_OP(b, b->copy(b, w->cbase + j * w->row, p->base + i * w->row, rb), err);
            w->ctarget_host[j] = p->tgt_host[i];
            w->cindex[j] = p->index ? p->index[i] : i;
        }
        FOIL_OP(b, b->upload(b, w->ctargets, w->ctarget_host, sizeof(int32_t) * (size_t)na), err);
        ex_problem c = {w->cx, w->cbase, w->ctargets, w->ctarget_host, w->cindex, na};
        if (evaluate(w, s, w->cattr, &c, m, err) ||
            collect(w, s, w->cattr, na, m, w->active, w->cindex, stats, err))
            return -1;
        for (int j = 0; j < na; j++)
            FOIL_OP(b, b->copy(b, attr + w->active[j] * w->row, w->cattr + j * w->row, rb), err);
    }
    return 0;
}

int foil_explain_batch(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                       const float *x, const int32_t *target_host, const int64_t *index_host,
                       int n, foil_explain_stats *stats, foil_err *err) {
    foil_backend *b = w->b;
    if (n < 1 || n > w->max_images)
        return foil_fail(err, "explain: batch of %d images, at most %d", n, w->max_images);
    if (foil_explain_spec_check(s, err)) return -1;
    const foil_explain_method_info *info = foil_explain_method_info_of(s->method);
    FOIL_OP(b, b->upload(b, w->targets, target_host, sizeof(int32_t) * (size_t)n), err);
    if (info->features && ex_segment(w, s, x, index_host, n, err)) return -1;
    if (ex_fill_baseline(w, s, w->base, x, index_host, n, err) ||
        ex_f_at(w, s->output, w->fb, w->base, w->targets, n, err))
        return -1;
    FOIL_OP(b, b->download(b, w->fx_host, w->fb, sizeof(float) * (size_t)n), err);
    for (int i = 0; i < n; i++) {
        if (!foil_finitef(w->fx_host[i]))
            return nonfinite(index_host, i, "the explained output at the baseline is", err);
        stats[i].f_baseline = w->fx_host[i];
    }
    ex_problem p = {x, w->base, w->targets, target_host, index_host, n};
    if (info->perturb) return info->perturb(w, s, attr, &p, stats, err);
    const int path = info->path, m = path ? s->steps : info->sampled ? s->samples : 1;
    if (path && set_quadrature(w, s->rule, m, err)) return -1;
    if (evaluate(w, s, attr, &p, m, err) ||
        collect(w, s, attr, n, m, NULL, index_host, stats, err))
        return -1;
    if (path && s->tolerance > 0.0) return refine(w, s, attr, &p, m, stats, err);
    return 0;
}
