/* Finite-difference gradient checks on the CPU backend: every layer's
 * parameter gradients and the gradient with respect to the input (the one
 * FGSM, PGD and IG depend on), through small networks that end in a softmax
 * cross-entropy. Central differences in float32 with h = 1e-3; an element
 * fails when |fd - analytic| > 3e-3 + 3e-2 * |analytic|. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/model.h"
#include "foil/net.h"
#include "foil/philox.h"
#include "testutil.h"

#define N 3
#define H 1e-3f

typedef struct gc {
    foil_model m;
    foil_backend *b;
    foil_net net;
    float *x;        /* (N, in) */
    int32_t y[N];
    int train;
} gc;

static double loss_at(gc *g) {
    const float *logits;
    float loss[N];
    foil_err err;
    if (foil_net_forward(&g->net, g->x, N, g->train, 7, 3, &logits, &err) ||
        g->b->softmax_xent(g->b, loss, NULL, logits, g->y, N, g->m.def.classes, 1.0f)) {
        fprintf(stderr, "forward failed: %s\n", err.msg);
        exit(1);
    }
    double s = 0;
    for (int i = 0; i < N; i++) s += loss[i];
    return s;
}

/* Analytic gradients into net.grads and net.dx. */
static void analytic(gc *g) {
    const float *logits;
    float loss[N], dlogits[N * 64];
    foil_err err;
    if (foil_net_forward(&g->net, g->x, N, g->train, 7, 3, &logits, &err) ||
        g->b->softmax_xent(g->b, loss, dlogits, logits, g->y, N, g->m.def.classes, 1.0f) ||
        foil_net_backward(&g->net, dlogits, 1, 1, &err)) {
        fprintf(stderr, "backward failed: %s\n", err.msg);
        exit(1);
    }
}

/* Compares d loss / d v[i] for every element of v against analytic[i]. */
static void compare(gc *g, const char *what, float *v, const float *an, size_t n) {
    double max_rel = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = v[i];
        v[i] = keep + H;
        double lp = loss_at(g);
        v[i] = keep - H;
        double lm = loss_at(g);
        v[i] = keep;
        double fd = (lp - lm) / (2.0 * H), a = an[i];
        double diff = fabs(fd - a), rel = diff / fmax(fabs(a), 1e-2);
        if (rel > max_rel) max_rel = rel;
        if (diff > 3e-3 + 3e-2 * fabs(a)) {
            if (bad++ < 3) fprintf(stderr, "  %s[%zu]: fd %.6f analytic %.6f\n", what, i, fd, a);
        }
    }
    printf("  %-28s %6zu values  max rel err %.2e\n", what, n, max_rel);
    TU_CHECK(bad == 0, "%s: %d of %zu gradients off", what, bad, n);
}

static void check_model(const char *name, foil_model_def *def, int train) {
    gc g = {0};
    foil_err err;
    printf("%s\n", name);
    TU_CHECK(foil_model_build(&g.m, def, &err) == 0, "%s: %s", name, err.msg);
    g.b = foil_backend_cpu_create(&err);
    TU_CHECK(foil_net_create(&g.net, &g.m, g.b, N, &err) == 0, "%s", err.msg);
    g.train = train;
    foil_model_init_params(&g.m, g.net.params, 11);
    for (size_t i = 0; i < g.m.nparams; i++) g.net.params[i] *= 2.0f; /* livelier gradients */
    g.x = malloc(sizeof(float) * N * g.m.in_size);
    for (size_t i = 0; i < N * g.m.in_size; i++) g.x[i] = foil_rng_uniform(5, 9, i);
    for (int i = 0; i < N; i++) g.y[i] = (i * 3 + 1) % def->classes;
    analytic(&g);
    float *grads = malloc(sizeof(float) * g.m.nparams), *dx = malloc(sizeof(float) * N * g.m.in_size);
    memcpy(grads, g.net.grads, sizeof(float) * g.m.nparams);
    memcpy(dx, g.net.dx, sizeof(float) * N * g.m.in_size);
    int t = foil_model_param_tensor(&g.m, -1, NULL, 0, NULL, NULL, NULL, NULL);
    for (int k = 0; k < t; k++) {
        char pname[64];
        int nd;
        int64_t shape[4];
        size_t off, count;
        foil_model_param_tensor(&g.m, k, pname, sizeof pname, &nd, shape, &off, &count);
        compare(&g, pname, g.net.params + off, grads + off, count);
    }
    compare(&g, "input", g.x, dx, N * g.m.in_size);
    free(grads);
    free(dx);
    free(g.x);
    foil_net_destroy(&g.net);
    g.b->destroy(g.b);
}

static foil_layer_def conv(int f, int k, int s, foil_pad_mode pm, int pad) {
    return (foil_layer_def){.kind = FOIL_LAYER_CONV2D, .filters = f, .kernel_h = k, .kernel_w = k,
                            .stride_h = s, .stride_w = s, .pad_mode = pm, .pad_h = pad,
                            .pad_w = pad};
}
static foil_layer_def simple(foil_layer_kind k) { return (foil_layer_def){.kind = k}; }
static foil_layer_def dense(int u) { return (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = u}; }
static foil_layer_def add(int a, int b) {
    return (foil_layer_def){.kind = FOIL_LAYER_ADD, .nfrom = 2, .from = {a, b}};
}
static foil_layer_def from(foil_layer_def l, int src) {
    l.nfrom = 1, l.from[0] = src;
    return l;
}

/* A residual block on the input: the input feeds conv 0 and the add, so
 * its gradient (the one attacks use) is the sum of two paths. */
static foil_model_def residual_on_input(void) {
    foil_model_def r = {.in_c = 2, .in_h = 6, .in_w = 6, .classes = 3, .nlayers = 7};
    snprintf(r.name, sizeof r.name, "residual");
    r.layers[0] = conv(2, 3, 1, FOIL_PAD_SAME, 0);
    r.layers[1] = simple(FOIL_LAYER_RELU);
    r.layers[2] = conv(2, 3, 1, FOIL_PAD_SAME, 0);
    r.layers[3] = add(2, FOIL_FROM_INPUT);
    r.layers[4] = simple(FOIL_LAYER_RELU);
    r.layers[5] = simple(FOIL_LAYER_FLATTEN);
    r.layers[6] = dense(3);
    return r;
}

/* A few SGD steps on a fixed batch through the graph: the loss falls. */
static void check_trains(foil_model_def *def) {
    foil_model m;
    foil_net net;
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    TU_CHECK(foil_model_build(&m, def, &err) == 0, "%s", err.msg);
    TU_CHECK(foil_net_create(&net, &m, b, 16, &err) == 0, "%s", err.msg);
    foil_model_init_params(&m, net.params, 4);
    float *x = malloc(sizeof(float) * 16 * m.in_size), loss[16], dlogits[16 * 8], *v;
    int32_t y[16];
    for (size_t i = 0; i < 16 * m.in_size; i++) x[i] = foil_rng_uniform(6, 1, i);
    for (int i = 0; i < 16; i++) y[i] = i % def->classes;
    v = calloc(m.nparams, sizeof(float));
    foil_sgd_hparams hp = {0.2f, 0.9f, 0.0f, 0};
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        const float *logits;
        TU_CHECK(foil_net_forward(&net, x, 16, 1, 1, (uint64_t)step, &logits, &err) == 0 &&
                     b->softmax_xent(b, loss, dlogits, logits, y, 16, def->classes,
                                     1.0f / 16) == 0 &&
                     foil_net_backward(&net, dlogits, 1, 0, &err) == 0 &&
                     b->sgd_step(b, net.params, v, net.grads, m.nparams, &hp) == 0,
                 "step %d: %s", step, err.msg);
        double mean = 0;
        for (int i = 0; i < 16; i++) mean += loss[i] / 16;
        if (step == 0) first = mean;
        last = mean;
    }
    printf("  %s: loss %.4f -> %.4f after 60 SGD steps\n", def->name, first, last);
    TU_CHECK(last < 0.5 * first, "%s does not train: loss %.4f -> %.4f", def->name, first, last);
    free(x), free(v);
    foil_net_destroy(&net);
    b->destroy(b);
}

int main(void) {
    foil_model_def d = {.in_c = 2, .in_h = 6, .in_w = 6, .classes = 4};
    snprintf(d.name, sizeof d.name, "conv-same");
    d.nlayers = 4;
    d.layers[0] = conv(3, 3, 1, FOIL_PAD_SAME, 0);
    d.layers[1] = simple(FOIL_LAYER_RELU);
    d.layers[2] = simple(FOIL_LAYER_FLATTEN);
    d.layers[3] = dense(4);
    check_model("conv2d 3x3 same + relu + dense", &d, 0);

    /* stride 2 'same' on 7x7 with a 4x4 kernel: padding 1 top/left, 2 bottom/right */
    foil_model_def e = {.in_c = 1, .in_h = 7, .in_w = 7, .classes = 3, .nlayers = 3};
    e.layers[0] = conv(2, 4, 2, FOIL_PAD_SAME, 0);
    e.layers[1] = simple(FOIL_LAYER_FLATTEN);
    e.layers[2] = dense(3);
    check_model("conv2d 4x4 stride 2 same (asymmetric)", &e, 0);

    foil_model_def f = {.in_c = 2, .in_h = 5, .in_w = 6, .classes = 3, .nlayers = 4};
    f.layers[0] = conv(2, 3, 2, FOIL_PAD_EXPLICIT, 1);
    f.layers[1] = conv(3, 2, 1, FOIL_PAD_VALID, 0);
    f.layers[2] = simple(FOIL_LAYER_FLATTEN);
    f.layers[3] = dense(3);
    check_model("conv2d explicit pad + valid", &f, 0);

    foil_model_def p = {.in_c = 2, .in_h = 6, .in_w = 6, .classes = 3, .nlayers = 4};
    p.layers[0] = conv(2, 3, 1, FOIL_PAD_SAME, 0);
    p.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_MAXPOOL, .pool = 2, .pool_stride = 2};
    p.layers[2] = simple(FOIL_LAYER_FLATTEN);
    p.layers[3] = dense(3);
    check_model("maxpool 2x2", &p, 0);

    foil_model_def q = {.in_c = 1, .in_h = 4, .in_w = 4, .classes = 5, .nlayers = 5};
    q.layers[0] = simple(FOIL_LAYER_FLATTEN);
    q.layers[1] = dense(8);
    q.layers[2] = simple(FOIL_LAYER_RELU);
    q.layers[3] = (foil_layer_def){.kind = FOIL_LAYER_DROPOUT, .rate = 0.3f};
    q.layers[4] = dense(5);
    check_model("dense + relu + dropout (training)", &q, 1);
    check_model("dense + relu + dropout (inference)", &q, 0);

    printf("graphs\n");
    foil_model_def r = residual_on_input();
    check_model("residual block on the input", &r, 0);
    check_trains(&r);

    /* an inner residual (relu 1 feeds conv 2 and the add), and a dense-level
     * one whose flatten is read twice */
    foil_model_def s = {.in_c = 1, .in_h = 6, .in_w = 6, .classes = 4, .nlayers = 10};
    snprintf(s.name, sizeof s.name, "inner-residual");
    s.layers[0] = conv(3, 3, 1, FOIL_PAD_SAME, 0);
    s.layers[1] = simple(FOIL_LAYER_RELU);
    s.layers[2] = conv(3, 3, 1, FOIL_PAD_SAME, 0);
    s.layers[3] = simple(FOIL_LAYER_RELU);
    s.layers[4] = add(3, 1);
    s.layers[5] = (foil_layer_def){.kind = FOIL_LAYER_MAXPOOL, .pool = 2, .pool_stride = 2};
    s.layers[6] = simple(FOIL_LAYER_FLATTEN);
    s.layers[7] = dense(27);
    s.layers[8] = add(7, 6);
    s.layers[9] = dense(4);
    check_model("inner and dense residuals", &s, 0);
    check_trains(&s);

    /* a layer read only by a later one (relu 1 by the add), and two convs on
     * the input */
    foil_model_def t = {.in_c = 2, .in_h = 5, .in_w = 5, .classes = 3, .nlayers = 6};
    snprintf(t.name, sizeof t.name, "skip");
    t.layers[0] = conv(2, 3, 1, FOIL_PAD_SAME, 0);
    t.layers[1] = simple(FOIL_LAYER_RELU);
    t.layers[2] = from(conv(2, 3, 1, FOIL_PAD_SAME, 0), FOIL_FROM_INPUT);
    t.layers[3] = add(1, 2);
    t.layers[4] = simple(FOIL_LAYER_FLATTEN);
    t.layers[5] = dense(3);
    check_model("a skip over a branch", &t, 0);
    return tu_finish("test_gradcheck");
}
