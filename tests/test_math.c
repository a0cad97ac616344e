/* Philox known-answer vectors, the shared elementwise math (optimizers,
 * dropout) against direct formulas, and a numerically stable softmax
 * cross-entropy. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "foil/backend.h"
#include "foil/elementwise.h"
#include "testutil.h"

static void test_philox_kat(void) {
    /* Random123's kat_vectors for philox4x32_10 */
    struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int k = 0; k < 3; k++) {
        foil_u32x4 c = {{kat[k].ctr[0], kat[k].ctr[1], kat[k].ctr[2], kat[k].ctr[3]}};
        foil_u32x4 r = foil_philox4x32_10(c, kat[k].key[0], kat[k].key[1]);
        for (int i = 0; i < 4; i++)
            TU_CHECK(r.v[i] == kat[k].out[i], "kat %d word %d: %08x != %08x", k, i, r.v[i],
                     kat[k].out[i]);
    }
    /* uniform floats lie in [0, 1) and average 1/2 */
    double sum = 0;
    float lo = 1, hi = 0;
    for (int i = 0; i < 100000; i++) {
        float u = foil_rng_uniform(42, FOIL_STREAM(FOIL_RNG_NOISE, 1), (uint64_t)i);
        sum += u;
        lo = u < lo ? u : lo;
        hi = u > hi ? u : hi;
    }
    TU_CHECK(lo >= 0.0f && hi < 1.0f, "uniform range [%g, %g]", lo, hi);
    TU_CHECK(fabs(sum / 100000 - 0.5) < 0.005, "uniform mean %g", sum / 100000);
    TU_CHECK(foil_rng_u32(1, 2, 3) != foil_rng_u32(2, 2, 3), "seed changes the stream");
    TU_CHECK(foil_rng_u32(1, 2, 3) != foil_rng_u32(1, 3, 3), "stream id changes the stream");
}

static void test_sgd(void) {
    /* two steps by hand: g += wd w; v = m v + g; w -= lr (nesterov ? g + m v : v) */
    float w = 1.0f, v = 0.0f;
    foil_sgd_update(&w, &v, 0.5f, 0.1f, 0.9f, 0.01f, 0);
    TU_CHECK(fabsf(v - 0.51f) < 1e-7f && fabsf(w - 0.949f) < 1e-7f, "sgd step 1: w %g v %g", w, v);
    foil_sgd_update(&w, &v, 0.5f, 0.1f, 0.9f, 0.01f, 0);
    float g2 = 0.5f + 0.01f * 0.949f, v2 = 0.9f * 0.51f + g2;
    TU_CHECK(fabsf(v - v2) < 1e-6f && fabsf(w - (0.949f - 0.1f * v2)) < 1e-6f, "sgd step 2");
    float wn = 1.0f, vn = 0.0f;
    foil_sgd_update(&wn, &vn, 0.5f, 0.1f, 0.9f, 0.0f, 1);
    TU_CHECK(fabsf(wn - (1.0f - 0.1f * (0.5f + 0.9f * 0.5f))) < 1e-7f, "nesterov step: %g", wn);
}

static void test_adam(void) {
    /* against the textbook formulas in double over 5 steps */
    foil_backend *b = foil_backend_cpu_create(NULL);
    float w[2] = {0.5f, -1.0f}, m[2] = {0}, v[2] = {0};
    double wd[2] = {0.5, -1.0}, md[2] = {0}, vd[2] = {0};
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int t = 1; t <= 5; t++) {
        float g[2] = {0.3f * t, -0.2f / t};
        foil_adam_hparams hp = {(float)lr, (float)b1, (float)b2, (float)eps, 0.0f, t};
        TU_CHECK(b->adam_step(b, w, m, v, g, 2, &hp) == 0, "adam_step");
        for (int i = 0; i < 2; i++) {
            md[i] = b1 * md[i] + (1 - b1) * g[i];
            vd[i] = b2 * vd[i] + (1 - b2) * g[i] * g[i];
            double mh = md[i] / (1 - pow(b1, t)), vh = vd[i] / (1 - pow(b2, t));
            wd[i] -= lr * mh / (sqrt(vh) + eps);
        }
    }
    for (int i = 0; i < 2; i++)
        TU_CHECK(fabs(w[i] - wd[i]) < 1e-5, "adam w[%d] %g vs %g", i, w[i], wd[i]);
    b->destroy(b);
}

static void test_dropout(void) {
    foil_backend *b = foil_backend_cpu_create(NULL);
    enum { n = 20000 };
    static float x[n], y[n], mask[n], y2[n], mask2[n];
    for (int i = 0; i < n; i++) x[i] = 1.0f;
    b->dropout_fwd(b, y, mask, x, 0.25f, 3, 17, n);
    b->dropout_fwd(b, y2, mask2, x, 0.25f, 3, 17, n);
    TU_CHECK(memcmp(y, y2, sizeof y) == 0, "same seed and stream give the same mask");
    int kept = 0;
    for (int i = 0; i < n; i++) kept += mask[i] != 0.0f;
    TU_CHECK(fabs(kept / (double)n - 0.75) < 0.02, "kept fraction %g", kept / (double)n);
    TU_CHECK(fabsf(mask[0] - 0.0f) < 1e-9f || fabsf(mask[0] - 1.0f / 0.75f) < 1e-6f, "scale");
    b->dropout_fwd(b, y2, mask2, x, 0.25f, 3, 18, n);
    TU_CHECK(memcmp(y, y2, sizeof y) != 0, "another stream gives another mask");
    b->destroy(b);
}

static void test_softmax_xent(void) {
    foil_backend *b = foil_backend_cpu_create(NULL);
    float logits[2 * 3] = {1000.0f, 0.0f, -1000.0f, 0.1f, 0.2f, 0.3f};
    int32_t labels[2] = {1, 2};
    float loss[2], d[6];
    TU_CHECK(b->softmax_xent(b, loss, d, logits, labels, 2, 3, 0.5f) == 0, "softmax_xent");
    TU_CHECK(isfinite(loss[0]) && fabsf(loss[0] - 1000.0f) < 1e-3f, "huge logits: loss %g",
             loss[0]);
    double lse = log(exp(0.1) + exp(0.2) + exp(0.3));
    TU_CHECK(fabs(loss[1] - (lse - 0.3)) < 1e-6, "loss %g vs %g", loss[1], lse - 0.3);
    double s = 0;
    for (int j = 0; j < 3; j++) s += d[3 + j];
    TU_CHECK(fabs(s) < 1e-6, "gradient rows sum to zero: %g", s);
    TU_CHECK(fabsf(d[0] - 0.5f) < 1e-6f && fabsf(d[1] + 0.5f) < 1e-6f, "scaled gradient");
    labels[0] = 3;
    TU_CHECK(b->softmax_xent(b, loss, d, logits, labels, 2, 3, 1.0f) == -1 &&
                 strstr(b->err.msg, "label 3"), "out-of-range label is an error: %s", b->err.msg);
    b->destroy(b);
}

static void test_kl_row(void) {
    /* TRADES' KL between two nearly equal rows (x_adv ~ x): the KL is ~1e-9,
     * far below float rounding of the logits' shifts; against long double. */
    enum { C = 10 };
    const float zp[C] = {0.5f, -0.3f, 0.1f, -0.7f, 0.2f, 0.45f, -0.05f, 0.3f, -1.1f, 0.0f};
    float zq[C], dp[C], dq[C];
    for (int j = 0; j < C; j++) zq[j] = zp[j] + 1e-4f * (float)((j * 7) % 5 - 2);
    long double lp[C], lq[C], sp = 0, sq = 0, kl = 0;
    for (int j = 0; j < C; j++) sp += expl((long double)zp[j]), sq += expl((long double)zq[j]);
    for (int j = 0; j < C; j++) {
        lp[j] = (long double)zp[j] - logl(sp), lq[j] = (long double)zq[j] - logl(sq);
        kl += expl(lp[j]) * (lp[j] - lq[j]);
    }
    const float got = foil_kl_row(zp, zq, C, dp, dq, 2.0f);
    TU_CHECK(kl > 0 && fabsl(got - kl) < 1e-4L * kl, "KL %.9g vs %.9Lg", got, kl);
    for (int j = 0; j < C; j++) {
        long double p = expl(lp[j]), q = expl(lq[j]);
        long double gq = 2 * (q - p), gp = 2 * p * (lp[j] - lq[j] - kl);
        TU_CHECK(fabsl(dq[j] - gq) < 1e-6L * fabsl(gq) + 1e-12L, "dq[%d] %g vs %Lg", j, dq[j], gq);
        TU_CHECK(fabsl(dp[j] - gp) < 1e-4L * fabsl(gp) + 1e-12L, "dp[%d] %g vs %Lg", j, dp[j], gp);
    }
    TU_CHECK(foil_kl_row(zp, zp, C, NULL, NULL, 1.0f) == 0.0f, "KL of a row with itself is 0");
}

int main(void) {
    test_philox_kat();
    test_sgd();
    test_adam();
    test_dropout();
    test_softmax_xent();
    test_kl_row();
    return tu_finish("test_math");
}
