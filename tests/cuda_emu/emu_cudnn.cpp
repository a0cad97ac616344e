/* foil's CUDA emulator: cuDNN's legacy convolution API for NCHW float
 * tensors, written from cuDNN's documented semantics (padding, stride,
 * dilation, convolution or cross-correlation, y = alpha op + beta y with y
 * not read when beta is 0), independent of foil's CPU backend: im2col per
 * image and OpenBLAS.
 *
 * Two kinds of algorithm, so that foil's parity tolerances meet another
 * summation order than the CPU reference's (im2col and OpenBLAS): the
 * implicit-GEMM forward algorithms and ALGO_1 of both backward directions
 * are direct loops accumulating in float in their own order (the
 * heuristics list them first, as cuDNN would); forward GEMM, backward-data
 * WINOGRAD_NONFUSED and backward-filter FFT are im2col + OpenBLAS.
 *
 * Stricter than cuDNN where foil promises more: every tensor must lie
 * inside one device allocation, the workspace must be as large as the
 * algorithm asked for, and running a non-deterministic algorithm
 * (backward ALGO_0, filter ALGO_3) is an error. The algorithm heuristics list
 * entries foil must pass over (tensor-op math in FMA mode, non-deterministic
 * algorithms, NOT_SUPPORTED) before usable ones; in TF32 mode the
 * tensor-core entries come first and are reported as TENSOR_OP, as Hopper
 * may. FOIL_EMU_CUDNN_FAIL (include/foil_emu.h) makes chosen algorithms fail
 * when they run. TF32: in CUDNN_DEFAULT_MATH or tensor-op mode the operands
 * are rounded to TF32, as tensor cores do. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "cudnn.h"
#include "emu_internal.h"
#include "foil_emu.h"

using namespace foil_emu;

struct foil_emu_cudnn {
    cudaStream_t stream;
};
struct foil_emu_tensor {
    bool set;
    int n, c, h, w;
};
struct foil_emu_filter {
    bool set;
    int k, c, r, s;
};
struct foil_emu_conv {
    bool set;
    int pad_h, pad_w, u, v, dil_h, dil_w;
    cudnnConvolutionMode_t mode;
    cudnnMathType_t math;
};

namespace {

cudnnStatus_t bad(const char *what, const char *why) {
    say("%s: %s", what, why);
    return CUDNN_STATUS_BAD_PARAM;
}

size_t elems(const foil_emu_tensor *t) {
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}
size_t elems(const foil_emu_filter *f) {
    return (size_t)f->k * (size_t)f->c * (size_t)f->r * (size_t)f->s;
}

bool tf32(const foil_emu_conv *cv) { return cv->math != CUDNN_FMA_MATH; }

/* Output size of one dimension, or -1 when the filter does not fit. */
int out_dim(int in, int pad, int filter, int dil, int stride) {
    long span = (long)in + 2L * pad - ((long)(filter - 1) * dil + 1);
    return span < 0 ? -1 : (int)(span / stride + 1);
}

/* The shapes of one convolution agree: x (n, c, h, w), w (k, c, r, s), y (n, k, oh, ow). */
cudnnStatus_t check_shapes(const char *what, const foil_emu_tensor *x, const foil_emu_filter *w,
                           const foil_emu_conv *cv, const foil_emu_tensor *y) {
    if (!x || !w || !cv || !y || !x->set || !w->set || !cv->set || !y->set)
        return bad(what, "a descriptor is NULL or was never set");
    if (x->c != w->c) return bad(what, "input channels differ from the filter's");
    int oh = out_dim(x->h, cv->pad_h, w->r, cv->dil_h, cv->u);
    int ow = out_dim(x->w, cv->pad_w, w->s, cv->dil_w, cv->v);
    if (y->n != x->n || y->c != w->k || y->h != oh || y->w != ow) {
        char why[200];
        snprintf(why, sizeof why, "output descriptor %dx%dx%dx%d, the convolution gives %dx%dx%dx%d",
                 y->n, y->c, y->h, y->w, x->n, w->k, oh, ow);
        return bad(what, why);
    }
    return CUDNN_STATUS_SUCCESS;
}

/* Workspace the emulator asks for: none for the algorithms cuDNN documents
 * as the always-available fallbacks (forward implicit GEMM, ALGO_1 of the
 * backward directions), some for the others, so that foil's workspace
 * handling and its recovery from a failed workspace allocation are
 * exercised. */
size_t ws_bytes(int dir, int algo) {
    int fallback = dir == FOIL_EMU_FWD ? algo == 0 : algo == 1;
    return fallback ? 0 : (size_t)(algo + 1) * 4096;
}

cudnnStatus_t check_run(const char *what, cudnnHandle_t h, const void *alpha, const void *beta,
                        void *ws, size_t ws_size, size_t need) {
    if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
    if (!is_stream(h->stream)) return CUDNN_STATUS_EXECUTION_FAILED;
    if (!alpha || !beta || is_device_pointer(alpha) || is_device_pointer(beta))
        return bad(what, "alpha and beta must be host pointers");
    if (ws_size < need) return bad(what, "the workspace is smaller than the algorithm needs");
    if (need && !is_device_range(ws, need)) return bad(what, "the workspace is not device memory");
    return CUDNN_STATUS_SUCCESS;
}

bool on_device(const void *p, size_t n) { return is_device_range(p, n * sizeof(float)); }

/* The filter as cross-correlation weights (flipped for CUDNN_CONVOLUTION),
 * rounded to TF32 when the math type allows tensor cores. */
std::vector<float> weights(const float *w, const foil_emu_filter *f, const foil_emu_conv *cv) {
    std::vector<float> out(elems(f));
    size_t rs = (size_t)f->r * f->s;
    for (size_t kc = 0; kc < (size_t)f->k * f->c; kc++)
        for (int r = 0; r < f->r; r++)
            for (int s = 0; s < f->s; s++) {
                int rr = cv->mode == CUDNN_CONVOLUTION ? f->r - 1 - r : r;
                int ss = cv->mode == CUDNN_CONVOLUTION ? f->s - 1 - s : s;
                float v = w[kc * rs + (size_t)rr * f->s + ss];
                out[kc * rs + (size_t)r * f->s + s] = tf32(cv) ? round_tf32(v) : v;
            }
    return out;
}

/* col (C*R*S, OH*OW) of image x_n (C, H, W); zeros where the window is in the padding. */
void im2col(float *col, const float *xn, const foil_emu_tensor *x, const foil_emu_filter *f,
            const foil_emu_conv *cv, int oh, int ow, bool round) {
    size_t p = (size_t)oh * ow;
    for (int c = 0; c < x->c; c++)
        for (int r = 0; r < f->r; r++)
            for (int s = 0; s < f->s; s++) {
                float *row = col + (((size_t)c * f->r + r) * f->s + s) * p;
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++) {
                        int iy = oy * cv->u - cv->pad_h + r * cv->dil_h;
                        int ix = ox * cv->v - cv->pad_w + s * cv->dil_w;
                        float v = iy >= 0 && iy < x->h && ix >= 0 && ix < x->w
                                      ? xn[((size_t)c * x->h + iy) * x->w + ix]
                                      : 0.0f;
                        row[(size_t)oy * ow + ox] = round ? round_tf32(v) : v;
                    }
            }
}

/* dx_n (C, H, W) += the columns scattered back (the adjoint of im2col). */
void col2im(float *dxn, const float *col, const foil_emu_tensor *x, const foil_emu_filter *f,
            const foil_emu_conv *cv, int oh, int ow) {
    size_t p = (size_t)oh * ow;
    for (int c = 0; c < x->c; c++)
        for (int r = 0; r < f->r; r++)
            for (int s = 0; s < f->s; s++) {
                const float *row = col + (((size_t)c * f->r + r) * f->s + s) * p;
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++) {
                        int iy = oy * cv->u - cv->pad_h + r * cv->dil_h;
                        int ix = ox * cv->v - cv->pad_w + s * cv->dil_w;
                        if (iy >= 0 && iy < x->h && ix >= 0 && ix < x->w)
                            dxn[((size_t)c * x->h + iy) * x->w + ix] += row[(size_t)oy * ow + ox];
                    }
            }
}

/* out = alpha * result + beta * out; out is not read when beta is 0 */
void blend(float *out, const float *result, size_t n, float alpha, float beta) {
    for (size_t i = 0; i < n; i++)
        out[i] = beta == 0.0f ? alpha * result[i] : alpha * result[i] + beta * out[i];
}

/* Whether FOIL_EMU_CUDNN_FAIL names (dir, algo): "fwd:1,bwd_data:1". */
bool failing(int dir, int algo) {
    static const char *const NAME[3] = {"fwd", "bwd_data", "bwd_filter"};
    const char *v = getenv("FOIL_EMU_CUDNN_FAIL");
    char item[32];
    snprintf(item, sizeof item, "%s:%d", NAME[dir], algo);
    size_t n = strlen(item);
    for (const char *p = v; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, item, n) == 0) return true;
        p = end ? end + 1 : nullptr;
    }
    return false;
}

/* The refusal of an algorithm named in FOIL_EMU_CUDNN_FAIL, counted. */
cudnnStatus_t refused(int dir, int algo) {
    count_conv(dir, algo, true);
    return CUDNN_STATUS_NOT_SUPPORTED;
}

float tf32_if(float v, bool round) { return round ? round_tf32(v) : v; }

/* The input index of output oy at filter row r, or -1 in the padding. */
int input_at(int o, int stride, int pad, int k, int dil, int in) {
    int i = o * stride - pad + k * dil;
    return i >= 0 && i < in ? i : -1;
}

/* Direct forward: y (K, OH, OW) of image x_n, each sum in float over
 * (r, s) outer and c inner: another order than im2col's GEMM. wt holds
 * cross-correlation weights (K, C, R, S). */
void direct_fwd(float *res, const float *xn, const float *wt, const foil_emu_tensor *x,
                const foil_emu_filter *f, const foil_emu_conv *cv, int oh, int ow, bool round) {
    gpu_denormals keep;
    for (int k = 0; k < f->k; k++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float acc = 0.0f;
                for (int r = 0; r < f->r; r++) {
                    int iy = input_at(oy, cv->u, cv->pad_h, r, cv->dil_h, x->h);
                    if (iy < 0) continue;
                    for (int s = 0; s < f->s; s++) {
                        int ix = input_at(ox, cv->v, cv->pad_w, s, cv->dil_w, x->w);
                        if (ix < 0) continue;
                        for (int c = 0; c < x->c; c++)
                            acc += wt[(((size_t)k * f->c + c) * f->r + r) * f->s + s] *
                                   tf32_if(xn[((size_t)c * x->h + iy) * x->w + ix], round);
                    }
                }
                res[((size_t)k * oh + oy) * ow + ox] = acc;
            }
}

/* Direct backward data: dx_n (C, H, W) scattered from dy_n (K, OH, OW),
 * each element accumulated in float in (k, oy, ox) order. */
void direct_bwd_data(float *res, const float *dyn, const float *wt, const foil_emu_tensor *x,
                     const foil_emu_filter *f, const foil_emu_conv *cv, int oh, int ow,
                     bool round) {
    gpu_denormals keep;
    std::fill(res, res + (size_t)x->c * x->h * x->w, 0.0f);
    for (int k = 0; k < f->k; k++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                float g = tf32_if(dyn[((size_t)k * oh + oy) * ow + ox], round);
                for (int c = 0; c < x->c; c++)
                    for (int r = 0; r < f->r; r++) {
                        int iy = input_at(oy, cv->u, cv->pad_h, r, cv->dil_h, x->h);
                        if (iy < 0) continue;
                        for (int s = 0; s < f->s; s++) {
                            int ix = input_at(ox, cv->v, cv->pad_w, s, cv->dil_w, x->w);
                            if (ix >= 0)
                                res[((size_t)c * x->h + iy) * x->w + ix] +=
                                    g * wt[(((size_t)k * f->c + c) * f->r + r) * f->s + s];
                        }
                    }
            }
}

/* Direct backward filter: acc (K, C, R, S) += the products of image n, each
 * in float in (oy, ox) order. */
void direct_bwd_filter(float *acc, const float *xn, const float *dyn, const foil_emu_tensor *x,
                       const foil_emu_filter *f, const foil_emu_conv *cv, int oh, int ow,
                       bool round) {
    gpu_denormals keep;
    for (int k = 0; k < f->k; k++)
        for (int c = 0; c < x->c; c++)
            for (int r = 0; r < f->r; r++)
                for (int s = 0; s < f->s; s++) {
                    float sum = 0.0f;
                    for (int oy = 0; oy < oh; oy++) {
                        int iy = input_at(oy, cv->u, cv->pad_h, r, cv->dil_h, x->h);
                        if (iy < 0) continue;
                        for (int ox = 0; ox < ow; ox++) {
                            int ix = input_at(ox, cv->v, cv->pad_w, s, cv->dil_w, x->w);
                            if (ix >= 0)
                                sum += tf32_if(dyn[((size_t)k * oh + oy) * ow + ox], round) *
                                       tf32_if(xn[((size_t)c * x->h + iy) * x->w + ix], round);
                        }
                    }
                    acc[(((size_t)k * f->c + c) * f->r + r) * f->s + s] += sum;
                }
}

/* The three workspace queries: shapes in forward terms (x, w, y). */
cudnnStatus_t workspace_query(const char *what, int dir, cudnnHandle_t h,
                              const foil_emu_tensor *x, const foil_emu_filter *w,
                              const foil_emu_conv *cv, const foil_emu_tensor *y, int algo,
                              size_t *bytes) {
    if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
    cudnnStatus_t s = check_shapes(what, x, w, cv, y);
    if (s || !bytes) return s ? s : CUDNN_STATUS_BAD_PARAM;
    *bytes = ws_bytes(dir, algo);
    return CUDNN_STATUS_SUCCESS;
}

template <class Perf, class Algo>
void list_algos(int dir, Perf *perf, int requested, int *returned, const foil_emu_conv *cv,
                const Algo *algos, const cudnnDeterminism_t *det, const cudnnStatus_t *status,
                const bool *tensor_op, int count) {
    int n = 0;
    for (int i = 0; i < count && n < requested; i++, n++) {
        perf[n] = Perf{};
        perf[n].algo = algos[i];
        perf[n].status = status[i];
        perf[n].time = -1.0f;
        perf[n].memory = ws_bytes(dir, (int)algos[i]);
        perf[n].determinism = det[i];
        perf[n].mathType = tensor_op[i] ? CUDNN_TENSOR_OP_MATH : cv->math;
    }
    *returned = n;
}

} /* namespace */

extern "C" {

const char *cudnnGetErrorString(cudnnStatus_t s) {
    switch (s) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_NOT_INITIALIZED: return "CUDNN_STATUS_NOT_INITIALIZED";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
    case CUDNN_STATUS_INTERNAL_ERROR: return "CUDNN_STATUS_INTERNAL_ERROR";
    case CUDNN_STATUS_EXECUTION_FAILED: return "CUDNN_STATUS_EXECUTION_FAILED";
    }
    return "CUDNN_UNKNOWN_STATUS";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t *h) {
    if (!h) return CUDNN_STATUS_BAD_PARAM;
    *h = new foil_emu_cudnn{nullptr};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t h) {
    delete h;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t h, cudaStream_t s) {
    if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
    if (!is_stream(s)) return CUDNN_STATUS_BAD_PARAM;
    h->stream = s;
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *d) {
    if (!d) return CUDNN_STATUS_BAD_PARAM;
    *d = new foil_emu_tensor{};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                         cudnnDataType_t type, int n, int c, int h, int w) {
    if (!d || n < 1 || c < 1 || h < 1 || w < 1)
        return bad("cudnnSetTensor4dDescriptor", "NULL or a dimension < 1");
    if (format != CUDNN_TENSOR_NCHW || type != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED;
    *d = foil_emu_tensor{true, n, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *d) {
    if (!d) return CUDNN_STATUS_BAD_PARAM;
    *d = new foil_emu_filter{};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type,
                                         cudnnTensorFormat_t format, int k, int c, int h, int w) {
    if (!d || k < 1 || c < 1 || h < 1 || w < 1)
        return bad("cudnnSetFilter4dDescriptor", "NULL or a dimension < 1");
    if (format != CUDNN_TENSOR_NCHW || type != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED;
    *d = foil_emu_filter{true, k, c, h, w};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *d) {
    if (!d) return CUDNN_STATUS_BAD_PARAM;
    *d = new foil_emu_conv{};
    (*d)->math = CUDNN_DEFAULT_MATH;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
    delete d;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h,
                                              int pad_w, int u, int v, int dil_h, int dil_w,
                                              cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute_type) {
    if (!d || pad_h < 0 || pad_w < 0 || u < 1 || v < 1 || dil_h < 1 || dil_w < 1 ||
        (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION))
        return bad("cudnnSetConvolution2dDescriptor", "invalid padding, stride, dilation or mode");
    if (compute_type != CUDNN_DATA_FLOAT) return CUDNN_STATUS_NOT_SUPPORTED;
    cudnnMathType_t math = d->math;
    *d = foil_emu_conv{true, pad_h, pad_w, u, v, dil_h, dil_w, mode, math};
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
    if (!d || math < CUDNN_DEFAULT_MATH || math > CUDNN_FMA_MATH) return CUDNN_STATUS_BAD_PARAM;
    d->math = math;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t *math) {
    if (!d || !math) return CUDNN_STATUS_BAD_PARAM;
    *math = d->math;
    return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t cv,
                                                    const cudnnTensorDescriptor_t x,
                                                    const cudnnFilterDescriptor_t w, int *n,
                                                    int *c, int *h, int *wd) {
    const char *what = "cudnnGetConvolution2dForwardOutputDim";
    if (!cv || !x || !w || !cv->set || !x->set || !w->set || !n || !c || !h || !wd)
        return bad(what, "NULL or unset argument");
    if (x->c != w->c) return bad(what, "input channels differ from the filter's");
    int oh = out_dim(x->h, cv->pad_h, w->r, cv->dil_h, cv->u);
    int ow = out_dim(x->w, cv->pad_w, w->s, cv->dil_w, cv->v);
    if (oh < 1 || ow < 1) return bad(what, "the filter is larger than the padded input");
    *n = x->n, *c = w->k, *h = oh, *wd = ow;
    return CUDNN_STATUS_SUCCESS;
}

/* ---- algorithms ---------------------------------------------------------------- */

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnFilterDescriptor_t w,
    const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t y, const int requested,
    int *returned, cudnnConvolutionFwdAlgoPerf_t *perf) {
    if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
    cudnnStatus_t s = check_shapes("cudnnGetConvolutionForwardAlgorithm_v7", x, w, cv, y);
    if (s || !returned || !perf || requested < 1) return s ? s : CUDNN_STATUS_BAD_PARAM;
    /* direct first, then the GEMM one (a refusal of the first falls to it) */
    const cudnnConvolutionFwdAlgo_t algos[] = {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                               CUDNN_CONVOLUTION_FWD_ALGO_FFT,
                                               CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                                               CUDNN_CONVOLUTION_FWD_ALGO_GEMM};
    const cudnnDeterminism_t det[] = {CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC,
                                      CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC};
    const cudnnStatus_t st[] = {CUDNN_STATUS_SUCCESS, CUDNN_STATUS_NOT_SUPPORTED,
                                CUDNN_STATUS_SUCCESS, CUDNN_STATUS_SUCCESS};
    const bool tensor_op[] = {true, false, false, false};
    list_algos(FOIL_EMU_FWD, perf, requested, returned, cv, algos, det, st, tensor_op, 4);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(
    cudnnHandle_t h, const cudnnFilterDescriptor_t w, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnTensorDescriptor_t dx, const int requested,
    int *returned, cudnnConvolutionBwdDataAlgoPerf_t *perf) {
    if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
    cudnnStatus_t s = check_shapes("cudnnGetConvolutionBackwardDataAlgorithm_v7", dx, w, cv, dy);
    if (s || !returned || !perf || requested < 1) return s ? s : CUDNN_STATUS_BAD_PARAM;
    const cudnnConvolutionBwdDataAlgo_t algos[] = {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_0,
                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING,
                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_1,
                                                   CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED};
    const cudnnDeterminism_t det[] = {CUDNN_DETERMINISTIC, CUDNN_NON_DETERMINISTIC,
                                      CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC,
                                      CUDNN_DETERMINISTIC};
    const cudnnStatus_t st[] = {CUDNN_STATUS_SUCCESS, CUDNN_STATUS_SUCCESS,
                                CUDNN_STATUS_NOT_SUPPORTED, CUDNN_STATUS_SUCCESS,
                                CUDNN_STATUS_SUCCESS};
    const bool tensor_op[] = {true, false, false, false, false};
    list_algos(FOIL_EMU_BWD_DATA, perf, requested, returned, cv, algos, det, st, tensor_op, 5);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnFilterDescriptor_t dw, const int requested,
    int *returned, cudnnConvolutionBwdFilterAlgoPerf_t *perf) {
    if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
    cudnnStatus_t s = check_shapes("cudnnGetConvolutionBackwardFilterAlgorithm_v7", x, dw, cv, dy);
    if (s || !returned || !perf || requested < 1) return s ? s : CUDNN_STATUS_BAD_PARAM;
    const cudnnConvolutionBwdFilterAlgo_t algos[] = {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0,
                                                     CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3,
                                                     CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1,
                                                     CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT};
    const cudnnDeterminism_t det[] = {CUDNN_NON_DETERMINISTIC, CUDNN_NON_DETERMINISTIC,
                                      CUDNN_DETERMINISTIC, CUDNN_DETERMINISTIC};
    const cudnnStatus_t st[] = {CUDNN_STATUS_SUCCESS, CUDNN_STATUS_SUCCESS, CUDNN_STATUS_SUCCESS,
                                CUDNN_STATUS_SUCCESS};
    const bool tensor_op[] = {false, false, false, false};
    list_algos(FOIL_EMU_BWD_FILTER, perf, requested, returned, cv, algos, det, st, tensor_op, 4);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h,
                                                      const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t cv,
                                                      const cudnnTensorDescriptor_t y,
                                                      cudnnConvolutionFwdAlgo_t algo,
                                                      size_t *bytes) {
    if (algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT) return CUDNN_STATUS_NOT_SUPPORTED;
    return workspace_query("cudnnGetConvolutionForwardWorkspaceSize", FOIL_EMU_FWD, h, x, w, cv, y,
                           algo, bytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h,
                                                           const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t cv,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo,
                                                           size_t *bytes) {
    return workspace_query("cudnnGetConvolutionBackwardDataWorkspaceSize", FOIL_EMU_BWD_DATA, h,
                           dx, w, cv, dy, algo, bytes);
}

cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(
    cudnnHandle_t h, const cudnnTensorDescriptor_t x, const cudnnTensorDescriptor_t dy,
    const cudnnConvolutionDescriptor_t cv, const cudnnFilterDescriptor_t dw,
    cudnnConvolutionBwdFilterAlgo_t algo, size_t *bytes) {
    return workspace_query("cudnnGetConvolutionBackwardFilterWorkspaceSize", FOIL_EMU_BWD_FILTER,
                           h, x, dw, cv, dy, algo, bytes);
}

/* ---- convolutions ------------------------------------------------------------- */

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void *alpha,
                                      const cudnnTensorDescriptor_t xd, const void *x,
                                      const cudnnFilterDescriptor_t wd, const void *w,
                                      const cudnnConvolutionDescriptor_t cv,
                                      cudnnConvolutionFwdAlgo_t algo, void *ws, size_t ws_size,
                                      const void *beta, const cudnnTensorDescriptor_t yd,
                                      void *y) {
    const char *what = "cudnnConvolutionForward";
    cudnnStatus_t s = check_shapes(what, xd, wd, cv, yd);
    if (!s) s = check_run(what, h, alpha, beta, ws, ws_size, ws_bytes(FOIL_EMU_FWD, (int)algo));
    if (s) return s;
    if (algo < 0 || algo >= CUDNN_CONVOLUTION_FWD_ALGO_COUNT || algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT)
        return bad(what, "an algorithm the heuristics did not offer for this shape");
    if (!on_device(x, elems(xd)) || !on_device(w, elems(wd)) || !on_device(y, elems(yd)))
        return bad(what, "x, w or y is not inside device memory");
    if (failing(FOIL_EMU_FWD, (int)algo)) return refused(FOIL_EMU_FWD, (int)algo);
    count_conv(FOIL_EMU_FWD, (int)algo, false);
    std::vector<float> wt = weights((const float *)w, wd, cv);
    int oh = yd->h, ow = yd->w, crs = wd->c * wd->r * wd->s;
    size_t p = (size_t)oh * ow, img = (size_t)xd->c * xd->h * xd->w;
    bool direct = algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
                  algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
    std::vector<float> col(direct ? 0 : (size_t)crs * p), res((size_t)wd->k * p);
    for (int n = 0; n < xd->n; n++) {
        if (direct) {
            direct_fwd(res.data(), (const float *)x + n * img, wt.data(), xd, wd, cv, oh, ow,
                       tf32(cv));
        } else {
            im2col(col.data(), (const float *)x + n * img, xd, wd, cv, oh, ow, tf32(cv));
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, wd->k, (int)p, crs, 1.0f,
                        wt.data(), crs, col.data(), (int)p, 0.0f, res.data(), (int)p);
        }
        blend((float *)y + n * (size_t)wd->k * p, res.data(), res.size(), *(const float *)alpha,
              *(const float *)beta);
    }
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void *alpha,
                                           const cudnnFilterDescriptor_t wd, const void *w,
                                           const cudnnTensorDescriptor_t dyd, const void *dy,
                                           const cudnnConvolutionDescriptor_t cv,
                                           cudnnConvolutionBwdDataAlgo_t algo, void *ws,
                                           size_t ws_size, const void *beta,
                                           const cudnnTensorDescriptor_t dxd, void *dx) {
    const char *what = "cudnnConvolutionBackwardData";
    cudnnStatus_t s = check_shapes(what, dxd, wd, cv, dyd);
    if (!s) s = check_run(what, h, alpha, beta, ws, ws_size, ws_bytes(FOIL_EMU_BWD_DATA, (int)algo));
    if (s) return s;
    if (algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_0)
        return bad(what, "ALGO_0 is non-deterministic (foil promises deterministic results)");
    if (algo < 0 || algo >= CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT ||
        algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING)
        return bad(what, "an algorithm the heuristics did not offer for this shape");
    if (!on_device(dx, elems(dxd)) || !on_device(w, elems(wd)) || !on_device(dy, elems(dyd)))
        return bad(what, "dx, w or dy is not inside device memory");
    if (failing(FOIL_EMU_BWD_DATA, (int)algo)) return refused(FOIL_EMU_BWD_DATA, (int)algo);
    count_conv(FOIL_EMU_BWD_DATA, (int)algo, false);
    std::vector<float> wt = weights((const float *)w, wd, cv);
    int oh = dyd->h, ow = dyd->w, crs = wd->c * wd->r * wd->s;
    size_t p = (size_t)oh * ow, img = (size_t)dxd->c * dxd->h * dxd->w;
    std::vector<float> col((size_t)crs * p), g((size_t)wd->k * p), res(img);
    for (int n = 0; n < dxd->n; n++) {
        const float *dyn = (const float *)dy + n * (size_t)wd->k * p;
        if (algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1) {
            direct_bwd_data(res.data(), dyn, wt.data(), dxd, wd, cv, oh, ow, tf32(cv));
            blend((float *)dx + n * img, res.data(), img, *(const float *)alpha,
                  *(const float *)beta);
            continue;
        }
        for (size_t i = 0; i < g.size(); i++) g[i] = tf32(cv) ? round_tf32(dyn[i]) : dyn[i];
        /* col (CRS, P) = W^T (CRS, K) dy_n (K, P) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, crs, (int)p, wd->k, 1.0f, wt.data(),
                    crs, g.data(), (int)p, 0.0f, col.data(), (int)p);
        std::fill(res.begin(), res.end(), 0.0f);
        col2im(res.data(), col.data(), dxd, wd, cv, oh, ow);
        blend((float *)dx + n * img, res.data(), img, *(const float *)alpha, *(const float *)beta);
    }
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void *alpha,
                                             const cudnnTensorDescriptor_t xd, const void *x,
                                             const cudnnTensorDescriptor_t dyd, const void *dy,
                                             const cudnnConvolutionDescriptor_t cv,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void *ws,
                                             size_t ws_size, const void *beta,
                                             const cudnnFilterDescriptor_t dwd, void *dw) {
    const char *what = "cudnnConvolutionBackwardFilter";
    cudnnStatus_t s = check_shapes(what, xd, dwd, cv, dyd);
    if (!s) s = check_run(what, h, alpha, beta, ws, ws_size,
                          ws_bytes(FOIL_EMU_BWD_FILTER, (int)algo));
    if (s) return s;
    if (algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 || algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3)
        return bad(what, "ALGO_0 and ALGO_3 are non-deterministic (foil promises deterministic "
                         "results)");
    if (algo < 0 || algo >= CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT)
        return bad(what, "an algorithm the heuristics did not offer");
    if (!on_device(x, elems(xd)) || !on_device(dw, elems(dwd)) || !on_device(dy, elems(dyd)))
        return bad(what, "x, dw or dy is not inside device memory");
    if (failing(FOIL_EMU_BWD_FILTER, (int)algo)) return refused(FOIL_EMU_BWD_FILTER, (int)algo);
    count_conv(FOIL_EMU_BWD_FILTER, (int)algo, false);
    int oh = dyd->h, ow = dyd->w, crs = dwd->c * dwd->r * dwd->s;
    size_t p = (size_t)oh * ow, img = (size_t)xd->c * xd->h * xd->w;
    std::vector<float> col((size_t)crs * p), g((size_t)dwd->k * p), acc(elems(dwd), 0.0f);
    for (int n = 0; n < xd->n; n++) {
        const float *dyn = (const float *)dy + n * (size_t)dwd->k * p;
        if (algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1) {
            direct_bwd_filter(acc.data(), (const float *)x + n * img, dyn, xd, dwd, cv, oh, ow,
                              tf32(cv));
            continue;
        }
        im2col(col.data(), (const float *)x + n * img, xd, dwd, cv, oh, ow, tf32(cv));
        for (size_t i = 0; i < g.size(); i++) g[i] = tf32(cv) ? round_tf32(dyn[i]) : dyn[i];
        /* dW (K, CRS) += dy_n (K, P) col^T (P, CRS) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, dwd->k, crs, (int)p, 1.0f, g.data(),
                    (int)p, col.data(), (int)p, 1.0f, acc.data(), crs);
    }
    /* acc holds cross-correlation weights: flip back for CUDNN_CONVOLUTION */
    std::vector<float> out(acc.size());
    size_t rs = (size_t)dwd->r * dwd->s;
    for (size_t kc = 0; kc < (size_t)dwd->k * dwd->c; kc++)
        for (int r = 0; r < dwd->r; r++)
            for (int c = 0; c < dwd->s; c++) {
                int rr = cv->mode == CUDNN_CONVOLUTION ? dwd->r - 1 - r : r;
                int cc = cv->mode == CUDNN_CONVOLUTION ? dwd->s - 1 - c : c;
                out[kc * rs + (size_t)rr * dwd->s + cc] = acc[kc * rs + (size_t)r * dwd->s + c];
            }
    blend((float *)dw, out.data(), out.size(), *(const float *)alpha, *(const float *)beta);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnAddTensor(cudnnHandle_t h, const void *alpha, const cudnnTensorDescriptor_t ad,
                             const void *a, const void *beta, const cudnnTensorDescriptor_t cd,
                             void *c) {
    const char *what = "cudnnAddTensor";
    if (!h) return CUDNN_STATUS_NOT_INITIALIZED;
    if (!ad || !cd || !ad->set || !cd->set) return bad(what, "a descriptor is NULL or unset");
    if ((ad->n != 1 && ad->n != cd->n) || (ad->c != 1 && ad->c != cd->c) ||
        (ad->h != 1 && ad->h != cd->h) || (ad->w != 1 && ad->w != cd->w))
        return bad(what, "A's dimensions must be 1 or C's");
    cudnnStatus_t s = check_run(what, h, alpha, beta, nullptr, 0, 0);
    if (s) return s;
    if (!on_device(a, elems(ad)) || !on_device(c, elems(cd)))
        return bad(what, "A or C is not inside device memory");
    const float *A = (const float *)a;
    float *C = (float *)c, al = *(const float *)alpha, be = *(const float *)beta;
    for (int n = 0; n < cd->n; n++)
        for (int k = 0; k < cd->c; k++)
            for (int y = 0; y < cd->h; y++)
                for (int x = 0; x < cd->w; x++) {
                    size_t ia = (((size_t)(ad->n == 1 ? 0 : n) * ad->c + (ad->c == 1 ? 0 : k)) *
                                     ad->h + (ad->h == 1 ? 0 : y)) * ad->w + (ad->w == 1 ? 0 : x);
                    float *cv = &C[(((size_t)n * cd->c + k) * cd->h + y) * cd->w + x];
                    *cv = be == 0.0f ? al * A[ia] : al * A[ia] + be * *cv;
                }
    return CUDNN_STATUS_SUCCESS;
}

} /* extern "C" */
