/* A sequential network on a backend: buffers, forward and backward passes.
 * Backend-agnostic: everything here is op calls on backend memory. */
#include <string.h>

#include "foil/net.h"
#include "foil/philox.h"
#include "net_internal.h"

static size_t out_size(const foil_layer *l) { return foil_layer_out_size(l); }
static size_t in_size(const foil_layer *l) { return (size_t)l->in_c * l->in_h * l->in_w; }

static float *alloc_floats(foil_net *net, size_t per_sample, foil_err *err, int *failed) {
    size_t n;
    if (foil_mul_size(per_sample, (size_t)net->max_batch, &n)) {
        *failed = 1;
        foil_fail(err, "batch of %d is too large for this model", net->max_batch);
        return NULL;
    }
    float *p = foil_alloc_floats(net->b, n);
    if (!p && !*failed) {
        *failed = 1;
        foil_fail(err, "%s (a network for %d samples at once)", net->b->err.msg, net->max_batch);
    }
    return p;
}

int foil_net_create(foil_net *net, const foil_model *m, foil_backend *b, int max_batch,
                    foil_err *err) {
    memset(net, 0, sizeof *net);
    net->model = m;
    net->b = b;
    net->max_batch = max_batch;
    if (max_batch < 1) return foil_fail(err, "batch size must be at least 1, got %d", max_batch);
    int failed = 0;
    net->params = foil_alloc_floats(b, m->nparams);
    net->grads = foil_alloc_floats(b, m->nparams);
    if (!net->params || !net->grads) {
        failed = 1;
        foil_fail(err, "%s", b->err.msg);
    }
    for (int i = 0; i < m->def.nlayers && !failed; i++) {
        const foil_layer *l = &m->layers[i];
        foil_layer_kind k = l->def.kind;
        if (k == FOIL_LAYER_FLATTEN) continue; /* aliases its input */
        net->act[i] = alloc_floats(net, out_size(l), err, &failed);
        if (k == FOIL_LAYER_MAXPOOL)
            net->argmax[i] = (int32_t *)alloc_floats(net, out_size(l), err, &failed);
        if (k == FOIL_LAYER_DROPOUT) net->mask[i] = alloc_floats(net, out_size(l), err, &failed);
    }
    if (!failed) {
        net->dbuf[0] = alloc_floats(net, m->max_act, err, &failed);
        net->dbuf[1] = alloc_floats(net, m->max_act, err, &failed);
        net->dx = alloc_floats(net, m->in_size, err, &failed);
    }
    if (failed) {
        foil_net_destroy(net);
        return -1;
    }
    return 0;
}

void foil_net_destroy(foil_net *net) {
    if (!net->b) return;
    foil_backend *b = net->b;
    b->free(b, net->params);
    b->free(b, net->grads);
    for (int i = 0; i < FOIL_MAX_LAYERS; i++) {
        b->free(b, net->act[i]);
        b->free(b, net->argmax[i]);
        b->free(b, net->mask[i]);
    }
    b->free(b, net->dbuf[0]);
    b->free(b, net->dbuf[1]);
    b->free(b, net->dx);
    memset(net, 0, sizeof *net);
}

static void conv_shape(foil_conv_shape *cs, const foil_layer *l, int n) {
    *cs = (foil_conv_shape){.n = n, .c = l->in_c, .h = l->in_h, .w = l->in_w, .k = l->out_c,
                            .r = l->def.kernel_h, .s = l->def.kernel_w,
                            .stride_h = l->def.stride_h, .stride_w = l->def.stride_w,
                            .pad_h = l->pad_h, .pad_w = l->pad_w, .oh = l->out_h, .ow = l->out_w};
}

static void pool_shape(foil_pool_shape *ps, const foil_layer *l, int n) {
    *ps = (foil_pool_shape){.n = n, .c = l->in_c, .h = l->in_h, .w = l->in_w, .size = l->def.pool,
                            .stride = l->def.pool_stride, .oh = l->out_h, .ow = l->out_w};
}

int foil_layer_forward(const foil_net *net, int i, const float *in, int n, foil_layer_bufs *io,
                       foil_err *err) {
    const foil_layer *l = &net->model->layers[i];
    foil_backend *b = net->b;
    const float *w = net->params + l->w_off, *bias = net->params + l->b_off;
    float *y = io->out;
    size_t count = out_size(l) * (size_t)n;
    io->dropout_on = 0;
    switch (l->def.kind) {
    case FOIL_LAYER_CONV2D: {
        foil_conv_shape cs;
        conv_shape(&cs, l, n);
        FOIL_OP(b, b->conv2d_fwd(b, y, in, w, bias, &cs), err);
        break;
    }
    case FOIL_LAYER_MAXPOOL: {
        foil_pool_shape ps;
        pool_shape(&ps, l, n);
        FOIL_OP(b, b->maxpool_fwd(b, y, io->argmax, in, &ps), err);
        break;
    }
    case FOIL_LAYER_RELU:
        FOIL_OP(b, b->relu_fwd(b, y, in, count), err);
        break;
    case FOIL_LAYER_FLATTEN:
        io->y = in;
        return 0;
    case FOIL_LAYER_DENSE:
        FOIL_OP(b, b->dense_fwd(b, y, in, w, bias, n, l->in_c, l->out_c), err);
        break;
    case FOIL_LAYER_DROPOUT:
        if (!io->train || l->def.rate <= 0.0f) {
            io->y = in;
            return 0;
        }
        io->dropout_on = 1;
        FOIL_OP(b,
                b->dropout_fwd(b, y, io->mask, in, l->def.rate, io->seed,
                               FOIL_STREAM(FOIL_RNG_DROPOUT, (io->step << 8) | (uint64_t)i), count),
                err);
        break;
    }
    io->y = y;
    return 0;
}

int foil_net_forward(foil_net *net, const float *x, int n, int train, uint64_t seed,
                     uint64_t step, const float **logits, foil_err *err) {
    if (n < 1 || n > net->max_batch)
        return foil_fail(err, "forward: batch of %d, the network holds 1 to %d", n, net->max_batch);
    const foil_model *m = net->model;
    net->input = x;
    net->n = n;
    const float *cur = x;
    for (int i = 0; i < m->def.nlayers; i++) {
        foil_layer_bufs io = {.out = net->act[i], .argmax = net->argmax[i], .mask = net->mask[i],
                              .train = train, .seed = seed, .step = step};
        if (foil_layer_forward(net, i, cur, n, &io, err)) return -1;
        net->dropout_on[i] = io.dropout_on;
        net->out[i] = io.y;
        cur = io.y;
    }
    *logits = cur;
    return 0;
}

/* Gradient of one layer: g is dL/d(output); writes dL/d(input) to din (when
 * din is not NULL) and the parameter gradients (when param_grads). */
static int layer_backward(foil_net *net, int i, const float *g, float *din, int param_grads,
                          foil_err *err) {
    const foil_layer *l = &net->model->layers[i];
    foil_backend *b = net->b;
    const int n = net->n;
    const float *in = i == 0 ? net->input : net->out[i - 1];
    const float *w = net->params + l->w_off;
    float *dw = net->grads + l->w_off, *db = net->grads + l->b_off;
    switch (l->def.kind) {
    case FOIL_LAYER_CONV2D: {
        foil_conv_shape cs;
        conv_shape(&cs, l, n);
        if (param_grads) FOIL_OP(net->b, b->conv2d_bwd_filter(b, dw, db, g, in, &cs), err);
        if (din) FOIL_OP(net->b, b->conv2d_bwd_data(b, din, g, w, &cs), err);
        return 0;
    }
    case FOIL_LAYER_DENSE:
        if (param_grads)
            FOIL_OP(net->b, b->dense_bwd_filter(b, dw, db, g, in, n, l->in_c, l->out_c), err);
        if (din) FOIL_OP(net->b, b->dense_bwd_data(b, din, g, w, n, l->in_c, l->out_c), err);
        return 0;
    case FOIL_LAYER_MAXPOOL: {
        foil_pool_shape ps;
        pool_shape(&ps, l, n);
        if (din) FOIL_OP(net->b, b->maxpool_bwd(b, din, g, net->argmax[i], &ps), err);
        return 0;
    }
    case FOIL_LAYER_RELU:
        if (din) FOIL_OP(net->b, b->relu_bwd(b, din, g, net->out[i], out_size(l) * (size_t)n), err);
        return 0;
    case FOIL_LAYER_DROPOUT:
        if (din) FOIL_OP(net->b, b->mul(b, din, g, net->mask[i], out_size(l) * (size_t)n), err);
        return 0;
    case FOIL_LAYER_FLATTEN:
        break;
    }
    return 0;
}

int foil_net_backward(foil_net *net, const float *dlogits, int param_grads, int input_grad,
                      foil_err *err) {
    const foil_model *m = net->model;
    foil_backend *b = net->b;
    if (!param_grads && !input_grad) return 0;
    const float *g = dlogits;
    int ping = 0;
    for (int i = m->def.nlayers - 1; i >= 0; i--) {
        const foil_layer *l = &m->layers[i];
        int passthrough = l->def.kind == FOIL_LAYER_FLATTEN ||
                          (l->def.kind == FOIL_LAYER_DROPOUT && !net->dropout_on[i]);
        if (passthrough) {
            if (i == 0 && input_grad)
                FOIL_OP(net->b, b->copy(b, net->dx, g, in_size(l) * (size_t)net->n * sizeof(float)),
                        err);
            continue;
        }
        float *din = NULL;
        if (i > 0) din = net->dbuf[ping];
        else if (input_grad) din = net->dx;
        if (layer_backward(net, i, g, din, param_grads, err)) return -1;
        g = din;
        ping ^= 1;
    }
    return 0;
}
