/* Private to train.c: optimizer state, and saving/resuming it with the model. */
#ifndef FOIL_TRAIN_STATE_H
#define FOIL_TRAIN_STATE_H

#include "foil/train.h"

typedef struct train_state {
    int epoch;       /* epochs completed */
    int epoch_step;  /* steps done in epoch `epoch + 1` (saved when interrupted) */
    long step;       /* optimizer steps taken (Adam's t - 1; dropout stream) */
    int saved;       /* a checkpoint of this run is on disk (saved or resumed from) */
    int saved_epoch, saved_epoch_step; /* where it stands */
    int saved_batch;                    /* batch_size and seed of the state resumed from */
    unsigned long long saved_seed;
    /* of the steps done in epoch `epoch + 1` before a mid-epoch save
     * (part_loss_sum NaN when the state did not record it) */
    double part_loss_sum, part_seconds;
    float *m, *v;  /* Adam moments; SGD uses m as the velocity */
    char *changes; /* resume_changes to record (--allow-changes), or NULL */
    /* the overfitting guard (NULL: off): the best epoch's parameters
     * (backend, nparams, the caller's buffer) and that epoch (0: none yet),
     * saved with the state and restored on resume */
    float *guard_best;
    int guard_epoch;
} train_state;

/* Allocates the optimizer state; with opt->resume loads the parameters from
 * <outdir>/model.safetensors, the state from <outdir>/train_state.safetensors
 * and the per-epoch history saved with it into res (epoch_*, first_epoch,
 * epochs_logged), and with guard_best (else NULL) the guard's best
 * parameters into it and its epoch into ts->guard_epoch. A checkpoint the
 * guard stopped is finished: resuming it is an error. */
int train_state_init(train_state *ts, foil_net *net, const foil_recipe *r,
                     const foil_train_options *opt, foil_train_result *res, float *guard_best,
                     foil_err *err);
/* One optimizer step on net->params from net->grads. */
int train_state_step(train_state *ts, foil_net *net, const foil_recipe *r, double lr,
                     foil_err *err);
/* Writes <outdir>/train_state.safetensors (with res's per-epoch history and
 * the guard's best parameters) then <outdir>/model.safetensors, atomically,
 * both stamped with epoch, epoch_step and step; after the guard fired
 * (res->guard_fired) both say guard_stopped (its epoch) and the model's
 * test_accuracy is that of the weights kept (res->test_accuracy). */
int train_state_save(train_state *ts, foil_net *net, const foil_recipe *r,
                     const foil_train_options *opt, const foil_train_result *res,
                     foil_err *err);
void train_state_free(train_state *ts, foil_backend *b);

#endif
