/* Integrated Gradients throughput: attributions per second with 64
 * Gauss-Legendre points (and the chunk of path points per forward pass), for
 * the model configs on a backend, on random images and weights.
 *
 *   bench_explain [--device D] [--precision fp32|tf32] [--images N] [--batch B] [--chunk C]
 *                 [--steps S] [model.yaml ...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/explain.h"
#include "foil/model_def.h"
#include "foil/philox.h"

#include "bench_util.h"

typedef struct bench_cfg {
    const char *device;
    int tf32;               /* --precision tf32 */
    int images, batch, chunk, steps;
} bench_cfg;

static int bench_model(const char *path, const bench_cfg *c, foil_err *err) {
    foil_model_def def;
    foil_model m;
    if (foil_model_def_load(&def, path, err) || foil_model_build(&m, &def, err)) return -1;
    foil_backend *b = bench_backend(c->device, c->tf32, err);
    if (!b) return -1;
    foil_net net = {0};
    foil_explain_work *w = NULL;
    int rc = -1;
    size_t nx = (size_t)c->batch * m.in_size;
    float *xh = malloc(nx * sizeof(float)), *ph = malloc(m.nparams * sizeof(float));
    int32_t *target = malloc(sizeof(int32_t) * (size_t)c->batch);
    foil_explain_stats *st = calloc((size_t)c->batch, sizeof *st);
    float *x = foil_alloc_floats(b, nx), *attr = foil_alloc_floats(b, nx);
    if (!xh || !ph || !target || !st || !x || !attr) {
        foil_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nx; i++) xh[i] = foil_rng_uniform(1, 2, i);
    for (int i = 0; i < c->batch; i++) target[i] = i % def.classes;
    foil_model_init_params(&m, ph, 1);
    if (foil_net_create(&net, &m, b, c->batch * c->chunk, err) ||
        foil_explain_work_create(&w, &net, c->batch, err))
        goto done;
    if (b->upload(b, x, xh, nx * sizeof(float)) ||
        b->upload(b, net.params, ph, m.nparams * sizeof(float))) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    foil_explain_spec s = {.method = FOIL_EXPLAIN_IG, .output = FOIL_TARGET_LOGIT,
                           .steps = c->steps, .rule = FOIL_RULE_GAUSS_LEGENDRE,
                           .chunk = c->chunk, .max_steps = c->steps,
                           .baseline = FOIL_BASELINE_BLACK};
    if (foil_explain_batch(w, &s, attr, x, target, NULL, c->batch, st, err)) goto done; /* warm-up */
    double t0 = foil_now_s();
    for (int done = 0; done < c->images; done += c->batch) {
        int n = c->images - done < c->batch ? c->images - done : c->batch;
        if (foil_explain_batch(w, &s, attr, x, target, NULL, n, st, err)) goto done;
    }
    if (b->sync(b)) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    double secs = foil_now_s() - t0;
    char label[32];
    printf("| %s | %s | %d | %d | %d | %.2f | %.1f | %.0f |\n", def.name, bench_device_label(b, c->tf32, label, sizeof label), c->steps,
           c->batch, c->chunk, secs, c->images / secs, (double)c->images * c->steps / secs);
    fflush(stdout);
    rc = 0;
done:
    if (w) foil_explain_work_destroy(w);
    if (net.b) foil_net_destroy(&net);
    b->free(b, x);
    b->free(b, attr);
    b->destroy(b);
    free(xh);
    free(ph);
    free(target);
    free(st);
    return rc;
}

int main(int argc, char **argv) {
    foil_cpu_restart(argv);
    bench_cfg c = {"auto", 0, 200, 25, 32, 64};
    const char *models[16];
    int nm = 0;
    for (int i = 1; i < argc; i++) {
        int p = bench_precision_arg(argc, argv, &i, &c.tf32);
        if (p < 0) return 2;
        if (p) continue;
        int *dst = !strcmp(argv[i], "--images")  ? &c.images
                   : !strcmp(argv[i], "--batch") ? &c.batch
                   : !strcmp(argv[i], "--chunk") ? &c.chunk
                   : !strcmp(argv[i], "--steps") ? &c.steps
                                                 : NULL;
        if (dst && i + 1 < argc) *dst = atoi(argv[++i]);
        else if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) c.device = argv[++i];
        else if (argv[i][0] != '-' && nm < 16) models[nm++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_explain [--device D] [--precision fp32|tf32] [--images N] "
                            "[--batch B] [--chunk C] [--steps S] [model.yaml ...]\n");
            return 2;
        }
    }
    if (c.images < 1 || c.batch < 1 || c.chunk < 1 || c.steps < 1) {
        fprintf(stderr, "bench_explain: counts must be >= 1\n");
        return 2;
    }
    if (nm == 0) {
        models[nm++] = "configs/models/madry.yaml";
        models[nm++] = "configs/models/cleverhans.yaml";
    }
    bench_print_cpu();
    printf("| model | device | IG points | images/batch | points/forward | seconds | "
           "attributions/s | image-gradients/s |\n|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nm; i++) {
        foil_err err;
        if (bench_model(models[i], &c, &err)) {
            fprintf(stderr, "bench_explain: %s\n", err.msg);
            return 1;
        }
    }
    return 0;
}
