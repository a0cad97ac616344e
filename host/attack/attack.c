/* The attack loop on batches in backend memory, whatever the attack: goals
 * (labels, predictions or targets), restarts through the kind's run function
 * (attack_table.c), the worst case per sample between restarts, and the
 * non-finite checks. Inside a run nothing leaves the device; between
 * restarts the per-sample losses and predictions come back. */
#include <stdlib.h>
#include <string.h>

#include "attack_internal.h"
#include "foil/attack.h"
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
    float **rows[] = {&w->x_prev, &w->x_best, &w->g_best, &w->x_adv, &w->grad};
    float **floats[] = {&w->st.step, &w->st.loss_best, &w->st.loss_prev, &w->st.best_last};
    int32_t **ints[] = {&w->st.count, &w->st.reduced, &w->st.robust, &w->fooled, &w->target};
    int ok = 1;
    for (size_t k = 0; k < sizeof rows / sizeof *rows; k++)
        ok &= (*rows[k] = foil_alloc_floats(b, (size_t)n * row)) != NULL;
    for (size_t k = 0; k < sizeof floats / sizeof *floats; k++)
        ok &= (*floats[k] = foil_alloc_floats(b, (size_t)n)) != NULL;
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++)
        ok &= (*ints[k] = b->alloc(b, sizeof(int32_t) * (size_t)n)) != NULL;
    w->ones_host = malloc(sizeof(int32_t) * (size_t)n);
    w->zeros_host = calloc((size_t)n, sizeof(int32_t));
    for (int i = 0; w->ones_host && i < n; i++) w->ones_host[i] = 1;
    if (!ok || !w->ones_host || !w->zeros_host || !w->cur || !w->velocity || !w->loss ||
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
                   w->st.reduced, w->st.robust, w->fooled, w->target};
    for (size_t k = 0; k < sizeof dev / sizeof *dev; k++) b->free(b, dev[k]);
    free(w->ones_host);
    free(w->zeros_host);
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
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    if (!info) return foil_fail(err, "attack: unknown kind %d", (int)s->kind);
    if (info->iterative && s->steps < 1)
        return foil_fail(err, "attack %s: steps must be >= 1", info->name);
    memset(w->bad_host, 0, sizeof(int32_t) * (size_t)n);
    FOIL_OP(b, b->upload(b, w->bad, w->bad_host, sizeof(int32_t) * (size_t)n), err);
    if (set_goals(net, w, s, x0, labels, n, first, target_out, err)) return -1;
    const int targeted = s->target != FOIL_TARGET_NONE;
    const int restarts = (s->restarts > 1 ? s->restarts : 1) *
                         (info->multi_target ? s->target_classes : 1);
    if (info->multi_target && (s->target_classes < 1 || s->target_classes >= w->classes))
        return foil_fail(err, "target_classes %d is not in [1, %d] (the model has %d classes)",
                         s->target_classes, w->classes - 1, w->classes);
    if (targeted && info->apgd)
        return foil_fail(err, "attack %s: untargeted (apgd_t picks its own targets)",
                         info->name);
    const size_t bytes = sizeof(float) * (size_t)n * w->row;
    int32_t *goal = malloc(sizeof(int32_t) * (size_t)n);
    if (!goal) return foil_fail(err, "out of memory");
    int rc = -1;
    if (b->download(b, goal, w->goal, sizeof(int32_t) * (size_t)n)) {
        foil_fail(err, "%s", b->err.msg);
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
