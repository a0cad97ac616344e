/* Explanations on the CPU backend, part 1: the explain ops against direct
 * formulas and finite differences (also through a CNN, for both target
 * modes), the quadrature rules, IG on a linear model (exact for every rule
 * and baseline), saliency and gradient x input against the network's input
 * gradient, baselines and spec errors. Part 2 is test_explain_ig.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_util.h"
#include "foil/data.h"

/* ---- ops ---------------------------------------------------------------- */

static void test_target_output(foil_backend *b) {
    enum { N = 3, C = 5 };
    float z[N * C], v[N], d[N * C];
    int32_t t[N] = {0, 3, 4};
    for (int i = 0; i < N * C; i++) z[i] = 4.0f * foil_rng_uniform(1, 2, (uint64_t)i) - 2.0f;
    z[C + 1] = 1000.0f; /* a huge logit must not overflow the softmax */
    TU_CHECK(b->target_output(b, v, d, z, t, N, C, FOIL_TARGET_LOGIT) == 0, "%s", b->err.msg);
    for (int i = 0; i < N; i++) {
        TU_CHECK(v[i] == z[i * C + t[i]], "logit value of sample %d", i);
        for (int j = 0; j < C; j++)
            TU_CHECK(d[i * C + j] == (j == t[i] ? 1.0f : 0.0f), "logit gradient is one-hot");
    }
    TU_CHECK(b->target_output(b, v, d, z, t, N, C, FOIL_TARGET_PROB) == 0, "%s", b->err.msg);
    TU_CHECK(isfinite(v[1]) && v[1] < 1e-30f, "prob of a class far below the max: %g",
             (double)v[1]);
    double worst = 0.0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < C; j++) { /* central differences of p_t in the logits */
            float keep = z[i * C + j], vp, vm, dd[C];
            z[i * C + j] = keep + 1e-3f;
            b->target_output(b, &vp, dd, z + i * C, t + i, 1, C, FOIL_TARGET_PROB);
            z[i * C + j] = keep - 1e-3f;
            b->target_output(b, &vm, dd, z + i * C, t + i, 1, C, FOIL_TARGET_PROB);
            z[i * C + j] = keep;
            worst = fmax(worst, fabs((vp - vm) / 2e-3 - d[i * C + j]));
        }
    printf("  target_output prob: max |fd - analytic| over the logits %.2e\n", worst);
    TU_CHECK(worst < 2e-3, "prob gradient vs finite differences: %g", worst);
    int32_t bad[1] = {C};
    TU_CHECK(b->target_output(b, v, d, z, bad, 1, C, FOIL_TARGET_LOGIT) != 0 &&
                 strstr(b->err.msg, "target"), "a target past the classes is an error");
}

static void test_path_ops(foil_backend *b) {
    float x[2 * 3] = {1, 2, 3, 4, 5, 6}, base[2 * 3] = {0, 0, 1, 1, 1, 1}, alpha[2] = {0.5f, 1.0f};
    float xs[4 * 3], w[2] = {0.25f, 2.0f}, attr[2 * 3] = {1, 1, 1, 1, 1, 1}, sums[2];
    b->ig_interp(b, xs, x, base, alpha, 2, 2, 3);
    TU_CHECK(xs[0] == 0.5f && xs[2] == 2.0f && xs[3] == 1.0f && xs[6 + 1] == 3.0f &&
                 xs[9 + 2] == 6.0f, "ig_interp lays out path points image-major");
    b->ig_accumulate(b, attr, xs, w, 2, 2, 3);
    TU_CHECK(attr[0] == 1.0f + 0.125f + 2.0f && attr[5] == 1.0f + 0.25f * 3.5f + 12.0f,
             "ig_accumulate adds the weighted path points: %g %g", (double)attr[0],
             (double)attr[5]);
    b->row_sum(b, sums, x, 2, 3);
    TU_CHECK(sums[0] == 6.0f && sums[1] == 15.0f, "row_sum");
    float n1[4 * 5], n2[3 * 5], zero[4 * 5] = {0};
    b->gaussian_noise(b, n1, zero, 0.5f, 9, 2, 4, 4, 5);
    b->gaussian_noise(b, n2, zero, 0.5f, 9, 2, 5, 3, 5);
    TU_CHECK(memcmp(n1 + 5, n2, sizeof n2) == 0, "the noise of a row depends on its index only");
    b->gaussian_noise(b, n2, zero, 0.5f, 9, 3, 5, 3, 5);
    TU_CHECK(memcmp(n1 + 5, n2, sizeof n2) != 0, "another draw gives other noise");
    b->gaussian_noise(b, n2, x, 0.0f, 9, 2, 5, 1, 5);
    TU_CHECK(memcmp(n2, x, 5 * sizeof(float)) == 0, "sigma 0 copies");
}

/* dF/dx from the network against central differences of F, for both modes. */
static void test_input_gradient_fd(void) {
    exnet t;
    exnet_cnn(&t, 1, 6, 6, 4, 2, 2);
    float *x = t.x;
    int32_t tgt[2] = {1, 3};
    for (int mode = 0; mode < 2; mode++) {
        foil_target_mode md = mode ? FOIL_TARGET_PROB : FOIL_TARGET_LOGIT;
        double worst = 0.0, scale = 0.0;
        float dx[2 * 36];
        exnet_grad(&t, md, x, tgt, 2, dx);
        for (int j = 0; j < 2 * 36; j++) {
            float keep = x[j];
            x[j] = keep + 1e-3f;
            double fp = exnet_f(&t, md, x, tgt, 2);
            x[j] = keep - 1e-3f;
            double fm = exnet_f(&t, md, x, tgt, 2);
            x[j] = keep;
            worst = fmax(worst, fabs((fp - fm) / 2e-3 - dx[j]));
            scale = fmax(scale, fabs(dx[j]));
        }
        printf("  input gradient (%s): max |fd - analytic| %.2e (max |grad| %.2e)\n",
               mode ? "prob" : "logit", worst, scale);
        TU_CHECK(worst < 3e-3 + 3e-2 * scale, "%s input gradient vs finite differences: %g",
                 mode ? "prob" : "logit", worst);
    }
    exnet_free(&t);
}

/* ---- quadrature --------------------------------------------------------- */

static void test_quadrature(void) {
    double a[1024], w[1024];
    foil_err err;
    for (int r = 0; r < FOIL_RULE_COUNT; r++) {
        int ms[] = {2, 3, 16, 64, 1024};
        for (int i = 0; i < 5; i++) {
            int m = ms[i], ok = foil_quadrature((foil_quad_rule)r, m, a, w, &err) == 0;
            double s = 0.0, lin = 0.0;
            for (int k = 0; k < m; k++) {
                s += w[k], lin += w[k] * a[k];
                ok &= a[k] >= 0.0 && a[k] <= 1.0 && w[k] > 0.0 && (k == 0 || a[k] > a[k - 1]);
            }
            TU_CHECK(ok && fabs(s - 1.0) < 1e-12, "%s m=%d: nodes ascending in [0,1], weights "
                     "positive summing to 1 (%.17g)", foil_quad_rule_name(r), m, s);
            if (r >= FOIL_RULE_MIDPOINT)
                TU_CHECK(fabs(lin - 0.5) < 1e-12, "%s integrates alpha exactly",
                         foil_quad_rule_name(r));
        }
    }
    for (int m = 1; m <= 40; m++) { /* Gauss-Legendre: exact to degree 2m - 1 */
        foil_quadrature(FOIL_RULE_GAUSS_LEGENDRE, m, a, w, &err);
        double worst = 0.0;
        for (int deg = 0; deg <= 2 * m - 1; deg++) {
            double s = 0.0;
            for (int k = 0; k < m; k++) s += w[k] * pow(a[k], deg);
            worst = fmax(worst, fabs(s - 1.0 / (deg + 1)));
        }
        TU_CHECK(worst < 1e-13, "gauss-legendre m=%d integrates x^0..x^%d: err %g", m,
                 2 * m - 1, worst);
    }
    foil_quadrature(FOIL_RULE_GAUSS_LEGENDRE, 1, a, w, &err);
    TU_CHECK(a[0] == 0.5 && w[0] == 1.0, "one-point Gauss-Legendre is the midpoint");
    foil_quadrature(FOIL_RULE_LEFT, 4, a, w, &err);
    TU_CHECK(a[0] == 0.0 && a[3] == 0.75, "left rule nodes");
    foil_quadrature(FOIL_RULE_RIGHT, 4, a, w, &err);
    TU_CHECK(a[0] == 0.25 && a[3] == 1.0, "right rule nodes");
    foil_quadrature(FOIL_RULE_TRAPEZOID, 5, a, w, &err);
    TU_CHECK(a[4] == 1.0 && w[0] == 0.125 && w[1] == 0.25, "trapezoid nodes and weights");
    TU_CHECK(foil_quadrature(FOIL_RULE_TRAPEZOID, 1, a, w, &err) != 0 && strstr(err.msg, "steps"),
             "trapezoid with one point is an error: %s", err.msg);
    TU_CHECK(foil_quadrature(FOIL_RULE_LEFT, 0, a, w, &err) != 0, "zero steps is an error");
    TU_CHECK(foil_quadrature(FOIL_RULE_GAUSS_LEGENDRE, FOIL_EXPLAIN_MAX_STEPS + 1, a, w, &err) != 0,
             "more than FOIL_EXPLAIN_MAX_STEPS points is an error");
    foil_quad_rule rule;
    TU_CHECK(foil_quad_rule_parse("gauss-legendre", &rule) == 0 &&
                 rule == FOIL_RULE_GAUSS_LEGENDRE && foil_quad_rule_parse("simpson", &rule) != 0,
             "rule names");
}

/* ---- methods on a linear model -------------------------------------------- */

/* F(x) = w[t] . x + b[t]: IG = (x - baseline) * w[t] for every rule, since the
 * gradient is constant along the path and the weights sum to 1. */
static void test_linear_ig(void) {
    enum { N = 3, H = 8, W = 8, C = 5, P = H * W };
    exnet t;
    exnet_linear(&t, H, W, C, N, N * 7);
    const float *wd = t.net.params + t.m.layers[1].w_off; /* (C, P) */
    int32_t tgt[N] = {0, 2, 4};
    float attr[N * P], base[N * P];
    foil_explain_stats st[N];
    double worst = 0.0, worst_rel = 0.0;
    foil_err err;
    for (int bl = 0; bl < FOIL_BASELINE_IMAGE; bl++)
        for (int r = 0; r < FOIL_RULE_COUNT && bl != FOIL_BASELINE_MEAN; r++) {
            foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
            s.rule = (foil_quad_rule)r, s.baseline = (foil_baseline_kind)bl, s.steps = 7;
            s.chunk = 3;
            exrun(&t, &s, attr, t.x, tgt, NULL, N, st);
            foil_explain_baseline(t.w, &s, base, t.x, NULL, N, &err);
            for (int i = 0; i < N; i++) {
                for (int j = 0; j < P; j++) {
                    double want = ((double)t.x[i * P + j] - base[i * P + j]) * wd[tgt[i] * P + j];
                    worst = fmax(worst, fabs(attr[i * P + j] - want));
                }
                worst_rel = fmax(worst_rel, fabs(st[i].rel_delta));
            }
        }
    printf("  linear IG, 5 rules x 4 baselines: max |attr - (x - b) w| %.2e, max |rel delta| %.2e\n",
           worst, worst_rel);
    TU_CHECK(worst < 1e-5, "IG on a linear model is exact for every rule: %g", worst);
    TU_CHECK(worst_rel < 1e-4, "and complete: %g", worst_rel);

    /* saliency is w[t]; gradient x input is (x - 0) * w[t] */
    foil_explain_spec s = exspec(FOIL_EXPLAIN_SALIENCY);
    exrun(&t, &s, attr, t.x, tgt, NULL, N, st);
    TU_CHECK(memcmp(attr, wd + tgt[0] * P, sizeof(float) * P) == 0 && isnan(st[0].rel_delta) &&
                 st[0].steps == 1, "saliency of a linear model is its weight row");
    s.method = FOIL_EXPLAIN_GRAD_X_INPUT;
    exrun(&t, &s, attr, t.x, tgt, NULL, N, st);
    int same = 1;
    for (int j = 0; j < P; j++) same &= attr[2 * P + j] == t.x[2 * P + j] * wd[tgt[2] * P + j];
    TU_CHECK(same && fabsf(st[2].rel_delta) < 1e-4f, "gradient x input of a linear model: "
             "rel delta %g", (double)st[2].rel_delta);
    exnet_free(&t);
}

/* Saliency is net->dx of the target output; gradient x input is that times
 * (x - baseline); F(x) and F(baseline) are the network's. */
static void test_gradient_methods(void) {
    enum { N = 4, P = 100 };
    exnet t;
    exnet_cnn(&t, 1, 10, 10, 6, N, N);
    int32_t tgt[N] = {5, 0, 2, 2};
    float attr[N * P], dx[N * P];
    foil_explain_stats st[N];
    for (int mode = 0; mode < 2; mode++) {
        foil_explain_spec s = exspec(FOIL_EXPLAIN_SALIENCY);
        s.output = mode ? FOIL_TARGET_PROB : FOIL_TARGET_LOGIT;
        exrun(&t, &s, attr, t.x, tgt, NULL, N, st);
        exnet_grad(&t, s.output, t.x, tgt, N, dx);
        TU_CHECK(memcmp(attr, dx, sizeof attr) == 0, "saliency (%s) equals net->dx",
                 mode ? "prob" : "logit");
        double f = 0.0;
        for (int i = 0; i < N; i++) f += st[i].f_x;
        TU_CHECK(fabs(f - exnet_f(&t, s.output, t.x, tgt, N)) < 1e-5 * fmax(1.0, fabs(f)),
                 "f_x is F(x)");
        s.method = FOIL_EXPLAIN_GRAD_X_INPUT, s.baseline = FOIL_BASELINE_WHITE;
        exrun(&t, &s, attr, t.x, tgt, NULL, N, st);
        int same = 1;
        for (int j = 0; j < N * P; j++) same &= attr[j] == dx[j] * (t.x[j] - 1.0f);
        TU_CHECK(same, "gradient x input = dx * (x - baseline)");
        float white[N * P];
        for (int j = 0; j < N * P; j++) white[j] = 1.0f;
        double fb = 0.0;
        for (int i = 0; i < N; i++) fb += st[i].f_baseline;
        TU_CHECK(fabs(fb - exnet_f(&t, s.output, white, tgt, N)) < 1e-5 * fmax(1.0, fabs(fb)),
                 "f_baseline is F(white)");
    }
    exnet_free(&t);
}

/* ---- baselines and errors ------------------------------------------------- */

static void test_baselines(void) {
    enum { C = 2, H = 9, W = 7, P = C * H * W };
    float img[P], out[P];
    foil_err err;
    for (int j = 0; j < P; j++) img[j] = 0.3f;
    foil_blur(out, img, C, H, W, 1.5f, &err);
    double worst = max_abs_diff(out, img, P, NULL);
    TU_CHECK(worst < 1e-6, "blur keeps a constant image constant (%g)", worst);
    memset(img, 0, sizeof img);
    img[4 * W + 3] = 1.0f; /* a point in the middle of channel 0 */
    foil_blur(out, img, C, H, W, 1.0f, &err);
    double mass = 0.0, mass1 = 0.0;
    for (int j = 0; j < H * W; j++) mass += out[j], mass1 += out[H * W + j];
    TU_CHECK(fabs(mass - 1.0) < 0.05 && mass1 == 0.0 && out[4 * W + 3] < 0.2f &&
                 fabsf(out[3 * W + 3] - out[5 * W + 3]) < 1e-6f && out[3 * W + 3] > 0.05f,
             "blur spreads a point symmetrically within its channel (mass %g)", mass);
    foil_blur(out, img, C, H, W, 0.0f, &err);
    TU_CHECK(memcmp(out, img, sizeof img) == 0, "sigma 0 copies");

    /* baseline files: raw float32 and IDX */
    char path[1024];
    float vals[4] = {0.0f, 0.25f, 0.5f, 1.0f}, *loaded;
    tu_write_file(path, sizeof path, "base.f32", vals, sizeof vals);
    TU_CHECK(foil_baseline_load(path, 4, &loaded, &err) == 0 && memcmp(loaded, vals, 16) == 0,
             "raw float32 baseline: %s", err.msg);
    free(loaded);
    TU_CHECK(foil_baseline_load(path, 5, &loaded, &err) != 0 && strstr(err.msg, "base.f32"),
             "a raw baseline of the wrong size is an error: %s", err.msg);
    float nan4[4] = {0.0f, NAN, 0.0f, 0.0f};
    tu_write_file(path, sizeof path, "nan.f32", nan4, sizeof nan4);
    TU_CHECK(foil_baseline_load(path, 4, &loaded, &err) != 0 && strstr(err.msg, "finite"),
             "a non-finite baseline is an error: %s", err.msg);
    tu_path(path, sizeof path, "base-idx3-ubyte");
    TU_CHECK(foil_idx_write_images(path, vals, 1, 2, 2, &err) == 0, "%s", err.msg);
    TU_CHECK(foil_baseline_load(path, 4, &loaded, &err) == 0 && loaded[3] == 1.0f &&
                 loaded[1] == 64.0f / 255.0f, "IDX baseline: %s", err.msg);
    free(loaded);
    TU_CHECK(foil_baseline_load(path, 9, &loaded, &err) != 0 && strstr(err.msg, "2x2"),
             "an IDX baseline of the wrong size is an error: %s", err.msg);

    /* the uniform baseline of an image depends on its index, not its batch */
    exnet t;
    exnet_linear(&t, 4, 4, 3, 3, 3);
    foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
    s.baseline = FOIL_BASELINE_UNIFORM;
    float b3[3 * 16], b1[16];
    int64_t idx3[3] = {10, 11, 12}, idx1[1] = {11};
    foil_explain_baseline(t.w, &s, b3, t.x, idx3, 3, &err);
    foil_explain_baseline(t.w, &s, b1, t.x, idx1, 1, &err);
    TU_CHECK(memcmp(b3 + 16, b1, sizeof b1) == 0 && b1[0] >= 0.0f && b1[0] < 1.0f,
             "uniform baseline per image index");
    s.seed = 8;
    foil_explain_baseline(t.w, &s, b1, t.x, idx1, 1, &err);
    TU_CHECK(memcmp(b3 + 16, b1, sizeof b1) != 0, "another seed, another baseline");
    exnet_free(&t);
}

static void test_spec_errors(void) {
    exnet t;
    exnet_linear(&t, 4, 4, 3, 2, 2);
    float attr[32];
    int32_t tgt[2] = {0, 1};
    foil_explain_stats st[2];
    foil_err err;
    struct { const char *what, *word; foil_explain_spec s; } cases[6];
    for (int i = 0; i < 6; i++) cases[i].s = exspec(FOIL_EXPLAIN_IG);
    cases[0].what = "zero steps", cases[0].word = "steps", cases[0].s.steps = 0;
    cases[1].what = "one-point trapezoid", cases[1].word = "trapezoid", cases[1].s.steps = 1;
    cases[1].s.rule = FOIL_RULE_TRAPEZOID;
    cases[2].what = "unknown rule", cases[2].word = "rule", cases[2].s.rule = FOIL_RULE_COUNT;
    cases[3].what = "unknown baseline", cases[3].word = "baseline";
    cases[3].s.baseline = FOIL_BASELINE_COUNT;
    cases[4].what = "image baseline without image", cases[4].word = "baseline";
    cases[4].s.baseline = FOIL_BASELINE_IMAGE;
    cases[5].what = "smoothgrad without samples", cases[5].word = "samples";
    cases[5].s.method = FOIL_EXPLAIN_SMOOTHGRAD;
    for (int i = 0; i < 6; i++) {
        err.msg[0] = 0;
        int rc = foil_explain_batch(t.w, &cases[i].s, attr, t.x, tgt, NULL, 2, st, &err);
        TU_CHECK(rc != 0 && strstr(err.msg, cases[i].word), "%s: %s", cases[i].what, err.msg);
    }
    foil_explain_spec s = exspec(FOIL_EXPLAIN_IG);
    TU_CHECK(foil_explain_batch(t.w, &s, attr, t.x, tgt, NULL, 3, st, &err) != 0,
             "more images than the work holds is an error");
    int32_t bad[2] = {0, 3};
    TU_CHECK(foil_explain_batch(t.w, &s, attr, t.x, bad, NULL, 2, st, &err) != 0 &&
                 strstr(err.msg, "target"), "a target past the classes: %s", err.msg);
    int32_t pred[2], chosen[2];
    TU_CHECK(foil_explain_targets(t.w, FOIL_CLASS_GIVEN, 3, t.x, tgt, 2, pred, chosen, &err) != 0,
             "a given class past the classes is an error");
    TU_CHECK(foil_explain_targets(t.w, FOIL_CLASS_PREDICTED, 0, t.x, tgt, 2, pred, chosen, &err) == 0 &&
                 chosen[0] == pred[0] && chosen[1] == pred[1], "predicted targets");
    exnet_free(&t);
}

/* The method table: every method has a row whose name parses back to it and
 * a run function (a feature method: a perturb function and no run); the properties that the batch loop, configs and the CLI
 * read are those of the published methods; a network's points per image
 * follow the path methods' chunk and the 4096-input cap. */
static void test_method_table(void) {
    for (int m = 0; m < FOIL_EXPLAIN_METHOD_COUNT; m++) {
        const foil_explain_method_info *i = foil_explain_method_info_of((foil_explain_method)m);
        TU_CHECK(i && i->name && (i->perturb ? !i->run && !i->gradients
                                             : i->run && !i->features),
                 "method %d: a row with a name and a run (or perturb) function", m);
        if (!i || !i->name) continue;
        foil_explain_method back;
        TU_CHECK(foil_explain_method_parse(i->name, &back) == 0 && back == (foil_explain_method)m,
                 "%s parses back to its method", i->name);
        TU_CHECK(!i->completeness || i->baseline, "%s: completeness without a baseline", i->name);
        TU_CHECK(!i->path || i->completeness, "%s: a path method that is not complete", i->name);
    }
    TU_CHECK(foil_explain_method_info_of(FOIL_EXPLAIN_METHOD_COUNT) == NULL, "no row past the end");
    foil_explain_method m;
    TU_CHECK(foil_explain_method_parse("lime_typo", &m) == -1, "an unknown method is refused");
    const foil_explain_method_info *ig = foil_explain_method_info_of(FOIL_EXPLAIN_IG),
                                   *sal = foil_explain_method_info_of(FOIL_EXPLAIN_SALIENCY),
                                   *gxi = foil_explain_method_info_of(FOIL_EXPLAIN_GRAD_X_INPUT),
                                   *sg = foil_explain_method_info_of(FOIL_EXPLAIN_SMOOTHGRAD);
    TU_CHECK(ig->path && ig->completeness && !sal->path && !sal->completeness && !sal->baseline &&
                 gxi->completeness && !gxi->path && sg->smoothing && !ig->smoothing,
             "the properties of IG, saliency, gradient x input and SmoothGrad");
    foil_explain_spec s = {.method = FOIL_EXPLAIN_IG, .steps = 64, .chunk = 32};
    TU_CHECK(foil_explain_points_per_image(&s, 8) == 32, "IG: the chunk (%d)",
             foil_explain_points_per_image(&s, 8));
    s.chunk = 0;
    TU_CHECK(foil_explain_points_per_image(&s, 8) == 64, "IG without a chunk: all steps");
    TU_CHECK(foil_explain_points_per_image(&s, 1000) == 4, "IG: at most 4096 inputs (%d)",
             foil_explain_points_per_image(&s, 1000));
    TU_CHECK(foil_explain_points_per_image(&s, 4096) == 1, "IG: at least one point");
    s.method = FOIL_EXPLAIN_SMOOTHGRAD;
    TU_CHECK(foil_explain_points_per_image(&s, 8) == 1, "SmoothGrad: one point per image");
    s.method = FOIL_EXPLAIN_LIME;
    TU_CHECK(foil_explain_points_per_image(&s, 8) == 32 &&
                 foil_explain_points_per_image(&s, 1000) == 4,
             "LIME: 32 perturbed images per image by default, at most 4096 inputs");
}

int main(void) {
    test_method_table();
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    printf("ops\n");
    test_target_output(b);
    test_path_ops(b);
    b->destroy(b);
    test_input_gradient_fd();
    printf("quadrature\n");
    test_quadrature();
    printf("methods\n");
    test_linear_ig();
    test_gradient_methods();
    printf("baselines and errors\n");
    test_baselines();
    test_spec_errors();
    return tu_finish("test_explain");
}
