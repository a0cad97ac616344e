/* Convolution ops on cuDNN (plans in conv_plan.cu): NCHW float, weights
 * (K, C, R, S), cross-correlation, as the CPU reference in
 * host/backend_cpu_layers.c. Own kernels for what cuDNN cannot do as foil
 * needs it: the explicit padding of asymmetric 'same' convolutions and a
 * deterministic bias gradient. */
#include "layers.h"

/* ---- kernels ---------------------------------------------------------------- */

/* xp (NC, HP, WP) = x (NC, H, W) shifted by (top, left), zeros elsewhere;
 * rows/columns of x beyond HP/WP are dropped (no window reads them). */
static __global__ void conv_pad_kernel(float *xp, const float *x, size_t nc, int h, int w,
                                       int hp, int wp, int top, int left) {
    size_t total = nc * (size_t)hp * (size_t)wp;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int col = (int)(i % (size_t)wp);
        size_t rest = i / (size_t)wp;
        int row = (int)(rest % (size_t)hp);
        size_t plane = rest / (size_t)hp;
        int iy = row - top, ix = col - left;
        xp[i] = (iy >= 0 && iy < h && ix >= 0 && ix < w)
                    ? x[(plane * (size_t)h + (size_t)iy) * (size_t)w + (size_t)ix]
                    : 0.0f;
    }
}

/* dx (NC, H, W) = the (top, left)-offset window of dxp (NC, HP, WP); elements
 * the padded tensor dropped get no gradient. */
static __global__ void conv_crop_kernel(float *dx, const float *dxp, size_t nc, int h, int w,
                                        int hp, int wp, int top, int left) {
    size_t total = nc * (size_t)h * (size_t)w;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int ix = (int)(i % (size_t)w);
        size_t rest = i / (size_t)w;
        int iy = (int)(rest % (size_t)h);
        size_t plane = rest / (size_t)h;
        int row = iy + top, col = ix + left;
        dx[i] = (row < hp && col < wp)
                    ? dxp[(plane * (size_t)hp + (size_t)row) * (size_t)wp + (size_t)col]
                    : 0.0f;
    }
}

/* dbias[q] = sum over n, j of dout (N, K, HW)[n, q, j]: one block per channel,
 * each thread a fixed strided subset in order, then a fixed-shape tree: the
 * same sum every run (no atomics). Needs blockDim.x == LAYER_THREADS. */
static __global__ void conv_bias_grad_kernel(float *dbias, const float *dout, int n, int k,
                                             int hw) {
    __shared__ float part[LAYER_THREADS];
    const size_t count = (size_t)n * (size_t)hw;
    for (int q = blockIdx.x; q < k; q += gridDim.x) {
        float sum = 0.0f;
        for (size_t e = threadIdx.x; e < count; e += blockDim.x) {
            size_t i = e / (size_t)hw, j = e % (size_t)hw;
            sum += dout[(i * (size_t)k + (size_t)q) * (size_t)hw + j];
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
    conv_pad_kernel<<<cuda_blocks(total, LAYER_THREADS), LAYER_THREADS, 0,
                      cuda_ctx_of(b)->stream>>>(xp, x, nc, cs->h, cs->w, padded_h(p),
                                                padded_w(p), cs->pad_h, cs->pad_w);
    LAUNCH_CHECK(b, "conv_pad_kernel");
    return 0;
}

static int launch_crop(foil_backend *b, float *dx, const float *dxp, const cuda_conv_plan *p) {
    const foil_conv_shape *cs = &p->shape;
    size_t nc = (size_t)cs->n * (size_t)cs->c;
    size_t total = nc * (size_t)cs->h * (size_t)cs->w;
    conv_crop_kernel<<<cuda_blocks(total, LAYER_THREADS), LAYER_THREADS, 0,
                       cuda_ctx_of(b)->stream>>>(dx, dxp, nc, cs->h, cs->w, padded_h(p),
                                                 padded_w(p), cs->pad_h, cs->pad_w);
    LAUNCH_CHECK(b, "conv_crop_kernel");
    return 0;
}

static int launch_bias_grad(foil_backend *b, float *dbias, const float *dout,
                            const foil_conv_shape *cs) {
    unsigned blocks = cs->k < 65535 ? (unsigned)cs->k : 65535u;
    conv_bias_grad_kernel<<<blocks, LAYER_THREADS, 0, cuda_ctx_of(b)->stream>>>(
        dbias, dout, cs->n, cs->k, cs->oh * cs->ow);
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

/* The plan for cs, the cuDNN workspace it needs (NULL when none) and, for a
 * padded plan, the padding buffer. */
static int conv_setup(foil_backend *b, const foil_conv_shape *cs, cuda_conv_plan **plan,
                      void **ws, float **padded) {
    if (cuda_conv_plan_get(b, cs, plan)) return -1;
    *ws = NULL;
    *padded = NULL;
    if ((*plan)->workspace && !(*ws = cuda_workspace(b, (*plan)->workspace))) return -1;
    if (cuda_conv_plan_padded(*plan) && !(*padded = pad_buffer(b, padded_bytes(*plan))))
        return -1;
    return 0;
}

/* ---- ops -------------------------------------------------------------------- */

int cuda_conv2d_fwd(foil_backend *b, float *out, const float *in, const float *w,
                    const float *bias, const foil_conv_shape *cs) {
    cuda_conv_plan *p;
    void *ws;
    float *xp;
    if (conv_setup(b, cs, &p, &ws, &xp)) return -1;
    if (xp && launch_pad(b, xp, in, p)) return -1;
    cuda_ctx *ctx = cuda_ctx_of(b);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(b, cudnnConvolutionForward(ctx->cudnn, &one, p->x, xp ? xp : in, p->w, w,
                                           p->conv, p->fwd, ws, p->workspace, &zero, p->y,
                                           out));
    /* out += bias broadcast over (N, ., OH, OW) */
    if (bias) CUDNN_CHECK(b, cudnnAddTensor(ctx->cudnn, &one, p->bias, bias, &one, p->y, out));
    return cuda_layer_op_done(b);
}

int cuda_conv2d_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                         const foil_conv_shape *cs) {
    cuda_conv_plan *p;
    void *ws;
    float *dxp;
    if (conv_setup(b, cs, &p, &ws, &dxp)) return -1;
    cuda_ctx *ctx = cuda_ctx_of(b);
    const float one = 1.0f, zero = 0.0f;
    /* a padded plan's gradient is that of the padded input: crop it back */
    CUDNN_CHECK(b, cudnnConvolutionBackwardData(ctx->cudnn, &one, p->w, w, p->y, dout, p->conv,
                                                p->bwd_data, ws, p->workspace, &zero, p->x,
                                                dxp ? dxp : din));
    if (dxp && launch_crop(b, din, dxp, p)) return -1;
    return cuda_layer_op_done(b);
}

int cuda_conv2d_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                           const float *in, const foil_conv_shape *cs) {
    cuda_conv_plan *p;
    void *ws;
    float *xp;
    if (conv_setup(b, cs, &p, &ws, &xp)) return -1;
    if (xp && launch_pad(b, xp, in, p)) return -1;
    cuda_ctx *ctx = cuda_ctx_of(b);
    const float one = 1.0f, zero = 0.0f;
    CUDNN_CHECK(b, cudnnConvolutionBackwardFilter(ctx->cudnn, &one, p->x, xp ? xp : in, p->y,
                                                  dout, p->conv, p->bwd_filter, ws,
                                                  p->workspace, &zero, p->w, dw));
    if (dbias && launch_bias_grad(b, dbias, dout, cs)) return -1;
    return cuda_layer_op_done(b);
}
