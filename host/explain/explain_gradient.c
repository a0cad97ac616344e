/* The gradient methods' run functions: saliency (dF/dx), gradient x input
 * and Integrated Gradients. The IG chunk loop is interp -> forward ->
 * target output -> backward -> accumulate, all on the backend. */
#include "explain_internal.h"

int ex_f_at(foil_explain_work *w, foil_target_mode mode, float *value, const float *xin,
            const int32_t *tgt, int count, foil_err *err) {
    const float *logits;
    if (foil_net_forward(w->net, xin, count, 0, 0, 0, &logits, err)) return -1;
    FOIL_OP(w->b,
            w->b->target_output(w->b, value, w->dlogits, logits, tgt, count, w->classes, mode),
            err);
    return 0;
}

int ex_grad_at(foil_explain_work *w, foil_target_mode mode, const float *xin,
               const int32_t *tgt, int count, foil_err *err) {
    if (ex_f_at(w, mode, w->values, xin, tgt, count, err)) return -1;
    return foil_net_backward(w->net, w->dlogits, 0, 1, err);
}

/* The target of each of n x m path points (image-major), uploaded only when
 * the layout changes: at most twice per IG pass (full chunks, the last one). */
static int set_rep(foil_explain_work *w, const ex_problem *p, int m, foil_err *err) {
    if (w->rep_n == p->n && w->rep_m == m) return 0;
    for (int i = 0; i < p->n; i++)
        for (int k = 0; k < m; k++) w->rep_host[i * m + k] = p->tgt_host[i];
    FOIL_OP(w->b, w->b->upload(w->b, w->rep, w->rep_host, sizeof(int32_t) * (size_t)(p->n * m)),
          err);
    w->rep_n = p->n, w->rep_m = m;
    return 0;
}

/* out *= xin - base */
static int times_diff(foil_explain_work *w, float *out, const float *xin, const float *base,
                      int n, foil_err *err) {
    foil_backend *b = w->b;
    const size_t len = (size_t)n * w->row;
    FOIL_OP(b, b->sub(b, w->diff, xin, base, len), err);
    FOIL_OP(b, b->mul(b, out, out, w->diff, len), err);
    return 0;
}

/* Path points per image per forward: the chunk, bounded by what the network
 * holds for n images and by m. */
static int plan_chunk(const foil_explain_work *w, const foil_explain_spec *s, int n, int m) {
    int mc = w->max_batch / n;
    if (s->chunk > 0 && s->chunk < mc) mc = s->chunk;
    return mc < m ? mc : m;
}

int ex_ig(foil_explain_work *w, const foil_explain_spec *s, float *out, const float *xin,
          const ex_problem *p, int m, foil_err *err) {
    foil_backend *b = w->b;
    const int n = p->n, mc = plan_chunk(w, s, n, m);
    FOIL_OP(b, b->fill(b, out, 0.0f, (size_t)n * w->row), err);
    w->rep_n = 0; /* the targets may differ from the last call's */
    for (int k0 = 0; k0 < m; k0 += mc) {
        int c = m - k0 < mc ? m - k0 : mc;
        if (set_rep(w, p, c, err)) return -1;
        FOIL_OP(b, b->ig_interp(b, w->xs, xin, p->base, w->alpha + k0, n, c, w->row), err);
        if (ex_grad_at(w, s->output, w->xs, w->rep, n * c, err)) return -1;
        FOIL_OP(b, b->ig_accumulate(b, out, w->net->dx, w->weight + k0, n, c, w->row), err);
    }
    return times_diff(w, out, xin, p->base, n, err);
}

int ex_saliency(foil_explain_work *w, const foil_explain_spec *s, float *out, const float *xin,
                const ex_problem *p, int m, foil_err *err) {
    (void)m;
    foil_backend *b = w->b;
    if (ex_grad_at(w, s->output, xin, p->tgt, p->n, err)) return -1;
    FOIL_OP(b, b->copy(b, out, w->net->dx, sizeof(float) * (size_t)p->n * w->row), err);
    return 0;
}

int ex_grad_x_input(foil_explain_work *w, const foil_explain_spec *s, float *out,
                    const float *xin, const ex_problem *p, int m, foil_err *err) {
    if (ex_saliency(w, s, out, xin, p, m, err)) return -1;
    return times_diff(w, out, xin, p->base, p->n, err);
}
