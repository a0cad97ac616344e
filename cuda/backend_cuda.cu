/* The CUDA backend: context (handles, stream, workspace), memory ops and the
 * registration of the op families implemented in the other .cu files here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.h"

extern "C" int cuda_fail(foil_backend *b, const char *stmt, const char *file, int line,
                         const char *why) {
    const char *base = strrchr(file, '/');
    return foil_fail(&b->err, "cuda: %s failed at %s:%d: %s", stmt, base ? base + 1 : file, line,
                     why);
}

extern "C" int cuda_after_launch(foil_backend *b, const char *what, const char *file,
                                 int line) {
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) return cuda_fail(b, what, file, line, cudaGetErrorString(e));
    cuda_ctx *ctx = cuda_ctx_of(b);
    if (ctx->debug_sync) {
        e = cudaStreamSynchronize(ctx->stream);
        if (e != cudaSuccess) return cuda_fail(b, what, file, line, cudaGetErrorString(e));
    }
    return 0;
}

extern "C" void *cuda_workspace(foil_backend *b, size_t bytes) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    if (bytes <= ctx->workspace_size) return ctx->workspace;
    /* the old workspace may still be in use by queued work */
    cudaError_t e = cudaStreamSynchronize(ctx->stream);
    if (e == cudaSuccess) e = cudaFree(ctx->workspace);
    ctx->workspace = NULL;
    ctx->workspace_size = 0;
    if (e == cudaSuccess) e = cudaMalloc(&ctx->workspace, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* not sticky: clear it, or the next launch check reports it */
        ctx->workspace = NULL;
        foil_fail(&b->err, "cuda: cannot allocate a %zu-byte workspace: %s", bytes,
                  cudaGetErrorString(e));
        return NULL;
    }
    ctx->workspace_size = bytes;
    return ctx->workspace;
}

static void *cuda_alloc(foil_backend *b, size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e == cudaSuccess) e = cudaMemsetAsync(p, 0, bytes ? bytes : 1, cuda_ctx_of(b)->stream);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky-free error state */
        if (p) cudaFree(p);
        foil_fail(&b->err, "cuda: cannot allocate %zu bytes on the GPU: %s", bytes,
                  cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

static void cuda_free_mem(foil_backend *b, void *p) {
    (void)b;
    if (p) cudaFree(p);
}

static int cuda_upload(foil_backend *b, void *dst, const void *src, size_t bytes) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    CUDA_CHECK(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, ctx->stream));
    /* the host buffer may be reused as soon as we return */
    CUDA_CHECK(b, cudaStreamSynchronize(ctx->stream));
    return 0;
}

static int cuda_download(foil_backend *b, void *dst, const void *src, size_t bytes) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    CUDA_CHECK(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
    CUDA_CHECK(b, cudaStreamSynchronize(ctx->stream));
    return 0;
}

static int cuda_copy(foil_backend *b, void *dst, const void *src, size_t bytes) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    if (bytes) CUDA_CHECK(b, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, ctx->stream));
    return 0;
}

static int cuda_sync(foil_backend *b) {
    CUDA_CHECK(b, cudaStreamSynchronize(cuda_ctx_of(b)->stream));
    return 0;
}

static int cuda_set_precision(foil_backend *b, int tf32) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    ctx->tf32 = tf32 != 0;
    CUBLAS_CHECK(b, cublasSetMathMode(ctx->cublas, ctx->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                                             : CUBLAS_PEDANTIC_MATH));
    return 0; /* cuDNN convolutions read ctx->tf32 when they set their math type */
}

static void cuda_destroy(foil_backend *b) {
    if (!b) return;
    cuda_ctx *ctx = cuda_ctx_of(b);
    if (ctx) {
        if (ctx->stream) cudaStreamSynchronize(ctx->stream);
        cuda_conv_plans_free(ctx);
        if (ctx->workspace) cudaFree(ctx->workspace);
        if (ctx->pad_buf) cudaFree(ctx->pad_buf);
        if (ctx->cudnn) cudnnDestroy(ctx->cudnn);
        if (ctx->cublas) cublasDestroy(ctx->cublas);
        if (ctx->stream) cudaStreamDestroy(ctx->stream);
        free(ctx);
    }
    free(b);
}

static int init_handles(foil_backend *b, int device) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    CUDA_CHECK(b, cudaSetDevice(device));
    CUDA_CHECK(b, cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking));
    CUBLAS_CHECK(b, cublasCreate(&ctx->cublas));
    CUBLAS_CHECK(b, cublasSetStream(ctx->cublas, ctx->stream));
    CUDNN_CHECK(b, cudnnCreate(&ctx->cudnn));
    CUDNN_CHECK(b, cudnnSetStream(ctx->cudnn, ctx->stream));
    return cuda_set_precision(b, 0); /* fp32 unless asked: strict CPU comparisons */
}

extern "C" int foil_cuda_device_count(char *why, size_t cap) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        if (why && cap)
            snprintf(why, cap, "no usable CUDA GPU (%s)",
                     e != cudaSuccess ? cudaGetErrorString(e) : "no device found");
        return 0;
    }
    return count;
}

extern "C" foil_backend *foil_backend_cuda_create(int device, foil_err *err) {
    char why[sizeof err->msg];
    int count = foil_cuda_device_count(why, sizeof why);
    if (count == 0) {
        foil_fail(err, "%s", why);
        return NULL;
    }
    if (device < 0 || device >= count) {
        foil_fail(err, "CUDA device %d does not exist (%d found)", device, count);
        return NULL;
    }
    foil_backend *b = (foil_backend *)calloc(1, sizeof *b);
    cuda_ctx *ctx = (cuda_ctx *)calloc(1, sizeof *ctx);
    if (!b || !ctx) {
        free(b);
        free(ctx);
        foil_fail(err, "cuda: out of host memory creating the backend");
        return NULL;
    }
    b->name = "cuda";
    b->ctx = ctx;
    ctx->device = device;
    const char *dbg = getenv("FOIL_CUDA_SYNC");
    ctx->debug_sync = dbg && *dbg && strcmp(dbg, "0") != 0;
    const char *plans = getenv("FOIL_CUDA_PLANS");
    ctx->show_plans = plans && *plans && strcmp(plans, "0") != 0;
    b->set_precision = cuda_set_precision;
    b->alloc = cuda_alloc;
    b->free = cuda_free_mem;
    b->upload = cuda_upload;
    b->download = cuda_download;
    b->copy = cuda_copy;
    b->sync = cuda_sync;
    b->destroy = cuda_destroy;
    cuda_register_layer_ops(b);
    cuda_register_elementwise_ops(b);
    cuda_register_attack_ops(b);
    cuda_register_apgd_ops(b);
    cuda_register_square_ops(b);
    cuda_register_minimal_ops(b);
    cuda_register_explain_ops(b);
    if (init_handles(b, device)) {
        foil_fail(err, "%s", b->err.msg);
        cuda_destroy(b);
        return NULL;
    }
    if (foil_backend_finish(b, err)) {
        cuda_destroy(b);
        return NULL;
    }
    return b;
}
