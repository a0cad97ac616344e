/* Elementwise math shared by the CPU backend and the CUDA kernels, so that the
 * CPU tests cover the arithmetic the GPU runs. Header-only; FOIL_HD makes each
 * function __host__ __device__ under nvcc and static inline under gcc. */
#ifndef FOIL_ELEMENTWISE_H
#define FOIL_ELEMENTWISE_H

#include <math.h>

#include "foil/philox.h"

/* SGD with momentum, as PyTorch's torch.optim.SGD (dampening 0):
 *   g += wd * w;  v = momentum * v + g;  step = nesterov ? g + momentum * v : v */
FOIL_HD void foil_sgd_update(float *w, float *v, float g, float lr, float momentum, float wd,
                             int nesterov) {
    g += wd * *w;
    if (momentum != 0.0f) {
        *v = momentum * *v + g;
        g = nesterov ? g + momentum * *v : *v;
    }
    *w -= lr * g;
}

/* Adam / AdamW, as PyTorch: step_size = lr / (1 - beta1^t) and
 * bc2_sqrt = sqrt(1 - beta2^t) are computed once per step by the caller (in
 * double, rounded to float) so both backends use the same values. */
FOIL_HD void foil_adam_update(float *w, float *m, float *v, float g, float lr, float beta1,
                              float beta2, float eps, float wd, float step_size,
                              float bc2_sqrt) {
    *w -= lr * wd * *w; /* decoupled weight decay */
    *m = beta1 * *m + (1.0f - beta1) * g;
    *v = beta2 * *v + (1.0f - beta2) * g * g;
    float denom = sqrtf(*v) / bc2_sqrt + eps;
    *w -= step_size * (*m / denom);
}

/* Inverted dropout: kept elements are scaled by 1 / (1 - rate). */
FOIL_HD float foil_dropout_mask(uint64_t seed, uint64_t stream, uint64_t i, float rate) {
    float u = foil_rng_uniform(seed, stream, i);
    return u >= rate ? 1.0f / (1.0f - rate) : 0.0f;
}

#endif
