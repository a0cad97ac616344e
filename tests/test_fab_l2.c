/* FAB-T in L2 (issue 19) on the CPU backend:
 *   - fab_step with alpha_max 0 and eta 1 is the bare L2 projection: on
 *     random rows it lands on the hyperplane inside [0, 1] and has the
 *     least-norm form d = clip(lambda w) (the same lambda on every free
 *     coordinate, the clipped ones past their knee); out of reach, the
 *     box's corner;
 *   - fab_update measures L2 distances;
 *   - on a linear two-class model FAB-T finds the least L2 distance to the
 *     boundary within [0, 1] (computed here by bisection) within 1%;
 *   - on the small CNN: in the L2 ball and [0, 1], same bits, batch
 *     independence. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

/* <w, d> of the least-norm step clip(lambda w) towards sign(delta) in [0, 1]. */
static double reach_l2(const float *t, const float *w, int m, double delta, double lambda) {
    double g = 0.0;
    for (int j = 0; j < m; j++) {
        if (w[j] == 0.0f) continue;
        const double room = ((w[j] > 0) == (delta > 0)) ? 1.0 - t[j] : t[j];
        g += fabs((double)w[j]) * fmin(room, lambda * fabs((double)w[j]));
    }
    return g;
}

static void test_projection(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    enum { ROWS = 200, M = 37 };
    static float t[ROWS * M], x[ROWS * M], w[ROWS * M], diff[ROWS];
    double delta[ROWS];
    for (int i = 0; i < ROWS * M; i++) {
        t[i] = foil_rng_uniform(5, 1, (uint64_t)i);
        w[i] = (i % 7 == 3) ? 0.0f : 2.0f * foil_rng_uniform(5, 2, (uint64_t)i) - 1.0f;
    }
    for (int i = 0; i < ROWS; i++) {
        const double u = foil_rng_uniform(5, 3, (uint64_t)i);
        delta[i] = (i % 2 ? 1.0 : -1.0) * (i % 10 == 9 ? 40.0 : 6.0 * u);
        diff[i] = (float)-delta[i];
    }
    memcpy(x, t, sizeof x);
    TU_CHECK(b->fab_step(b, x, t, w, diff, 1.0f, 0.0f, FOIL_NORM_L2, ROWS, M) == 0, "%s",
             b->err.msg);
    int on = 1, box = 1, form = 1, corner = 1, reachable = 0, clipped = 0;
    for (int i = 0; i < ROWS; i++) {
        const float *ti = t + i * M, *wi = w + i * M, *xi = x + i * M;
        double wd = 0.0, lambda = -1.0;
        for (int j = 0; j < M; j++) {
            wd += (double)wi[j] * (xi[j] - ti[j]);
            box &= xi[j] >= 0.0f && xi[j] <= 1.0f;
            if (wi[j] == 0.0f) box &= xi[j] == ti[j];
        }
        const double need = fabs(delta[i]);
        if (reach_l2(ti, wi, M, delta[i], 1e9) <= need) {
            for (int j = 0; j < M; j++)
                if (wi[j] != 0.0f)
                    corner &= xi[j] == (((wi[j] > 0) == (delta[i] > 0)) ? 1.0f : 0.0f);
            continue;
        }
        reachable++;
        on &= fabs(wd - delta[i]) <= 1e-4 * (1.0 + need);
        /* free coordinates: d_j / (dir w_j) is one lambda; the clipped ones
         * have their knee room / |w| at or below it */
        for (int j = 0; j < M; j++) {
            if (wi[j] == 0.0f) continue;
            const double d = (double)xi[j] - ti[j], at = xi[j] == 0.0f || xi[j] == 1.0f;
            if (at) continue;
            const double l = fabs(d) / fabs((double)wi[j]);
            if (lambda < 0) lambda = l;
            form &= fabs(l - lambda) <= 1e-4 * lambda + 1e-6;
        }
        for (int j = 0; j < M && lambda > 0; j++) {
            if (wi[j] == 0.0f || !(xi[j] == 0.0f || xi[j] == 1.0f) || xi[j] == ti[j]) continue;
            clipped++;
            form &= fabs((double)xi[j] - ti[j]) / fabs((double)wi[j]) <= lambda * (1 + 1e-4);
        }
    }
    printf("  %d rows reach their hyperplane, %d do not, %d clipped coordinates\n", reachable,
           ROWS - reachable, clipped);
    TU_CHECK(reachable > ROWS / 2 && reachable < ROWS && clipped > 0,
             "reachable and corner rows, clipped coordinates (%d, %d)", reachable, clipped);
    TU_CHECK(on, "the projection lands on the hyperplane");
    TU_CHECK(box, "inside [0, 1], coordinates with w = 0 unmoved");
    TU_CHECK(form, "the least-norm form: d = clip(lambda w)");
    TU_CHECK(corner, "out of reach: the box's corner");

    float xu[2 * 2] = {0.3f, 0.4f, 0.9f, 0.9f}, o[2 * 2] = {0, 0, 0, 0}, adv[4] = {7, 7, 7, 7};
    float dist[2] = {INFINITY, 0.5f};
    int32_t fooled[2] = {1, 1};
    TU_CHECK(b->fab_update(b, adv, dist, xu, o, fooled, 0.5f, FOIL_NORM_L2, 2, 2) == 0, "%s",
             b->err.msg);
    TU_CHECK(fabsf(dist[0] - 0.5f) < 1e-6f && dist[1] == 0.5f && adv[0] == 0.3f && adv[2] == 7.0f,
             "fab_update: L2 distances (0.5 kept; 1.27 not closer than 0.5)");
    b->destroy(b);
}

static void test_linear(void) {
    foil_err err;
    enum { S = 6 };
    static linear_fixture f;
    linear_setup(&f, S, 6, 0.02f);
    foil_backend *b = f.b;
    foil_net *net = &f.net;
    const float *v = f.v;
    static float x0[S * 784], adv[S * 784];
    int32_t y[S];
    double best[S];
    for (int i = 0; i < S; i++) {
        double m0 = 0.0;
        for (int j = 0; j < 784; j++) {
            x0[i * 784 + j] = foil_rng_uniform(6, 3 + (uint64_t)i, (uint64_t)j);
            m0 += (double)v[j] * x0[i * 784 + j];
        }
        y[i] = m0 > 0.0;
        double lo = 0.0, hi = 1e6;
        for (int k = 0; k < 300; k++) {
            const double mid = 0.5 * (lo + hi);
            if (reach_l2(x0 + i * 784, v, 784, -m0, mid) < fabs(m0)) lo = mid;
            else hi = mid;
        }
        double ss = 0.0; /* the norm of clip(hi v) */
        for (int j = 0; j < 784; j++) {
            const double room = ((v[j] > 0) == (-m0 > 0)) ? 1.0 - x0[i * 784 + j] : x0[i * 784 + j];
            const double dj = fmin(room, hi * fabs((double)v[j]));
            ss += dj * dj;
        }
        best[i] = sqrt(ss);
    }
    foil_attack_work w;
    TU_CHECK(foil_attack_work_create(&w, net, &err) == 0, "%s", err.msg);
    foil_attack_spec s = {.kind = FOIL_ATTACK_FAB_T, .eps = 30.0f, .steps = 100, .restarts = 1,
                          .target_classes = 1, .seed = 3, .norm = FOIL_NORM_L2};
    TU_CHECK(foil_attack_run(net, &w, &s, adv, x0, y, S, 0, NULL, &err) == 0, "%s", err.msg);
    int close = 1;
    double worst = 0.0;
    for (int i = 0; i < S; i++) {
        const double found = w.margin_host[i];
        worst = fmax(worst, found / best[i]);
        close &= found >= best[i] * (1 - 1e-4) && found <= best[i] * 1.01;
    }
    printf("  linear model: FAB-T L2's distance / the least distance <= %.5f (least %.3f)\n",
           worst, best[0]);
    TU_CHECK(close, "FAB-T finds the least L2 distance within 1%%");
    foil_attack_work_destroy(&w, b);
    linear_teardown(&f);
}

#define N CNN_N
#define IMG 784

static void run(cnn_fixture *f, const foil_attack_spec *s, int i0, int n, float *out) {
    foil_err err;
    int rc = foil_attack_run(&f->net, &f->w, s, out + i0 * IMG, f->x0 + i0 * IMG, f->y + i0, n,
                             i0, NULL, &err);
    TU_CHECK(rc == 0, "fab_t l2: %s", rc ? err.msg : "");
}

static void test_cnn(void) {
    static cnn_fixture f, g;
    static float a[N * IMG], again[N * IMG], split[N * IMG];
    cnn_setup(&f, N);
    cnn_setup(&g, 10);
    foil_attack_spec s = {.kind = FOIL_ATTACK_FAB_T, .eps = 0.1f, .steps = 20, .restarts = 2,
                          .target_classes = 3, .seed = 5, .norm = FOIL_NORM_L2};
    run(&f, &s, 0, N, a);
    run(&f, &s, 0, N, again);
    run(&g, &s, 0, 10, split), run(&g, &s, 10, 10, split), run(&g, &s, 20, 4, split);
    double worst = 0.0;
    int outside = 0, moved = 0;
    for (int i = 0; i < N; i++) {
        double ss = 0.0;
        for (int k = 0; k < IMG; k++) {
            const double d = (double)a[i * IMG + k] - f.x0[i * IMG + k];
            ss += d * d;
            outside += !(a[i * IMG + k] >= 0.0f && a[i * IMG + k] <= 1.0f);
        }
        worst = fmax(worst, sqrt(ss));
        moved += ss > 0.0;
    }
    printf("  small CNN, L2 eps %.2f: %d of %d moved, largest perturbation %.6f\n", (double)s.eps,
           moved, N, worst);
    TU_CHECK(moved > 0, "FAB-T L2 finds adversarials within eps (%d)", moved);
    TU_CHECK(outside == 0 && worst <= s.eps * (1 + 1e-6), "in the L2 ball (%g), %d outside [0, 1]",
             worst, outside);
    TU_CHECK(memcmp(a, again, sizeof a) == 0, "same seed, same bits");
    TU_CHECK(memcmp(a, split, sizeof a) == 0, "batches of 10 give the same bits");
    cnn_teardown(&f);
    cnn_teardown(&g);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* OpenBLAS's kernels as foil picks them (same bits per batch) */
    printf("projection and update\n");
    test_projection();
    printf("linear model\n");
    test_linear();
    printf("small CNN\n");
    test_cnn();
    return tu_finish("test_fab_l2");
}
