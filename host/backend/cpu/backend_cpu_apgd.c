/* CPU reference: the APGD ops (Croce and Hein 2020): the DLR loss, the step
 * with momentum, and the per-sample bookkeeping of the step-size schedule
 * (foil/backend.h). The element math is shared with the CUDA kernels
 * (foil/elementwise.h); row norms are sequential sums in double. */
#include <math.h>
#include <string.h>

#include "backend_cpu.h"
#include "foil/elementwise.h"

static int cpu_dlr_loss(foil_backend *b, float *loss, float *dlogits, const float *logits,
                        const int32_t *labels, const int32_t *targets, int n, int classes) {
    for (int i = 0; i < n; i++) {
        const int y = labels[i], t = targets ? targets[i] : 0;
        if (y < 0 || y >= classes || t < 0 || t >= classes)
            return foil_fail(&b->err, "dlr_loss: label %d or target %d of sample %d is not in "
                             "[0, %d)", y, t, i, classes);
    }
    for (int i = 0; i < n; i++)
        loss[i] = foil_dlr_row(logits + (size_t)i * classes, classes, labels[i],
                               targets ? targets[i] : -1,
                               dlogits ? dlogits + (size_t)i * classes : NULL);
    return 0;
}

/* One L2 row: the passes of foil_apgd_l2_* */
static void l2_row(float *x, float *xp, const float *g, const float *o, float step, float alpha,
                   size_t row, float eps) {
    double gg = 0.0, zz = 0.0, mm = 0.0;
    for (size_t j = 0; j < row; j++) gg += (double)g[j] * g[j];
    const float ginv = (float)(1.0 / (sqrt(gg) + 1e-12));
    for (size_t j = 0; j < row; j++) {
        double d = foil_apgd_l2_z(x[j], g[j], step, ginv) - o[j];
        zz += d * d;
    }
    const float kz = foil_apgd_l2_shrink(sqrt(zz), eps, 0);
    for (size_t j = 0; j < row; j++) {
        float z = foil_apgd_l2_z(x[j], g[j], step, ginv);
        double d = foil_apgd_l2_mix(x[j], xp[j], o[j], z, kz, alpha) - o[j];
        mm += d * d;
    }
    const float kn = foil_apgd_l2_shrink(sqrt(mm), eps, 1);
    for (size_t j = 0; j < row; j++) {
        float z = foil_apgd_l2_z(x[j], g[j], step, ginv);
        float m = foil_apgd_l2_mix(x[j], xp[j], o[j], z, kz, alpha);
        xp[j] = x[j];
        x[j] = foil_apgd_shrunk(o[j], m, kn);
    }
}

static int cpu_apgd_step(foil_backend *b, float *x, float *x_prev, const float *grad,
                         const float *x0, const float *step, float alpha, int n, size_t row,
                         const foil_attack_hparams *hp) {
    (void)b;
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        float *xr = x + (size_t)i * row, *pr = x_prev + (size_t)i * row;
        const float *g = grad + (size_t)i * row, *o = x0 + (size_t)i * row;
        if (hp->norm == FOIL_NORM_L2) {
            l2_row(xr, pr, g, o, step[i], alpha, row, hp->eps);
            continue;
        }
        for (size_t j = 0; j < row; j++) {
            float v = foil_apgd_linf(xr[j], pr[j], g[j], o[j], step[i], alpha, hp->eps);
            pr[j] = xr[j];
            xr[j] = v;
        }
    }
    return 0;
}

static int cpu_apgd_update(foil_backend *b, const foil_apgd_state *st, float *x_best,
                           float *g_best, float *x_adv, const float *x, const float *grad,
                           const float *loss, const int32_t *fooled, int n, size_t row) {
    (void)b;
    const size_t bytes = sizeof(float) * row;
    for (int i = 0; i < n; i++) {
        const size_t off = (size_t)i * row;
        st->count[i] += loss[i] > st->loss_prev[i];
        st->loss_prev[i] = loss[i];
        if (loss[i] > st->loss_best[i]) {
            st->loss_best[i] = loss[i];
            memcpy(x_best + off, x + off, bytes);
            memcpy(g_best + off, grad + off, bytes);
        }
        if (fooled[i]) {
            memcpy(x_adv + off, x + off, bytes);
            st->robust[i] = 0;
        }
    }
    return 0;
}

static int cpu_apgd_checkpoint(foil_backend *b, const foil_apgd_state *st, float *x, float *grad,
                               const float *x_best, const float *g_best, int k, float rho, int n,
                               size_t row) {
    (void)b;
    const size_t bytes = sizeof(float) * row;
    const float limit = (float)k * rho;
    for (int i = 0; i < n; i++) {
        const int halve = (float)st->count[i] <= limit ||
                          (!st->reduced[i] && st->best_last[i] >= st->loss_best[i]);
        if (halve) {
            const size_t off = (size_t)i * row;
            st->step[i] *= 0.5f;
            memcpy(x + off, x_best + off, bytes);
            memcpy(grad + off, g_best + off, bytes);
        }
        st->reduced[i] = halve;
        st->best_last[i] = st->loss_best[i];
        st->count[i] = 0;
    }
    return 0;
}

void cpu_register_apgd_ops(foil_backend *b) {
    b->dlr_loss = cpu_dlr_loss;
    b->apgd_step = cpu_apgd_step;
    b->apgd_update = cpu_apgd_update;
    b->apgd_checkpoint = cpu_apgd_checkpoint;
}
