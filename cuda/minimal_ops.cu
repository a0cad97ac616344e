/* CUDA ops of the minimal-perturbation attacks: FAB-T's (Croce and Hein
 * 2020) logit difference, step through the L-inf projections onto the
 * linearised boundary and bookkeeping of the smallest adversarial found,
 * DeepFool's step, and CW-L2's margin, bookkeeping and Adam step in tanh
 * space. Same math as
 * host/backend/cpu/backend_cpu_minimal.c through foil/fab_math.h; row sums in
 * double with the fixed-order block trees of reduce.cuh (another order than
 * the CPU's: parity within a tolerance). Layout as attack_ops.cu: kernels,
 * launchers, op entry points. Not yet run on a GPU (only on foil's CUDA
 * emulator). */
#include <float.h>
#include <math.h>

#include "cuda_common.h"
#include "reduce.cuh"
#include "foil/fab_math.h"

#define FAB_THREADS 256u /* threads per block; block_sum assumes exactly this */

/* ---- kernels ------------------------------------------------------------- */

/* One thread per row. A label or target out of range gives a NaN
 * difference and a zero gradient (the CPU backend fails instead; the attack
 * never passes one). */
static __global__ void k_fab_diff(float *diff, float *dlogits, const float *logits,
                                  const int32_t *labels, const int32_t *targets, int n,
                                  int classes) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int y = labels[i], t = targets[i];
        const int ok = y >= 0 && y < classes && t >= 0 && t < classes;
        const float *z = logits + (size_t)i * classes;
        diff[i] = ok ? __fsub_rn(z[t], z[y]) : NAN;
        if (!dlogits) continue;
        float *dz = dlogits + (size_t)i * classes;
        for (int j = 0; j < classes; j++) dz[j] = ok ? (float)(j == t) - (float)(j == y) : 0.0f;
    }
}

/* The projection of row t onto <w, z> = beta, L-inf or L2 (every thread of
 * the block calls it with the same beta): its lambda (FLT_MAX: the corner),
 * delta and the step's norm, as project of the CPU backend. */
static __device__ float project(const float *t, const float *w, double beta, size_t row, int l2,
                                double *delta_out, float *size, double *buf) {
    double wt = 0.0;
    for (size_t j = threadIdx.x; j < row; j += blockDim.x) wt += (double)w[j] * t[j];
    const double delta = beta - block_sum<FAB_THREADS>(wt, buf), need = fabs(delta);
    *delta_out = delta;
    double gmax = 0.0, kmax = 0.0, rmax = 0.0;
    for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
        const float dir = foil_fab_dir(w[j], delta);
        if (dir == 0.0f) continue;
        const double room = foil_fab_room(t[j], dir), knee = foil_fab_knee(w[j], room, l2);
        gmax += fabs((double)w[j]) * room;
        kmax = knee > kmax ? knee : kmax;
        rmax = room > rmax ? room : rmax;
    }
    gmax = block_sum<FAB_THREADS>(gmax, buf);
    kmax = block_max<FAB_THREADS>(kmax, buf);
    rmax = block_max<FAB_THREADS>(rmax, buf);
    if (need == 0.0) return *size = 0.0f, 0.0f;
    float lambda = FLT_MAX;
    if (gmax > need) {
        double lo = 0.0, hi = kmax;
        for (int k = 0; k < FOIL_FAB_BISECT; k++) {
            const double mid = 0.5 * (lo + hi);
            double g = 0.0;
            for (size_t j = threadIdx.x; j < row; j += blockDim.x)
                g += foil_fab_gain(t[j], w[j], delta, mid, l2);
            if (block_sum<FAB_THREADS>(g, buf) < need) lo = mid;
            else hi = mid;
        }
        double full = 0.0, rest = 0.0;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            const float dir = foil_fab_dir(w[j], delta);
            if (dir == 0.0f) continue;
            const double room = foil_fab_room(t[j], dir);
            if (foil_fab_knee(w[j], room, l2) <= lo) full += fabs((double)w[j]) * room;
            else rest += foil_fab_slope(w[j], l2);
        }
        full = block_sum<FAB_THREADS>(full, buf);
        rest = block_sum<FAB_THREADS>(rest, buf);
        lambda = (float)((need - full) / rest);
    }
    if (!l2) {
        *size = lambda < (float)rmax ? lambda : (float)rmax;
        return lambda;
    }
    double ss = 0.0;
    for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
        const double d = foil_fab_step(t[j], w[j], delta, lambda, 1);
        ss += d * d;
    }
    *size = (float)sqrt(block_sum<FAB_THREADS>(ss, buf));
    return lambda;
}

/* One block per row; every branch on the block's sums is uniform. */
static __global__ void k_fab_step(float *x, const float *x0, const float *grad,
                                  const float *diff, float eta, float alpha_max, int l2, int n,
                                  size_t row) {
    __shared__ double buf[FAB_THREADS];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        float *x1 = x + (size_t)i * row;
        const float *o = x0 + (size_t)i * row, *w = grad + (size_t)i * row;
        double beta = 0.0, delta1, delta2;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) beta += (double)w[j] * x1[j];
        beta = block_sum<FAB_THREADS>(beta, buf) - diff[i];
        float a1, a2;
        const float l1 = project(x1, w, beta, row, l2, &delta1, &a1, buf);
        const float lo = project(o, w, beta, row, l2, &delta2, &a2, buf);
        const float alpha = foil_fab_alpha(a1, a2, alpha_max);
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) { /* own elements: no sync */
            const float d1 = foil_fab_step(x1[j], w[j], delta1, l1, l2);
            const float d2 = foil_fab_step(o[j], w[j], delta2, lo, l2);
            x1[j] = foil_fab_mix(x1[j], d1, o[j], d2, eta, alpha);
        }
        __syncthreads(); /* the next row's sums reuse buf */
    }
}

/* One block per row: the distance is a block maximum, every thread reads
 * the decision before thread 0 changes dist. */
static __global__ void k_fab_update(float *x_adv, float *dist, float *x, const float *x0,
                                    const int32_t *fooled, float beta, int l2, int n,
                                    size_t row) {
    __shared__ double buf[FAB_THREADS];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        if (!fooled[i]) continue; /* uniform over the block */
        float *x1 = x + (size_t)i * row;
        const float *o = x0 + (size_t)i * row;
        double t = 0.0;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            const double d = fabsf(__fsub_rn(x1[j], o[j]));
            if (l2) t += d * d;
            else t = d > t ? d : t;
        }
        t = l2 ? sqrt(block_sum<FAB_THREADS>(t, buf)) : block_max<FAB_THREADS>(t, buf);
        const int closer = (float)t < dist[i];
        __syncthreads();
        if (threadIdx.x == 0 && closer) dist[i] = (float)t;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            if (closer) x_adv[(size_t)i * row + j] = x1[j];
            x1[j] = __fadd_rn(o[j], __fmul_rn(__fsub_rn(x1[j], o[j]), beta));
        }
    }
}

/* One block per row; the class choice is made from block sums, uniform. A
 * label out of range leaves the row alone (the CPU backend fails). */
static __global__ void k_deepfool_step(float *x, float *r_tot, const float *x0,
                                       const float *diffs, const float *grads,
                                       const int32_t *labels, const int32_t *active, int n,
                                       int classes, size_t row, float overshoot) {
    __shared__ double buf[FAB_THREADS];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const int y = labels[i];
        if (!active[i] || y < 0 || y >= classes) continue; /* uniform over the block */
        int best = -1;
        double best_ratio = INFINITY, best_sq = 0.0;
        for (int k = 0; k < classes; k++) {
            if (k == y) continue;
            const float *g = grads + ((size_t)k * n + i) * row;
            double sq = 0.0;
            for (size_t j = threadIdx.x; j < row; j += blockDim.x) sq += (double)g[j] * g[j];
            sq = block_sum<FAB_THREADS>(sq, buf);
            const double ratio = fabs((double)diffs[(size_t)k * n + i]) / sqrt(sq);
            if (sq > 0.0 && ratio < best_ratio) best = k, best_ratio = ratio, best_sq = sq;
        }
        if (best < 0) continue;
        const float scale =
            (float)((fabs((double)diffs[(size_t)best * n + i]) + 1e-4) / best_sq);
        const float *g = grads + ((size_t)best * n + i) * row;
        float *xr = x + (size_t)i * row, *rt = r_tot + (size_t)i * row;
        const float *o = x0 + (size_t)i * row;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            rt[j] = __fadd_rn(rt[j], __fmul_rn(scale, g[j]));
            xr[j] = foil_clampf(__fadd_rn(o[j], __fmul_rn(1.0f + overshoot, rt[j])), 0.0f, 1.0f);
        }
    }
}

/* One thread per row. A label out of range gives a NaN loss and a zero
 * gradient (the CPU backend fails; the attack never passes one). */
static __global__ void k_cw_margin(float *loss, float *dlogits, const float *logits,
                                   const int32_t *labels, const float *c, float kappa, int n,
                                   int classes) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float *z = logits + (size_t)i * classes;
        float *dz = dlogits + (size_t)i * classes;
        const int y = labels[i];
        for (int j = 0; j < classes; j++) dz[j] = 0.0f;
        if (y < 0 || y >= classes) {
            loss[i] = NAN;
            continue;
        }
        int other = y == 0 ? 1 : 0;
        for (int j = 0; j < classes; j++)
            if (j != y && z[j] > z[other]) other = j;
        const float g = __fadd_rn(__fsub_rn(z[y], z[other]), kappa);
        loss[i] = g > 0.0f ? __fmul_rn(c[i], g) : 0.0f;
        if (g > 0.0f) dz[y] = c[i], dz[other] = -c[i];
    }
}

/* One block per row: the distance is a block sum; every thread reads the
 * decision before thread 0 changes best. */
static __global__ void k_cw_update(float *best, float *best_adv, int32_t *found, float *dist,
                                   const float *x, const float *x0, const int32_t *fooled,
                                   int n, size_t row) {
    __shared__ double buf[FAB_THREADS];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const float *xr = x + (size_t)i * row, *o = x0 + (size_t)i * row;
        double s = 0.0;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            const double dv = (double)xr[j] - o[j];
            s += dv * dv;
        }
        const float d = (float)block_sum<FAB_THREADS>(s, buf);
        const int take = fooled[i] && d < best[i];
        __syncthreads();
        if (threadIdx.x == 0) {
            dist[i] = d;
            if (take) best[i] = d, found[i] = 1;
        }
        for (size_t j = threadIdx.x; take && j < row; j += blockDim.x)
            best_adv[(size_t)i * row + j] = xr[j];
    }
}

/* Element-wise over the rows with active[i] (a grid-stride loop over all
 * elements; the row of an element is j / row). */
static __global__ void k_cw_step(float *w, float *m, float *v, float *x, const float *grad,
                                 const float *x0, const int32_t *active, size_t total,
                                 size_t row, foil_adam_hparams hp, float step_size,
                                 float bc2_sqrt) {
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < total;
         j += (size_t)gridDim.x * blockDim.x) {
        if (!active[j / row]) continue;
        float wj = w[j], mj = m[j], vj = v[j];
        const float g = foil_cw_grad(wj, x[j], x0[j], grad[j]);
        foil_adam_update(&wj, &mj, &vj, g, hp.lr, hp.beta1, hp.beta2, hp.eps, 0.0f, step_size,
                         bc2_sqrt);
        w[j] = wj, m[j] = mj, v[j] = vj;
        x[j] = foil_cw_x(wj);
    }
}

/* ---- launchers (launch only; the entry point checks) --------------------- */

static void launch_fab_diff(cudaStream_t s, float *diff, float *dlogits, const float *logits,
                            const int32_t *labels, const int32_t *targets, int n, int classes) {
    k_fab_diff<<<cuda_blocks((size_t)n, FAB_THREADS), FAB_THREADS, 0, s>>>(
        diff, dlogits, logits, labels, targets, n, classes);
}

static void launch_fab_step(cudaStream_t s, float *x, const float *x0, const float *grad,
                            const float *diff, float eta, float alpha_max, int l2, int n,
                            size_t row) {
    k_fab_step<<<cuda_blocks((size_t)n, 1u), FAB_THREADS, 0, s>>>(x, x0, grad, diff, eta,
                                                                  alpha_max, l2, n, row);
}

static void launch_fab_update(cudaStream_t s, float *x_adv, float *dist, float *x,
                              const float *x0, const int32_t *fooled, float beta, int l2, int n,
                              size_t row) {
    k_fab_update<<<cuda_blocks((size_t)n, 1u), FAB_THREADS, 0, s>>>(x_adv, dist, x, x0, fooled,
                                                                    beta, l2, n, row);
}

static void launch_deepfool_step(cudaStream_t s, float *x, float *r_tot, const float *x0,
                                 const float *diffs, const float *grads, const int32_t *labels,
                                 const int32_t *active, int n, int classes, size_t row,
                                 float overshoot) {
    k_deepfool_step<<<cuda_blocks((size_t)n, 1u), FAB_THREADS, 0, s>>>(
        x, r_tot, x0, diffs, grads, labels, active, n, classes, row, overshoot);
}

static void launch_cw_margin(cudaStream_t s, float *loss, float *dlogits, const float *logits,
                             const int32_t *labels, const float *c, float kappa, int n,
                             int classes) {
    k_cw_margin<<<cuda_blocks((size_t)n, FAB_THREADS), FAB_THREADS, 0, s>>>(
        loss, dlogits, logits, labels, c, kappa, n, classes);
}

static void launch_cw_update(cudaStream_t s, float *best, float *best_adv, int32_t *found,
                             float *dist, const float *x, const float *x0,
                             const int32_t *fooled, int n, size_t row) {
    k_cw_update<<<cuda_blocks((size_t)n, 1u), FAB_THREADS, 0, s>>>(best, best_adv, found, dist,
                                                                   x, x0, fooled, n, row);
}

static void launch_cw_step(cudaStream_t s, float *w, float *m, float *v, float *x,
                           const float *grad, const float *x0, const int32_t *active, int n,
                           size_t row, const foil_adam_hparams *hp) {
    const float step_size = (float)(hp->lr / (1.0 - pow(hp->beta1, hp->t)));
    const float bc2_sqrt = (float)sqrt(1.0 - pow(hp->beta2, hp->t));
    const size_t total = (size_t)n * row;
    k_cw_step<<<cuda_blocks(total, FAB_THREADS), FAB_THREADS, 0, s>>>(
        w, m, v, x, grad, x0, active, total, row, *hp, step_size, bc2_sqrt);
}

/* ---- op entry points ----------------------------------------------------- */

static cudaStream_t stream_of(foil_backend *b) { return cuda_ctx_of(b)->stream; }

static int cuda_fab_diff(foil_backend *b, float *diff, float *dlogits, const float *logits,
                         const int32_t *labels, const int32_t *targets, int n, int classes) {
    if (n <= 0) return 0;
    launch_fab_diff(stream_of(b), diff, dlogits, logits, labels, targets, n, classes);
    LAUNCH_CHECK(b, "fab_diff");
    return 0;
}

static int cuda_fab_step(foil_backend *b, float *x, const float *x0, const float *grad,
                         const float *diff, float eta, float alpha_max, foil_norm norm, int n,
                         size_t row) {
    if (n <= 0 || !row) return 0;
    launch_fab_step(stream_of(b), x, x0, grad, diff, eta, alpha_max, norm == FOIL_NORM_L2, n,
                    row);
    LAUNCH_CHECK(b, "fab_step");
    return 0;
}

static int cuda_fab_update(foil_backend *b, float *x_adv, float *dist, float *x, const float *x0,
                           const int32_t *fooled, float beta, foil_norm norm, int n, size_t row) {
    if (n <= 0 || !row) return 0;
    launch_fab_update(stream_of(b), x_adv, dist, x, x0, fooled, beta, norm == FOIL_NORM_L2, n,
                      row);
    LAUNCH_CHECK(b, "fab_update");
    return 0;
}

static int cuda_deepfool_step(foil_backend *b, float *x, float *r_tot, const float *x0,
                              const float *diffs, const float *grads, const int32_t *labels,
                              const int32_t *active, int n, int classes, size_t row,
                              float overshoot) {
    if (n <= 0 || !row) return 0;
    launch_deepfool_step(stream_of(b), x, r_tot, x0, diffs, grads, labels, active, n, classes,
                         row, overshoot);
    LAUNCH_CHECK(b, "deepfool_step");
    return 0;
}

static int cuda_cw_margin(foil_backend *b, float *loss, float *dlogits, const float *logits,
                          const int32_t *labels, const float *c, float kappa, int n,
                          int classes) {
    if (n <= 0) return 0;
    launch_cw_margin(stream_of(b), loss, dlogits, logits, labels, c, kappa, n, classes);
    LAUNCH_CHECK(b, "cw_margin");
    return 0;
}

static int cuda_cw_update(foil_backend *b, float *best, float *best_adv, int32_t *found,
                          float *dist, const float *x, const float *x0, const int32_t *fooled,
                          int n, size_t row) {
    if (n <= 0) return 0;
    launch_cw_update(stream_of(b), best, best_adv, found, dist, x, x0, fooled, n, row);
    LAUNCH_CHECK(b, "cw_update");
    return 0;
}

static int cuda_cw_step(foil_backend *b, float *w, float *m, float *v, float *x,
                        const float *grad, const float *x0, const int32_t *active, int n,
                        size_t row, const foil_adam_hparams *hp) {
    if (n <= 0 || !row) return 0;
    launch_cw_step(stream_of(b), w, m, v, x, grad, x0, active, n, row, hp);
    LAUNCH_CHECK(b, "cw_step");
    return 0;
}

extern "C" void cuda_register_minimal_ops(foil_backend *b) {
    b->cw_margin = cuda_cw_margin;
    b->cw_update = cuda_cw_update;
    b->cw_step = cuda_cw_step;
    b->deepfool_step = cuda_deepfool_step;
    b->fab_diff = cuda_fab_diff;
    b->fab_step = cuda_fab_step;
    b->fab_update = cuda_fab_update;
}
