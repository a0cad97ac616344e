/* CPU reference: the minimal-perturbation attacks' ops: FAB-T's (Croce and
 * Hein 2020) logit difference, step through the L-inf or L2 projections onto the
 * linearised boundary and bookkeeping of the smallest adversarial found,
 * DeepFool's step, and CW-L2's margin, bookkeeping and Adam step in tanh
 * space (foil/backend.h). The
 * element math is shared with the CUDA kernels (foil/fab_math.h); row sums
 * are sequential in double. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "backend_cpu.h"
#include "foil/fab_math.h"

static int cpu_fab_diff(foil_backend *b, float *diff, float *dlogits, const float *logits,
                        const int32_t *labels, const int32_t *targets, int n, int classes) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes || targets[i] < 0 || targets[i] >= classes)
            return foil_fail(&b->err, "fab_diff: label %d or target %d of sample %d is not in "
                             "[0, %d)", labels[i], targets[i], i, classes);
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        diff[i] = FOIL_SUB(z[targets[i]], z[labels[i]]);
        if (!dlogits) continue;
        float *dz = dlogits + (size_t)i * classes;
        for (int j = 0; j < classes; j++) dz[j] = 0.0f;
        dz[targets[i]] += 1.0f, dz[labels[i]] -= 1.0f;
    }
    return 0;
}

/* The projection of t onto <w, z> = beta (foil/fab_math.h), L-inf or L2:
 * its lambda (FLT_MAX: the corner), delta and the step's norm. */
static float project(const float *t, const float *w, double beta, size_t row, int l2,
                     double *delta_out, float *size) {
    double wt = 0.0, gmax = 0.0, kmax = 0.0, rmax = 0.0;
    for (size_t j = 0; j < row; j++) wt += (double)w[j] * t[j];
    const double delta = beta - wt, need = fabs(delta);
    *delta_out = delta;
    for (size_t j = 0; j < row; j++) {
        const float dir = foil_fab_dir(w[j], delta);
        if (dir == 0.0f) continue;
        const double room = foil_fab_room(t[j], dir), knee = foil_fab_knee(w[j], room, l2);
        gmax += fabs((double)w[j]) * room;
        kmax = knee > kmax ? knee : kmax;
        rmax = room > rmax ? room : rmax;
    }
    if (need == 0.0) return *size = 0.0f, 0.0f;
    float lambda = FLT_MAX; /* out of reach: the corner */
    if (gmax > need) {
        double lo = 0.0, hi = kmax;
        for (int k = 0; k < FOIL_FAB_BISECT; k++) {
            const double mid = 0.5 * (lo + hi);
            double g = 0.0;
            for (size_t j = 0; j < row; j++) g += foil_fab_gain(t[j], w[j], delta, mid, l2);
            if (g < need) lo = mid;
            else hi = mid;
        }
        double full = 0.0, rest = 0.0; /* knees at most lo move all the way, the rest lambda */
        for (size_t j = 0; j < row; j++) {
            const float dir = foil_fab_dir(w[j], delta);
            if (dir == 0.0f) continue;
            const double room = foil_fab_room(t[j], dir);
            if (foil_fab_knee(w[j], room, l2) <= lo) full += fabs((double)w[j]) * room;
            else rest += foil_fab_slope(w[j], l2);
        }
        lambda = (float)((need - full) / rest);
    }
    if (!l2) {
        *size = lambda < (float)rmax ? lambda : (float)rmax;
        return lambda;
    }
    double ss = 0.0;
    for (size_t j = 0; j < row; j++) {
        const double d = foil_fab_step(t[j], w[j], delta, lambda, 1);
        ss += d * d;
    }
    *size = (float)sqrt(ss);
    return lambda;
}

static int cpu_fab_step(foil_backend *b, float *x, const float *x0, const float *grad,
                        const float *diff, float eta, float alpha_max, foil_norm norm, int n,
                        size_t row) {
    (void)b;
    const int l2 = norm == FOIL_NORM_L2;
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        float *x1 = x + (size_t)i * row;
        const float *o = x0 + (size_t)i * row, *w = grad + (size_t)i * row;
        double beta = 0.0, delta1, delta2;
        for (size_t j = 0; j < row; j++) beta += (double)w[j] * x1[j];
        beta -= diff[i];
        float a1, a2;
        const float l1 = project(x1, w, beta, row, l2, &delta1, &a1);
        const float lo = project(o, w, beta, row, l2, &delta2, &a2);
        const float alpha = foil_fab_alpha(a1, a2, alpha_max);
        for (size_t j = 0; j < row; j++) {
            const float d1 = foil_fab_step(x1[j], w[j], delta1, l1, l2);
            const float d2 = foil_fab_step(o[j], w[j], delta2, lo, l2);
            x1[j] = foil_fab_mix(x1[j], d1, o[j], d2, eta, alpha);
        }
    }
    return 0;
}

static int cpu_fab_update(foil_backend *b, float *x_adv, float *dist, float *x, const float *x0,
                          const int32_t *fooled, float beta, foil_norm norm, int n, size_t row) {
    (void)b;
    for (int i = 0; i < n; i++) {
        if (!fooled[i]) continue;
        float *x1 = x + (size_t)i * row;
        const float *o = x0 + (size_t)i * row;
        double t = 0.0;
        for (size_t j = 0; j < row; j++) {
            const double d = fabsf(FOIL_SUB(x1[j], o[j]));
            if (norm == FOIL_NORM_L2) t += d * d;
            else t = d > t ? d : t;
        }
        const float dn = (float)(norm == FOIL_NORM_L2 ? sqrt(t) : t);
        if (dn < dist[i]) {
            dist[i] = dn;
            memcpy(x_adv + (size_t)i * row, x1, sizeof(float) * row);
        }
        for (size_t j = 0; j < row; j++)
            x1[j] = FOIL_ADD(o[j], FOIL_MUL(FOIL_SUB(x1[j], o[j]), beta));
    }
    return 0;
}

static int cpu_deepfool_step(foil_backend *b, float *x, float *r_tot, const float *x0,
                             const float *diffs, const float *grads, const int32_t *labels,
                             const int32_t *active, int n, int classes, size_t row,
                             float overshoot) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return foil_fail(&b->err, "deepfool_step: label %d of sample %d is not in [0, %d)",
                             labels[i], i, classes);
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        if (!active[i]) continue;
        int best = -1;
        double best_ratio = INFINITY, best_sq = 0.0;
        for (int k = 0; k < classes; k++) {
            if (k == labels[i]) continue;
            const float *g = grads + ((size_t)k * n + i) * row;
            double sq = 0.0;
            for (size_t j = 0; j < row; j++) sq += (double)g[j] * g[j];
            const double ratio = fabs((double)diffs[(size_t)k * n + i]) / sqrt(sq);
            if (sq > 0.0 && ratio < best_ratio) best = k, best_ratio = ratio, best_sq = sq;
        }
        if (best < 0) continue;
        const float scale =
            (float)((fabs((double)diffs[(size_t)best * n + i]) + 1e-4) / best_sq);
        const float *g = grads + ((size_t)best * n + i) * row;
        float *xr = x + (size_t)i * row, *rt = r_tot + (size_t)i * row;
        const float *o = x0 + (size_t)i * row;
        for (size_t j = 0; j < row; j++) {
            rt[j] = FOIL_ADD(rt[j], FOIL_MUL(scale, g[j]));
            xr[j] = foil_clampf(FOIL_ADD(o[j], FOIL_MUL(1.0f + overshoot, rt[j])), 0.0f, 1.0f);
        }
    }
    return 0;
}

static int cpu_cw_margin(foil_backend *b, float *loss, float *dlogits, const float *logits,
                         const int32_t *labels, const float *c, float kappa, int n,
                         int classes) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return foil_fail(&b->err, "cw_margin: label %d of sample %d is not in [0, %d)",
                             labels[i], i, classes);
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * classes;
        const int y = labels[i];
        int other = y == 0 ? 1 : 0;
        for (int j = 0; j < classes; j++)
            if (j != y && z[j] > z[other]) other = j;
        const float g = FOIL_ADD(FOIL_SUB(z[y], z[other]), kappa);
        loss[i] = g > 0.0f ? FOIL_MUL(c[i], g) : 0.0f;
        float *dz = dlogits + (size_t)i * classes;
        for (int j = 0; j < classes; j++) dz[j] = 0.0f;
        if (g > 0.0f) dz[y] = c[i], dz[other] = -c[i];
    }
    return 0;
}

static int cpu_cw_update(foil_backend *b, float *best, float *best_adv, int32_t *found,
                         float *dist, const float *x, const float *x0, const int32_t *fooled,
                         int n, size_t row) {
    (void)b;
    for (int i = 0; i < n; i++) {
        const float *xr = x + (size_t)i * row, *o = x0 + (size_t)i * row;
        double s = 0.0;
        for (size_t j = 0; j < row; j++) {
            const double dv = (double)xr[j] - o[j];
            s += dv * dv;
        }
        dist[i] = (float)s;
        if (fooled[i] && dist[i] < best[i]) {
            best[i] = dist[i], found[i] = 1;
            memcpy(best_adv + (size_t)i * row, xr, sizeof(float) * row);
        }
    }
    return 0;
}

static int cpu_cw_step(foil_backend *b, float *w, float *m, float *v, float *x, const float *grad,
                       const float *x0, const int32_t *active, int n, size_t row,
                       const foil_adam_hparams *hp) {
    (void)b;
    const float step_size = (float)(hp->lr / (1.0 - pow(hp->beta1, hp->t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(hp->beta2, hp->t));
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        if (!active[i]) continue;
        for (size_t j = (size_t)i * row; j < (size_t)(i + 1) * row; j++) {
            const float g = foil_cw_grad(w[j], x[j], x0[j], grad[j]);
            foil_adam_update(&w[j], &m[j], &v[j], g, hp->lr, hp->beta1, hp->beta2, hp->eps, 0.0f,
                             step_size, bc2_sqrt);
            x[j] = foil_cw_x(w[j]);
        }
    }
    return 0;
}

void cpu_register_minimal_ops(foil_backend *b) {
    b->cw_margin = cpu_cw_margin;
    b->cw_update = cpu_cw_update;
    b->cw_step = cpu_cw_step;
    b->deepfool_step = cpu_deepfool_step;
    b->fab_diff = cpu_fab_diff;
    b->fab_step = cpu_fab_step;
    b->fab_update = cpu_fab_update;
}
