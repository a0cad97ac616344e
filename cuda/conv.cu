/* Convolution ops on cuDNN (plans in conv_plan.cu): NCHW float, weights
 * (K, C, R, S), cross-correlation, as the CPU reference in
 * host/backend/cpu/backend_cpu_layers.c. Own kernels for what cuDNN cannot do as foil
 * needs it: the explicit padding of asymmetric 'same' convolutions and a
 * deterministic bias gradient. */
#include <stdio.h>

#include "layers.h"

/* ---- kernels ---------------------------------------------------------------- */

/* Index arithmetic in I (layers.h: fits32): uint32_t when every index of
 * the call fits, size_t otherwise; one plain kernel per type around a
 * templated body (the emulator's launch rewriting wants plain names). */

/* xp (NC, HP, WP) = x (NC, H, W) shifted by (top, left), zeros elsewhere;
 * rows/columns of x beyond HP/WP are dropped (no window reads them). */
template <typename I>
static __device__ void conv_pad_body(float *xp, const float *x, I nc, int h, int w, int hp,
                                     int wp, int top, int left) {
    I total = nc * (I)hp * (I)wp;
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x) {
        int col = (int)(i % (I)wp);
        I rest = i / (I)wp;
        int row = (int)(rest % (I)hp);
        I plane = rest / (I)hp;
        int iy = row - top, ix = col - left;
        xp[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w)
                    ? x[(plane * (I)h + (I)iy) * (I)w + (I)ix]
                    : 0.0f;
    }
}
static __global__ void conv_pad_kernel32(float *xp, const float *x, uint32_t nc, int h, int w,
                                         int hp, int wp, int top, int left) {
    conv_pad_body<uint32_t>(xp, x, nc, h, w, hp, wp, top, left);
}
static __global__ void conv_pad_kernel(float *xp, const float *x, size_t nc, int h, int w,
                                       int hp, int wp, int top, int left) {
    conv_pad_body<size_t>(xp, x, nc, h, w, hp, wp, top, left);
}

/* dx (NC, H, W) = the (top, left)-offset window of dxp (NC, HP, WP); elements
 * the padded tensor dropped get no gradient. */
template <typename I>
static __device__ void conv_crop_body(float *dx, const float *dxp, I nc, int h, int w, int hp,
                                      int wp, int top, int left) {
    I total = nc * (I)h * (I)w;
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x) {
        int ix = (int)(i % (I)w);
        I rest = i / (I)w;
        int iy = (int)(rest % (I)h);
        I plane = rest / (I)h;
        int row = iy + top, col = ix + left;
        dx[i] = (row < hp && col < wp) ? dxp[(plane * (I)hp + (I)row) * (I)wp + (I)col] : 0.0f;
    }
}
static __global__ void conv_crop_kernel32(float *dx, const float *dxp, uint32_t nc, int h, int w,
                                          int hp, int wp, int top, int left) {
    conv_crop_body<uint32_t>(dx, dxp, nc, h, w, hp, wp, top, left);
}
static __global__ void conv_crop_kernel(float *dx, const float *dxp, size_t nc, int h, int w,
                                        int hp, int wp, int top, int left) {
    conv_crop_body<size_t>(dx, dxp, nc, h, w, hp, wp, top, left);
}

/* dbias[q] = sum over n, j of dout (N, K, HW)[n, q, j]: one block per channel,
 * each thread a fixed strided subset in order, then a fixed-shape tree: the
 * same sum every run (no atomics). Needs blockDim.x == LAYER_THREADS. The
 * element index e is split into (image, pixel) in 32-bit arithmetic when
 * n * k * hw fits, which is what makes this kernel cheap. */
template <typename I>
static __device__ void conv_bias_grad_body(float *dbias, const float *dout, int n, int k,
                                           int hw) {
    __shared__ float part[LAYER_THREADS];
    const I count = (I)n * (I)hw;
    for (int q = blockIdx.x; q < k; q += gridDim.x) {
        float sum = 0.0f;
        for (I e = threadIdx.x; e < count; e += blockDim.x) {
            I i = e / (I)hw, j = e % (I)hw;
            sum += dout[(i * (I)k + (I)q) * (I)hw + j];
        }
        part[threadIdx.x] = sum;
        __syncthreads();
        for (unsigned half = LAYER_THREADS / 2; half > 0; half /= 2) {
            if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
            __syncthreads();
        }
        if (threadIdx.x == 0) dbias[q] = part[0];
        __syncthreads(); /* part[] is reused by the next channel */
    }
}
static __global__ void conv_bias_grad_kernel32(float *dbias, const float *dout, int n, int k,
                                               int hw) {
    conv_bias_grad_body<uint32_t>(dbias, dout, n, k, hw);
}
static __global__ void conv_bias_grad_kernel(float *dbias, const float *dout, int n, int k,
                                             int hw) {
    conv_bias_grad_body<size_t>(dbias, dout, n, k, hw);
}

/* ---- launchers -------------------------------------------------------------- */

static int padded_h(const cuda_conv_plan *p) { return p->shape.h + p->shape.pad_h + p->pad_b; }
static int padded_w(const cuda_conv_plan *p) { return p->shape.w + p->shape.pad_w + p->pad_r; }

static size_t padded_bytes(const cuda_conv_plan *p) {
    return sizeof(float) * (size_t)p->shape.n * (size_t)p->shape.c * (size_t)padded_h(p) *
           (size_t)padded_w(p);
}

static int launch_pad(foil_backend *b, float *xp, const float *x, const cuda_conv_plan *p) {
    const foil_conv_shape *cs = &p->shape;
    size_t nc = (size_t)cs->n * (size_t)cs->c;
    size_t total = nc * (size_t)padded_h(p) * (size_t)padded_w(p);
    unsigned blocks = cuda_blocks(total, LAYER_THREADS);
    cudaStream_t s = cuda_ctx_of(b)->stream;
    if (fits32(total) && fits32(nc * (size_t)cs->h * (size_t)cs->w))
        conv_pad_kernel32<<<blocks, LAYER_THREADS, 0, s>>>(xp, x, (uint32_t)nc, cs->h, cs->w,
                                                           padded_h(p), padded_w(p), cs->pad_h,
                                                           cs->pad_w);
    else
        conv_pad_kernel<<<blocks, LAYER_THREADS, 0, s>>>(xp, x, nc, cs->h, cs->w, padded_h(p),
                                                         padded_w(p), cs->pad_h, cs->pad_w);
    LAUNCH_CHECK(b, "conv_pad_kernel");
    return 0;
}

static int launch_crop(foil_backend *b, float *dx, const float *dxp, const cuda_conv_plan *p) {
    const foil_conv_shape *cs = &p->shape;
    size_t nc = (size_t)cs->n * (size_t)cs->c;
    size_t total = nc * (size_t)cs->h * (size_t)cs->w;
    unsigned blocks = cuda_blocks(total, LAYER_THREADS);
    cudaStream_t s = cuda_ctx_of(b)->stream;
    if (fits32(total) && fits32(nc * (size_t)padded_h(p) * (size_t)padded_w(p)))
        conv_crop_kernel32<<<blocks, LAYER_THREADS, 0, s>>>(dx, dxp, (uint32_t)nc, cs->h, cs->w,
                                                            padded_h(p), padded_w(p), cs->pad_h,
                                                            cs->pad_w);
    else
        conv_crop_kernel<<<blocks, LAYER_THREADS, 0, s>>>(dx, dxp, nc, cs->h, cs->w, padded_h(p),
                                                          padded_w(p), cs->pad_h, cs->pad_w);
    LAUNCH_CHECK(b, "conv_crop_kernel");
    return 0;
}

static int launch_bias_grad(foil_backend *b, float *dbias, const float *dout,
                            const foil_conv_shape *cs) {
    unsigned blocks = cs->k < 65535 ? (unsigned)cs->k : 65535u;
    cudaStream_t s = cuda_ctx_of(b)->stream;
    if (fits32((size_t)cs->n * (size_t)cs->k * (size_t)cs->oh * (size_t)cs->ow))
        conv_bias_grad_kernel32<<<blocks, LAYER_THREADS, 0, s>>>(dbias, dout, cs->n, cs->k,
                                                                 cs->oh * cs->ow);
    else
        conv_bias_grad_kernel<<<blocks, LAYER_THREADS, 0, s>>>(dbias, dout, cs->n, cs->k,
                                                               cs->oh * cs->ow);
    LAUNCH_CHECK(b, "conv_bias_grad_kernel");
    return 0;
}

/* ---- scratch ---------------------------------------------------------------- */

/* ctx->pad_buf grown to at least `bytes`: the padded input (fwd, bwd-filter)
 * or the gradient of the padded input (bwd-data). NULL + b->err on failure. */
static float *pad_buffer(foil_backend *b, size_t bytes) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    if (bytes <= ctx->pad_buf_size) return ctx->pad_buf;
    cudaError_t e = cudaStreamSynchronize(ctx->stream); /* queued work may still use it */
    if (e == cudaSuccess) e = cudaFree(ctx->pad_buf);
    ctx->pad_buf = NULL;
    ctx->pad_buf_size = 0;
    if (e == cudaSuccess) e = cudaMalloc((void **)&ctx->pad_buf, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* an allocation failure is not sticky: clear it */
        foil_fail(&b->err, "cuda: cannot allocate a %zu-byte padding buffer for conv2d: %s",
                  bytes, cudaGetErrorString(e));
        return NULL;
    }
    ctx->pad_buf_size = bytes;
    return ctx->pad_buf;
}

/* The plan for cs and, for a padded plan, the padding buffer. */
static int conv_setup(foil_backend *b, const foil_conv_shape *cs, cuda_conv_plan **plan,
                      float **padded) {
    if (cuda_conv_plan_get(b, cs, plan)) return -1;
    *padded = NULL;
    if (cuda_conv_plan_padded(*plan) && !(*padded = pad_buffer(b, padded_bytes(*plan))))
        return -1;
    return 0;
}

/* One cuDNN call of direction d: fwd out = conv(a = x, c = w); bwd-data
 * out = dx from (a = w, c = dy); bwd-filter out = dw from (a = x, c = dy). */
static cudnnStatus_t conv_call(foil_backend *b, const cuda_conv_plan *p, int d, void *ws,
                               const float *a, const float *c, float *out) {
    cudnnHandle_t h = cuda_ctx_of(b)->cudnn;
    const cuda_conv_dir *cd = &p->dir[d];
    const float one = 1.0f, zero = 0.0f;
    if (d == CONV_FWD)
        return cudnnConvolutionForward(h, &one, p->x, a, p->w, c, cd->conv,
                                       (cudnnConvolutionFwdAlgo_t)cd->algo, ws, cd->workspace,
                                       &zero, p->y, out);
    if (d == CONV_BWD_DATA)
        return cudnnConvolutionBackwardData(h, &one, p->w, a, p->y, c, cd->conv,
                                            (cudnnConvolutionBwdDataAlgo_t)cd->algo, ws,
                                            cd->workspace, &zero, p->x, out);
    return cudnnConvolutionBackwardFilter(h, &one, p->x, a, p->y, c, cd->conv,
                                          (cudnnConvolutionBwdFilterAlgo_t)cd->algo, ws,
                                          cd->workspace, &zero, p->w, out);
}

/* Runs direction d. When its algorithm fails as it runs (cuDNN refuses it,
 * the pointers' alignment say) or its workspace cannot be allocated, the
 * plan holds it as bad and chooses again: the next acceptable entry, then
 * the documented fallback (which needs little or no workspace); three
 * tries in all. What worked stays in the plan. */
#define CONV_TRIES 3
static int conv_run(foil_backend *b, cuda_conv_plan *p, int d, const float *a, const float *c,
                    float *out) {
    static const char *const NAME[CONV_DIRS] = {"forward", "backward-data", "backward-filter"};
    char first[640] = "";
    for (int attempt = 0; attempt < CONV_TRIES; attempt++) {
        const cuda_conv_dir *cd = &p->dir[d];
        char why[sizeof b->err.msg];
        void *ws = cd->workspace ? cuda_workspace(b, cd->workspace) : NULL;
        if (cd->workspace && !ws) {
            snprintf(why, sizeof why, "%s", b->err.msg);
        } else {
            cudnnStatus_t st = conv_call(b, p, d, ws, a, c, out);
            if (st == CUDNN_STATUS_SUCCESS) return 0;
            snprintf(why, sizeof why, "%s", cudnnGetErrorString(st));
        }
        if (attempt == CONV_TRIES - 1) {
            char shape[160];
            cuda_conv_shape_text(&p->shape, shape, sizeof shape);
            return foil_fail(&b->err, "conv2d %s (%s): %s; algorithm %d then: %s", NAME[d], shape,
                             first, cd->algo, why);
        }
        if (!first[0]) snprintf(first, sizeof first, "algorithm %d failed (%s)", cd->algo, why);
        if (cuda_conv_failed(b, p, d)) return foil_fail_prefix(&b->err, "%s", first);
    }
    return -1; /* not reached */
}

/* ---- ops -------------------------------------------------------------------- */

int cuda_conv2d_fwd(foil_backend *b, float *out, const float *in, const float *w,
                    const float *bias, const foil_conv_shape *cs) {
    cuda_conv_plan *p;
    float *xp;
    if (conv_setup(b, cs, &p, &xp)) return -1;
    if (xp && launch_pad(b, xp, in, p)) return -1;
    if (conv_run(b, p, CONV_FWD, xp ? xp : in, w, out)) return -1;
    /* out += bias broadcast over (N, ., OH, OW) */
    const float one = 1.0f;
    if (bias)
        CUDNN_CHECK(b, cudnnAddTensor(cuda_ctx_of(b)->cudnn, &one, p->bias, bias, &one, p->y, out));
    return cuda_layer_op_done(b);
}

int cuda_conv2d_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                         const foil_conv_shape *cs) {
    cuda_conv_plan *p;
    float *dxp;
    if (conv_setup(b, cs, &p, &dxp)) return -1;
    /* a padded plan's gradient is that of the padded input: crop it back */
    if (conv_run(b, p, CONV_BWD_DATA, w, dout, dxp ? dxp : din)) return -1;
    if (dxp && launch_crop(b, din, dxp, p)) return -1;
    return cuda_layer_op_done(b);
}

int cuda_conv2d_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                           const float *in, const foil_conv_shape *cs) {
    cuda_conv_plan *p;
    float *xp;
    if (conv_setup(b, cs, &p, &xp)) return -1;
    if (xp && launch_pad(b, xp, in, p)) return -1;
    if (conv_run(b, p, CONV_BWD_FILTER, xp ? xp : in, dout, dw)) return -1;
    if (dbias && launch_bias_grad(b, dbias, dout, cs)) return -1;
    return cuda_layer_op_done(b);
}
