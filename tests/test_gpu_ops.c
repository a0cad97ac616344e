/* The backend-op test table (harness: tests/op_harness.h). Modes:
 *   test_gpu_ops [WORD]          CPU <-> GPU parity of every row (exit 77
 *                                without a GPU): fp32, then the conv and
 *                                dense rows with TF32 on, then fp32 again
 *                                (plans made under TF32 must be re-chosen);
 *   test_gpu_ops --grad [WORD]   backward ops against finite differences
 *                                of their forward, on the CPU (ctest
 *                                test_ops_grad, no GPU needed);
 *   test_gpu_ops --perf [WORD]   microseconds per call on each backend.
 * WORD runs only the rows whose name contains it.
 *
 * Parity tolerances, fp32 (inputs in [0, 1], weights U(+-1/sqrt(fan_in)),
 * output gradients in [-1, 1]):
 *   - conv and dense forward and backward-data (sums of up to 3136 products,
 *     values O(1)): atol 1e-4, rtol 1e-3, NMSE 1e-9;
 *   - backward-filter and bias gradients (sums over the batch and every
 *     output pixel, up to 6272 terms, values O(10)): atol 1e-3, rtol 1e-2,
 *     NMSE 1e-8;
 *   - exact: max-pool (a selection; the GPU gathers the gradient sums in the
 *     order the CPU scatters them) and its argmax, fill, relu, mul, add, sub,
 *     scale, axpy (in double, rounded once, on both), dropout, mask_images:
 *     the same float operations in the same order;
 *   - softmax_xent: loss 1e-6 relative, dlogits 1e-6 relative + 1e-9 (its
 *     double sum is reduced in another order); dlr_loss 1e-5 relative + 1e-6;
 *   - APGD: the L-inf step and the bookkeeping exact, the L2 step 1e-5
 *     relative + 1e-6 (row norms summed in another order);
 *   - Square: the proposals (L-inf and L2) and the bookkeeping exact; FAB-T: the difference
 *     and the bookkeeping exact, the step 1e-5 relative + 1e-6 (row sums in
 *     another order); DeepFool's step likewise; CW-L2's margin exact, its
 *     bookkeeping and Adam step (tanhf) 1e-5 relative + 1e-6.
 * TF32: rtol 1e-2, NMSE 1e-5, atol 1e-2 x the RMS of the reference.
 * Backward convolutions and dense layers, dropout and softmax_xent must
 * give the same bits twice. Gradient mode: central differences with h = 1e-2 (1e-3 for relu
 * and max-pool) at 24 elements per input. Linear ops are exact up to
 * rounding (unaffected outputs keep their bits), so |fd - analytic| <= 1e-4
 * + 1e-3 |analytic|; softmax_xent 2e-6 + 1e-3 |analytic| (its gradients
 * are O(1/n)): a 3% error in its gradient scale fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "op_harness.h"

static const op_tol TOL_FWD = {1e-4, 1e-3, 1e-9};
static const op_tol TOL_BWD_W = {1e-3, 1e-2, 1e-8};
static const op_tol TOL_FD = {1e-4, 1e-3, 0};
static const op_tol EXACT = {0, 0, 0};

/* ---- convolution and dense: x, w, bias, dy, y, dx, dw, db ------------------------ */

enum { L_X, L_W, L_B, L_DY, L_Y, L_DX, L_DW, L_DB };

#define F(k) ((float *)t[k])

static int conv_fwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->conv2d_fwd(b, F(L_Y), F(L_X), F(L_W), r->bias ? F(L_B) : NULL, &r->cs);
}
static int conv_bwd_data(foil_backend *b, void *const *t, const op_row *r) {
    return b->conv2d_bwd_data(b, F(L_DX), F(L_DY), F(L_W), &r->cs);
}
static int conv_bwd_filter(foil_backend *b, void *const *t, const op_row *r) {
    return b->conv2d_bwd_filter(b, F(L_DW), r->bias ? F(L_DB) : NULL, F(L_DY), F(L_X), &r->cs);
}
static int dense_fwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->dense_fwd(b, F(L_Y), F(L_X), F(L_W), r->bias ? F(L_B) : NULL, r->n, r->in_dim,
                        r->out_dim);
}
static int dense_bwd_data(foil_backend *b, void *const *t, const op_row *r) {
    return b->dense_bwd_data(b, F(L_DX), F(L_DY), F(L_W), r->n, r->in_dim, r->out_dim);
}
static int dense_bwd_filter(foil_backend *b, void *const *t, const op_row *r) {
    return b->dense_bwd_filter(b, F(L_DW), F(L_DB), F(L_DY), F(L_X), r->n, r->in_dim,
                               r->out_dim);
}

/* The three rows of a layer with input nx, weights nw (fan-in fan), k
 * outputs per bias and ny outputs. */
static void linear_rows(op_table *tab, const char *kind, const char *name, const op_row *shape,
                        size_t nx, size_t nw, size_t nb, size_t ny, size_t fan, int tf32,
                        op_fn fwd, op_fn bwd_data, op_fn bwd_filter, int filter_bias) {
    const float bound = 1.0f / sqrtf((float)fan);
    const char *what[3] = {"fwd", "bwd_data", "bwd_filter"};
    for (int i = 0; i < 3; i++) {
        char label[80];
        snprintf(label, sizeof label, "%s_%s %s", kind, what[i], name);
        op_row *r = op_add(tab, label);
        r->cs = shape->cs, r->n = shape->n, r->in_dim = shape->in_dim;
        r->out_dim = shape->out_dim, r->bias = shape->bias;
        op_set(r, L_X, OP_IN, nx, 0, 1, 0);
        op_set(r, L_W, OP_IN, nw, -bound, bound, 0);
        if (r->bias || (i == 2 && filter_bias)) op_set(r, L_B, OP_IN, nb, -0.1f, 0.1f, 0);
        r->tf32 = tf32, r->fwd = fwd, r->fd_y = L_Y, r->fd_h = 1e-2f, r->fd_tol = TOL_FD;
        r->fd_smooth = 1; /* linear in each input: no kinks */
        if (i == 0) {
            op_set(r, L_Y, OP_OUT, ny, 0, 0, 0);
            r->run = fwd, r->tol = TOL_FWD;
            continue;
        }
        op_set(r, L_DY, OP_IN, ny, -1, 1, 0);
        op_set(r, L_Y, OP_SCRATCH, ny, 0, 0, 0);
        r->fd_dy = L_DY, r->twice = 1;
        if (i == 1) {
            op_set(r, L_DX, OP_OUT, nx, 0, 0, 0);
            r->run = bwd_data, r->tol = TOL_FWD;
            r->npairs = 1, r->pair[0][0] = L_X, r->pair[0][1] = L_DX;
        } else {
            op_set(r, L_DW, OP_OUT, nw, 0, 0, 0);
            r->run = bwd_filter, r->tol = TOL_BWD_W;
            r->npairs = 1, r->pair[0][0] = L_W, r->pair[0][1] = L_DW;
            if (r->bias || filter_bias) {
                op_set(r, L_DB, OP_OUT, nb, 0, 0, 0);
                if (r->bias) r->npairs = 2, r->pair[1][0] = L_B, r->pair[1][1] = L_DB;
            }
        }
    }
}

static foil_conv_shape conv_same(int n, int c, int h, int w, int k, int r, int s, int sh,
                                 int sw) {
    foil_conv_shape cs = {n, c, h, w, k, r, s, sh, sw, 0, 0, 0, 0};
    cs.oh = (h + sh - 1) / sh; /* TensorFlow's 'same', as host/nn/model.c */
    cs.ow = (w + sw - 1) / sw;
    int th = (cs.oh - 1) * sh + r - h, tw = (cs.ow - 1) * sw + s - w;
    cs.pad_h = th > 0 ? th / 2 : 0;
    cs.pad_w = tw > 0 ? tw / 2 : 0;
    return cs;
}

static foil_conv_shape conv_explicit(int n, int c, int h, int w, int k, int r, int s,
                                     int stride, int pad) {
    foil_conv_shape cs = {n, c, h, w, k, r, s, stride, stride, pad, pad, 0, 0};
    cs.oh = (h + 2 * pad - r) / stride + 1;
    cs.ow = (w + 2 * pad - s) / stride + 1;
    return cs;
}

static void conv(op_table *tab, const char *name, foil_conv_shape cs, int bias, int tf32) {
    op_row shape = {.cs = cs, .bias = bias};
    size_t nx = (size_t)cs.n * cs.c * cs.h * cs.w, nw = (size_t)cs.k * cs.c * cs.r * cs.s;
    size_t ny = (size_t)cs.n * cs.k * cs.oh * cs.ow;
    linear_rows(tab, "conv2d", name, &shape, nx, nw, (size_t)cs.k, ny,
                (size_t)cs.c * cs.r * cs.s, tf32, conv_fwd, conv_bwd_data, conv_bwd_filter, 0);
}

static void dense(op_table *tab, int n, int in_dim, int out_dim, int bias, int tf32) {
    char name[64];
    snprintf(name, sizeof name, "%d->%d n=%d%s", in_dim, out_dim, n, bias ? "" : " nobias");
    op_row shape = {.n = n, .in_dim = in_dim, .out_dim = out_dim, .bias = bias};
    /* dense_bwd_filter always writes the bias gradient */
    linear_rows(tab, "dense", name, &shape, (size_t)n * in_dim, (size_t)in_dim * out_dim,
                (size_t)out_dim, (size_t)n * out_dim, (size_t)in_dim, tf32, dense_fwd,
                dense_bwd_data, dense_bwd_filter, 1);
}

/* ---- max-pool: x, dy, y, argmax, dx, argmax scratch ---------------------------- */

enum { P_X, P_DY, P_Y, P_AM, P_DX, P_AM2 };

static int pool_fwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->maxpool_fwd(b, F(P_Y), (int32_t *)t[P_AM], F(P_X), &r->ps);
}
static int pool_fwd_scratch(foil_backend *b, void *const *t, const op_row *r) {
    return b->maxpool_fwd(b, F(P_Y), (int32_t *)t[P_AM2], F(P_X), &r->ps);
}
static int pool_bwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->maxpool_bwd(b, F(P_DX), F(P_DY), (const int32_t *)t[P_AM], &r->ps);
}
/* four levels: most windows hold several maxima, and the first must win */
static void quantize(void *const *t, const op_row *r) {
    if (!r->alpha) return;
    size_t n = (size_t)r->ps.n * r->ps.c * r->ps.h * r->ps.w;
    for (size_t i = 0; i < n; i++) F(P_X)[i] = floorf(F(P_X)[i] * 4.0f) / 4.0f;
}
static int pool_prep_ties(foil_backend *b, void *const *t, const op_row *r) {
    (void)b;
    quantize(t, r);
    return 0;
}
static int pool_prep_bwd(foil_backend *b, void *const *t, const op_row *r) {
    quantize(t, r);
    return pool_fwd(b, t, r);
}

static void pool(op_table *tab, const char *name, int n, int c, int h, int w, int size,
                 int stride, int ties) {
    foil_pool_shape ps = {n, c, h, w, size, stride, (h - size) / stride + 1,
                          (w - size) / stride + 1};
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * ps.oh * ps.ow;
    char label[80];
    snprintf(label, sizeof label, "maxpool_fwd %s%s", name, ties ? " ties" : "");
    op_row *r = op_add(tab, label);
    r->ps = ps, r->alpha = (float)ties, r->run = pool_fwd, r->prep = pool_prep_ties;
    r->tol = EXACT;
    op_set(r, P_X, OP_IN, nx, 0, 1, 0);
    op_set(r, P_Y, OP_OUT, ny, 0, 0, 0);
    op_set(r, P_AM, OP_OUT, ny, 0, 0, 1);
    snprintf(label, sizeof label, "maxpool_bwd %s%s", name, ties ? " ties" : "");
    r = op_add(tab, label);
    r->ps = ps, r->alpha = (float)ties, r->run = pool_bwd, r->prep = pool_prep_bwd;
    r->tol = EXACT;
    op_set(r, P_X, OP_IN, nx, 0, 1, 0);
    op_set(r, P_DY, OP_IN, ny, -1, 1, 0);
    op_set(r, P_Y, OP_SCRATCH, ny, 0, 0, 0);
    op_set(r, P_AM, OP_DERIVED, ny, 0, 0, 1);
    op_set(r, P_DX, OP_OUT, nx, 0, 0, 0);
    op_set(r, P_AM2, OP_SCRATCH, ny, 0, 0, 1);
    r->fwd = pool_fwd_scratch, r->fd_y = P_Y, r->fd_dy = P_DY, r->fd_h = 1e-3f;
    r->fd_tol = TOL_FD;
    if (!ties) r->npairs = 1, r->pair[0][0] = P_X, r->pair[0][1] = P_DX; /* ties: all kinks */
}

/* ---- elementwise: x, y, out, aux, scratch --------------------------------------- */

enum { E_X, E_Y, E_OUT, E_AUX, E_S };

static int ew_fill(foil_backend *b, void *const *t, const op_row *r) {
    return b->fill(b, F(E_OUT), 0.37f, r->len);
}
static int ew_relu(foil_backend *b, void *const *t, const op_row *r) {
    return b->relu_fwd(b, F(E_OUT), F(E_X), r->len);
}
static int ew_relu_scratch(foil_backend *b, void *const *t, const op_row *r) {
    return b->relu_fwd(b, F(E_S), F(E_X), r->len);
}
static int ew_relu_aux(foil_backend *b, void *const *t, const op_row *r) {
    return b->relu_fwd(b, F(E_AUX), F(E_X), r->len);
}
static int ew_relu_bwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->relu_bwd(b, F(E_OUT), F(E_Y), F(E_AUX), r->len);
}
static int ew_mul(foil_backend *b, void *const *t, const op_row *r) {
    return b->mul(b, F(E_OUT), F(E_X), F(E_Y), r->len);
}
static int ew_add(foil_backend *b, void *const *t, const op_row *r) {
    return b->add(b, F(E_OUT), F(E_X), F(E_Y), r->len);
}
static int ew_add_inplace(foil_backend *b, void *const *t, const op_row *r) {
    return b->add(b, F(E_OUT), F(E_OUT), F(E_X), r->len);
}
static int ew_sub(foil_backend *b, void *const *t, const op_row *r) {
    return b->sub(b, F(E_OUT), F(E_X), F(E_Y), r->len);
}
static int ew_scale(foil_backend *b, void *const *t, const op_row *r) {
    return b->scale(b, F(E_OUT), F(E_X), r->alpha, r->len);
}
static int ew_scale_inplace(foil_backend *b, void *const *t, const op_row *r) {
    return b->scale(b, F(E_OUT), F(E_OUT), r->alpha, r->len);
}
static int ew_axpy(foil_backend *b, void *const *t, const op_row *r) {
    return b->axpy(b, F(E_OUT), r->alpha, F(E_X), r->len);
}
static int ew_lerp(foil_backend *b, void *const *t, const op_row *r) {
    return b->lerp_rows(b, F(E_OUT), F(E_X), F(E_Y), F(E_AUX), (int)r->n, r->len / r->n);
}
static int ew_dropout(foil_backend *b, void *const *t, const op_row *r) {
    const uint64_t stream = FOIL_STREAM(FOIL_RNG_DROPOUT, (117u << 8) | 5u);
    return b->dropout_fwd(b, F(E_OUT), F(E_AUX), F(E_X), 0.3f, 99, stream, r->len);
}

/* A row over n elements: x and y inputs, out (OUT or INOUT). */
static op_row *ew(op_table *tab, const char *name, op_fn run, int ninputs, int out_role,
                  float alpha) {
    const size_t n = 100003; /* odd: a partial last block */
    op_row *r = op_add(tab, name);
    r->len = n, r->run = run, r->alpha = alpha, r->tol = EXACT;
    if (ninputs > 0) op_set(r, E_X, OP_IN, n, -1, 1, 0);
    if (ninputs > 1) op_set(r, E_Y, OP_IN, n, -1, 1, 0);
    op_set(r, E_OUT, out_role, n, -1, 1, 0);
    return r;
}

static void elementwise(op_table *tab) {
    ew(tab, "fill", ew_fill, 0, OP_OUT, 0);
    ew(tab, "relu_fwd", ew_relu, 1, OP_OUT, 0);
    op_row *r = ew(tab, "relu_bwd", ew_relu_bwd, 2, OP_OUT, 0); /* y: the output gradient */
    op_set(r, E_AUX, OP_DERIVED, r->len, 0, 0, 0);              /* relu(x), about half 0 */
    op_set(r, E_S, OP_SCRATCH, r->len, 0, 0, 0);
    r->prep = ew_relu_aux, r->fwd = ew_relu_scratch, r->fd_y = E_S, r->fd_dy = E_Y;
    r->fd_h = 1e-3f, r->fd_tol = TOL_FD, r->npairs = 1, r->pair[0][0] = E_X;
    r->pair[0][1] = E_OUT;
    ew(tab, "mul", ew_mul, 2, OP_OUT, 0);
    ew(tab, "add", ew_add, 2, OP_OUT, 0);
    ew(tab, "add in place", ew_add_inplace, 1, OP_INOUT, 0);
    ew(tab, "sub", ew_sub, 2, OP_OUT, 0);
    ew(tab, "scale", ew_scale, 1, OP_OUT, 0.37f);
    ew(tab, "scale in place", ew_scale_inplace, 0, OP_INOUT, -1.5f);
    ew(tab, "axpy", ew_axpy, 1, OP_INOUT, 0.3f);
    r = ew(tab, "lerp_rows", ew_lerp, 2, OP_OUT, 0); /* 7 rows of 14286 */
    r->n = 7, r->len = 7 * 14286;
    op_set(r, E_X, OP_IN, r->len, -1, 1, 0);
    op_set(r, E_Y, OP_IN, r->len, -1, 1, 0);
    op_set(r, E_OUT, OP_OUT, r->len, 0, 0, 0);
    op_set(r, E_AUX, OP_IN, 7, 0, 1, 0); /* a position per row */
    r = ew(tab, "dropout_fwd", ew_dropout, 1, OP_OUT, 0);
    op_set(r, E_AUX, OP_OUT, r->len, 0, 0, 0); /* the mask */
    r->twice = 1;
}

/* ---- softmax cross-entropy: logits, labels, loss, dlogits, loss scratch --------- */

enum { S_LOGITS, S_LABELS, S_LOSS, S_DLOGITS, S_SLOSS };

static int sx_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->softmax_xent(b, F(S_LOSS), r->bias ? F(S_DLOGITS) : NULL, F(S_LOGITS),
                           (const int32_t *)t[S_LABELS], r->n, r->classes, r->alpha);
}
static int sx_fwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->softmax_xent(b, F(S_SLOSS), NULL, F(S_LOGITS), (const int32_t *)t[S_LABELS],
                           r->n, r->classes, 1.0f);
}

static void softmax_xent(op_table *tab, int n, int classes, int grads) {
    char name[64];
    snprintf(name, sizeof name, "softmax_xent C=%d%s", classes, grads ? "" : " no-grad");
    op_row *r = op_add(tab, name);
    size_t total = (size_t)n * classes;
    r->n = n, r->classes = classes, r->bias = grads, r->alpha = 1.0f / (float)n;
    r->run = sx_run, r->twice = 1;
    op_set(r, S_LOGITS, OP_IN, total, -20, 20, 0);
    op_set(r, S_LABELS, OP_IN, (size_t)n, 0, (float)classes, 1);
    op_set(r, S_LOSS, OP_OUT, (size_t)n, 0, 0, 0);
    r->tol = (op_tol){1e-6, 1e-6, 1e-12};
    if (!grads) return;
    op_set(r, S_DLOGITS, OP_OUT, total, 0, 0, 0);
    r->t[S_DLOGITS].has_tol = 1, r->t[S_DLOGITS].tol = (op_tol){1e-9, 1e-6, 1e-12};
    op_set(r, S_SLOSS, OP_SCRATCH, (size_t)n, 0, 0, 0);
    r->fwd = sx_fwd, r->fd_y = S_SLOSS, r->fd_scale = r->alpha, r->fd_h = 1e-2f, r->fd_smooth = 1;
    r->fd_tol = (op_tol){2e-6, 1e-3, 0};
    r->npairs = 1, r->pair[0][0] = S_LOGITS, r->pair[0][1] = S_DLOGITS;
}

/* ---- TRADES' KL: clean logits, adversarial logits, loss, dp, dq, loss scratch ---- */

enum { K_P, K_Q, K_LOSS, K_DP, K_DQ, K_SLOSS };

static int kl_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->kl_div(b, F(K_LOSS), r->bias ? F(K_DP) : NULL, r->bias ? F(K_DQ) : NULL, F(K_P),
                     F(K_Q), r->n, r->classes, r->alpha);
}
static int kl_fwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->kl_div(b, F(K_SLOSS), NULL, NULL, F(K_P), F(K_Q), r->n, r->classes, 1.0f);
}

/* the gradient mode checks both gradients against finite differences */
static void kl_div(op_table *tab, int n, int classes, int grads) {
    char name[64];
    snprintf(name, sizeof name, "kl_div C=%d%s", classes, grads ? "" : " no-grad");
    op_row *r = op_add(tab, name);
    size_t total = (size_t)n * classes;
    r->n = n, r->classes = classes, r->bias = grads, r->alpha = 1.0f / (float)n;
    r->run = kl_run, r->twice = 1;
    op_set(r, K_P, OP_IN, total, -6, 6, 0);
    op_set(r, K_Q, OP_IN, total, -6, 6, 0);
    op_set(r, K_LOSS, OP_OUT, (size_t)n, 0, 0, 0);
    r->tol = (op_tol){1e-6, 1e-6, 1e-12};
    if (!grads) return;
    op_set(r, K_DP, OP_OUT, total, 0, 0, 0);
    op_set(r, K_DQ, OP_OUT, total, 0, 0, 0);
    r->t[K_DP].has_tol = r->t[K_DQ].has_tol = 1;
    r->t[K_DP].tol = r->t[K_DQ].tol = (op_tol){1e-9, 1e-6, 1e-12};
    op_set(r, K_SLOSS, OP_SCRATCH, (size_t)n, 0, 0, 0);
    r->fwd = kl_fwd, r->fd_y = K_SLOSS, r->fd_scale = r->alpha, r->fd_h = 1e-2f, r->fd_smooth = 1;
    r->fd_tol = (op_tol){2e-6, 1e-3, 0};
    r->npairs = 2;
    r->pair[0][0] = K_P, r->pair[0][1] = K_DP, r->pair[1][0] = K_Q, r->pair[1][1] = K_DQ;
}

/* ---- feature masks: x, fill, segments, masks, out ------------------------------- */

enum { M_X, M_FILL, M_SEG, M_MASK, M_OUT };

static int mask_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->mask_images(b, F(M_OUT), F(M_X), F(M_FILL), (const int32_t *)t[M_SEG],
                          (const uint8_t *)t[M_MASK], r->n, r->in_dim, r->out_dim, r->classes,
                          r->cs.c, r->len);
}

/* images x samples perturbations, rows [first, first + count) of them, with
 * segments in [-1, nfeat] (both ends: off) */
static void mask_images(op_table *tab, int images, int samples, int first, int count,
                        int nfeat, int channels) {
    char name[80];
    snprintf(name, sizeof name, "mask_images %d x %d rows %d+%d, %d features, %d channels",
             images, samples, first, count, nfeat, channels);
    op_row *r = op_add(tab, name);
    const size_t plane = 28 * 28, row = plane * (size_t)channels;
    r->n = first, r->in_dim = count, r->out_dim = samples, r->classes = nfeat;
    r->cs.c = channels, r->len = plane, r->run = mask_run, r->tol = EXACT;
    op_set(r, M_X, OP_IN, (size_t)images * row, 0, 1, 0);
    op_set(r, M_FILL, OP_IN, (size_t)images * row, -1, 0, 0);
    op_set(r, M_SEG, OP_IN, (size_t)images * plane, -1, (float)nfeat + 1, 1);
    op_set(r, M_MASK, OP_IN, (size_t)count * nfeat, 0, 2, 8);
    op_set(r, M_OUT, OP_OUT, (size_t)count * row, 0, 0, 0);
}

static int occlude_run(foil_backend *b, void *const *t, const op_row *r) {
    foil_window_shape ws = {r->ps.h, r->ps.w, r->ps.size, r->ps.size, r->ps.stride, r->ps.stride,
                            r->ps.oh, r->ps.ow};
    return b->occlude(b, F(M_OUT), F(M_X), F(M_FILL), r->n, r->in_dim, r->cs.c, &ws);
}

/* rows [first, first + count) of images x windows occlusions (window, stride
 * over 28 x 28, Captum's counts: the last windows cut by the border) */
static void occlude(op_table *tab, int images, int first, int count, int window, int stride,
                    int channels) {
    char name[80];
    const int side = 28, nw = (side - window + stride - 1) / stride + 1;
    snprintf(name, sizeof name, "occlude %d images rows %d+%d, window %d stride %d, %d ch",
             images, first, count, window, stride, channels);
    op_row *r = op_add(tab, name);
    const size_t row = (size_t)side * side * channels;
    r->ps = (foil_pool_shape){0, 0, side, side, window, stride, nw, nw};
    r->n = first, r->in_dim = count, r->cs.c = channels, r->run = occlude_run, r->tol = EXACT;
    op_set(r, M_X, OP_IN, (size_t)images * row, 0, 1, 0);
    op_set(r, M_FILL, OP_IN, (size_t)images * row, -1, 0, 0);
    op_set(r, M_OUT, OP_OUT, (size_t)count * row, 0, 0, 0);
}

#include "op_rows_attack.h" /* APGD, Square, FAB-T, DeepFool, CW-L2 */

/* ---- the table --------------------------------------------------------------- */

static void build(op_table *tab) {
    /* the Madry and CleverHans MNIST shapes, asymmetric 'same', explicit and
     * cropped padding; tf32 marks the rows of the TF32 pass */
    conv(tab, "madry_conv1", conv_same(8, 1, 28, 28, 32, 5, 5, 1, 1), 1, 1);
    conv(tab, "madry_conv2", conv_same(8, 32, 14, 14, 64, 5, 5, 1, 1), 1, 1);
    conv(tab, "madry_conv2 nobias", conv_same(8, 32, 14, 14, 64, 5, 5, 1, 1), 0, 0);
    conv(tab, "cleverhans_conv1", conv_same(8, 1, 28, 28, 64, 8, 8, 2, 2), 1, 0);
    conv(tab, "cleverhans_conv2", conv_explicit(8, 64, 14, 14, 128, 6, 6, 2, 0), 1, 0);
    conv(tab, "asym_7x7_k4s2", conv_same(4, 3, 7, 7, 5, 4, 4, 2, 2), 1, 0);
    /* 'same' with a 4x4 kernel at stride 1: 1 row of zeros on top, 2 at the bottom */
    conv(tab, "asym_28x28_k4s1", conv_same(4, 8, 28, 28, 16, 4, 4, 1, 1), 1, 1);
    /* symmetric in h, asymmetric in w; a 3x5 kernel with strides 1/2 */
    conv(tab, "asym_w_only_10x16", conv_same(3, 2, 10, 16, 4, 3, 5, 1, 2), 0, 0);
    conv(tab, "explicit_pad2_13x11", conv_explicit(5, 4, 13, 11, 6, 5, 5, 2, 2), 1, 0);
    /* an output shorter than the input allows: rows 7 and 8 are never read */
    conv(tab, "cropped_9x9_oh3", (foil_conv_shape){2, 3, 9, 9, 4, 3, 3, 2, 2, 0, 0, 3, 4}, 1, 0);
    pool(tab, "2x2s2_28x28", 8, 32, 28, 28, 2, 2, 1);
    pool(tab, "2x2s2_28x28", 8, 32, 28, 28, 2, 2, 0);
    pool(tab, "3x3s2_13x13", 4, 16, 13, 13, 3, 2, 1);
    pool(tab, "2x2s2_7x7", 4, 8, 7, 7, 2, 2, 0);
    const int ns[] = {1, 7, 128};
    for (int i = 0; i < 3; i++) {
        dense(tab, ns[i], 3136, 1024, 1, ns[i] == 128);
        dense(tab, ns[i], 1024, 10, 1, ns[i] == 128);
    }
    dense(tab, 7, 1024, 10, 0, 0);
    elementwise(tab);
    softmax_xent(tab, 257, 10, 1);
    softmax_xent(tab, 257, 1000, 1); /* lanes stride over many classes */
    softmax_xent(tab, 257, 10, 0);
    softmax_xent(tab, 257, 1000, 0);
    kl_div(tab, 257, 10, 1);
    kl_div(tab, 65, 1000, 1);
    kl_div(tab, 257, 10, 0);
    mask_images(tab, 5, 7, 3, 29, 49, 1);
    mask_images(tab, 3, 100, 0, 300, 7, 3);
    occlude(tab, 3, 5, 230, 4, 3, 1); /* 9 x 9 windows */
    occlude(tab, 2, 0, 72, 5, 5, 3);  /* 6 x 6 windows of 5: the last ones 3 wide */
    dlr_loss(tab, 257, 10, 0);
    dlr_loss(tab, 257, 10, 1);
    dlr_loss(tab, 33, 100, 1);
    apgd_step(tab, 37, 0, 30, 1.0f);
    apgd_step(tab, 37, 0, 300, 0.75f);
    apgd_step(tab, 37, 1, 1500, 0.75f);
    apgd_step(tab, 37, 1, 100, 1.0f);
    apgd_book(tab, 129, 0, 0);
    apgd_book(tab, 129, 1, 22);
    square_propose(tab, 37, 50, 1, 28, 28, 0, 25, 0);
    square_propose(tab, 37, 50, 1, 28, 28, 9, 4, 0);
    square_propose(tab, 20, 30, 3, 10, 12, 1, 10, 0); /* the square spans the height */
    square_propose(tab, 37, 50, 1, 28, 28, 0, 25, 1);
    square_propose(tab, 37, 50, 1, 28, 28, 9, 5, 1);
    square_propose(tab, 20, 30, 3, 10, 12, 1, 9, 1);
    square_update(tab, 129, 200, 10);
    fab_diff(tab, 257, 10);
    fab_step(tab, 37, 3.0f, 0.1f, 0);
    fab_step(tab, 37, 300.0f, 0.5f, 0);
    fab_step(tab, 37, 3.0f, 0.1f, 1);
    fab_step(tab, 37, 300.0f, 0.5f, 1);
    fab_update(tab, 129, 0);
    fab_update(tab, 129, 1);
    deepfool_step(tab, 37, 10);
    cw_rows(tab, 37);
}

static int selected(const op_row *r, const char *word) {
    return !word || strstr(r->name, word) != NULL;
}

static foil_backend *cpu_or_die(void) {
    foil_err err;
    foil_backend *cpu = foil_backend_cpu_create(&err);
    if (!cpu) {
        fprintf(stderr, "CPU backend: %s\n", err.msg);
        exit(1);
    }
    return cpu;
}

static int parity(op_table *tab, const char *word) {
    foil_backend *gpu = parity_gpu_or_skip(), *cpu = cpu_or_die();
    const char *pass[3] = {"fp32 (TF32 off)", "TF32", "fp32 again: plans made under TF32 must "
                                                      "be re-chosen"};
    for (int p = 0; p < 3; p++) {
        printf("== %s\n", pass[p]);
        TU_CHECK(gpu->set_precision(gpu, p == 1) == 0, "set_precision: %s", gpu->err.msg);
        for (int i = 0; i < tab->n; i++)
            if (selected(&tab->rows[i], word) && (p == 0 || tab->rows[i].tf32))
                op_parity(cpu, gpu, &tab->rows[i], i, p == 1);
    }
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return tu_finish("test_gpu_ops");
}

static int gradients(op_table *tab, const char *word) {
    foil_backend *cpu = cpu_or_die();
    int rows = 0;
    for (int i = 0; i < tab->n; i++)
        if (selected(&tab->rows[i], word) && tab->rows[i].npairs) {
            op_gradient(cpu, &tab->rows[i], i);
            rows++;
        }
    TU_CHECK(rows > 0 || word, "no row has a gradient to check");
    cpu->destroy(cpu);
    return tu_finish("test_gpu_ops --grad");
}

static int perf(op_table *tab, const char *word) {
    char why[512];
    foil_backend *cpu = cpu_or_die(), *gpu = NULL;
    foil_err err;
    if (foil_cuda_device_count(why, sizeof why) > 0 && !(gpu = foil_backend_cuda_create(0, &err)))
        fprintf(stderr, "no GPU column: %s\n", err.msg);
    printf("| op | CPU us/call | %s |\n|---|---:|---:|\n", gpu ? "GPU us/call" : "(no GPU)");
    for (int i = 0; i < tab->n; i++) {
        const op_row *r = &tab->rows[i];
        if (!selected(r, word)) continue;
        double tc = op_time(cpu, r, i, cpu);
        if (gpu) printf("| %s | %.1f | %.1f |\n", r->name, tc, op_time(gpu, r, i, cpu));
        else printf("| %s | %.1f | - |\n", r->name, tc);
    }
    if (gpu) gpu->destroy(gpu);
    cpu->destroy(cpu);
    return 0;
}

int main(int argc, char **argv) {
    foil_cpu_restart(argv); /* the CPU oracle on OpenBLAS's kernels for this CPU, as foil runs */
    static op_table tab;
    build(&tab);
    int mode = 0; /* parity, grad, perf */
    const char *word = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--grad")) mode = 1;
        else if (!strcmp(argv[i], "--perf")) mode = 2;
        else word = argv[i];
    }
    return mode == 1 ? gradients(&tab, word) : mode == 2 ? perf(&tab, word) : parity(&tab, word);
}
