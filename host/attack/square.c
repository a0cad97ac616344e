/* The Square attack (Andriushchenko et al. 2020, "Square Attack: a
 * query-efficient black-box adversarial attack via random search"), as the
 * AutoAttack reference (square.py) runs it; L2's proposals are in
 * foil/square_l2.h (two windows of side foil_square_size_l2, the mass of
 * both moved into one), the loop below is the same. L-inf: from vertical stripes of
 * +-eps, each query changes one square of the best point so far by +-2 eps
 * per channel and keeps the change when the margin z_y - max_{j != y} z_j
 * drops; a sample stops at its first misclassified point or at the query
 * budget. The square's side follows p_init halved at fixed query numbers
 * (foil_square_size; rescale_schedule: at fixed shares of the budget). No
 * gradients: it is the check against gradient masking.
 *
 * Only the samples still robust are evaluated: every SQUARE_COMPACT
 * iterations the margins come back to the host and the batch shrinks to the
 * robust samples (ids). A sample's draws follow its index and the
 * iteration, not its row, so results do not depend on the batch or on the
 * compaction. Differences from the reference (docs/attacks.md): the budget
 * counts the start as a query (the reference runs n_queries iterations
 * after it); each sample draws its own square and signs (the reference
 * draws one square and its signs per iteration for the whole batch); every
 * position of the square is possible (the reference never puts it at the
 * last row or column). */
#include <math.h>
#include <stdlib.h>

#include "attack_internal.h"

enum { SQUARE_COMPACT = 8 }; /* iterations between compactions of the batch */

/* The share of the image a square covers at iteration t (the reference's
 * p_selection). */
static double square_p(int t, int queries, float p_init) {
    static const int AT[] = {10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000};
    const int it = (int)((double)(t - 1) / (double)queries * 10000.0); /* the reference's */
    double p = p_init;
    for (size_t k = 0; k < sizeof AT / sizeof *AT && it > AT[k]; k++) p *= 0.5;
    return p;
}

int foil_square_size(int t, int queries, float p_init, int h, int w) {
    int s = (int)nearbyint(sqrt(square_p(t, queries, p_init) * (double)h * (double)w));
    s = s > 1 ? s : 1;
    return s < h && s < w ? s : (h < w ? h : w);
}

int foil_square_size_l2(int t, int queries, float p_init, int h, int w) {
    int s = (int)nearbyint(sqrt(square_p(t, queries, p_init) * (double)h * (double)w));
    s = s > 3 ? s : 3;
    s += s % 2 == 0;
    const int m = h < w ? h : w;
    return s <= m ? s : m - (m % 2 == 0);
}

/* The rows still robust into w->ids (host copy in w->mask_host); fails on a
 * non-finite logit seen since the last call. Returns the count, or -1. */
static int compact(foil_backend *b, foil_attack_work *w, int n, int rows, int64_t first,
                   foil_err *err) {
    const size_t ints = sizeof(int32_t) * (size_t)rows;
    FOIL_OP(b, b->download(b, w->bad_host, w->bad, ints), err);
    for (int r = 0; r < rows; r++)
        if (w->bad_host[r]) {
            const int k = w->mask_host[r];
            return foil_fail(err, "image %lld: the model's logits are not finite (NaN or "
                             "infinity): the checkpoint or the data are broken, and no "
                             "robustness number can come from them",
                             (long long)(first + (w->index_on ? w->index_host[k] : k)));
        }
    FOIL_OP(b, b->upload(b, w->bad, w->zeros_host, ints), err);
    FOIL_OP(b, b->download(b, w->margin_host, w->margin, sizeof(float) * (size_t)n), err);
    int m = 0;
    for (int k = 0; k < n; k++)
        if (w->margin_host[k] > 0.0f) w->mask_host[m++] = k;
    if (m) FOIL_OP(b, b->upload(b, w->ids, w->mask_host, sizeof(int32_t) * (size_t)m), err);
    return m;
}

/* Proposals for the rows of w->ids into w->cur, their evaluation and the update. */
static int query(foil_net *net, foil_attack_work *w, const float *x0, int rows,
                 const foil_square_params *sq, foil_err *err) {
    foil_backend *b = net->b;
    const float *logits;
    FOIL_OP(b, b->square_propose(b, w->cur, w->x_best, x0, w->ids, rows, sq), err);
    if (foil_net_forward(net, w->cur, rows, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, rows, (size_t)w->classes), err);
    FOIL_OP(b, b->square_update(b, w->x_best, w->margin, w->queries, w->cur, logits, w->goal,
                                w->ids, rows, w->classes, w->row), err);
    return 0;
}

int foil_attack_square_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                           const float *x0, int n, int64_t first, int restart, foil_err *err) {
    foil_backend *b = net->b;
    const foil_model_def *d = &net->model->def;
    if (s->queries < 1) return foil_fail(err, "attack square: queries must be >= 1");
    if (!(s->p_init > 0.0f && s->p_init <= 1.0f))
        return foil_fail(err, "attack square: p_init %g is not in (0, 1]", (double)s->p_init);
    foil_square_params sq = {foil_attack_norm(s), s->eps, d->in_c, d->in_h, d->in_w, 0, 0,
                             s->seed, (uint64_t)restart, first, w->index_on};
    for (int k = 0; k < n; k++) w->mask_host[k] = k;
    FOIL_OP(b, b->upload(b, w->ids, w->mask_host, sizeof(int32_t) * (size_t)n), err);
    FOIL_OP(b, b->upload(b, w->queries, w->zeros_host, sizeof(int32_t) * (size_t)n), err);
    FOIL_OP(b, b->fill(b, w->margin, INFINITY, (size_t)n), err);
    if (query(net, w, x0, n, &sq, err)) return -1; /* the start: every sample takes it */
    int rows = n;
    for (int t = 1; t < s->queries && rows > 0; t++) {
        if (t % SQUARE_COMPACT == 1 && (rows = compact(b, w, n, rows, first, err)) <= 0) break;
        sq.iteration = t;
        const int budget = s->rescale_schedule ? s->queries : 10000;
        sq.size = sq.norm == FOIL_NORM_L2
                      ? foil_square_size_l2(t, budget, s->p_init, d->in_h, d->in_w)
                      : foil_square_size(t, budget, s->p_init, d->in_h, d->in_w);
        if (query(net, w, x0, rows, &sq, err)) return -1;
    }
    if (rows < 0) return -1;
    if (rows > 0 && compact(b, w, n, rows, first, err) < 0) return -1; /* the last flags */
    FOIL_OP(b, b->copy(b, w->cur, w->x_best, sizeof(float) * (size_t)n * w->row), err);
    return 0;
}
