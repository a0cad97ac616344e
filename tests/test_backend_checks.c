/* The checks in front of every backend (host/backend/check.c), on the CPU
 * reference: each op refuses its bad arguments with -1 and a message naming
 * the op, the backend stays usable, empty calls stay no-ops; a backend with
 * an op missing is refused at creation; supports() answers by name. The
 * same calls on the CUDA backend (on the emulator in CI) are in
 * test_gpu_layers' error cases. */
#include <stdlib.h>
#include <string.h>

#include "foil/backend.h"
#include "testutil.h"

typedef struct bufs {
    float *f;
    int32_t *i;
} bufs;

static void refused(foil_backend *b, const char *what, int rc, const char *word) {
    TU_CHECK(rc == -1, "%s: returned %d, expected -1", what, rc);
    TU_CHECK(strstr(b->err.msg, word) != NULL, "%s: '%s' not in '%s'", what, word, b->err.msg);
    printf("  %-36s -> %s\n", what, b->err.msg);
    b->err.msg[0] = 0;
}

static void test_refusals(foil_backend *b, bufs *u) {
    float *f = u->f;
    int32_t *i = u->i;
    foil_conv_shape cs = {2, 1, 8, 8, 2, 3, 3, 1, 1, 1, 1, 8, 8};
    foil_conv_shape bad = cs;
    bad.stride_w = 0;
    refused(b, "conv2d_fwd stride 0", b->conv2d_fwd(b, f, f, f, NULL, &bad), "conv2d_fwd");
    bad = cs, bad.pad_h = -1;
    refused(b, "conv2d_bwd_data pad -1", b->conv2d_bwd_data(b, f, f, f, &bad), "conv2d_bwd_data");
    bad = cs, bad.oh = 0;
    refused(b, "conv2d_bwd_filter out 0", b->conv2d_bwd_filter(b, f, NULL, f, f, &bad),
            "conv2d_bwd_filter");
    foil_pool_shape window = {1, 1, 4, 4, 5, 1, 1, 1};
    foil_pool_shape huge = {1 << 16, 1 << 10, 64, 64, 2, 2, 32, 32};
    refused(b, "maxpool_fwd window > input", b->maxpool_fwd(b, f, i, f, &window), "maxpool_fwd");
    refused(b, "maxpool_bwd 2^38 inputs", b->maxpool_bwd(b, f, f, i, &huge), "int32");
    refused(b, "dense_fwd n -1", b->dense_fwd(b, f, f, f, NULL, -1, 4, 4), "dense_fwd");
    refused(b, "dense_bwd_data in 0", b->dense_bwd_data(b, f, f, f, 2, 0, 4), "dense_bwd_data");
    refused(b, "dense_bwd_filter out 0", b->dense_bwd_filter(b, f, NULL, f, f, 2, 4, 0),
            "dense_bwd_filter");
    refused(b, "dropout_fwd rate 1", b->dropout_fwd(b, f, f, f, 1.0f, 0, 0, 4), "rate");
    refused(b, "softmax_xent 0 classes", b->softmax_xent(b, f, NULL, f, i, 2, 0, 1.0f),
            "softmax_xent");
    refused(b, "argmax -3 rows", b->argmax(b, i, f, -3, 10), "argmax");
    refused(b, "target_output 0 classes",
            b->target_output(b, f, NULL, f, i, 1, 0, FOIL_TARGET_LOGIT), "target_output");
    foil_sgd_hparams sgd = {0.1f, 0.9f, 0.0f, 0};
    refused(b, "sgd_step momentum, no velocity", b->sgd_step(b, f, NULL, f, 4, &sgd), "velocity");
    foil_attack_hparams mi = {FOIL_NORM_LINF, FOIL_STEP_MOMENTUM_SIGN, 0.1f, 0.01f, 1.0f, 0};
    refused(b, "attack_step MI-FGSM, no velocity",
            b->attack_step(b, f, NULL, f, f, NULL, 1, 4, &mi), "velocity");
    refused(b, "gather_rows -1", b->gather_rows(b, f, f, i, -1, 4), "gather_rows");
    refused(b, "ig_interp m -1", b->ig_interp(b, f, f, f, f, 1, -1, 4), "ig_interp");
    refused(b, "row_sum -1", b->row_sum(b, f, f, -1, 4), "row_sum");
}

/* Calls with nothing to do stay no-ops (the CUDA backend returned early for
 * them before the front existed), and good calls still run. */
static void test_passes(foil_backend *b, bufs *u) {
    TU_CHECK(b->softmax_xent(b, u->f, NULL, u->f, u->i, 0, 0, 1.0f) == 0,
             "softmax_xent on 0 rows");
    TU_CHECK(b->argmax(b, u->i, u->f, 0, 0) == 0, "argmax on 0 rows");
    TU_CHECK(b->dense_fwd(b, u->f, u->f, u->f, NULL, 0, 4, 4) == 0, "dense_fwd on 0 rows");
    foil_sgd_hparams plain = {0.1f, 0.0f, 0.0f, 0};
    TU_CHECK(b->sgd_step(b, u->f, NULL, u->f + 8, 4, &plain) == 0, "SGD without momentum: %s",
             b->err.msg);
    float logits[4] = {0.5f, 2.0f, -1.0f, 2.0f};
    int32_t best = -1;
    TU_CHECK(b->upload(b, u->f, logits, sizeof logits) == 0 &&
                 b->argmax(b, u->i, u->f, 1, 4) == 0 &&
                 b->download(b, &best, u->i, sizeof best) == 0 && best == 1,
             "argmax after refusals: %d (%s)", best, b->err.msg);
}

static void test_table(foil_backend *b) {
    TU_CHECK(foil_backend_supports(b, "conv2d_fwd") && foil_backend_supports(b, "row_sum") &&
                 foil_backend_supports(b, "destroy"),
             "the CPU backend supports its ops");
    TU_CHECK(!foil_backend_supports(b, "batchnorm_fwd") && !foil_backend_supports(b, NULL),
             "no op of that name");
    /* a backend missing one op is refused, naming it */
    foil_backend partial = *b->impl;
    partial.ig_accumulate = NULL;
    foil_err err = {{0}};
    TU_CHECK(foil_backend_finish(&partial, &err) == -1 && strstr(err.msg, "ig_accumulate"),
             "a missing op is named: '%s'", err.msg);
    TU_CHECK(partial.impl == NULL, "nothing installed on a refused backend");
}

int main(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    if (!b) {
        fprintf(stderr, "CPU backend: %s\n", err.msg);
        return 1;
    }
    bufs u = {foil_alloc_floats(b, 64), b->alloc(b, 64 * sizeof(int32_t))};
    printf("refusals\n");
    test_refusals(b, &u);
    test_passes(b, &u);
    test_table(b);
    b->free(b, u.f);
    b->free(b, u.i);
    b->destroy(b);
    return tu_finish("test_backend_checks");
}
