/* The attack loop on batches in backend memory, whatever the attack: goals
 * (labels, predictions or targets), restarts through the kind's run function
 * (attack_table.c), the worst case per sample between restarts, the
 * AutoAttack cascade, and the non-finite checks. Inside a run nothing leaves
 * the device; between runs the per-sample losses and predictions come back.
 * APGD and Square (the table's `compacts`) and the cascade's stages run
 * each restart only on the samples not yet fooled, gathered into a
 * sub-batch whose rows keep their samples' random streams (w->index_on). */
#include <stdlib.h>
#include <string.h>

#include "attack_internal.h"
#include "foil/attack.h"
#include "foil/clock.h"
#include "foil/elementwise.h"
#include "foil/philox.h"

int foil_attack_work_create(foil_attack_work *w, foil_net *net, foil_err *err) {
    memset(w, 0, sizeof *w);
    foil_backend *b = net->b;
    int n = net->max_batch, c = net->model->def.classes;
    size_t row = net->model->in_size;
    w->max_batch = n, w->classes = c, w->row = row;
    w->cur = foil_alloc_floats(b, (size_t)n * row);
    w->velocity = foil_alloc_floats(b, (size_t)n * row);
    w->loss = foil_alloc_floats(b, (size_t)n);
    w->dlogits = foil_alloc_floats(b, (size_t)n * c);
    w->goal = b->alloc(b, sizeof(int32_t) * (size_t)n);
    w->pred = b->alloc(b, sizeof(int32_t) * (size_t)n);
    w->active = b->alloc(b, sizeof(int32_t) * (size_t)n);
    w->mask = b->alloc(b, sizeof(int32_t) * (size_t)n);
    w->bad = b->alloc(b, sizeof(int32_t) * (size_t)n);
    w->loss_host = malloc(sizeof(float) * (size_t)n);
    w->best_loss_host = malloc(sizeof(float) * (size_t)n);
    w->pred_host = malloc(sizeof(int32_t) * (size_t)n);
    w->mask_host = malloc(sizeof(int32_t) * (size_t)n);
    w->best_adv_host = malloc(sizeof(int32_t) * (size_t)n);
    w->bad_host = calloc((size_t)n, sizeof(int32_t));
    w->logits_host = malloc(sizeof(float) * (size_t)n * c);
    float **rows[] = {&w->x_prev, &w->x_best, &w->g_best, &w->x_adv, &w->grad, &w->sub_x0};
    float **floats[] = {&w->st.step, &w->st.loss_best, &w->st.loss_prev, &w->st.best_last,
                        &w->margin};
    int32_t **ints[] = {&w->st.count, &w->st.reduced, &w->st.robust, &w->fooled, &w->target,
                        &w->ids, &w->queries, &w->index, &w->map, &w->goal_all};
    int ok = 1;
    for (size_t k = 0; k < sizeof rows / sizeof *rows; k++)
        ok &= (*rows[k] = foil_alloc_floats(b, (size_t)n * row)) != NULL;
    for (size_t k = 0; k < sizeof floats / sizeof *floats; k++)
        ok &= (*floats[k] = foil_alloc_floats(b, (size_t)n)) != NULL;
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
        ok &= (*ints[k] = b->alloc(b, sizeof(int32_t) * (size_t)n)) != NULL;
    w->ones_host = malloc(sizeof(int32_t) * (size_t)n);
    w->zeros_host = calloc((size_t)n, sizeof(int32_t));
    w->margin_host = malloc(sizeof(float) * (size_t)n);
    w->radius_l2_host = malloc(sizeof(float) * (size_t)n);
    w->radius_linf_host = malloc(sizeof(float) * (size_t)n);
    w->merge = foil_alloc_floats(b, 2 * (size_t)n * row);
    int32_t **host_ints[] = {&w->index_host, &w->map_host, &w->alive_host};
    for (size_t k = 0; k < sizeof host_ints / sizeof *host_ints; k++)
        ok &= (*host_ints[k] = malloc(sizeof(int32_t) * (size_t)n)) != NULL;
    for (int i = 0; w->ones_host && i < n; i++) w->ones_host[i] = 1;
    if (!ok || !w->ones_host || !w->zeros_host || !w->margin_host || !w->merge ||
        !w->radius_l2_host || !w->radius_linf_host || !w->cur || !w->velocity || !w->loss ||
        !w->dlogits || !w->goal || !w->pred || !w->active || !w->mask || !w->bad ||
        !w->loss_host || !w->best_loss_host || !w->pred_host || !w->mask_host ||
        !w->best_adv_host || !w->bad_host || !w->logits_host) {
        foil_attack_work_destroy(w, b);
        return foil_fail(err, "out of memory for attack buffers (batch %d)", n);
    }
    return 0;
}

void foil_attack_work_destroy(foil_attack_work *w, foil_backend *b) {
    b->free(b, w->cur);
    b->free(b, w->velocity);
    b->free(b, w->loss);
    b->free(b, w->dlogits);
    b->free(b, w->goal);
    b->free(b, w->pred);
    b->free(b, w->active);
    b->free(b, w->mask);
    b->free(b, w->bad);
    free(w->loss_host);
    free(w->best_loss_host);
    free(w->pred_host);
    free(w->mask_host);
    free(w->best_adv_host);
    free(w->bad_host);
    free(w->logits_host);
    void *dev[] = {w->x_prev, w->x_best, w->g_best, w->x_adv, w->grad, w->st.step,
                   w->st.loss_best, w->st.loss_prev, w->st.best_last, w->st.count,
                   w->st.reduced, w->st.robust, w->fooled, w->target, w->ids, w->queries,
                   w->margin, w->index, w->map, w->goal_all, w->sub_x0, w->merge};
    for (size_t k = 0; k < sizeof dev / sizeof *dev; k++) b->free(b, dev[k]);
    free(w->ones_host);
    free(w->zeros_host);
    free(w->margin_host);
    free(w->radius_l2_host);
    free(w->radius_linf_host);
    free(w->index_host);
    free(w->map_host);
    free(w->alive_host);
    memset(w, 0, sizeof *w);
}

static int nonfinite(int64_t image, const char *what, foil_err *err) {
    return foil_fail(err, "image %lld: the model's %s are not finite (NaN or infinity): the "
                          "checkpoint or the data are broken, and no robustness number can come "
                          "from them", (long long)image, what);
}

/* The flags the attack's ops raised (logits, gradients), on the host. */
static int check_flags(foil_net *net, foil_attack_work *w, int n, int64_t first, foil_err *err) {
    foil_backend *b = net->b;
    FOIL_OP(b, b->download(b, w->bad_host, w->bad, sizeof(int32_t) * (size_t)n), err);
    for (int i = 0; i < n; i++)
        if (w->bad_host[i]) return nonfinite(first + i, "logits or input gradients", err);
    return 0;
}

/* The class each sample moves away from (untargeted) or towards (targeted),
 * from the clean logits: computed once per batch on the host. */
static int set_goals(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                     const float *x0, const int32_t *labels, int n, int64_t first,
                     int32_t *target_out, foil_err *err) {
    foil_backend *b = net->b;
    const int c = w->classes;
    const int need_logits = s->use_predicted || s->target == FOIL_TARGET_LEAST_LIKELY;
    int32_t *goal = w->pred_host; /* scratch (n) */
    FOIL_OP(b, b->download(b, goal, labels, sizeof(int32_t) * (size_t)n), err);
    if (need_logits) {
        const float *logits;
        if (foil_net_forward(net, x0, n, 0, 0, 0, &logits, err)) return -1;
        FOIL_OP(b, b->download(b, w->logits_host, logits, sizeof(float) * (size_t)n * c), err);
    }
    for (int i = 0; i < n; i++) {
        int y = goal[i], lo = 0, hi = 0;
        if (need_logits) {
            const float *z = w->logits_host + (size_t)i * c;
            for (int j = 0; j < c; j++)
                if (!foil_finitef(z[j])) return nonfinite(first + i, "logits", err);
            for (int j = 1; j < c; j++) {
                lo = z[j] < z[lo] ? j : lo;
                hi = z[j] > z[hi] ? j : hi;
            }
        }
        if (s->use_predicted) y = hi;
        uint32_t u;
        switch (s->target) {
        case FOIL_TARGET_NONE: goal[i] = y; break;
        case FOIL_TARGET_CLASS: goal[i] = s->target_class; break;
        case FOIL_TARGET_LEAST_LIKELY: goal[i] = lo; break;
        case FOIL_TARGET_NEXT: goal[i] = (y + 1) % c; break;
        case FOIL_TARGET_RANDOM: /* uniform over the other classes */
            u = foil_rng_u32(s->seed, FOIL_STREAM(FOIL_RNG_ATTACK, 0xFFFFFFull << 32),
                             (uint64_t)(first + i));
            goal[i] = (int32_t)((y + 1 + (int)(u % (uint32_t)(c - 1))) % c);
            break;
        }
        if (target_out) target_out[i] = goal[i];
    }
    FOIL_OP(b, b->upload(b, w->goal, goal, sizeof(int32_t) * (size_t)n), err);
    return 0;
}

/* APGD-T, FAB-T: w->target = the class of each sample's (rank + 1)-th largest
 * clean logit (rank 1: the second; ties: the lower class first). */
int foil_attack_set_targets(foil_net *net, foil_attack_work *w, const float *x0, int n, int rank,
                            foil_err *err) {
    foil_backend *b = net->b;
    const int c = w->classes;
    const float *logits;
    if (foil_net_forward(net, x0, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->download(b, w->logits_host, logits, sizeof(float) * (size_t)n * c), err);
    for (int i = 0; i < n; i++) {
        const float *z = w->logits_host + (size_t)i * c;
        int above = -1; /* the class found at the previous rank */
        for (int r = 0; r <= rank; r++) {
            int best = -1;
            for (int j = 0; j < c; j++) { /* the largest after `above` in (value, class) order */
                int after = above < 0 || z[j] < z[above] || (z[j] == z[above] && j > above);
                if (after && (best < 0 || z[j] > z[best])) best = j;
            }
            above = best;
        }
        w->mask_host[i] = above;
    }
    FOIL_OP(b, b->upload(b, w->target, w->mask_host, sizeof(int32_t) * (size_t)n), err);
    return 0;
}

/* Losses and predictions of w->cur, on the host. */
static int score(foil_net *net, foil_attack_work *w, int n, foil_err *err) {
    foil_backend *b = net->b;
    const float *logits;
    if (foil_net_forward(net, w->cur, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
    FOIL_OP(b, b->softmax_xent(b, w->loss, NULL, logits, w->goal, n, w->classes, 1.0f), err);
    FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
    FOIL_OP(b, b->download(b, w->loss_host, w->loss, sizeof(float) * (size_t)n), err);
    FOIL_OP(b, b->download(b, w->pred_host, w->pred, sizeof(int32_t) * (size_t)n), err);
    return 0;
}

/* The runs an attack makes: restarts, times the targets of APGD-T. */
static int runs_of(const foil_attack_spec *s) {
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    return (s->restarts > 1 ? s->restarts : 1) * (info->multi_target ? s->target_classes : 1);
}

/* Whether the spec (of an attack or of a cascade's stage) can run on this model. */
static int check_spec(const foil_attack_work *w, const foil_attack_spec *s, foil_err *err) {
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    if (!info) return foil_fail(err, "attack: unknown kind %d", (int)s->kind);
    if ((info->iterative || info->apgd || info->fab || info->minimal) && s->steps < 1)
        return foil_fail(err, "attack %s: steps must be >= 1", info->name);
    if (info->cascade) {
        if (s->nstages < 1 || s->nstages > FOIL_CASCADE_MAX)
            return foil_fail(err, "attack autoattack: %d stages (1 to %d)", s->nstages,
                             FOIL_CASCADE_MAX);
        for (int k = 0; k < s->nstages; k++) {
            const foil_attack_info *st = foil_attack_info_of(s->stages[k]);
            if (!st || !(st->apgd || st->square || st->fab))
                return foil_fail(err, "attack autoattack: stage %d is not APGD, FAB-T or Square",
                                 k + 1);
            foil_attack_spec one = *s;
            one.kind = s->stages[k];
            if (check_spec(w, &one, err)) return -1;
        }
    }
    if (info->multi_target && (s->target_classes < 1 || s->target_classes >= w->classes))
        return foil_fail(err, "target_classes %d is not in [1, %d] (the model has %d classes)",
                         s->target_classes, w->classes - 1, w->classes);
    if (s->target != FOIL_TARGET_NONE && info->apgd)
        return foil_fail(err, "attack %s: untargeted (apgd_t picks its own targets)",
                         info->name);
    if (s->target != FOIL_TARGET_NONE &&
        (info->square || info->fab || info->minimal || info->cascade))
        return foil_fail(err, "attack %s: untargeted", info->name);
    return 0;
}

/* Run r of s on the samples of the batch (n) still alive (w->alive_host),
 * gathered into a sub-batch: the ones it fools leave alive and take their
 * adversarial into x_adv (take_all: every sample of the sub-batch takes its
 * result). *broken counts the samples fooled. goal: the batch's goals. */
static int run_alive(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                     float *x_adv, const float *x0, const int32_t *goal, int n, int64_t first,
                     int r, int take_all, int *broken, foil_err *err) {
    foil_backend *b = net->b;
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    const size_t row = w->row;
    int m = 0;
    for (int i = 0; i < n; i++)
        if (w->alive_host[i]) w->index_host[m++] = i;
    if (m == 0) return 0;
    const size_t ints = sizeof(int32_t) * (size_t)m;
    FOIL_OP(b, b->upload(b, w->index, w->index_host, ints), err);
    FOIL_OP(b, b->gather_rows(b, w->sub_x0, x0, w->index, m, row), err);
    FOIL_OP(b, b->gather_labels(b, w->goal, w->goal_all, w->index, m), err);
    FOIL_OP(b, b->upload(b, w->bad, w->zeros_host, ints), err);
    w->index_on = w->index;
    int rc = info->run(net, w, s, w->sub_x0, m, first, r, err);
    w->index_on = NULL;
    if (rc) return -1;
    const float *logits;
    if (foil_net_forward(net, w->cur, m, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, m, (size_t)w->classes), err);
    FOIL_OP(b, b->download(b, w->bad_host, w->bad, ints), err);
    for (int j = 0; j < m; j++)
        if (w->bad_host[j])
            return nonfinite(first + w->index_host[j], "logits or input gradients", err);
    FOIL_OP(b, b->argmax(b, w->pred, logits, m, w->classes), err);
    FOIL_OP(b, b->download(b, w->pred_host, w->pred, ints), err);
    int changed = take_all;
    for (int i = 0; i < n; i++) w->map_host[i] = i;
    for (int j = 0; j < m; j++) {
        const int k = w->index_host[j], fooled = w->pred_host[j] != goal[k];
        if (fooled || take_all) w->map_host[k] = n + j;
        if (fooled) w->alive_host[k] = 0, ++*broken, changed = 1;
    }
    if (!changed) return 0;
    FOIL_OP(b, b->copy(b, w->merge, x_adv, sizeof(float) * (size_t)n * row), err);
    FOIL_OP(b, b->copy(b, w->merge + (size_t)n * row, w->cur, sizeof(float) * (size_t)m * row),
            err);
    FOIL_OP(b, b->upload(b, w->map, w->map_host, sizeof(int32_t) * (size_t)n), err);
    FOIL_OP(b, b->gather_rows(b, x_adv, w->merge, w->map, n, row), err);
    return 0;
}

/* APGD and Square: the first run on every sample, each further run (restart
 * or target) only on the samples not yet fooled, as the reference. */
static int run_compacting(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                          float *x_adv, const float *x0, const int32_t *goal, int n,
                          int64_t first, foil_err *err) {
    int broken = 0;
    for (int i = 0; i < n; i++) w->alive_host[i] = 1;
    for (int r = 0, runs = runs_of(s); r < runs; r++)
        if (run_alive(net, w, s, x_adv, x0, goal, n, first, r, r == 0, &broken, err)) return -1;
    return 0;
}

/* The cascade: the clean misclassified samples count as broken (x_adv =
 * x0); each stage then runs on the samples every earlier stage left robust,
 * and its count of newly broken samples goes to w->stage_broken. */
static int run_cascade(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                       float *x_adv, const float *x0, const int32_t *goal, int n, int64_t first,
                       foil_err *err) {
    foil_backend *b = net->b;
    const float *logits;
    if (foil_net_forward(net, x0, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
    if (check_flags(net, w, n, first, err)) return -1;
    FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
    FOIL_OP(b, b->download(b, w->pred_host, w->pred, sizeof(int32_t) * (size_t)n), err);
    w->clean_robust = 0;
    for (int i = 0; i < n; i++) w->clean_robust += w->alive_host[i] = w->pred_host[i] == goal[i];
    FOIL_OP(b, b->copy(b, x_adv, x0, sizeof(float) * (size_t)n * w->row), err);
    w->nstages = s->nstages;
    for (int k = 0; k < s->nstages; k++) { /* the stages were checked up front (check_spec) */
        foil_attack_spec st = *s;
        st.kind = s->stages[k];
        st.random_start = 1;
        w->stage_broken[k] = 0;
        const double t0 = foil_now_s();
        for (int r = 0, runs = runs_of(&st); r < runs; r++)
            if (run_alive(net, w, &st, x_adv, x0, goal, n, first, r, 0, &w->stage_broken[k],
                          err))
                return -1;
        FOIL_OP(b, b->sync(b), err); /* the stage's work done, for its time */
        w->stage_seconds[k] = foil_now_s() - t0;
    }
    return 0;
}

int foil_attack_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                    float *x_adv, const float *x0, const int32_t *labels, int n, int64_t first,
                    int32_t *target_out, foil_err *err) {
    foil_backend *b = net->b;
    if (n < 1 || n > w->max_batch)
        return foil_fail(err, "attack: batch of %d, at most %d", n, w->max_batch);
    if (s->eps < 0.0f) return foil_fail(err, "attack: eps must be >= 0, got %g", (double)s->eps);
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    if (check_spec(w, s, err)) return -1;
    memset(w->bad_host, 0, sizeof(int32_t) * (size_t)n);
    FOIL_OP(b, b->upload(b, w->bad, w->bad_host, sizeof(int32_t) * (size_t)n), err);
    if (set_goals(net, w, s, x0, labels, n, first, target_out, err)) return -1;
    const int targeted = s->target != FOIL_TARGET_NONE;
    const int restarts = runs_of(s);
    const size_t bytes = sizeof(float) * (size_t)n * w->row;
    int32_t *goal = malloc(sizeof(int32_t) * (size_t)n);
    if (!goal) return foil_fail(err, "out of memory");
    int rc = -1;
    if (b->download(b, goal, w->goal, sizeof(int32_t) * (size_t)n)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    w->nstages = 0;
    if (info->cascade || info->compacts) {
        if (b->copy(b, w->goal_all, w->goal, sizeof(int32_t) * (size_t)n)) goto op_failed;
        rc = info->cascade ? run_cascade(net, w, s, x_adv, x0, goal, n, first, err)
                           : run_compacting(net, w, s, x_adv, x0, goal, n, first, err);
        goto done;
    }
    for (int r = 0; r < restarts; r++) {
        if (info->run(net, w, s, x0, n, first, r, err)) goto done;
        if (restarts == 1) {
            if (b->copy(b, x_adv, w->cur, bytes)) goto op_failed;
            break;
        }
        if (score(net, w, n, err)) goto done;
        /* keep, per sample, the restart that succeeds, or else has the worst loss */
        for (int i = 0; i < n; i++) {
            int adv = targeted ? w->pred_host[i] == goal[i] : w->pred_host[i] != goal[i];
            float loss = targeted ? -w->loss_host[i] : w->loss_host[i];
            int better = r == 0 || (adv && !w->best_adv_host[i]) ||
                         (adv == w->best_adv_host[i] && loss > w->best_loss_host[i]);
            w->mask_host[i] = better;
            if (better) w->best_adv_host[i] = adv, w->best_loss_host[i] = loss;
        }
        if (b->upload(b, w->mask, w->mask_host, sizeof(int32_t) * (size_t)n) ||
            b->select_rows(b, x_adv, w->cur, w->mask, n, w->row))
            goto op_failed;
    }
    rc = check_flags(net, w, n, first, err);
    goto done;
op_failed:
    foil_fail(err, "%s", b->err.msg);
done:
    free(goal);
    return rc;
}
