/* The gradient-step attacks (FGSM, BIM, PGD-Linf, PGD-L2, MI-FGSM): one
 * run is `steps` steps of the kind's rule (attack_table.c) on the input
 * gradient of the cross-entropy, each projected onto the eps-ball and
 * clipped to [0, 1] by the backend's attack_step; optionally from a random
 * start and freezing samples that already succeeded (early_stop). */
#include "attack_internal.h"

int foil_attack_gradient_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                             const float *x0, int n, int64_t first, int restart, foil_err *err) {
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    foil_backend *b = net->b;
    const size_t bytes = sizeof(float) * (size_t)n * w->row;
    const int targeted = s->target != FOIL_TARGET_NONE;
    foil_attack_hparams hp = {info->norm, info->rule, s->eps, foil_attack_step_size(s), s->decay,
                              0};
    if (targeted) hp.step = -hp.step; /* descend the loss of the target class */
    int steps = info->iterative ? s->steps : 1;
    if (s->random_start && info->iterative)
        FOIL_OP(b, b->attack_random_start(b, w->cur, x0, n, w->row, &hp, s->seed,
                                          (uint64_t)restart, first, w->index_on), err);
    else
        FOIL_OP(b, b->copy(b, w->cur, x0, bytes), err);
    if (info->momentum)
        FOIL_OP(b, b->fill(b, w->velocity, 0.0f, (size_t)n * w->row), err);
    for (int t = 0; t < steps; t++) {
        const float *logits;
        if (foil_net_forward(net, w->cur, n, 0, 0, 0, &logits, err)) return -1;
        FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
        if (s->early_stop) {
            /* keep going while untargeted samples are still right / targeted not yet there */
            FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
            FOIL_OP(b, b->compare(b, w->active, w->pred, w->goal, n, !targeted), err);
        }
        FOIL_OP(b, b->softmax_xent(b, w->loss, w->dlogits, logits, w->goal, n, w->classes, 1.0f),
                err);
        if (foil_net_backward(net, w->dlogits, 0, 1, err)) return -1;
        FOIL_OP(b, b->flag_nonfinite(b, w->bad, net->dx, n, w->row), err);
        FOIL_OP(b, b->attack_step(b, w->cur, w->velocity, net->dx, x0,
                                  s->early_stop ? w->active : NULL, n, w->row, &hp), err);
    }
    return 0;
}
