/* Elementwise math shared by the CPU backend and the CUDA kernels, so that the
 * CPU tests cover the arithmetic the GPU runs. Header-only; FOIL_HD makes each
 * function __host__ __device__ under nvcc and static inline under gcc. */
#ifndef FOIL_ELEMENTWISE_H
#define FOIL_ELEMENTWISE_H

#include <math.h>

#include "foil/philox.h"

/* a * b, a + b, a - b each rounded on its own: nvcc would contract a * b + c
 * into one fma in device code (gcc for plain x86-64 does not) and change the
 * last bit. */
#if defined(__CUDA_ARCH__)
#define FOIL_MUL(a, b) __fmul_rn((a), (b))
#define FOIL_ADD(a, b) __fadd_rn((a), (b))
#define FOIL_SUB(a, b) __fsub_rn((a), (b))
#else
#define FOIL_MUL(a, b) ((a) * (b))
#define FOIL_ADD(a, b) ((a) + (b))
#define FOIL_SUB(a, b) ((a) - (b))
#endif

/* SGD with momentum, as PyTorch's torch.optim.SGD (dampening 0):
 *   g += wd * w;  v = momentum * v + g;  step = nesterov ? g + momentum * v : v */
FOIL_HD void foil_sgd_update(float *w, float *v, float g, float lr, float momentum, float wd,
                             int nesterov) {
    g += wd * *w;
    if (momentum != 0.0f) {
        *v = momentum * *v + g;
        g = nesterov ? g + momentum * *v : *v;
    }
    *w -= lr * g;
}

/* Adam / AdamW, as PyTorch: step_size = lr / (1 - beta1^t) and
 * bc2_sqrt = sqrt(1 - beta2^t) are computed once per step by the caller (in
 * double, rounded to float) so both backends use the same values. */
FOIL_HD void foil_adam_update(float *w, float *m, float *v, float g, float lr, float beta1,
                              float beta2, float eps, float wd, float step_size,
                              float bc2_sqrt) {
    *w -= lr * wd * *w; /* decoupled weight decay */
    *m = beta1 * *m + (1.0f - beta1) * g;
    *v = beta2 * *v + (1.0f - beta2) * g * g;
    float denom = sqrtf(*v) / bc2_sqrt + eps;
    *w -= step_size * (*m / denom);
}

/* Inverted dropout: kept elements are scaled by 1 / (1 - rate). */
FOIL_HD float foil_dropout_mask(uint64_t seed, uint64_t stream, uint64_t i, float rate) {
    float u = foil_rng_uniform(seed, stream, i);
    return u >= rate ? 1.0f / (1.0f - rate) : 0.0f;
}

FOIL_HD float foil_clampf(float x, float lo, float hi) {
    return x < lo ? lo : (x > hi ? hi : x);
}

/* Whether x is neither NaN nor an infinity: x - x is 0 exactly then and NaN
 * otherwise. foil is built without fast-math; -ffinite-math-only (part of
 * -ffast-math) or nvcc's --use_fast_math would fold this to true. */
FOIL_HD int foil_finitef(float x) { return x - x == 0.0f; }

/* sign(0) = 0, as torch.sign: a zero gradient does not move the pixel. */
FOIL_HD float foil_signf(float x) { return (float)(x > 0.0f) - (float)(x < 0.0f); }

/* Linf projection of x onto the eps-box around x0, then into [0, 1]. */
FOIL_HD float foil_project_linf(float x, float x0, float eps) {
    return foil_clampf(foil_clampf(x, x0 - eps, x0 + eps), 0.0f, 1.0f);
}

/* The attack step direction for one element; `scale` is the per-row factor
 * (1 / ||g||_2 for FOIL_STEP_L2, unused otherwise), v the MI-FGSM velocity
 * already updated by the caller. */
FOIL_HD float foil_step_direction(int rule, float g, float v, float scale) {
    if (rule == 1) return g * scale; /* FOIL_STEP_L2 */
    if (rule == 2) return foil_signf(v); /* FOIL_STEP_MOMENTUM_SIGN */
    return foil_signf(g);
}

/* Factor that brings an L2 perturbation of norm `norm` into the eps-ball. */
FOIL_HD float foil_l2_shrink(float norm, float eps) {
    return norm > eps ? eps / norm : 1.0f;
}

/* The first index of a row's maximum (ties go to the lower class, as
 * torch.argmax on the CPU). */
FOIL_HD int foil_row_argmax(const float *z, int c) {
    int best = 0;
    for (int j = 1; j < c; j++) best = z[j] > z[best] ? j : best;
    return best;
}

/* The classes of a row's four largest logits, descending (ties: the lower
 * class first); -1 past c. */
FOIL_HD void foil_top4(const float *z, int c, int top[4]) {
    for (int k = 0; k < 4; k++) top[k] = -1;
    for (int j = 0; j < c; j++)
        for (int k = 0, at = j; k < 4 && at >= 0; k++)
            if (top[k] < 0 || z[at] > z[top[k]]) {
                int t = top[k];
                top[k] = at;
                at = t;
            }
}

/* The DLR loss of a row of c logits for label y and target t (t < 0:
 * untargeted), and when dz is not NULL its gradient (foil/backend.h). */
FOIL_HD float foil_dlr_row(const float *z, int c, int y, int t, float *dz) {
    int top[4];
    foil_top4(z, c, top);
    const int other = t >= 0 ? t : (top[0] == y ? top[1] : top[0]);
    const float num = z[y] - z[other];
    const float low = t >= 0 ? FOIL_MUL(0.5f, FOIL_ADD(z[top[2]], z[top[3]])) : z[top[2]];
    const float den = FOIL_SUB(z[top[0]], low) + 1e-12f;
    if (dz) {
        const float inv = 1.0f / den, q = FOIL_MUL(FOIL_MUL(num, inv), inv);
        const float half = FOIL_MUL(0.5f, q);
        for (int j = 0; j < c; j++) dz[j] = 0.0f;
        dz[y] -= inv;
        dz[other] += inv;
        dz[top[0]] += q;
        if (t >= 0) {
            dz[top[2]] -= half;
            dz[top[3]] -= half;
        } else {
            dz[top[2]] -= q;
        }
    }
    return -num / den;
}

/* APGD's step (foil/backend.h's apgd_step) for one element, L-inf. */
FOIL_HD float foil_apgd_mix(float x, float xp, float z, float alpha) {
    return FOIL_ADD(FOIL_ADD(x, FOIL_MUL(FOIL_SUB(z, x), alpha)),
                    FOIL_MUL(FOIL_SUB(x, xp), 1.0f - alpha));
}
FOIL_HD float foil_apgd_linf(float x, float xp, float g, float x0, float step, float alpha,
                             float eps) {
    float z = foil_project_linf(FOIL_ADD(x, FOIL_MUL(step, foil_signf(g))), x0, eps);
    return foil_project_linf(foil_apgd_mix(x, xp, z, alpha), x0, eps);
}

/* APGD's L2 step in passes over a row, as the reference: z = x + step g /
 * (||g|| + 1e-12); z projected with kz = min(eps, ||z - x0||) / (||z - x0|| +
 * 1e-12) and clipped; the momentum mix (unprojected); its projection with
 * kn = min(eps, ||mix - x0|| + 1e-12) / (||mix - x0|| + 1e-12), clipped. */
FOIL_HD float foil_apgd_l2_z(float x, float g, float step, float ginv) {
    return FOIL_ADD(x, FOIL_MUL(step, FOIL_MUL(g, ginv)));
}
FOIL_HD float foil_apgd_shrunk(float x0, float v, float k) {
    return foil_clampf(FOIL_ADD(x0, FOIL_MUL(FOIL_SUB(v, x0), k)), 0.0f, 1.0f);
}
FOIL_HD float foil_apgd_l2_mix(float x, float xp, float x0, float z, float kz, float alpha) {
    return foil_apgd_mix(x, xp, foil_apgd_shrunk(x0, z, kz), alpha);
}
FOIL_HD float foil_apgd_l2_shrink(double norm, float eps, int plus) {
    double top = plus ? norm + 1e-12 : norm;
    return (float)((top < eps ? top : (double)eps) / (norm + 1e-12));
}

/* The Square attack (square_propose in foil/backend.h): word j of a
 * sample's stream at iteration t; a sign from a word; where a square of side
 * s starts (words 0 and 1: top and left edge, every position of the side
 * `len` equally likely but for the modulo's bias of < 2^-20); the value of a
 * pixel x_best moved by d, kept in the ball around x0 and in [0, 1]. */
FOIL_HD uint32_t foil_square_word(uint64_t seed, uint64_t stream, int t, uint32_t j) {
    return foil_rng_u32(seed, stream, ((uint64_t)(uint32_t)t << 24) + j);
}
FOIL_HD float foil_square_sign(uint32_t u) { return (u >> 31) ? 1.0f : -1.0f; }
FOIL_HD int foil_square_edge(uint32_t u, int len, int s) {
    return (int)(u % (uint32_t)(len - s + 1));
}
FOIL_HD float foil_square_linf(float x_best, float x0, float d, float eps) {
    return foil_project_linf(FOIL_ADD(x_best, d), x0, eps);
}

/* The margin of a row: z_y - max_{j != y} z_j (c >= 2). */
FOIL_HD float foil_margin_row(const float *z, int c, int y) {
    float other = -INFINITY;
    for (int j = 0; j < c; j++)
        if (j != y && z[j] > other) other = z[j];
    return FOIL_SUB(z[y], other);
}

/* The softmax denominator of a row, stably, in double: sum_j exp(z_j - mx)
 * with mx the row's maximum, so that p_j = exp(z_j - mx) / sum. Every
 * host-side softmax of foil (losses, probabilities, confidences) is this. */
FOIL_HD double foil_softmax_sum(const float *z, int c, float mx) {
    double sum = 0.0;
    for (int j = 0; j < c; j++) sum += exp((double)(z[j] - mx));
    return sum;
}

/* log sum_j exp(z_j - mx), the shifts taken in double (foil_kl_row). */
FOIL_HD double foil_log_softmax_sum_d(const float *z, int c, double mx) {
    double sum = 0.0;
    for (int j = 0; j < c; j++) sum += exp((double)z[j] - mx);
    return log(sum);
}

/* TRADES' KL(p || q) of one row, p = softmax(zp) and q = softmax(zq), in
 * double from the log-softmaxes; dp and dq (either may be NULL) receive its
 * gradients times scale: d/dzq = q - p, d/dzp = p (log p - log q - KL).
 * The shifts z_j - max are taken in double: near x_adv = x the KL is of the
 * order of the squared logit change, below a float subtraction's rounding. */
FOIL_HD float foil_kl_row(const float *zp, const float *zq, int c, float *dp, float *dq,
                          float scale) {
    const double mp = zp[foil_row_argmax(zp, c)], mq = zq[foil_row_argmax(zq, c)];
    const double lsp = foil_log_softmax_sum_d(zp, c, mp), lsq = foil_log_softmax_sum_d(zq, c, mq);
    double kl = 0.0;
    for (int j = 0; j < c; j++) {
        const double lp = (double)zp[j] - mp - lsp, lq = (double)zq[j] - mq - lsq;
        kl += exp(lp) * (lp - lq);
    }
    for (int j = 0; (dp || dq) && j < c; j++) {
        const double lp = (double)zp[j] - mp - lsp, lq = (double)zq[j] - mq - lsq;
        const double p = exp(lp);
        if (dq) dq[j] = (float)((exp(lq) - p) * scale);
        if (dp) dp[j] = (float)(p * (lp - lq - kl) * scale);
    }
    return (float)kl;
}

#endif
