/* Convolution plans: cuDNN descriptors and algorithms for one foil_conv_shape,
 * made once and cached in ctx->plans (a model has a handful of conv shapes;
 * training, attacks and explanations reuse them thousands of times).
 *
 * Algorithms come from the _v7 heuristics (no benchmarking: results do not
 * depend on timing noise), taking the first one that succeeds, is
 * deterministic and, in fp32 mode, runs on FMA units only (no TF32). The
 * plan's precision is its convolution descriptor's math type: CUDNN_FMA_MATH
 * (fp32) or CUDNN_DEFAULT_MATH (TF32 allowed on Ampere and newer, as in
 * PyTorch); a plan made in the other mode has its algorithms re-chosen. */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

static cudnnMathType_t plan_math(int tf32) { return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

/* A heuristic entry is an (algorithm, math type) pair; cuDNN runs the
 * descriptor's math type, so only entries of that type are taken (fp32: FMA
 * only; TF32: the default math, which allows TF32 tensor cores on Ampere
 * and newer). An entry of another type could mean another kernel than the
 * one chosen, or NOT_SUPPORTED at run time. */
static int algo_ok(cudnnStatus_t status, cudnnDeterminism_t det, cudnnMathType_t math, int tf32) {
    return status == CUDNN_STATUS_SUCCESS && det == CUDNN_DETERMINISTIC && math == plan_math(tf32);
}

static int no_algo(foil_backend *b, const char *dir, int tf32) {
    return foil_fail(&b->err, "conv2d: cuDNN offers no deterministic %s %s algorithm", dir,
                     tf32 ? "TF32" : "fp32 (FMA)");
}

/* Candidates needing more workspace than this are passed over (FFT algorithms
 * can ask for gigabytes); the fallback needs little or none. */
#define CONV_MAX_WORKSPACE ((size_t)1 << 30)

static int ws_ok(size_t bytes, int fallback) { return fallback || bytes <= CONV_MAX_WORKSPACE; }

/* Each chooser walks the heuristic's list, then tries the algorithm that
 * cuDNN documents as deterministic and always available (implicit GEMM /
 * ALGO_1) in case the list held none that qualified; an algorithm is taken
 * only if cuDNN can size its workspace for this descriptor and math type (the
 * size also goes into the plan: the most any direction needs). */
static int choose_fwd(foil_backend *b, cuda_conv_plan *p, int tf32, size_t *ws) {
    cudnnHandle_t h = cuda_ctx_of(b)->cudnn;
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    CUDNN_CHECK(b, cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y,
                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
                                                          &count, perf));
    for (int i = 0; i <= count; i++) {
        cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
        if (i < count) {
            if (!algo_ok(perf[i].status, perf[i].determinism, perf[i].mathType, tf32)) continue;
            algo = perf[i].algo;
        }
        if (cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y, algo, ws) ==
                CUDNN_STATUS_SUCCESS &&
            ws_ok(*ws, i == count)) {
            p->fwd = algo;
            return 0;
        }
    }
    return no_algo(b, "forward", tf32);
}

static int choose_bwd_data(foil_backend *b, cuda_conv_plan *p, int tf32, size_t *ws) {
    cudnnHandle_t h = cuda_ctx_of(b)->cudnn;
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    CUDNN_CHECK(b, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                       h, p->w, p->y, p->conv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                       &count, perf));
    for (int i = 0; i <= count; i++) {
        cudnnConvolutionBwdDataAlgo_t algo = CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
        if (i < count) {
            if (!algo_ok(perf[i].status, perf[i].determinism, perf[i].mathType, tf32)) continue;
            algo = perf[i].algo;
        }
        if (cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x, algo,
                                                         ws) == CUDNN_STATUS_SUCCESS &&
            ws_ok(*ws, i == count)) {
            p->bwd_data = algo;
            return 0;
        }
    }
    return no_algo(b, "backward-data", tf32);
}

static int choose_bwd_filter(foil_backend *b, cuda_conv_plan *p, int tf32, size_t *ws) {
    cudnnHandle_t h = cuda_ctx_of(b)->cudnn;
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    CUDNN_CHECK(b, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                       h, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
                       &count, perf));
    for (int i = 0; i <= count; i++) {
        cudnnConvolutionBwdFilterAlgo_t algo = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;
        if (i < count) {
            if (!algo_ok(perf[i].status, perf[i].determinism, perf[i].mathType, tf32)) continue;
            algo = perf[i].algo;
        }
        if (cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv, p->w, algo,
                                                           ws) == CUDNN_STATUS_SUCCESS &&
            ws_ok(*ws, i == count)) {
            p->bwd_filter = algo;
            return 0;
        }
    }
    return no_algo(b, "backward-filter", tf32);
}

/* Sets the plan's math type and chooses its three algorithms. */
static int plan_choose(foil_backend *b, cuda_conv_plan *p, int tf32) {
    size_t fwd = 0, bwd_data = 0, bwd_filter = 0;
    CUDNN_CHECK(b, cudnnSetConvolutionMathType(p->conv, plan_math(tf32)));
    if (choose_fwd(b, p, tf32, &fwd) || choose_bwd_data(b, p, tf32, &bwd_data) ||
        choose_bwd_filter(b, p, tf32, &bwd_filter))
        return -1;
    p->workspace = fwd > bwd_data ? fwd : bwd_data;
    if (bwd_filter > p->workspace) p->workspace = bwd_filter;
    return 0;
}

static void plan_destroy(cuda_conv_plan *p) {
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->bias) cudnnDestroyTensorDescriptor(p->bias);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->conv) cudnnDestroyConvolutionDescriptor(p->conv);
    memset(p, 0, sizeof *p);
}

/* Rows (or columns) of input a padded plan needs: the last window ends at
 * (out - 1) * stride + kernel. */
static int64_t padded_extent(int out, int stride, int kernel) {
    return (int64_t)(out - 1) * stride + kernel;
}

static int symmetric_ok(int in, int pad, int kernel, int stride, int out) {
    int64_t span = (int64_t)in + 2 * (int64_t)pad - kernel;
    return span >= 0 && span / stride + 1 == out;
}

/* a * b for 0 <= a, b, or INT_MAX + 1 when that (or either factor) exceeds INT_MAX */
static int64_t capped_mul(int64_t a, int64_t b) {
    const int64_t over = (int64_t)INT_MAX + 1;
    if (a >= over || b >= over) return over;
    int64_t p = a * b; /* < 2^62 */
    return p >= over ? over : p;
}

/* Rejects shapes cuDNN cannot take (its sizes are 32-bit) before anything is
 * allocated or described. */
static int shape_check(foil_backend *b, const foil_conv_shape *cs) {
    if (cs->n < 1 || cs->c < 1 || cs->h < 1 || cs->w < 1 || cs->k < 1 || cs->r < 1 ||
        cs->s < 1 || cs->stride_h < 1 || cs->stride_w < 1 || cs->pad_h < 0 || cs->pad_w < 0 ||
        cs->oh < 1 || cs->ow < 1)
        return foil_fail(&b->err,
                         "conv2d: invalid shape (n %d, c %d, %dx%d, k %d, kernel %dx%d, "
                         "stride %d/%d, pad %d/%d, out %dx%d)",
                         cs->n, cs->c, cs->h, cs->w, cs->k, cs->r, cs->s, cs->stride_h,
                         cs->stride_w, cs->pad_h, cs->pad_w, cs->oh, cs->ow);
    int64_t hp = padded_extent(cs->oh, cs->stride_h, cs->r); /* < 2^63: factors < 2^31 */
    int64_t wp = padded_extent(cs->ow, cs->stride_w, cs->s);
    int64_t h = hp > cs->h ? hp : cs->h, w = wp > cs->w ? wp : cs->w;
    int64_t in = capped_mul(capped_mul(capped_mul(cs->n, cs->c), h), w);
    int64_t out = capped_mul(capped_mul(capped_mul(cs->n, cs->k), cs->oh), cs->ow);
    int64_t wt = capped_mul(capped_mul(capped_mul(cs->k, cs->c), cs->r), cs->s);
    if (in > INT_MAX || out > INT_MAX || wt > INT_MAX)
        return foil_fail(&b->err,
                         "conv2d: shape too large for cuDNN's 32-bit sizes (n %d, c %d, %dx%d, "
                         "k %d, kernel %dx%d, out %dx%d: over 2^31 elements in a tensor)",
                         cs->n, cs->c, cs->h, cs->w, cs->k, cs->r, cs->s, cs->oh, cs->ow);
    return 0;
}

/* Describes the shape and chooses algorithms; on failure the caller destroys
 * the partly made plan. */
static int plan_build(foil_backend *b, cuda_conv_plan *p, const foil_conv_shape *cs, int tf32) {
    memset(p, 0, sizeof *p);
    p->shape = *cs;
    int direct = symmetric_ok(cs->h, cs->pad_h, cs->r, cs->stride_h, cs->oh) &&
                 symmetric_ok(cs->w, cs->pad_w, cs->s, cs->stride_w, cs->ow);
    int h = cs->h, w = cs->w, pad_h = cs->pad_h, pad_w = cs->pad_w;
    p->pad_b = cs->pad_h;
    p->pad_r = cs->pad_w;
    if (!direct) { /* cuDNN sees the explicitly padded input and pads nothing */
        h = (int)padded_extent(cs->oh, cs->stride_h, cs->r);
        w = (int)padded_extent(cs->ow, cs->stride_w, cs->s);
        p->pad_b = h - cs->h - cs->pad_h;
        p->pad_r = w - cs->w - cs->pad_w;
        pad_h = pad_w = 0;
    }
    CUDNN_CHECK(b, cudnnCreateTensorDescriptor(&p->x));
    CUDNN_CHECK(b, cudnnCreateTensorDescriptor(&p->y));
    CUDNN_CHECK(b, cudnnCreateTensorDescriptor(&p->bias));
    CUDNN_CHECK(b, cudnnCreateFilterDescriptor(&p->w));
    CUDNN_CHECK(b, cudnnCreateConvolutionDescriptor(&p->conv));
    CUDNN_CHECK(b, cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, cs->n,
                                              cs->c, h, w));
    CUDNN_CHECK(b, cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, cs->n,
                                              cs->k, cs->oh, cs->ow));
    CUDNN_CHECK(b, cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                              cs->k, 1, 1));
    CUDNN_CHECK(b, cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, cs->k,
                                              cs->c, cs->r, cs->s));
    CUDNN_CHECK(b, cudnnSetConvolution2dDescriptor(p->conv, pad_h, pad_w, cs->stride_h,
                                                   cs->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                   CUDNN_DATA_FLOAT));
    int on, ok, oh, ow;
    CUDNN_CHECK(b, cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &on, &ok, &oh, &ow));
    if (on != cs->n || ok != cs->k || oh != cs->oh || ow != cs->ow)
        return foil_fail(&b->err,
                         "conv2d: cuDNN's output %dx%dx%dx%d is not the expected %dx%dx%dx%d", on,
                         ok, oh, ow, cs->n, cs->k, cs->oh, cs->ow);
    return plan_choose(b, p, tf32);
}

/* Removes plan i from the cache (after a failed re-choice). */
static void plan_drop(cuda_ctx *ctx, int i) {
    plan_destroy(&ctx->plans[i]);
    ctx->plans[i] = ctx->plans[ctx->nplans - 1];
    ctx->nplans--;
}

int cuda_conv_plan_get(foil_backend *b, const foil_conv_shape *cs, cuda_conv_plan **out) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    for (int i = 0; i < ctx->nplans; i++) {
        cuda_conv_plan *p = &ctx->plans[i];
        if (memcmp(&p->shape, cs, sizeof *cs) != 0) continue;
        cudnnMathType_t math;
        CUDNN_CHECK(b, cudnnGetConvolutionMathType(p->conv, &math));
        if (math != plan_math(ctx->tf32) && plan_choose(b, p, ctx->tf32)) {
            plan_drop(ctx, i);
            return -1;
        }
        *out = p;
        return 0;
    }
    if (shape_check(b, cs)) return -1;
    if (ctx->nplans == ctx->plans_cap) {
        int cap = ctx->plans_cap ? 2 * ctx->plans_cap : 8;
        void *grown = realloc(ctx->plans, sizeof *ctx->plans * (size_t)cap);
        if (!grown) return foil_fail(&b->err, "conv2d: out of host memory for the plan cache");
        ctx->plans = (cuda_conv_plan *)grown;
        ctx->plans_cap = cap;
    }
    cuda_conv_plan *p = &ctx->plans[ctx->nplans];
    if (plan_build(b, p, cs, ctx->tf32)) {
        plan_destroy(p);
        return -1;
    }
    ctx->nplans++;
    *out = p;
    return 0;
}

extern "C" void cuda_conv_plans_free(cuda_ctx *ctx) {
    for (int i = 0; i < ctx->nplans; i++) plan_destroy(&ctx->plans[i]);
    free(ctx->plans);
    ctx->plans = NULL;
    ctx->nplans = ctx->plans_cap = 0;
}
