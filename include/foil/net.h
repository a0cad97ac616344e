/* A network instance on a backend: parameters, activations and gradients in
 * backend memory, forward and backward passes. Layers run in index order
 * (inputs are earlier layers); backward runs in reverse and adds up the
 * gradient of an output that several layers read. */
#ifndef FOIL_NET_H
#define FOIL_NET_H

#include <stdint.h>

#include "foil/backend.h"
#include "foil/error.h"
#include "foil/model.h"

/* A network on a backend, with buffers for batches of up to max_batch. */
typedef struct foil_net {
    const foil_model *model;
    foil_backend *b;
    int max_batch;
    float *params;            /* (nparams) */
    float *grads;             /* (nparams), written by backward in [0, ntrain) */
    float *act[FOIL_MAX_LAYERS];      /* owned output buffers, (max_batch, out) */
    const float *out[FOIL_MAX_LAYERS]; /* outputs of the last forward (may alias) */
    int32_t *argmax[FOIL_MAX_LAYERS]; /* max-pool switches */
    float *mask[FOIL_MAX_LAYERS];     /* dropout masks */
    int dropout_on[FOIL_MAX_LAYERS];  /* dropout was applied in the last forward */
    float *dbuf[2];           /* gradient ping-pong along chains, (max_batch, max_act) */
    /* gradients accumulated from several consumers (or from a consumer that
     * is not the next layer): (max_batch, out) per such layer, and the
     * scratch a contribution goes to before it is added; NULL for
     * sequential models */
    float *acc[FOIL_MAX_LAYERS];
    float *scratch;
    float *dx;                /* gradient w.r.t. the input, (max_batch, in_size) */
    const float *input;       /* input of the last forward */
    int n;                    /* batch size of the last forward */
} foil_net;

int foil_net_create(foil_net *net, const foil_model *m, foil_backend *b, int max_batch,
                    foil_err *err);
void foil_net_destroy(foil_net *net);

/* Forward pass on n <= max_batch samples x (n, in_size). train turns dropout
 * on, with masks from (seed, FOIL_RNG_DROPOUT, (step << 8) | layer).
 * *logits (n, classes) stays valid until the next forward. */
int foil_net_forward(foil_net *net, const float *x, int n, int train, uint64_t seed,
                     uint64_t step, const float **logits, foil_err *err);

/* Backward pass for the last forward, from dlogits (n, classes). Writes the
 * parameter gradients to net->grads when param_grads, and the gradient w.r.t.
 * the input to net->dx when input_grad (attacks and explanations). */
int foil_net_backward(foil_net *net, const float *dlogits, int param_grads, int input_grad,
                      foil_err *err);

#endif
