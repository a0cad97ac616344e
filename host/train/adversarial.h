/* Private to host/train/: adversarial training's batches, TRADES' loss and
 * the robust accuracies of the epoch log (adversarial.c). */
#ifndef FOIL_TRAIN_ADVERSARIAL_H
#define FOIL_TRAIN_ADVERSARIAL_H

#include "foil/attack.h"
#include "foil/train.h"

typedef struct adv_train {
    foil_attack_work w;   /* PGD-AT, FGSM-RS and the robust accuracies */
    int has_work;
    uint64_t key;         /* the Philox key of the training attack's random starts */
    float *x_adv;         /* (max_batch, row) the batch's adversarial examples */
    float *logits;        /* (max_batch, classes) TRADES: the logits the KL compares with */
    float *dp, *dq, *kl;  /* TRADES: the KL's gradients (max_batch, classes), the KL (max_batch) */
    float *grads;         /* (nparams) TRADES only: the clean part of the gradient */
    float *best;          /* (nparams) the guard: the parameters of the best epoch */
    int32_t *pred_host, *labels_host; /* (max_batch) */
} adv_train;

/* Buffers for r->adv (nothing when the mode is none). */
int adv_train_init(adv_train *a, foil_net *net, const foil_recipe *r, foil_err *err);
void adv_train_free(adv_train *a, foil_backend *b);

/* The adversarial examples of the batch x (bs, row), labels y, into a->x_adv,
 * at radius eps (the warm-up's; the step sizes scale with it), keyed by the
 * optimizer step `step`. PGD-AT and FGSM-RS leave the first clean_ratio of
 * the rows clean; TRADES maximises its KL. */
int adv_train_batch(foil_net *net, adv_train *a, const foil_recipe *r, const float *x,
                    const int32_t *y, int bs, double eps, long step, foil_err *err);

/* TRADES: net->grads = the gradient of mean CE(f(x), y) + beta mean
 * KL(f(x) || f(a->x_adv)) (train mode, dropout masks of `step`); loss (bs)
 * gets each sample's CE + beta KL; dlogits (bs, classes) is scratch. */
int adv_trades_grads(foil_net *net, adv_train *a, const foil_recipe *r, const float *x,
                     const int32_t *y, int bs, float *loss, float *dlogits, long step,
                     foil_err *err);

/* The accuracy under r->adv's eval attack at r->adv.eps on the first n
 * images of d (eval mode, the seed's own streams, the same every epoch). */
int adv_robust_accuracy(foil_net *net, adv_train *a, const foil_recipe *r,
                        const foil_device_data *d, int n, double *acc, foil_err *err);

#endif
