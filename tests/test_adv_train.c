/* Adversarial training (PGD-AT, FGSM-RS, TRADES) through foil_train on the
 * CPU backend: a PGD-AT (and an FGSM-RS) step is a clean step on the
 * adversarial batch made separately; with eps 0 every mode is clean
 * training, bit for bit; resuming mid-epoch gives the weights of a straight
 * run; the overfitting guard fires on a scripted collapse and keeps the best
 * epoch's weights, its checkpoint is finished (resume refused, accuracy of
 * the kept weights), and a run resumed before it fires stops the same way;
 * the recipe keys' errors name the key; the schedules' values; TRADES'
 * whole gradient is the derivative of its loss (central differences). */
#include <errno.h>
#include <math.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/checkpoint.h"
#include "foil/config.h"
#include "foil/elementwise.h"
#include "foil/philox.h"
#include "foil/train.h"
#include "small_cnn.h"
#include "../host/train/adversarial.h"

#define N 48    /* training images: 3 batches of 16 */
#define BATCH 16

typedef struct world {
    foil_model m;
    foil_backend *b;
    float *init;        /* (nparams) the initial parameters */
    float x[N * 784];
    int32_t y[N];
} world;

/* small_cnn with dropout after the pool: the adversarial forwards must
 * draw the clean step's masks */
static void world_setup(world *w) {
    foil_err err;
    foil_model_def d = small_cnn_def();
    memmove(&d.layers[4], &d.layers[3], sizeof d.layers[0] * 3);
    d.layers[3] = (foil_layer_def){.kind = FOIL_LAYER_DROPOUT, .rate = 0.2f};
    d.nlayers = 7;
    TU_CHECK(foil_model_build(&w->m, &d, &err) == 0, "%s", err.msg);
    w->b = foil_backend_cpu_create(&err);
    TU_CHECK(w->b != NULL, "%s", err.msg);
    w->init = malloc(sizeof(float) * w->m.nparams);
    foil_model_init_params(&w->m, w->init, 21);
    for (size_t i = 0; i < w->m.nparams; i++) w->init[i] *= 3.0f;
    for (size_t i = 0; i < N * w->m.in_size; i++) w->x[i] = foil_rng_uniform(8, 1, i);
    /* labels: the initial model's predictions (learnable, and robust at small eps) */
    foil_net net;
    const float *logits;
    TU_CHECK(foil_net_create(&net, &w->m, w->b, N, &err) == 0, "%s", err.msg);
    memcpy(net.params, w->init, sizeof(float) * w->m.nparams);
    TU_CHECK(foil_net_forward(&net, w->x, N, 0, 0, 0, &logits, &err) == 0, "%s", err.msg);
    w->b->argmax(w->b, w->y, logits, N, 10);
    foil_net_destroy(&net);
}

static foil_recipe recipe(foil_adv_mode mode, double eps, int epochs) {
    foil_recipe r = {.epochs = epochs, .batch_size = BATCH, .eval_batch = BATCH,
                     .optimizer = FOIL_OPT_ADAM, .lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999,
                     .eps = 1e-8, .lr_decay = 1.0, .lr_decay_epochs = 1, .seed = 5};
    r.schedule.kind = FOIL_LR_DECAY;
    r.adv = (foil_adv_recipe){.mode = mode, .eps = eps, .steps = 3, .step = eps / 3,
                              .alpha = 1.25 * eps, .beta = 2.0, .random_start = 1,
                              .eval_attack = FOIL_ATTACK_PGD, .eval_steps = 2,
                              .eval_images = 16, .guard_images = N, .guard_drop = 0.2};
    return r;
}

/* Trains from w->init on (x, y) into <tmp>/dir; the parameters into params
 * (nparams). stop: set before training (stops after the first step).
 * Returns foil_train's result code. */
static int train_n(world *w, const foil_recipe *r, int n, const float *x, const int32_t *y,
                   const char *dir, int resume, int stop, float *params,
                   foil_train_result *res) {
    foil_err err;
    foil_net net;
    char out[1024];
    tu_path(out, sizeof out, dir);
    TU_CHECK(mkdir(out, 0755) == 0 || errno == EEXIST, "mkdir %s", out);
    TU_CHECK(foil_net_create(&net, &w->m, w->b, BATCH, &err) == 0, "%s", err.msg);
    memcpy(net.params, w->init, sizeof(float) * w->m.nparams);
    foil_device_data train = {n, 784, (float *)x, (int32_t *)y};
    foil_device_data test = {16, 784, (float *)x, (int32_t *)y};
    volatile sig_atomic_t flag = stop;
    foil_train_options opt = {.outdir = out, .resume = resume, .stop = &flag};
    int rc = foil_train(r, &net, &train, &test, &opt, res, &err);
    if (rc && !res->interrupted) fprintf(stderr, "train %s: %s\n", dir, err.msg);
    memcpy(params, net.params, sizeof(float) * w->m.nparams);
    foil_net_destroy(&net);
    return rc;
}

static int train(world *w, const foil_recipe *r, const float *x, const int32_t *y,
                 const char *dir, int resume, int stop, float *params, foil_train_result *res) {
    return train_n(w, r, N, x, y, dir, resume, stop, params, res);
}

static int same(const float *a, const float *b, size_t n) {
    return memcmp(a, b, sizeof(float) * n) == 0;
}

/* eps 0: PGD-AT, FGSM-RS and TRADES are clean training, the same bits. */
static void test_eps_zero(world *w) {
    const size_t np = w->m.nparams;
    float *clean = malloc(sizeof(float) * np), *p = malloc(sizeof(float) * np);
    foil_train_result res;
    foil_recipe r = recipe(FOIL_ADV_NONE, 0.0, 1);
    TU_CHECK(train(w, &r, w->x, w->y, "clean", 0, 0, clean, &res) == 0, "clean training");
    const foil_adv_mode modes[] = {FOIL_ADV_PGD, FOIL_ADV_FGSM_RS, FOIL_ADV_TRADES};
    const char *names[] = {"pgd", "fgsm_rs", "trades"};
    for (int k = 0; k < 3; k++) {
        r = recipe(modes[k], 0.0, 1);
        TU_CHECK(train(w, &r, w->x, w->y, names[k], 0, 0, p, &res) == 0, "%s", names[k]);
        TU_CHECK(same(p, clean, np), "%s at eps 0: the clean run's weights, bit for bit",
                 names[k]);
        TU_CHECK(isfinite(res.epoch_robust[0]), "%s logs a robust accuracy", names[k]);
    }
    r = recipe(FOIL_ADV_PGD, 0.1, 1);
    TU_CHECK(train(w, &r, w->x, w->y, "pgd01", 0, 0, p, &res) == 0, "pgd at eps 0.1");
    TU_CHECK(!same(p, clean, np), "at eps 0.1 PGD-AT differs from clean training");
    free(clean);
    free(p);
}

/* A PGD-AT step (a training set of one batch) = a clean step on the
 * adversarial batch made by foil_attack_run with the documented streams
 * (foil_adv_train_key, sample step * batch + row), placed where the epoch's
 * order (foil_train_order) takes the batch from. clean_ratio: the first rows
 * stay clean. */
/* FGSM-RS from the unclipped start, on the host (Wong et al.'s MNIST code):
 * delta uniform in [-eps, eps] from the attack's stream of sample k, the
 * cross-entropy's input gradient g at x0 + delta (not clipped), then
 * x0 + delta + alpha sign(g) projected onto the eps-box and into [0, 1]. */
static void wong_fgsm(foil_net *net, float *xa, const float *x0, const int32_t *y, int n,
                      int64_t first, float eps, float alpha, uint64_t key) {
    foil_err err;
    const size_t row = net->model->in_size;
    const int c = net->model->def.classes;
    float *delta = malloc(sizeof(float) * n * row), *loss = malloc(sizeof(float) * n);
    float *dz = malloc(sizeof(float) * n * c);
    for (int i = 0; i < n; i++) {
        const uint64_t st = FOIL_STREAM(FOIL_RNG_ATTACK, (uint64_t)(first + i));
        for (size_t j = 0; j < row; j++) {
            delta[i * row + j] = (2.0f * foil_rng_uniform(key, st, j) - 1.0f) * eps;
            xa[i * row + j] = x0[i * row + j] + delta[i * row + j];
        }
    }
    const float *logits;
    TU_CHECK(foil_net_forward(net, xa, n, 0, 0, 0, &logits, &err) == 0 &&
                 net->b->softmax_xent(net->b, loss, dz, logits, y, n, c, 1.0f) == 0 &&
                 foil_net_backward(net, dz, 0, 1, &err) == 0, "FGSM-RS's gradient");
    for (size_t j = 0; j < (size_t)n * row; j++) { /* in the attack step's rounding order */
        const float g = net->dx[j];
        xa[j] = foil_project_linf(xa[j] + alpha * (float)((g > 0) - (g < 0)), x0[j], eps);
    }
    free(delta);
    free(loss);
    free(dz);
}

static void test_pgd_step(world *w, foil_adv_mode mode, double clean_ratio, int clip) {
    foil_err err;
    const size_t np = w->m.nparams, row = w->m.in_size;
    float *a = malloc(sizeof(float) * np), *b = malloc(sizeof(float) * np);
    float *xb = malloc(sizeof(float) * BATCH * row), *xa = malloc(sizeof(float) * BATCH * row);
    float *x2 = malloc(sizeof(float) * BATCH * row);
    int32_t yb[BATCH], perm[BATCH];
    foil_train_result res;
    const int fgsm = mode == FOIL_ADV_FGSM_RS;
    foil_recipe r = recipe(mode, 0.15, 1);
    r.adv.clean_ratio = clean_ratio;
    r.adv.step = 0.04;
    r.adv.alpha = 0.18; /* FGSM-RS: one step of alpha from the uniform start */
    r.adv.clip_start = clip;
    TU_CHECK(train_n(w, &r, BATCH, w->x, w->y, "pgd_step_a", 0, 0, a, &res) == 0, "%s",
             foil_adv_mode_name(mode));
    foil_train_order(perm, BATCH, r.seed, 1);
    for (int i = 0; i < BATCH; i++) {
        memcpy(xb + i * row, w->x + (size_t)perm[i] * row, sizeof(float) * row);
        yb[i] = w->y[perm[i]];
    }
    const int clean = (int)floor(clean_ratio * BATCH + 0.5);
    foil_net net;
    foil_attack_work aw;
    TU_CHECK(foil_net_create(&net, &w->m, w->b, BATCH, &err) == 0 &&
                 foil_attack_work_create(&aw, &net, &err) == 0,
             "%s", err.msg);
    memcpy(net.params, w->init, sizeof(float) * np);
    foil_attack_spec s = {.kind = FOIL_ATTACK_PGD, .eps = 0.15f, .step = fgsm ? 0.18f : 0.04f,
                          .steps = fgsm ? 1 : 3, .random_start = 1, .restarts = 1,
                          .seed = foil_adv_train_key(r.seed), .norm = FOIL_NORM_LINF};
    memcpy(xa, xb, sizeof(float) * BATCH * row);
    if (fgsm && !clip)
        wong_fgsm(&net, xa + clean * row, xb + clean * row, yb + clean, BATCH - clean, clean,
                  0.15f, 0.18f, s.seed);
    else
        TU_CHECK(foil_attack_run(&net, &aw, &s, xa + clean * row, xb + clean * row, yb + clean,
                                 BATCH - clean, clean, NULL, &err) == 0,
                 "%s", err.msg);
    foil_attack_work_destroy(&aw, w->b);
    foil_net_destroy(&net);
    double moved = 0;
    for (size_t i = 0; i < BATCH * row; i++) moved = fmax(moved, fabs(xa[i] - xb[i]));
    TU_CHECK(moved > 0.1 && moved <= 0.15f + 1e-6, "the attack moves pixels up to eps: %g",
             moved);
    for (int i = 0; i < BATCH; i++)
        memcpy(x2 + (size_t)perm[i] * row, xa + i * row, sizeof(float) * row);
    foil_recipe c = recipe(FOIL_ADV_NONE, 0.0, 1);
    TU_CHECK(train_n(w, &c, BATCH, x2, w->y, "pgd_step_b", 0, 0, b, &res) == 0, "clean step");
    TU_CHECK(same(a, b, np), "%s%s, clean_ratio %g: a training step = a clean step on the "
             "attacked batch", foil_adv_mode_name(mode), fgsm ? (clip ? " clip_start" :
             " (unclipped start)") : "", clean_ratio);
    free(a);
    free(b);
    free(xb);
    free(xa);
    free(x2);
}

/* Stopped after the first step and resumed: the weights of a straight run
 * (two epochs of three steps). */
static void test_resume(world *w, foil_adv_mode mode, const char *name) {
    const size_t np = w->m.nparams;
    float *a = malloc(sizeof(float) * np), *b = malloc(sizeof(float) * np);
    foil_train_result res;
    char dir[64];
    foil_recipe r = recipe(mode, 0.1, 2);
    snprintf(dir, sizeof dir, "%s_straight", name);
    TU_CHECK(train(w, &r, w->x, w->y, dir, 0, 0, a, &res) == 0, "%s straight", name);
    snprintf(dir, sizeof dir, "%s_resumed", name);
    TU_CHECK(train(w, &r, w->x, w->y, dir, 0, 1, b, &res) != 0 && res.interrupted,
             "%s stops after the first step", name);
    TU_CHECK(!same(a, b, np), "%s: one step differs from two epochs", name);
    TU_CHECK(train(w, &r, w->x, w->y, dir, 1, 0, b, &res) == 0, "%s resumes", name);
    TU_CHECK(same(a, b, np), "%s resumed mid-epoch = straight through", name);
    TU_CHECK(res.epochs_logged == 2 && isfinite(res.epoch_robust[0]) &&
                 isfinite(res.epoch_robust[1]),
             "%s: both epochs' robust accuracies in the log (%d epochs)", name,
             res.epochs_logged);
    free(a);
    free(b);
}

/* A scripted collapse: FGSM-RS with the learning rate multiplied by 1e5 in
 * epoch 2 wrecks the model; the guard stops after epoch 2 with the weights
 * of epoch 1 (those of a one-epoch run). */
static void test_guard(world *w) {
    const size_t np = w->m.nparams;
    float *one = malloc(sizeof(float) * np), *p = malloc(sizeof(float) * np);
    foil_train_result res;
    foil_recipe r = recipe(FOIL_ADV_FGSM_RS, 0.001, 4);
    r.lr = 1e-5;
    r.adv.guard = 1;
    r.schedule = (foil_lr_schedule){.kind = FOIL_LR_STEP, .every = 1, .gamma = 1e5};
    TU_CHECK(train(w, &r, w->x, w->y, "guard", 0, 0, p, &res) == 0, "FGSM-RS with the guard");
    printf("guard: epoch 1 %.3f, epoch 2 %.3f; fired %d after epoch %d, kept %d\n",
           res.epoch_guard[0], res.epoch_guard[1], res.guard_fired, res.guard_epoch,
           res.best_epoch);
    TU_CHECK(res.guard_fired && res.guard_epoch == 2 && res.best_epoch == 1 &&
                 res.epochs_logged == 2,
             "the guard fires after epoch 2 and keeps epoch 1");
    TU_CHECK(res.epoch_guard[1] < res.epoch_guard[0] - 0.2, "the collapse is in the log");
    const foil_train_result res_kept = res;
    foil_recipe r1 = r;
    r1.epochs = 1;
    r1.schedule.kind = FOIL_LR_DECAY; /* epoch 1 is the same either way */
    TU_CHECK(train(w, &r1, w->x, w->y, "guard_one", 0, 0, one, &res) == 0, "one epoch");
    TU_CHECK(same(p, one, np), "the kept weights are epoch 1's");
    /* the checkpoint says so: its accuracy is the kept weights', and it is
     * finished (a resume is refused, the weights stay) */
    char path[1024], want[32];
    tu_path(path, sizeof path, "guard/model.safetensors");
    foil_safetensors st;
    foil_err err;
    TU_CHECK(foil_st_read(path, &st, &err) == 0, "%s", err.msg);
    snprintf(want, sizeof want, "%.6f", res_kept.test_accuracy);
    const char *acc = foil_st_meta(&st, "test_accuracy"), *gs = foil_st_meta(&st, "guard_stopped");
    TU_CHECK(acc && !strcmp(acc, want) && gs && !strcmp(gs, "2"),
             "model.safetensors: test_accuracy %s (the kept weights' %s), guard_stopped %s",
             acc ? acc : "-", want, gs ? gs : "-");
    foil_st_free(&st);
    float *again = malloc(sizeof(float) * np);
    size_t n0, n1;
    char *before = tu_slurp(path, &n0);
    TU_CHECK(train(w, &r, w->x, w->y, "guard", 1, 0, again, &res) != 0 && !res.interrupted,
             "resuming a run the guard stopped is refused");
    char *after = tu_slurp(path, &n1);
    TU_CHECK(before && after && n0 == n1 && !memcmp(before, after, n0),
             "and leaves its checkpoint as it was");
    free(before);
    free(after);
    /* a resume after epoch 1 (one step per epoch: the stop comes at the
     * epoch's end) keeps the guard's memory: the same stop, the same weights */
    float *straight = malloc(sizeof(float) * np);
    foil_train_result rs, rr;
    TU_CHECK(train_n(w, &r, BATCH, w->x, w->y, "guard_straight", 0, 0, straight, &rs) == 0 &&
                 rs.guard_fired, "one-step epochs: the guard fires");
    TU_CHECK(train_n(w, &r, BATCH, w->x, w->y, "guard_resumed", 0, 1, again, &rr) != 0 &&
                 rr.interrupted && rr.epochs_logged == 1, "stopped after epoch 1");
    TU_CHECK(train_n(w, &r, BATCH, w->x, w->y, "guard_resumed", 1, 0, again, &rr) == 0,
             "resumed");
    TU_CHECK(rr.guard_fired && rr.guard_epoch == rs.guard_epoch &&
                 rr.best_epoch == rs.best_epoch && same(again, straight, np),
             "resumed: fired after epoch %d keeping %d (straight: %d, %d), the same weights",
             rr.guard_epoch, rr.best_epoch, rs.guard_epoch, rs.best_epoch);
    free(again);
    free(straight);
    /* without the guard the wrecked weights stay */
    r.adv.guard = 0;
    r.epochs = 2;
    TU_CHECK(train(w, &r, w->x, w->y, "no_guard", 0, 0, p, &res) == 0 && !res.guard_fired &&
                 !same(p, one, np),
             "without the guard training runs on");
    free(one);
    free(p);
}

/* A recipe's train section from text; 0 or the error in err. */
static int parse(const char *train_yaml, foil_recipe *r, foil_err *err) {
    char text[2048];
    snprintf(text, sizeof text,
             "model: {name: t, input: [1, 28, 28], classes: 10, layers: [flatten, "
             "{dense: {units: 10}}]}\ntrain:\n%s", train_yaml);
    foil_config cfg;
    if (foil_config_parse(&cfg, "t.yaml", text, strlen(text), err)) return -1;
    int rc = foil_recipe_parse(r, &cfg, err);
    foil_config_free(&cfg);
    return rc;
}

static void test_recipe_errors(void) {
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"  adversarial: {mode: madry}\n", "train.adversarial.mode"},
        {"  adversarial: {mode: pgd, eps: -0.1}\n", "train.adversarial.eps"},
        {"  adversarial: {mode: pgd, steps: 0}\n", "train.adversarial.steps"},
        {"  adversarial: {mode: trades, beta: -1}\n", "train.adversarial.beta"},
        {"  adversarial: {mode: pgd, beta: 6}\n", "train.adversarial.beta: not a key of mode pgd"},
        {"  adversarial: {mode: fgsm_rs, steps: 7}\n", "train.adversarial.steps"},
        {"  adversarial: {mode: pgd, eval_attack: square}\n", "train.adversarial.eval_attack"},
        {"  adversarial: {mode: pgd, eval_attack: cw_l2}\n", "train.adversarial.eval_attack"},
        {"  adversarial: {eps: 0.3}\n", "missing key 'mode'"},
        {"  adversarial: {mode: pgd, eps: 0.3, step: 0}\n", "train.adversarial.step"},
        {"  adversarial: {mode: pgd, epsilon: 0.3}\n", "epsilon"},
        {"  lr_schedule: {kind: triangle}\n", "train.lr_schedule.kind"},
        {"  lr_decay: 0.5\n  lr_schedule: {kind: cosine}\n", "train.lr_schedule"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        foil_recipe r;
        foil_err err;
        err.msg[0] = 0;
        int rc = parse(bad[k].yaml, &r, &err);
        TU_CHECK(rc != 0 && strstr(err.msg, bad[k].want) && !strchr(err.msg, '\n'),
                 "%s-> one line naming '%s': %s", bad[k].yaml, bad[k].want, err.msg);
    }
    foil_recipe r;
    foil_err err;
    TU_CHECK(parse("  adversarial: {mode: fgsm_rs, eps: 0.3}\n", &r, &err) == 0, "%s", err.msg);
    TU_CHECK(r.adv.mode == FOIL_ADV_FGSM_RS && fabs(r.adv.alpha - 0.375) < 1e-12 &&
                 r.adv.guard && r.adv.random_start,
             "FGSM-RS defaults: alpha 1.25 eps, the guard on");
    TU_CHECK(parse("  adversarial: {mode: pgd, eps: 0.3, steps: 40}\n", &r, &err) == 0 &&
                 fabs(r.adv.step - 0.01875) < 1e-12 && !r.adv.guard,
             "PGD defaults: step 2.5 eps / steps, no guard");
}

/* The schedules' values at known points, and the eps warm-up. */
static void test_schedules(void) {
    foil_recipe r = recipe(FOIL_ADV_PGD, 0.3, 10);
    r.lr = 5e-3;
    const int spe = 100; /* steps per epoch */
    r.schedule = (foil_lr_schedule){.kind = FOIL_LR_CYCLIC, .peak = 0.4};
    TU_CHECK(fabs(foil_recipe_lr(&r, 4, 99, spe) - 5e-3) < 1e-15, "cyclic: lr at the peak");
    TU_CHECK(fabs(foil_recipe_lr(&r, 2, 99, spe) - 2.5e-3) < 1e-15, "cyclic: half way up");
    TU_CHECK(fabs(foil_recipe_lr(&r, 7, 99, spe) - 2.5e-3) < 1e-15, "cyclic: half way down");
    TU_CHECK(fabs(foil_recipe_lr(&r, 10, 99, spe)) < 1e-15, "cyclic: 0 at the end");
    r.schedule = (foil_lr_schedule){.kind = FOIL_LR_COSINE, .min_lr = 1e-4};
    TU_CHECK(fabs(foil_recipe_lr(&r, 5, 99, spe) - (1e-4 + 4.9e-3 / 2)) < 1e-15 &&
                 fabs(foil_recipe_lr(&r, 10, 99, spe) - 1e-4) < 1e-15,
             "cosine: the mean half way, min_lr at the end");
    r.schedule = (foil_lr_schedule){.kind = FOIL_LR_STEP, .every = 3, .gamma = 0.1};
    TU_CHECK(foil_recipe_lr(&r, 3, 50, spe) == 5e-3 &&
                 fabs(foil_recipe_lr(&r, 4, 0, spe) - 5e-4) < 1e-15,
             "step: x0.1 every 3 epochs");
    r.adv.warmup_epochs = 2;
    TU_CHECK(fabs(foil_recipe_adv_eps(&r, 1, 49, spe) - 0.075) < 1e-12 &&
                 foil_recipe_adv_eps(&r, 2, 99, spe) == 0.3 &&
                 foil_recipe_adv_eps(&r, 3, 0, spe) == 0.3,
             "the eps warm-up: linear over 2 epochs, then eps");
}

/* TRADES' loss at fixed x_adv, L = mean CE(f(x)) + beta mean KL(f(x) ||
 * f(x_adv)), both forwards in train mode with the masks of (seed, step). */
static double trades_loss(foil_net *net, const float *x, const float *xa, const int32_t *y,
                          double beta, uint64_t seed, uint64_t step) {
    foil_err err;
    const float *lg;
    float lx[BATCH * 10], la[BATCH * 10], ce[BATCH], kl[BATCH];
    TU_CHECK(foil_net_forward(net, x, BATCH, 1, seed, step, &lg, &err) == 0, "%s", err.msg);
    memcpy(lx, lg, sizeof lx);
    TU_CHECK(foil_net_forward(net, xa, BATCH, 1, seed, step, &lg, &err) == 0, "%s", err.msg);
    memcpy(la, lg, sizeof la);
    net->b->softmax_xent(net->b, ce, NULL, lx, y, BATCH, 10, 1.0f);
    net->b->kl_div(net->b, kl, NULL, NULL, lx, la, BATCH, 10, 1.0f);
    double l = 0;
    for (int i = 0; i < BATCH; i++) l += (ce[i] + beta * kl[i]) / BATCH;
    return l;
}

/* TRADES' whole gradient (the clean and the adversarial backward added) is
 * the derivative of its loss: along random directions of the parameters,
 * against central differences at the batch's real x_adv. */
static void test_trades_gradient(world *w) {
    foil_err err;
    foil_net net;
    adv_train a;
    foil_recipe r = recipe(FOIL_ADV_TRADES, 0.3, 1);
    r.adv.beta = 6.0;
    const uint64_t step = 7;
    TU_CHECK(foil_net_create(&net, &w->m, w->b, BATCH, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < w->m.nparams; i++) net.params[i] = w->init[i] / 3.0f;
    TU_CHECK(adv_train_init(&a, &net, &r, &err) == 0, "%s", err.msg);
    TU_CHECK(adv_train_batch(&net, &a, &r, w->x, w->y, BATCH, 0.3, (long)step, &err) == 0, "%s",
             err.msg);
    float loss[BATCH], dl[BATCH * 10];
    TU_CHECK(adv_trades_grads(&net, &a, &r, w->x, w->y, BATCH, loss, dl, (long)step, &err) == 0,
             "%s", err.msg);
    const size_t np = w->m.ntrain;
    float *g = malloc(sizeof(float) * np), *p0 = malloc(sizeof(float) * np),
          *d = malloc(sizeof(float) * np);
    memcpy(g, net.grads, sizeof(float) * np);
    memcpy(p0, net.params, sizeof(float) * np);
    double l0 = trades_loss(&net, w->x, a.x_adv, w->y, r.adv.beta, r.seed, step), lsum = 0;
    for (int i = 0; i < BATCH; i++) lsum += loss[i] / BATCH;
    TU_CHECK(fabs(lsum - l0) < 1e-5 * fabs(l0), "TRADES loss %g, recomputed %g", lsum, l0);
    for (int trial = 0; trial < 3; trial++) {
        double gd = 0, nd = 0;
        for (size_t i = 0; i < np; i++) {
            d[i] = foil_rng_uniform(99, (uint64_t)trial, i) - 0.5f;
            gd += (double)g[i] * d[i], nd += (double)d[i] * d[i];
        }
        const double h = 1e-3 / sqrt(nd / (double)np);
        for (size_t i = 0; i < np; i++) net.params[i] = p0[i] + (float)(h * d[i]);
        const double lp = trades_loss(&net, w->x, a.x_adv, w->y, r.adv.beta, r.seed, step);
        for (size_t i = 0; i < np; i++) net.params[i] = p0[i] - (float)(h * d[i]);
        const double lm = trades_loss(&net, w->x, a.x_adv, w->y, r.adv.beta, r.seed, step);
        const double fd = (lp - lm) / (2 * h);
        TU_CHECK(fabs(gd - fd) < 3e-2 * fabs(fd), "direction %d: gradient %g, differences %g",
                 trial, gd, fd);
        printf("TRADES direction %d: gradient %.6g differences %.6g\n", trial, gd, fd);
    }
    memcpy(net.params, p0, sizeof(float) * np);
    free(g), free(p0), free(d);
    adv_train_free(&a, w->b);
    foil_net_destroy(&net);
}

int main(void) {
    world w;
    world_setup(&w);
    test_eps_zero(&w);
    test_pgd_step(&w, FOIL_ADV_PGD, 0.0, 0);
    test_pgd_step(&w, FOIL_ADV_PGD, 0.25, 0);
    test_pgd_step(&w, FOIL_ADV_FGSM_RS, 0.0, 1);
    test_pgd_step(&w, FOIL_ADV_FGSM_RS, 0.25, 0);
    test_resume(&w, FOIL_ADV_PGD, "pgd");
    test_resume(&w, FOIL_ADV_TRADES, "trades");
    test_trades_gradient(&w);
    test_guard(&w);
    test_recipe_errors();
    test_schedules();
    free(w.init);
    w.b->destroy(w.b);
    return tu_finish("test_adv_train");
}
