/* APGD (Croce and Hein 2020, "Reliable evaluation of adversarial robustness
 * with an ensemble of diverse parameter-free attacks"), as the AutoAttack
 * reference (autopgd_base.py): from a random start (or x0), the gradient
 * at the start, then `steps` iterations of
 *   z = P(x + eta sign(g)),  x' = P(x + a (z - x) + (1 - a) (x - x_prev))
 * (a = 1 on the first, FOIL_APGD_ALPHA after; L2: g / ||g||), eta = 2 eps
 * halved at the checkpoints of foil_apgd_checkpoints where at most
 * FOIL_APGD_RHO of the steps since the last one increased the loss, or
 * where the step was not halved last time and the best loss did not
 * improve; a halving sample restarts from its best point and gradient. The
 * result is the last misclassified iterate, or the best-loss point when no
 * iterate was. Every per-sample decision is a backend op: within a run
 * nothing but the check of the network's own ops crosses to the host
 * (APGD-T's targets are chosen once per run from the clean logits).
 *
 * Differences from the reference, all documented in docs/attacks.md: the
 * random start is foil's attack_random_start (uniform in the ball; the
 * reference scales a uniform L-inf draw to the ball's surface and an L2
 * Gaussian to its sphere), and the first checkpoint compares the first
 * step's loss with the start's (the reference compares it with a zero). */
#include <math.h>
#include <stdlib.h>

#include "attack_internal.h"

int foil_apgd_checkpoints(int n, int *len, int cap) {
    int k = (int)(0.22 * n), dec = (int)(0.03 * n), lo = (int)(0.06 * n), count = 0;
    k = k > 1 ? k : 1, dec = dec > 1 ? dec : 1, lo = lo > 1 ? lo : 1;
    for (int at = 0; at + k <= n; count++) {
        if (len && count < cap) len[count] = k;
        at += k;
        k = k - dec > lo ? k - dec : lo;
    }
    return count;
}

/* The loss, its gradient (into w->grad) and whether w->cur is misclassified. */
static int evaluate(foil_net *net, foil_attack_work *w, int loss, int n, foil_err *err) {
    foil_backend *b = net->b;
    const float *logits;
    if (foil_net_forward(net, w->cur, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
    FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
    FOIL_OP(b, b->compare(b, w->fooled, w->pred, w->goal, n, 0), err);
    if (loss == FOIL_LOSS_CE)
        FOIL_OP(b, b->softmax_xent(b, w->loss, w->dlogits, logits, w->goal, n, w->classes, 1.0f),
                err);
    else
        FOIL_OP(b, b->dlr_loss(b, w->loss, w->dlogits, logits, w->goal,
                               loss == FOIL_LOSS_DLR_TARGETED ? w->target : NULL, n,
                               w->classes), err);
    if (foil_net_backward(net, w->dlogits, 0, 1, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, net->dx, n, w->row), err);
    FOIL_OP(b, b->copy(b, w->grad, net->dx, sizeof(float) * (size_t)n * w->row), err);
    return 0;
}

/* The state at the start of a run. */
static int reset(foil_backend *b, foil_attack_work *w, float eta, int n, foil_err *err) {
    const foil_apgd_state *st = &w->st;
    const size_t ints = sizeof(int32_t) * (size_t)n;
    FOIL_OP(b, b->fill(b, st->step, eta, (size_t)n), err);
    FOIL_OP(b, b->fill(b, st->loss_best, -INFINITY, (size_t)n), err);
    FOIL_OP(b, b->fill(b, st->loss_prev, INFINITY, (size_t)n), err); /* the start counts nothing */
    FOIL_OP(b, b->fill(b, st->best_last, -INFINITY, (size_t)n), err);
    FOIL_OP(b, b->upload(b, st->count, w->zeros_host, ints), err);
    FOIL_OP(b, b->upload(b, st->reduced, w->ones_host, ints), err);
    FOIL_OP(b, b->upload(b, st->robust, w->ones_host, ints), err);
    return 0;
}

int foil_attack_apgd_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                         const float *x0, int n, int64_t first, int restart, foil_err *err) {
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    foil_backend *b = net->b;
    const size_t row = w->row, bytes = sizeof(float) * (size_t)n * row;
    const foil_attack_hparams hp = {foil_attack_norm(s), FOIL_STEP_SIGN, s->eps, 0.0f, 0.0f, 0};
    int len[64];
    const int nck = foil_apgd_checkpoints(s->steps, len, 64);
    if (nck > 64) return foil_fail(err, "attack %s: %d steps, too many checkpoints", info->name,
                                   s->steps);
    const int per_target = s->restarts > 1 ? s->restarts : 1; /* targets outer, as the reference */
    if (info->multi_target &&
        foil_attack_set_targets(net, w, x0, n, restart / per_target + 1, err))
        return -1;
    if (s->random_start)
        FOIL_OP(b, b->attack_random_start(b, w->cur, x0, n, row, &hp, s->seed, (uint64_t)restart,
                                          first, w->index_on), err);
    else
        FOIL_OP(b, b->copy(b, w->cur, x0, bytes), err);
    FOIL_OP(b, b->copy(b, w->x_prev, w->cur, bytes), err);
    FOIL_OP(b, b->copy(b, w->x_adv, w->cur, bytes), err);
    if (reset(b, w, foil_attack_step_size(s), n, err) || evaluate(net, w, info->loss, n, err))
        return -1;
    FOIL_OP(b, b->apgd_update(b, &w->st, w->x_best, w->g_best, w->x_adv, w->cur, w->grad,
                              w->loss, w->fooled, n, row), err);
    for (int i = 0, j = 0, since = 0; i < s->steps; i++) {
        FOIL_OP(b, b->apgd_step(b, w->cur, w->x_prev, w->grad, x0, w->st.step,
                                i ? FOIL_APGD_ALPHA : 1.0f, n, row, &hp), err);
        if (evaluate(net, w, info->loss, n, err)) return -1;
        FOIL_OP(b, b->apgd_update(b, &w->st, w->x_best, w->g_best, w->x_adv, w->cur, w->grad,
                                  w->loss, w->fooled, n, row), err);
        if (j < nck && ++since == len[j]) {
            FOIL_OP(b, b->apgd_checkpoint(b, &w->st, w->cur, w->grad, w->x_best, w->g_best,
                                          len[j], FOIL_APGD_RHO, n, row), err);
            since = 0, j++;
        }
    }
    /* the result: the last misclassified iterate, else the best-loss point */
    FOIL_OP(b, b->upload(b, w->active, w->zeros_host, sizeof(int32_t) * (size_t)n), err);
    FOIL_OP(b, b->compare(b, w->mask, w->st.robust, w->active, n, 1), err);
    FOIL_OP(b, b->copy(b, w->cur, w->x_best, bytes), err);
    FOIL_OP(b, b->select_rows(b, w->cur, w->x_adv, w->mask, n, row), err);
    return 0;
}
