/* Attacks on batches in backend memory. Inside the iteration loop nothing
 * leaves the device; between restarts the per-sample losses and predictions
 * come back to pick the worst case per sample. */
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "foil/philox.h"

static const char *const NAMES[FOIL_ATTACK_COUNT] = {"fgsm", "bim", "pgd", "pgd_l2", "mifgsm"};

const char *foil_attack_name(foil_attack_kind kind) {
    return kind < FOIL_ATTACK_COUNT ? NAMES[kind] : "?";
}

int foil_attack_parse_name(const char *name, foil_attack_kind *kind) {
    for (int k = 0; k < FOIL_ATTACK_COUNT; k++)
        if (strcmp(name, NAMES[k]) == 0) {
            *kind = (foil_attack_kind)k;
            return 0;
        }
    return -1;
}

/* Defaults: FGSM steps by eps; MI-FGSM by eps / steps (Dong et al.); the
 * iterative attacks by 2.5 eps / steps (Madry et al.'s rule of thumb). */
float foil_attack_step_size(const foil_attack_spec *s) {
    if (s->kind == FOIL_ATTACK_FGSM) return s->eps;
    if (s->step > 0.0f) return s->step;
    float k = s->kind == FOIL_ATTACK_MIFGSM ? 1.0f : 2.5f;
    return k * s->eps / (float)(s->steps > 0 ? s->steps : 1);
}

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
    if (!w->cur || !w->velocity || !w->loss || !w->dlogits || !w->goal || !w->pred ||
        !w->active || !w->mask || !w->bad || !w->loss_host || !w->best_loss_host ||
        !w->pred_host || !w->mask_host || !w->best_adv_host || !w->bad_host || !w->logits_host) {
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

/* One run of the iterative attack from x0 (or a random start) into w->cur. */
static int run_once(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                    const float *x0, int n, int64_t first, int restart, foil_err *err) {
    foil_backend *b = net->b;
    const size_t bytes = sizeof(float) * (size_t)n * w->row;
    const int targeted = s->target != FOIL_TARGET_NONE;
    foil_attack_hparams hp = {s->kind == FOIL_ATTACK_PGD_L2 ? FOIL_NORM_L2 : FOIL_NORM_LINF,
                              s->kind == FOIL_ATTACK_PGD_L2    ? FOIL_STEP_L2
                              : s->kind == FOIL_ATTACK_MIFGSM ? FOIL_STEP_MOMENTUM_SIGN
                                                               : FOIL_STEP_SIGN,
                              s->eps, foil_attack_step_size(s), s->decay};
    if (targeted) hp.step = -hp.step; /* descend the loss of the target class */
    int steps = s->kind == FOIL_ATTACK_FGSM ? 1 : s->steps;
    if (s->random_start && s->kind != FOIL_ATTACK_FGSM)
        FOIL_OP(b, b->attack_random_start(b, w->cur, x0, n, w->row, &hp, s->seed, (uint64_t)restart,
                                     first), err);
    else
        FOIL_OP(b, b->copy(b, w->cur, x0, bytes), err);
    if (s->kind == FOIL_ATTACK_MIFGSM)
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

int foil_attack_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                    float *x_adv, const float *x0, const int32_t *labels, int n, int64_t first,
                    int32_t *target_out, foil_err *err) {
    foil_backend *b = net->b;
    if (n < 1 || n > w->max_batch)
        return foil_fail(err, "attack: batch of %d, at most %d", n, w->max_batch);
    if (s->eps < 0.0f) return foil_fail(err, "attack: eps must be >= 0, got %g", (double)s->eps);
    if (s->kind != FOIL_ATTACK_FGSM && s->steps < 1)
        return foil_fail(err, "attack %s: steps must be >= 1", foil_attack_name(s->kind));
    memset(w->bad_host, 0, sizeof(int32_t) * (size_t)n);
    FOIL_OP(b, b->upload(b, w->bad, w->bad_host, sizeof(int32_t) * (size_t)n), err);
    if (set_goals(net, w, s, x0, labels, n, first, target_out, err)) return -1;
    const int targeted = s->target != FOIL_TARGET_NONE;
    const int restarts = s->restarts > 1 ? s->restarts : 1;
    const size_t bytes = sizeof(float) * (size_t)n * w->row;
    int32_t *goal = malloc(sizeof(int32_t) * (size_t)n);
    if (!goal) return foil_fail(err, "out of memory");
    int rc = -1;
    if (b->download(b, goal, w->goal, sizeof(int32_t) * (size_t)n)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    for (int r = 0; r < restarts; r++) {
        if (run_once(net, w, s, x0, n, first, r, err)) goto done;
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
