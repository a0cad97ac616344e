/* Training recipes (YAML) and the training loop, written once against the
 * backend op table. */
#ifndef FOIL_TRAIN_H
#define FOIL_TRAIN_H

#include <signal.h>
#include <stdint.h>

#include "foil/config.h"
#include "foil/data.h"
#include "foil/infer.h"
#include "foil/model.h"
#include "foil/net.h"

typedef enum { FOIL_OPT_SGD, FOIL_OPT_ADAM } foil_optimizer_kind;

/* train.epochs and lr_decay_epochs are at most this */
#define FOIL_MAX_EPOCHS 1024

/* Adversarial training (train.adversarial): what replaces each batch. */
typedef enum {
    FOIL_ADV_NONE,    /* clean training */
    FOIL_ADV_PGD,     /* PGD-AT (Madry et al. 2018): the batch's PGD examples */
    FOIL_ADV_FGSM_RS, /* FGSM-RS (Wong et al. 2020): a random start, one FGSM step of alpha */
    FOIL_ADV_TRADES   /* TRADES (Zhang et al. 2019): CE(clean) + beta KL(clean || adversarial) */
} foil_adv_mode;

typedef struct foil_adv_recipe {
    foil_adv_mode mode;
    double eps;         /* L-inf radius, pixel units */
    int steps;          /* PGD and TRADES: inner steps (FGSM-RS: 1) */
    double step;        /* PGD and TRADES: the inner step size */
    double alpha;       /* FGSM-RS: the step (default 1.25 eps) */
    int clip_start;     /* FGSM-RS: clip the random start to [0, 1] before the gradient
                           (default 0: Wong et al.'s MNIST code takes it unclipped) */
    double beta;        /* TRADES: the weight of the KL term */
    int random_start;   /* PGD: uniform start in the ball (FGSM-RS always; TRADES: Gaussian) */
    double clean_ratio; /* PGD, FGSM-RS: the share of each batch left clean */
    int warmup_epochs;  /* eps (and the step sizes with it) ramp up linearly, per step */
    /* every epoch: robust accuracy, eval_attack (its defaults, steps eval_steps)
     * at eps on the first eval_images test images */
    int eval_attack;    /* a foil_attack_kind */
    int eval_steps, eval_images;
    /* the catastrophic-overfitting guard: every epoch the same attack on the
     * first guard_images training images; when its accuracy falls more than
     * guard_drop below the best so far, training stops and model.safetensors
     * holds the weights of the best epoch */
    int guard, guard_images;
    double guard_drop;
} foil_adv_recipe;

/* The learning-rate schedule (train.lr_schedule), evaluated every step. */
typedef enum {
    FOIL_LR_DECAY,  /* lr * lr_decay^floor((epoch - 1) / lr_decay_epochs) (no lr_schedule) */
    FOIL_LR_CYCLIC, /* linear from min_lr up to lr at `peak` of the run, then down to min_lr */
    FOIL_LR_STEP,   /* lr * gamma^floor((epoch - 1) / every) */
    FOIL_LR_COSINE  /* min_lr + (lr - min_lr) (1 + cos(pi t)) / 2, t the share of the run done */
} foil_lr_kind;

typedef struct foil_lr_schedule {
    foil_lr_kind kind;
    double peak, min_lr, gamma;
    int every;
} foil_lr_schedule;

typedef struct foil_recipe {
    char name[FOIL_NAME_MAX];
    char model_path[FOIL_PATH_MAX]; /* where the definition came from ("" when inline) */
    foil_model_def model;
    char data_dir[FOIL_PATH_MAX];   /* data.dir; FOIL_DATA and --data override it */
    int train_limit;        /* 0: all training images */
    int test_limit;         /* 0: all test images */
    int epochs, batch_size, eval_batch;
    foil_optimizer_kind optimizer;
    double lr, momentum, weight_decay, beta1, beta2, eps;
    int nesterov;
    double lr_decay;        /* lr *= lr_decay every lr_decay_epochs epochs */
    int lr_decay_epochs;
    foil_lr_schedule schedule;
    foil_adv_recipe adv;
    uint64_t seed;
    char device[16];        /* auto, cpu, cuda */
    int tf32;               /* precision: tf32 (GPU only) */
} foil_recipe;

/* Parses a training recipe from a loaded config (after overrides). Keys that
 * belong to other commands (attack, explain, report) are left alone; unknown
 * keys anywhere else are errors. Defaults are written into the tree so that
 * emitting it gives the resolved config. */
int foil_recipe_parse(foil_recipe *r, foil_config *cfg, foil_err *err);
/* A file a config names (its model, a recipe): tried as given (relative to
 * the working folder), then relative to the config file's folder and its
 * parent. 0 and the path in out, or -1 when none is a file. */
int foil_recipe_find_file(char out[FOIL_PATH_MAX], const char *cfg_path, const char *rel);
/* The config name of a mode: none, pgd, fgsm_rs, trades ("?" out of range). */
const char *foil_adv_mode_name(foil_adv_mode mode);
/* train.adversarial and train.lr_schedule of the train map t (recipe_adv.c). */
int foil_recipe_parse_adversarial(foil_recipe *r, foil_config *cfg, foil_node *t, foil_err *err);

/* The learning rate of step `step` (0-based) of epoch `epoch` (1-based), of
 * steps_per_epoch steps, under r's schedule. */
double foil_recipe_lr(const foil_recipe *r, int epoch, int step, int steps_per_epoch);
/* The eps of that step (the warm-up's ramp; r->adv.eps after it). */
double foil_recipe_adv_eps(const foil_recipe *r, int epoch, int step, int steps_per_epoch);

/* One line of progress, for a bar on a TTY or a log line otherwise. */
typedef struct foil_train_event {
    int epoch, epochs;      /* 1-based */
    int step, steps;        /* within the epoch, 1-based */
    double loss;            /* running mean of this epoch's training loss */
    double images_per_s;
    double eta_s;           /* for the whole run */
    int epoch_done;         /* set once per epoch, after evaluation */
    double test_accuracy;   /* valid when epoch_done */
    double robust_accuracy; /* adversarial training, when epoch_done (NaN: not measured) */
    double guard_accuracy;  /* the overfitting guard's, likewise */
    double epoch_seconds;
} foil_train_event;

typedef void (*foil_train_progress_fn)(void *user, const foil_train_event *ev);

typedef struct foil_train_result {
    double test_accuracy;   /* after the last epoch */
    double wall_seconds;    /* training and evaluation */
    double train_seconds;   /* training steps only */
    double images_per_s;    /* training images per second */
    int epochs_run;         /* epochs finished by this call */
    int interrupted;        /* stopped by opt->stop, checkpoint saved */
    /* Per finished epoch, epochs first_epoch .. first_epoch + epochs_logged - 1:
     * after a resume the earlier epochs come from the checkpoint's history
     * (first_epoch is 1 unless the checkpoint has none). The seconds of an
     * epoch resumed mid-way count both parts. */
    int first_epoch, epochs_logged;
    double epoch_loss[FOIL_MAX_EPOCHS];
    double epoch_accuracy[FOIL_MAX_EPOCHS];
    double epoch_seconds[FOIL_MAX_EPOCHS];
    /* adversarial training (NaN where not measured): the eval attack's
     * accuracy on the test subset and the guard's on the training subset */
    double epoch_robust[FOIL_MAX_EPOCHS];
    double epoch_guard[FOIL_MAX_EPOCHS];
    /* the guard stopped training after epoch guard_epoch; model.safetensors
     * holds the weights of epoch best_epoch */
    int guard_fired, guard_epoch, best_epoch;
} foil_train_result;

/* Where to write (and resume from). Writes, atomically, after every epoch:
 * <outdir>/model.safetensors and <outdir>/train_state.safetensors (optimizer
 * state and the epoch reached). resume continues from them. */
typedef struct foil_train_options {
    const char *outdir;
    int resume;
    /* resuming with a recipe that differs from the checkpoint's
     * (foil_recipe_changes) fails unless this is set; the changes then go
     * into the checkpoint's metadata as resume_changes */
    int allow_changes;
    const char *resolved_config; /* YAML saved into the checkpoint metadata */
    foil_train_progress_fn progress;
    void *progress_user;
    /* When set (by a SIGINT/SIGTERM handler), training stops after the
     * current step and saves a checkpoint it can resume from, mid-epoch;
     * foil_train then fails with "interrupted ..." and res->interrupted. */
    volatile sig_atomic_t *stop;
} foil_train_options;

/* The recipe keys whose values differ between a checkpoint's resolved
 * config and the current one (seed, batch size, optimizer and its
 * hyperparameters, the schedule, data.train_limit and data.test_limit, the
 * latter since the epoch log would mix two test sets; not epochs, device,
 * precision or eval batch), as "train.lr 0.001 -> 0.0005, seed 5 -> 6" (""
 * when none); *changes is malloc'd. */
int foil_recipe_changes(const char *saved_yaml, const char *now_yaml, char **changes,
                        foil_err *err);

/* Whether outdir holds a checkpoint and the optimizer state saved with it
 * (what foil_train_options.resume needs). */
int foil_train_can_resume(const char *outdir);

/* The order of the training images in epoch `epoch` (1-based): batch k is
 * perm[k * batch_size ...], the same on every backend. */
void foil_train_order(int32_t *perm, int n, uint64_t seed, int epoch);

/* The Philox key of adversarial training's random starts (PGD-AT, FGSM-RS:
 * attack_random_start with restart 0 and sample step * batch_size + row;
 * TRADES: gaussian_noise with draw `step` and sample row), derived from the
 * seed: streams of their own, apart from the attacks' and the dropout's. */
uint64_t foil_adv_train_key(uint64_t seed);

int foil_train(const foil_recipe *r, foil_net *net, const foil_device_data *train,
               const foil_device_data *test, const foil_train_options *opt,
               foil_train_result *res, foil_err *err);

#endif
