/* CPU reference backend: memory, elementwise ops, loss, optimizers, gathers.
 * The layers (conv, pool, dense) are in backend_cpu_layers.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend_cpu.h"
#include "foil/elementwise.h"

#if defined(__x86_64__) || defined(__i386__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

/* Denormal floats cost ~100 cycles per operation on x86: late in training,
 * Adam's second moments (g^2 of tiny gradients) and the activations' tails
 * become denormal and halve the training speed. Flush them to zero, as GPUs
 * effectively do. MXCSR is per thread: the calling thread's, and in an
 * OpenMP build every thread of the OpenMP pool's (the one the parallel
 * loops and OpenBLAS's OpenMP build run on; libgomp keeps its threads, so
 * the setting stays), else an op's result would depend on which thread ran
 * that part of it. */
static void flush_denormals_here(void) {
#if defined(__x86_64__) || defined(__i386__)
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

static void flush_denormals(void) {
    flush_denormals_here();
#ifdef _OPENMP
    FOIL_PRAGMA(omp parallel)
    flush_denormals_here();
#endif
}

float *cpu_workspace(foil_backend *b, size_t floats) {
    cpu_ctx *ctx = b->ctx;
    if (floats > ctx->col_cap) {
        float *p = realloc(ctx->col, floats * sizeof(float));
        if (!p) {
            foil_fail(&b->err, "cpu: out of memory for a %zu-float convolution workspace", floats);
            return NULL;
        }
        ctx->col = p;
        ctx->col_cap = floats;
    }
    return ctx->col;
}

static void *cpu_alloc(foil_backend *b, size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) foil_fail(&b->err, "cpu: out of memory allocating %zu bytes", bytes);
    return p;
}

static void cpu_free(foil_backend *b, void *p) {
    (void)b;
    free(p);
}

static int cpu_memcpy(foil_backend *b, void *dst, const void *src, size_t bytes) {
    (void)b;
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int cpu_fill(foil_backend *b, float *x, float value, size_t n) {
    (void)b;
    for (size_t i = 0; i < n; i++) x[i] = value;
    return 0;
}

static int cpu_sync(foil_backend *b) {
    (void)b;
    return 0;
}

static int cpu_set_precision(foil_backend *b, int tf32) {
    (void)b;
    (void)tf32; /* the CPU computes in fp32 always */
    return 0;
}

static int cpu_relu_fwd(foil_backend *b, float *out, const float *in, size_t n) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
    return 0;
}

static int cpu_relu_bwd(foil_backend *b, float *din, const float *dout, const float *out,
                        size_t n) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
    return 0;
}

static int cpu_dropout_fwd(foil_backend *b, float *out, float *mask, const float *in, float rate,
                           uint64_t seed, uint64_t stream, size_t n) {
    (void)b;
    for (size_t i = 0; i < n; i++) {
        mask[i] = foil_dropout_mask(seed, stream, i, rate);
        out[i] = in[i] * mask[i];
    }
    return 0;
}

static int cpu_mul(foil_backend *b, float *out, const float *x, const float *y, size_t n) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = x[i] * y[i];
    return 0;
}

static int cpu_add(foil_backend *b, float *out, const float *x, const float *y, size_t n) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = x[i] + y[i];
    return 0;
}

static int cpu_sub(foil_backend *b, float *out, const float *x, const float *y, size_t n) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = x[i] - y[i];
    return 0;
}

static int cpu_scale(foil_backend *b, float *out, const float *x, float alpha, size_t n) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++) out[i] = alpha * x[i];
    return 0;
}

static int cpu_axpy(foil_backend *b, float *y, float alpha, const float *x, size_t n) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++) y[i] = (float)((double)y[i] + (double)alpha * x[i]);
    return 0;
}

static int cpu_softmax_xent(foil_backend *b, float *loss, float *dlogits, const float *logits,
                            const int32_t *labels, int n, int classes, float grad_scale) {
    for (int i = 0; i < n; i++) {
        const float *x = logits + (size_t)i * classes;
        int y = labels[i];
        if (y < 0 || y >= classes)
            return foil_fail(&b->err, "softmax_xent: label %d of sample %d is not in [0, %d)", y,
                             i, classes);
        /* double: the loss is what gets compared across backends */
        float mx = x[foil_row_argmax(x, classes)];
        double sum = foil_softmax_sum(x, classes, mx);
        loss[i] = (float)(log(sum) - (double)(x[y] - mx));
        if (dlogits) {
            float *d = dlogits + (size_t)i * classes;
            for (int j = 0; j < classes; j++) {
                float p = (float)(exp((double)(x[j] - mx)) / sum);
                d[j] = (p - (j == y ? 1.0f : 0.0f)) * grad_scale;
            }
        }
    }
    return 0;
}

static int cpu_kl_div(foil_backend *b, float *loss, float *dp, float *dq, const float *logits_p,
                      const float *logits_q, int n, int classes, float grad_scale) {
    (void)b;
    for (int i = 0; i < n; i++) {
        const size_t o = (size_t)i * classes;
        loss[i] = foil_kl_row(logits_p + o, logits_q + o, classes, dp ? dp + o : NULL,
                              dq ? dq + o : NULL, grad_scale);
    }
    return 0;
}

static int cpu_sgd_step(foil_backend *b, float *w, float *velocity, const float *grad, size_t n,
                        const foil_sgd_hparams *hp) {
    (void)b;
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++)
        foil_sgd_update(&w[i], &velocity[i], grad[i], hp->lr, hp->momentum, hp->weight_decay,
                        hp->nesterov);
    return 0;
}

static int cpu_adam_step(foil_backend *b, float *w, float *m, float *v, const float *grad,
                         size_t n, const foil_adam_hparams *hp) {
    (void)b;
    float step_size = (float)(hp->lr / (1.0 - pow(hp->beta1, hp->t)));
    float bc2_sqrt = (float)sqrt(1.0 - pow(hp->beta2, hp->t));
    FOIL_PAR_FOR(n > 65536)
    for (size_t i = 0; i < n; i++)
        foil_adam_update(&w[i], &m[i], &v[i], grad[i], hp->lr, hp->beta1, hp->beta2, hp->eps,
                         hp->weight_decay, step_size, bc2_sqrt);
    return 0;
}

static int cpu_gather_rows(foil_backend *b, float *dst, const float *src, const int32_t *idx,
                           int n, size_t row) {
    (void)b;
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * row, src + (size_t)idx[i] * row, row * sizeof(float));
    return 0;
}

static int cpu_gather_labels(foil_backend *b, int32_t *dst, const int32_t *src,
                             const int32_t *idx, int n) {
    (void)b;
    for (int i = 0; i < n; i++) dst[i] = src[idx[i]];
    return 0;
}

static void cpu_destroy(foil_backend *b) {
    if (!b) return;
    cpu_ctx *ctx = b->ctx;
    if (ctx) free(ctx->col);
    free(ctx);
    free(b);
}

foil_backend *foil_backend_cpu_create(foil_err *err) {
    foil_backend *b = calloc(1, sizeof *b);
    cpu_ctx *ctx = calloc(1, sizeof *ctx);
    if (!b || !ctx) {
        free(b);
        free(ctx);
        foil_fail(err, "cpu: out of memory creating the backend");
        return NULL;
    }
    flush_denormals();
    b->name = "cpu";
    b->ctx = ctx;
    b->set_precision = cpu_set_precision;
    b->alloc = cpu_alloc;
    b->free = cpu_free;
    b->upload = cpu_memcpy;
    b->download = cpu_memcpy;
    b->copy = cpu_memcpy;
    b->fill = cpu_fill;
    b->sync = cpu_sync;
    b->conv2d_fwd = cpu_conv2d_fwd;
    b->conv2d_bwd_data = cpu_conv2d_bwd_data;
    b->conv2d_bwd_filter = cpu_conv2d_bwd_filter;
    b->maxpool_fwd = cpu_maxpool_fwd;
    b->maxpool_bwd = cpu_maxpool_bwd;
    b->relu_fwd = cpu_relu_fwd;
    b->relu_bwd = cpu_relu_bwd;
    b->dense_fwd = cpu_dense_fwd;
    b->dense_bwd_data = cpu_dense_bwd_data;
    b->dense_bwd_filter = cpu_dense_bwd_filter;
    b->dropout_fwd = cpu_dropout_fwd;
    b->mul = cpu_mul;
    b->add = cpu_add;
    b->sub = cpu_sub;
    b->scale = cpu_scale;
    b->axpy = cpu_axpy;
    b->softmax_xent = cpu_softmax_xent;
    b->kl_div = cpu_kl_div;
    b->sgd_step = cpu_sgd_step;
    b->adam_step = cpu_adam_step;
    b->gather_rows = cpu_gather_rows;
    b->gather_labels = cpu_gather_labels;
    b->destroy = cpu_destroy;
    cpu_register_attack_ops(b);
    cpu_register_apgd_ops(b);
    cpu_register_square_ops(b);
    cpu_register_minimal_ops(b);
    cpu_register_explain_ops(b);
    if (foil_backend_finish(b, err)) {
        cpu_destroy(b);
        return NULL;
    }
    return b;
}
