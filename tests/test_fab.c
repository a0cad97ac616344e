/* FAB-T (issue 19) on the CPU backend:
 *   - fab_step with alpha_max 0 and eta 1 is the bare projection: on random
 *     rows it lands on the hyperplane, inside [0, 1], and no smaller L-inf
 *     radius could reach it (g(lambda) of foil/fab_math.h, recomputed here
 *     in double); out of reach it goes to the box's corner;
 *   - fab_update keeps the closest misclassified point and steps back
 *     towards x0 by beta;
 *   - on a linear two-class model FAB-T finds the minimal L-inf distance to
 *     the boundary (within 1%), and at eps just above it breaks the sample,
 *     just below it leaves x0;
 *   - on the small CNN: in the ball, same bits, batch independence. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

/* The most <w, d> can change at L-inf radius lambda within [0, 1], in
 * direction sign(delta): sum |w_i| min(lambda, room_i). */
static double reach(const float *t, const float *w, int m, double delta, double lambda) {
    double g = 0.0;
    for (int j = 0; j < m; j++) {
        if (w[j] == 0.0f) continue;
        double room = ((w[j] > 0) == (delta > 0)) ? 1.0 - t[j] : t[j];
        g += fabs((double)w[j]) * fmin(room, lambda);
    }
    return g;
}

static void test_projection(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    enum { ROWS = 200, M = 37 };
    static float t[ROWS * M], x[ROWS * M], w[ROWS * M], o[ROWS * M], diff[ROWS];
    double delta[ROWS];
    for (int i = 0; i < ROWS * M; i++) {
        t[i] = foil_rng_uniform(3, 1, (uint64_t)i);
        w[i] = (i % 7 == 3) ? 0.0f : 2.0f * foil_rng_uniform(3, 2, (uint64_t)i) - 1.0f;
    }
    for (int i = 0; i < ROWS; i++) { /* the hyperplane: <w, z> = <w, t> + delta */
        double u = foil_rng_uniform(3, 3, (uint64_t)i);
        /* every 10th out of reach */
        delta[i] = (i % 2 ? 1.0 : -1.0) * (i % 10 == 9 ? 40.0 : 6.0 * u);
        diff[i] = (float)-delta[i]; /* beta = <w, x> - diff */
    }
    memcpy(x, t, sizeof x);
    memcpy(o, t, sizeof o);
    TU_CHECK(b->fab_step(b, x, o, w, diff, 1.0f, 0.0f, FOIL_NORM_LINF, ROWS, M) == 0, "%s",
             b->err.msg);
    int on = 1, box = 1, minimal = 1, corner = 1, reachable = 0;
    for (int i = 0; i < ROWS; i++) {
        const float *ti = t + i * M, *wi = w + i * M, *xi = x + i * M;
        double wd = 0.0, lam = 0.0;
        for (int j = 0; j < M; j++) {
            wd += (double)wi[j] * (xi[j] - ti[j]);
            lam = fmax(lam, fabs((double)xi[j] - ti[j]));
            box &= xi[j] >= 0.0f && xi[j] <= 1.0f;
            if (wi[j] == 0.0f) box &= xi[j] == ti[j];
        }
        const double need = fabs(delta[i]), most = reach(ti, wi, M, delta[i], 2.0);
        if (most <= need) { /* out of reach: every helping coordinate at its bound */
            for (int j = 0; j < M; j++)
                if (wi[j] != 0.0f)
                    corner &= xi[j] == (((wi[j] > 0) == (delta[i] > 0)) ? 1.0f : 0.0f);
            continue;
        }
        reachable++;
        on &= fabs(wd - delta[i]) <= 1e-4 * (1.0 + need);
        minimal &= reach(ti, wi, M, delta[i], lam * (1.0 - 1e-4)) < need;
    }
    printf("  %d rows reach their hyperplane, %d do not\n", reachable, ROWS - reachable);
    TU_CHECK(reachable > ROWS / 2 && reachable < ROWS, "both kinds of rows (%d reachable)",
             reachable);
    TU_CHECK(on, "the projection lands on the hyperplane");
    TU_CHECK(box, "inside [0, 1], coordinates with w = 0 unmoved");
    TU_CHECK(minimal, "no smaller L-inf radius reaches the hyperplane");
    TU_CHECK(corner, "out of reach: the box's corner");
    b->destroy(b);
}

static void test_update(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    float x[3 * 2] = {0.5f, 0.9f, 0.2f, 0.2f, 0.0f, 1.0f}, o[3 * 2] = {0.5f, 0.5f, 0, 0, 0, 0};
    float adv[3 * 2] = {7, 7, 7, 7, 7, 7}, dist[3] = {INFINITY, 0.1f, 1.0f};
    int32_t fooled[3] = {1, 1, 0};
    TU_CHECK(b->fab_update(b, adv, dist, x, o, fooled, 0.5f, FOIL_NORM_LINF, 3, 2) == 0, "%s",
             b->err.msg);
    TU_CHECK(fabsf(dist[0] - 0.4f) < 1e-6f && adv[0] == 0.5f && adv[1] == 0.9f,
             "a closer adversarial is kept (%g)", dist[0]);
    TU_CHECK(dist[1] == 0.1f && adv[2] == 7.0f, "a farther one is not");
    TU_CHECK(fabsf(x[1] - 0.7f) < 1e-6f && fabsf(x[2] - 0.1f) < 1e-6f && x[5] == 1.0f,
             "fooled rows step back by beta, the others stay: %g %g %g", x[1], x[2], x[5]);
    b->destroy(b);
}

/* Two classes, z = W x + c: the boundary z_1 = z_0 is one hyperplane, and
 * the least L-inf distance to it within [0, 1] is the radius at which
 * reach() first covers the margin. */
static void test_linear(void) {
    foil_err err;
    enum { S = 6 };
    static linear_fixture f;
    linear_setup(&f, S, 4, 0.02f);
    foil_backend *b = f.b;
    foil_net *net = &f.net;
    const float *v = f.v;
    static float x0[S * 784], adv[S * 784];
    int32_t y[S];
    double lam_star[S];
    for (int i = 0; i < S; i++) {
        double m0 = 0.0;
        for (int j = 0; j < 784; j++) {
            x0[i * 784 + j] = foil_rng_uniform(4, 3 + (uint64_t)i, (uint64_t)j);
            m0 += (double)v[j] * x0[i * 784 + j];
        }
        y[i] = m0 > 0.0; /* labelled as classified: the margin to cross is |m0| */
        const double need = fabs(m0), delta = -m0; /* move the margin to 0 */
        double lo = 0.0, hi = 1.0;
        for (int k = 0; k < 200; k++) {
            double mid = 0.5 * (lo + hi);
            if (reach(x0 + i * 784, v, 784, delta, mid) < need) lo = mid;
            else hi = mid;
        }
        lam_star[i] = hi;
    }
    foil_attack_work w;
    TU_CHECK(foil_attack_work_create(&w, net, &err) == 0, "%s", err.msg);
    foil_attack_spec s = {.kind = FOIL_ATTACK_FAB_T, .eps = 1.0f, .steps = 100, .restarts = 1,
                          .target_classes = 1, .seed = 3};
    TU_CHECK(foil_attack_run(net, &w, &s, adv, x0, y, S, 0, NULL, &err) == 0, "%s", err.msg);
    int close = 1;
    double worst = 0.0;
    for (int i = 0; i < S; i++) {
        const double found = w.margin_host[i]; /* the run's closest distance (fab.c) */
        worst = fmax(worst, found / lam_star[i]);
        close &= found >= lam_star[i] * (1 - 1e-4) && found <= lam_star[i] * 1.01;
    }
    printf("  linear model: FAB-T's distance / the least distance <= %.5f\n", worst);
    TU_CHECK(close, "FAB-T finds the least L-inf distance within 1%%");
    /* eps just above the least distance breaks, just below keeps x0 */
    int32_t pred[S];
    for (int k = 0; k < 2; k++) {
        const int i = 2;
        s.eps = (float)(lam_star[i] * (k ? 1.02 : 0.98));
        TU_CHECK(foil_attack_run(net, &w, &s, adv, x0 + i * 784, y + i, 1, i, NULL, &err) == 0,
                 "%s", err.msg);
        const float *logits;
        foil_net_forward(net, adv, 1, 0, 0, 0, &logits, &err);
        b->argmax(b, pred, logits, 1, 2);
        TU_CHECK(k ? pred[0] != y[i] : memcmp(adv, x0 + i * 784, sizeof(float) * 784) == 0,
                 "eps %s the least distance: %s", k ? "above" : "below",
                 k ? "broken" : "x0 returned");
    }
    foil_attack_work_destroy(&w, b);
    linear_teardown(&f);
}

#define N CNN_N
#define IMG 784


static int run(cnn_fixture *f, const foil_attack_spec *s, int i0, int n, float *out) {
    foil_err err;
    int rc = foil_attack_run(&f->net, &f->w, s, out + i0 * IMG, f->x0 + i0 * IMG, f->y + i0, n,
                             i0, NULL, &err);
    TU_CHECK(rc == 0, "fab_t: %s", rc ? err.msg : "");
    const float *logits;
    int32_t pred[N];
    foil_net_forward(&f->net, out + i0 * IMG, n, 0, 0, 0, &logits, &err);
    f->b->argmax(f->b, pred, logits, n, 10);
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += pred[i] != f->y[i0 + i];
    return wrong;
}

static void test_cnn(void) {
    static cnn_fixture f, g;
    static float a[N * IMG], again[N * IMG], split[N * IMG];
    cnn_setup(&f, N);
    cnn_setup(&g, 10);
    foil_attack_spec s = {.kind = FOIL_ATTACK_FAB_T, .eps = 0.008f, .steps = 20, .restarts = 2,
                          .target_classes = 3, .seed = 5};
    const int wrong = run(&f, &s, 0, N, a);
    run(&f, &s, 0, N, again);
    run(&g, &s, 0, 10, split), run(&g, &s, 10, 10, split), run(&g, &s, 20, 4, split);
    double worst = 0.0;
    int outside = 0;
    for (int i = 0; i < N * IMG; i++) {
        outside += !(a[i] >= 0.0f && a[i] <= 1.0f);
        worst = fmax(worst, fabs(a[i] - f.x0[i]));
    }
    printf("  small CNN, eps %.3f: %d of %d broken, largest perturbation %.6f\n", (double)s.eps,
           wrong, N, worst);
    TU_CHECK(wrong > 0 && wrong < N, "FAB-T breaks some samples, not all (%d)", wrong);
    TU_CHECK(outside == 0 && worst <= s.eps, "in the ball (%g), %d outside [0, 1]", worst,
             outside);
    TU_CHECK(memcmp(a, again, sizeof a) == 0, "same seed, same bits");
    TU_CHECK(memcmp(a, split, sizeof a) == 0, "batches of 10 give the same bits");
    cnn_teardown(&f);
    cnn_teardown(&g);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* OpenBLAS's kernels as foil picks them (same bits per batch) */
    printf("projection\n");
    test_projection();
    printf("update\n");
    test_update();
    printf("linear model\n");
    test_linear();
    printf("small CNN\n");
    test_cnn();
    return tu_finish("test_fab");
}
