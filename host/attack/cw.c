/* CW-L2 (Carlini and Wagner 2017, "Towards evaluating the robustness of
 * neural networks"), untargeted, on logits: per sample, minimise
 *   ||x - x0||^2 + c max(z_y - max_{j != y} z_j + kappa, 0)
 * over x = (tanh(w) + 1) / 2 (the box for free) with Adam (lr 0.01) from
 * w0 = atanh(2 x0 - 1), `steps` iterations, keeping the closest
 * misclassified iterate; a sample stops early when its objective has not
 * dropped by 1e-4 of itself over a tenth of the steps. Around that, a
 * binary search over c per sample (`search_steps`, from `c_init`: x10 until
 * an adversarial is found, then bisection), as the paper and Foolbox. Its
 * result, like DeepFool's: the closest adversarial when its L2 radius is
 * within eps, else x0; the radii in w->radius_*_host. Inside the Adam loop
 * only the early-stop test (every tenth of the steps) comes to the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attack_internal.h"

#define CW_LR 0.01f

typedef struct cw_host {
    float *w0, *x_start, *c, *lo, *hi, *prev, *loss, *dist, *xh, *oh;
    int32_t *found, *active;
} cw_host;

static void host_free(cw_host *h) {
    float *f[] = {h->w0, h->x_start, h->c, h->lo, h->hi, h->prev, h->loss, h->dist, h->xh, h->oh};
    for (size_t k = 0; k < sizeof f / sizeof *f; k++) free(f[k]);
    free(h->found), free(h->active);
}

static int host_alloc(cw_host *h, int n, size_t row) {
    memset(h, 0, sizeof *h);
    const size_t big = sizeof(float) * (size_t)n * row, small = sizeof(float) * (size_t)n;
    h->w0 = malloc(big), h->x_start = malloc(big), h->xh = malloc(big), h->oh = malloc(big);
    h->c = malloc(small), h->lo = malloc(small), h->hi = malloc(small), h->prev = malloc(small);
    h->loss = malloc(small), h->dist = malloc(small);
    h->found = malloc(sizeof(int32_t) * (size_t)n), h->active = malloc(sizeof(int32_t) * (size_t)n);
    return h->w0 && h->x_start && h->xh && h->oh && h->c && h->lo && h->hi && h->prev && h->loss &&
                   h->dist && h->found && h->active
               ? 0
               : -1;
}

/* One Adam run at the current c: the closest misclassified iterate into
 * w->x_adv / w->margin (squared L2), found (this run) into w->st.robust. */
static int adam_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                    const float *x0, int n, cw_host *h, foil_err *err) {
    foil_backend *b = net->b;
    const size_t row = w->row, bytes = sizeof(float) * (size_t)n * row;
    const size_t ints = sizeof(int32_t) * (size_t)n, floats = sizeof(float) * (size_t)n;
    float *wv = w->x_prev, *m = w->g_best, *v = w->velocity, *x = w->cur, *c = w->st.step;
    float *dist = w->st.loss_prev;
    FOIL_OP(b, b->upload(b, wv, h->w0, bytes), err);
    FOIL_OP(b, b->upload(b, x, h->x_start, bytes), err);
    FOIL_OP(b, b->fill(b, m, 0.0f, (size_t)n * row), err);
    FOIL_OP(b, b->fill(b, v, 0.0f, (size_t)n * row), err);
    FOIL_OP(b, b->upload(b, c, h->c, floats), err);
    FOIL_OP(b, b->upload(b, w->active, w->ones_host, ints), err);
    FOIL_OP(b, b->upload(b, w->st.robust, w->zeros_host, ints), err);
    for (int i = 0; i < n; i++) h->prev[i] = INFINITY, h->active[i] = 1;
    const int every = s->steps / 10 > 1 ? s->steps / 10 : 1;
    foil_adam_hparams hp = {CW_LR, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
    for (int it = 0; it < s->steps; it++) {
        const float *logits;
        if (foil_net_forward(net, x, n, 0, 0, 0, &logits, err)) return -1;
        FOIL_OP(b, b->flag_nonfinite(b, w->bad, logits, n, (size_t)w->classes), err);
        FOIL_OP(b, b->argmax(b, w->pred, logits, n, w->classes), err);
        FOIL_OP(b, b->compare(b, w->fooled, w->pred, w->goal, n, 0), err);
        FOIL_OP(b, b->cw_margin(b, w->loss, w->dlogits, logits, w->goal, c, s->kappa, n,
                                w->classes), err);
        FOIL_OP(b, b->cw_update(b, w->margin, w->x_adv, w->st.robust, dist, x, x0, w->fooled, n,
                                row), err);
        if (foil_net_backward(net, w->dlogits, 0, 1, err)) return -1;
        FOIL_OP(b, b->flag_nonfinite(b, w->bad, net->dx, n, row), err);
        hp.t = it + 1;
        FOIL_OP(b, b->cw_step(b, wv, m, v, x, net->dx, x0, w->active, n, row, &hp), err);
        if ((it + 1) % every) continue;
        /* early stop: the objective (at the iterate before this step) stalled */
        FOIL_OP(b, b->download(b, h->loss, w->loss, floats), err);
        FOIL_OP(b, b->download(b, h->dist, dist, floats), err);
        int live = 0;
        for (int i = 0; i < n; i++) {
            const float obj = h->dist[i] + h->loss[i];
            if (h->active[i] && obj > 0.9999f * h->prev[i]) h->active[i] = 0;
            h->prev[i] = obj;
            live += h->active[i];
        }
        if (!live) break;
        FOIL_OP(b, b->upload(b, w->active, h->active, ints), err);
    }
    FOIL_OP(b, b->download(b, h->found, w->st.robust, ints), err);
    return 0;
}

int foil_attack_cw_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                       const float *x0, int n, int64_t first, int restart, foil_err *err) {
    (void)first, (void)restart; /* deterministic */
    foil_backend *b = net->b;
    const size_t row = w->row, bytes = sizeof(float) * (size_t)n * row;
    if (s->search_steps < 1 || !(s->c_init > 0.0f) || !(s->kappa >= 0.0f))
        return foil_fail(err, "attack cw_l2: search_steps %d, c_init %g, kappa %g (need >= 1, > 0, "
                         ">= 0)", s->search_steps, (double)s->c_init, (double)s->kappa);
    cw_host h;
    int rc = -1;
    if (host_alloc(&h, n, row)) {
        host_free(&h);
        return foil_fail(err, "out of memory for CW-L2");
    }
    if (b->download(b, h.oh, x0, bytes)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    for (size_t j = 0; j < (size_t)n * row; j++) { /* inside (-1, 1) for atanh */
        h.w0[j] = atanhf((2.0f * h.oh[j] - 1.0f) * 0.999999f);
        h.x_start[j] = 0.5f * (tanhf(h.w0[j]) + 1.0f);
    }
    for (int i = 0; i < n; i++) h.c[i] = s->c_init, h.lo[i] = 0.0f, h.hi[i] = INFINITY;
    if (b->fill(b, w->margin, INFINITY, (size_t)n) || b->copy(b, w->x_adv, x0, bytes)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    for (int k = 0; k < s->search_steps; k++) {
        if (adam_run(net, w, s, x0, n, &h, err)) goto done;
        for (int i = 0; i < n; i++) { /* the binary search over c */
            if (h.found[i]) h.hi[i] = fminf(h.hi[i], h.c[i]);
            else h.lo[i] = fmaxf(h.lo[i], h.c[i]);
            h.c[i] = isfinite(h.hi[i]) ? 0.5f * (h.lo[i] + h.hi[i]) : 10.0f * h.c[i];
        }
    }
    /* the radii and the result: the closest adversarial within eps, else x0 */
    if (b->download(b, h.dist, w->margin, sizeof(float) * (size_t)n) ||
        b->download(b, h.xh, w->x_adv, bytes)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        double linf = 0.0;
        for (size_t j = 0; j < row; j++)
            linf = fmax(linf, fabs((double)h.xh[i * row + j] - h.oh[i * row + j]));
        const int hit = isfinite(h.dist[i]);
        w->radius_l2_host[i] = hit ? sqrtf(h.dist[i]) : INFINITY;
        w->radius_linf_host[i] = hit ? (float)linf : INFINITY;
        w->mask_host[i] = hit && w->radius_l2_host[i] <= s->eps;
    }
    if (b->upload(b, w->mask, w->mask_host, sizeof(int32_t) * (size_t)n) ||
        b->copy(b, w->cur, x0, bytes) || b->select_rows(b, w->cur, w->x_adv, w->mask, n, row)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    rc = 0;
done:
    host_free(&h);
    return rc;
}
