/* FAB-T (Croce and Hein 2020, "Minimally distorted adversarial examples with
 * a fast adaptive boundary attack"), L-inf or L2, targeted, as the AutoAttack
 * reference's FABAttack (fab_base.py) runs it in the standard version: for
 * the target t of the run (the (rank + 1)-th largest clean logit, as
 * APGD-T), `steps` iterations of
 *   the linearisation of z_t - z_y at x: a hyperplane; d1, d2 the
 *   projections (in the attack's norm) of x and x0 onto it within [0, 1]; alpha = min(|d1| / (|d1|
 *   + |d2|), 0.1); x = clip((x + 1.05 d1)(1 - alpha) + (x0 + 1.05 d2) alpha);
 *   when x is misclassified: keep it if it is the closest to x0 so far, and
 *   go back to x0 + 0.9 (x - x0).
 * FAB looks for the smallest perturbation, not for one inside a given ball:
 * the run's result is the closest adversarial found when it lies within
 * eps, else x0 (as the reference's perturb). Every per-sample step is a
 * backend op (fab_diff, fab_step, fab_update): nothing crosses to the host
 * inside the iteration loop.
 *
 * Differences from the reference (docs/attacks.md): restarts after the
 * first start from foil's uniform random point of the ball of eps / 2 (the
 * reference scales a uniform draw to that ball's surface); the projection's
 * lambda is found by bisection and solved exactly on the coordinates it
 * leaves inside their room (the reference sorts). */
#include <math.h>
#include <stdlib.h>

#include "attack_internal.h"

#define FAB_ETA 1.05f      /* overshoot past the hyperplane */
#define FAB_BETA 0.9f      /* backward step after a success */
#define FAB_ALPHA_MAX 0.1f /* the largest pull towards x0 */

/* Logits, the difference z_t - z_y and its input gradient at x (into w->grad). */
static int linearise(foil_net *net, foil_attack_work *w, const float *x, int n, foil_err *err) {
    foil_backend *b = net->b;
    const float *logits;
    if (foil_net_forward(net, x, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
    FOIL_OP(b, b->fab_diff(b, w->loss, w->dlogits, logits, w->goal, w->target, n, w->classes),
            err);
    if (foil_net_backward(net, w->dlogits, 0, 1, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, net->dx, n, w->row), err);
    FOIL_OP(b, b->copy(b, w->grad, net->dx, sizeof(float) * (size_t)n * w->row), err);
    return 0;
}

int foil_attack_fab_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                        const float *x0, int n, int64_t first, int restart, foil_err *err) {
    foil_backend *b = net->b;
    const size_t row = w->row, bytes = sizeof(float) * (size_t)n * row;
    const int per_target = s->restarts > 1 ? s->restarts : 1;
    float *x = w->x_prev; /* the iterate */
    if (foil_attack_set_targets(net, w, x0, n, restart / per_target + 1, err)) return -1;
    const foil_norm norm = foil_attack_norm(s);
    if (restart % per_target) {
        const foil_attack_hparams hp = {norm, norm == FOIL_NORM_L2 ? FOIL_STEP_L2 : FOIL_STEP_SIGN,
                                        0.5f * s->eps, 0.0f, 0.0f, 0};
        FOIL_OP(b, b->attack_random_start(b, x, x0, n, row, &hp, s->seed, (uint64_t)restart,
                                          first, w->index_on), err);
    } else {
        FOIL_OP(b, b->copy(b, x, x0, bytes), err);
    }
    FOIL_OP(b, b->fill(b, w->margin, INFINITY, (size_t)n), err); /* the closest distance */
    FOIL_OP(b, b->copy(b, w->x_adv, x0, bytes), err);
    for (int it = 0; it < s->steps; it++) {
        const float *logits;
        if (linearise(net, w, x, n, err)) return -1;
        FOIL_OP(b, b->fab_step(b, x, x0, w->grad, w->loss, FAB_ETA, FAB_ALPHA_MAX, norm, n, row),
                err);
        if (foil_net_forward(net, x, n, 0, 0, 0, &logits, err)) return -1;
        FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
        FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
        FOIL_OP(b, b->compare(b, w->fooled, w->pred, w->goal, n, 0), err);
        FOIL_OP(b, b->fab_update(b, w->x_adv, w->margin, x, x0, w->fooled, FAB_BETA, norm, n,
                                 row), err);
    }
    /* the result: the closest adversarial when it is within eps, else x0 */
    FOIL_OP(b, b->download(b, w->margin_host, w->margin, sizeof(float) * (size_t)n), err);
    for (int i = 0; i < n; i++) w->mask_host[i] = w->margin_host[i] <= s->eps;
    FOIL_OP(b, b->upload(b, w->mask, w->mask_host, sizeof(int32_t) * (size_t)n), err);
    FOIL_OP(b, b->copy(b, w->cur, x0, bytes), err);
    FOIL_OP(b, b->select_rows(b, w->cur, w->x_adv, w->mask, n, row), err);
    return 0;
}
