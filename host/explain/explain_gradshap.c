/* GradientSHAP (Lundberg and Lee 2017; expected gradients, Erion et al.
 * 2021), as Captum's GradientShap without input noise: for each of
 * `samples` draws per image, a baseline b from the background set and a
 * position alpha in [0, 1), both from Philox (seed, FOIL_RNG_FEATURES,
 * (2 << 40) | image index), counters 2k and 2k + 1 for draw k; the
 * attribution is the mean of dF/dx(b + alpha (x - b)) * (x - b). Sums to
 * F(x) - E_b F(b) in expectation only. Draws are evaluated in chunks of the
 * network's batch; the draws do not depend on the chunk (the sums' last
 * bits may: each chunk's sum is rounded to float once). */
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/philox.h"

/* The work's buffers for gradshap and the spec's background on the backend. */
static int ready(foil_explain_work *w, const foil_explain_spec *s, foil_err *err) {
    foil_backend *b = w->b;
    const size_t mb = (size_t)w->max_batch, row = w->row;
    if (!w->gs_base) {
        w->gs_base = foil_alloc_floats(b, mb * row);
        w->gs_diff = foil_alloc_floats(b, mb * row);
        w->gs_alpha = foil_alloc_floats(b, mb);
        w->gs_wt = foil_alloc_floats(b, mb);
        w->gs_bidx = b->alloc(b, sizeof(int32_t) * mb);
        w->gs_iidx = b->alloc(b, sizeof(int32_t) * mb);
        w->gs_bidx_host = malloc(sizeof(int32_t) * mb);
        w->gs_iidx_host = malloc(sizeof(int32_t) * mb);
        w->gs_alpha_host = malloc(sizeof(float) * mb);
        if (!w->gs_base || !w->gs_diff || !w->gs_alpha || !w->gs_wt || !w->gs_bidx ||
            !w->gs_iidx || !w->gs_bidx_host || !w->gs_iidx_host || !w->gs_alpha_host) {
            void *dev[] = {w->gs_base, w->gs_diff, w->gs_alpha, w->gs_wt, w->gs_bidx,
                           w->gs_iidx};
            for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) b->free(b, dev[i]);
            free(w->gs_bidx_host), free(w->gs_iidx_host), free(w->gs_alpha_host);
            w->gs_base = w->gs_diff = w->gs_alpha = w->gs_wt = NULL;
            w->gs_bidx = w->gs_iidx = w->gs_bidx_host = w->gs_iidx_host = NULL;
            w->gs_alpha_host = NULL;
            return foil_fail(err, "gradshap: out of memory for a batch of %d", w->max_batch);
        }
    }
    if (w->bg_host != s->background || w->nbg != s->nbackground) {
        b->free(b, w->bg);
        w->bg_host = NULL, w->nbg = 0;
        if (!(w->bg = foil_alloc_floats(b, (size_t)s->nbackground * row)))
            return foil_fail(err, "gradshap: out of memory for %d background images",
                             s->nbackground);
        FOIL_OP(b, b->upload(b, w->bg, s->background,
                             sizeof(float) * (size_t)s->nbackground * row), err);
        w->bg_host = s->background, w->nbg = s->nbackground;
    }
    return 0;
}

int ex_gradshap(foil_explain_work *w, const foil_explain_spec *s, float *out, const float *xin,
                const ex_problem *p, int m, foil_err *err) {
    foil_backend *b = w->b;
    const int n = p->n;
    const size_t row = w->row;
    if (ready(w, s, err)) return -1;
    int mc = w->max_batch / n;
    if (s->chunk > 0 && s->chunk < mc) mc = s->chunk;
    if (mc > m) mc = m;
    float *wt = malloc(sizeof(float) * (size_t)mc);
    if (!wt) return foil_fail(err, "out of memory");
    for (int k = 0; k < mc; k++) wt[k] = 1.0f / (float)m;
    int up = b->upload(b, w->gs_wt, wt, sizeof(float) * (size_t)mc);
    free(wt);
    if (up) return foil_fail(err, "%s", b->err.msg);
    FOIL_OP(b, b->fill(b, out, 0.0f, (size_t)n * row), err);
    for (int k0 = 0; k0 < m; k0 += mc) {
        const int kc = m - k0 < mc ? m - k0 : mc, count = n * kc;
        for (int i = 0; i < n; i++) {
            const uint64_t idx = (uint64_t)(p->index ? p->index[i] : i);
            const uint64_t stream = FOIL_STREAM(FOIL_RNG_FEATURES, (2ull << 40) | idx);
            for (int k = 0; k < kc; k++) {
                const int r = i * kc + k;
                const uint64_t draw = (uint64_t)(k0 + k);
                w->gs_bidx_host[r] =
                    (int32_t)(foil_rng_u32(s->seed, stream, 2 * draw) % (uint32_t)w->nbg);
                w->gs_alpha_host[r] = foil_rng_uniform(s->seed, stream, 2 * draw + 1);
                w->gs_iidx_host[r] = i;
                w->rep_host[r] = p->tgt_host[i];
            }
        }
        w->rep_n = 0; /* rep no longer holds an IG layout */
        FOIL_OP(b, b->upload(b, w->gs_bidx, w->gs_bidx_host, sizeof(int32_t) * count), err);
        FOIL_OP(b, b->upload(b, w->gs_iidx, w->gs_iidx_host, sizeof(int32_t) * count), err);
        FOIL_OP(b, b->upload(b, w->gs_alpha, w->gs_alpha_host, sizeof(float) * count), err);
        FOIL_OP(b, b->upload(b, w->rep, w->rep_host, sizeof(int32_t) * count), err);
        FOIL_OP(b, b->gather_rows(b, w->gs_base, w->bg, w->gs_bidx, count, row), err);
        FOIL_OP(b, b->gather_rows(b, w->gs_diff, xin, w->gs_iidx, count, row), err);
        FOIL_OP(b, b->lerp_rows(b, w->xs, w->gs_diff, w->gs_base, w->gs_alpha, count, row), err);
        FOIL_OP(b, b->sub(b, w->gs_diff, w->gs_diff, w->gs_base, (size_t)count * row), err);
        if (ex_grad_at(w, s->output, w->xs, w->rep, count, err)) return -1;
        FOIL_OP(b, b->mul(b, w->gs_diff, w->gs_diff, w->net->dx, (size_t)count * row), err);
        FOIL_OP(b, b->ig_accumulate(b, out, w->gs_diff, w->gs_wt, n, kc, row), err);
    }
    return 0;
}
