/* The training loop, written once against the backend op table: data,
 * parameters and optimizer state stay in backend memory; per step only the
 * batch's indices go down and its losses come back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "foil/clock.h"
#include "foil/elementwise.h"
#include "foil/fileio.h"
#include "foil/philox.h"
#include "foil/train.h"
#include "adversarial.h"
#include "train_state.h"

void foil_train_order(int32_t *perm, int n, uint64_t seed, int epoch) {
    /* Fisher-Yates, keyed by (seed, epoch): the same order on every backend */
    uint64_t stream = FOIL_STREAM(FOIL_RNG_SHUFFLE, (uint64_t)epoch);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint32_t u = foil_rng_u32(seed, stream, (uint64_t)(n - 1 - i));
        int j = (int)(((uint64_t)u * (uint64_t)(i + 1)) >> 32);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

typedef struct step_bufs {
    int32_t *perm_host, *perm;  /* (n) */
    float *x;                   /* (batch, row) */
    int32_t *y;                 /* (batch) */
    float *loss, *dlogits;      /* (batch), (batch, classes) */
    float *loss_host;           /* (batch) */
} step_bufs;

static int bufs_alloc(step_bufs *s, foil_backend *b, int n, size_t row, int batch, int classes) {
    memset(s, 0, sizeof *s);
    s->perm_host = malloc(sizeof(int32_t) * (size_t)n);
    s->loss_host = malloc(sizeof(float) * (size_t)batch);
    s->perm = b->alloc(b, sizeof(int32_t) * (size_t)n);
    s->x = foil_alloc_floats(b, row * (size_t)batch);
    s->y = b->alloc(b, sizeof(int32_t) * (size_t)batch);
    s->loss = foil_alloc_floats(b, (size_t)batch);
    s->dlogits = foil_alloc_floats(b, (size_t)batch * classes);
    return s->perm_host && s->loss_host && s->perm && s->x && s->y && s->loss && s->dlogits ? 0
                                                                                           : -1;
}

static void bufs_free(step_bufs *s, foil_backend *b) {
    free(s->perm_host);
    free(s->loss_host);
    b->free(b, s->perm);
    b->free(b, s->x);
    b->free(b, s->y);
    b->free(b, s->loss);
    b->free(b, s->dlogits);
}

/* One optimisation step on a gathered batch (its adversarial examples under
 * r->adv at radius eps); returns the summed batch loss. */
static int train_step(foil_net *net, train_state *ts, step_bufs *s, adv_train *a,
                      const foil_device_data *d, int start, int bs, double lr, double eps,
                      const foil_recipe *r, double *loss_sum, foil_err *err) {
    foil_backend *b = net->b;
    const int classes = net->model->def.classes;
    const float *logits, *x = s->x;
    if (b->gather_rows(b, s->x, d->images, s->perm + start, bs, d->row) ||
        b->gather_labels(b, s->y, d->labels, s->perm + start, bs))
        return foil_fail(err, "%s", b->err.msg);
    if (r->adv.mode != FOIL_ADV_NONE) {
        if (adv_train_batch(net, a, r, s->x, s->y, bs, eps, ts->step, err)) return -1;
        x = a->x_adv;
    }
    if (r->adv.mode == FOIL_ADV_TRADES) {
        if (adv_trades_grads(net, a, r, s->x, s->y, bs, s->loss, s->dlogits, ts->step, err))
            return -1;
    } else {
        if (foil_net_forward(net, x, bs, 1, r->seed, (uint64_t)ts->step, &logits, err))
            return -1;
        if (b->softmax_xent(b, s->loss, s->dlogits, logits, s->y, bs, classes, 1.0f / (float)bs))
            return foil_fail(err, "%s", b->err.msg);
        if (foil_net_backward(net, s->dlogits, 1, 0, err)) return -1;
    }
    if (train_state_step(ts, net, r, lr, err)) return -1;
    if (b->download(b, s->loss_host, s->loss, sizeof(float) * (size_t)bs))
        return foil_fail(err, "%s", b->err.msg);
    for (int i = 0; i < bs; i++) *loss_sum += s->loss_host[i];
    return 0;
}

static int evaluate(foil_net *net, const foil_device_data *test, int32_t *pred, double *acc,
                    foil_err *err) {
    if (foil_predict(net, test, pred, NULL, err)) return -1;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)test->n + 1);
    if (!labels) return foil_fail(err, "out of memory");
    if (net->b->download(net->b, labels, test->labels, sizeof(int32_t) * (size_t)test->n)) {
        free(labels);
        return foil_fail(err, "%s", net->b->err.msg);
    }
    long correct = 0;
    for (int i = 0; i < test->n; i++) correct += pred[i] == labels[i];
    free(labels);
    *acc = test->n ? (double)correct / test->n : 0.0;
    return 0;
}

/* Runs epoch `epoch` from step ts->epoch_step (non-zero when resuming an
 * interrupted epoch). Returns 0 when the epoch is done, 1 when opt->stop
 * stopped it (ts->epoch_step: the steps done), -1 on error. */
static int run_epoch(foil_net *net, train_state *ts, step_bufs *s, adv_train *a,
                     const foil_recipe *r, const foil_device_data *train, int epoch,
                     int epochs_left, const foil_train_options *opt, double *mean_loss,
                     foil_err *err) {
    const int steps = (train->n + r->batch_size - 1) / r->batch_size;
    if (ts->epoch_step >= steps)
        return foil_fail(err, "%s/train_state.safetensors: saved after step %d of epoch %d, but "
                         "an epoch has %d steps here (other data or data.train_limit?); cannot "
                         "resume", opt->outdir, ts->epoch_step, epoch, steps);
    foil_train_order(s->perm_host, train->n, r->seed, epoch);
    if (net->b->upload(net->b, s->perm, s->perm_host, sizeof(int32_t) * (size_t)train->n))
        return foil_fail(err, "%s", net->b->err.msg);
    /* a resumed epoch's mean loss counts the steps done before the save too
     * (when the state recorded their sum) */
    const int first = ts->epoch_step * r->batch_size; /* images done before a resume */
    const int known = !isnan(ts->part_loss_sum), counted_from = known ? 0 : first;
    double loss_sum = known ? ts->part_loss_sum : 0.0, t_epoch = foil_now_s();
    for (int step = ts->epoch_step; step < steps; step++) {
        int start = step * r->batch_size;
        int bs = train->n - start < r->batch_size ? train->n - start : r->batch_size;
        const double lr = foil_recipe_lr(r, epoch, step, steps),
                     eps = foil_recipe_adv_eps(r, epoch, step, steps);
        if (train_step(net, ts, s, a, train, start, bs, lr, eps, r, &loss_sum, err)) return -1;
        *mean_loss = loss_sum / (start + bs - counted_from);
        if (!isfinite(*mean_loss)) {
            char kept[96] = "no checkpoint written";
            if (ts->saved && ts->saved_epoch_step)
                snprintf(kept, sizeof kept, "kept the checkpoint of epoch %d step %d",
                         ts->saved_epoch + 1, ts->saved_epoch_step);
            else if (ts->saved)
                snprintf(kept, sizeof kept, "kept the checkpoint of epoch %d", ts->saved_epoch);
            return foil_fail(err, "training diverged: loss is %s at epoch %d step %d (lower the "
                                  "learning rate?); %s", isnan(*mean_loss) ? "NaN" : "Inf", epoch,
                             step + 1, kept);
        }
        ts->step++;
        ts->epoch_step = step + 1;
        if (opt->stop && *opt->stop && step + 1 < steps) {
            ts->part_loss_sum = known ? loss_sum : NAN;
            ts->part_seconds += foil_now_s() - t_epoch;
            return 1;
        }
        if (opt->progress) {
            double el = foil_now_s() - t_epoch, ips = (start + bs - first) / (el > 0 ? el : 1e-9);
            double total_left = (double)(train->n - start - bs) + (double)epochs_left * train->n;
            foil_train_event ev = {.epoch = epoch, .epochs = r->epochs, .step = step + 1,
                                   .steps = steps, .loss = *mean_loss, .images_per_s = ips,
                                   .eta_s = total_left / ips};
            opt->progress(opt->progress_user, &ev);
        }
    }
    return 0;
}

/* The guard's state: the best accuracy so far and its epoch (0: none yet). */
typedef struct guard_state {
    double best;
    int epoch;
} guard_state;

/* After epoch `epoch` (its log row k): the robust accuracy on the test
 * subset and the guard's on the training subset. Returns 1 when the guard
 * fires (the parameters of the best epoch are back in net->params). */
static int adversarial_eval(foil_net *net, adv_train *a, const foil_recipe *r,
                            const foil_device_data *train, const foil_device_data *test,
                            int epoch, int k, guard_state *g, foil_train_result *res,
                            foil_err *err) {
    foil_backend *b = net->b;
    const size_t bytes = sizeof(float) * net->model->nparams;
    double acc;
    if (r->adv.eval_images > 0) {
        if (adv_robust_accuracy(net, a, r, test, r->adv.eval_images, &acc, err)) return -1;
        res->epoch_robust[k] = acc;
    }
    if (!r->adv.guard) return 0;
    if (adv_robust_accuracy(net, a, r, train, r->adv.guard_images, &acc, err)) return -1;
    res->epoch_guard[k] = acc;
    if (g->epoch == 0 || acc >= g->best) {
        g->best = acc, g->epoch = epoch;
        FOIL_OP(b, b->copy(b, a->best, net->params, bytes), err);
        return 0;
    }
    if (acc >= g->best - r->adv.guard_drop) return 0;
    FOIL_OP(b, b->copy(b, net->params, a->best, bytes), err);
    res->guard_fired = 1, res->guard_epoch = epoch, res->best_epoch = g->epoch;
    return 1;
}

int foil_train(const foil_recipe *r, foil_net *net, const foil_device_data *train,
               const foil_device_data *test, const foil_train_options *opt,
               foil_train_result *res, foil_err *err) {
    memset(res, 0, sizeof *res);
    for (int i = 0; i < FOIL_MAX_EPOCHS; i++) res->epoch_robust[i] = res->epoch_guard[i] = NAN;
    step_bufs s;
    train_state ts;
    adv_train a;
    guard_state guard = {0.0, 0};
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)test->n + 1);
    int rc = -1;
    memset(&a, 0, sizeof a);
    memset(&ts, 0, sizeof ts); /* freed on every path below */
    if (bufs_alloc(&s, net->b, train->n, train->row, r->batch_size, net->model->def.classes) ||
        !pred) {
        foil_fail(err, "out of memory for training buffers (batch %d)", r->batch_size);
        bufs_free(&s, net->b);
        free(pred);
        return -1;
    }
    if (adv_train_init(&a, net, r, err) ||
        train_state_init(&ts, net, r, opt, res, r->adv.guard ? a.best : NULL, err))
        goto done;
    if (ts.guard_epoch > 0) { /* resumed: the guard's best from the log */
        const int k = ts.guard_epoch - res->first_epoch;
        if (k >= 0 && k < res->epochs_logged && !isnan(res->epoch_guard[k]))
            guard = (guard_state){res->epoch_guard[k], ts.guard_epoch};
    }
    double t0 = foil_now_s();
    long images = 0; /* trained by this call */
    for (int epoch = ts.epoch + 1; epoch <= r->epochs; epoch++) {
        double te = foil_now_s(), loss = 0.0, acc;
        const long resumed_at = (long)ts.epoch_step * r->batch_size; /* images already done */
        int ran = run_epoch(net, &ts, &s, &a, r, train, epoch, r->epochs - epoch, opt, &loss,
                            err);
        if (ran < 0) goto done;
        ts.guard_epoch = guard.epoch;
        if (ran > 0) {
            if (train_state_save(&ts, net, r, opt, res, err)) goto done;
            res->interrupted = 1;
            foil_fail(err, "interrupted in epoch %d after step %d; saved a checkpoint to resume "
                           "from", epoch, ts.epoch_step);
            goto done;
        }
        double t_train = foil_now_s() - te;
        if (evaluate(net, test, pred, &acc, err)) goto done;
        int k = res->epochs_logged++;
        int fired = r->adv.mode == FOIL_ADV_NONE
                        ? 0
                        : adversarial_eval(net, &a, r, train, test, epoch, k, &guard, res, err);
        if (fired < 0) goto done;
        res->epochs_run++;
        res->epoch_loss[k] = loss;
        res->epoch_accuracy[k] = acc;
        res->epoch_seconds[k] = foil_now_s() - te + ts.part_seconds;
        res->train_seconds += t_train;
        images += train->n - resumed_at;
        res->test_accuracy = acc;
        if (fired && evaluate(net, test, pred, &res->test_accuracy, err)) goto done;
        ts.epoch = epoch;
        ts.epoch_step = 0;
        ts.part_loss_sum = ts.part_seconds = 0.0;
        ts.guard_epoch = guard.epoch;
        if (train_state_save(&ts, net, r, opt, res, err)) goto done;
        if (opt->progress) {
            foil_train_event ev = {.epoch = epoch, .epochs = r->epochs, .epoch_done = 1,
                                   .loss = loss, .test_accuracy = acc,
                                   .robust_accuracy = res->epoch_robust[k],
                                   .guard_accuracy = res->epoch_guard[k],
                                   .epoch_seconds = res->epoch_seconds[k],
                                   .images_per_s = (double)(train->n - resumed_at) /
                                                   (t_train > 0 ? t_train : 1e-9)};
            opt->progress(opt->progress_user, &ev);
        }
        if (fired) break; /* the caller reports it (res->guard_fired) */
        if (opt->stop && *opt->stop && epoch < r->epochs) {
            res->interrupted = 1;
            foil_fail(err, "interrupted after epoch %d; saved a checkpoint to resume from", epoch);
            goto done;
        }
    }
    if (res->epochs_run == 0 && evaluate(net, test, pred, &res->test_accuracy, err)) goto done;
    res->wall_seconds = foil_now_s() - t0;
    res->images_per_s = res->train_seconds > 0 ? (double)images / res->train_seconds : 0.0;
    rc = 0;
done:
    adv_train_free(&a, net->b);
    train_state_free(&ts, net->b);
    bufs_free(&s, net->b);
    free(pred);
    return rc;
}
