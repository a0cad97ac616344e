/* The explanation-shift run: per batch of images, IG of the clean images once,
 * then for every (attack, eps) the attack, IG of the adversarial images for
 * the true class and for the adversarial prediction, and the per-image
 * similarity measures. Everything heavy runs on the backend; maps come back
 * once per batch for the measures. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "shift_internal.h"

static int state_init(shift_state *s, const foil_shift_io *io, int nrows, foil_err *err) {
    memset(s, 0, sizeof *s);
    foil_backend *b = io->net->b;
    const size_t bn = (size_t)io->batch, row = io->net->model->in_size, n = (size_t)io->nimages;
    s->row = row;
    s->idx_dev = b->alloc(b, sizeof(int32_t) * bn);
    s->labels_dev = b->alloc(b, sizeof(int32_t) * bn);
    s->x_dev = foil_alloc_floats(b, bn * row);
    s->adv_dev = foil_alloc_floats(b, bn * row);
    s->attr_dev = foil_alloc_floats(b, bn * row);
    s->labels = malloc(sizeof(int32_t) * bn);
    s->adv_pred = malloc(sizeof(int32_t) * bn);
    float **hf[] = {&s->x, &s->adv, &s->delta, &s->ig_clean, &s->ig_true, &s->ig_pred};
    int ok = s->idx_dev && s->labels_dev && s->x_dev && s->adv_dev && s->attr_dev && s->labels &&
             s->adv_pred;
    for (int i = 0; i < 6; i++) ok &= (*hf[i] = malloc(sizeof(float) * bn * row)) != NULL;
    s->st_clean = calloc(bn, sizeof(foil_explain_stats));
    s->st_true = calloc(bn, sizeof(foil_explain_stats));
    s->st_pred = calloc(bn, sizeof(foil_explain_stats));
    s->logits = malloc(sizeof(float) * bn * (size_t)io->net->model->def.classes);
    s->acc = calloc((size_t)nrows, sizeof(shift_acc));
    ok &= s->st_clean && s->st_true && s->st_pred && s->logits && s->acc;
    for (int r = 0; ok && r < nrows; r++) {
        shift_acc *a = &s->acc[r];
        double **d[] = {&a->sp_true, &a->sp_pred, &a->iou_true, &a->iou_pred, &a->mass};
        float **f[] = {&a->rd_clean, &a->rd_true, &a->rd_pred};
        for (int i = 0; i < 5; i++) ok &= (*d[i] = calloc(n, sizeof(double))) != NULL;
        for (int i = 0; i < 3; i++) ok &= (*f[i] = calloc(n, sizeof(float))) != NULL;
    }
    if (!ok) return foil_fail(err, "out of memory for the shift analysis");
    if (foil_attack_work_create(&s->aw, io->net, err)) return -1;
    return foil_explain_work_create(&s->ew, io->net, io->batch, err);
}

static void state_free(shift_state *s, const foil_shift_io *io, int nrows) {
    foil_backend *b = io->net->b;
    if (s->aw.cur) foil_attack_work_destroy(&s->aw, b);
    if (s->ew) foil_explain_work_destroy(s->ew);
    void *dev[] = {s->idx_dev, s->labels_dev, s->x_dev, s->adv_dev, s->attr_dev};
    for (int i = 0; i < 5; i++) b->free(b, dev[i]);
    void *host[] = {s->labels, s->adv_pred, s->x, s->adv, s->delta, s->ig_clean, s->ig_true,
                    s->ig_pred, s->st_clean, s->st_true, s->st_pred, s->logits};
    for (int i = 0; i < 12; i++) free(host[i]);
    for (int r = 0; s->acc && r < nrows; r++) {
        shift_acc *a = &s->acc[r];
        void *p[] = {a->sp_true, a->sp_pred, a->iou_true, a->iou_pred, a->mass, a->rd_clean,
                     a->rd_true, a->rd_pred};
        for (int i = 0; i < 8; i++) free(p[i]);
    }
    free(s->acc);
}

/* IG of x (nb images, backend) for the classes target (host) into host out. */
static int explain(shift_state *s, const foil_shift_io *io, const foil_explain_spec *spec,
                   const float *x, const int32_t *target, const int64_t *index, int nb,
                   float *out, foil_explain_stats *st, foil_err *err) {
    foil_backend *b = io->net->b;
    if (foil_explain_batch(s->ew, spec, s->attr_dev, x, target, index, nb, st, err)) return -1;
    if (b->download(b, out, s->attr_dev, sizeof(float) * (size_t)nb * s->row))
        return foil_fail(err, "%s", b->err.msg);
    return 0;
}

/* Attack, adversarial predictions and the two adversarial explanations. */
static int attack_and_explain(shift_state *s, const foil_shift_io *io,
                              const foil_explain_spec *spec, const foil_attack_spec *as,
                              const int64_t *index, int nb, foil_err *err) {
    foil_net *net = io->net;
    foil_backend *b = net->b;
    const int c = net->model->def.classes;
    const float *logits;
    if (foil_attack_run(net, &s->aw, as, s->adv_dev, s->x_dev, s->labels_dev, nb, index[0], NULL,
                        err) ||
        foil_net_forward(net, s->adv_dev, nb, 0, 0, 0, &logits, err))
        return -1;
    if (b->download(b, s->logits, logits, sizeof(float) * (size_t)nb * c) ||
        b->download(b, s->adv, s->adv_dev, sizeof(float) * (size_t)nb * s->row))
        return foil_fail(err, "%s", b->err.msg);
    for (int i = 0; i < nb; i++) {
        const float *z = s->logits + (size_t)i * c;
        int best = 0;
        for (int j = 1; j < c; j++) best = z[j] > z[best] ? j : best;
        s->adv_pred[i] = best;
    }
    for (size_t j = 0; j < (size_t)nb * s->row; j++) s->delta[j] = s->adv[j] - s->x[j];
    return explain(s, io, spec, s->adv_dev, s->labels, index, nb, s->ig_true, s->st_true, err) ||
                   explain(s, io, spec, s->adv_dev, s->adv_pred, index, nb, s->ig_pred,
                           s->st_pred, err)
               ? -1
               : 0;
}

static void measure(shift_state *s, const foil_shift_io *io, shift_acc *a, int i0, int nb) {
    const size_t row = s->row;
    for (int i = 0; i < nb; i++) {
        const size_t o = (size_t)i * row;
        const int k = i0 + i;
        a->sp_true[k] = foil_spearman(s->ig_clean + o, s->ig_true + o, row);
        a->sp_pred[k] = foil_spearman(s->ig_clean + o, s->ig_pred + o, row);
        a->iou_true[k] = foil_topk_iou(s->ig_clean + o, s->ig_true + o, row, io->topk);
        a->iou_pred[k] = foil_topk_iou(s->ig_clean + o, s->ig_pred + o, row, io->topk);
        a->mass[k] = foil_mass_on_perturbed(s->ig_true + o, s->delta + o, row);
        a->rd_clean[k] = fabsf(s->st_clean[i].rel_delta);
        a->rd_true[k] = fabsf(s->st_true[i].rel_delta);
        a->rd_pred[k] = fabsf(s->st_pred[i].rel_delta);
        a->correct += s->adv_pred[i] == s->labels[i];
    }
}

/* Loads images [i0, i0 + nb) of the list and explains them clean. */
static int load_batch(shift_state *s, const foil_shift_io *io, const foil_explain_spec *spec,
                      int i0, int nb, int64_t *index, foil_err *err) {
    foil_backend *b = io->net->b;
    for (int i = 0; i < nb; i++) {
        int idx = io->images[i0 + i];
        index[i] = idx;
        s->labels[i] = io->test->labels[idx];
        memcpy(s->x + (size_t)i * s->row, io->test->images + (size_t)idx * s->row,
               sizeof(float) * s->row);
    }
    if (b->upload(b, s->idx_dev, io->images + i0, sizeof(int32_t) * (size_t)nb) ||
        b->gather_rows(b, s->x_dev, io->dtest->images, s->idx_dev, nb, s->row) ||
        b->gather_labels(b, s->labels_dev, io->dtest->labels, s->idx_dev, nb))
        return foil_fail(err, "%s", b->err.msg);
    return explain(s, io, spec, s->x_dev, s->labels, index, nb, s->ig_clean, s->st_clean, err);
}

static double mean(const double *v, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    return n ? s / n : 0.0;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static double median(float *v, int n) {
    qsort(v, (size_t)n, sizeof(float), cmp_float);
    return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * ((double)v[n / 2 - 1] + v[n / 2]);
}

static void summarize(const shift_acc *a, int n, foil_shift_row *r) {
    r->n = n;
    r->accuracy = n ? (double)a->correct / n : 0.0;
    r->spearman_true = mean(a->sp_true, n);
    r->spearman_pred = mean(a->sp_pred, n);
    r->iou_true = mean(a->iou_true, n);
    r->iou_pred = mean(a->iou_pred, n);
    r->mass_perturbed = mean(a->mass, n);
    r->rel_delta_clean = median(a->rd_clean, n);
    r->rel_delta_adv_true = median(a->rd_true, n);
    r->rel_delta_adv_pred = median(a->rd_pred, n);
}

static int run_batches(shift_state *s, const foil_sweep *sw, const foil_explain_spec *spec,
                       const foil_shift_io *io, foil_shift_row *rows, foil_err *err) {
    int64_t index[4096];
    for (int i0 = 0; i0 < io->nimages; i0 += io->batch) {
        int nb = io->nimages - i0 < io->batch ? io->nimages - i0 : io->batch;
        if (load_batch(s, io, spec, i0, nb, index, err)) return -1;
        int k = 0;
        for (int a = 0; a < sw->nattacks; a++)
            for (int e = 0; e < sw->attacks[a].neps; e++, k++) {
                foil_attack_spec as = sw->attacks[a].spec;
                as.eps = sw->attacks[a].eps[e];
                if (attack_and_explain(s, io, spec, &as, index, nb, err)) return -1;
                measure(s, io, &s->acc[k], i0, nb);
                if (i0 == 0 && io->grid_rows > 0 && shift_save_grid(s, io, &rows[k], nb, err))
                    return -1;
            }
        if (!io->quiet) fprintf(stderr, "shift: %d of %d images\n", i0 + nb, io->nimages);
    }
    return 0;
}

int foil_shift_run(const foil_sweep *sw, const foil_explain_spec *spec, const foil_shift_io *io,
                   foil_shift_row **rows, int *nrows, foil_err *err) {
    *rows = NULL;
    *nrows = 0;
    if (io->batch < 1 || io->batch > 4096 || io->nimages < 1)
        return foil_fail(err, "shift: needs 1 to 4096 images per batch and at least one image");
    int total = 0;
    for (int a = 0; a < sw->nattacks; a++) total += sw->attacks[a].neps;
    foil_shift_row *out = calloc((size_t)total, sizeof *out);
    if (!out) return foil_fail(err, "out of memory");
    for (int a = 0, k = 0; a < sw->nattacks; a++)
        for (int e = 0; e < sw->attacks[a].neps; e++, k++) {
            out[k].kind = sw->attacks[a].spec.kind;
            out[k].norm = foil_attack_norm(&sw->attacks[a].spec);
            snprintf(out[k].label, sizeof out[k].label, "%s", sw->attacks[a].label);
            out[k].eps = sw->attacks[a].eps[e];
        }
    shift_state s;
    int rc = state_init(&s, io, total, err);
    if (rc == 0) rc = run_batches(&s, sw, spec, io, out, err);
    for (int k = 0; rc == 0 && k < total; k++) summarize(&s.acc[k], io->nimages, &out[k]);
    state_free(&s, io, total);
    if (rc) {
        free(out);
        return -1;
    }
    *rows = out;
    *nrows = total;
    return 0;
}
