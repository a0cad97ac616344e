/* Convolution plans: cuDNN descriptors and algorithms for one foil_conv_shape,
 * made once and cached in ctx->plans (a model has a handful of conv shapes;
 * training, attacks and explanations reuse them thousands of times).
 *
 * Algorithms come from the _v7 heuristics (no benchmarking: results do not
 * depend on timing noise), per direction: the first entry that succeeds, is
 * deterministic, has an acceptable math type and whose workspace can be
 * sized; else the algorithm cuDNN documents as always available (implicit
 * GEMM, ALGO_1), unless the heuristic reported it bad for this shape. Math
 * types: fp32 takes FMA entries only (no TF32 anywhere); TF32 takes DEFAULT
 * and TENSOR_OP entries (Hopper reports its tensor-core kernels as
 * TENSOR_OP; TENSOR_OP_ALLOW_CONVERSION, which would round to half
 * precision, never). Each direction has its own convolution descriptor,
 * set to the chosen entry's math type, since cuDNN runs the descriptor's.
 * What the heuristic reported bad, and an algorithm that failed when it ran
 * (conv.cu chooses again once, as PyTorch's algorithm iterator does), stay
 * in the plan: they are never chosen again for this shape. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"

static const char *const DIR_NAME[CONV_DIRS] = {"forward", "backward-data", "backward-filter"};
/* the algorithm cuDNN documents as deterministic and always available */
static const int FALLBACK[CONV_DIRS] = {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                        CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
                                        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1};

/* Candidates needing more workspace than this are passed over (FFT algorithms
 * can ask for gigabytes); the fallback needs little or none. */
#define CONV_MAX_WORKSPACE ((size_t)1 << 30)

/* One heuristic entry, whatever its direction. */
typedef struct conv_entry {
    int algo;
    cudnnStatus_t status;
    cudnnDeterminism_t det;
    cudnnMathType_t math;
} conv_entry;
/* room for every algorithm of any direction (the heuristic lists each once) */
#define CONV_MAX_ENTRIES 8
static_assert(CUDNN_CONVOLUTION_FWD_ALGO_COUNT <= CONV_MAX_ENTRIES &&
                  CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT <= CONV_MAX_ENTRIES &&
                  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT <= CONV_MAX_ENTRIES,
              "a direction has more cuDNN algorithms than conv_entry lists hold");

static cudnnMathType_t query_math(int tf32) { return tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH; }

static int math_ok(cudnnMathType_t m, int tf32) {
    return tf32 ? m == CUDNN_DEFAULT_MATH || m == CUDNN_TENSOR_OP_MATH : m == CUDNN_FMA_MATH;
}

static int is_bad(const cuda_conv_dir *cd, cudnnMathType_t m, int algo) {
    return (unsigned)m < 4 && algo >= 0 && algo < 32 && (cd->bad[m] >> algo & 1u);
}

static void mark_bad(cuda_conv_dir *cd, cudnnMathType_t m, int algo) {
    if ((unsigned)m < 4 && algo >= 0 && algo < 32) cd->bad[m] |= 1u << algo;
}

int cuda_conv_shape_text(const foil_conv_shape *cs, char *out, size_t cap) {
    return snprintf(out, cap, "n %d, c %d, %dx%d, k %d, kernel %dx%d, stride %d/%d, pad %d/%d",
                    cs->n, cs->c, cs->h, cs->w, cs->k, cs->r, cs->s, cs->stride_h, cs->stride_w,
                    cs->pad_h, cs->pad_w);
}

/* The heuristic's entries for direction d (at most 8). */
static int heuristic(foil_backend *b, cuda_conv_plan *p, int d, conv_entry *e, int *n) {
    cudnnHandle_t h = cuda_ctx_of(b)->cudnn;
    cudnnConvolutionDescriptor_t cv = p->dir[d].conv;
    int count = 0;
    if (d == CONV_FWD) {
        cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        CUDNN_CHECK(b, cudnnGetConvolutionForwardAlgorithm_v7(
                           h, p->x, p->w, cv, p->y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count, perf));
        for (int i = 0; i < count; i++)
            e[i] = (conv_entry){(int)perf[i].algo, perf[i].status, perf[i].determinism,
                                perf[i].mathType};
    } else if (d == CONV_BWD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        CUDNN_CHECK(b, cudnnGetConvolutionBackwardDataAlgorithm_v7(
                           h, p->w, p->y, cv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &count,
                           perf));
        for (int i = 0; i < count; i++)
            e[i] = (conv_entry){(int)perf[i].algo, perf[i].status, perf[i].determinism,
                                perf[i].mathType};
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        CUDNN_CHECK(b, cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                           h, p->x, p->y, cv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
                           perf));
        for (int i = 0; i < count; i++)
            e[i] = (conv_entry){(int)perf[i].algo, perf[i].status, perf[i].determinism,
                                perf[i].mathType};
    }
    *n = count;
    return 0;
}

/* The workspace algo needs in direction d with the descriptor's current math type. */
static cudnnStatus_t workspace_size(foil_backend *b, const cuda_conv_plan *p, int d, int algo,
                                    size_t *ws) {
    cudnnHandle_t h = cuda_ctx_of(b)->cudnn;
    cudnnConvolutionDescriptor_t cv = p->dir[d].conv;
    if (d == CONV_FWD)
        return cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, cv, p->y,
                                                       (cudnnConvolutionFwdAlgo_t)algo, ws);
    if (d == CONV_BWD_DATA)
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, cv, p->x,
                                                            (cudnnConvolutionBwdDataAlgo_t)algo, ws);
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, cv, p->w,
                                                          (cudnnConvolutionBwdFilterAlgo_t)algo, ws);
}

/* Takes (algo, math) for direction d when cuDNN can size its workspace (and,
 * unless it is the fallback, the workspace is not huge): 1 taken, 0 not. */
static int take(foil_backend *b, cuda_conv_plan *p, int d, int algo, cudnnMathType_t math,
                int fallback) {
    cuda_conv_dir *cd = &p->dir[d];
    size_t ws = 0;
    if (cudnnSetConvolutionMathType(cd->conv, math) != CUDNN_STATUS_SUCCESS) return 0;
    if (workspace_size(b, p, d, algo, &ws) != CUDNN_STATUS_SUCCESS) {
        mark_bad(cd, math, algo); /* cannot run for this shape */
        return 0;
    }
    if (!fallback && ws > CONV_MAX_WORKSPACE) return 0;
    cd->algo = algo, cd->math = math, cd->workspace = ws;
    return 1;
}

static void show(const cuda_conv_plan *p, int d) {
    char shape[160];
    cuda_conv_shape_text(&p->shape, shape, sizeof shape);
    fprintf(stderr, "foil: cuda: conv %s (%s): algorithm %d, math type %d, workspace %zu bytes\n",
            DIR_NAME[d], shape, p->dir[d].algo, (int)p->dir[d].math, p->dir[d].workspace);
}

int cuda_conv_choose(foil_backend *b, cuda_conv_plan *p, int d, int tf32) {
    cuda_conv_dir *cd = &p->dir[d];
    conv_entry e[CONV_MAX_ENTRIES];
    int n = 0;
    CUDNN_CHECK(b, cudnnSetConvolutionMathType(cd->conv, query_math(tf32)));
    if (heuristic(b, p, d, e, &n)) return -1;
    /* remembered whatever the mode: an entry reported bad is never a fallback */
    for (int i = 0; i < n; i++)
        if (e[i].status != CUDNN_STATUS_SUCCESS || e[i].det != CUDNN_DETERMINISTIC)
            mark_bad(cd, e[i].math, e[i].algo);
    int taken = 0;
    for (int i = 0; i < n && !taken; i++)
        if (e[i].status == CUDNN_STATUS_SUCCESS && e[i].det == CUDNN_DETERMINISTIC &&
            math_ok(e[i].math, tf32) && !is_bad(cd, e[i].math, e[i].algo))
            taken = take(b, p, d, e[i].algo, e[i].math, 0);
    if (!taken && !is_bad(cd, query_math(tf32), FALLBACK[d]))
        taken = take(b, p, d, FALLBACK[d], query_math(tf32), 1);
    if (!taken) {
        char shape[160];
        cuda_conv_shape_text(&p->shape, shape, sizeof shape);
        return foil_fail(&b->err, "conv2d: cuDNN offers no deterministic %s %s algorithm that "
                                  "works for %s", DIR_NAME[d], tf32 ? "TF32" : "fp32 (FMA)", shape);
    }
    if (cuda_ctx_of(b)->show_plans) show(p, d);
    return 0;
}

int cuda_conv_failed(foil_backend *b, cuda_conv_plan *p, int d) {
    cuda_conv_dir *cd = &p->dir[d];
    mark_bad(cd, cd->math, cd->algo);
    cudaGetLastError(); /* a failed allocation or launch left a non-sticky error: not ours now */
    return cuda_conv_choose(b, p, d, p->tf32);
}

/* Chooses the three directions' algorithms for the precision mode. */
static int plan_choose(foil_backend *b, cuda_conv_plan *p, int tf32) {
    p->tf32 = tf32;
    for (int d = 0; d < CONV_DIRS; d++)
        if (cuda_conv_choose(b, p, d, tf32)) return -1;
    return 0;
}

static void plan_destroy(cuda_conv_plan *p) {
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->bias) cudnnDestroyTensorDescriptor(p->bias);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    for (int d = 0; d < CONV_DIRS; d++)
        if (p->dir[d].conv) cudnnDestroyConvolutionDescriptor(p->dir[d].conv);
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
 * allocated or described; that the sizes are positive is checked in front
 * (host/backend/check.c). */
static int shape_check(foil_backend *b, const foil_conv_shape *cs) {
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
    for (int d = 0; d < CONV_DIRS; d++)
        CUDNN_CHECK(b, cudnnCreateConvolutionDescriptor(&p->dir[d].conv));
    CUDNN_CHECK(b, cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, cs->n,
                                              cs->c, h, w));
    CUDNN_CHECK(b, cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, cs->n,
                                              cs->k, cs->oh, cs->ow));
    CUDNN_CHECK(b, cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                              cs->k, 1, 1));
    CUDNN_CHECK(b, cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, cs->k,
                                              cs->c, cs->r, cs->s));
    for (int d = 0; d < CONV_DIRS; d++)
        CUDNN_CHECK(b, cudnnSetConvolution2dDescriptor(p->dir[d].conv, pad_h, pad_w, cs->stride_h,
                                                       cs->stride_w, 1, 1, CUDNN_CROSS_CORRELATION,
                                                       CUDNN_DATA_FLOAT));
    int on, ok, oh, ow;
    CUDNN_CHECK(b, cudnnGetConvolution2dForwardOutputDim(p->dir[CONV_FWD].conv, p->x, p->w, &on,
                                                         &ok, &oh, &ow));
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
        if (p->tf32 != ctx->tf32 && plan_choose(b, p, ctx->tf32)) {
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
