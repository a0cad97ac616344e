/* CW-L2 (issue 19) on the CPU backend:
 *   - on a linear two-class model (pixels away from the box, where the tanh
 *     parametrisation is not saturated) the radius it finds is the least L2
 *     distance to the boundary, |z_1 - z_0| / ||w_1 - w_0||, within 1%;
 *   - the binary search over c: a c_init far too small still ends at the
 *     same radius;
 *   - its radius is never below the least distance (it cannot be);
 *   - same bits twice and in smaller batches. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

enum { S = 6, IMG = 784 };

static void test_linear(void) {
    foil_err err;
    foil_model m;
    foil_model_def d = linear_def(2);
    TU_CHECK(foil_model_build(&m, &d, &err) == 0, "%s", err.msg);
    foil_backend *b = foil_backend_cpu_create(&err);
    foil_net net, small;
    TU_CHECK(foil_net_create(&net, &m, b, S, &err) == 0 &&
                 foil_net_create(&small, &m, b, 4, &err) == 0, "%s", err.msg);
    float *W = net.params + m.layers[1].w_off, *c = net.params + m.layers[1].b_off;
    static float x0[S * IMG], adv[S * IMG], again[S * IMG], split[S * IMG];
    double v2 = 0.0;
    for (int j = 0; j < IMG; j++) {
        W[j] = 2.0f * foil_rng_uniform(7, 1, (uint64_t)j) - 1.0f;
        W[IMG + j] = 2.0f * foil_rng_uniform(7, 2, (uint64_t)j) - 1.0f;
        v2 += ((double)W[IMG + j] - W[j]) * ((double)W[IMG + j] - W[j]);
    }
    c[0] = c[1] = 0.0f;
    memcpy(small.params, net.params, sizeof(float) * m.nparams);
    int32_t y[S];
    double dstar[S];
    for (int i = 0; i < S; i++) {
        double mg = 0.0;
        for (int j = 0; j < IMG; j++) {
            x0[i * IMG + j] = 0.35f + 0.3f * foil_rng_uniform(7, 10 + (uint64_t)i, (uint64_t)j);
            mg += ((double)W[IMG + j] - W[j]) * x0[i * IMG + j];
        }
        y[i] = mg > 0.0;
        dstar[i] = fabs(mg) / sqrt(v2);
    }
    foil_attack_work w, ws;
    TU_CHECK(foil_attack_work_create(&w, &net, &err) == 0 &&
                 foil_attack_work_create(&ws, &small, &err) == 0, "%s", err.msg);
    const float inits[2] = {(float)FOIL_CW_C_INIT, 1e-7f};
    for (int k = 0; k < 2; k++) {
        foil_attack_spec s = {.kind = FOIL_ATTACK_CW_L2, .eps = 100.0f, .steps = 200,
                              .restarts = 1, .search_steps = k ? 14 : 9, .c_init = inits[k]};
        TU_CHECK(foil_attack_run(&net, &w, &s, adv, x0, y, S, 0, NULL, &err) == 0, "%s",
                 err.msg);
        double lo = INFINITY, hi = 0.0;
        for (int i = 0; i < S; i++) {
            const double q = w.radius_l2_host[i] / dstar[i];
            lo = fmin(lo, q), hi = fmax(hi, q);
        }
        printf("  c_init %g: CW-L2's radius / the least distance in [%.5f, %.5f]\n",
               (double)s.c_init, lo, hi);
        TU_CHECK(lo >= 1.0 - 1e-4 && hi <= 1.01, "the least L2 distance within 1%% (c_init %g)",
                 (double)s.c_init);
        if (k) continue;
        TU_CHECK(foil_attack_run(&net, &w, &s, again, x0, y, S, 0, NULL, &err) == 0, "%s",
                 err.msg);
        int ok = 1;
        for (int i0 = 0; i0 < S; i0 += 4)
            ok &= foil_attack_run(&small, &ws, &s, split + i0 * IMG, x0 + i0 * IMG, y + i0,
                                  S - i0 < 4 ? S - i0 : 4, i0, NULL, &err) == 0;
        TU_CHECK(ok && memcmp(adv, again, sizeof adv) == 0, "same bits twice");
        TU_CHECK(memcmp(adv, split, sizeof adv) == 0, "batches of 4 give the same bits");
    }
    foil_attack_work_destroy(&w, b);
    foil_attack_work_destroy(&ws, b);
    foil_net_destroy(&net);
    foil_net_destroy(&small);
    b->destroy(b);
}

int main(void) {
    printf("linear model\n");
    test_linear();
    return tu_finish("test_cw");
}
