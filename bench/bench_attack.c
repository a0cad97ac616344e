/* Attack throughput: image-gradients per second and seconds for PGD-40
 * (eps 0.3, step 0.01, random start) and FGSM over N random images, for the
 * model configs, on a backend. Random weights: the cost does not depend on
 * them.
 *
 *   bench_attack [--device D] [--precision fp32|tf32] [--batch B] [--images N]
 *                [model.yaml ...]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/model_def.h"
#include "foil/philox.h"

#include "bench_util.h"

typedef struct bench_cfg {
    const char *device;
    int tf32;               /* --precision tf32 */
    int batch, images;
} bench_cfg;

static int time_attack(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                       const float *x, float *adv, const int32_t *y, int images, double *secs,
                       foil_err *err) {
    double t0 = foil_now_s();
    for (int start = 0; start < images; start += net->max_batch) {
        int n = images - start < net->max_batch ? images - start : net->max_batch;
        if (foil_attack_run(net, w, s, adv, x, y, n, start, NULL, err)) return -1;
    }
    if (net->b->sync(net->b)) return foil_fail(err, "%s", net->b->err.msg);
    *secs = foil_now_s() - t0;
    return 0;
}

static int bench_model(const char *path, const bench_cfg *c, foil_err *err) {
    foil_model_def def;
    foil_model m;
    if (foil_model_def_load(&def, path, err) || foil_model_build(&m, &def, err)) return -1;
    foil_backend *b = bench_backend(c->device, c->tf32, err);
    if (!b) return -1;
    foil_net net;
    foil_attack_work w;
    int rc = -1;
    size_t nx = (size_t)c->batch * m.in_size;
    float *xh = malloc(nx * sizeof(float)), *ph = malloc(m.nparams * sizeof(float));
    int32_t *yh = malloc((size_t)c->batch * sizeof(int32_t));
    float *x = foil_alloc_floats(b, nx), *adv = foil_alloc_floats(b, nx);
    int32_t *y = b->alloc(b, (size_t)c->batch * sizeof(int32_t));
    if (!xh || !ph || !yh || !x || !adv || !y) {
        foil_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nx; i++) xh[i] = foil_rng_uniform(1, 2, i);
    for (int i = 0; i < c->batch; i++) yh[i] = i % def.classes;
    foil_model_init_params(&m, ph, 1);
    if (foil_net_create(&net, &m, b, c->batch, err)) goto done;
    if (foil_attack_work_create(&w, &net, err)) goto done_net;
    if (b->upload(b, x, xh, nx * sizeof(float)) || b->upload(b, y, yh, (size_t)c->batch * 4) ||
        b->upload(b, net.params, ph, m.nparams * sizeof(float))) {
        foil_fail(err, "%s", b->err.msg);
        goto done_work;
    }
    foil_attack_spec fgsm = {.kind = FOIL_ATTACK_FGSM, .eps = 0.3f, .steps = 1, .restarts = 1};
    foil_attack_spec pgd = {.kind = FOIL_ATTACK_PGD, .eps = 0.3f, .step = 0.01f, .steps = 40,
                            .random_start = 1, .restarts = 1, .seed = 1};
    double t_fgsm, t_pgd;
    /* the input batch is reused for every batch of the run: only the count matters */
    if (time_attack(&net, &w, &fgsm, x, adv, y, c->images, &t_fgsm, err) ||
        time_attack(&net, &w, &pgd, x, adv, y, c->images, &t_pgd, err))
        goto done_work;
    char label[32];
    printf("| %s | %s | %d | %d | %.2f | %.2f | %.0f |\n", def.name, bench_device_label(b, c->tf32, label, sizeof label), c->batch, c->images,
           t_fgsm, t_pgd, 40.0 * c->images / t_pgd);
    fflush(stdout);
    rc = 0;
done_work:
    foil_attack_work_destroy(&w, b);
done_net:
    foil_net_destroy(&net);
done:
    b->free(b, x);
    b->free(b, adv);
    b->free(b, y);
    b->destroy(b);
    free(xh);
    free(ph);
    free(yh);
    return rc;
}

int main(int argc, char **argv) {
    foil_cpu_restart(argv);
    bench_cfg c = {"auto", 0, 500, 1000};
    const char *models[16];
    int nm = 0;
    for (int i = 1; i < argc; i++) {
        int p = bench_precision_arg(argc, argv, &i, &c.tf32);
        if (p < 0) return 2;
        if (p) continue;
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc) c.device = argv[++i];
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc) c.batch = atoi(argv[++i]);
        else if (strcmp(argv[i], "--images") == 0 && i + 1 < argc) c.images = atoi(argv[++i]);
        else if (argv[i][0] != '-' && nm < 16) models[nm++] = argv[i];
        else {
            fprintf(stderr, "usage: bench_attack [--device D] [--precision fp32|tf32] [--batch B] "
                            "[--images N] [model.yaml ...]\n");
            return 2;
        }
    }
    if (c.batch < 1 || c.images < 1) {
        fprintf(stderr, "bench_attack: --batch and --images must be >= 1\n");
        return 2;
    }
    if (nm == 0) {
        models[nm++] = "configs/models/madry.yaml";
        models[nm++] = "configs/models/cleverhans.yaml";
    }
    bench_print_cpu();
    printf("| model | device | batch | images | FGSM s | PGD-40 s | PGD image-gradients/s |\n"
           "|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < nm; i++) {
        foil_err err;
        if (bench_model(models[i], &c, &err)) {
            fprintf(stderr, "bench_attack: %s\n", err.msg);
            return 1;
        }
    }
    return 0;
}
