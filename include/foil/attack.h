/* Adversarial attacks, written once against the backend op table: FGSM
 * (untargeted and targeted), BIM / I-FGSM, PGD-Linf (random start, per-sample
 * worst-case restarts, per-sample early stop), PGD-L2, MI-FGSM, and APGD
 * (Croce and Hein 2020) with the cross-entropy, the DLR and the targeted DLR
 * loss, L-inf or L2. All work in [0, 1] pixel space with eps in pixel units,
 * on batches kept on the device. */
#ifndef FOIL_ATTACK_H
#define FOIL_ATTACK_H

#include <stdint.h>

#include "foil/net.h"

typedef enum {
    FOIL_ATTACK_FGSM,
    FOIL_ATTACK_BIM,
    FOIL_ATTACK_PGD,
    FOIL_ATTACK_PGD_L2,
    FOIL_ATTACK_MIFGSM,
    FOIL_ATTACK_APGD_CE,  /* APGD on the cross-entropy */
    FOIL_ATTACK_APGD_DLR, /* APGD on the DLR loss */
    FOIL_ATTACK_APGD_T,   /* APGD on the targeted DLR loss, over the top target_classes */
    FOIL_ATTACK_SQUARE,   /* the Square attack: random search on the margin, no gradients */
    FOIL_ATTACK_FAB_T,    /* FAB-T: targeted minimal-norm, over the top target_classes */
    FOIL_ATTACK_DEEPFOOL, /* DeepFool: minimal L2, the nearest linearised boundary */
    FOIL_ATTACK_CW_L2,    /* CW-L2: minimal L2, Adam in tanh space, binary search over c */
    FOIL_ATTACK_AUTOATTACK, /* the cascade: its stages in turn, each on the points still robust */
    FOIL_ATTACK_COUNT
} foil_attack_kind;

/* Lower-case names as used in configs and CSV files: fgsm, bim, pgd, pgd_l2,
 * mifgsm, apgd_ce, apgd_dlr, apgd_t, square, fab_t, deepfool, cw_l2, autoattack ("?" for
 * a kind out of range). parse: -1 for an unknown name. */
const char *foil_attack_name(foil_attack_kind kind);
/* "linf" or "l2" (the names of sweep configs and outputs); parsing: 0, or
 * -1 for another name. */
const char *foil_norm_name(foil_norm norm);
int foil_norm_parse(const char *name, foil_norm *norm);
int foil_attack_parse_name(const char *name, foil_attack_kind *kind);

typedef enum {
    FOIL_TARGET_NONE,         /* untargeted: move away from the label */
    FOIL_TARGET_CLASS,        /* a fixed class */
    FOIL_TARGET_LEAST_LIKELY, /* the class with the lowest clean logit */
    FOIL_TARGET_NEXT,         /* (label + 1) mod classes */
    FOIL_TARGET_RANDOM        /* a random class other than the label (seeded) */
} foil_target_rule;

/* The AutoAttack cascade (Croce and Hein 2020): at most this many stages. */
#define FOIL_CASCADE_MAX 4
typedef enum {
    FOIL_CASCADE_FAST,     /* APGD-CE, APGD-T */
    FOIL_CASCADE_STANDARD, /* APGD-CE, APGD-T, FAB-T, Square */
    FOIL_CASCADE_CUSTOM    /* the stages a config lists */
} foil_cascade_version;

typedef struct foil_attack_spec {
    foil_attack_kind kind;
    float eps;
    float step;         /* step size; <= 0: the default for the attack (see attack.c) */
    int steps;          /* iterations (FGSM: 1) */
    int random_start;   /* uniform start in the eps-ball */
    int restarts;       /* >= 1; the worst case per sample is kept */
    int early_stop;     /* freeze a sample once it is misclassified (or on target) */
    float decay;        /* MI-FGSM momentum decay */
    foil_target_rule target;
    int target_class;   /* FOIL_TARGET_CLASS */
    int use_predicted;  /* attack the model's clean predictions instead of the labels */
    uint64_t seed;
    foil_norm norm;     /* attacks that take either norm (APGD, Square): the threat model */
    int target_classes; /* APGD-T: the classes of the 2nd..(target_classes + 1)-th largest
                           clean logits, each a run of `restarts` (9 in AutoAttack) */
    int queries;        /* Square: evaluations per sample and restart, the start included */
    float p_init;       /* Square: the share of the image the first squares cover (0.8) */
    int rescale_schedule; /* Square: the side's schedule stretched to `queries` (0: the
                             paper's fixed query numbers, as AutoAttack runs it) */
    /* autoattack: the stages in order (APGD-CE, APGD-DLR, APGD-T, FAB-T, Square),
     * each run with this spec's eps, seed, norm, steps, restarts,
     * target_classes, queries and p_init */
    foil_cascade_version version;
    float overshoot;    /* DeepFool: the step past the boundary (0.02) */
    int search_steps;   /* CW-L2: binary-search steps over c (9) */
    float c_init;       /* CW-L2: the first c (1e-3) */
    float kappa;        /* CW-L2: the margin asked for (0) */
    int nstages;
    foil_attack_kind stages[FOIL_CASCADE_MAX];
} foil_attack_spec;

/* The threat model of a spec: its norm for the attacks that take either,
 * else the kind's. */
foil_norm foil_attack_norm(const foil_attack_spec *s);

/* APGD's step-size checkpoints for n iterations (Croce and Hein 2020, as the
 * reference): the step is checked after iteration w_j - 1 (0-based) with w_1 =
 * max(floor(0.22 n), 1), then intervals shrinking by max(floor(0.03 n), 1)
 * down to max(floor(0.06 n), 1). Writes up to cap interval lengths into len
 * (NULL: count only); returns their count. */
int foil_apgd_checkpoints(int n, int *len, int cap);
#define FOIL_APGD_RHO 0.75f   /* the share of increasing steps below which the step halves */
#define FOIL_APGD_ALPHA 0.75f /* momentum: weight of the new step */

/* The side of the Square attack's square at iteration t >= 1 (query t + 1)
 * of a run of `queries` on h x w images, as the reference: p = p_init halved
 * each time t - 1, rescaled to 10000 queries, passes 10, 50, 200, 500, 1000,
 * 2000, 4000, 6000 and 8000; the side round(sqrt(p h w)) (halves to even),
 * in [1, min(h, w)]. queries = 10000: the paper's schedule, unscaled, which
 * AutoAttack uses whatever the budget (foil's default; rescale_schedule
 * stretches it to the budget). */
int foil_square_size(int t, int queries, float p_init, int h, int w);
/* The L2 version's window side: max(round(sqrt(p h w)), 3) made odd (plus
 * one when even), at most min(h, w) (the largest odd side that fits). */
int foil_square_size_l2(int t, int queries, float p_init, int h, int w);
#define FOIL_SQUARE_QUERIES 5000 /* AutoAttack's budget */
#define FOIL_SQUARE_P_INIT 0.8 /* a double: configs echo it as written */
#define FOIL_DEEPFOOL_OVERSHOOT 0.02
#define FOIL_CW_SEARCH_STEPS 9
#define FOIL_CW_C_INIT 1e-3

/* The step size the attack uses for this spec. */
float foil_attack_step_size(const foil_attack_spec *s);

typedef struct foil_attack_work foil_attack_work;

/* One run of an attack (one restart) from x0 (n, row) into w->cur, against
 * the goals in w->goal (the class to leave, or the target), within the
 * spec's eps-ball; the non-finite flags go to w->bad. restart numbers the
 * run (it keys the random start). */
typedef int (*foil_attack_run_fn)(foil_net *net, foil_attack_work *w,
                                  const foil_attack_spec *spec, const float *x0, int n,
                                  int64_t first, int restart, foil_err *err);

/* What configs, sweeps, reports and the attack loop need to know of an
 * attack kind: one row per kind in host/attack/attack_table.c. */
typedef struct foil_attack_info {
    const char *name;        /* configs, CSV files */
    foil_norm norm;          /* the threat model: eps is an L-inf or an L2 radius */
    int iterative;           /* takes steps, step, random_start, restarts and early_stop
                                (FGSM: one step of eps) */
    int default_steps;       /* steps when a config names none */
    int default_random_start;
    float step_factor;       /* default step = step_factor * eps / steps */
    int momentum;            /* takes decay (MI-FGSM) */
    int apgd;                /* APGD: takes steps, restarts, random_start and norm (no step
                                or early_stop: the schedule sets the step) */
    int loss;                /* APGD: FOIL_LOSS_* */
    int multi_target;        /* APGD-T: takes target_classes */
    int square;              /* Square: takes queries, p_init and restarts (no steps) */
    int fab;                 /* FAB-T: takes steps, restarts, target_classes (L-inf) */
    int minimal;             /* looks for the least perturbation (DeepFool, CW-L2): takes
                                steps, records each sample's radius */
    int cw;                  /* CW-L2: takes search_steps, c_init, kappa (DeepFool: overshoot) */
    int cascade;             /* autoattack: takes version (or attacks) and its stages' keys */
    int compacts;            /* restarts (and APGD-T's targets) run only on the samples not
                                yet fooled, as the reference; the first success is kept */
    foil_step_rule rule;     /* gradient-step attacks: the direction of a step */
    foil_attack_run_fn run;  /* one restart */
} foil_attack_info;

enum { FOIL_LOSS_CE, FOIL_LOSS_DLR, FOIL_LOSS_DLR_TARGETED };

/* The row of kind (NULL when out of range). */
const foil_attack_info *foil_attack_info_of(foil_attack_kind kind);
/* The largest change of one pixel an attack in the ball of norm at eps can
 * make: eps for L-inf, 0 (no bound short of the image range) for L2.
 * Pictures of perturbations scale their colours by it (0: by the data). */
float foil_attack_pixel_bound(foil_norm norm, float eps);

/* Device buffers for attacking batches of up to max_batch samples. */
struct foil_attack_work {
    int max_batch, classes;
    size_t row;
    float *cur;         /* (max_batch, row) the current restart */
    float *velocity;    /* (max_batch, row) MI-FGSM */
    float *loss;        /* (max_batch) */
    float *dlogits;     /* (max_batch, classes) */
    int32_t *goal;      /* (max_batch) the label to move away from, or the target */
    int32_t *pred;      /* (max_batch) */
    int32_t *active;    /* (max_batch) early-stop mask */
    int32_t *mask;      /* (max_batch) restart selection */
    int32_t *bad;       /* (max_batch) a non-finite logit or gradient was seen */
    float *loss_host;   /* (max_batch) */
    int32_t *pred_host, *mask_host, *best_adv_host, *bad_host; /* (max_batch) */
    float *best_loss_host;                          /* (max_batch) */
    float *logits_host;                             /* (max_batch, classes) */
    /* APGD (apgd.c), (max_batch, row): the previous iterate, the best-loss
     * point and its gradient, the last misclassified iterate, the gradient */
    float *x_prev, *x_best, *g_best, *x_adv, *grad;
    foil_apgd_state st;  /* (max_batch) each */
    int32_t *fooled;     /* (max_batch) */
    int32_t *target;     /* (max_batch) APGD-T: the target class of each sample */
    int32_t *ones_host;  /* (max_batch) 1s, zeros_host 0s: the state's start */
    int32_t *zeros_host;
    /* Square (square.c), (max_batch): the samples still queried, the
     * queries each took in the last run, the best margin */
    int32_t *ids, *queries;
    float *margin, *margin_host;
    /* runs on a sub-batch (attack.c): row i of the arrays above is then
     * sample index_host[i] of the caller's batch; index_on is index while a
     * sub-batch runs, else NULL (the random streams follow it) */
    int32_t *index, *index_host, *map, *map_host, *goal_all, *alive_host;
    const int32_t *index_on;
    float *sub_x0;       /* (max_batch, row) the sub-batch's clean images */
    /* minimal-perturbation attacks (DeepFool): each sample's radius in the
     * last batch, L2 and L-inf (+inf: no adversarial found), (max_batch) */
    float *radius_l2_host, *radius_linf_host;
    float *merge;        /* (2 max_batch, row) the batch's and the sub-batch's results */
    /* autoattack: the samples each stage broke in the last batch (of those
     * still robust before it), and how many were robust at the start */
    int nstages, stage_broken[FOIL_CASCADE_MAX], clean_robust;
    double stage_seconds[FOIL_CASCADE_MAX]; /* each stage's time in the last batch */
};

int foil_attack_work_create(foil_attack_work *w, foil_net *net, foil_err *err);
void foil_attack_work_destroy(foil_attack_work *w, foil_backend *b);

/* Attacks n <= net->max_batch samples x0 (n, row) with labels (n), both in
 * backend memory, writing x_adv (n, row). first is the global index of sample
 * 0 (the random start of a sample depends on its index, not its batch).
 * target_out_host (may be NULL) receives the target classes of a targeted
 * attack. A logit or input gradient that is not finite (NaN or infinity) at
 * any step is an error naming the sample (its global index): such a sample
 * would otherwise look robust, since a NaN gradient moves no pixel. */
int foil_attack_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *spec,
                    float *x_adv, const float *x0, const int32_t *labels, int n, int64_t first,
                    int32_t *target_out_host, foil_err *err);

#endif
