/* CUDA elementwise ops: fill, relu, dropout, mul, the fused softmax +
 * cross-entropy, the SGD and Adam steps and the batch gathers. The per-element
 * math is the shared header's (foil/elementwise.h, foil/philox.h), so the CPU
 * tests cover it and the same seed draws the same dropout mask as the CPU.
 * Layout as in ggml: kernels, then launchers (launch only), then the op entry
 * points (validate, launch, LAUNCH_CHECK).
 *
 * Label validation (softmax_xent here, target_output in explain_ops.cu):
 * checking labels on the device and reporting to the host costs a
 * device->host copy and a stream sync per call, which a training step must not
 * pay. So:
 *   - always: a kernel never reads out of bounds for a bad label; it writes NaN
 *     to that row's loss (and dlogits), so the bad row cannot go unnoticed;
 *   - in debug-sync mode (FOIL_CUDA_SYNC=1) the kernel also records the first
 *     bad row in a device flag, the host reads it back after the launch and the
 *     op returns -1 with the CPU backend's message. */
#include <limits.h>
#include <math.h>

#include "cuda_common.h"
#include "reduce.cuh"
#include "foil/elementwise.h"

#define EW_THREADS 256u               /* threads per block (8 warps) */
#define EW_WARPS (EW_THREADS / 32u)   /* rows per block in the warp-per-row kernels */

/* Grid-stride loop over n elements. */
#define GRID_STRIDE(i, n)                                                      \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);   \
         i += (size_t)gridDim.x * blockDim.x)

/* ---- kernels ------------------------------------------------------------- */

static __global__ void k_fill(float *x, float value, size_t n) {
    GRID_STRIDE(i, n) x[i] = value;
}

static __global__ void k_relu_fwd(float *out, const float *in, size_t n) {
    GRID_STRIDE(i, n) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

static __global__ void k_relu_bwd(float *din, const float *dout, const float *out, size_t n) {
    GRID_STRIDE(i, n) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

/* element i uses Philox index i, as the CPU */
static __global__ void k_dropout_fwd(float *out, float *mask, const float *in, float rate,
                                     uint64_t seed, uint64_t stream, size_t n) {
    GRID_STRIDE(i, n) {
        float m = foil_dropout_mask(seed, stream, i, rate);
        mask[i] = m;
        out[i] = in[i] * m;
    }
}

static __global__ void k_mul(float *out, const float *x, const float *y, size_t n) {
    GRID_STRIDE(i, n) out[i] = x[i] * y[i];
}

static __global__ void k_add(float *out, const float *x, const float *y, size_t n) {
    GRID_STRIDE(i, n) out[i] = x[i] + y[i];
}

static __global__ void k_sub(float *out, const float *x, const float *y, size_t n) {
    GRID_STRIDE(i, n) out[i] = x[i] - y[i];
}

static __global__ void k_scale(float *out, const float *x, float alpha, size_t n) {
    GRID_STRIDE(i, n) out[i] = __fmul_rn(alpha, x[i]);
}

/* In double, rounded once, as the CPU (and ig_accumulate) */
static __global__ void k_axpy(float *y, float alpha, const float *x, size_t n) {
    GRID_STRIDE(i, n) y[i] = (float)((double)y[i] + (double)alpha * (double)x[i]);
}

/* One warp per row (classes is 10 for MNIST: a block per row would idle 246
 * threads); lanes stride over the classes. logits, dlogits (n, classes);
 * loss, labels (n). The sum of exponentials is in double, as on the CPU. */
static __global__ void k_softmax_xent(float *loss, float *dlogits, const float *logits,
                                      const int32_t *labels, int n, int classes,
                                      float grad_scale, unsigned *bad_row) {
    const int lane = (int)(threadIdx.x & 31u);
    const int64_t stride = (int64_t)gridDim.x * EW_WARPS;
    for (int64_t i = (int64_t)blockIdx.x * EW_WARPS + threadIdx.x / 32u; i < n; i += stride) {
        const float *x = logits + (size_t)i * classes;
        float *d = dlogits ? dlogits + (size_t)i * classes : NULL;
        const int y = labels[i];
        if (y < 0 || y >= classes) { /* see the top of the file */
            if (lane == 0) {
                loss[i] = NAN;
                if (bad_row) atomicMin(bad_row, (unsigned)i);
            }
            for (int j = lane; d && j < classes; j += 32) d[j] = NAN;
            continue;
        }
        float mx = -INFINITY;
        for (int j = lane; j < classes; j += 32) mx = x[j] > mx ? x[j] : mx;
        mx = warp_max(mx);
        double sum = 0.0;
        for (int j = lane; j < classes; j += 32) sum += exp((double)(x[j] - mx));
        sum = warp_sum(sum);
        if (lane == 0) loss[i] = (float)(log(sum) - (double)(x[y] - mx));
        for (int j = lane; d && j < classes; j += 32) {
            float p = (float)(exp((double)(x[j] - mx)) / sum);
            d[j] = (p - (j == y ? 1.0f : 0.0f)) * grad_scale;
        }
    }
}

/* One thread per row: TRADES' KL with its gradients (foil_kl_row, as the CPU). */
static __global__ void k_kl_div(float *loss, float *dp, float *dq, const float *logits_p,
                                const float *logits_q, int n, int classes, float grad_scale) {
    GRID_STRIDE(i, (size_t)n) {
        const size_t o = i * (size_t)classes;
        loss[i] = foil_kl_row(logits_p + o, logits_q + o, classes, dp ? dp + o : NULL,
                              dq ? dq + o : NULL, grad_scale);
    }
}

/* velocity may be NULL when momentum == 0 (foil_sgd_update does not touch it) */
static __global__ void k_sgd_step(float *w, float *velocity, const float *grad, size_t n,
                                  foil_sgd_hparams hp) {
    GRID_STRIDE(i, n) {
        float wi = w[i], vi = velocity ? velocity[i] : 0.0f;
        foil_sgd_update(&wi, &vi, grad[i], hp.lr, hp.momentum, hp.weight_decay, hp.nesterov);
        w[i] = wi;
        if (velocity) velocity[i] = vi;
    }
}

static __global__ void k_adam_step(float *w, float *m, float *v, const float *grad, size_t n,
                                   foil_adam_hparams hp, float step_size, float bc2_sqrt) {
    GRID_STRIDE(i, n) {
        float wi = w[i], mi = m[i], vi = v[i];
        foil_adam_update(&wi, &mi, &vi, grad[i], hp.lr, hp.beta1, hp.beta2, hp.eps,
                         hp.weight_decay, step_size, bc2_sqrt);
        w[i] = wi;
        m[i] = mi;
        v[i] = vi;
    }
}

/* One block per row (grid-stride over rows), threads over the row: coalesced.
 * dst (n, row); src (rows, row); idx (n). */
static __global__ void k_gather_rows(float *dst, const float *src, const int32_t *idx, int n,
                                     size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const float *s = src + (size_t)idx[i] * row;
        float *d = dst + (size_t)i * row;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) d[j] = s[j];
    }
}

static __global__ void k_gather_labels(int32_t *dst, const int32_t *src, const int32_t *idx,
                                       size_t n) {
    GRID_STRIDE(i, n) dst[i] = src[idx[i]];
}

/* ---- launchers (launch only; the entry point checks) --------------------- */

static void launch_fill(cudaStream_t s, float *x, float value, size_t n) {
    k_fill<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(x, value, n);
}

static void launch_relu_fwd(cudaStream_t s, float *out, const float *in, size_t n) {
    k_relu_fwd<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(out, in, n);
}

static void launch_relu_bwd(cudaStream_t s, float *din, const float *dout, const float *out,
                            size_t n) {
    k_relu_bwd<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(din, dout, out, n);
}

static void launch_dropout_fwd(cudaStream_t s, float *out, float *mask, const float *in,
                               float rate, uint64_t seed, uint64_t stream, size_t n) {
    k_dropout_fwd<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(out, mask, in, rate, seed,
                                                                    stream, n);
}

static void launch_mul(cudaStream_t s, float *out, const float *x, const float *y, size_t n) {
    k_mul<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(out, x, y, n);
}

static void launch_add(cudaStream_t s, float *out, const float *x, const float *y, size_t n) {
    k_add<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(out, x, y, n);
}

static void launch_sub(cudaStream_t s, float *out, const float *x, const float *y, size_t n) {
    k_sub<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(out, x, y, n);
}

static void launch_scale(cudaStream_t s, float *out, const float *x, float alpha, size_t n) {
    k_scale<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(out, x, alpha, n);
}

static void launch_axpy(cudaStream_t s, float *y, float alpha, const float *x, size_t n) {
    k_axpy<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(y, alpha, x, n);
}

static void launch_softmax_xent(cudaStream_t s, float *loss, float *dlogits,
                                const float *logits, const int32_t *labels, int n, int classes,
                                float grad_scale, unsigned *bad_row) {
    k_softmax_xent<<<cuda_blocks((size_t)n, EW_WARPS), EW_THREADS, 0, s>>>(
        loss, dlogits, logits, labels, n, classes, grad_scale, bad_row);
}

static void launch_kl_div(cudaStream_t s, float *loss, float *dp, float *dq,
                          const float *logits_p, const float *logits_q, int n, int classes,
                          float grad_scale) {
    k_kl_div<<<cuda_blocks((size_t)n, EW_THREADS), EW_THREADS, 0, s>>>(
        loss, dp, dq, logits_p, logits_q, n, classes, grad_scale);
}

static void launch_sgd_step(cudaStream_t s, float *w, float *velocity, const float *grad,
                            size_t n, const foil_sgd_hparams *hp) {
    k_sgd_step<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(w, velocity, grad, n, *hp);
}

static void launch_adam_step(cudaStream_t s, float *w, float *m, float *v, const float *grad,
                             size_t n, const foil_adam_hparams *hp, float step_size,
                             float bc2_sqrt) {
    k_adam_step<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(w, m, v, grad, n, *hp,
                                                                  step_size, bc2_sqrt);
}

static void launch_gather_rows(cudaStream_t s, float *dst, const float *src, const int32_t *idx,
                               int n, size_t row) {
    k_gather_rows<<<cuda_blocks((size_t)n, 1u), EW_THREADS, 0, s>>>(dst, src, idx, n, row);
}

static void launch_gather_labels(cudaStream_t s, int32_t *dst, const int32_t *src,
                                 const int32_t *idx, size_t n) {
    k_gather_labels<<<cuda_blocks(n, EW_THREADS), EW_THREADS, 0, s>>>(dst, src, idx, n);
}

/* ---- label validation (debug-sync mode only; see the top of the file) ---- */

/* *bad_row: NULL outside debug mode, else a device word set to UINT_MAX that
 * the kernel lowers (atomicMin) to the first bad row. It lives in the shared
 * workspace: ordered on ctx->stream and read back before the op returns. Also
 * used by explain_ops.cu (C++ linkage: a mismatched declaration fails to link). */
int cuda_label_check_begin(foil_backend *b, unsigned **bad_row) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    *bad_row = NULL;
    if (!ctx->debug_sync) return 0;
    unsigned *flag = (unsigned *)cuda_workspace(b, sizeof(unsigned));
    if (!flag) return -1;
    CUDA_CHECK(b, cudaMemsetAsync(flag, 0xFF, sizeof(unsigned), ctx->stream));
    *bad_row = flag;
    return 0;
}

/* After the launch: -1 with "<op>: <what> L of sample I is not in [0, classes)"
 * (the CPU backend's message) when a bad row was recorded. */
int cuda_label_check_end(foil_backend *b, const unsigned *bad_row, const int32_t *labels,
                         const char *op, const char *what, int classes) {
    if (!bad_row) return 0;
    cuda_ctx *ctx = cuda_ctx_of(b);
    unsigned row = UINT_MAX;
    int32_t label = 0;
    CUDA_CHECK(b, cudaMemcpyAsync(&row, bad_row, sizeof row, cudaMemcpyDeviceToHost,
                                  ctx->stream));
    CUDA_CHECK(b, cudaStreamSynchronize(ctx->stream));
    if (row == UINT_MAX) return 0;
    CUDA_CHECK(b, cudaMemcpyAsync(&label, labels + row, sizeof label, cudaMemcpyDeviceToHost,
                                  ctx->stream));
    CUDA_CHECK(b, cudaStreamSynchronize(ctx->stream));
    return foil_fail(&b->err, "%s: %s %d of sample %d is not in [0, %d)", op, what, (int)label,
                     (int)row, classes);
}

/* ---- op entry points ----------------------------------------------------- */

static cudaStream_t stream_of(foil_backend *b) { return cuda_ctx_of(b)->stream; }

static int cuda_fill(foil_backend *b, float *x, float value, size_t n) {
    if (!n) return 0;
    launch_fill(stream_of(b), x, value, n);
    LAUNCH_CHECK(b, "fill");
    return 0;
}

static int cuda_relu_fwd(foil_backend *b, float *out, const float *in, size_t n) {
    if (!n) return 0;
    launch_relu_fwd(stream_of(b), out, in, n);
    LAUNCH_CHECK(b, "relu_fwd");
    return 0;
}

static int cuda_relu_bwd(foil_backend *b, float *din, const float *dout, const float *out,
                         size_t n) {
    if (!n) return 0;
    launch_relu_bwd(stream_of(b), din, dout, out, n);
    LAUNCH_CHECK(b, "relu_bwd");
    return 0;
}

static int cuda_dropout_fwd(foil_backend *b, float *out, float *mask, const float *in,
                            float rate, uint64_t seed, uint64_t stream, size_t n) {
    if (!n) return 0;
    launch_dropout_fwd(stream_of(b), out, mask, in, rate, seed, stream, n);
    LAUNCH_CHECK(b, "dropout_fwd");
    return 0;
}

static int cuda_mul(foil_backend *b, float *out, const float *x, const float *y, size_t n) {
    if (!n) return 0;
    launch_mul(stream_of(b), out, x, y, n);
    LAUNCH_CHECK(b, "mul");
    return 0;
}

static int cuda_add(foil_backend *b, float *out, const float *x, const float *y, size_t n) {
    if (!n) return 0;
    launch_add(stream_of(b), out, x, y, n);
    LAUNCH_CHECK(b, "add");
    return 0;
}

static int cuda_sub(foil_backend *b, float *out, const float *x, const float *y, size_t n) {
    if (!n) return 0;
    launch_sub(stream_of(b), out, x, y, n);
    LAUNCH_CHECK(b, "sub");
    return 0;
}

static int cuda_scale(foil_backend *b, float *out, const float *x, float alpha, size_t n) {
    if (!n) return 0;
    launch_scale(stream_of(b), out, x, alpha, n);
    LAUNCH_CHECK(b, "scale");
    return 0;
}

static int cuda_axpy(foil_backend *b, float *y, float alpha, const float *x, size_t n) {
    if (!n) return 0;
    launch_axpy(stream_of(b), y, alpha, x, n);
    LAUNCH_CHECK(b, "axpy");
    return 0;
}

static int cuda_softmax_xent(foil_backend *b, float *loss, float *dlogits, const float *logits,
                             const int32_t *labels, int n, int classes, float grad_scale) {
    if (n <= 0) return 0; /* classes checked in front (host/backend/check.c) */
    unsigned *bad_row;
    if (cuda_label_check_begin(b, &bad_row)) return -1;
    launch_softmax_xent(stream_of(b), loss, dlogits, logits, labels, n, classes, grad_scale,
                        bad_row);
    LAUNCH_CHECK(b, "softmax_xent");
    return cuda_label_check_end(b, bad_row, labels, "softmax_xent", "label", classes);
}

static int cuda_kl_div(foil_backend *b, float *loss, float *dp, float *dq, const float *logits_p,
                       const float *logits_q, int n, int classes, float grad_scale) {
    if (n <= 0) return 0; /* classes checked in front (host/backend/check.c) */
    launch_kl_div(stream_of(b), loss, dp, dq, logits_p, logits_q, n, classes, grad_scale);
    LAUNCH_CHECK(b, "kl_div");
    return 0;
}

static int cuda_sgd_step(foil_backend *b, float *w, float *velocity, const float *grad,
                         size_t n, const foil_sgd_hparams *hp) {
    if (!n) return 0; /* the velocity buffer checked in front */
    launch_sgd_step(stream_of(b), w, velocity, grad, n, hp);
    LAUNCH_CHECK(b, "sgd_step");
    return 0;
}

static int cuda_adam_step(foil_backend *b, float *w, float *m, float *v, const float *grad,
                          size_t n, const foil_adam_hparams *hp) {
    if (!n) return 0;
    /* bias corrections in double, rounded to float, exactly as the CPU */
    float step_size = (float)(hp->lr / (1.0 - pow(hp->beta1, hp->t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(hp->beta2, hp->t));
    launch_adam_step(stream_of(b), w, m, v, grad, n, hp, step_size, bc2_sqrt);
    LAUNCH_CHECK(b, "adam_step");
    return 0;
}

static int cuda_gather_rows(foil_backend *b, float *dst, const float *src, const int32_t *idx,
                            int n, size_t row) {
    if (n <= 0 || !row) return 0;
    launch_gather_rows(stream_of(b), dst, src, idx, n, row);
    LAUNCH_CHECK(b, "gather_rows");
    return 0;
}

static int cuda_gather_labels(foil_backend *b, int32_t *dst, const int32_t *src,
                              const int32_t *idx, int n) {
    if (n <= 0) return 0;
    launch_gather_labels(stream_of(b), dst, src, idx, (size_t)n);
    LAUNCH_CHECK(b, "gather_labels");
    return 0;
}

extern "C" void cuda_register_elementwise_ops(foil_backend *b) {
    b->fill = cuda_fill;
    b->relu_fwd = cuda_relu_fwd;
    b->relu_bwd = cuda_relu_bwd;
    b->dropout_fwd = cuda_dropout_fwd;
    b->mul = cuda_mul;
    b->add = cuda_add;
    b->sub = cuda_sub;
    b->scale = cuda_scale;
    b->axpy = cuda_axpy;
    b->softmax_xent = cuda_softmax_xent;
    b->kl_div = cuda_kl_div;
    b->sgd_step = cuda_sgd_step;
    b->adam_step = cuda_adam_step;
    b->gather_rows = cuda_gather_rows;
    b->gather_labels = cuda_gather_labels;
}
