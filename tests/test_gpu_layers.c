/* What the op table (tests/test_gpu_ops.c, where the conv, max-pool and
 * dense parity rows now live) cannot say as rows: that TF32 mode really
 * uses TF32 (a convolution and a dense layer differ bitwise from the same op
 * in fp32 mode; the emulator rounds operands to TF32 in TF32 mode, so this
 * holds there too), and that impossible or invalid shapes give -1 and the
 * same message on both backends. Skipped without a GPU. `test_gpu_layers
 * WORD` runs only the cases whose name contains WORD. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parity.h"

typedef struct env {
    foil_backend *cpu, *gpu;
    const char *filter; /* run only cases whose name contains it (NULL: all) */
} env;

static int selected(const env *e, const char *name) {
    return !e->filter || strstr(name, e->filter) != NULL;
}

static float *host_floats(size_t n) { return malloc(sizeof(float) * (n ? n : 1)); }

/* TensorFlow's 'same', as host/nn/model.c: any odd padding pixel goes bottom/right */
static foil_conv_shape conv_same(int n, int c, int h, int w, int k, int r, int s, int sh,
                                 int sw) {
    foil_conv_shape cs = {n, c, h, w, k, r, s, sh, sw, 0, 0, 0, 0};
    cs.oh = (h + sh - 1) / sh;
    cs.ow = (w + sw - 1) / sw;
    int th = (cs.oh - 1) * sh + r - h, tw = (cs.ow - 1) * sw + s - w;
    cs.pad_h = th > 0 ? th / 2 : 0;
    cs.pad_w = tw > 0 ? tw / 2 : 0;
    return cs;
}

/* The same conv forward and dense forward in fp32 mode and in TF32 mode:
 * TF32 that silently ran the FMA path would give the fp32 bits. Returns to
 * fp32 mode. */
static void test_tf32_used(const env *e) {
    if (!selected(e, "tf32_used")) return;
    foil_backend *g = e->gpu;
    foil_conv_shape cs = conv_same(8, 32, 14, 14, 64, 5, 5, 1, 1);
    const int n = 128, in_dim = 3136, out_dim = 1024;
    size_t nx = (size_t)cs.n * cs.c * cs.h * cs.w, nw = (size_t)cs.k * cs.c * cs.r * cs.s;
    size_t ny = (size_t)cs.n * cs.k * cs.oh * cs.ow, nd = (size_t)n * out_dim;
    float *x = parity_random(nx, 0, 1, 90), *w = parity_random(nw, -0.05f, 0.05f, 91);
    float *dx = parity_random((size_t)n * in_dim, 0, 1, 92);
    float *dw = parity_random((size_t)out_dim * in_dim, -0.02f, 0.02f, 93);
    float *gx = parity_upload(g, x, sizeof(float) * nx);
    float *gw = parity_upload(g, w, sizeof(float) * nw);
    float *gdx = parity_upload(g, dx, sizeof(float) * (size_t)n * in_dim);
    float *gdw = parity_upload(g, dw, sizeof(float) * (size_t)out_dim * in_dim);
    float *out[2][2]; /* [mode][conv, dense], host */
    for (int tf = 0; tf < 2; tf++) {
        TU_CHECK(g->set_precision(g, tf) == 0, "set_precision(%d): %s", tf, g->err.msg);
        float *gy = parity_poisoned(g, ny), *gd = parity_poisoned(g, nd);
        TU_CHECK(g->conv2d_fwd(g, gy, gx, gw, NULL, &cs) == 0 &&
                     g->dense_fwd(g, gd, gdx, gdw, NULL, n, in_dim, out_dim) == 0,
                 "tf32 %d: %s", tf, g->err.msg);
        out[tf][0] = host_floats(ny), out[tf][1] = host_floats(nd);
        TU_CHECK(g->download(g, out[tf][0], gy, sizeof(float) * ny) == 0 &&
                     g->download(g, out[tf][1], gd, sizeof(float) * nd) == 0, "download");
        g->free(g, gy), g->free(g, gd);
    }
    TU_CHECK(g->set_precision(g, 0) == 0, "back to fp32: %s", g->err.msg);
    const char *what[2] = {"conv2d_fwd", "dense_fwd"};
    size_t len[2] = {ny, nd};
    for (int k = 0; k < 2; k++) {
        size_t differ = 0;
        for (size_t i = 0; i < len[k]; i++) differ += memcmp(&out[0][k][i], &out[1][k][i], 4) != 0;
        printf("  %-28s TF32 vs fp32: %zu of %zu outputs differ in their bits\n", what[k], differ,
               len[k]);
        TU_CHECK(differ > len[k] / 10, "%s in TF32 mode gives the fp32 result (%zu of %zu "
                 "differ): TF32 is not in use", what[k], differ, len[k]);
        free(out[0][k]), free(out[1][k]);
    }
    g->free(g, gx), g->free(g, gw), g->free(g, gdx), g->free(g, gdw);
    free(x), free(w), free(dx), free(dw);
}

/* Impossible or invalid shapes: -1 and a message, no crash, and the backend
 * stays usable (the cases after this one run on it). The invalid ones are
 * refused in front of both backends (host/backend/check.c): the CPU gives
 * the same message; the 2^42-element input is cuDNN's limit alone. */
static void test_errors(const env *e) {
    if (!selected(e, "errors")) return;
    printf("errors\n");
    foil_backend *be[2] = {e->gpu, e->cpu};
    float *buf[2];
    int32_t *ibuf[2];
    for (int k = 0; k < 2; k++)
        buf[k] = parity_poisoned(be[k], 64), ibuf[k] = (int32_t *)parity_poisoned(be[k], 64);
    foil_conv_shape huge = conv_same(1 << 20, 64, 256, 256, 64, 3, 3, 1, 1);
    foil_conv_shape bad = conv_same(2, 1, 8, 8, 2, 3, 3, 1, 1);
    bad.stride_w = 0;
    foil_pool_shape big_window = {1, 1, 4, 4, 5, 1, 1, 1};
    /* one at a time, so that each message is its own */
    for (int i = 0; i < 4; i++) {
        static const char *const WHAT[] = {"conv2d_fwd, 2^42-element input",
                                           "conv2d_bwd_filter, stride 0",
                                           "maxpool_fwd, window > input", "dense_fwd, n = -1"};
        char msg[2][sizeof e->gpu->err.msg];
        for (int k = 0; k < (i == 0 ? 1 : 2); k++) {
            foil_backend *g = be[k];
            float *f = buf[k];
            g->err.msg[0] = 0;
            int rc = i == 0   ? g->conv2d_fwd(g, f, f, f, NULL, &huge)
                     : i == 1 ? g->conv2d_bwd_filter(g, f, NULL, f, f, &bad)
                     : i == 2 ? g->maxpool_fwd(g, f, ibuf[k], f, &big_window)
                              : g->dense_fwd(g, f, f, f, NULL, -1, 4, 4);
            printf("  %-4s %-34s -> %d: %s\n", g->name, WHAT[i], rc, g->err.msg);
            TU_CHECK(rc == -1 && g->err.msg[0], "%s on %s: returned %d, expected -1 and a message",
                     WHAT[i], g->name, rc);
            snprintf(msg[k], sizeof msg[k], "%s", g->err.msg);
        }
        TU_CHECK(i == 0 || strcmp(msg[0], msg[1]) == 0, "%s: the backends differ ('%s' / '%s')",
                 WHAT[i], msg[0], msg[1]);
    }
    for (int k = 0; k < 2; k++) be[k]->free(be[k], buf[k]), be[k]->free(be[k], ibuf[k]);
}

int main(int argc, char **argv) {
    foil_cpu_restart(argv); /* the CPU oracle on OpenBLAS's kernels for this CPU, as foil runs */
    foil_backend *gpu = parity_gpu_or_skip();
    foil_err err;
    foil_backend *cpu = foil_backend_cpu_create(&err);
    if (!cpu) {
        fprintf(stderr, "CPU backend: %s\n", err.msg);
        return 1;
    }
    env e = {cpu, gpu, argc > 1 ? argv[1] : NULL};
    test_errors(&e);
    test_tf32_used(&e);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return tu_finish("test_gpu_layers");
}
