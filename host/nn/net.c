/* A network on a backend: buffers, forward and backward passes over the
 * layer graph (foil/net.h). Backend-agnostic: everything here is op calls on
 * backend memory. Gradients flow along chains (a layer read only by the next
 * one) through two ping-pong buffers, as in a sequential model; an output
 * that several layers read, or a later one, gets its own buffer where the
 * contributions are added up (darknet's per-layer delta). */
#include <string.h>

#include "foil/net.h"
#include "foil/philox.h"
#include "net_internal.h"

static size_t out_size(const foil_layer *l) { return foil_layer_out_size(l); }

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
    /* a scratch buffer where some gradient is a sum of several contributions */
    int sums = m->input_uses > 1;
    for (int i = 0; i < m->def.nlayers && !failed; i++) {
        sums |= m->layers[i].uses > 1;
        if (!m->layers[i].chained && i + 1 < m->def.nlayers)
            net->acc[i] = alloc_floats(net, out_size(&m->layers[i]), err, &failed);
    }
    if (!failed) {
        net->dbuf[0] = alloc_floats(net, m->max_act, err, &failed);
        net->dbuf[1] = alloc_floats(net, m->max_act, err, &failed);
        net->dx = alloc_floats(net, m->in_size, err, &failed);
        if (sums) net->scratch = alloc_floats(net, m->max_act, err, &failed);
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
        b->free(b, net->acc[i]);
    }
    b->free(b, net->scratch);
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

int foil_layer_forward(const foil_net *net, int i, const float *const *ins, int n,
                       foil_layer_bufs *io, foil_err *err) {
    const foil_layer *l = &net->model->layers[i];
    const float *in = ins[0];
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
    case FOIL_LAYER_ADD:
        FOIL_OP(b, b->add(b, y, in, ins[1], count), err);
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
    for (int i = 0; i < m->def.nlayers; i++) {
        const foil_layer *l = &m->layers[i];
        const float *ins[FOIL_MAX_INPUTS] = {NULL};
        for (int k = 0; k < l->nin; k++) ins[k] = l->in[k] < 0 ? x : net->out[l->in[k]];
        foil_layer_bufs io = {.out = net->act[i], .argmax = net->argmax[i], .mask = net->mask[i],
                              .train = train, .seed = seed, .step = step};
        if (foil_layer_forward(net, i, ins, n, &io, err)) return -1;
        net->dropout_on[i] = io.dropout_on;
        net->out[i] = io.y;
    }
    *logits = net->out[m->def.nlayers - 1];
    return 0;
}

/* Where the gradients of one backward pass are: g[i] the gradient of layer
 * i's output once complete (NULL: none needed or none yet), have[i] whether
 * its own buffer (acc, or dx for the input) holds a first contribution. */
typedef struct grad_state {
    const float *g[FOIL_MAX_LAYERS];
    int have[FOIL_MAX_LAYERS];
    int have_dx;
    int wants[FOIL_MAX_LAYERS]; /* layer i's output gradient is needed */
    int input_grad;
} grad_state;

static int wanted(const grad_state *st, int src) {
    return src < 0 ? st->input_grad : st->wants[src];
}

/* The buffer a contribution to src's gradient is written to: a ping-pong
 * buffer (not `busy`, the one being read) along a chain, else src's own
 * buffer for the first contribution and the scratch for the others
 * (*add: add it afterwards). */
static float *target(foil_net *net, grad_state *st, int src, const float *busy, int *add) {
    *add = 0;
    if (src >= 0 && net->model->layers[src].chained)
        return net->dbuf[0] == busy ? net->dbuf[1] : net->dbuf[0];
    int *have = src < 0 ? &st->have_dx : &st->have[src];
    if (*have) {
        *add = 1;
        return net->scratch;
    }
    *have = 1;
    return src < 0 ? net->dx : net->acc[src];
}

/* After a contribution to src was written to t: the adding up, and src's
 * gradient pointer. */
static int contributed(foil_net *net, grad_state *st, int src, float *t, int add,
                       foil_err *err) {
    size_t count = (src < 0 ? net->model->in_size : out_size(&net->model->layers[src])) *
                   (size_t)net->n;
    float *own = src < 0 ? net->dx : net->acc[src];
    if (add) FOIL_OP(net->b, net->b->add(net->b, own, own, t, count), err);
    if (src >= 0) st->g[src] = add ? own : t;
    return 0;
}

/* Passes g on unchanged to src (flatten, dropout when off, each input of an
 * add): the same buffer along a chain, a copy or an addition otherwise. */
static int pass_on(foil_net *net, grad_state *st, int src, const float *g, foil_err *err) {
    if (!wanted(st, src)) return 0;
    if (src >= 0 && net->model->layers[src].chained) {
        st->g[src] = g;
        return 0;
    }
    size_t count = (src < 0 ? net->model->in_size : out_size(&net->model->layers[src])) *
                   (size_t)net->n;
    int add;
    float *t = target(net, st, src, g, &add);
    if (!add) {
        FOIL_OP(net->b, net->b->copy(net->b, t, g, count * sizeof(float)), err);
        return contributed(net, st, src, t, 0, err);
    }
    float *own = src < 0 ? net->dx : net->acc[src];
    FOIL_OP(net->b, net->b->add(net->b, own, own, g, count), err);
    if (src >= 0) st->g[src] = own;
    return 0;
}

/* Gradient of layer i, whose output gradient is g: its parameter gradients
 * (when param_grads) and the contributions to its inputs' gradients. */
static int layer_backward(foil_net *net, grad_state *st, int i, const float *g, int param_grads,
                          foil_err *err) {
    const foil_layer *l = &net->model->layers[i];
    foil_backend *b = net->b;
    const int n = net->n, src = l->in[0];
    const float *in = src < 0 ? net->input : net->out[src];
    const float *w = net->params + l->w_off;
    float *dw = net->grads + l->w_off, *db = net->grads + l->b_off;
    if (l->def.kind == FOIL_LAYER_FLATTEN ||
        (l->def.kind == FOIL_LAYER_DROPOUT && !net->dropout_on[i]))
        return pass_on(net, st, src, g, err);
    if (l->def.kind == FOIL_LAYER_ADD)
        return pass_on(net, st, l->in[0], g, err) || pass_on(net, st, l->in[1], g, err) ? -1 : 0;
    int add = 0;
    float *din = wanted(st, src) ? target(net, st, src, g, &add) : NULL;
    switch (l->def.kind) {
    case FOIL_LAYER_CONV2D: {
        foil_conv_shape cs;
        conv_shape(&cs, l, n);
        if (param_grads) FOIL_OP(net->b, b->conv2d_bwd_filter(b, dw, db, g, in, &cs), err);
        if (din) FOIL_OP(net->b, b->conv2d_bwd_data(b, din, g, w, &cs), err);
        break;
    }
    case FOIL_LAYER_DENSE:
        if (param_grads)
            FOIL_OP(net->b, b->dense_bwd_filter(b, dw, db, g, in, n, l->in_c, l->out_c), err);
        if (din) FOIL_OP(net->b, b->dense_bwd_data(b, din, g, w, n, l->in_c, l->out_c), err);
        break;
    case FOIL_LAYER_MAXPOOL: {
        foil_pool_shape ps;
        pool_shape(&ps, l, n);
        if (din) FOIL_OP(net->b, b->maxpool_bwd(b, din, g, net->argmax[i], &ps), err);
        break;
    }
    case FOIL_LAYER_RELU:
        if (din) FOIL_OP(net->b, b->relu_bwd(b, din, g, net->out[i], out_size(l) * (size_t)n), err);
        break;
    case FOIL_LAYER_DROPOUT:
        if (din) FOIL_OP(net->b, b->mul(b, din, g, net->mask[i], out_size(l) * (size_t)n), err);
        break;
    default:
        break;
    }
    return din ? contributed(net, st, src, din, add, err) : 0;
}

int foil_net_backward(foil_net *net, const float *dlogits, int param_grads, int input_grad,
                      foil_err *err) {
    const foil_model *m = net->model;
    if (!param_grads && !input_grad) return 0;
    grad_state st;
    memset(&st, 0, sizeof st);
    st.input_grad = input_grad;
    /* a layer's output gradient is needed for the input gradient, or when a
     * layer with parameters is at or before it */
    for (int i = 0; i < m->def.nlayers; i++) {
        const foil_layer *l = &m->layers[i];
        int up = param_grads && l->w_count > 0;
        for (int k = 0; k < l->nin; k++) up |= l->in[k] >= 0 && st.wants[l->in[k]];
        st.wants[i] = input_grad || up;
    }
    st.g[m->def.nlayers - 1] = dlogits;
    for (int i = m->def.nlayers - 1; i >= 0; i--)
        if (st.g[i] && layer_backward(net, &st, i, st.g[i], param_grads, err)) return -1;
    return 0;
}
