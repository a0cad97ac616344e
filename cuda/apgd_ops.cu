/* CUDA APGD ops (Croce and Hein 2020): the DLR loss, the step with
 * momentum, and the per-sample bookkeeping of the step-size schedule, so an
 * APGD run never waits on the host. Same math as
 * host/backend/cpu/backend_cpu_apgd.c through foil/elementwise.h; row
 * norms in double with the fixed-order block tree of reduce.cuh. Layout as
 * attack_ops.cu: kernels, launchers, op entry points. Not yet run on a GPU
 * (only on foil's CUDA emulator). */
#include <math.h>

#include "cuda_common.h"
#include "reduce.cuh"
#include "foil/elementwise.h"

#define AP_THREADS 256u /* threads per block; block_sum assumes exactly this */

/* ---- kernels ------------------------------------------------------------- */

/* One thread per row (classes is small). A label or target out of range
 * gives a NaN loss and a zero gradient (the CPU backend fails instead; the
 * attack loop never passes one). */
static __global__ void k_dlr_loss(float *loss, float *dlogits, const float *logits,
                                  const int32_t *labels, const int32_t *targets, int n,
                                  int classes) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const int y = labels[i], t = targets ? targets[i] : -1;
        float *dz = dlogits ? dlogits + (size_t)i * classes : NULL;
        if (y < 0 || y >= classes || t >= classes) {
            loss[i] = NAN;
            for (int j = 0; dz && j < classes; j++) dz[j] = 0.0f;
            continue;
        }
        loss[i] = foil_dlr_row(logits + (size_t)i * classes, classes, y, t, dz);
    }
}

/* One block per row; the L2 branch is uniform over the block. */
static __global__ void k_apgd_step(float *x, float *x_prev, const float *grad, const float *x0,
                                   const float *step, float alpha, int n, size_t row, int norm,
                                   float eps) {
    __shared__ double buf[AP_THREADS];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const size_t off = (size_t)i * row;
        float *xr = x + off, *pr = x_prev + off;
        const float *g = grad + off, *o = x0 + off;
        const float st = step[i];
        if (norm == FOIL_NORM_LINF) {
            for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
                float v = foil_apgd_linf(xr[j], pr[j], g[j], o[j], st, alpha, eps);
                pr[j] = xr[j];
                xr[j] = v;
            }
            continue;
        }
        double gg = 0.0, zz = 0.0, mm = 0.0;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) gg += (double)g[j] * g[j];
        gg = block_sum<AP_THREADS>(gg, buf);
        const float ginv = (float)(1.0 / (sqrt(gg) + 1e-12));
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            double d = foil_apgd_l2_z(xr[j], g[j], st, ginv) - o[j];
            zz += d * d;
        }
        zz = block_sum<AP_THREADS>(zz, buf);
        const float kz = foil_apgd_l2_shrink(sqrt(zz), eps, 0);
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            float z = foil_apgd_l2_z(xr[j], g[j], st, ginv);
            double d = foil_apgd_l2_mix(xr[j], pr[j], o[j], z, kz, alpha) - o[j];
            mm += d * d;
        }
        mm = block_sum<AP_THREADS>(mm, buf);
        const float kn = foil_apgd_l2_shrink(sqrt(mm), eps, 1);
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) { /* own elements: no sync */
            float z = foil_apgd_l2_z(xr[j], g[j], st, ginv);
            float m = foil_apgd_l2_mix(xr[j], pr[j], o[j], z, kz, alpha);
            pr[j] = xr[j];
            xr[j] = foil_apgd_shrunk(o[j], m, kn);
        }
    }
}

/* One block per row: every thread reads the row's decision before thread 0
 * changes the scalars it was made from. */
static __global__ void k_apgd_update(foil_apgd_state st, float *x_best, float *g_best,
                                     float *x_adv, const float *x, const float *grad,
                                     const float *loss, const int32_t *fooled, int n,
                                     size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const size_t off = (size_t)i * row;
        const int better = loss[i] > st.loss_best[i], hit = fooled[i] != 0;
        __syncthreads();
        if (threadIdx.x == 0) {
            st.count[i] += loss[i] > st.loss_prev[i];
            st.loss_prev[i] = loss[i];
            if (better) st.loss_best[i] = loss[i];
            if (hit) st.robust[i] = 0;
        }
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            if (better) x_best[off + j] = x[off + j], g_best[off + j] = grad[off + j];
            if (hit) x_adv[off + j] = x[off + j];
        }
    }
}

static __global__ void k_apgd_checkpoint(foil_apgd_state st, float *x, float *grad,
                                         const float *x_best, const float *g_best, float limit,
                                         int n, size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const size_t off = (size_t)i * row;
        const int halve = (float)st.count[i] <= limit ||
                          (!st.reduced[i] && st.best_last[i] >= st.loss_best[i]);
        __syncthreads();
        if (threadIdx.x == 0) {
            if (halve) st.step[i] = __fmul_rn(st.step[i], 0.5f);
            st.reduced[i] = halve;
            st.best_last[i] = st.loss_best[i];
            st.count[i] = 0;
        }
        for (size_t j = threadIdx.x; halve && j < row; j += blockDim.x)
            x[off + j] = x_best[off + j], grad[off + j] = g_best[off + j];
    }
}

/* ---- launchers (launch only; the entry point checks) --------------------- */

static void launch_dlr_loss(cudaStream_t s, float *loss, float *dlogits, const float *logits,
                            const int32_t *labels, const int32_t *targets, int n, int classes) {
    k_dlr_loss<<<cuda_blocks((size_t)n, AP_THREADS), AP_THREADS, 0, s>>>(loss, dlogits, logits,
                                                                         labels, targets, n,
                                                                         classes);
}

static void launch_apgd_step(cudaStream_t s, float *x, float *x_prev, const float *grad,
                             const float *x0, const float *step, float alpha, int n, size_t row,
                             const foil_attack_hparams *hp) {
    k_apgd_step<<<cuda_blocks((size_t)n, 1u), AP_THREADS, 0, s>>>(x, x_prev, grad, x0, step,
                                                                  alpha, n, row, (int)hp->norm,
                                                                  hp->eps);
}

static void launch_apgd_update(cudaStream_t s, const foil_apgd_state *st, float *x_best,
                               float *g_best, float *x_adv, const float *x, const float *grad,
                               const float *loss, const int32_t *fooled, int n, size_t row) {
    k_apgd_update<<<cuda_blocks((size_t)n, 1u), AP_THREADS, 0, s>>>(*st, x_best, g_best, x_adv,
                                                                    x, grad, loss, fooled, n,
                                                                    row);
}

static void launch_apgd_checkpoint(cudaStream_t s, const foil_apgd_state *st, float *x,
                                   float *grad, const float *x_best, const float *g_best,
                                   float limit, int n, size_t row) {
    k_apgd_checkpoint<<<cuda_blocks((size_t)n, 1u), AP_THREADS, 0, s>>>(*st, x, grad, x_best,
                                                                        g_best, limit, n, row);
}

/* ---- op entry points ----------------------------------------------------- */

static cudaStream_t stream_of(foil_backend *b) { return cuda_ctx_of(b)->stream; }

static int cuda_dlr_loss(foil_backend *b, float *loss, float *dlogits, const float *logits,
                         const int32_t *labels, const int32_t *targets, int n, int classes) {
    if (n <= 0) return 0; /* classes checked in front (host/backend/check.c) */
    launch_dlr_loss(stream_of(b), loss, dlogits, logits, labels, targets, n, classes);
    LAUNCH_CHECK(b, "dlr_loss");
    return 0;
}

static int cuda_apgd_step(foil_backend *b, float *x, float *x_prev, const float *grad,
                          const float *x0, const float *step, float alpha, int n, size_t row,
                          const foil_attack_hparams *hp) {
    if (n <= 0 || !row) return 0;
    launch_apgd_step(stream_of(b), x, x_prev, grad, x0, step, alpha, n, row, hp);
    LAUNCH_CHECK(b, "apgd_step");
    return 0;
}

static int cuda_apgd_update(foil_backend *b, const foil_apgd_state *st, float *x_best,
                            float *g_best, float *x_adv, const float *x, const float *grad,
                            const float *loss, const int32_t *fooled, int n, size_t row) {
    if (n <= 0) return 0;
    launch_apgd_update(stream_of(b), st, x_best, g_best, x_adv, x, grad, loss, fooled, n, row);
    LAUNCH_CHECK(b, "apgd_update");
    return 0;
}

static int cuda_apgd_checkpoint(foil_backend *b, const foil_apgd_state *st, float *x,
                                float *grad, const float *x_best, const float *g_best, int k,
                                float rho, int n, size_t row) {
    if (n <= 0) return 0; /* k and rho checked in front */
    launch_apgd_checkpoint(stream_of(b), st, x, grad, x_best, g_best, (float)k * rho, n, row);
    LAUNCH_CHECK(b, "apgd_checkpoint");
    return 0;
}

extern "C" void cuda_register_apgd_ops(foil_backend *b) {
    b->dlr_loss = cuda_dlr_loss;
    b->apgd_step = cuda_apgd_step;
    b->apgd_update = cuda_apgd_update;
    b->apgd_checkpoint = cuda_apgd_checkpoint;
}
