/* Private to the CUDA layer ops (conv_plan.cu, conv.cu, layers.cu): the conv
 * plan cache and the entry points layers.cu registers. */
#ifndef FOIL_CUDA_LAYERS_H
#define FOIL_CUDA_LAYERS_H

#include "cuda_common.h"

#define LAYER_THREADS 256u /* threads per block for the layer kernels */

/* Whether every index of a per-element loop over n elements can be computed
 * in 32 bits: a GPU divides 32-bit integers in a few instructions and
 * emulates 64-bit division in dozens. The bound is 2^31 - 1, not 2^32 - 1,
 * so that a grid-stride step (at most cuda_blocks' 524280 blocks of
 * LAYER_THREADS) past the last index cannot wrap around. */
static inline bool fits32(size_t n) { return n <= (size_t)INT32_MAX; }

/* The cached plan for this shape in the current precision mode, made (or its
 * algorithms re-chosen after a TF32 switch) on first use. The pointer is valid
 * until the next call (the cache may grow). */
int cuda_conv_plan_get(foil_backend *b, const foil_conv_shape *cs, cuda_conv_plan **out);

/* Chooses direction d's algorithm (CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER)
 * for the precision mode, passing over what the plan holds as bad. */
int cuda_conv_choose(foil_backend *b, cuda_conv_plan *p, int d, int tf32);
/* Direction d's algorithm failed when it ran (or its workspace could not be
 * allocated): holds it as bad for this shape, clears the pending CUDA error
 * and chooses again (fails when nothing deterministic is left). */
int cuda_conv_failed(foil_backend *b, cuda_conv_plan *p, int d);
/* "n 64, c 1, 28x28, k 32, kernel 5x5, stride 1/1, pad 2/2" */
int cuda_conv_shape_text(const foil_conv_shape *cs, char *out, size_t cap);

/* Whether cuDNN runs on an explicitly zero-padded copy of the input (ctx->pad_buf)
 * because the padding is not symmetric. Then the padded tensor is
 * (n, c, h + pad_h + pad_b, w + pad_w + pad_r) and cuDNN pads nothing; pad_b and
 * pad_r may be negative (rows no window reads are cropped). Otherwise pad_b ==
 * pad_h and pad_r == pad_w: a padded plan always differs in one of them, since
 * equal padding on both sides is exactly what cuDNN does itself. */
static inline int cuda_conv_plan_padded(const cuda_conv_plan *p) {
    return p->pad_b != p->shape.pad_h || p->pad_r != p->shape.pad_w;
}

/* conv.cu */
int cuda_conv2d_fwd(foil_backend *b, float *out, const float *in, const float *w,
                    const float *bias, const foil_conv_shape *cs);
int cuda_conv2d_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                         const foil_conv_shape *cs);
int cuda_conv2d_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                           const float *in, const foil_conv_shape *cs);

/* End of an op made of library calls (cuDNN, cuBLAS), which LAUNCH_CHECK does
 * not see: in debug mode (FOIL_CUDA_SYNC=1) synchronise so that an
 * asynchronous failure is reported by the op that caused it. */
static inline int cuda_layer_op_done(foil_backend *b) {
    cuda_ctx *ctx = cuda_ctx_of(b);
    if (ctx->debug_sync) CUDA_CHECK(b, cudaStreamSynchronize(ctx->stream));
    return 0;
}

#endif
