/* Attack properties on the CPU backend: every adversarial example lies in its
 * eps-ball and in [0, 1]; eps = 0 changes nothing; one PGD step without a
 * random start and step = eps is FGSM; FGSM on a linear model matches the
 * analytic answer; restarts are never weaker than one run per sample;
 * targeted attacks reach their target at large eps; same seed, same result. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

#define N 24

typedef struct fixture {
    foil_model m;
    foil_backend *b;
    foil_net net;
    foil_attack_work w;
    float x0[N * 784], adv[N * 784];
    int32_t y[N];
} fixture;

static void setup(fixture *f, const foil_model_def *def, float gain) {
    foil_err err;
    TU_CHECK(foil_model_build(&f->m, def, &err) == 0, "%s", err.msg);
    f->b = foil_backend_cpu_create(&err);
    TU_CHECK(foil_net_create(&f->net, &f->m, f->b, N, &err) == 0, "%s", err.msg);
    foil_model_init_params(&f->m, f->net.params, 21);
    for (size_t i = 0; i < f->m.nparams; i++) f->net.params[i] *= gain;
    for (size_t i = 0; i < N * f->m.in_size; i++) f->x0[i] = foil_rng_uniform(8, 1, i);
    TU_CHECK(foil_attack_work_create(&f->w, &f->net, &err) == 0, "%s", err.msg);
    /* label every sample with the model's own prediction, except every fourth,
     * so that most start correctly classified and a few do not */
    const float *logits;
    foil_net_forward(&f->net, f->x0, N, 0, 0, 0, &logits, &err);
    f->b->argmax(f->b, f->y, logits, N, def->classes);
    for (int i = 0; i < N; i += 4) f->y[i] = (f->y[i] + 1) % def->classes;
}

static void teardown(fixture *f) {
    foil_attack_work_destroy(&f->w, f->b);
    foil_net_destroy(&f->net);
    f->b->destroy(f->b);
}

static void attack(fixture *f, const foil_attack_spec *s, float *out) {
    foil_err err;
    int rc = foil_attack_run(&f->net, &f->w, s, out, f->x0, f->y, N, 0, NULL, &err);
    TU_CHECK(rc == 0, "attack %s: %s", foil_attack_name(s->kind), rc ? err.msg : "");
}

static void predict(fixture *f, const float *x, int32_t *pred) {
    const float *logits;
    foil_err err;
    foil_net_forward(&f->net, x, N, 0, 0, 0, &logits, &err);
    f->b->argmax(f->b, pred, logits, N, f->m.def.classes);
}

static void check_ball(fixture *f, const foil_attack_spec *s, const float *adv) {
    size_t row = f->m.in_size;
    double worst = 0.0;
    int out_of_range = 0;
    for (int i = 0; i < N; i++) {
        double l2 = 0, linf = 0;
        for (size_t j = 0; j < row; j++) {
            float v = adv[i * row + j], d = v - f->x0[i * row + j];
            out_of_range += v < 0.0f || v > 1.0f || v != v;
            l2 += (double)d * d;
            linf = fmax(linf, fabs(d));
        }
        worst = fmax(worst, s->kind == FOIL_ATTACK_PGD_L2 ? sqrt(l2) : linf);
    }
    TU_CHECK(out_of_range == 0, "%s: %d values outside [0, 1]", foil_attack_name(s->kind),
             out_of_range);
    TU_CHECK(worst <= s->eps * (1 + 1e-5) + 1e-6, "%s eps %g: perturbation %g leaves the ball",
             foil_attack_name(s->kind), (double)s->eps, worst);
    printf("  %-7s eps %.2f: largest perturbation %.6f\n", foil_attack_name(s->kind),
           (double)s->eps, worst);
}

static void test_balls(fixture *f) {
    printf("eps-balls and [0, 1]\n");
    const foil_attack_kind kinds[] = {FOIL_ATTACK_FGSM, FOIL_ATTACK_BIM, FOIL_ATTACK_PGD,
                                      FOIL_ATTACK_PGD_L2, FOIL_ATTACK_MIFGSM};
    const float eps[] = {0.05f, 0.3f, 2.0f};
    for (int k = 0; k < 5; k++)
        for (int e = 0; e < 3; e++) {
            foil_attack_spec s = {.kind = kinds[k], .eps = eps[e], .steps = 7, .restarts = 2,
                                  .random_start = 1, .decay = 1.0f, .seed = 3};
            if (kinds[k] != FOIL_ATTACK_PGD_L2 && eps[e] > 1.0f) s.eps = 0.5f;
            attack(f, &s, f->adv);
            check_ball(f, &s, f->adv);
        }
}

static void test_eps_zero(fixture *f) {
    int32_t p0[N], p1[N];
    predict(f, f->x0, p0);
    for (int k = 0; k < FOIL_ATTACK_COUNT; k++) {
        foil_attack_spec s = {.kind = (foil_attack_kind)k, .eps = 0.0f, .steps = 5,
                              .random_start = 1, .decay = 1.0f, .restarts = 2, .seed = 1,
                              .target_classes = 3, .queries = 20, .p_init = 0.8f,
                              .overshoot = 0.02f, .search_steps = 2, .c_init = 1e-3f,
                              .nstages = 3,
                              .stages = {FOIL_ATTACK_APGD_CE, FOIL_ATTACK_APGD_T,
                                         FOIL_ATTACK_SQUARE}};
        attack(f, &s, f->adv);
        TU_CHECK(memcmp(f->adv, f->x0, sizeof(float) * N * f->m.in_size) == 0,
                 "%s at eps 0 leaves the images unchanged", foil_attack_name(s.kind));
        predict(f, f->adv, p1);
        TU_CHECK(memcmp(p0, p1, sizeof p0) == 0, "%s at eps 0: the clean predictions",
                 foil_attack_name(s.kind));
    }
}

static void test_pgd_one_step_is_fgsm(fixture *f) {
    static float fgsm[N * 784];
    foil_attack_spec a = {.kind = FOIL_ATTACK_FGSM, .eps = 0.1f};
    foil_attack_spec b = {.kind = FOIL_ATTACK_PGD, .eps = 0.1f, .step = 0.1f, .steps = 1,
                          .restarts = 1};
    attack(f, &a, fgsm);
    attack(f, &b, f->adv);
    TU_CHECK(memcmp(fgsm, f->adv, sizeof(float) * N * f->m.in_size) == 0,
             "PGD with one step of eps and no random start equals FGSM");
}

static void test_restarts_and_seed(fixture *f) {
    static float one[N * 784], again[N * 784];
    int32_t p1[N], p3[N];
    foil_attack_spec s = {.kind = FOIL_ATTACK_PGD, .eps = 0.01f, .step = 0.005f, .steps = 2,
                          .random_start = 1, .restarts = 1, .seed = 9};
    attack(f, &s, one);
    attack(f, &s, again);
    TU_CHECK(memcmp(one, again, sizeof one) == 0, "same seed, identical adversarial examples");
    s.seed = 10;
    attack(f, &s, again);
    TU_CHECK(memcmp(one, again, sizeof one) != 0, "another seed, another random start");
    s.seed = 9;
    s.restarts = 4;
    attack(f, &s, f->adv);
    predict(f, one, p1);
    predict(f, f->adv, p3);
    int weaker = 0, fooled1 = 0, fooled4 = 0;
    for (int i = 0; i < N; i++) {
        fooled1 += p1[i] != f->y[i];
        fooled4 += p3[i] != f->y[i];
        weaker += p1[i] != f->y[i] && p3[i] == f->y[i];
    }
    printf("restarts: fooled %d of %d with 1 restart, %d with 4\n", fooled1, N, fooled4);
    TU_CHECK(weaker == 0, "4 restarts lost %d samples that 1 restart fooled", weaker);
}

static void test_targeted(fixture *f) {
    foil_attack_spec s = {.kind = FOIL_ATTACK_PGD, .eps = 0.5f, .step = 0.05f, .steps = 60,
                          .restarts = 1, .target = FOIL_TARGET_NEXT, .seed = 2};
    int32_t targets[N], pred[N];
    foil_err err;
    TU_CHECK(foil_attack_run(&f->net, &f->w, &s, f->adv, f->x0, f->y, N, 0, targets, &err) == 0,
             "targeted PGD: %s", err.msg);
    predict(f, f->adv, pred);
    int hit = 0;
    for (int i = 0; i < N; i++) {
        TU_CHECK(targets[i] == (f->y[i] + 1) % 10, "next-class target of sample %d", i);
        hit += pred[i] == targets[i];
    }
    printf("targeted PGD at eps 0.5: %d of %d on target\n", hit, N);
    TU_CHECK(hit >= N * 9 / 10, "targeted attack reaches the target: %d of %d", hit, N);
}

static void test_early_stop(fixture *f) {
    int32_t p0[N];
    predict(f, f->x0, p0);
    foil_attack_spec s = {.kind = FOIL_ATTACK_BIM, .eps = 0.2f, .steps = 10, .restarts = 1,
                          .early_stop = 1};
    attack(f, &s, f->adv);
    size_t row = f->m.in_size;
    int frozen_ok = 1, wrong = 0;
    for (int i = 0; i < N; i++)
        if (p0[i] != f->y[i]) {
            wrong++;
            frozen_ok &= memcmp(f->adv + i * row, f->x0 + i * row, sizeof(float) * row) == 0;
        }
    TU_CHECK(wrong > 0, "some samples start misclassified");
    TU_CHECK(frozen_ok, "early stop leaves already-misclassified samples untouched");
}

/* Linear model: grad_x loss = W^T (softmax(Wx + b) - onehot(y)), so FGSM is
 * clip(x + eps * sign(that)), computed here in double. */
static void test_linear_fgsm(void) {
    fixture *f = calloc(1, sizeof *f);
    foil_model_def d = linear_def(10);
    setup(f, &d, 1.0f);
    foil_attack_spec s = {.kind = FOIL_ATTACK_FGSM, .eps = 0.2f};
    attack(f, &s, f->adv);
    const float *w = f->net.params + f->m.layers[1].w_off;
    const float *bias = f->net.params + f->m.layers[1].b_off;
    int mismatches = 0, compared = 0;
    for (int i = 0; i < N; i++) {
        const float *x = f->x0 + i * 784;
        double z[10], p[10], mx = -1e300, sum = 0;
        for (int k = 0; k < 10; k++) {
            z[k] = bias[k];
            for (int j = 0; j < 784; j++) z[k] += (double)w[k * 784 + j] * x[j];
            mx = fmax(mx, z[k]);
        }
        for (int k = 0; k < 10; k++) sum += (p[k] = exp(z[k] - mx));
        for (int j = 0; j < 784; j++) {
            double g = 0;
            for (int k = 0; k < 10; k++) g += w[k * 784 + j] * (p[k] / sum - (k == f->y[i]));
            if (fabs(g) < 1e-6) continue; /* sign too close to call in float */
            float want = foil_clampf(x[j] + 0.2f * (g > 0 ? 1.0f : -1.0f), 0.0f, 1.0f);
            compared++;
            mismatches += f->adv[i * 784 + j] != want;
        }
    }
    printf("linear FGSM: %d of %d pixels differ from the analytic answer\n", mismatches, compared);
    TU_CHECK(compared > N * 700 && mismatches == 0, "linear FGSM is analytic (%d mismatches)",
             mismatches);
    teardown(f);
    free(f);
}

/* The attack table: every kind has a row whose name parses back to it, a
 * run function, and defaults an attack can run with; the step size follows
 * the row (eps for FGSM, step_factor * eps / steps otherwise, the spec's
 * step when given). */
static void test_table(void) {
    for (int k = 0; k < FOIL_ATTACK_COUNT; k++) {
        const foil_attack_info *a = foil_attack_info_of((foil_attack_kind)k);
        TU_CHECK(a && a->name && (a->run || a->cascade), "kind %d: a row with a name and a run "
                 "function (the cascade runs its stages')", k);
        if (!a || !a->name) continue;
        foil_attack_kind back;
        TU_CHECK(foil_attack_parse_name(a->name, &back) == 0 && back == (foil_attack_kind)k,
                 "%s parses back to its kind", a->name);
        TU_CHECK(strcmp(foil_attack_name((foil_attack_kind)k), a->name) == 0, "name of %d", k);
        TU_CHECK(a->default_steps >= 1, "%s: default steps %d", a->name, a->default_steps);
        TU_CHECK(!a->iterative || a->step_factor > 0.0f, "%s: a default step", a->name);
        TU_CHECK(a->default_steps == 1 || a->iterative || a->apgd || a->fab || a->minimal ||
                     a->cascade,
                 "%s: several steps, not iterative", a->name);
        TU_CHECK(!a->apgd || !a->iterative, "%s: APGD's schedule, not a fixed step", a->name);
        foil_attack_spec s = {.kind = (foil_attack_kind)k, .eps = 0.3f, .steps = 10};
        float want = a->apgd ? 0.6f : a->iterative ? a->step_factor * 0.3f / 10.0f : 0.3f;
        TU_CHECK(foil_attack_step_size(&s) == want, "%s: step %g, want %g", a->name,
                 (double)foil_attack_step_size(&s), (double)want);
        s.step = 0.05f;
        TU_CHECK(foil_attack_step_size(&s) == (a->apgd ? 0.6f : a->iterative ? 0.05f : 0.3f),
                 "%s: a given step", a->name);
        TU_CHECK(foil_attack_norm(&s) == a->norm, "%s: the table's norm by default", a->name);
        s.norm = FOIL_NORM_L2; /* only APGD, Square, FAB-T and the cascade take the spec's */
        TU_CHECK(foil_attack_norm(&s) ==
                     (a->apgd || a->cascade || a->square || a->fab ? FOIL_NORM_L2 : a->norm),
                 "%s: spec norm",
                 a->name);
    }
    TU_CHECK(foil_attack_info_of(FOIL_ATTACK_COUNT) == NULL, "no row past the table");
    TU_CHECK(strcmp(foil_attack_name(FOIL_ATTACK_COUNT), "?") == 0, "name past the table");
    foil_attack_kind k;
    TU_CHECK(foil_attack_parse_name("apgd", &k) == -1, "an unknown name is refused");
    /* the published defaults: PGD 40 steps from a random start, BIM 10, MI-FGSM eps/steps */
    TU_CHECK(foil_attack_info_of(FOIL_ATTACK_PGD)->default_steps == 40 &&
                 foil_attack_info_of(FOIL_ATTACK_PGD)->default_random_start &&
                 foil_attack_info_of(FOIL_ATTACK_BIM)->default_steps == 10 &&
                 !foil_attack_info_of(FOIL_ATTACK_BIM)->default_random_start &&
                 foil_attack_info_of(FOIL_ATTACK_MIFGSM)->step_factor == 1.0f &&
                 foil_attack_info_of(FOIL_ATTACK_PGD_L2)->norm == FOIL_NORM_L2,
             "the defaults of PGD, BIM, MI-FGSM and PGD-L2");
    TU_CHECK(foil_attack_pixel_bound(FOIL_NORM_LINF, 0.3f) == 0.3f &&
                 foil_attack_pixel_bound(FOIL_NORM_L2, 2.0f) == 0.0f,
             "pixel bound: eps in L-inf, none in L2");
}

int main(void) {
    test_table();
    fixture *f = calloc(1, sizeof *f);
    foil_model_def d = small_cnn_def();
    setup(f, &d, 3.0f);
    test_balls(f);
    test_eps_zero(f);
    test_pgd_one_step_is_fgsm(f);
    test_restarts_and_seed(f);
    test_targeted(f);
    test_early_stop(f);
    teardown(f);
    free(f);
    test_linear_fgsm();
    return tu_finish("test_attack");
}
