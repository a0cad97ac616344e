/* The AutoAttack cascade (issue 19) on the CPU backend, on the small CNN:
 *   - a stage runs only on the samples the earlier stages left robust, and a
 *     sample's run does not depend on which others are in the batch, so the
 *     cascade's robust samples are exactly those robust under every stage
 *     run alone, and each stage's count is what it removed (stages Square,
 *     APGD-T, APGD-CE: the weakest first, so that two of them break some);
 *   - the clean misclassified samples and the robust ones keep their clean
 *     image (as the reference), the others stay in the eps-ball and [0, 1];
 *   - batches of 10 give the same bits as one batch;
 *   - restarts (APGD, Square) run only on the samples not yet fooled: with 3
 *     restarts Square breaks every sample 1 restart breaks, with the same
 *     image, and more. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

#define N CNN_N
#define IMG 784

/* The shared fixture with every fifth label wrong (some samples start broken). */
static void setup(cnn_fixture *f, int max_batch) {
    cnn_setup(f, max_batch);
    for (int i = 0; i < N; i += 5) f->y[i] = (f->y[i] + 1) % 10;
}

/* Samples [i0, i0 + n) attacked into out; robust[i] = still classified right. */
static void run(cnn_fixture *f, const foil_attack_spec *s, int i0, int n, float *out, int *robust) {
    foil_err err;
    int rc = foil_attack_run(&f->net, &f->w, s, out + i0 * IMG, f->x0 + i0 * IMG, f->y + i0, n,
                             i0, NULL, &err);
    TU_CHECK(rc == 0, "%s: %s", foil_attack_name(s->kind), rc ? err.msg : "");
    const float *logits;
    int32_t pred[N];
    foil_net_forward(&f->net, out + i0 * IMG, n, 0, 0, 0, &logits, &err);
    f->b->argmax(f->b, pred, logits, n, 10);
    for (int i = 0; robust && i < n; i++) robust[i0 + i] = pred[i] == f->y[i0 + i];
}

static int count(const int *flags) {
    int c = 0;
    for (int i = 0; i < N; i++) c += flags[i] != 0;
    return c;
}

static void test_cascade(void) {
    static cnn_fixture f, g;
    static float cas[N * IMG], split[N * IMG], alone[N * IMG];
    setup(&f, N);
    setup(&g, 10);
    const foil_attack_kind stages[] = {FOIL_ATTACK_SQUARE, FOIL_ATTACK_APGD_T,
                                       FOIL_ATTACK_APGD_CE};
    foil_attack_spec s = {.kind = FOIL_ATTACK_AUTOATTACK, .eps = 0.01f, .steps = 5,
                          .restarts = 1, .random_start = 1, .seed = 5, .target_classes = 3,
                          .queries = 200, .p_init = 0.8f, .version = FOIL_CASCADE_CUSTOM,
                          .nstages = 3};
    memcpy(s.stages, stages, sizeof stages);
    int robust[N], clean[N], every[N], stage_robust[N];
    run(&f, &s, 0, N, cas, robust);
    run(&g, &s, 0, 10, split, NULL), run(&g, &s, 10, 10, split, NULL);
    run(&g, &s, 20, 4, split, NULL);
    TU_CHECK(memcmp(cas, split, sizeof cas) == 0, "batches of 10 give the same bits");
    /* clean predictions, then each stage alone */
    foil_attack_spec none = s;
    none.eps = 0.0f;
    run(&f, &none, 0, N, alone, clean);
    TU_CHECK(f.w.clean_robust == count(clean), "clean right: %d, counted %d", f.w.clean_robust,
             count(clean));
    memcpy(every, clean, sizeof every);
    int alone_left[3];
    for (int k = 0; k < 3; k++) {
        foil_attack_spec st = s;
        st.kind = stages[k];
        run(&f, &st, 0, N, alone, stage_robust);
        alone_left[k] = count(stage_robust);
        for (int i = 0; i < N; i++) every[i] &= stage_robust[i];
    }
    run(&f, &s, 0, N, cas, robust); /* again: the runs above reused f.w */
    int left = count(clean);
    printf("  clean: %d of %d right", left, N);
    for (int k = 0; k < 3; k++) {
        left -= f.w.stage_broken[k];
        printf("; %s broke %d (alone it leaves %d)", foil_attack_name(stages[k]),
               f.w.stage_broken[k], alone_left[k]);
    }
    printf("\n  the cascade leaves %d, every stage alone %d\n", count(robust), count(every));
    TU_CHECK(f.w.nstages == 3 && left == count(robust), "stage counts add up: %d left, %d robust",
             left, count(robust));
    TU_CHECK(f.w.stage_broken[0] > 0 && f.w.stage_broken[1] > 0, "the test needs two stages "
             "that break samples (Square first: the weakest)");
    TU_CHECK(memcmp(robust, every, sizeof robust) == 0,
             "robust under the cascade = robust under every stage alone");
    TU_CHECK(count(robust) > 0 && count(robust) < count(clean), "the test needs broken and "
             "robust samples (%d of %d)", count(robust), count(clean));
    int clean_kept = 1, outside = 0;
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        const float *a = cas + i * IMG, *o = f.x0 + i * IMG;
        if (robust[i] || !clean[i]) clean_kept &= memcmp(a, o, sizeof(float) * IMG) == 0;
        for (int j = 0; j < IMG; j++) {
            outside += !(a[j] >= 0.0f && a[j] <= 1.0f);
            worst = fmax(worst, fabs(a[j] - o[j]));
        }
    }
    TU_CHECK(clean_kept, "robust and clean-misclassified samples keep their clean image");
    TU_CHECK(outside == 0 && worst <= s.eps * (1 + 1e-5) + 1e-6,
             "in the ball (%g), %d outside [0, 1]", worst, outside);
    cnn_teardown(&f);
    cnn_teardown(&g);
}

static void test_restarts(void) {
    static cnn_fixture f;
    static float one[N * IMG], three[N * IMG];
    setup(&f, N);
    foil_attack_spec s = {.kind = FOIL_ATTACK_SQUARE, .eps = 0.012f, .queries = 30,
                          .p_init = 0.8f, .restarts = 1, .seed = 7};
    int r1[N], r3[N];
    run(&f, &s, 0, N, one, r1);
    s.restarts = 3;
    run(&f, &s, 0, N, three, r3);
    int kept = 1, more = 0;
    for (int i = 0; i < N; i++) {
        if (!r1[i]) kept &= !r3[i] && !memcmp(one + i * IMG, three + i * IMG, sizeof(float) * IMG);
        more += r1[i] && !r3[i];
    }
    printf("  Square: 1 restart leaves %d robust, 3 restarts %d (%d more broken)\n", count(r1),
           count(r3), more);
    TU_CHECK(kept, "a sample the first run breaks keeps that image");
    TU_CHECK(more > 0, "the later restarts break more samples");
    cnn_teardown(&f);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* OpenBLAS's kernels as foil picks them (same bits per batch) */
    printf("cascade\n");
    test_cascade();
    printf("restarts on the samples not yet fooled\n");
    test_restarts();
    return tu_finish("test_autoattack");
}
