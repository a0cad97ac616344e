/* The feature methods (LIME, KernelSHAP, ablation) and the segmentations,
 * on the CPU backend, against exact answers:
 *   - on a linear model, KernelSHAP (sampled and fully enumerated) and
 *     ablation equal sum over a feature's pixels of w * (x - baseline), with
 *     a black and with the per-segment-mean baseline (KernelSHAP also with a
 *     constant 0.3);
 *   - on a small CNN with 8 features, KernelSHAP with a budget of 2^8 - 2
 *     equals the Shapley values computed by brute force over all 256
 *     coalitions;
 *   - LIME's regression equals a direct solve of its normal equations in
 *     double; LIME on a linear model fits it with R^2 near 1;
 *   - the same seed gives the same bits, another seed other masks, and the
 *     batch an image is in does not change its weights;
 *   - occlusion equals its definition recomputed on a linear model (1x1
 *     windows: w * x), windows cut by the border included;
 *   - GradientSHAP on a linear model equals the mean of w * (x - b) over
 *     its draws (one black baseline: w * x), whatever the chunk;
 *   - faithfulness on a linear model: IG's deletion / insertion curves beat
 *     a random ranking's, saliency's infidelity is 0 and IG's is not;
 *     saliency's max-sensitivity is 0 and IG's (w * x from black) equals
 *     max over the documented draws d of ||w * d|| / ||w * x||;
 *   - grid, SLIC and quickshift segment maps are numbered in order of first
 *     pixel; bad inputs fail with the key named. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "explain_util.h"
#include "foil/features.h"

static foil_explain_spec fspec(foil_explain_method m, int size, int samples) {
    foil_explain_spec s = exspec(m);
    s.features = foil_features_default(FOIL_FEATURES_GRID);
    s.features.size = size;
    s.samples = samples;
    s.kernel_width = 0.25f;
    return s;
}

/* Runs spec s on the first n images of t; fw receives (n, stride) weights. */
static int run(exnet *t, const foil_explain_spec *s, int n, float *attr, foil_explain_stats *st,
               const int32_t **seg, const float **fw, int *stride, foil_err *err) {
    int32_t tgt[16];
    for (int i = 0; i < n; i++) tgt[i] = i % t->m.def.classes;
    if (foil_explain_batch(t->w, s, attr, t->x, tgt, NULL, n, st, err)) return -1;
    foil_explain_feature_outputs(t->w, seg, fw, stride);
    return 0;
}

/* sum over feature j's pixels of w[target] * (x - base), per image and feature */
static double linear_share(exnet *t, int i, int target, const int32_t *seg, int j,
                           const float *base) {
    const size_t row = t->m.in_size;
    const float *wd = t->net.params + t->m.layers[1].w_off; /* (classes, row) */
    double s = 0.0;
    for (size_t p = 0; p < row; p++)
        if (seg[p] == j) s += (double)wd[(size_t)target * row + p] * (t->x[i * row + p] - base[p]);
    return s;
}

static void test_linear(void) {
    exnet t;
    exnet_linear(&t, 8, 8, 3, 3, 64);
    const size_t row = t.m.in_size;
    float attr[3 * 64], zero[64] = {0}, mean[64];
    foil_explain_stats st[3];
    const int32_t *seg;
    const float *fw;
    int stride;
    foil_err err;
    struct {
        foil_explain_method m;
        int samples;
        foil_baseline_kind base;
        const char *what;
    } cases[] = {{FOIL_EXPLAIN_KERNELSHAP, 0, FOIL_BASELINE_BLACK, "kernelshap sampled"},
                 {FOIL_EXPLAIN_KERNELSHAP, 65534, FOIL_BASELINE_BLACK, "kernelshap enumerated"},
                 {FOIL_EXPLAIN_ABLATION, 0, FOIL_BASELINE_BLACK, "ablation"},
                 {FOIL_EXPLAIN_KERNELSHAP, 0, FOIL_BASELINE_MEAN, "kernelshap, mean fill"},
                 {FOIL_EXPLAIN_ABLATION, 0, FOIL_BASELINE_MEAN, "ablation, mean fill"},
                 {FOIL_EXPLAIN_KERNELSHAP, 65534, FOIL_BASELINE_CONSTANT, "kernelshap, 0.3 fill"}};
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        foil_explain_spec s = fspec(cases[k].m, 2, cases[k].samples); /* 16 features */
        s.baseline = cases[k].base;
        s.baseline_value = 0.3f;
        TU_CHECK(run(&t, &s, 3, attr, st, &seg, &fw, &stride, &err) == 0, "%s: %s",
                 cases[k].what, err.msg);
        double worst = 0.0, scale = 0.0, map = 0.0;
        for (int i = 0; i < 3; i++) {
            const int32_t *si = seg + (size_t)i * stride;
            for (size_t p = 0; p < row && cases[k].base == FOIL_BASELINE_MEAN; p++) {
                double sum = 0.0;
                int cnt = 0;
                for (size_t q = 0; q < row; q++)
                    if (si[q] == si[p]) sum += t.x[i * row + q], cnt++;
                mean[p] = (float)(sum / cnt);
            }
            for (size_t p = 0; p < row && cases[k].base == FOIL_BASELINE_CONSTANT; p++)
                mean[p] = 0.3f;
            const float *base = cases[k].base == FOIL_BASELINE_MEAN ||
                                        cases[k].base == FOIL_BASELINE_CONSTANT
                                    ? mean
                                    : zero;
            TU_CHECK(st[i].features == 16, "%s: %d features, 16 expected", cases[k].what,
                     st[i].features);
            for (int j = 0; j < 16; j++) {
                double want = linear_share(&t, i, i % 3, si, j, base);
                worst = fmax(worst, fabs(fw[(size_t)i * stride + j] - want));
                scale = fmax(scale, fabs(want));
            }
            for (size_t p = 0; p < row; p++)
                map = fmax(map, fabs(attr[i * row + p] - fw[(size_t)i * stride + si[p]]));
        }
        printf("  %-24s max |phi - w (x - b)| %.2e (scale %.2e), pixel map %.1e\n",
               cases[k].what, worst, scale, map);
        TU_CHECK(worst <= 1e-4 * scale && map == 0.0, "%s: weights off by %.3e (scale %.3e), "
                 "map by %.3e", cases[k].what, worst, scale, map);
        if (cases[k].m == FOIL_EXPLAIN_KERNELSHAP)
            for (int i = 0; i < 3; i++)
                TU_CHECK(fabsf(st[i].delta) <= 1e-4f * fmaxf(1.0f, fabsf(st[i].f_x)),
                         "%s: completeness delta %g", cases[k].what, (double)st[i].delta);
    }
    /* LIME's ridge shrinks, but a linear F is fitted almost perfectly */
    foil_explain_spec s = fspec(FOIL_EXPLAIN_LIME, 2, 1000);
    s.baseline = FOIL_BASELINE_BLACK;
    TU_CHECK(run(&t, &s, 3, attr, st, &seg, &fw, &stride, &err) == 0, "lime: %s", err.msg);
    for (int i = 0; i < 3; i++)
        TU_CHECK(st[i].r2 > 0.99f && st[i].steps == 1000, "lime on a linear model: R^2 %g",
                 (double)st[i].r2);
    exnet_free(&t);
}

/* Occlusion on a linear model against its definition, recomputed here: each
 * pixel the mean over the windows covering it of sum over the window of
 * w * x (black baseline); 1x1 windows give w * x itself. */
static void test_occlusion(void) {
    exnet t;
    exnet_linear(&t, 9, 9, 3, 2, 64);
    const int side = 9, row = side * side;
    const float *wd = t.net.params + t.m.layers[1].w_off;
    float attr[2 * 81];
    foil_explain_stats st[2];
    const int32_t *seg;
    const float *fw;
    int stride;
    foil_err err;
    const int cases[][2] = {{1, 1}, {3, 2}, {4, 4}, {2, 1}}; /* 4/4 over 9: the last cut */
    for (int k = 0; k < 4; k++) {
        foil_explain_spec s = fspec(FOIL_EXPLAIN_OCCLUSION, 4, 0);
        s.window = cases[k][0], s.stride = cases[k][1];
        TU_CHECK(run(&t, &s, 2, attr, st, &seg, &fw, &stride, &err) == 0, "%s", err.msg);
        const int n = (side - s.window + s.stride - 1) / s.stride + 1;
        double worst = 0.0, scale = 0.0;
        for (int i = 0; i < 2; i++)
            for (int p = 0; p < row; p++) {
                double sum = 0.0;
                int cover = 0;
                for (int wy = 0; wy < n; wy++)
                    for (int wx = 0; wx < n; wx++) {
                        int y0 = wy * s.stride, x0 = wx * s.stride, y = p / side, x = p % side;
                        if (y < y0 || y >= y0 + s.window || x < x0 || x >= x0 + s.window) continue;
                        double d = 0.0;
                        for (int q = 0; q < row; q++) {
                            int qy = q / side, qx = q % side;
                            if (qy >= y0 && qy < y0 + s.window && qx >= x0 && qx < x0 + s.window)
                                d += (double)wd[(i % 3) * row + q] * t.x[i * row + q];
                        }
                        sum += d, cover++;
                    }
                worst = fmax(worst, fabs(attr[i * row + p] - sum / cover));
                scale = fmax(scale, fabs(sum / cover));
            }
        printf("  occlusion window %d stride %d: %d x %d windows, max diff %.2e (scale %.2e)\n",
               s.window, s.stride, n, n, worst, scale);
        TU_CHECK(worst <= 1e-5 * scale && st[0].steps == n * n, "occlusion %d/%d: off by %.3e",
                 s.window, s.stride, worst);
    }
    foil_explain_spec s = fspec(FOIL_EXPLAIN_OCCLUSION, 4, 0);
    s.window = 10, s.stride = 1;
    TU_CHECK(run(&t, &s, 2, attr, st, &seg, &fw, &stride, &err) == -1 &&
                 strstr(err.msg, "explain.window"), "a window past the image: '%s'", err.msg);
    s.window = 3, s.stride = 4;
    TU_CHECK(run(&t, &s, 2, attr, st, &seg, &fw, &stride, &err) == -1 &&
                 strstr(err.msg, "explain.stride"), "a stride past the window: '%s'", err.msg);
    exnet_free(&t);
}

/* Faithfulness on a linear model (logit), where the answers are known:
 * deleting pixels in the order of w * x (IG's attributions from black) gives
 * the smallest deletion AUC of any order, so IG beats a random ranking, and
 * its insertion AUC is higher; saliency's attributions are the gradient w,
 * so I . w = F(x) - F(x - I) and its infidelity is 0 up to rounding, IG's
 * is not. Saliency does not change under a perturbation d (sensitivity 0);
 * IG from black is w * x, so its relative change is ||w * d|| / ||w * x||. */
static void test_faithfulness(void) {
    exnet t;
    exnet_linear(&t, 28, 28, 3, 3, 64);
    const size_t row = t.m.in_size;
    float *ig = malloc(sizeof(float) * 3 * row), *sal = malloc(sizeof(float) * 3 * row);
    float *rnd = malloc(sizeof(float) * 3 * row);
    foil_explain_stats st[3];
    foil_faithfulness f_ig[3], f_sal[3], f_rnd[3];
    int32_t tgt[3] = {0, 1, 2};
    foil_err err;
    foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
    exrun(&t, &s, ig, t.x, tgt, NULL, 3, st);
    foil_explain_spec sa = exspec(FOIL_EXPLAIN_SALIENCY);
    exrun(&t, &sa, sal, t.x, tgt, NULL, 3, st);
    for (size_t j = 0; j < 3 * row; j++) rnd[j] = foil_rng_uniform(9, 9, j) - 0.5f;
    TU_CHECK(foil_explain_faithfulness(t.w, &s, ig, t.x, tgt, NULL, 3, f_ig, &err) == 0 &&
                 foil_explain_faithfulness(t.w, &sa, sal, t.x, tgt, NULL, 3, f_sal, &err) == 0 &&
                 foil_explain_faithfulness(t.w, &s, rnd, t.x, tgt, NULL, 3, f_rnd, &err) == 0,
             "%s", err.msg);
    for (int i = 0; i < 3; i++) {
        printf("  image %d: deletion AUC IG %.4f random %.4f; insertion IG %.4f random %.4f; "
               "infidelity saliency %.2e IG %.2e\n", i, (double)f_ig[i].deletion_auc,
               (double)f_rnd[i].deletion_auc, (double)f_ig[i].insertion_auc,
               (double)f_rnd[i].insertion_auc, (double)f_sal[i].infidelity,
               (double)f_ig[i].infidelity);
        TU_CHECK(f_ig[i].deletion_auc < f_rnd[i].deletion_auc &&
                     f_ig[i].insertion_auc > f_rnd[i].insertion_auc,
                 "image %d: IG's curves are not better than a random ranking's", i);
        TU_CHECK(f_sal[i].infidelity < 1e-9f && f_ig[i].infidelity > 100 * f_sal[i].infidelity,
                 "image %d: infidelity saliency %g, IG %g", i, (double)f_sal[i].infidelity,
                 (double)f_ig[i].infidelity);
        const float *wd = t.net.params + t.m.layers[1].w_off + (size_t)tgt[i] * row;
        double want = 0.0, wx = 0.0;
        for (size_t j = 0; j < row; j++) wx += pow((double)wd[j] * t.x[i * row + j], 2);
        for (int k = 0; k < FOIL_FAITH_SENS_DRAWS; k++) {
            const uint64_t stream = FOIL_STREAM(FOIL_RNG_NOISE, ((uint64_t)(0xFFFFE0 + k) << 32) | (uint64_t)i);
            double q = 0.0;
            for (size_t j = 0; j < row; j++) {
                double d = FOIL_FAITH_RADIUS * (2.0f * foil_rng_uniform(s.seed, stream, j) - 1.0f);
                q += pow(wd[j] * d, 2);
            }
            want = fmax(want, sqrt(q / wx));
        }
        printf("  max-sensitivity saliency %.2e, IG %.6f (want %.6f)\n",
               (double)f_sal[i].sensitivity_max, (double)f_ig[i].sensitivity_max, want);
        TU_CHECK(f_sal[i].sensitivity_max == 0.0f &&
                     fabs(f_ig[i].sensitivity_max - want) <= 1e-4 * want,
                 "image %d: max-sensitivity saliency %g, IG %g (want %g)", i,
                 (double)f_sal[i].sensitivity_max, (double)f_ig[i].sensitivity_max, want);
    }
    free(ig), free(sal), free(rnd);
    exnet_free(&t);
}

/* GradientSHAP on a linear model: the gradient is w everywhere, so the
 * attribution is the mean over the draws of w * (x - b); with one black
 * background image that is w * x, with three the draws' baselines (from the
 * documented Philox counters) give it. Chunks of 3 draws give the same. */
static void test_gradshap(void) {
    exnet t;
    exnet_linear(&t, 8, 8, 3, 2, 64);
    const size_t row = t.m.in_size;
    const float *wd = t.net.params + t.m.layers[1].w_off;
    float attr[2 * 64], again[2 * 64], bg[3 * 64] = {0};
    foil_explain_stats st[2];
    int32_t tgt[2] = {1, 2};
    for (size_t j = 64; j < 3 * 64; j++) bg[j] = foil_rng_uniform(4, 4, j);
    for (int nb = 1; nb <= 3; nb += 2) {
        foil_explain_spec s = exspec(FOIL_EXPLAIN_GRADSHAP);
        s.samples = 16, s.background = bg, s.nbackground = nb;
        exrun(&t, &s, attr, t.x, tgt, NULL, 2, st);
        double worst = 0.0, scale = 0.0;
        for (int i = 0; i < 2; i++) {
            const uint64_t stream = FOIL_STREAM(FOIL_RNG_FEATURES, (2ull << 40) | (uint64_t)i);
            for (size_t p = 0; p < row; p++) {
                double want = 0.0;
                for (uint64_t k = 0; k < 16; k++) {
                    int j = (int)(foil_rng_u32(s.seed, stream, 2 * k) % (uint32_t)nb);
                    want += wd[tgt[i] * row + p] * ((double)t.x[i * row + p] - bg[j * row + p]);
                }
                want /= 16;
                worst = fmax(worst, fabs(attr[i * row + p] - want));
                scale = fmax(scale, fabs(want));
            }
        }
        s.chunk = 3;
        exrun(&t, &s, again, t.x, tgt, NULL, 2, st);
        double scale2, d = max_abs_diff(attr, again, 2 * row, &scale2);
        printf("  gradshap, %d background image%s: max diff %.2e (scale %.2e); chunks of 3: "
               "%.1e\n", nb, nb > 1 ? "s" : "", worst, scale, d);
        TU_CHECK(worst <= 1e-5 * scale && d <= 1e-6 * scale2 && st[0].steps == 16,
                 "gradshap (%d background): off by %.3e, chunks by %.3e", nb, worst, d);
    }
    foil_explain_spec s = exspec(FOIL_EXPLAIN_GRADSHAP);
    s.samples = 16;
    foil_err err;
    TU_CHECK(foil_explain_spec_check(&s, &err) == -1 && strstr(err.msg, "background"),
             "an empty background: '%s'", err.msg);
    exnet_free(&t);
}

/* Brute-force Shapley values of the 8 grid features of image i. */
static void brute_force(exnet *t, int i, int target, const int32_t *seg, double *phi) {
    const size_t row = t->m.in_size;
    float *xm = malloc(sizeof(float) * row);
    double f[256], fact[9] = {1};
    for (int k = 1; k <= 8; k++) fact[k] = fact[k - 1] * k;
    int32_t tgt = target;
    for (int mask = 0; mask < 256; mask++) {
        for (size_t p = 0; p < row; p++) xm[p] = (mask >> seg[p]) & 1 ? t->x[i * row + p] : 0.0f;
        f[mask] = exnet_f(t, FOIL_TARGET_LOGIT, xm, &tgt, 1);
    }
    for (int j = 0; j < 8; j++) {
        phi[j] = 0.0;
        for (int mask = 0; mask < 256; mask++) {
            if (mask >> j & 1) continue;
            int sz = __builtin_popcount((unsigned)mask);
            phi[j] += fact[sz] * fact[8 - sz - 1] / fact[8] * (f[mask | 1 << j] - f[mask]);
        }
    }
    free(xm);
}

static void test_exact_shapley(void) {
    exnet t;
    exnet_cnn(&t, 1, 16, 8, 4, 2, 64);
    float attr[2 * 128];
    foil_explain_stats st[2];
    const int32_t *seg;
    const float *fw;
    int stride;
    foil_err err;
    foil_explain_spec s = fspec(FOIL_EXPLAIN_KERNELSHAP, 4, 254); /* 4 x 2 patches */
    TU_CHECK(run(&t, &s, 2, attr, st, &seg, &fw, &stride, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        double phi[8], worst = 0.0, scale = 0.0;
        brute_force(&t, i, i % 4, seg + (size_t)i * stride, phi);
        for (int j = 0; j < 8; j++) {
            worst = fmax(worst, fabs(fw[(size_t)i * stride + j] - phi[j]));
            scale = fmax(scale, fabs(phi[j]));
        }
        printf("  image %d: KernelSHAP (254 coalitions) vs brute-force Shapley: max diff %.2e "
               "(scale %.2e), %d evaluations\n", i, worst, scale, st[i].steps);
        TU_CHECK(st[i].features == 8 && st[i].steps == 254, "%d features, %d steps",
                 st[i].features, st[i].steps);
        TU_CHECK(worst <= 1e-4 * fmax(scale, 1e-3), "image %d: off by %.3e (scale %.3e)", i,
                 worst, scale);
    }
    exnet_free(&t);
}

/* LIME's ridge against its normal equations, [1 X]^T W [1 X] b = [1 X]^T W y
 * with alpha added to all but the intercept, by Gaussian elimination. */
static void test_ridge(void) {
    enum { S = 200, F = 7 };
    uint8_t m[S * 9];
    float y[S];
    double wt[S], coef[F], b0, r2, a[F + 1][F + 2];
    for (int r = 0; r < S; r++) {
        for (int j = 0; j < 9; j++) m[r * 9 + j] = foil_rng_u32(3, 1, (uint64_t)(r * 9 + j)) & 1;
        y[r] = (float)(2.0 * foil_rng_uniform(3, 2, (uint64_t)r) - 1.0 + 0.5 * m[r * 9 + 2]);
        wt[r] = 0.1 + foil_rng_uniform(3, 3, (uint64_t)r);
    }
    foil_err err;
    TU_CHECK(foil_lime_ridge(m, S, 9, F, y, wt, 1.0, coef, &b0, &r2, &err) == 0, "%s", err.msg);
    memset(a, 0, sizeof a);
    for (int r = 0; r < S; r++) {
        double z[F + 1] = {1.0};
        for (int j = 0; j < F; j++) z[j + 1] = m[r * 9 + j];
        for (int u = 0; u <= F; u++) {
            for (int v = 0; v <= F; v++) a[u][v] += wt[r] * z[u] * z[v];
            a[u][F + 1] += wt[r] * z[u] * y[r];
        }
    }
    for (int u = 1; u <= F; u++) a[u][u] += 1.0;
    for (int c = 0; c <= F; c++) /* elimination with partial pivoting */
        for (int r = c + 1; r <= F; r++) {
            double q = a[r][c] / a[c][c];
            for (int v = c; v <= F + 1; v++) a[r][v] -= q * a[c][v];
        }
    double sol[F + 1];
    for (int u = F; u >= 0; u--) {
        double s = a[u][F + 1];
        for (int v = u + 1; v <= F; v++) s -= a[u][v] * sol[v];
        sol[u] = s / a[u][u];
    }
    double worst = fabs(b0 - sol[0]);
    for (int j = 0; j < F; j++) worst = fmax(worst, fabs(coef[j] - sol[j + 1]));
    printf("  LIME ridge vs normal equations: max diff %.2e, R^2 %.3f\n", worst, r2);
    TU_CHECK(worst < 1e-10, "ridge off by %.3e", worst);
    TU_CHECK(r2 > 0.0 && r2 < 1.0, "R^2 %g", r2);
}

/* Same seed: same bits; another seed: other LIME weights; batches of 2 give
 * the weights of one batch of 6 (to rounding: other forward batch sizes). */
static void test_determinism(void) {
    foil_explain_method methods[2] = {FOIL_EXPLAIN_LIME, FOIL_EXPLAIN_KERNELSHAP};
    for (int k = 0; k < 2; k++) {
        exnet t;
        exnet_cnn(&t, 1, 16, 16, 4, 6, 96);
        foil_explain_spec s = fspec(methods[k], 4, k ? 0 : 300);
        s.chunk = 16;
        float *attr = malloc(sizeof(float) * 6 * 256), *w1 = malloc(sizeof(float) * 6 * 256);
        float *w2 = malloc(sizeof(float) * 6 * 256);
        foil_explain_stats st[6];
        const int32_t *seg;
        const float *fw;
        int stride;
        foil_err err;
        TU_CHECK(run(&t, &s, 6, attr, st, &seg, &fw, &stride, &err) == 0, "%s", err.msg);
        const int nf = 16; /* 4 x 4 patches of 16 x 16 */
        for (int i = 0; i < 6; i++) memcpy(w1 + i * nf, fw + (size_t)i * stride, sizeof(float) * nf);
        TU_CHECK(run(&t, &s, 6, attr, st, &seg, &fw, &stride, &err) == 0, "%s", err.msg);
        int same = st[0].features == nf;
        for (int i = 0; i < 6; i++)
            same &= !memcmp(w1 + i * nf, fw + (size_t)i * stride, sizeof(float) * nf);
        TU_CHECK(same, "%s: same seed, other bits", foil_explain_method_name(s.method));
        for (int b0 = 0; b0 < 6; b0 += 2) {
            int32_t tgt[2] = {b0 % 4, (b0 + 1) % 4};
            int64_t idx[2] = {b0, b0 + 1};
            TU_CHECK(foil_explain_batch(t.w, &s, attr, t.x + (size_t)b0 * t.m.in_size, tgt, idx,
                                        2, st, &err) == 0, "%s", err.msg);
            foil_explain_feature_outputs(t.w, &seg, &fw, &stride);
            for (int i = 0; i < 2; i++)
                memcpy(w2 + (b0 + i) * nf, fw + (size_t)i * stride, sizeof(float) * nf);
        }
        double scale, d = max_abs_diff(w1, w2, 6 * nf, &scale);
        printf("  %-10s one batch of 6 vs three of 2: max diff %.2e (scale %.2e)\n",
               foil_explain_method_name(s.method), d, scale);
        TU_CHECK(d <= 1e-5 * scale, "%s: the batch changes the weights by %.3e",
                 foil_explain_method_name(s.method), d);
        s.seed = 8;
        TU_CHECK(run(&t, &s, 6, attr, st, &seg, &fw, &stride, &err) == 0, "%s", err.msg);
        TU_CHECK(memcmp(w1, fw, sizeof(float) * nf) != 0, "%s: another seed, same weights",
                 foil_explain_method_name(s.method));
        free(attr), free(w1), free(w2);
        exnet_free(&t);
    }
}

static void check_numbering(const char *what, const int32_t *seg, size_t n, int nseg) {
    int next = 0, bad = 0;
    for (size_t p = 0; p < n; p++) {
        if (seg[p] < 0 || seg[p] > next) bad++;
        if (seg[p] == next) next++;
    }
    printf("  %-10s %d segments\n", what, nseg);
    TU_CHECK(bad == 0 && next == nseg && nseg >= 2, "%s: %d labels out of order, %d of %d seen",
             what, bad, next, nseg);
}

static void test_segmentations(void) {
    enum { H = 28, W = 28 };
    float img[3 * H * W];
    int32_t seg[H * W], again[H * W];
    int nseg, n2;
    foil_err err;
    for (int p = 0; p < 3 * H * W; p++) { /* three bright blobs on noise */
        int y = (p % (H * W)) / W, x = p % W;
        int blob = (y > 3 && y < 12 && x > 3 && x < 12) || (y > 15 && x > 14 && x < 25) ||
                   (y > 18 && x < 8);
        img[p] = blob ? 0.9f : 0.1f * foil_rng_uniform(5, 1, (uint64_t)p);
    }
    foil_features_kind kinds[3] = {FOIL_FEATURES_GRID, FOIL_FEATURES_SLIC,
                                   FOIL_FEATURES_QUICKSHIFT};
    for (int k = 0; k < 3; k++)
        for (int c = 1; c <= 3; c += 2) {
            foil_features_spec s = foil_features_default(kinds[k]);
            if (kinds[k] == FOIL_FEATURES_QUICKSHIFT) s.max_dist = 10.0f;
            TU_CHECK(foil_segment(&s, img, c, H, W, seg, &nseg, &err) == 0 &&
                         foil_segment(&s, img, c, H, W, again, &n2, &err) == 0,
                     "%s: %s", foil_features_name(kinds[k]), err.msg);
            check_numbering(foil_features_name(kinds[k]), seg, H * W, nseg);
            TU_CHECK(n2 == nseg && !memcmp(seg, again, sizeof seg), "%s: not deterministic",
                     foil_features_name(kinds[k]));
            if (kinds[k] == FOIL_FEATURES_GRID) TU_CHECK(nseg == 49, "grid 4: %d", nseg);
        }
    foil_features_spec bad = foil_features_default(FOIL_FEATURES_GRID);
    bad.size = 0;
    TU_CHECK(foil_segment(&bad, img, 1, H, W, seg, &nseg, &err) == -1 &&
                 strstr(err.msg, "explain.features.size"), "grid size 0: '%s'", err.msg);
}

static void test_bad_input(void) {
    exnet t;
    exnet_cnn(&t, 1, 8, 8, 4, 2, 64);
    float attr[2 * 64];
    foil_explain_stats st[2];
    const int32_t *seg;
    const float *fw;
    int stride;
    foil_err err;
    foil_explain_spec s = fspec(FOIL_EXPLAIN_LIME, 2, 10); /* 16 features, 10 samples */
    TU_CHECK(run(&t, &s, 2, attr, st, &seg, &fw, &stride, &err) == -1 &&
                 strstr(err.msg, "explain.samples"), "budget below the features: '%s'", err.msg);
    s = fspec(FOIL_EXPLAIN_KERNELSHAP, 8, 0); /* one 8x8 patch */
    TU_CHECK(run(&t, &s, 2, attr, st, &seg, &fw, &stride, &err) == -1 &&
                 strstr(err.msg, "explain.features") && strstr(err.msg, "1 segment"),
             "one segment: '%s'", err.msg);
    s = fspec(FOIL_EXPLAIN_IG, 2, 0);
    s.baseline = FOIL_BASELINE_MEAN;
    TU_CHECK(foil_explain_spec_check(&s, &err) == -1 && strstr(err.msg, "baseline"),
             "mean baseline for IG: '%s'", err.msg);
    exnet_free(&t);
}

int main(void) {
    printf("linear model\n");
    test_linear();
    printf("occlusion\n");
    test_occlusion();
    printf("gradshap\n");
    test_gradshap();
    printf("faithfulness\n");
    test_faithfulness();
    printf("exact Shapley values\n");
    test_exact_shapley();
    printf("LIME's regression\n");
    test_ridge();
    printf("determinism\n");
    test_determinism();
    printf("segmentations\n");
    test_segmentations();
    test_bad_input();
    return tu_finish("test_explain_features");
}
