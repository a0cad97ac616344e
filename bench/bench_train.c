/* Training and inference throughput (images/s) of the model configs on a
 * backend, on random inputs: the cost of the network, not of data loading.
 *
 *   bench_train [--device cpu|cuda|auto] [--precision fp32|tf32] [--batch N] [--steps N]
 *               [model.yaml ...]
 *
 * Prints a Markdown table. Defaults: configs/models/{madry,cleverhans}.yaml,
 * batch 128, 20 training steps after 2 warm-up steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/model.h"
#include "foil/model_def.h"
#include "foil/net.h"
#include "foil/philox.h"

#include "bench_util.h"

typedef struct bench_cfg {
    const char *device;
    int tf32;               /* --precision tf32 */
    int batch, steps;
} bench_cfg;

typedef struct bench_bufs {
    float *x, *loss, *dlogits, *m, *v; /* (batch, in), (batch), (batch, classes), (nparams) x2 */
    int32_t *y;                        /* (batch) */
} bench_bufs;

static int run_steps(foil_net *net, const bench_bufs *bb, int steps, int train, foil_err *err) {
    foil_backend *b = net->b;
    foil_adam_hparams hp = {1e-4f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
    for (int s = 0; s < steps; s++) {
        const float *logits;
        if (foil_net_forward(net, bb->x, net->max_batch, train, 1, (uint64_t)s, &logits, err))
            return -1;
        if (!train) continue;
        if (b->softmax_xent(b, bb->loss, bb->dlogits, logits, bb->y, net->max_batch,
                            net->model->def.classes, 1.0f / net->max_batch) ||
            foil_net_backward(net, bb->dlogits, 1, 0, err) ||
            b->adam_step(b, net->params, bb->m, bb->v, net->grads, net->model->nparams, &hp))
            return foil_fail(err, "%s", b->err.msg);
    }
    return b->sync(b) ? foil_fail(err, "%s", b->err.msg) : 0;
}

static int bench_model(const char *path, const bench_cfg *c, foil_err *err) {
    foil_model_def def;
    foil_model m;
    if (foil_model_def_load(&def, path, err) || foil_model_build(&m, &def, err)) return -1;
    foil_backend *b = bench_backend(c->device, c->tf32, err);
    if (!b) return -1;
    foil_net net;
    int rc = -1;
    size_t nx = (size_t)c->batch * m.in_size;
    float *xh = malloc(nx * sizeof(float)), *ph = malloc(m.nparams * sizeof(float));
    int32_t *yh = malloc((size_t)c->batch * sizeof(int32_t));
    bench_bufs bb = {foil_alloc_floats(b, nx), foil_alloc_floats(b, (size_t)c->batch),
                     foil_alloc_floats(b, (size_t)c->batch * def.classes),
                     foil_alloc_floats(b, m.nparams), foil_alloc_floats(b, m.nparams),
                     b->alloc(b, (size_t)c->batch * sizeof(int32_t))};
    if (!xh || !ph || !yh || !bb.x || !bb.loss || !bb.dlogits || !bb.m || !bb.v || !bb.y) {
        foil_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nx; i++) xh[i] = foil_rng_uniform(1, 2, i);
    for (int i = 0; i < c->batch; i++) yh[i] = i % def.classes;
    foil_model_init_params(&m, ph, 1);
    if (foil_net_create(&net, &m, b, c->batch, err)) goto done;
    if (b->upload(b, bb.x, xh, nx * sizeof(float)) ||
        b->upload(b, bb.y, yh, (size_t)c->batch * sizeof(int32_t)) ||
        b->upload(b, net.params, ph, m.nparams * sizeof(float))) {
        foil_fail(err, "%s", b->err.msg);
        goto done_net;
    }
    double rate[2];
    for (int train = 1; train >= 0; train--) {
        if (run_steps(&net, &bb, 2, train, err)) goto done_net;
        double t0 = foil_now_s();
        if (run_steps(&net, &bb, c->steps, train, err)) goto done_net;
        rate[train] = (double)c->steps * c->batch / (foil_now_s() - t0);
    }
    char label[32];
    printf("| %s | %s | %zu | %d | %.0f | %.0f |\n", def.name, bench_device_label(b, c->tf32, label, sizeof label), m.nvalues, c->batch,
           rate[1], rate[0]);
    fflush(stdout);
    rc = 0;
done_net:
    foil_net_destroy(&net);
done:
    b->free(b, bb.x);
    b->free(b, bb.y);
    b->free(b, bb.loss);
    b->free(b, bb.dlogits);
    b->free(b, bb.m);
    b->free(b, bb.v);
    b->destroy(b);
    free(xh);
    free(ph);
    free(yh);
    return rc;
}

int main(int argc, char **argv) {
    foil_cpu_restart(argv);
    bench_cfg c = {"auto", 0, 128, 20};
    const char *models[16];
    int nm = 0;
    for (int i = 1; i < argc; i++) {
        int p = bench_precision_arg(argc, argv, &i, &c.tf32);
        if (p < 0) return 2;
        if (p) continue;
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) c.device = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) c.batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc) c.steps = atoi(argv[++i]);
        else if (argv[i][0] != '-' && nm < 16) models[nm++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_train [--device D] [--precision fp32|tf32] [--batch N] "
                            "[--steps N] [model.yaml ...]\n");
            return 2;
        }
    }
    if (c.batch < 1 || c.steps < 1) {
        fprintf(stderr, "bench_train: --batch and --steps must be >= 1\n");
        return 2;
    }
    if (nm == 0) {
        models[nm++] = "configs/models/madry.yaml";
        models[nm++] = "configs/models/cleverhans.yaml";
    }
    bench_print_cpu();
    printf("| model | device | parameters | batch | train images/s | inference images/s |\n"
           "|---|---|---|---|---|---|\n");
    for (int i = 0; i < nm; i++) {
        foil_err err;
        if (bench_model(models[i], &c, &err)) {
            fprintf(stderr, "bench_train: %s\n", err.msg);
            return 1;
        }
    }
    return 0;
}
