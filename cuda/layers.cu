/* CUDA layer ops: not written yet (issue 5/6). */
#include "cuda_common.h"

extern "C" void cuda_register_layer_ops(foil_backend *b) { (void)b; }
extern "C" void cuda_conv_plans_free(cuda_ctx *ctx) { (void)ctx; }
