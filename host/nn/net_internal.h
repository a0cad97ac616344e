/* Private to host/nn/: one layer's forward pass, shared by the network's
 * forward (net.c, activations kept for backward) and the forward-only
 * inference path (infer.c, two buffers reused). */
#ifndef FOIL_NET_INTERNAL_H
#define FOIL_NET_INTERNAL_H

#include "foil/net.h"

static inline size_t foil_layer_out_size(const foil_layer *l) {
    return (size_t)l->out_c * l->out_h * l->out_w;
}

/* Where layer i writes, and what it needs: out (n, out_size) unless the
 * layer aliases its input (flatten, dropout when off), argmax (max-pool
 * switches), mask (dropout, when train). *y receives the output (out or the
 * input), dropout_on whether dropout was applied. */
typedef struct foil_layer_bufs {
    float *out;
    int32_t *argmax;
    float *mask;
    int train;
    uint64_t seed, step;
    const float *y;
    int dropout_on;
} foil_layer_bufs;

/* ins: the layer's inputs (foil_layer.in resolved to buffers) */
int foil_layer_forward(const foil_net *net, int i, const float *const *ins, int n,
                       foil_layer_bufs *io, foil_err *err);

#endif
