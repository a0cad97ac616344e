/* Adversarial training's batches and losses, written against the backend op
 * table: PGD-AT and FGSM-RS through the attack loop (foil_attack_run, one
 * run of PGD), TRADES' inner maximisation of the KL and its two-part
 * gradient, and the robust accuracies measured between epochs. The random
 * starts during training draw from a Philox key of their own (derived from
 * the seed with tag FOIL_RNG_ADV_TRAIN), keyed by the step. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adversarial.h"
#include "foil/elementwise.h"
#include "foil/philox.h"

#define TRADES_START_SIGMA 0.001f /* TRADES' Gaussian start around the clean image */

uint64_t foil_adv_train_key(uint64_t seed) {
    const uint64_t stream = FOIL_STREAM(FOIL_RNG_ADV_TRAIN, 0);
    return ((uint64_t)foil_rng_u32(seed, stream, 0) << 32) | foil_rng_u32(seed, stream, 1);
}

int adv_train_init(adv_train *a, foil_net *net, const foil_recipe *r, foil_err *err) {
    memset(a, 0, sizeof *a);
    if (r->adv.mode == FOIL_ADV_NONE) return 0;
    foil_backend *b = net->b;
    const size_t rows = (size_t)net->max_batch, c = (size_t)net->model->def.classes;
    a->key = foil_adv_train_key(r->seed);
    if (foil_attack_work_create(&a->w, net, err)) return -1;
    a->has_work = 1;
    a->x_adv = foil_alloc_floats(b, rows * net->model->in_size);
    a->logits = foil_alloc_floats(b, rows * c);
    a->dp = foil_alloc_floats(b, rows * c);
    a->dq = foil_alloc_floats(b, rows * c);
    a->kl = foil_alloc_floats(b, rows);
    a->pred_host = malloc(sizeof(int32_t) * rows);
    a->labels_host = malloc(sizeof(int32_t) * rows);
    const int trades = r->adv.mode == FOIL_ADV_TRADES;
    a->grads = trades ? foil_alloc_floats(b, net->model->nparams) : NULL;
    a->best = r->adv.guard ? foil_alloc_floats(b, net->model->nparams) : NULL;
    if (!a->x_adv || !a->logits || !a->dp || !a->dq || !a->kl || !a->pred_host ||
        !a->labels_host || (trades && !a->grads) || (r->adv.guard && !a->best)) {
        adv_train_free(a, b);
        return foil_fail(err, "out of memory for adversarial training (batch %d)",
                         net->max_batch);
    }
    return 0;
}

void adv_train_free(adv_train *a, foil_backend *b) {
    if (a->has_work) foil_attack_work_destroy(&a->w, b);
    void *dev[] = {a->x_adv, a->logits, a->dp, a->dq, a->kl, a->grads, a->best};
    for (size_t k = 0; k < sizeof dev / sizeof *dev; k++) b->free(b, dev[k]);
    free(a->pred_host);
    free(a->labels_host);
    memset(a, 0, sizeof *a);
}

/* FGSM-RS as Wong et al.'s MNIST code (clip_start false): from the uniform
 * start x0 + delta left unclipped, the cross-entropy's gradient there (eval
 * mode), one signed step of alpha projected onto the eps-ball and into
 * [0, 1], into xa. The start draws what the PGD run of clip_start draws. */
static int fgsm_unclipped(foil_net *net, adv_train *a, const float *x0, const int32_t *y, int n,
                          double eps, double alpha, int64_t first, float *xa, foil_err *err) {
    foil_backend *b = net->b;
    const size_t row = net->model->in_size;
    const int c = net->model->def.classes;
    const foil_attack_hparams hp = {FOIL_NORM_LINF, FOIL_STEP_SIGN, (float)eps, (float)alpha,
                                    0.0f, 1};
    const float *logits;
    FOIL_OP(b, b->attack_random_start(b, xa, x0, n, row, &hp, a->key, 0, first, NULL), err);
    if (foil_net_forward(net, xa, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->softmax_xent(b, a->kl, a->dq, logits, y, n, c, 1.0f), err);
    if (foil_net_backward(net, a->dq, 0, 1, err)) return -1;
    FOIL_OP(b, b->attack_step(b, xa, NULL, net->dx, x0, NULL, n, row, &hp), err);
    return 0;
}

/* PGD-AT and FGSM-RS: x_adv = x for the first `clean` rows, the attack's
 * examples at eps (the step sizes scaled with it) for the rest. */
static int pgd_batch(foil_net *net, adv_train *a, const foil_recipe *r, const float *x,
                     const int32_t *y, int bs, double eps, long step, foil_err *err) {
    foil_backend *b = net->b;
    const size_t row = net->model->in_size;
    const int clean = (int)floor(r->adv.clean_ratio * bs + 0.5);
    const double scale = r->adv.eps > 0 ? eps / r->adv.eps : 0.0;
    const int fgsm = r->adv.mode == FOIL_ADV_FGSM_RS;
    if (clean > 0) FOIL_OP(b, b->copy(b, a->x_adv, x, sizeof(float) * (size_t)clean * row), err);
    if (clean >= bs) return 0;
    /* the sample numbers (the streams' ids) of this step: step * batch + row */
    const int64_t first = (int64_t)step * r->batch_size + clean;
    if (fgsm && !r->adv.clip_start)
        return fgsm_unclipped(net, a, x + (size_t)clean * row, y + clean, bs - clean, eps,
                              r->adv.alpha * scale, first, a->x_adv + (size_t)clean * row, err);
    foil_attack_spec s = {.kind = FOIL_ATTACK_PGD, .eps = (float)eps,
                          .step = (float)((fgsm ? r->adv.alpha : r->adv.step) * scale),
                          .steps = fgsm ? 1 : r->adv.steps,
                          .random_start = fgsm || r->adv.random_start, .restarts = 1,
                          .seed = a->key, .norm = FOIL_NORM_LINF};
    return foil_attack_run(net, &a->w, &s, a->x_adv + (size_t)clean * row, x + (size_t)clean * row,
                           y + clean, bs - clean, first, NULL, err);
}

/* TRADES' inner maximisation (in eval mode, as the reference): from x +
 * 0.001 N(0, 1), `steps` signed steps up the KL(f(x) || f(x_adv)), each
 * projected onto the eps-ball and into [0, 1]. */
static int trades_batch(foil_net *net, adv_train *a, const foil_recipe *r, const float *x, int bs,
                        double eps, long step, foil_err *err) {
    foil_backend *b = net->b;
    const size_t row = net->model->in_size;
    const int c = net->model->def.classes;
    const double scale = r->adv.eps > 0 ? eps / r->adv.eps : 0.0;
    foil_attack_hparams hp = {FOIL_NORM_LINF, FOIL_STEP_SIGN, (float)eps,
                              (float)(r->adv.step * scale), 0.0f, 0};
    const float *logits;
    if (foil_net_forward(net, x, bs, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->copy(b, a->logits, logits, sizeof(float) * (size_t)bs * c), err);
    FOIL_OP(b, b->gaussian_noise(b, a->x_adv, x, TRADES_START_SIGMA, a->key, (uint64_t)step, 0,
                                 bs, row), err);
    for (int t = 0; t < r->adv.steps; t++) {
        if (foil_net_forward(net, a->x_adv, bs, 0, 0, 0, &logits, err)) return -1;
        FOIL_OP(b, b->kl_div(b, a->kl, NULL, a->dq, a->logits, logits, bs, c, 1.0f), err);
        if (foil_net_backward(net, a->dq, 0, 1, err)) return -1;
        FOIL_OP(b, b->attack_step(b, a->x_adv, NULL, net->dx, x, NULL, bs, row, &hp), err);
    }
    return 0;
}

int adv_train_batch(foil_net *net, adv_train *a, const foil_recipe *r, const float *x,
                    const int32_t *y, int bs, double eps, long step, foil_err *err) {
    if (r->adv.mode == FOIL_ADV_TRADES) return trades_batch(net, a, r, x, bs, eps, step, err);
    return pgd_batch(net, a, r, x, y, bs, eps, step, err);
}

/* TRADES' outer loss, mean CE(f(x), y) + beta mean KL(f(x) || f(x_adv)), both
 * forwards in train mode with the same dropout masks: the clean part's
 * gradient (CE and the KL's through f(x)) and the adversarial part's (the
 * KL's through f(x_adv)) from two backward passes, added. loss (bs) gets
 * each sample's CE + beta KL. */
int adv_trades_grads(foil_net *net, adv_train *a, const foil_recipe *r, const float *x,
                     const int32_t *y, int bs, float *loss, float *dlogits, long step,
                     foil_err *err) {
    foil_backend *b = net->b;
    const int c = net->model->def.classes;
    const size_t nl = (size_t)bs * c;
    const float scale = (float)(r->adv.beta / bs);
    const float *logits;
    if (foil_net_forward(net, a->x_adv, bs, 1, r->seed, (uint64_t)step, &logits, err)) return -1;
    FOIL_OP(b, b->copy(b, a->logits, logits, sizeof(float) * nl), err);
    if (foil_net_forward(net, x, bs, 1, r->seed, (uint64_t)step, &logits, err)) return -1;
    FOIL_OP(b, b->softmax_xent(b, loss, dlogits, logits, y, bs, c, 1.0f / (float)bs), err);
    FOIL_OP(b, b->kl_div(b, a->kl, a->dp, a->dq, logits, a->logits, bs, c, scale), err);
    FOIL_OP(b, b->add(b, dlogits, dlogits, a->dp, nl), err);
    FOIL_OP(b, b->axpy(b, loss, (float)r->adv.beta, a->kl, (size_t)bs), err);
    if (foil_net_backward(net, dlogits, 1, 0, err)) return -1;
    FOIL_OP(b, b->copy(b, a->grads, net->grads, sizeof(float) * net->model->nparams), err);
    if (foil_net_forward(net, a->x_adv, bs, 1, r->seed, (uint64_t)step, &logits, err) ||
        foil_net_backward(net, a->dq, 1, 0, err))
        return -1;
    FOIL_OP(b, b->add(b, net->grads, net->grads, a->grads, net->model->nparams), err);
    return 0;
}

int adv_robust_accuracy(foil_net *net, adv_train *a, const foil_recipe *r,
                        const foil_device_data *d, int n, double *acc, foil_err *err) {
    foil_backend *b = net->b;
    const foil_attack_info *info = foil_attack_info_of((foil_attack_kind)r->adv.eval_attack);
    const int c = net->model->def.classes;
    foil_attack_spec s = {.kind = (foil_attack_kind)r->adv.eval_attack, .eps = (float)r->adv.eps,
                          .steps = info->iterative || info->apgd ? r->adv.eval_steps : 1,
                          .random_start = info->default_random_start, .restarts = 1,
                          .decay = 1.0f, .seed = r->seed, .norm = FOIL_NORM_LINF};
    long right = 0;
    n = n < d->n ? n : d->n;
    for (int start = 0; start < n; start += net->max_batch) {
        const int bs = n - start < net->max_batch ? n - start : net->max_batch;
        const float *x0 = d->images + (size_t)start * d->row, *logits;
        const int32_t *y = d->labels + start;
        if (foil_attack_run(net, &a->w, &s, a->x_adv, x0, y, bs, start, NULL, err) ||
            foil_net_forward(net, a->x_adv, bs, 0, 0, 0, &logits, err))
            return -1;
        FOIL_OP(b, b->argmax(b, a->w.pred, logits, bs, c), err);
        FOIL_OP(b, b->download(b, a->pred_host, a->w.pred, sizeof(int32_t) * (size_t)bs), err);
        FOIL_OP(b, b->download(b, a->labels_host, y, sizeof(int32_t) * (size_t)bs), err);
        for (int i = 0; i < bs; i++) right += a->pred_host[i] == a->labels_host[i];
    }
    *acc = n > 0 ? (double)right / n : NAN;
    return 0;
}
