/* Model shapes, parameter layout and initialisation. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "foil/model.h"
#include "foil/philox.h"

static int conv_out(const foil_layer_def *d, int in, int k, int stride, int pad_explicit,
                    int *out, int *pad) {
    if (d->pad_mode == FOIL_PAD_SAME) {
        *out = (in + stride - 1) / stride; /* TensorFlow's 'same' */
        int total = (*out - 1) * stride + k - in;
        *pad = total > 0 ? total / 2 : 0;  /* any odd pixel goes to the bottom/right */
        return 0;
    }
    *pad = d->pad_mode == FOIL_PAD_EXPLICIT ? pad_explicit : 0;
    if (in + 2 * *pad < k) return -1;
    *out = (in + 2 * *pad - k) / stride + 1;
    return 0;
}

static size_t align_up(size_t n) {
    return (n + FOIL_PARAM_ALIGN - 1) / FOIL_PARAM_ALIGN * FOIL_PARAM_ALIGN;
}

/* Declares a tensor of layer i (its place comes later, from layout). */
static int add_tensor(foil_model *m, int i, const char *role, int trainable, foil_init_rule init,
                      size_t fan_in, int ndim, const int64_t *shape, foil_err *err) {
    if (m->ntensors == FOIL_MAX_TENSORS)
        return foil_fail(err, "model %s: more than %d tensors", m->def.name, FOIL_MAX_TENSORS);
    foil_layer *l = &m->layers[i];
    foil_tensor *t = &m->tensors[m->ntensors];
    if (l->nt == 0) l->t0 = m->ntensors;
    l->nt++, m->ntensors++;
    *t = (foil_tensor){.layer = i, .role = role, .trainable = trainable, .ndim = ndim,
                       .init = init, .fan_in = fan_in, .count = 1};
    for (int d = 0; d < ndim; d++) t->shape[d] = shape[d], t->count *= (size_t)shape[d];
    return 0;
}

/* A conv or dense layer's tensors: weight (out, in[, kh, kw]) and bias
 * (out), both with PyTorch's fan-in rule. */
static int weight_and_bias(foil_model *m, int i, int ndim, const int64_t *shape, foil_err *err) {
    size_t fan_in = 1;
    for (int d = 1; d < ndim; d++) fan_in *= (size_t)shape[d];
    return add_tensor(m, i, "weight", 1, FOIL_INIT_FAN_IN, fan_in, ndim, shape, err) ||
           add_tensor(m, i, "bias", 1, FOIL_INIT_FAN_IN, fan_in, 1, shape, err);
}

static int build_layer(foil_model *m, int index, int c, int h, int w, foil_err *err) {
    foil_layer *l = &m->layers[index];
    const foil_layer_def *d = &l->def;
    l->in_c = c, l->in_h = h, l->in_w = w;
    l->out_c = c, l->out_h = h, l->out_w = w;
    switch (d->kind) {
    case FOIL_LAYER_CONV2D:
        if (conv_out(d, h, d->kernel_h, d->stride_h, d->pad_h, &l->out_h, &l->pad_h) ||
            conv_out(d, w, d->kernel_w, d->stride_w, d->pad_w, &l->out_w, &l->pad_w))
            return foil_fail(err, "layer %d (conv2d): kernel %dx%d does not fit the %dx%d input",
                             index, d->kernel_h, d->kernel_w, h, w);
        l->out_c = d->filters;
        return weight_and_bias(m, index, 4, (int64_t[]){d->filters, c, d->kernel_h, d->kernel_w},
                               err);
    case FOIL_LAYER_MAXPOOL:
        if (h < d->pool || w < d->pool)
            return foil_fail(err, "layer %d (maxpool): window %d does not fit the %dx%d input",
                             index, d->pool, h, w);
        l->out_h = (h - d->pool) / d->pool_stride + 1;
        l->out_w = (w - d->pool) / d->pool_stride + 1;
        break;
    case FOIL_LAYER_FLATTEN:
        l->out_c = c * h * w, l->out_h = 1, l->out_w = 1;
        break;
    case FOIL_LAYER_ADD: /* the shapes were matched by resolve_inputs */
        break;
    case FOIL_LAYER_DENSE:
        if (h != 1 || w != 1)
            return foil_fail(err, "layer %d (dense): input is %dx%dx%d; add a flatten layer first",
                             index, c, h, w);
        l->out_c = d->units;
        return weight_and_bias(m, index, 2, (int64_t[]){d->units, c}, err);
    default:
        break;
    }
    return 0;
}

/* Places the tensors: the trainable ones first, then the buffers, each at an
 * aligned offset; fills the layers' weight/bias shortcuts. */
static void layout(foil_model *m) {
    size_t at = 0;
    for (int pass = 1; pass >= 0; pass--) {
        for (int t = 0; t < m->ntensors; t++) {
            foil_tensor *x = &m->tensors[t];
            if (x->trainable != pass) continue;
            x->off = align_up(at);
            at = x->off + x->count;
            m->nvalues += x->count;
        }
        if (pass) m->ntrain = at;
    }
    m->nparams = at;
    for (int t = 0; t < m->ntensors; t++) {
        const foil_tensor *x = &m->tensors[t];
        foil_layer *l = &m->layers[x->layer];
        if (!strcmp(x->role, "weight")) l->w_off = x->off, l->w_count = x->count;
        if (!strcmp(x->role, "bias")) l->b_off = x->off, l->b_count = x->count;
    }
}

/* Layer i's inputs (the previous layer unless it names them) and their
 * shape; an add needs two of one shape. */
static int resolve_inputs(foil_model *m, int i, int *c, int *h, int *w, foil_err *err) {
    foil_layer *l = &m->layers[i];
    const foil_layer_def *d = &l->def;
    const int want = d->kind == FOIL_LAYER_ADD ? 2 : 1;
    if (d->nfrom == 0 && want == 1) {
        l->nin = 1;
        l->in[0] = i - 1; /* -1: the input */
    } else {
        if (d->nfrom != want)
            return foil_fail(err, "layer %d: takes %d input%s, %d named", i, want,
                             want > 1 ? "s" : "", d->nfrom);
        l->nin = want;
        for (int k = 0; k < want; k++) {
            if (d->from[k] < FOIL_FROM_INPUT || d->from[k] >= i)
                return foil_fail(err, "layer %d: input %d is not an earlier layer (0 to %d, or "
                                 "-1 for the input)", i, d->from[k], i - 1);
            l->in[k] = d->from[k];
        }
    }
    for (int k = 0; k < l->nin; k++) {
        const foil_layer *s = l->in[k] >= 0 ? &m->layers[l->in[k]] : NULL;
        int sc = s ? s->out_c : m->def.in_c, sh = s ? s->out_h : m->def.in_h,
            sw = s ? s->out_w : m->def.in_w;
        if (k > 0 && (sc != *c || sh != *h || sw != *w))
            return foil_fail(err, "layer %d (add): inputs of %dx%dx%d and %dx%dx%d", i, *c, *h,
                             *w, sc, sh, sw);
        *c = sc, *h = sh, *w = sw;
        if (s) m->layers[l->in[k]].uses++;
        else m->input_uses++;
    }
    return 0;
}

int foil_model_build(foil_model *m, const foil_model_def *def, foil_err *err) {
    memset(m, 0, sizeof *m);
    m->def = *def;
    if (def->nlayers < 1 || def->nlayers > FOIL_MAX_LAYERS)
        return foil_fail(err, "model %s: needs 1 to %d layers", def->name, FOIL_MAX_LAYERS);
    int c = def->in_c, h = def->in_h, w = def->in_w; /* each layer's input: resolve_inputs */
    const size_t limit = (size_t)1 << 30; /* per-sample floats; keeps int32 indices safe */
    m->in_size = (size_t)def->in_c * def->in_h * def->in_w;
    m->max_act = m->in_size;
    if (m->in_size > limit) return foil_fail(err, "model %s: input too large", def->name);
    for (int i = 0; i < def->nlayers; i++) {
        foil_layer *l = &m->layers[i];
        l->def = def->layers[i];
        if (resolve_inputs(m, i, &c, &h, &w, err) || build_layer(m, i, c, h, w, err))
            return -1;
        c = l->out_c, h = l->out_h, w = l->out_w;
        size_t act = (size_t)c * h * w, floats = 0;
        for (int t = 0; t < m->ntensors; t++) floats += align_up(m->tensors[t].count);
        if (act > limit || floats > ((size_t)1 << 31))
            return foil_fail(err, "model %s: layer %d is too large", def->name, i);
        if (act > m->max_act) m->max_act = act;
    }
    layout(m);
    for (int i = 0; i + 1 < def->nlayers; i++) {
        const foil_layer *next = &m->layers[i + 1];
        if (m->layers[i].uses == 0)
            return foil_fail(err, "model %s: the output of layer %d goes nowhere", def->name, i);
        m->layers[i].chained = m->layers[i].uses == 1 &&
                               (next->in[0] == i || (next->nin > 1 && next->in[1] == i));
    }
    if ((size_t)c * h * w != (size_t)def->classes)
        return foil_fail(err, "model %s: the last layer gives %d values per sample, not the %d classes",
                         def->name, c * h * w, def->classes);
    return 0;
}

int foil_model_param_tensor(const foil_model *m, int t, char *name, size_t cap, int *ndim,
                            int64_t shape[4], size_t *offset, size_t *count) {
    if (t < 0) return m->ntensors;
    if (t >= m->ntensors) return -1;
    const foil_tensor *x = &m->tensors[t];
    snprintf(name, cap, "%d.%s", x->layer, x->role);
    *ndim = x->ndim;
    memcpy(shape, x->shape, sizeof(int64_t) * (size_t)x->ndim);
    *offset = x->off;
    *count = x->count;
    return 0;
}

void foil_model_init_params(const foil_model *m, float *params, uint64_t seed) {
    memset(params, 0, m->nparams * sizeof(float)); /* the padding between tensors */
    for (int t = 0; t < m->ntensors; t++) {
        const foil_tensor *x = &m->tensors[t];
        float *p = params + x->off;
        if (x->init == FOIL_INIT_FAN_IN) {
            float bound = (float)(1.0 / sqrt((double)x->fan_in));
            uint64_t stream = FOIL_STREAM(FOIL_RNG_INIT, t);
            for (size_t j = 0; j < x->count; j++)
                p[j] = (2.0f * foil_rng_uniform(seed, stream, j) - 1.0f) * bound;
        } else {
            for (size_t j = 0; j < x->count; j++) p[j] = x->init == FOIL_INIT_ONE ? 1.0f : 0.0f;
        }
    }
}

/* Calls fn(user, offset in the buffer, offset in the packed form, count)
 * for every tensor in file order. */
static void each_tensor(const foil_model *m, void (*fn)(void *, size_t, size_t, size_t),
                        void *user) {
    size_t packed = 0;
    for (int t = 0; t < m->ntensors; t++) {
        fn(user, m->tensors[t].off, packed, m->tensors[t].count);
        packed += m->tensors[t].count;
    }
}

typedef struct copy_job {
    float *dst;
    const float *src;
    int to_packed;
} copy_job;

static void copy_tensor(void *user, size_t off, size_t packed, size_t count) {
    copy_job *j = user;
    if (j->to_packed) memcpy(j->dst + packed, j->src + off, count * sizeof(float));
    else memcpy(j->dst + off, j->src + packed, count * sizeof(float));
}

void foil_model_pack(const foil_model *m, float *packed, const float *buf) {
    copy_job j = {packed, buf, 1};
    each_tensor(m, copy_tensor, &j);
}

void foil_model_unpack(const foil_model *m, float *buf, const float *packed) {
    memset(buf, 0, m->nparams * sizeof(float));
    copy_job j = {buf, packed, 0};
    each_tensor(m, copy_tensor, &j);
}
