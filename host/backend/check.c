/* The argument checks in front of every backend (foil/backend.h): shapes,
 * class counts, row counts and the buffers an op's options need. A backend's
 * own ops then handle valid arguments only, and both backends refuse the
 * same calls with the same message. What only one backend cannot do (cuDNN's
 * 32-bit sizes) stays in that backend; what depends on the data (a label out
 * of range) is the op's own business. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foil/backend.h"

#define IMPL(b) ((b)->impl)

/* ---- the checks -------------------------------------------------------------- */

static int conv_check(foil_backend *b, const char *op, const foil_conv_shape *cs) {
    if (cs->n < 1 || cs->c < 1 || cs->h < 1 || cs->w < 1 || cs->k < 1 || cs->r < 1 ||
        cs->s < 1 || cs->stride_h < 1 || cs->stride_w < 1 || cs->pad_h < 0 || cs->pad_w < 0 ||
        cs->oh < 1 || cs->ow < 1)
        return foil_fail(&b->err,
                         "%s: invalid shape (n %d, c %d, %dx%d, k %d, kernel %dx%d, "
                         "stride %d/%d, pad %d/%d, out %dx%d)",
                         op, cs->n, cs->c, cs->h, cs->w, cs->k, cs->r, cs->s, cs->stride_h,
                         cs->stride_w, cs->pad_h, cs->pad_w, cs->oh, cs->ow);
    return 0;
}

/* Windows inside the input (no padding), and argmax indices that fit int32. */
static int pool_check(foil_backend *b, const char *op, const foil_pool_shape *ps) {
    if (ps->n < 1 || ps->c < 1 || ps->h < 1 || ps->w < 1 || ps->size < 1 || ps->stride < 1 ||
        ps->oh < 1 || ps->ow < 1 || (int64_t)(ps->oh - 1) * ps->stride + ps->size > ps->h ||
        (int64_t)(ps->ow - 1) * ps->stride + ps->size > ps->w)
        return foil_fail(&b->err,
                         "%s: invalid shape (n %d, c %d, %dx%d, window %d, stride %d, out %dx%d)",
                         op, ps->n, ps->c, ps->h, ps->w, ps->size, ps->stride, ps->oh, ps->ow);
    if ((int64_t)ps->n * ps->c > INT32_MAX / ((int64_t)ps->h * ps->w))
        return foil_fail(&b->err, "%s: input of %d x %d x %dx%d too large for int32 indices", op,
                         ps->n, ps->c, ps->h, ps->w);
    return 0;
}

static int dense_check(foil_backend *b, const char *op, int n, int in_dim, int out_dim) {
    if (n < 0 || in_dim < 1 || out_dim < 1)
        return foil_fail(&b->err, "%s: invalid sizes (n %d, in %d, out %d)", op, n, in_dim,
                         out_dim);
    return 0;
}

static int rows_check(foil_backend *b, const char *op, int n) {
    return n < 0 ? foil_fail(&b->err, "%s: %d rows (must be >= 0)", op, n) : 0;
}

/* n rows of `classes` logits: the class count matters only when there are rows. */
static int classes_check(foil_backend *b, const char *op, int n, int classes) {
    if (rows_check(b, op, n)) return -1;
    if (n > 0 && classes <= 0)
        return foil_fail(&b->err, "%s: %d classes (must be positive)", op, classes);
    return 0;
}

/* ---- the ops behind them ------------------------------------------------------ */

static int chk_conv2d_fwd(foil_backend *b, float *out, const float *in, const float *w,
                          const float *bias, const foil_conv_shape *cs) {
    if (conv_check(b, "conv2d_fwd", cs)) return -1;
    return IMPL(b)->conv2d_fwd(b, out, in, w, bias, cs);
}
static int chk_conv2d_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                               const foil_conv_shape *cs) {
    if (conv_check(b, "conv2d_bwd_data", cs)) return -1;
    return IMPL(b)->conv2d_bwd_data(b, din, dout, w, cs);
}
static int chk_conv2d_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                                 const float *in, const foil_conv_shape *cs) {
    if (conv_check(b, "conv2d_bwd_filter", cs)) return -1;
    return IMPL(b)->conv2d_bwd_filter(b, dw, dbias, dout, in, cs);
}
static int chk_maxpool_fwd(foil_backend *b, float *out, int32_t *argmax, const float *in,
                           const foil_pool_shape *ps) {
    if (pool_check(b, "maxpool_fwd", ps)) return -1;
    return IMPL(b)->maxpool_fwd(b, out, argmax, in, ps);
}
static int chk_maxpool_bwd(foil_backend *b, float *din, const float *dout, const int32_t *argmax,
                           const foil_pool_shape *ps) {
    if (pool_check(b, "maxpool_bwd", ps)) return -1;
    return IMPL(b)->maxpool_bwd(b, din, dout, argmax, ps);
}
static int chk_dense_fwd(foil_backend *b, float *out, const float *in, const float *w,
                         const float *bias, int n, int in_dim, int out_dim) {
    if (dense_check(b, "dense_fwd", n, in_dim, out_dim)) return -1;
    return IMPL(b)->dense_fwd(b, out, in, w, bias, n, in_dim, out_dim);
}
static int chk_dense_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                              int n, int in_dim, int out_dim) {
    if (dense_check(b, "dense_bwd_data", n, in_dim, out_dim)) return -1;
    return IMPL(b)->dense_bwd_data(b, din, dout, w, n, in_dim, out_dim);
}
static int chk_dense_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                                const float *in, int n, int in_dim, int out_dim) {
    if (dense_check(b, "dense_bwd_filter", n, in_dim, out_dim)) return -1;
    return IMPL(b)->dense_bwd_filter(b, dw, dbias, dout, in, n, in_dim, out_dim);
}
static int chk_dropout_fwd(foil_backend *b, float *out, float *mask, const float *in, float rate,
                           uint64_t seed, uint64_t stream, size_t n) {
    if (!(rate >= 0.0f && rate < 1.0f))
        return foil_fail(&b->err, "dropout_fwd: rate %g (must be in [0, 1))", (double)rate);
    return IMPL(b)->dropout_fwd(b, out, mask, in, rate, seed, stream, n);
}
static int chk_softmax_xent(foil_backend *b, float *loss, float *dlogits, const float *logits,
                            const int32_t *labels, int n, int classes, float grad_scale) {
    if (classes_check(b, "softmax_xent", n, classes)) return -1;
    return IMPL(b)->softmax_xent(b, loss, dlogits, logits, labels, n, classes, grad_scale);
}
static int chk_kl_div(foil_backend *b, float *loss, float *dp, float *dq, const float *logits_p,
                      const float *logits_q, int n, int classes, float grad_scale) {
    if (classes_check(b, "kl_div", n, classes)) return -1;
    return IMPL(b)->kl_div(b, loss, dp, dq, logits_p, logits_q, n, classes, grad_scale);
}
static int chk_sgd_step(foil_backend *b, float *w, float *velocity, const float *grad, size_t n,
                        const foil_sgd_hparams *hp) {
    if (n && hp->momentum != 0.0f && !velocity)
        return foil_fail(&b->err, "sgd_step: momentum %g needs a velocity buffer",
                         (double)hp->momentum);
    return IMPL(b)->sgd_step(b, w, velocity, grad, n, hp);
}
static int chk_gather_rows(foil_backend *b, float *dst, const float *src, const int32_t *idx,
                           int n, size_t row) {
    if (rows_check(b, "gather_rows", n)) return -1;
    return IMPL(b)->gather_rows(b, dst, src, idx, n, row);
}
static int chk_gather_labels(foil_backend *b, int32_t *dst, const int32_t *src,
                             const int32_t *idx, int n) {
    if (rows_check(b, "gather_labels", n)) return -1;
    return IMPL(b)->gather_labels(b, dst, src, idx, n);
}
static int chk_argmax(foil_backend *b, int32_t *out, const float *logits, int n, int classes) {
    if (classes_check(b, "argmax", n, classes)) return -1;
    return IMPL(b)->argmax(b, out, logits, n, classes);
}
static int chk_compare(foil_backend *b, int32_t *out, const int32_t *a, const int32_t *c, int n,
                       int equal) {
    if (rows_check(b, "compare", n)) return -1;
    return IMPL(b)->compare(b, out, a, c, n, equal);
}
static int chk_attack_random_start(foil_backend *b, float *x_adv, const float *x0, int n,
                                   size_t row, const foil_attack_hparams *hp, uint64_t seed,
                                   uint64_t restart, int64_t first, const int32_t *index) {
    if (rows_check(b, "attack_random_start", n)) return -1;
    return IMPL(b)->attack_random_start(b, x_adv, x0, n, row, hp, seed, restart, first, index);
}
static int chk_attack_step(foil_backend *b, float *x_adv, float *velocity, const float *grad,
                           const float *x0, const int32_t *active, int n, size_t row,
                           const foil_attack_hparams *hp) {
    if (hp->rule == FOIL_STEP_MOMENTUM_SIGN && !velocity)
        return foil_fail(&b->err, "attack_step: MI-FGSM needs a velocity buffer");
    if (rows_check(b, "attack_step", n)) return -1;
    return IMPL(b)->attack_step(b, x_adv, velocity, grad, x0, active, n, row, hp);
}
static int chk_select_rows(foil_backend *b, float *dst, const float *src, const int32_t *mask,
                           int n, size_t row) {
    if (rows_check(b, "select_rows", n)) return -1;
    return IMPL(b)->select_rows(b, dst, src, mask, n, row);
}
static int chk_dlr_loss(foil_backend *b, float *loss, float *dlogits, const float *logits,
                        const int32_t *labels, const int32_t *targets, int n, int classes) {
    if (classes_check(b, "dlr_loss", n, classes)) return -1;
    if (n > 0 && classes < (targets ? 4 : 3))
        return foil_fail(&b->err, "dlr_loss: %d classes; the %s DLR loss needs at least %d",
                         classes, targets ? "targeted" : "untargeted", targets ? 4 : 3);
    return IMPL(b)->dlr_loss(b, loss, dlogits, logits, labels, targets, n, classes);
}
static int chk_apgd_step(foil_backend *b, float *x, float *x_prev, const float *grad,
                         const float *x0, const float *step, float alpha, int n, size_t row,
                         const foil_attack_hparams *hp) {
    if (rows_check(b, "apgd_step", n)) return -1;
    if (!(alpha > 0.0f && alpha <= 1.0f))
        return foil_fail(&b->err, "apgd_step: alpha %g is not in (0, 1]", (double)alpha);
    if (!(hp->eps >= 0.0f))
        return foil_fail(&b->err, "apgd_step: eps %g must be >= 0", (double)hp->eps);
    return IMPL(b)->apgd_step(b, x, x_prev, grad, x0, step, alpha, n, row, hp);
}
static int chk_apgd_update(foil_backend *b, const foil_apgd_state *st, float *x_best,
                           float *g_best, float *x_adv, const float *x, const float *grad,
                           const float *loss, const int32_t *fooled, int n, size_t row) {
    if (rows_check(b, "apgd_update", n)) return -1;
    return IMPL(b)->apgd_update(b, st, x_best, g_best, x_adv, x, grad, loss, fooled, n, row);
}
static int chk_apgd_checkpoint(foil_backend *b, const foil_apgd_state *st, float *x, float *grad,
                               const float *x_best, const float *g_best, int k, float rho, int n,
                               size_t row) {
    if (rows_check(b, "apgd_checkpoint", n)) return -1;
    if (k < 1 || !(rho >= 0.0f && rho <= 1.0f))
        return foil_fail(&b->err, "apgd_checkpoint: %d steps, rho %g (need k >= 1, rho in "
                         "[0, 1])", k, (double)rho);
    return IMPL(b)->apgd_checkpoint(b, st, x, grad, x_best, g_best, k, rho, n, row);
}
static int norm_check(foil_backend *b, const char *op, foil_norm norm) {
    if (norm == FOIL_NORM_LINF || norm == FOIL_NORM_L2) return 0;
    return foil_fail(&b->err, "%s: norm %d is neither L-inf nor L2", op, (int)norm);
}
static int chk_square_propose(foil_backend *b, float *x_new, const float *x_best,
                              const float *x0, const int32_t *ids, int n,
                              const foil_square_params *sq) {
    if (rows_check(b, "square_propose", n)) return -1;
    if (sq->channels < 1 || sq->h < 1 || sq->w < 1 || (int64_t)sq->channels * sq->w >= 1 << 24)
        return foil_fail(&b->err, "square_propose: invalid image shape %d x %dx%d",
                         sq->channels, sq->h, sq->w);
    if (sq->iteration < 0 || (sq->iteration > 0 && (sq->size < 1 || sq->size > sq->h ||
                                                    sq->size > sq->w)))
        return foil_fail(&b->err, "square_propose: iteration %d, square of side %d on %dx%d",
                         sq->iteration, sq->size, sq->h, sq->w);
    if (!(sq->eps >= 0.0f))
        return foil_fail(&b->err, "square_propose: eps %g must be >= 0", (double)sq->eps);
    if (norm_check(b, "square_propose", sq->norm)) return -1;
    return IMPL(b)->square_propose(b, x_new, x_best, x0, ids, n, sq);
}
static int chk_square_update(foil_backend *b, float *x_best, float *margin_best,
                             int32_t *queries, const float *x_new, const float *logits,
                             const int32_t *labels, const int32_t *ids, int n, int classes,
                             size_t row) {
    if (classes_check(b, "square_update", n, classes)) return -1;
    if (n > 0 && classes < 2)
        return foil_fail(&b->err, "square_update: %d class; a margin needs at least 2", classes);
    return IMPL(b)->square_update(b, x_best, margin_best, queries, x_new, logits, labels, ids, n,
                                  classes, row);
}
static int chk_fab_diff(foil_backend *b, float *diff, float *dlogits, const float *logits,
                        const int32_t *labels, const int32_t *targets, int n, int classes) {
    if (classes_check(b, "fab_diff", n, classes)) return -1;
    return IMPL(b)->fab_diff(b, diff, dlogits, logits, labels, targets, n, classes);
}
static int chk_fab_step(foil_backend *b, float *x, const float *x0, const float *grad,
                        const float *diff, float eta, float alpha_max, foil_norm norm, int n,
                        size_t row) {
    if (rows_check(b, "fab_step", n) || norm_check(b, "fab_step", norm)) return -1;
    if (!(eta > 0.0f) || !(alpha_max >= 0.0f && alpha_max <= 1.0f))
        return foil_fail(&b->err, "fab_step: eta %g, alpha_max %g (need eta > 0, alpha_max in "
                         "[0, 1])", (double)eta, (double)alpha_max);
    return IMPL(b)->fab_step(b, x, x0, grad, diff, eta, alpha_max, norm, n, row);
}
static int chk_fab_update(foil_backend *b, float *x_adv, float *dist, float *x, const float *x0,
                          const int32_t *fooled, float beta, foil_norm norm, int n, size_t row) {
    if (rows_check(b, "fab_update", n) || norm_check(b, "fab_update", norm)) return -1;
    if (!(beta >= 0.0f && beta <= 1.0f))
        return foil_fail(&b->err, "fab_update: beta %g is not in [0, 1]", (double)beta);
    return IMPL(b)->fab_update(b, x_adv, dist, x, x0, fooled, beta, norm, n, row);
}
static int chk_deepfool_step(foil_backend *b, float *x, float *r_tot, const float *x0,
                             const float *diffs, const float *grads, const int32_t *labels,
                             const int32_t *active, int n, int classes, size_t row,
                             float overshoot) {
    if (classes_check(b, "deepfool_step", n, classes)) return -1;
    if (!(overshoot >= 0.0f))
        return foil_fail(&b->err, "deepfool_step: overshoot %g must be >= 0", (double)overshoot);
    return IMPL(b)->deepfool_step(b, x, r_tot, x0, diffs, grads, labels, active, n, classes, row,
                                  overshoot);
}
static int chk_cw_margin(foil_backend *b, float *loss, float *dlogits, const float *logits,
                         const int32_t *labels, const float *c, float kappa, int n,
                         int classes) {
    if (classes_check(b, "cw_margin", n, classes)) return -1;
    if (n > 0 && classes < 2)
        return foil_fail(&b->err, "cw_margin: %d class; a margin needs at least 2", classes);
    if (!(kappa >= 0.0f))
        return foil_fail(&b->err, "cw_margin: kappa %g must be >= 0", (double)kappa);
    return IMPL(b)->cw_margin(b, loss, dlogits, logits, labels, c, kappa, n, classes);
}
static int chk_cw_update(foil_backend *b, float *best, float *best_adv, int32_t *found,
                         float *dist, const float *x, const float *x0, const int32_t *fooled,
                         int n, size_t row) {
    if (rows_check(b, "cw_update", n)) return -1;
    return IMPL(b)->cw_update(b, best, best_adv, found, dist, x, x0, fooled, n, row);
}
static int chk_cw_step(foil_backend *b, float *w, float *m, float *v, float *x, const float *grad,
                       const float *x0, const int32_t *active, int n, size_t row,
                       const foil_adam_hparams *hp) {
    if (rows_check(b, "cw_step", n)) return -1;
    if (hp->t < 1) return foil_fail(&b->err, "cw_step: Adam step %d (from 1)", hp->t);
    return IMPL(b)->cw_step(b, w, m, v, x, grad, x0, active, n, row, hp);
}
static int chk_flag_nonfinite(foil_backend *b, int32_t *flags, const float *x, int n,
                              size_t row) {
    if (rows_check(b, "flag_nonfinite", n)) return -1;
    return IMPL(b)->flag_nonfinite(b, flags, x, n, row);
}
static int chk_target_output(foil_backend *b, float *value, float *dlogits, const float *logits,
                             const int32_t *target, int n, int classes, foil_target_mode mode) {
    if (classes_check(b, "target_output", n, classes)) return -1;
    return IMPL(b)->target_output(b, value, dlogits, logits, target, n, classes, mode);
}
static int chk_ig_interp(foil_backend *b, float *xs, const float *x, const float *base,
                         const float *alpha, int n, int m, size_t row) {
    if (rows_check(b, "ig_interp", n) || rows_check(b, "ig_interp", m)) return -1;
    return IMPL(b)->ig_interp(b, xs, x, base, alpha, n, m, row);
}
static int chk_ig_accumulate(foil_backend *b, float *attr, const float *grads, const float *w,
                             int n, int m, size_t row) {
    if (rows_check(b, "ig_accumulate", n) || rows_check(b, "ig_accumulate", m)) return -1;
    return IMPL(b)->ig_accumulate(b, attr, grads, w, n, m, row);
}
static int chk_lerp_rows(foil_backend *b, float *out, const float *x, const float *base,
                         const float *alpha, int n, size_t row) {
    if (rows_check(b, "lerp_rows", n)) return -1;
    return IMPL(b)->lerp_rows(b, out, x, base, alpha, n, row);
}
static int chk_gaussian_noise(foil_backend *b, float *out, const float *x, float sigma,
                              uint64_t seed, uint64_t draw, int64_t first, int n, size_t row) {
    if (rows_check(b, "gaussian_noise", n)) return -1;
    return IMPL(b)->gaussian_noise(b, out, x, sigma, seed, draw, first, n, row);
}
static int chk_row_sum(foil_backend *b, float *out, const float *x, int n, size_t row) {
    if (rows_check(b, "row_sum", n)) return -1;
    return IMPL(b)->row_sum(b, out, x, n, row);
}

static int chk_mask_images(foil_backend *b, float *out, const float *x, const float *fill,
                           const int32_t *segments, const uint8_t *masks, int64_t first,
                           int count, int samples, int nfeat, int channels, size_t plane) {
    if (rows_check(b, "mask_images", count)) return -1;
    if (first < 0 || samples < 1 || nfeat < 1 || channels < 1 || plane < 1)
        return foil_fail(&b->err, "mask_images: invalid sizes (first %lld, samples %d, "
                         "features %d, channels %d, plane %zu)", (long long)first, samples,
                         nfeat, channels, plane);
    return IMPL(b)->mask_images(b, out, x, fill, segments, masks, first, count, samples, nfeat,
                                channels, plane);
}

static int chk_occlude(foil_backend *b, float *out, const float *x, const float *fill,
                       int64_t first, int count, int channels, const foil_window_shape *ws) {
    if (rows_check(b, "occlude", count)) return -1;
    if (first < 0 || channels < 1 || ws->h < 1 || ws->w < 1 || ws->wh < 1 || ws->ww < 1 ||
        ws->sh < 1 || ws->sw < 1 || ws->ny < 1 || ws->nx < 1 ||
        (int64_t)(ws->ny - 1) * ws->sh >= ws->h || (int64_t)(ws->nx - 1) * ws->sw >= ws->w)
        return foil_fail(&b->err, "occlude: invalid windows (image %dx%d, window %dx%d, stride "
                         "%d/%d, %dx%d windows)", ws->h, ws->w, ws->wh, ws->ww, ws->sh, ws->sw,
                         ws->ny, ws->nx);
    return IMPL(b)->occlude(b, out, x, fill, first, count, channels, ws);
}

/* The backend's destroy frees b; the copy of its ops goes after. */
static void chk_destroy(foil_backend *b) {
    foil_backend *impl = (foil_backend *)IMPL(b);
    impl->destroy(b);
    free(impl);
}

/* ---- finishing a backend ------------------------------------------------------ */

typedef struct op_slot {
    const char *name;
    size_t offset; /* of the function pointer in foil_backend */
} op_slot;

#define SLOT(op) {#op, offsetof(foil_backend, op)},
static const op_slot OPS[] = {FOIL_BACKEND_OPS(SLOT)};
#undef SLOT

static int has(const foil_backend *b, const op_slot *s) {
    void (*fn)(void);
    memcpy(&fn, (const char *)b + s->offset, sizeof fn); /* every slot is a function pointer */
    return fn != NULL;
}

int foil_backend_finish(foil_backend *b, foil_err *err) {
    for (size_t i = 0; i < sizeof OPS / sizeof *OPS; i++)
        if (!has(b, &OPS[i]))
            return foil_fail(err, "backend %s: the op %s is not set", b->name ? b->name : "?",
                             OPS[i].name);
    foil_backend *impl = malloc(sizeof *impl);
    if (!impl) return foil_fail(err, "backend %s: out of memory", b->name ? b->name : "?");
    *impl = *b;
    impl->impl = NULL;
    b->impl = impl;
#define CHECKED(op) b->op = chk_##op;
    CHECKED(conv2d_fwd) CHECKED(conv2d_bwd_data) CHECKED(conv2d_bwd_filter)
    CHECKED(maxpool_fwd) CHECKED(maxpool_bwd)
    CHECKED(dense_fwd) CHECKED(dense_bwd_data) CHECKED(dense_bwd_filter)
    CHECKED(dropout_fwd) CHECKED(softmax_xent) CHECKED(kl_div) CHECKED(sgd_step)
    CHECKED(gather_rows) CHECKED(gather_labels) CHECKED(argmax) CHECKED(compare)
    CHECKED(attack_random_start) CHECKED(attack_step) CHECKED(select_rows)
    CHECKED(dlr_loss) CHECKED(apgd_step) CHECKED(apgd_update) CHECKED(apgd_checkpoint)
    CHECKED(square_propose) CHECKED(square_update)
    CHECKED(fab_diff) CHECKED(fab_step) CHECKED(fab_update) CHECKED(deepfool_step)
    CHECKED(cw_margin) CHECKED(cw_update) CHECKED(cw_step)
    CHECKED(flag_nonfinite) CHECKED(target_output) CHECKED(ig_interp) CHECKED(ig_accumulate) CHECKED(lerp_rows)
    CHECKED(gaussian_noise) CHECKED(row_sum) CHECKED(mask_images) CHECKED(occlude)
    CHECKED(destroy)
#undef CHECKED
    return 0;
}

int foil_backend_supports(const foil_backend *b, const char *op) {
    const foil_backend *own = b->impl ? b->impl : b;
    for (size_t i = 0; op && i < sizeof OPS / sizeof *OPS; i++)
        if (strcmp(op, OPS[i].name) == 0) return has(own, &OPS[i]);
    return 0;
}
