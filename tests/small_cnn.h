/* The small CNN of the attack tests: conv 4x5x5 stride 2, ReLU, maxpool 2,
 * dense 16, dense 10 on 28x28 (random weights are enough to attack), and
 * the fixture they share: CNN_N random images labelled with the model's own
 * predictions, a CPU backend, a net of max_batch and attack buffers. */
#ifndef FOIL_TEST_SMALL_CNN_H
#define FOIL_TEST_SMALL_CNN_H

#include "foil/attack.h"
#include "foil/model.h"
#include "foil/philox.h"
#include "testutil.h"

static inline foil_model_def small_cnn_def(void) {
    foil_model_def d = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = 10, .nlayers = 6};
    d.layers[0] = (foil_layer_def){.kind = FOIL_LAYER_CONV2D, .filters = 4, .kernel_h = 5,
                                   .kernel_w = 5, .stride_h = 2, .stride_w = 2,
                                   .pad_mode = FOIL_PAD_SAME};
    d.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_RELU};
    d.layers[2] = (foil_layer_def){.kind = FOIL_LAYER_MAXPOOL, .pool = 2, .pool_stride = 2};
    d.layers[3] = (foil_layer_def){.kind = FOIL_LAYER_FLATTEN};
    d.layers[4] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = 16};
    d.layers[5] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = 10};
    return d;
}

/* A linear model on 28x28: flatten, dense `classes` (the minimal-perturbation
 * tests, where the least distance to the boundary is known exactly). */
static inline foil_model_def linear_def(int classes) {
    foil_model_def d = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = classes, .nlayers = 2};
    d.layers[0] = (foil_layer_def){.kind = FOIL_LAYER_FLATTEN};
    d.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = classes};
    return d;
}

/* That model with two classes on the CPU backend: biases 0, weights
 * scale * (U[0, 1) - 1/2) from seed, v = W_1 - W_0 (the boundary's normal). */
typedef struct linear_fixture {
    foil_model m;
    foil_backend *b;
    foil_net net;
    float v[784];
} linear_fixture;

static inline void linear_setup(linear_fixture *f, int max_batch, uint64_t seed, float scale) {
    foil_err err;
    foil_model_def d = linear_def(2);
    TU_CHECK(foil_model_build(&f->m, &d, &err) == 0, "%s", err.msg);
    f->b = foil_backend_cpu_create(&err);
    TU_CHECK(f->b && foil_net_create(&f->net, &f->m, f->b, max_batch, &err) == 0, "%s", err.msg);
    float *W = f->net.params + f->m.layers[1].w_off, *c = f->net.params + f->m.layers[1].b_off;
    for (int j = 0; j < 784; j++) {
        W[j] = scale * (foil_rng_uniform(seed, 1, (uint64_t)j) - 0.5f);
        W[784 + j] = scale * (foil_rng_uniform(seed, 2, (uint64_t)j) - 0.5f);
        f->v[j] = W[784 + j] - W[j];
    }
    c[0] = c[1] = 0.0f;
}

static inline void linear_teardown(linear_fixture *f) {
    foil_net_destroy(&f->net);
    f->b->destroy(f->b);
}

#define CNN_N 24

typedef struct cnn_fixture {
    foil_model m;
    foil_backend *b;
    foil_net net;
    foil_attack_work w;
    float x0[CNN_N * 784];
    int32_t y[CNN_N];
} cnn_fixture;

static inline void cnn_setup(cnn_fixture *f, int max_batch) {
    foil_err err;
    foil_model_def d = small_cnn_def();
    TU_CHECK(foil_model_build(&f->m, &d, &err) == 0, "%s", err.msg);
    f->b = foil_backend_cpu_create(&err);
    TU_CHECK(f->b && foil_net_create(&f->net, &f->m, f->b, max_batch, &err) == 0, "%s", err.msg);
    foil_model_init_params(&f->m, f->net.params, 21);
    for (size_t i = 0; i < f->m.nparams; i++) f->net.params[i] *= 3.0f;
    for (size_t i = 0; i < CNN_N * f->m.in_size; i++) f->x0[i] = foil_rng_uniform(8, 1, i);
    TU_CHECK(foil_attack_work_create(&f->w, &f->net, &err) == 0, "%s", err.msg);
    for (int i0 = 0; i0 < CNN_N; i0 += max_batch) { /* the model's own predictions */
        const float *logits;
        int n = CNN_N - i0 < max_batch ? CNN_N - i0 : max_batch;
        foil_net_forward(&f->net, f->x0 + i0 * f->m.in_size, n, 0, 0, 0, &logits, &err);
        f->b->argmax(f->b, f->y + i0, logits, n, 10);
    }
}

static inline void cnn_teardown(cnn_fixture *f) {
    foil_attack_work_destroy(&f->w, f->b);
    foil_net_destroy(&f->net);
    f->b->destroy(f->b);
}

#endif
