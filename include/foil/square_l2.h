/* The Square attack's L2 proposal (Andriushchenko et al. 2020, section 3.2
 * and their appendix's square_attack_l2), one sample at a time, shared by the
 * CPU backend and the CUDA kernel (foil/elementwise.h's conventions: each
 * operation rounded on its own, sums in a fixed order, so both backends give
 * the same bits).
 *
 * Start (t = 0): the image is tiled by windows of side s0 = h / 5 (centred);
 * each window, per channel, gets a random sign times the "meta pseudo-
 * Gaussian" pattern (two stacked rectangles of opposite sign, each with the
 * weights below and unit norm, transposed at random), and the whole
 * perturbation is scaled to norm eps.
 * Iteration t >= 1, from delta = x_best - x0: two windows W1, W2 of side s
 * at random positions; per channel the part of W1 becomes
 *   (eta * sign + delta[W1] / |delta_c[W1]|) scaled to norm
 *   sqrt(max(eps^2 - |delta|^2, 0) / C + |delta[W1 u W2]|^2),
 * W2 outside W1 is zeroed, so the mass of both windows moves into W1; then
 * the perturbation is scaled to norm eps again. Always
 * x = clip(x0 + eps * delta / (|delta| + 1e-12), 0, 1).
 * eta (x by y): pixel (i, j) weighs sum_{k = d}^{K - 1} 1 / (k + 1)^2 with
 * d = max(|i - x/2|, |j - y/2|) and K = max(x, y) / 2 + 1.
 *
 * Draws (foil_square_word of the sample's stream): at t = 0 word j < 2^20 is
 * window j's transposition and word 2^20 + j * C + c the sign of channel c
 * there; at t >= 1 words 0, 1 place W1 (top, left), 2, 3 place W2, and word
 * 4 + c is channel c's sign. */
#ifndef FOIL_SQUARE_L2_H
#define FOIL_SQUARE_L2_H

#include "foil/elementwise.h"

#if defined(__CUDA_ARCH__)
#define FOIL_DMUL(a, b) __dmul_rn((a), (b))
#define FOIL_DADD(a, b) __dadd_rn((a), (b))
#else
#define FOIL_DMUL(a, b) ((a) * (b))
#define FOIL_DADD(a, b) ((a) + (b))
#endif

FOIL_HD double foil_square_eta(int x, int y, int i, int j) {
    int di = i - x / 2, dj = j - y / 2;
    di = di < 0 ? -di : di;
    dj = dj < 0 ? -dj : dj;
    const int d = di > dj ? di : dj, top = (x > y ? x : y) / 2 + 1;
    double v = 0.0;
    for (int k = d; k < top; k++) v = FOIL_DADD(v, 1.0 / (double)((k + 1) * (k + 1)));
    return v;
}

FOIL_HD double foil_square_eta_norm(int x, int y) {
    double s = 0.0;
    for (int i = 0; i < x; i++)
        for (int j = 0; j < y; j++) {
            const double v = foil_square_eta(x, y, i, j);
            s = FOIL_DADD(s, FOIL_DMUL(v, v));
        }
    return sqrt(s);
}

/* The start's pattern at (i, j) of a window of side s (tr: transposed);
 * n_top, n_bottom: foil_square_eta_norm of its two rectangles. */
FOIL_HD double foil_square_meta(int s, int tr, int i, int j, double n_top, double n_bottom) {
    if (tr) {
        const int t = i;
        i = j, j = t;
    }
    const int half = s / 2;
    return i < half ? foil_square_eta(half, s, i, j) / n_top
                    : -foil_square_eta(s - half, s, i - half, j) / n_bottom;
}

/* Sum of squares of rows [top, top + s) x columns [left, left + s) of one
 * channel plane; skip (may be NULL): leave out that window's pixels. */
FOIL_HD double foil_square_window_ss(const float *plane, int w, int top, int left, int s,
                                     const int *skip) {
    double ss = 0.0;
    for (int y = top; y < top + s; y++)
        for (int x = left; x < left + s; x++) {
            if (skip && y >= skip[0] && y < skip[0] + s && x >= skip[1] && x < skip[1] + s)
                continue;
            const double v = plane[(size_t)y * w + x];
            ss = FOIL_DADD(ss, FOIL_DMUL(v, v));
        }
    return ss;
}

/* out = clip(x0 + eps * delta / (|delta| + 1e-12), 0, 1) with delta in out. */
FOIL_HD void foil_square_l2_finish(float *out, const float *x0, size_t n, float eps) {
    double ss = 0.0;
    for (size_t p = 0; p < n; p++) ss = FOIL_DADD(ss, FOIL_DMUL((double)out[p], (double)out[p]));
    const float f = (float)((double)eps / (sqrt(ss) + 1e-12));
    for (size_t p = 0; p < n; p++) out[p] = foil_clampf(FOIL_ADD(x0[p], FOIL_MUL(out[p], f)), 0.0f, 1.0f);
}

FOIL_HD void foil_square_l2_start(float *out, const float *x0, int c, int h, int w, float eps,
                                  uint64_t seed, uint64_t st) {
    const size_t plane = (size_t)h * w, n = plane * c;
    const int s = h / 5 > 0 ? h / 5 : 1, nh = h / s, nw = w / s;
    const int oh = (h - nh * s) / 2, ow = (w - nw * s) / 2;
    const double n_top = s / 2 > 0 ? foil_square_eta_norm(s / 2, s) : 1.0;
    const double n_bottom = foil_square_eta_norm(s - s / 2, s);
    for (size_t p = 0; p < n; p++) out[p] = 0.0f;
    for (int a = 0; a < nh; a++)
        for (int bb = 0; bb < nw; bb++) {
            const uint32_t win = (uint32_t)(a * nw + bb);
            const int tr = (int)(foil_square_word(seed, st, 0, win) >> 31);
            for (int ch = 0; ch < c; ch++) {
                const float sign = foil_square_sign(
                    foil_square_word(seed, st, 0, (1u << 20) + win * (uint32_t)c + (uint32_t)ch));
                for (int i = 0; i < s; i++)
                    for (int j = 0; j < s; j++) {
                        const float v = (float)foil_square_meta(s, tr, i, j, n_top, n_bottom);
                        out[ch * plane + (size_t)(oh + a * s + i) * w + (ow + bb * s + j)] =
                            FOIL_MUL(sign, v);
                    }
            }
        }
    foil_square_l2_finish(out, x0, n, eps);
}

/* Iteration t >= 1 with windows of side s, from x_best xb. */
FOIL_HD void foil_square_l2_step(float *out, const float *xb, const float *x0, int c, int h,
                                 int w, int t, int s, float eps, uint64_t seed, uint64_t st) {
    const size_t plane = (size_t)h * w, n = plane * c;
    const int w1[2] = {foil_square_edge(foil_square_word(seed, st, t, 0), h, s),
                       foil_square_edge(foil_square_word(seed, st, t, 1), w, s)};
    const int w2[2] = {foil_square_edge(foil_square_word(seed, st, t, 2), h, s),
                       foil_square_edge(foil_square_word(seed, st, t, 3), w, s)};
    for (size_t p = 0; p < n; p++) out[p] = FOIL_SUB(xb[p], x0[p]);
    double all = 0.0, windows = 0.0;
    for (size_t p = 0; p < n; p++) all = FOIL_DADD(all, FOIL_DMUL((double)out[p], (double)out[p]));
    for (int ch = 0; ch < c; ch++) {
        windows = FOIL_DADD(windows, foil_square_window_ss(out + ch * plane, w, w1[0], w1[1], s, NULL));
        windows = FOIL_DADD(windows, foil_square_window_ss(out + ch * plane, w, w2[0], w2[1], s, w1));
    }
    const double left = FOIL_DADD(FOIL_DMUL((double)eps, (double)eps), -all);
    const double target = sqrt((left > 0.0 ? left : 0.0) / c + windows);
    const double n_eta = foil_square_eta_norm(s, s);
    for (int ch = 0; ch < c; ch++) {
        float *pl = out + ch * plane;
        const double sign = foil_square_sign(foil_square_word(seed, st, t, 4u + (uint32_t)ch));
        const double inv = 1.0 / (sqrt(foil_square_window_ss(pl, w, w1[0], w1[1], s, NULL)) + 1e-12);
        double ss = 0.0; /* the new window's norm before scaling */
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                const double v = FOIL_DADD(FOIL_DMUL(foil_square_eta(s, s, i, j) / n_eta, sign),
                                           FOIL_DMUL((double)pl[(size_t)(w1[0] + i) * w + w1[1] + j], inv));
                ss = FOIL_DADD(ss, FOIL_DMUL(v, v));
            }
        const double f = target / (sqrt(ss) + 1e-12);
        for (int y = w2[0]; y < w2[0] + s; y++)
            for (int x = w2[1]; x < w2[1] + s; x++)
                if (!(y >= w1[0] && y < w1[0] + s && x >= w1[1] && x < w1[1] + s))
                    pl[(size_t)y * w + x] = 0.0f;
        for (int i = 0; i < s; i++)
            for (int j = 0; j < s; j++) {
                float *q = &pl[(size_t)(w1[0] + i) * w + w1[1] + j];
                const double v = FOIL_DADD(FOIL_DMUL(foil_square_eta(s, s, i, j) / n_eta, sign),
                                           FOIL_DMUL((double)*q, inv));
                *q = (float)FOIL_DMUL(v, f);
            }
    }
    foil_square_l2_finish(out, x0, n, eps);
}

#endif
