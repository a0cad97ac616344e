/* DeepFool (Moosavi-Dezfooli et al. 2016), L2, batched over the samples:
 * from x0, while a sample is classified right and for at most `steps`
 * iterations, linearise every z_k - z_y (one backward pass per class after
 * one forward pass), step to the nearest of those hyperplanes and
 * accumulate, x = clip(x0 + (1 + overshoot) r_tot, 0, 1). It looks for the
 * smallest L2 perturbation: the run records each sample's radius (the L2
 * and L-inf norms of the adversarial it found; +inf when none) in
 * w->radius_*_host, and its result is that adversarial when the L2 radius
 * is within eps, else x0. Which samples are still right is computed on
 * the device; the loop ends early once none is (one download of n flags
 * per iteration: the iterations after that would not move any sample). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack_internal.h"

/* The run's buffers: class k's differences and gradients, its targets. */
typedef struct df_bufs {
    float *diffs, *grads;
    int32_t *targets;
} df_bufs;

static void bufs_free(foil_backend *b, df_bufs *d) {
    b->free(b, d->diffs);
    b->free(b, d->grads);
    b->free(b, d->targets);
}

/* Every z_k - z_y and its input gradient at x (one forward, a backward per class). */
static int linearise(foil_net *net, foil_attack_work *w, const df_bufs *d, const float *x, int n,
                     foil_err *err) {
    foil_backend *b = net->b;
    const float *logits;
    if (foil_net_forward(net, x, n, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
    FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
    FOIL_OP(b, b->compare(b, w->active, w->pred, w->goal, n, 1), err); /* still right */
    for (int k = 0; k < w->classes; k++) {
        FOIL_OP(b, b->fab_diff(b, d->diffs + (size_t)k * n, w->dlogits, logits, w->goal,
                               d->targets + (size_t)k * n, n, w->classes), err);
        if (foil_net_backward(net, w->dlogits, 0, 1, err)) return -1;
        FOIL_OP(b, b->flag_nonfinite(b, w->bad, net->dx, n, w->row), err);
        FOIL_OP(b, b->copy(b, d->grads + (size_t)k * n * w->row, net->dx,
                           sizeof(float) * (size_t)n * w->row), err);
    }
    return 0;
}

/* 1 when no sample is still right (w->active, downloaded into w->mask_host):
 * the remaining iterations would change nothing. 0 when some is, -1 on failure. */
static int all_fooled(foil_backend *b, foil_attack_work *w, int n, foil_err *err) {
    if (b->download(b, w->mask_host, w->active, sizeof(int32_t) * (size_t)n))
        return foil_fail(err, "%s", b->err.msg);
    for (int i = 0; i < n; i++)
        if (w->mask_host[i]) return 0;
    return 1;
}

/* The radii of x (into w->radius_*_host), and the result: x where fooled
 * and within eps, else x0. */
static int finish(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                  const float *x, const float *x0, int n, foil_err *err) {
    foil_backend *b = net->b;
    const size_t row = w->row, bytes = sizeof(float) * (size_t)n * row;
    const float *logits;
    float *xh = malloc(bytes), *oh = malloc(bytes);
    if (!xh || !oh) {
        free(xh), free(oh);
        return foil_fail(err, "out of memory for DeepFool's radii");
    }
    int rc = -1;
    if (foil_net_forward(net, x, n, 0, 0, 0, &logits, err)) goto done;
    if (b->argmax(b, w->pred, logits, n, w->classes) ||
        b->download(b, w->pred_host, w->pred, sizeof(int32_t) * (size_t)n) ||
        b->download(b, xh, x, bytes) || b->download(b, oh, x0, bytes) ||
        b->download(b, w->mask_host, w->goal, sizeof(int32_t) * (size_t)n)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        double l2 = 0.0, linf = 0.0;
        for (size_t j = 0; j < row; j++) {
            const double dv = fabs((double)xh[i * row + j] - oh[i * row + j]);
            l2 += dv * dv, linf = dv > linf ? dv : linf;
        }
        const int fooled = w->pred_host[i] != w->mask_host[i];
        w->radius_l2_host[i] = fooled ? (float)sqrt(l2) : INFINITY;
        w->radius_linf_host[i] = fooled ? (float)linf : INFINITY;
        w->mask_host[i] = fooled && w->radius_l2_host[i] <= s->eps;
    }
    if (b->upload(b, w->mask, w->mask_host, sizeof(int32_t) * (size_t)n) ||
        b->copy(b, w->cur, x0, bytes) || b->select_rows(b, w->cur, x, w->mask, n, row)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    rc = 0;
done:
    free(xh), free(oh);
    return rc;
}

int foil_attack_deepfool_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                             const float *x0, int n, int64_t first, int restart,
                             foil_err *err) {
    (void)first, (void)restart; /* deterministic: no random start */
    foil_backend *b = net->b;
    const int c = w->classes;
    const size_t row = w->row, bytes = sizeof(float) * (size_t)n * row;
    if (!(s->overshoot >= 0.0f))
        return foil_fail(err, "attack deepfool: overshoot %g must be >= 0", (double)s->overshoot);
    df_bufs d = {foil_alloc_floats(b, (size_t)c * n), foil_alloc_floats(b, (size_t)c * n * row),
                 b->alloc(b, sizeof(int32_t) * (size_t)c * n)};
    int32_t *t = malloc(sizeof(int32_t) * (size_t)c * n);
    int rc = -1;
    if (!d.diffs || !d.grads || !d.targets || !t) {
        foil_fail(err, "out of memory for DeepFool (%d classes x %d samples)", c, n);
        goto done;
    }
    for (int k = 0; k < c; k++)
        for (int i = 0; i < n; i++) t[(size_t)k * n + i] = k;
    float *x = w->x_prev, *r_tot = w->velocity;
    if (b->upload(b, d.targets, t, sizeof(int32_t) * (size_t)c * n) ||
        b->copy(b, x, x0, bytes) || b->fill(b, r_tot, 0.0f, (size_t)n * row)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    for (int it = 0; it < s->steps; it++) {
        if (linearise(net, w, &d, x, n, err)) goto done;
        const int fooled = all_fooled(b, w, n, err);
        if (fooled < 0) goto done;
        if (fooled) break; /* the rest would not move a sample: the same bits */
        if (b->deepfool_step(b, x, r_tot, x0, d.diffs, d.grads, w->goal, w->active, n, c, row,
                             s->overshoot)) {
            foil_fail(err, "%s", b->err.msg);
            goto done;
        }
    }
    rc = finish(net, w, s, x, x0, n, err);
done:
    bufs_free(b, &d);
    free(t);
    return rc;
}
