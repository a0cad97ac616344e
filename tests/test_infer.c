/* The forward-only path (foil/infer.h) on the CPU reference: logits of any
 * number of samples, bit for bit those of the network's own forward on the
 * same batches, for a model with every layer kind (dropout off in
 * evaluation); two buffers instead of one per layer; a batch from a memory
 * budget; predictions on borrowed buffers that equal the argmax of the
 * logits, and a network that still trains after them. */
#include <stdlib.h>
#include <string.h>

#include "foil/elementwise.h"
#include "foil/infer.h"
#include "foil/model_def.h"
#include "foil/philox.h"
#include "testutil.h"

#define BATCH 8

static foil_model_def every_layer(void) {
    foil_model_def d = {.in_c = 1, .in_h = 12, .in_w = 12, .classes = 5, .nlayers = 9};
    snprintf(d.name, sizeof d.name, "every-layer");
    d.layers[0] = (foil_layer_def){.kind = FOIL_LAYER_CONV2D, .filters = 4, .kernel_h = 3,
                                   .kernel_w = 3, .stride_h = 1, .stride_w = 1,
                                   .pad_mode = FOIL_PAD_SAME};
    d.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_RELU};
    d.layers[2] = (foil_layer_def){.kind = FOIL_LAYER_MAXPOOL, .pool = 2, .pool_stride = 2};
    d.layers[3] = (foil_layer_def){.kind = FOIL_LAYER_CONV2D, .filters = 6, .kernel_h = 3,
                                   .kernel_w = 3, .stride_h = 1, .stride_w = 1,
                                   .pad_mode = FOIL_PAD_VALID};
    d.layers[4] = (foil_layer_def){.kind = FOIL_LAYER_RELU};
    d.layers[5] = (foil_layer_def){.kind = FOIL_LAYER_FLATTEN};
    d.layers[6] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = 16};
    d.layers[7] = (foil_layer_def){.kind = FOIL_LAYER_DROPOUT, .rate = 0.5f};
    d.layers[8] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = 5};
    return d;
}

/* A graph: an inner residual (relu 1 read by conv 2 and the add), a
 * flatten read twice (kept while the dense runs), the input read twice. */
static foil_model_def graph(void) {
    foil_model_def d = {.in_c = 2, .in_h = 6, .in_w = 6, .classes = 4, .nlayers = 11};
    snprintf(d.name, sizeof d.name, "graph");
    foil_layer_def conv = {.kind = FOIL_LAYER_CONV2D, .filters = 2, .kernel_h = 3, .kernel_w = 3,
                           .stride_h = 1, .stride_w = 1, .pad_mode = FOIL_PAD_SAME};
    d.layers[0] = conv;
    d.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_RELU};
    d.layers[2] = conv;
    d.layers[3] = (foil_layer_def){.kind = FOIL_LAYER_ADD, .nfrom = 2, .from = {2, 1}};
    d.layers[4] =
        (foil_layer_def){.kind = FOIL_LAYER_ADD, .nfrom = 2, .from = {3, FOIL_FROM_INPUT}};
    d.layers[5] = (foil_layer_def){.kind = FOIL_LAYER_MAXPOOL, .pool = 2, .pool_stride = 2};
    d.layers[6] = (foil_layer_def){.kind = FOIL_LAYER_FLATTEN};
    d.layers[7] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = 18};
    d.layers[8] = (foil_layer_def){.kind = FOIL_LAYER_RELU};
    d.layers[9] = (foil_layer_def){.kind = FOIL_LAYER_ADD, .nfrom = 2, .from = {8, 6}};
    d.layers[10] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = 4};
    return d;
}

/* The graph forward-only (own buffers and borrowed) against the network's
 * forward; the definition through YAML and back; bad graphs refused. */
static void test_graph(void) {
    printf("graph\n");
    foil_err err;
    foil_model_def def = graph();
    foil_model m;
    foil_backend *b = foil_backend_cpu_create(&err);
    foil_net net;
    TU_CHECK(foil_model_build(&m, &def, &err) == 0, "%s", err.msg);
    TU_CHECK(foil_net_create(&net, &m, b, BATCH, &err) == 0, "%s", err.msg);
    foil_model_init_params(&m, net.params, 8);
    const int c = m.def.classes;
    float x[BATCH * 72], want[BATCH * 4], got[BATCH * 4];
    for (size_t i = 0; i < sizeof x / sizeof *x; i++) x[i] = foil_rng_uniform(4, 4, i);
    const float *logits;
    TU_CHECK(foil_net_forward(&net, x, BATCH, 0, 0, 0, &logits, &err) == 0, "%s", err.msg);
    memcpy(want, logits, sizeof want);
    foil_infer inf;
    TU_CHECK(foil_infer_create(&inf, &net, BATCH, &err) == 0, "%s", err.msg);
    TU_CHECK(foil_infer_logits(&inf, got, x, BATCH, &err) == 0 &&
                 memcmp(got, want, sizeof want) == 0,
             "graph: forward-only logits differ from the network's (%s)", err.msg);
    foil_infer_destroy(&inf);
    foil_infer_borrow(&inf, &net);
    memset(got, 0xFF, sizeof got);
    TU_CHECK(foil_infer_logits(&inf, got, x, BATCH, &err) == 0 &&
                 memcmp(got, want, sizeof want) == 0,
             "graph: borrowed forward-only logits differ (%s)", err.msg);
    (void)c;

    /* YAML and back: the same graph */
    char *yaml = foil_model_def_to_yaml(&def);
    foil_config cfg;
    foil_model_def back;
    TU_CHECK(yaml && foil_config_parse(&cfg, "<graph>", yaml, strlen(yaml), &err) == 0, "%s",
             err.msg);
    TU_CHECK(foil_model_def_parse(&back, &cfg, cfg.root, &err) == 0 &&
                 foil_config_check_used(&cfg, cfg.root, &err) == 0,
             "the graph's YAML does not read back: %s\n%s", err.msg, yaml);
    int same = back.nlayers == def.nlayers;
    for (int i = 0; same && i < def.nlayers; i++)
        same = back.layers[i].kind == def.layers[i].kind &&
               back.layers[i].nfrom == def.layers[i].nfrom &&
               memcmp(back.layers[i].from, def.layers[i].from, sizeof def.layers[i].from) == 0;
    TU_CHECK(same, "the graph changed through YAML:\n%s", yaml);
    foil_config_free(&cfg);
    free(yaml);

    /* refused: an input from a later layer, an add of two shapes, an
     * output that goes nowhere, an add with one input */
    foil_model bad;
    foil_model_def d = graph();
    d.layers[3].from[0] = 5;
    TU_CHECK(foil_model_build(&bad, &d, &err) == -1 && strstr(err.msg, "earlier"), "%s", err.msg);
    d = graph();
    d.layers[9].from[1] = 5;
    TU_CHECK(foil_model_build(&bad, &d, &err) == -1 && strstr(err.msg, "add"), "%s", err.msg);
    d = graph();
    d.layers[9].from[1] = 8; /* flatten 6 is then read by dense 7 only: fine, but 8 twice */
    TU_CHECK(foil_model_build(&bad, &d, &err) == 0, "add(8, 8): %s", err.msg);
    d = graph();
    d.layers[10].nfrom = 1, d.layers[10].from[0] = 8; /* the add 9 goes nowhere */
    TU_CHECK(foil_model_build(&bad, &d, &err) == -1 && strstr(err.msg, "nowhere"), "%s", err.msg);
    d = graph();
    d.layers[3].nfrom = 1;
    TU_CHECK(foil_model_build(&bad, &d, &err) == -1 && strstr(err.msg, "2 inputs"), "%s", err.msg);
    foil_net_destroy(&net);
    b->destroy(b);
}

int main(void) {
    test_graph();
    foil_err err;
    foil_model_def def = every_layer();
    foil_model m;
    foil_backend *b = foil_backend_cpu_create(&err);
    foil_net net;
    TU_CHECK(foil_model_build(&m, &def, &err) == 0, "%s", err.msg);
    TU_CHECK(foil_net_create(&net, &m, b, BATCH, &err) == 0, "%s", err.msg);
    foil_model_init_params(&m, net.params, 3);
    const int n = 3 * BATCH + 5, c = m.def.classes; /* three full batches and a part */
    float *x = malloc(sizeof(float) * (size_t)n * m.in_size);
    for (size_t i = 0; i < (size_t)n * m.in_size; i++) x[i] = foil_rng_uniform(9, 2, i);

    /* the network's forward, batch by batch: the reference */
    float *want = malloc(sizeof(float) * (size_t)n * c);
    float *got = malloc(sizeof(float) * (size_t)n * c);
    for (int s = 0; s < n; s += BATCH) {
        int bs = n - s < BATCH ? n - s : BATCH;
        const float *logits;
        TU_CHECK(foil_net_forward(&net, x + (size_t)s * m.in_size, bs, 0, 0, 0, &logits, &err) == 0,
                 "%s", err.msg);
        memcpy(want + (size_t)s * c, logits, sizeof(float) * (size_t)bs * c);
    }

    foil_infer inf;
    TU_CHECK(foil_infer_create(&inf, &net, BATCH, &err) == 0, "%s", err.msg);
    memset(got, 0xFF, sizeof(float) * (size_t)n * c);
    TU_CHECK(foil_infer_logits(&inf, got, x, n, &err) == 0, "%s", err.msg);
    TU_CHECK(memcmp(got, want, sizeof(float) * (size_t)n * c) == 0,
             "forward-only logits differ from the network's forward");
    TU_CHECK(foil_infer_logits(&inf, got, x, 0, &err) == 0, "no samples: %s", err.msg);
    foil_infer_destroy(&inf);

    /* another batch size: the same logits up to rounding (OpenBLAS blocks a
     * GEMM by its sizes, so the last bits may move; measured here) */
    TU_CHECK(foil_infer_create(&inf, &net, 1, &err) == 0, "%s", err.msg);
    memset(got, 0xFF, sizeof(float) * (size_t)n * c);
    TU_CHECK(foil_infer_logits(&inf, got, x, n, &err) == 0, "%s", err.msg);
    int moved = 0;
    float worst = 0.0f;
    for (int i = 0; i < n * c; i++) {
        float d = got[i] > want[i] ? got[i] - want[i] : want[i] - got[i];
        moved += got[i] != want[i];
        worst = d > worst || d != d ? d : worst;
    }
    printf("batch 1 against batch %d: %d of %d logits differ, by at most %.3g\n", BATCH, moved,
           n * c, (double)worst);
    TU_CHECK(worst <= 1e-5f, "batch 1 against batch %d: max |diff| %g", BATCH, (double)worst);
    foil_infer_destroy(&inf);

    /* memory: two activation buffers, not one per layer */
    size_t per_layer = 0;
    for (int i = 0; i < m.def.nlayers; i++)
        per_layer += (size_t)m.layers[i].out_c * m.layers[i].out_h * m.layers[i].out_w;
    size_t bytes = foil_infer_bytes(&m, 100);
    printf("forward-only: %zu bytes for 100 samples; the network keeps %zu bytes of activations\n",
           bytes, per_layer * 100 * sizeof(float));
    TU_CHECK(bytes < per_layer * 100 * sizeof(float), "forward-only holds less than training");
    int fit = foil_infer_batch_for(&m, 1 << 20);
    TU_CHECK(fit >= 1 && foil_infer_bytes(&m, fit) <= (1u << 20) &&
                 foil_infer_bytes(&m, fit + 1) > (1u << 20),
             "the batch for 1 MiB (%d) is the largest that fits", fit);
    TU_CHECK(foil_infer_batch_for(&m, 1) == 1, "at least one sample");
    TU_CHECK(foil_infer_create(&inf, &net, 0, &err) == -1, "a batch of 0 is refused");

    /* predictions on the network's own buffers = argmax of the logits */
    foil_device_data dd = {.n = n, .row = m.in_size, .images = x};
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)n);
    float *probs = malloc(sizeof(float) * (size_t)n * c);
    TU_CHECK(foil_predict(&net, &dd, pred, probs, &err) == 0, "%s", err.msg);
    int agree = 0;
    for (int i = 0; i < n; i++) {
        agree += pred[i] == foil_row_argmax(want + (size_t)i * c, c);
        double sum = 0;
        for (int j = 0; j < c; j++) sum += probs[(size_t)i * c + j];
        TU_CHECK(sum > 0.9999 && sum < 1.0001, "image %d: probabilities sum to %g", i, sum);
    }
    TU_CHECK(agree == n, "%d of %d predictions are the argmax of the logits", agree, n);
    /* and a training step after them still backpropagates its own forward */
    const float *logits;
    float loss[BATCH], dlogits[BATCH * 5];
    int32_t y[BATCH] = {0, 1, 2, 3, 4, 0, 1, 2};
    TU_CHECK(foil_net_forward(&net, x, BATCH, 1, 5, 1, &logits, &err) == 0 &&
                 b->softmax_xent(b, loss, dlogits, logits, y, BATCH, c, 1.0f) == 0 &&
                 foil_net_backward(&net, dlogits, 1, 1, &err) == 0,
             "train step after predictions: %s", err.msg);
    float *g1 = malloc(sizeof(float) * m.nparams);
    memcpy(g1, net.grads, sizeof(float) * m.nparams);
    TU_CHECK(foil_predict(&net, &dd, pred, NULL, &err) == 0, "%s", err.msg);
    TU_CHECK(foil_net_forward(&net, x, BATCH, 1, 5, 1, &logits, &err) == 0 &&
                 b->softmax_xent(b, loss, dlogits, logits, y, BATCH, c, 1.0f) == 0 &&
                 foil_net_backward(&net, dlogits, 1, 1, &err) == 0,
             "%s", err.msg);
    TU_CHECK(memcmp(g1, net.grads, sizeof(float) * m.nparams) == 0,
             "the same step after predictions gives the same gradients");

    free(g1), free(pred), free(probs), free(x), free(want), free(got);
    foil_net_destroy(&net);
    b->destroy(b);
    return tu_finish("test_infer");
}
