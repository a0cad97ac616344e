/* DeepFool (issue 19) on the CPU backend:
 *   - on a linear 10-class model the least L2 distance to a misclassified
 *     point is min_k |z_k - z_y| / ||w_k - w_y||: DeepFool's radius is
 *     within 1% of it without overshoot, and 2-3% above it with the default
 *     0.02; a misclassified sample has radius 0;
 *   - at eps just above a sample's radius it is broken, just below x0 comes
 *     back;
 *   - on the small CNN: the same bits again and in batches of 10. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

enum { S = 8, C = 10, IMG = 784 };

static void test_linear(void) {
    foil_err err;
    foil_model m;
    foil_model_def d = linear_def(C);
    TU_CHECK(foil_model_build(&m, &d, &err) == 0, "%s", err.msg);
    foil_backend *b = foil_backend_cpu_create(&err);
    foil_net net;
    TU_CHECK(foil_net_create(&net, &m, b, S, &err) == 0, "%s", err.msg);
    float *W = net.params + m.layers[1].w_off, *c = net.params + m.layers[1].b_off;
    for (int k = 0; k < C; k++) {
        c[k] = 0.0f;
        for (int j = 0; j < IMG; j++)
            W[k * IMG + j] = 2.0f * foil_rng_uniform(6, (uint64_t)k, (uint64_t)j) - 1.0f;
    }
    static float x0[S * IMG], adv[S * IMG];
    int32_t y[S];
    double dstar[S];
    for (int i = 0; i < S; i++) {
        double z[C];
        for (int j = 0; j < IMG; j++)
            x0[i * IMG + j] = 0.3f + 0.4f * foil_rng_uniform(6, 100 + (uint64_t)i, (uint64_t)j);
        for (int k = 0; k < C; k++) {
            z[k] = 0.0;
            for (int j = 0; j < IMG; j++) z[k] += (double)W[k * IMG + j] * x0[i * IMG + j];
        }
        int top = 0;
        for (int k = 1; k < C; k++) top = z[k] > z[top] ? k : top;
        y[i] = i == S - 1 ? (top + 1) % C : top; /* the last one misclassified */
        dstar[i] = i == S - 1 ? 0.0 : INFINITY;
        for (int k = 0; k < C && i < S - 1; k++) {
            if (k == top) continue;
            double nn = 0.0;
            for (int j = 0; j < IMG; j++) {
                double v = (double)W[k * IMG + j] - W[top * IMG + j];
                nn += v * v;
            }
            dstar[i] = fmin(dstar[i], fabs(z[top] - z[k]) / sqrt(nn));
        }
    }
    foil_attack_work w;
    TU_CHECK(foil_attack_work_create(&w, &net, &err) == 0, "%s", err.msg);
    for (int os = 0; os < 2; os++) {
        foil_attack_spec s = {.kind = FOIL_ATTACK_DEEPFOOL, .eps = 100.0f, .steps = 50,
                              .restarts = 1, .overshoot = os ? FOIL_DEEPFOOL_OVERSHOOT : 0.0f};
        TU_CHECK(foil_attack_run(&net, &w, &s, adv, x0, y, S, 0, NULL, &err) == 0, "%s",
                 err.msg);
        double lo = INFINITY, hi = 0.0;
        for (int i = 0; i < S - 1; i++) {
            double q = w.radius_l2_host[i] / dstar[i];
            lo = fmin(lo, q), hi = fmax(hi, q);
        }
        printf("  overshoot %.2f: DeepFool's radius / the least distance in [%.5f, %.5f]; "
               "misclassified sample: %g\n", (double)s.overshoot, lo, hi,
               (double)w.radius_l2_host[S - 1]);
        TU_CHECK(os ? lo >= 1.02 && hi <= 1.03 : lo >= 1.0 - 1e-5 && hi <= 1.01,
                 "the least L2 distance (overshoot %g)", (double)s.overshoot);
        TU_CHECK(w.radius_l2_host[S - 1] == 0.0f && w.radius_linf_host[S - 1] == 0.0f,
                 "a misclassified sample has radius 0");
    }
    /* eps around sample 1's radius */
    foil_attack_spec s = {.kind = FOIL_ATTACK_DEEPFOOL, .steps = 50, .restarts = 1,
                          .overshoot = FOIL_DEEPFOOL_OVERSHOOT};
    TU_CHECK(foil_attack_run(&net, &w, &s, adv, x0, y, S, 0, NULL, &err) == 0, "%s", err.msg);
    const float r1 = w.radius_l2_host[1];
    for (int k = 0; k < 2; k++) {
        s.eps = r1 * (k ? 1.001f : 0.999f);
        TU_CHECK(foil_attack_run(&net, &w, &s, adv, x0, y, S, 0, NULL, &err) == 0, "%s",
                 err.msg);
        const int same = memcmp(adv + IMG, x0 + IMG, sizeof(float) * IMG) == 0;
        TU_CHECK(k ? !same : same, "eps %s the radius: %s", k ? "above" : "below",
                 k ? "the adversarial" : "x0");
    }
    foil_attack_work_destroy(&w, b);
    foil_net_destroy(&net);
    b->destroy(b);
}

static void test_cnn(void) {
    enum { N = 24 };
    foil_err err;
    foil_model m;
    foil_model_def d = small_cnn_def();
    TU_CHECK(foil_model_build(&m, &d, &err) == 0, "%s", err.msg);
    foil_backend *b = foil_backend_cpu_create(&err);
    foil_net big, small;
    TU_CHECK(foil_net_create(&big, &m, b, N, &err) == 0 &&
                 foil_net_create(&small, &m, b, 10, &err) == 0, "%s", err.msg);
    foil_model_init_params(&m, big.params, 21);
    for (size_t i = 0; i < m.nparams; i++) big.params[i] *= 3.0f;
    memcpy(small.params, big.params, sizeof(float) * m.nparams);
    static float x0[N * IMG], a[N * IMG], again[N * IMG], split[N * IMG];
    for (size_t i = 0; i < N * (size_t)IMG; i++) x0[i] = foil_rng_uniform(8, 1, i);
    int32_t y[N];
    const float *logits;
    foil_net_forward(&big, x0, N, 0, 0, 0, &logits, &err);
    b->argmax(b, y, logits, N, 10);
    foil_attack_work wb, ws;
    TU_CHECK(foil_attack_work_create(&wb, &big, &err) == 0 &&
                 foil_attack_work_create(&ws, &small, &err) == 0, "%s", err.msg);
    foil_attack_spec s = {.kind = FOIL_ATTACK_DEEPFOOL, .eps = 0.5f, .steps = 20, .restarts = 1,
                          .overshoot = FOIL_DEEPFOOL_OVERSHOOT};
    int ok = foil_attack_run(&big, &wb, &s, a, x0, y, N, 0, NULL, &err) == 0;
    ok &= foil_attack_run(&big, &wb, &s, again, x0, y, N, 0, NULL, &err) == 0;
    for (int i0 = 0; i0 < N; i0 += 10) {
        const int n = N - i0 < 10 ? N - i0 : 10;
        ok &= foil_attack_run(&small, &ws, &s, split + i0 * IMG, x0 + i0 * IMG, y + i0, n, i0,
                              NULL, &err) == 0;
    }
    TU_CHECK(ok, "%s", err.msg);
    int found = 0;
    for (int i = 0; i < N; i++) found += isfinite(wb.radius_l2_host[i]);
    printf("  small CNN: %d of %d samples get a radius\n", found, N);
    TU_CHECK(found > N / 2, "DeepFool finds most adversarials (%d)", found);
    TU_CHECK(memcmp(a, again, sizeof a) == 0, "same bits again");
    TU_CHECK(memcmp(a, split, sizeof a) == 0, "batches of 10 give the same bits");
    foil_attack_work_destroy(&wb, b);
    foil_attack_work_destroy(&ws, b);
    foil_net_destroy(&big);
    foil_net_destroy(&small);
    b->destroy(b);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* OpenBLAS's kernels as foil picks them (same bits per batch) */
    printf("linear model\n");
    test_linear();
    printf("small CNN\n");
    test_cnn();
    return tu_finish("test_deepfool");
}
