/* Running a sweep: every (attack, eps) over the test set in batches. The
 * attack runs on the backend; adversarial images and logits come back once per
 * batch for the metrics, the perturbation norms and the example grids. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "foil/clock.h"
#include "foil/elementwise.h"
#include "foil/metrics.h"
#include "foil/sweep.h"
#include "sweep_internal.h"

/* The predicted class and its softmax probability. */
static void softmax_argmax(const float *z, int c, int *arg, float *conf) {
    int best = foil_row_argmax(z, c);
    *arg = best;
    *conf = (float)(1.0 / foil_softmax_sum(z, c, z[best]));
}

int sweep_state_init(sweep_state *st, const foil_sweep *sw, const foil_sweep_io *io,
                     foil_err *err) {
    memset(st, 0, sizeof *st);
    foil_net *net = io->net;
    const int n = io->test->n, c = net->model->def.classes;
    const size_t row = net->model->in_size, bs = (size_t)net->max_batch;
    st->clean_pred = malloc(sizeof(int32_t) * (size_t)n);
    st->clean_prob = malloc(sizeof(float) * (size_t)n * c);
    st->adv_pred = malloc(sizeof(int32_t) * (size_t)n);
    st->adv_conf = malloc(sizeof(float) * (size_t)n);
    st->targets = malloc(sizeof(int32_t) * (size_t)n);
    st->x_host = malloc(sizeof(float) * bs * row);
    st->logits_host = malloc(sizeof(float) * bs * c);
    st->examples_adv = malloc(sizeof(float) * (size_t)(sw->nexamples + 1) * row);
    st->all_adv = sw->save_idx ? malloc(sizeof(float) * (size_t)n * row) : NULL;
    st->x_adv = foil_alloc_floats(net->b, bs * row);
    if (!st->clean_pred || !st->clean_prob || !st->adv_pred || !st->adv_conf || !st->targets ||
        !st->x_host || !st->logits_host || !st->examples_adv || (sw->save_idx && !st->all_adv) ||
        !st->x_adv) {
        sweep_state_free(st, net->b);
        return foil_fail(err, "out of memory for the sweep (batch %zu)", bs);
    }
    if (foil_attack_work_create(&st->work, net, err) ||
        foil_predict(net, io->dtest, st->clean_pred, st->clean_prob, err)) {
        sweep_state_free(st, net->b);
        return -1;
    }
    return 0;
}

void sweep_state_free(sweep_state *st, foil_backend *b) {
    if (st->work.cur) foil_attack_work_destroy(&st->work, b);
    b->free(b, st->x_adv);
    free(st->clean_pred);
    free(st->clean_prob);
    free(st->adv_pred);
    free(st->adv_conf);
    free(st->targets);
    free(st->x_host);
    free(st->logits_host);
    free(st->examples_adv);
    free(st->all_adv);
    free(st->found);
    free(st->found_l2);
    foil_sb_free(&st->index);
    foil_sb_free(&st->radii);
    memset(st, 0, sizeof *st);
}

/* Per-sample norms of x_adv - x0 accumulated into the row. */
static void add_norms(foil_sweep_row *r, const float *adv, const float *x0, int n, size_t row) {
    for (int i = 0; i < n; i++) {
        double linf = 0, l2 = 0, l0 = 0;
        for (size_t j = 0; j < row; j++) {
            double d = fabs((double)adv[(size_t)i * row + j] - x0[(size_t)i * row + j]);
            linf = d > linf ? d : linf;
            l2 += d * d;
            l0 += d > 0.0;
        }
        l2 = sqrt(l2);
        r->linf_mean += linf, r->l2_mean += l2, r->l0_mean += l0;
        r->linf_max = fmax(r->linf_max, linf);
        r->l2_max = fmax(r->l2_max, l2);
        r->l0_max = fmax(r->l0_max, l0);
    }
}

/* A minimal-perturbation attack's radii of one batch, into radii.csv's rows
 * (empty where it found no adversarial). */
static void add_radii(sweep_state *st, const foil_sweep_io *io, const foil_sweep_attack *a,
                      int start, int bs) {
    const foil_attack_work *w = &st->work;
    for (int i = 0; i < bs; i++) {
        const int k = start + i;
        foil_sb_put(&st->radii, "%s,%s,%d,%d,%d,", foil_attack_name(a->spec.kind), a->label, k,
                    (int)io->test->labels[k], (int)st->clean_pred[k]);
        if (isfinite(w->radius_l2_host[i]))
            foil_sb_put(&st->radii, "%.6g,%.6g", (double)w->radius_l2_host[i],
                        (double)w->radius_linf_host[i]);
        else
            foil_sb_put(&st->radii, ",");
        foil_sb_put(&st->radii, "\n");
    }
}

/* A minimal-perturbation attack over the whole test set at no bound, once:
 * what it found and its radii into st->found, st->found_l2 and radii.csv. */
static int find_minimal(sweep_state *st, const foil_sweep_io *io, const foil_sweep_attack *a,
                        foil_err *err) {
    foil_net *net = io->net;
    const int n = io->test->n;
    const size_t row = net->model->in_size;
    if (!st->found) st->found = malloc(sizeof(float) * (size_t)n * row);
    if (!st->found_l2) st->found_l2 = malloc(sizeof(float) * (size_t)n);
    if (!st->found || !st->found_l2)
        return foil_fail(err, "out of memory for %s's results (%d images)", a->label, n);
    foil_attack_spec spec = a->spec;
    spec.eps = INFINITY;
    for (int start = 0; start < n; start += net->max_batch) {
        const int bs = n - start < net->max_batch ? n - start : net->max_batch;
        if (foil_attack_run(net, &st->work, &spec, st->x_adv,
                            io->dtest->images + (size_t)start * row, io->dtest->labels + start,
                            bs, start, st->targets + start, err))
            return foil_fail_prefix(err, "attack %s", a->label);
        if (net->b->download(net->b, st->found + (size_t)start * row, st->x_adv,
                             sizeof(float) * (size_t)bs * row))
            return foil_fail(err, "%s", net->b->err.msg);
        memcpy(st->found_l2 + start, st->work.radius_l2_host, sizeof(float) * (size_t)bs);
        add_radii(st, io, a, start, bs);
    }
    if (st->radii.failed) return foil_fail(err, "out of memory for radii.csv");
    st->found_of = a;
    return 0;
}

/* The batch's adversarial images into st->x_adv: the attack's, or for a
 * minimal-perturbation attack what it found within eps (else x0). */
static int attack_batch(sweep_state *st, const foil_sweep_io *io, const foil_attack_spec *spec,
                        int start, int bs, foil_err *err) {
    foil_net *net = io->net;
    const size_t row = net->model->in_size;
    if (!foil_attack_info_of(spec->kind)->minimal)
        return foil_attack_run(net, &st->work, spec, st->x_adv,
                               io->dtest->images + (size_t)start * row,
                               io->dtest->labels + start, bs, start, st->targets + start, err);
    for (int i = 0; i < bs; i++) {
        const int k = start + i;
        const float *src = st->found_l2[k] <= spec->eps ? st->found : io->test->images;
        memcpy(st->x_host + (size_t)i * row, src + (size_t)k * row, sizeof(float) * row);
    }
    if (net->b->upload(net->b, st->x_adv, st->x_host, sizeof(float) * (size_t)bs * row))
        return foil_fail(err, "%s", net->b->err.msg);
    st->work.nstages = 0;
    return 0;
}

/* Attacks one batch and collects predictions, norms and example rows. */
static int sweep_batch(sweep_state *st, const foil_sweep *sw, const foil_sweep_io *io,
                       const foil_attack_spec *spec, int start, int bs, foil_sweep_row *r,
                       foil_err *err) {
    foil_net *net = io->net;
    foil_backend *b = net->b;
    const size_t row = net->model->in_size;
    const int c = net->model->def.classes;
    const float *logits;
    if (attack_batch(st, io, spec, start, bs, err) ||
        foil_net_forward(net, st->x_adv, bs, 0, 0, 0, &logits, err))
        return -1;
    if (b->download(b, st->logits_host, logits, sizeof(float) * (size_t)bs * c) ||
        b->download(b, st->x_host, st->x_adv, sizeof(float) * (size_t)bs * row))
        return foil_fail(err, "%s", b->err.msg);
    for (int i = 0; i < bs; i++) {
        const float *z = st->logits_host + (size_t)i * c;
        for (int j = 0; j < c; j++)
            if (!foil_finitef(z[j]))
                return foil_fail(err, "image %d: the model's logits on the adversarial image "
                                      "are not finite (NaN or infinity)", start + i);
        softmax_argmax(z, c, &st->adv_pred[start + i], &st->adv_conf[start + i]);
    }
    add_norms(r, st->x_host, io->test->images + (size_t)start * row, bs, row);
    const foil_attack_work *w = &st->work;
    r->nstages = w->nstages;
    r->clean_right += w->nstages ? w->clean_robust : 0;
    for (int k = 0; k < w->nstages; k++)
        r->stages[k] = spec->stages[k], r->stage_broken[k] += w->stage_broken[k],
        r->stage_seconds[k] += w->stage_seconds[k];
    for (int e = 0; e < sw->nexamples; e++)
        if (sw->examples[e] >= start && sw->examples[e] < start + bs)
            memcpy(st->examples_adv + (size_t)e * row,
                   st->x_host + (size_t)(sw->examples[e] - start) * row, sizeof(float) * row);
    if (st->all_adv)
        memcpy(st->all_adv + (size_t)start * row, st->x_host, sizeof(float) * (size_t)bs * row);
    return 0;
}

/* Accuracy, recalls and success rates of one finished (attack, eps). */
static int finish_row(sweep_state *st, const foil_sweep_io *io, const foil_attack_spec *spec,
                      foil_sweep_row *r, foil_err *err) {
    const int n = io->test->n;
    foil_metrics mt;
    if (foil_metrics_compute(&mt, st->adv_pred, io->test->labels, n, r->classes, err)) return -1;
    r->accuracy = mt.accuracy;
    r->macro_recall = mt.macro_recall;
    /* a class without test images has no recall (NaN: "nan" in CSV, null in
     * JSON, n/a in the report), is not averaged and is never the least recalled */
    for (int k = 0; k < r->classes && k < FOIL_MAX_CLASSES; k++)
        r->recall[k] = mt.support[k] ? mt.recall[k] : NAN;
    r->least_class = foil_metrics_least_recalled(&mt);
    if (r->least_class < 0) r->least_class = 0; /* no test images at all */
    foil_metrics_free(&mt);
    long correct = 0, flipped = 0, on_target = 0;
    for (int i = 0; i < n; i++) {
        int was_right = st->clean_pred[i] == io->test->labels[i];
        correct += was_right;
        flipped += was_right && st->adv_pred[i] != io->test->labels[i];
        on_target += was_right && st->adv_pred[i] == st->targets[i];
    }
    r->success_rate = correct ? (double)flipped / correct : 0.0;
    r->target_rate = spec->target == FOIL_TARGET_NONE ? -1.0
                     : correct                         ? (double)on_target / correct
                                                       : 0.0;
    r->linf_mean /= n, r->l2_mean /= n, r->l0_mean /= n;
    return 0;
}

static int run_one(sweep_state *st, const foil_sweep *sw, const foil_sweep_io *io,
                   const foil_sweep_attack *a, float eps, foil_sweep_row *r, foil_err *err) {
    foil_attack_spec spec = a->spec;
    spec.eps = eps;
    memset(r, 0, sizeof *r);
    r->kind = spec.kind;
    r->norm = foil_attack_norm(&spec);
    snprintf(r->label, sizeof r->label, "%s", a->label);
    r->eps = eps;
    r->n = io->test->n;
    r->classes = io->net->model->def.classes;
    if (spec.target == FOIL_TARGET_CLASS && spec.target_class >= r->classes)
        return foil_fail(err, "attack %s: target class %d, the model has %d classes", a->label,
                         spec.target_class, r->classes);
    double t0 = foil_now_s();
    /* the radii do not depend on eps: the attack runs at its first eps only */
    if (foil_attack_info_of(spec.kind)->minimal && st->found_of != a &&
        find_minimal(st, io, a, err))
        return -1;
    for (int start = 0; start < io->test->n; start += io->net->max_batch) {
        int bs = io->test->n - start < io->net->max_batch ? io->test->n - start : io->net->max_batch;
        if (sweep_batch(st, sw, io, &spec, start, bs, r, err))
            return foil_fail_prefix(err, "attack %s eps %g", a->label, (double)eps);
    }
    if (finish_row(st, io, &spec, r, err)) return -1;
    r->seconds = foil_now_s() - t0;
    if (!io->quiet) {
        fprintf(stderr, "attack %-8s eps %.4g: accuracy %.4f, success %.4f, %.1f s\n", r->label,
                (double)eps, r->accuracy, r->success_rate, r->seconds);
        if (r->nstages) { /* as the reference's log: what each stage broke */
            int robust = r->clean_right;
            fprintf(stderr, "  clean: %d of %d right", robust, r->n);
            for (int k = 0; k < r->nstages; k++) {
                robust -= r->stage_broken[k];
                fprintf(stderr, "; %s broke %d (%d left, %.1f s)",
                        foil_attack_name(r->stages[k]), r->stage_broken[k], robust,
                        r->stage_seconds[k]);
            }
            fprintf(stderr, "\n");
        }
    }
    return sweep_save_examples(st, sw, io, r, err) || sweep_save_idx(st, io, r, err) ? -1 : 0;
}

int foil_sweep_run(const foil_sweep *sw, const foil_sweep_io *io, foil_sweep_row **rows,
                   int *nrows, foil_err *err) {
    *rows = NULL;
    *nrows = 0;
    int total = 0;
    for (int a = 0; a < sw->nattacks; a++) total += sw->attacks[a].neps;
    foil_sweep clamped;
    if (sw->examples_first && sw->nexamples > io->test->n) { /* "the first 8" of 5 images */
        clamped = *sw;
        clamped.nexamples = io->test->n;
        sw = &clamped;
    }
    for (int e = 0; e < sw->nexamples; e++)
        if (sw->examples[e] >= io->test->n)
            return foil_fail(err, "example index %d is past the end of the test set (%d images)",
                             sw->examples[e], io->test->n);
    foil_sweep_row *out = calloc((size_t)total, sizeof *out);
    if (!out) return foil_fail(err, "out of memory");
    sweep_state st;
    if (sweep_state_init(&st, sw, io, err)) {
        free(out);
        return -1;
    }
    int k = 0, rc = 0;
    for (int a = 0; a < sw->nattacks && rc == 0; a++)
        for (int e = 0; e < sw->attacks[a].neps && rc == 0; e++, k++)
            rc = run_one(&st, sw, io, &sw->attacks[a], sw->attacks[a].eps[e], &out[k], err);
    if (rc == 0) rc = sweep_write_example_index(&st, io, err);
    if (rc == 0) rc = sweep_write_radii(&st, io, err);
    sweep_state_free(&st, io->net->b);
    if (rc) {
        free(out);
        return -1;
    }
    *rows = out;
    *nrows = total;
    return 0;
}
