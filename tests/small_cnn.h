/* The small CNN of the attack tests: conv 4x5x5 stride 2, ReLU, maxpool 2,
 * dense 16, dense 10 on 28x28 (random weights are enough to attack). */
#ifndef FOIL_TEST_SMALL_CNN_H
#define FOIL_TEST_SMALL_CNN_H

#include "foil/model.h"

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

#endif
