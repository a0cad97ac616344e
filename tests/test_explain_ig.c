/* Explanations on the CPU backend, part 2: Integrated Gradients on a small
 * CNN. Completeness within 1% at 64 Gauss-Legendre points and shrinking with
 * the steps; the same attributions whatever the chunk size and whatever batch
 * an image is in; SmoothGrad (sigma 0 is the plain method, seeded, per image);
 * adaptive steps; chunks bounded by the network's batch. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_util.h"

enum { N = 6, H = 12, W = 12, P = H * W, K = 10 };

static const int32_t TGT[N] = {3, 1, 4, 1, 5, 9};

/* Mean and max |relative delta| of IG with `steps` points of `rule`. */
static void completeness(exnet *t, foil_quad_rule rule, int steps, foil_target_mode mode,
                         double *mean, double *max) {
    float attr[N * P];
    foil_explain_stats st[N];
    foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
    s.rule = rule, s.steps = steps, s.output = mode;
    exrun(t, &s, attr, t->x, TGT, NULL, N, st);
    *mean = *max = 0.0;
    for (int i = 0; i < N; i++) {
        *mean += fabs(st[i].rel_delta) / N;
        *max = fmax(*max, fabs(st[i].rel_delta));
    }
}

static void test_completeness(exnet *t) {
    const foil_quad_rule rules[2] = {FOIL_RULE_GAUSS_LEGENDRE, FOIL_RULE_TRAPEZOID};
    const int steps[3] = {16, 64, 128};
    for (int mode = 0; mode < 2; mode++)
        for (int r = 0; r < 2; r++) {
            double mean[3], max[3];
            foil_target_mode md = mode ? FOIL_TARGET_PROB : FOIL_TARGET_LOGIT;
            for (int k = 0; k < 3; k++) completeness(t, rules[r], steps[k], md, &mean[k], &max[k]);
            printf("  %-14s %-5s mean |rel delta| at 16/64/128 steps: %.2e %.2e %.2e (max %.2e %.2e %.2e)\n",
                   foil_quad_rule_name(rules[r]), mode ? "prob" : "logit", mean[0], mean[1],
                   mean[2], max[0], max[1], max[2]);
            TU_CHECK(mean[1] < mean[0] && mean[2] < mean[1], "%s %s: the error shrinks with the steps",
                     foil_quad_rule_name(rules[r]), mode ? "prob" : "logit");
            if (rules[r] == FOIL_RULE_GAUSS_LEGENDRE)
                TU_CHECK(max[1] < 0.01, "64 Gauss-Legendre points: every image within 1%% (%g)",
                         max[1]);
        }
}

/* Chunks of 1, 7 and 64 points, and images one at a time: the same sums. */
static void test_chunks_and_batches(exnet *t) {
    float a[3][N * P], one[P];
    foil_explain_stats st[N], st1;
    const int chunks[3] = {1, 7, 64};
    for (int c = 0; c < 3; c++) {
        foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
        s.chunk = chunks[c];
        exrun(t, &s, a[c], t->x, TGT, NULL, N, st);
    }
    double scale, d1 = max_abs_diff(a[2], a[0], N * P, &scale), d7 = max_abs_diff(a[2], a[1], N * P, NULL);
    printf("  chunk 1 / 7 vs 64: max |diff| %.2e / %.2e (max |attr| %.2e)\n", d1, d7, scale);
    TU_CHECK(d1 <= 1e-5 * scale && d7 <= 1e-5 * scale, "IG does not depend on the chunk size");
    foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
    s.chunk = 7;
    int64_t idx = 4;
    exrun(t, &s, one, t->x + 4 * P, TGT + 4, &idx, 1, &st1);
    double d = max_abs_diff(one, a[1] + 4 * P, P, NULL);
    TU_CHECK(d <= 1e-5 * scale && fabsf(st1.rel_delta - st[4].rel_delta) < 1e-5f,
             "an image alone gives what it gives in a batch (%g)", d);
}

static void test_smoothgrad(exnet *t) {
    float plain[N * P], sg[N * P], again[N * P];
    foil_explain_stats st[N];
    for (int m = 0; m < 2; m++) {
        foil_explain_method method = m ? FOIL_EXPLAIN_IG : FOIL_EXPLAIN_SALIENCY;
        foil_explain_spec s = exspec(method);
        s.steps = 16;
        exrun(t, &s, plain, t->x, TGT, NULL, N, st);
        s.smooth_samples = 3, s.smooth_sigma = 0.0f;
        exrun(t, &s, sg, t->x, TGT, NULL, N, st);
        double scale, d = max_abs_diff(plain, sg, N * P, &scale);
        TU_CHECK(d <= 1e-6 * scale, "%s: SmoothGrad with sigma 0 is the plain method (%g)",
                 foil_explain_method_name(method), d);
        s.smooth_sigma = 0.2f;
        exrun(t, &s, sg, t->x, TGT, NULL, N, st);
        exrun(t, &s, again, t->x, TGT, NULL, N, st);
        TU_CHECK(memcmp(sg, again, sizeof sg) == 0, "%s: the same seed gives the same SmoothGrad",
                 foil_explain_method_name(method));
        TU_CHECK(max_abs_diff(plain, sg, N * P, NULL) > 1e-3 * scale, "noise changes the result");
        if (method == FOIL_EXPLAIN_IG)
            TU_CHECK(fabsf(st[0].rel_delta) < 0.05f, "SmoothGrad-IG sums to mean F(x + noise) - "
                     "F(baseline): rel delta %g", (double)st[0].rel_delta);
        s.seed = 99;
        exrun(t, &s, again, t->x, TGT, NULL, N, st);
        TU_CHECK(memcmp(sg, again, sizeof sg) != 0, "another seed, other noise");
        /* image 2 alone, with its index: the same noise as in the batch */
        float one[P];
        foil_explain_stats st1;
        int64_t idx = 2;
        s.seed = 7;
        exrun(t, &s, one, t->x + 2 * P, TGT + 2, &idx, 1, &st1);
        TU_CHECK(max_abs_diff(one, sg + 2 * P, P, NULL) <= 1e-5 * scale,
                 "SmoothGrad noise follows the image index, not the batch");
    }
    foil_explain_spec s = exspec(FOIL_EXPLAIN_SMOOTHGRAD);
    s.smooth_samples = 4;
    exrun(t, &s, sg, t->x, TGT, NULL, N, st);
    TU_CHECK(isnan(st[0].rel_delta) && st[0].steps == 1, "smoothgrad has no completeness");
}

static void test_adaptive(exnet *t) {
    float attr[N * P], ref[P];
    foil_explain_stats st[N], st1;
    foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
    s.rule = FOIL_RULE_TRAPEZOID, s.steps = 4, s.tolerance = 2e-3, s.max_steps = 512;
    exrun(t, &s, attr, t->x, TGT, NULL, N, st);
    int ok = 1, grew = 0;
    for (int i = 0; i < N; i++) {
        ok &= fabsf(st[i].rel_delta) < 2e-3f || st[i].steps == 512;
        grew |= st[i].steps > 4;
        printf("  adaptive trapezoid: image %d took %d steps, rel delta %.2e\n", i, st[i].steps,
               (double)st[i].rel_delta);
    }
    TU_CHECK(ok && grew, "adaptive steps reach the tolerance (or the cap)");
    /* an image's adaptive result equals a plain run at its final steps */
    foil_explain_spec p = s;
    p.tolerance = 0.0, p.steps = st[3].steps;
    int64_t idx = 3;
    exrun(t, &p, ref, t->x + 3 * P, TGT + 3, &idx, 1, &st1);
    double scale, d = max_abs_diff(ref, attr + 3 * P, P, &scale);
    TU_CHECK(d <= 1e-5 * scale && st1.steps == st[3].steps, "refined rows land in their place (%g)", d);
    s.max_steps = 4;
    exrun(t, &s, attr, t->x, TGT, NULL, N, st);
    TU_CHECK(st[0].steps == 4, "max_steps caps the doubling");
}

/* A network holding 5 samples explains 2 images with 64 points: 2 per forward. */
static void test_small_network(void) {
    exnet t;
    exnet_cnn(&t, 1, H, W, K, 2, 5);
    float attr[2 * P];
    foil_explain_stats st[2];
    foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
    exrun(&t, &s, attr, t.x, TGT, NULL, 2, st);
    TU_CHECK(fabsf(st[0].rel_delta) < 0.01f && st[1].steps == 64,
             "chunks fit the network's batch: rel delta %g", (double)st[0].rel_delta);
    exnet_free(&t);
}

int main(void) {
    exnet t;
    exnet_cnn(&t, 1, H, W, K, N, N * 64);
    printf("completeness\n");
    test_completeness(&t);
    printf("chunks and batches\n");
    test_chunks_and_batches(&t);
    printf("smoothgrad\n");
    test_smoothgrad(&t);
    printf("adaptive steps\n");
    test_adaptive(&t);
    test_small_network();
    exnet_free(&t);
    return tu_finish("test_explain_ig");
}
