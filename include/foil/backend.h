/* The backend op table. Algorithms (training, attacks, explanations) are
 * written once in host/ against these ops; the CPU backend
 * (host/backend/cpu/) is the reference and the CUDA backend (cuda/) implements the same table.
 *
 * Conventions (as in llm.c): outputs first, then inputs, then sizes. Every
 * pointer is backend memory (host memory for the CPU backend, device memory
 * for CUDA) unless its name ends in _host. Layouts are NCHW; conv weights are
 * (K, C, R, S) and dense weights (out, in), as in PyTorch, so checkpoints load
 * there unchanged. Ops return 0, or -1 with a message in backend->err.
 *
 * Arguments are validated once, in front of both backends
 * (host/backend/check.c): a backend fills the table with its own ops and
 * ends its create function with foil_backend_finish, which checks that every
 * op is set and puts the checks in front of the ops that take shapes, class
 * counts and optional buffers, so the CPU reference refuses what the GPU
 * refuses, with the same message. */
#ifndef FOIL_BACKEND_H
#define FOIL_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "foil/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct foil_conv_shape {
    int n, c, h, w;       /* input (N, C, H, W) */
    int k, r, s;          /* filters and kernel size: weights (K, C, R, S) */
    int stride_h, stride_w;
    int pad_h, pad_w;     /* zeros before row 0 / column 0; any extra padding at
                             the bottom/right is implied by oh, ow */
    int oh, ow;           /* output (N, K, OH, OW) */
} foil_conv_shape;

typedef struct foil_pool_shape {
    int n, c, h, w;       /* input */
    int size, stride;     /* square window, no padding */
    int oh, ow;           /* output (N, C, OH, OW) */
} foil_pool_shape;

/* Occlusion windows over an (h, w) image, all channels at once: window
 * (wh, ww) at (wy * sh, wx * sw) for wy < ny, wx < nx, cut by the border
 * (Captum's Occlusion: n = ceil((size - window) / stride) + 1). */
typedef struct foil_window_shape {
    int h, w, wh, ww, sh, sw, ny, nx;
} foil_window_shape;

typedef struct foil_sgd_hparams {
    float lr, momentum, weight_decay;
    int nesterov;
} foil_sgd_hparams;

typedef struct foil_adam_hparams {
    float lr, beta1, beta2, eps, weight_decay; /* weight_decay is decoupled (AdamW) */
    int t;                                     /* step number, from 1 */
} foil_adam_hparams;

typedef enum { FOIL_NORM_LINF, FOIL_NORM_L2 } foil_norm;
typedef enum {
    FOIL_STEP_SIGN,         /* x += step * sign(g)                     (FGSM, BIM, PGD) */
    FOIL_STEP_L2,           /* x += step * g / ||g||_2                  (PGD-L2) */
    FOIL_STEP_MOMENTUM_SIGN /* v = decay v + g / ||g||_1; x += step sign(v) (MI-FGSM) */
} foil_step_rule;

typedef struct foil_attack_hparams {
    foil_norm norm;      /* the eps-ball the perturbation is projected onto */
    foil_step_rule rule;
    float eps;           /* radius, pixel units */
    float step;          /* step size; negative descends (targeted attacks) */
    float decay;         /* MI-FGSM momentum decay */
    int unclipped;       /* attack_random_start: leave the start outside [0, 1] (FGSM-RS as
                            Wong et al.'s MNIST code: the gradient at the unclipped start) */
} foil_attack_hparams;

/* APGD's per-sample bookkeeping (Croce and Hein 2020), in backend memory,
 * (n) each: it stays on the device for the whole run. */
typedef struct foil_apgd_state {
    float *step;       /* the step size */
    float *loss_best;  /* the best loss so far */
    float *loss_prev;  /* the loss of the previous iterate */
    float *best_last;  /* loss_best at the last checkpoint */
    int32_t *count;    /* steps since the last checkpoint that increased the loss */
    int32_t *reduced;  /* the step was halved at the last checkpoint (1 before the first) */
    int32_t *robust;   /* no iterate was misclassified yet */
} foil_apgd_state;

/* One iteration of the Square attack (Andriushchenko et al. 2020) for a
 * batch of samples of channels x h x w pixels. */
typedef struct foil_square_params {
    foil_norm norm;  /* FOIL_NORM_LINF or FOIL_NORM_L2 (foil/square_l2.h) */
    float eps;       /* radius, pixel units */
    int channels, h, w;
    int size;        /* the side of this iteration's square, in [1, min(h, w)] */
    int iteration;   /* 0: the start; then 1, 2, ... (keys the draws) */
    uint64_t seed, restart;
    int64_t first;   /* the global index of sample 0 (the draws follow the sample) */
    const int32_t *index; /* backend memory, may be NULL: sample k of x0 is sample
                             first + index[k] (a batch of some samples of another) */
} foil_square_params;

typedef enum { FOIL_TARGET_LOGIT, FOIL_TARGET_PROB } foil_target_mode;

typedef struct foil_backend foil_backend;
struct foil_backend {
    const char *name; /* "cpu", "cuda" */
    void *ctx;        /* the backend's own state (handles, workspaces) */
    foil_err err;     /* message of the last failed op */
    /* the backend's own ops, behind the checks foil_backend_finish installs
     * (only host/backend/check.c calls them) */
    const foil_backend *impl;

    /* fp32 by default; tf32 != 0 lets cuDNN/cuBLAS use TF32 tensor cores
     * (looser agreement with the CPU). The CPU backend ignores it. */
    int (*set_precision)(foil_backend *b, int tf32);

    /* memory */
    void *(*alloc)(foil_backend *b, size_t bytes); /* zeroed; NULL + err on failure */
    void (*free)(foil_backend *b, void *p);
    int (*upload)(foil_backend *b, void *dst, const void *src_host, size_t bytes);
    int (*download)(foil_backend *b, void *dst_host, const void *src, size_t bytes);
    /* device to device; the ranges must not overlap (cudaMemcpy's rule) */
    int (*copy)(foil_backend *b, void *dst, const void *src, size_t bytes);
    int (*fill)(foil_backend *b, float *x, float value, size_t n);
    int (*sync)(foil_backend *b);

    /* layers */
    int (*conv2d_fwd)(foil_backend *b, float *out, const float *in, const float *w,
                      const float *bias, const foil_conv_shape *cs);
    int (*conv2d_bwd_data)(foil_backend *b, float *din, const float *dout, const float *w,
                           const foil_conv_shape *cs);
    int (*conv2d_bwd_filter)(foil_backend *b, float *dw, float *dbias, const float *dout,
                             const float *in, const foil_conv_shape *cs);
    int (*maxpool_fwd)(foil_backend *b, float *out, int32_t *argmax, const float *in,
                       const foil_pool_shape *ps);
    int (*maxpool_bwd)(foil_backend *b, float *din, const float *dout, const int32_t *argmax,
                       const foil_pool_shape *ps);
    int (*relu_fwd)(foil_backend *b, float *out, const float *in, size_t n);
    int (*relu_bwd)(foil_backend *b, float *din, const float *dout, const float *out, size_t n);
    int (*dense_fwd)(foil_backend *b, float *out, const float *in, const float *w,
                     const float *bias, int n, int in_dim, int out_dim);
    int (*dense_bwd_data)(foil_backend *b, float *din, const float *dout, const float *w, int n,
                          int in_dim, int out_dim);
    int (*dense_bwd_filter)(foil_backend *b, float *dw, float *dbias, const float *dout,
                            const float *in, int n, int in_dim, int out_dim);
    /* mask = (u >= rate) / (1 - rate) with u from the Philox stream, element i
     * of the tensor using index i; out = in * mask */
    int (*dropout_fwd)(foil_backend *b, float *out, float *mask, const float *in, float rate,
                       uint64_t seed, uint64_t stream, size_t n);
    int (*mul)(foil_backend *b, float *out, const float *x, const float *y, size_t n);
    /* out = x + y, elementwise; out may be x or y (gradient accumulation) */
    int (*add)(foil_backend *b, float *out, const float *x, const float *y, size_t n);
    /* out = x - y, elementwise; out may be x or y */
    int (*sub)(foil_backend *b, float *out, const float *x, const float *y, size_t n);
    /* out = alpha * x; out may be x */
    int (*scale)(foil_backend *b, float *out, const float *x, float alpha, size_t n);
    /* y += alpha * x, the sum formed in double and rounded once to float (as
     * ig_accumulate's), so that averaging with it gives the same bits */
    int (*axpy)(foil_backend *b, float *y, float alpha, const float *x, size_t n);

    /* loss: loss[i] = -log softmax(logits[i])[labels[i]], computed stably;
     * dlogits (may be NULL) = (softmax - onehot) * grad_scale. */
    int (*softmax_xent)(foil_backend *b, float *loss, float *dlogits, const float *logits,
                        const int32_t *labels, int n, int classes, float grad_scale);

    /* TRADES (Zhang et al. 2019): loss[i] = KL(p || q) with p = softmax(logits_p[i])
     * and q = softmax(logits_q[i]), computed stably in double; dp and dq (either
     * may be NULL) = its gradients w.r.t. logits_p and logits_q times grad_scale
     * (dq = (q - p) grad_scale, dp = p (log p - log q - KL) grad_scale). */
    int (*kl_div)(foil_backend *b, float *loss, float *dp, float *dq, const float *logits_p,
                  const float *logits_q, int n, int classes, float grad_scale);

    /* optimizers, elementwise over n parameters */
    int (*sgd_step)(foil_backend *b, float *w, float *velocity, const float *grad, size_t n,
                    const foil_sgd_hparams *hp);
    int (*adam_step)(foil_backend *b, float *w, float *m, float *v, const float *grad, size_t n,
                     const foil_adam_hparams *hp);

    /* dst[i, :] = src[idx[i], :] for i < n, rows of `row` floats (images) */
    int (*gather_rows)(foil_backend *b, float *dst, const float *src, const int32_t *idx, int n,
                       size_t row);
    int (*gather_labels)(foil_backend *b, int32_t *dst, const int32_t *src, const int32_t *idx,
                         int n);

    /* ---- attacks (per-row ops: one row is one sample of `row` floats) ---- */
    int (*argmax)(foil_backend *b, int32_t *out, const float *logits, int n, int classes);
    /* out[i] = equal ? (a[i] == c[i]) : (a[i] != c[i]) */
    int (*compare)(foil_backend *b, int32_t *out, const int32_t *a, const int32_t *c, int n,
                   int equal);
    /* Uniform random point of the eps-ball around x0, clipped to [0, 1]
     * (unless hp->unclipped). Row i
     * is sample k = first + index[i] (first + i when index is NULL; index in
     * backend memory: a batch of some samples of another) and draws from
     * stream (seed, FOIL_RNG_ATTACK, (restart << 32) | k), so the start of a
     * sample does not depend on the batch it is in. */
    int (*attack_random_start)(foil_backend *b, float *x_adv, const float *x0, int n,
                               size_t row, const foil_attack_hparams *hp, uint64_t seed,
                               uint64_t restart, int64_t first, const int32_t *index);
    /* One step on rows with active[i] != 0 (all rows when active is NULL):
     * direction from grad by hp->rule (velocity: MI-FGSM state, may be NULL
     * otherwise), projection onto the eps-ball around x0, clip to [0, 1]. */
    int (*attack_step)(foil_backend *b, float *x_adv, float *velocity, const float *grad,
                       const float *x0, const int32_t *active, int n, size_t row,
                       const foil_attack_hparams *hp);
    /* dst[i, :] = src[i, :] where mask[i] != 0 */
    int (*select_rows)(foil_backend *b, float *dst, const float *src, const int32_t *mask,
                       int n, size_t row);
    /* The DLR loss (Croce and Hein 2020), to be maximised, with z_(k) the k-th
     * largest logit of a row: untargeted (targets NULL)
     *   -(z_y - max_{j != y} z_j) / (z_(1) - z_(3) + 1e-12)   (classes >= 3),
     * targeted -(z_y - z_t) / (z_(1) - (z_(3) + z_(4)) / 2 + 1e-12) (classes >= 4);
     * dlogits (may be NULL) = dloss / dlogits (ties: the lower class first). */
    int (*dlr_loss)(foil_backend *b, float *loss, float *dlogits, const float *logits,
                    const int32_t *labels, const int32_t *targets, int n, int classes);
    /* APGD's step with momentum, as the reference implementation: z = P(x +
     * step[i] d), x_new = P(x + alpha (z - x) + (1 - alpha) (x - x_prev)), then
     * x_prev = x, x = x_new; d = sign(grad) (Linf) or grad / ||grad|| (L2), P
     * the projection onto the hp->norm ball of radius hp->eps around x0 and
     * into [0, 1]. hp->rule and hp->step are not used. */
    int (*apgd_step)(foil_backend *b, float *x, float *x_prev, const float *grad,
                     const float *x0, const float *step, float alpha, int n, size_t row,
                     const foil_attack_hparams *hp);
    /* After an evaluation of x (its loss, grad and whether it is
     * misclassified, per row): count += loss > loss_prev, loss_prev = loss;
     * where loss > loss_best: loss_best = loss, x_best = x, g_best = grad;
     * where fooled: x_adv = x, robust = 0. */
    int (*apgd_update)(foil_backend *b, const foil_apgd_state *st, float *x_best, float *g_best,
                       float *x_adv, const float *x, const float *grad, const float *loss,
                       const int32_t *fooled, int n, size_t row);
    /* A checkpoint k steps after the last: rows where count <= rho k, or where
     * the step was not reduced last time and loss_best <= best_last, halve
     * their step and go back to x_best and g_best; then reduced = halved,
     * best_last = loss_best, count = 0. */
    int (*apgd_checkpoint)(foil_backend *b, const foil_apgd_state *st, float *x, float *grad,
                           const float *x_best, const float *g_best, int k, float rho, int n,
                           size_t row);
    /* The Square attack's proposals (L-inf; L2: foil/square_l2.h, the same
     * streams and rows): row r of x_new (n rows) is a
     * candidate for sample k = ids[r] (ids distinct) of x_best and x0 (rows
     * of channels * h * w). Iteration 0, the start: x0[k] + eps times a
     * random sign per channel and column (vertical stripes); iteration t >=
     * 1: x_best[k] with one square of side sq->size at a random position
     * (every position equally likely) moved by 2 eps times a random sign
     * per channel; both projected onto the eps-ball around x0[k] and into
     * [0, 1]. The draws are words ((t << 24) + j) of stream (seed,
     * FOIL_RNG_SQUARE, (restart << 32) | (first + index[k])), so a sample's
     * proposals do not depend on the batch or on which rows are active. */
    int (*square_propose)(foil_backend *b, float *x_new, const float *x_best, const float *x0,
                          const int32_t *ids, int n, const foil_square_params *sq);
    /* After the proposals' logits (row r for sample k = ids[r]): with margin
     * m = z_y - max_{j != y} z_j (y = labels[k]), a sample still robust
     * (margin_best[k] > 0) counts the query (queries[k] += 1) and, where m <
     * margin_best[k], takes the proposal: margin_best[k] = m, x_best[k] =
     * x_new[r]. A sample with margin_best[k] <= 0 is left alone, so rows of
     * already fooled samples may stay in the batch without changing it. */
    int (*square_update)(foil_backend *b, float *x_best, float *margin_best, int32_t *queries,
                         const float *x_new, const float *logits, const int32_t *labels,
                         const int32_t *ids, int n, int classes, size_t row);
    /* FAB-T (Croce and Hein 2020): diff[i] = z_t - z_y (t = targets[i], y =
     * labels[i]) and dlogits = d diff / d logits (may be NULL). */
    int (*fab_diff)(foil_backend *b, float *diff, float *dlogits, const float *logits,
                    const int32_t *labels, const int32_t *targets, int n, int classes);
    /* FAB's step, per row: the hyperplane where the linearisation of diff
     * at x vanishes, <grad, z> = <grad, x> - diff; d1, d2 the projections
     * (L-inf or L2: norm) of x and x0 onto it within [0, 1]
     * (foil/fab_math.h); alpha = min(|d1| / (|d1| + |d2|), alpha_max) (in
     * that norm); x = clip((x + eta d1)(1 - alpha) + (x0 + eta d2) alpha, 0, 1). */
    int (*fab_step)(foil_backend *b, float *x, const float *x0, const float *grad,
                    const float *diff, float eta, float alpha_max, foil_norm norm, int n,
                    size_t row);
    /* After FAB's step, rows with fooled[i]: where ||x - x0|| (L-inf or L2)
     * < dist[i], dist[i] = that and x_adv = x; then x = x0 + beta (x - x0)
     * (back towards x0). */
    int (*fab_update)(foil_backend *b, float *x_adv, float *dist, float *x, const float *x0,
                      const int32_t *fooled, float beta, foil_norm norm, int n, size_t row);
    /* DeepFool's step (L2, Moosavi-Dezfooli et al. 2016), rows with
     * active[i]: of the classes k != y = labels[i], with f_k = diffs[k * n +
     * i] (z_k - z_y) and w_k = grads row (k * n + i), the one of least |f_k| /
     * ||w_k||; r_tot += (|f_k| + 1e-4) / ||w_k||^2 w_k; x = clip(x0 + (1 +
     * overshoot) r_tot, 0, 1). A row whose gradients all vanish stays. */
    int (*deepfool_step)(foil_backend *b, float *x, float *r_tot, const float *x0,
                         const float *diffs, const float *grads, const int32_t *labels,
                         const int32_t *active, int n, int classes, size_t row,
                         float overshoot);
    /* CW-L2 (Carlini and Wagner 2017) on logits: loss[i] = c[i] max(z_y -
     * max_{j != y} z_j + kappa, 0) (y = labels[i]) and dlogits its gradient
     * (c[i] at y, -c[i] at the largest other class; 0 where the max is 0). */
    int (*cw_margin)(foil_backend *b, float *loss, float *dlogits, const float *logits,
                     const int32_t *labels, const float *c, float kappa, int n, int classes);
    /* CW-L2's bookkeeping at x, per row: dist[i] = ||x - x0||^2; where
     * fooled[i] and dist[i] < best[i]: best[i] = dist[i], best_adv = x,
     * found[i] = 1. */
    int (*cw_update)(foil_backend *b, float *best, float *best_adv, int32_t *found, float *dist,
                     const float *x, const float *x0, const int32_t *fooled, int n, size_t row);
    /* CW-L2's Adam step in tanh space on rows with active[i]: with grad the
     * margin term's input gradient at x = (tanh(w) + 1) / 2, g = (2 (x - x0) +
     * grad) (1 - tanh(w)^2) / 2; Adam on w (moments m, v; hp as adam_step,
     * no weight decay); then x = (tanh(w) + 1) / 2. */
    int (*cw_step)(foil_backend *b, float *w, float *m, float *v, float *x, const float *grad,
                   const float *x0, const int32_t *active, int n, size_t row,
                   const foil_adam_hparams *hp);
    /* flags[i] = 1 where row i of x holds a NaN or an infinity; the other
     * flags keep their value, so calls accumulate (an attack checks its
     * logits and gradients every step without a round trip to the host) */
    int (*flag_nonfinite)(foil_backend *b, int32_t *flags, const float *x, int n, size_t row);

    /* ---- explanations ---- */
    /* value[i] = F_i, the explained output of sample i for class target[i]
     * (its logit, or its softmax probability), and dlogits = dF_i/dlogits. */
    int (*target_output)(foil_backend *b, float *value, float *dlogits, const float *logits,
                         const int32_t *target, int n, int classes, foil_target_mode mode);
    /* xs[i*m + k, :] = base[i, :] + alpha[k] * (x[i, :] - base[i, :]) */
    int (*ig_interp)(foil_backend *b, float *xs, const float *x, const float *base,
                     const float *alpha, int n, int m, size_t row);
    /* attr[i, :] += sum_k w[k] * grads[i*m + k, :] */
    int (*ig_accumulate)(foil_backend *b, float *attr, const float *grads, const float *w,
                         int n, int m, size_t row);
    /* out[i, :] = base[i, :] + alpha[i] * (x[i, :] - base[i, :]) (GradientSHAP's
     * points: a baseline and a position per row) */
    int (*lerp_rows)(foil_backend *b, float *out, const float *x, const float *base,
                     const float *alpha, int n, size_t row);
    /* out[i, j] = x[i, j] + sigma * N(0, 1), drawn from stream
     * (seed, FOIL_RNG_NOISE, (draw << 32) | (first + i)), element j */
    int (*gaussian_noise)(foil_backend *b, float *out, const float *x, float sigma,
                          uint64_t seed, uint64_t draw, int64_t first, int n, size_t row);
    /* out[i] = sum_j x[i, j] (accumulated in double on the CPU) */
    int (*row_sum)(foil_backend *b, float *out, const float *x, int n, size_t row);
    /* Perturbed images for the feature explainers: row r < count of out
     * (count, channels * plane) is image i = (first + r) / samples of x
     * (channels * plane per image), with each pixel p whose feature
     * f = segments[i * plane + p] is off (masks[r * nfeat + f] == 0) taken
     * from fill (same layout as x) instead; f outside [0, nfeat) counts as
     * off. masks: (count, nfeat) bytes. */
    int (*mask_images)(foil_backend *b, float *out, const float *x, const float *fill,
                       const int32_t *segments, const uint8_t *masks, int64_t first, int count,
                       int samples, int nfeat, int channels, size_t plane);
    /* Occluded images: row r < count of out (count, channels * h * w) is
     * image i = (first + r) / (ny * nx) of x with window k = (first + r) %
     * (ny * nx) (wy = k / nx, wx = k % nx) taken from fill (same layout). */
    int (*occlude)(foil_backend *b, float *out, const float *x, const float *fill,
                   int64_t first, int count, int channels, const foil_window_shape *ws);

    void (*destroy)(foil_backend *b);
};

/* Every op of the table, for completeness checks and foil_backend_supports. */
#define FOIL_BACKEND_OPS(X)                                                             \
    X(set_precision) X(alloc) X(free) X(upload) X(download) X(copy) X(fill) X(sync)     \
    X(conv2d_fwd) X(conv2d_bwd_data) X(conv2d_bwd_filter) X(maxpool_fwd) X(maxpool_bwd) \
    X(relu_fwd) X(relu_bwd) X(dense_fwd) X(dense_bwd_data) X(dense_bwd_filter)          \
    X(dropout_fwd) X(mul) X(add) X(sub) X(scale) X(axpy) X(softmax_xent) X(kl_div) X(sgd_step) X(adam_step) X(gather_rows)       \
    X(gather_labels) X(argmax) X(compare) X(attack_random_start) X(attack_step)         \
    X(select_rows) X(dlr_loss) X(apgd_step) X(apgd_update) X(apgd_checkpoint)          \
    X(square_propose) X(square_update) X(fab_diff) X(fab_step) X(fab_update)            \
    X(deepfool_step) X(cw_margin) X(cw_update) X(cw_step)                               \
    X(flag_nonfinite) X(target_output) X(ig_interp) X(ig_accumulate) X(lerp_rows)     \
    X(gaussian_noise) X(row_sum) X(mask_images) X(occlude) X(destroy)

/* The end of a backend's create function: fails, naming the op, when an op
 * of the table is not set (the caller then destroys b itself), else installs
 * the argument checks in front of b's ops (b->destroy then frees them too). */
int foil_backend_finish(foil_backend *b, foil_err *err);
/* Whether b has the op of that name (as in FOIL_BACKEND_OPS); 0 for a name
 * that is no op. */
int foil_backend_supports(const foil_backend *b, const char *op);

/* Creates the CPU reference backend (caller frees with b->destroy(b)). */
foil_backend *foil_backend_cpu_create(foil_err *err);

/* The OpenBLAS kernel set in use ("SkylakeX", "Haswell", "Prescott", ...). */
const char *foil_cpu_blas_core(void);
/* How the CPU backend runs, e.g. "OpenBLAS SkylakeX kernels, OpenMP, 2
 * threads; own loops on OpenMP" (foil devices, the bench tables). */
void foil_cpu_describe(char *out, size_t cap);
/* A better OPENBLAS_CORETYPE when OpenBLAS fell back to its generic kernels
 * on a CPU with AVX2 or AVX-512 (seen on virtual machines), else NULL. It
 * takes effect only in a process started with it in the environment. */
const char *foil_cpu_blas_better_core(void);
/* Sets what the CPU libraries read when they load and the user left unset
 * (OPENBLAS_CORETYPE when there is a better one; OMP_WAIT_POLICY=passive in
 * an OpenMP build) and executes the program again with the same argv (call
 * first thing in main); returns when there is nothing to do or the restart
 * failed. */
void foil_cpu_restart(char **argv);

/* Creates the CUDA backend on GPU `device`; NULL with a clear message when
 * foil was built without CUDA, no usable GPU is present, or the GPU is there
 * but the backend cannot start (cuDNN/cuBLAS failing to load, ...). */
foil_backend *foil_backend_cuda_create(int device, foil_err *err);
/* GPUs the CUDA runtime sees: 0 when foil was built without CUDA or the
 * driver is missing or too old; why in `why` (may be NULL) when 0. Tells
 * "no GPU here" (the GPU tests skip) from "a GPU the backend failed on"
 * (they fail). */
int foil_cuda_device_count(char *why, size_t cap);

/* Device selection: "auto", "cpu" or "cuda". auto takes a usable GPU when the
 * CUDA backend is built and a device is present, else the CPU; when auto
 * falls back although the CUDA backend is built, `notice` (may be NULL)
 * receives why, for the caller to show; otherwise notice->msg is empty. */
foil_backend *foil_backend_create(const char *device, foil_err *notice, foil_err *err);

#ifdef __cplusplus
}
#endif

/* Runs one op call of backend b and, when it fails, returns from the
 * calling function with the backend's message copied into err (a foil_err
 * *): the one way host code checks op calls. */
#define FOIL_OP(b, call, err)                                                       \
    do {                                                                            \
        if ((call) != 0) return foil_fail(err, "%s", (b)->err.msg);                 \
    } while (0)

/* Convenience wrappers that allocate/free typed buffers. */
static inline float *foil_alloc_floats(foil_backend *b, size_t n) {
    return n > ((size_t)-1) / sizeof(float) ? NULL : (float *)b->alloc(b, n * sizeof(float));
}

#endif
