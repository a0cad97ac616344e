/* CUDA layer ops: max-pool (own kernels) and dense (cuBLAS sgemm plus own
 * bias kernels), and the registration of the layer family (convolutions are
 * in conv.cu). Same semantics as host/backend/cpu/backend_cpu_layers.c. */
#include <cfloat>
#include <stdint.h>

#include "layers.h"

/* ---- kernels ---------------------------------------------------------------- */

/* Max-pool indices are 32-bit: the front's pool check (host/backend/check.c)
 * keeps the input (and so the output) below 2^31 elements, which also makes a grid-stride step past
 * the end safe (layers.h: fits32). */

/* One thread per output: the window's maximum and its flat index into in;
 * the first maximum in row-major window order wins (strict >), as on the CPU. */
static __global__ void maxpool_fwd_kernel(float *out, int32_t *argmax, const float *in,
                                          uint32_t nc, int h, int w, int size, int stride, int oh,
                                          int ow) {
    uint32_t total = nc * (uint32_t)oh * (uint32_t)ow;
    for (uint32_t o = blockIdx.x * blockDim.x + threadIdx.x; o < total;
         o += gridDim.x * blockDim.x) {
        int ox = (int)(o % (uint32_t)ow);
        uint32_t rest = o / (uint32_t)ow;
        int oy = (int)(rest % (uint32_t)oh);
        uint32_t base = rest / (uint32_t)oh * (uint32_t)h * (uint32_t)w;
        uint32_t best_i = base + (uint32_t)(oy * stride) * (uint32_t)w + (uint32_t)(ox * stride);
        float best = -FLT_MAX;
        for (int dy = 0; dy < size; dy++)
            for (int dx = 0; dx < size; dx++) {
                uint32_t i = base + (uint32_t)(oy * stride + dy) * (uint32_t)w +
                             (uint32_t)(ox * stride + dx);
                float v = in[i];
                if (v > best) {
                    best = v;
                    best_i = i;
                }
            }
        out[o] = best;
        argmax[o] = (int32_t)best_i;
    }
}

/* One thread per input element: gathers dout of the windows that contain it
 * and chose it, in increasing output order (the order in which the CPU
 * scatters, so the sums agree bit for bit); everything else gets 0. */
static __global__ void maxpool_bwd_kernel(float *din, const float *dout, const int32_t *argmax,
                                          uint32_t nc, int h, int w, int size, int stride, int oh,
                                          int ow) {
    uint32_t total = nc * (uint32_t)h * (uint32_t)w;
    for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += gridDim.x * blockDim.x) {
        int ix = (int)(i % (uint32_t)w);
        uint32_t rest = i / (uint32_t)w;
        int iy = (int)(rest % (uint32_t)h);
        uint32_t plane = rest / (uint32_t)h;
        /* windows oy with oy*stride <= iy < oy*stride + size */
        int oy0 = iy - size + 1 <= 0 ? 0 : (iy - size + stride) / stride;
        int ox0 = ix - size + 1 <= 0 ? 0 : (ix - size + stride) / stride;
        int oy1 = min(iy / stride, oh - 1), ox1 = min(ix / stride, ow - 1);
        float sum = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) {
                uint32_t o = (plane * (uint32_t)oh + (uint32_t)oy) * (uint32_t)ow + (uint32_t)ox;
                if ((uint32_t)argmax[o] == i) sum += dout[o];
            }
        din[i] = sum;
    }
}

/* out (N, OUT) += bias broadcast over rows; index arithmetic in I as in
 * conv.cu (32 bits when the output fits). */
template <typename I>
static __device__ void dense_bias_add_body(float *out, const float *bias, I n, int out_dim) {
    I total = n * (I)out_dim;
    for (I i = blockIdx.x * (I)blockDim.x + threadIdx.x; i < total;
         i += (I)gridDim.x * blockDim.x)
        out[i] += bias[i % (I)out_dim];
}
static __global__ void dense_bias_add_kernel32(float *out, const float *bias, uint32_t n,
                                               int out_dim) {
    dense_bias_add_body<uint32_t>(out, bias, n, out_dim);
}
static __global__ void dense_bias_add_kernel(float *out, const float *bias, size_t n,
                                             int out_dim) {
    dense_bias_add_body<size_t>(out, bias, n, out_dim);
}

/* dbias[j] = sum_i dout[i, j]: one thread per column, rows in order (as the
 * CPU sums them); neighbouring threads read neighbouring columns. */
static __global__ void dense_bias_grad_kernel(float *dbias, const float *dout, int n,
                                              int out_dim) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < out_dim; j += gridDim.x * blockDim.x) {
        float sum = 0.0f;
        for (int i = 0; i < n; i++) sum += dout[(size_t)i * (size_t)out_dim + (size_t)j];
        dbias[j] = sum;
    }
}

/* ---- launchers -------------------------------------------------------------- */

static int launch_maxpool_fwd(foil_backend *b, float *out, int32_t *argmax, const float *in,
                              const foil_pool_shape *ps) {
    size_t nc = (size_t)ps->n * (size_t)ps->c, total = nc * (size_t)ps->oh * (size_t)ps->ow;
    maxpool_fwd_kernel<<<cuda_blocks(total, LAYER_THREADS), LAYER_THREADS, 0,
                         cuda_ctx_of(b)->stream>>>(out, argmax, in, (uint32_t)nc, ps->h, ps->w,
                                                   ps->size, ps->stride, ps->oh, ps->ow);
    LAUNCH_CHECK(b, "maxpool_fwd_kernel");
    return 0;
}

static int launch_maxpool_bwd(foil_backend *b, float *din, const float *dout,
                              const int32_t *argmax, const foil_pool_shape *ps) {
    size_t nc = (size_t)ps->n * (size_t)ps->c, total = nc * (size_t)ps->h * (size_t)ps->w;
    maxpool_bwd_kernel<<<cuda_blocks(total, LAYER_THREADS), LAYER_THREADS, 0,
                         cuda_ctx_of(b)->stream>>>(din, dout, argmax, (uint32_t)nc, ps->h, ps->w,
                                                   ps->size, ps->stride, ps->oh, ps->ow);
    LAUNCH_CHECK(b, "maxpool_bwd_kernel");
    return 0;
}

static int launch_dense_bias_add(foil_backend *b, float *out, const float *bias, int n,
                                 int out_dim) {
    size_t total = (size_t)n * (size_t)out_dim;
    unsigned blocks = cuda_blocks(total, LAYER_THREADS);
    cudaStream_t s = cuda_ctx_of(b)->stream;
    if (fits32(total))
        dense_bias_add_kernel32<<<blocks, LAYER_THREADS, 0, s>>>(out, bias, (uint32_t)n, out_dim);
    else
        dense_bias_add_kernel<<<blocks, LAYER_THREADS, 0, s>>>(out, bias, (size_t)n, out_dim);
    LAUNCH_CHECK(b, "dense_bias_add_kernel");
    return 0;
}

static int launch_dense_bias_grad(foil_backend *b, float *dbias, const float *dout, int n,
                                  int out_dim) {
    dense_bias_grad_kernel<<<cuda_blocks((size_t)out_dim, LAYER_THREADS), LAYER_THREADS, 0,
                             cuda_ctx_of(b)->stream>>>(dbias, dout, n, out_dim);
    LAUNCH_CHECK(b, "dense_bias_grad_kernel");
    return 0;
}

/* ---- max-pool ops ----------------------------------------------------------- */

/* Shapes are checked in front (host/backend/check.c: windows inside the
 * input, fewer than 2^31 input elements, which the 32-bit kernels rely on). */
static int cuda_maxpool_fwd(foil_backend *b, float *out, int32_t *argmax, const float *in,
                            const foil_pool_shape *ps) {
    return launch_maxpool_fwd(b, out, argmax, in, ps);
}

static int cuda_maxpool_bwd(foil_backend *b, float *din, const float *dout,
                            const int32_t *argmax, const foil_pool_shape *ps) {
    return launch_maxpool_bwd(b, din, dout, argmax, ps);
}

/* ---- dense ops -------------------------------------------------------------- *
 * cuBLAS is column-major: a row-major (rows, cols) matrix is the column-major
 * (cols, rows) matrix, its transpose, with the same leading dimension. So
 * out (N, OUT) = in (N, IN) @ W^T, i.e. out^T (OUT, N) = W (OUT, IN) @ in^T,
 * is sgemm(T, N) of the buffers w (col-major (IN, OUT)) and in ((IN, N)). */

static int cuda_dense_fwd(foil_backend *b, float *out, const float *in, const float *w,
                          const float *bias, int n, int in_dim, int out_dim) {
    if (n == 0) return 0;
    const float one = 1.0f, zero = 0.0f;
    /* out^T (OUT, N) = W (OUT, IN) @ in^T (IN, N) */
    CUBLAS_CHECK(b, cublasSgemm(cuda_ctx_of(b)->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out_dim, n,
                                in_dim, &one, w, in_dim, in, in_dim, &zero, out, out_dim));
    if (bias && launch_dense_bias_add(b, out, bias, n, out_dim)) return -1;
    return cuda_layer_op_done(b);
}

static int cuda_dense_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                               int n, int in_dim, int out_dim) {
    if (n == 0) return 0;
    const float one = 1.0f, zero = 0.0f;
    /* din^T (IN, N) = W^T (IN, OUT) @ dout^T (OUT, N) */
    CUBLAS_CHECK(b, cublasSgemm(cuda_ctx_of(b)->cublas, CUBLAS_OP_N, CUBLAS_OP_N, in_dim, n,
                                out_dim, &one, w, in_dim, dout, out_dim, &zero, din, in_dim));
    return cuda_layer_op_done(b);
}

static int cuda_dense_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                                 const float *in, int n, int in_dim, int out_dim) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    if (n == 0) { /* empty sums */
        CUDA_CHECK(b, cudaMemsetAsync(dw, 0, sizeof(float) * (size_t)in_dim * (size_t)out_dim,
                                      ctx->stream));
        if (dbias) CUDA_CHECK(b, cudaMemsetAsync(dbias, 0, sizeof(float) * (size_t)out_dim,
                                                 ctx->stream));
        return cuda_layer_op_done(b);
    }
    const float one = 1.0f, zero = 0.0f;
    /* dW^T (IN, OUT) = in^T (IN, N) @ dout (N, OUT) */
    CUBLAS_CHECK(b, cublasSgemm(ctx->cublas, CUBLAS_OP_N, CUBLAS_OP_T, in_dim, out_dim, n, &one,
                                in, in_dim, dout, out_dim, &zero, dw, in_dim));
    if (dbias && launch_dense_bias_grad(b, dbias, dout, n, out_dim)) return -1;
    return cuda_layer_op_done(b);
}

extern "C" void cuda_register_layer_ops(foil_backend *b) {
    b->conv2d_fwd = cuda_conv2d_fwd;
    b->conv2d_bwd_data = cuda_conv2d_bwd_data;
    b->conv2d_bwd_filter = cuda_conv2d_bwd_filter;
    b->maxpool_fwd = cuda_maxpool_fwd;
    b->maxpool_bwd = cuda_maxpool_bwd;
    b->dense_fwd = cuda_dense_fwd;
    b->dense_bwd_data = cuda_dense_bwd_data;
    b->dense_bwd_filter = cuda_dense_bwd_filter;
}
