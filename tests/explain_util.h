/* Helpers shared by the explanation tests: small networks on the CPU backend
 * (whose memory is host memory, so tests read buffers directly), F and its
 * input gradient computed straight from the network, and a default spec. */
#ifndef FOIL_TEST_EXPLAIN_UTIL_H
#define FOIL_TEST_EXPLAIN_UTIL_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/explain.h"
#include "foil/philox.h"
#include "testutil.h"

typedef struct exnet {
    foil_model m;
    foil_backend *b;
    foil_net net;
    foil_explain_work *w;
    int n;      /* images */
    float *x;   /* (n, in_size) test images */
} exnet;

static inline void exnet_die(const char *what, const char *msg) {
    fprintf(stderr, "%s: %s\n", what, msg);
    exit(1);
}

/* Builds the model with random parameters (PyTorch init times param_scale),
 * a net for max_batch samples, work for n images, and n images: a bright
 * square on a dim noisy background, like the synthetic digits. */
static inline void exnet_build(exnet *t, const foil_model_def *d, int n, int max_batch,
                        float param_scale, uint64_t seed) {
    foil_err err;
    memset(t, 0, sizeof *t);
    if (foil_model_build(&t->m, d, &err)) exnet_die("model", err.msg);
    if (!(t->b = foil_backend_cpu_create(&err))) exnet_die("backend", err.msg);
    if (foil_net_create(&t->net, &t->m, t->b, max_batch, &err)) exnet_die("net", err.msg);
    foil_model_init_params(&t->m, t->net.params, seed);
    for (size_t i = 0; i < t->m.nparams; i++) t->net.params[i] *= param_scale;
    if (foil_explain_work_create(&t->w, &t->net, n, &err)) exnet_die("work", err.msg);
    t->n = n;
    t->x = malloc(sizeof(float) * (size_t)n * t->m.in_size);
    const int h = d->in_h, w = d->in_w;
    for (int i = 0; i < n; i++)
        for (size_t j = 0; j < t->m.in_size; j++) {
            int y = (int)(j / (size_t)w) % h, xx = (int)(j % (size_t)w);
            int y0 = (i * 3) % (h / 2), x0 = (i * 5) % (w / 2);
            int on = y >= y0 && y < y0 + h / 3 && xx >= x0 && xx < x0 + w / 3;
            t->x[i * t->m.in_size + j] =
                on ? 1.0f : 0.25f * foil_rng_uniform(seed, 100 + (uint64_t)i, (uint64_t)j);
        }
}

/* conv(f, 3x3 same) - relu - maxpool 2 - flatten - dense(classes). */
static inline void exnet_cnn(exnet *t, int c, int h, int w, int classes, int n, int max_batch) {
    foil_model_def d = {.in_c = c, .in_h = h, .in_w = w, .classes = classes, .nlayers = 5};
    snprintf(d.name, sizeof d.name, "cnn");
    d.layers[0] = (foil_layer_def){.kind = FOIL_LAYER_CONV2D, .filters = 4, .kernel_h = 3,
                                   .kernel_w = 3, .stride_h = 1, .stride_w = 1,
                                   .pad_mode = FOIL_PAD_SAME};
    d.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_RELU};
    d.layers[2] = (foil_layer_def){.kind = FOIL_LAYER_MAXPOOL, .pool = 2, .pool_stride = 2};
    d.layers[3] = (foil_layer_def){.kind = FOIL_LAYER_FLATTEN};
    d.layers[4] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = classes};
    exnet_build(t, &d, n, max_batch, 2.0f, 11);
}

/* flatten - dense(classes): F is linear in x for mode LOGIT. */
static inline void exnet_linear(exnet *t, int h, int w, int classes, int n, int max_batch) {
    foil_model_def d = {.in_c = 1, .in_h = h, .in_w = w, .classes = classes, .nlayers = 2};
    snprintf(d.name, sizeof d.name, "linear");
    d.layers[0] = (foil_layer_def){.kind = FOIL_LAYER_FLATTEN};
    d.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = classes};
    exnet_build(t, &d, n, max_batch, 3.0f, 5);
}

static inline void exnet_free(exnet *t) {
    foil_explain_work_destroy(t->w);
    foil_net_destroy(&t->net);
    t->b->destroy(t->b);
    free(t->x);
}

/* sum_i F_i(x_i), in double. */
static inline double exnet_f(exnet *t, foil_target_mode mode, const float *x, const int32_t *tgt, int n) {
    const float *logits;
    float v[64], d[64 * 16];
    foil_err err;
    if (n > 64 || t->m.def.classes > 16) exnet_die("exnet_f", "too many samples or classes");
    if (foil_net_forward(&t->net, x, n, 0, 0, 0, &logits, &err)) exnet_die("forward", err.msg);
    if (t->b->target_output(t->b, v, d, logits, tgt, n, t->m.def.classes, mode))
        exnet_die("target_output", t->b->err.msg);
    double s = 0.0;
    for (int i = 0; i < n; i++) s += v[i];
    return s;
}

/* dF/dx of n samples into dx (n, in_size), straight from net->dx. */
static inline void exnet_grad(exnet *t, foil_target_mode mode, const float *x, const int32_t *tgt,
                       int n, float *dx) {
    const float *logits;
    float v[64], d[64 * 16];
    foil_err err;
    if (n > 64 || t->m.def.classes > 16) exnet_die("exnet_grad", "too many samples or classes");
    if (foil_net_forward(&t->net, x, n, 0, 0, 0, &logits, &err)) exnet_die("forward", err.msg);
    if (t->b->target_output(t->b, v, d, logits, tgt, n, t->m.def.classes, mode))
        exnet_die("target_output", t->b->err.msg);
    if (foil_net_backward(&t->net, d, 0, 1, &err)) exnet_die("backward", err.msg);
    memcpy(dx, t->net.dx, sizeof(float) * (size_t)n * t->m.in_size);
}

/* IG, 64 Gauss-Legendre points, black baseline, logit. */
static inline foil_explain_spec exspec(foil_explain_method method) {
    foil_explain_spec s = {.method = method, .output = FOIL_TARGET_LOGIT, .steps = 64,
                           .rule = FOIL_RULE_GAUSS_LEGENDRE, .chunk = 0, .max_steps = 1024,
                           .baseline = FOIL_BASELINE_BLACK, .blur_sigma = 2.0f,
                           .smooth_sigma = 0.1f, .seed = 7};
    return s;
}

/* foil_explain_batch on the first n images of t, exiting on failure. */
static inline void exrun(exnet *t, const foil_explain_spec *s, float *attr, const float *x,
                  const int32_t *tgt, const int64_t *index, int n, foil_explain_stats *st) {
    foil_err err;
    if (foil_explain_batch(t->w, s, attr, x, tgt, index, n, st, &err))
        exnet_die("foil_explain_batch", err.msg);
}

static inline double max_abs_diff(const float *a, const float *b, size_t n, double *scale) {
    double d = 0.0, s = 0.0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        s = fmax(s, fabs((double)a[i]));
    }
    if (scale) *scale = s;
    return d;
}

#endif
