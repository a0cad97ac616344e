/* No host round trip inside the attack and IG loops (issue 6): on the CUDA
 * emulator, which counts copies and synchronisations, PGD with 40 steps
 * copies to and from the host and waits for the GPU exactly as often as PGD
 * with 5 steps (restarts and MI-FGSM too), APGD with 100 iterations as
 * with 20 (its schedule stays on the device), and IG with 64 path points as
 * often as with 16, while the kernel launches grow with the steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/explain.h"
#include "foil/model_def.h"
#include "foil/train.h"
#include "foil_emu.h"
#include "parity.h"
#include "synth.h"

static const char MODEL[] =
    "name: tiny\ninput: [1, 28, 28]\nclasses: 10\nlayers:\n"
    "  - conv2d: {filters: 4, kernel: 3, padding: same}\n  - relu\n  - maxpool: {size: 2}\n"
    "  - flatten\n  - dense: {units: 10}\n";

typedef struct ctx {
    foil_backend *b;
    foil_model m;
    foil_net net;
    foil_device_data d;
    int n;
} ctx;

static foil_emu_counts since(const foil_emu_counts *a) {
    foil_emu_counts c;
    foil_emu_get_counts(&c);
    c.launches -= a->launches, c.to_device -= a->to_device, c.to_host -= a->to_host,
        c.syncs -= a->syncs;
    return c;
}

static foil_emu_counts attack(ctx *c, foil_attack_spec s) {
    foil_attack_work w;
    foil_err err;
    TU_CHECK(foil_attack_work_create(&w, &c->net, &err) == 0, "%s", err.msg);
    float *adv = foil_alloc_floats(c->b, (size_t)c->n * c->m.in_size);
    foil_emu_counts start;
    foil_emu_get_counts(&start);
    TU_CHECK(foil_attack_run(&c->net, &w, &s, adv, c->d.images, c->d.labels, c->n, 0, NULL,
                             &err) == 0, "attack: %s", err.msg);
    foil_emu_counts d = since(&start);
    c->b->free(c->b, adv);
    foil_attack_work_destroy(&w, c->b);
    return d;
}

static foil_emu_counts explain(ctx *c, int steps) {
    foil_explain_work *w = NULL;
    foil_err err;
    foil_explain_spec s = {.method = FOIL_EXPLAIN_IG, .output = FOIL_TARGET_LOGIT,
                           .steps = steps, .chunk = 4, .rule = FOIL_RULE_GAUSS_LEGENDRE,
                           .baseline = FOIL_BASELINE_BLACK};
    int n = 8;
    TU_CHECK(foil_explain_work_create(&w, &c->net, n, &err) == 0, "%s", err.msg);
    float *attr = foil_alloc_floats(c->b, (size_t)n * c->m.in_size);
    int32_t target[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    foil_explain_stats stats[8];
    foil_emu_counts start;
    foil_emu_get_counts(&start);
    TU_CHECK(foil_explain_batch(w, &s, attr, c->d.images, target, NULL, n, stats, &err) == 0,
             "IG: %s", err.msg);
    foil_emu_counts d = since(&start);
    c->b->free(c->b, attr);
    foil_explain_work_destroy(w);
    return d;
}

static void compare(const char *what, foil_emu_counts few, foil_emu_counts many) {
    printf("%-28s launches %6llu -> %6llu, to device %llu -> %llu, to host %llu -> %llu, "
           "syncs %llu -> %llu\n", what, (unsigned long long)few.launches,
           (unsigned long long)many.launches, (unsigned long long)few.to_device,
           (unsigned long long)many.to_device, (unsigned long long)few.to_host,
           (unsigned long long)many.to_host, (unsigned long long)few.syncs,
           (unsigned long long)many.syncs);
    TU_CHECK(many.launches > few.launches, "%s: more steps, more kernels", what);
    TU_CHECK(few.to_device == many.to_device && few.to_host == many.to_host &&
                 few.syncs == many.syncs,
             "%s: host round trips grow with the steps", what);
}

int main(void) {
    ctx c = {.b = parity_gpu_or_skip(), .n = 64};
    foil_err err;
    char path[1024], dir[1024];
    synth_dataset("synth", 10, c.n);
    tu_path(dir, sizeof dir, "synth");
    foil_dataset te;
    foil_model_def def;
    tu_write_file(path, sizeof path, "tiny.yaml", MODEL, strlen(MODEL));
    TU_CHECK(foil_dataset_load(&te, dir, "t10k", 0, &err) == 0 &&
                 foil_model_def_load(&def, path, &err) == 0 &&
                 foil_model_build(&c.m, &def, &err) == 0 &&
                 foil_net_create(&c.net, &c.m, c.b, c.n, &err) == 0 &&
                 foil_device_data_upload(&c.d, c.b, &te, &err) == 0,
             "setup: %s", err.msg);
    float *params = malloc(c.m.nparams * sizeof(float));
    foil_model_init_params(&c.m, params, 5);
    TU_CHECK(c.b->upload(c.b, c.net.params, params, c.m.nparams * sizeof(float)) == 0, "%s",
             c.b->err.msg);

    foil_attack_spec pgd = {.kind = FOIL_ATTACK_PGD, .eps = 0.1f, .step = 0.01f, .steps = 5,
                            .random_start = 1, .seed = 3};
    foil_attack_spec pgd40 = pgd;
    pgd40.steps = 40;
    foil_emu_counts first = attack(&c, pgd);
    printf("first PGD-5 (plans, workspace): syncs %llu\n", (unsigned long long)first.syncs);
    compare("PGD-Linf 5 vs 40 steps", attack(&c, pgd), attack(&c, pgd40));
    pgd.restarts = pgd40.restarts = 3;
    pgd.early_stop = pgd40.early_stop = 1;
    compare("PGD, 3 restarts, early stop", attack(&c, pgd), attack(&c, pgd40));
    pgd.kind = pgd40.kind = FOIL_ATTACK_MIFGSM;
    pgd.restarts = pgd40.restarts = 1;
    compare("MI-FGSM 5 vs 40 steps", attack(&c, pgd), attack(&c, pgd40));
    pgd.kind = pgd40.kind = FOIL_ATTACK_PGD_L2;
    pgd.eps = pgd40.eps = 2.0f;
    compare("PGD-L2 5 vs 40 steps", attack(&c, pgd), attack(&c, pgd40));
    /* APGD keeps its per-sample schedule on the device; APGD-T picks its
     * targets once per run */
    foil_attack_spec ap = {.kind = FOIL_ATTACK_APGD_CE, .eps = 0.1f, .steps = 20,
                           .random_start = 1, .restarts = 1, .seed = 3, .target_classes = 2};
    foil_attack_spec ap100 = ap;
    ap100.steps = 100;
    compare("APGD-CE 20 vs 100 steps", attack(&c, ap), attack(&c, ap100));
    ap.kind = ap100.kind = FOIL_ATTACK_APGD_T;
    compare("APGD-T (2 targets) 20 vs 100 steps", attack(&c, ap), attack(&c, ap100));
    ap.kind = ap100.kind = FOIL_ATTACK_APGD_DLR;
    ap.norm = ap100.norm = FOIL_NORM_L2;
    ap.eps = ap100.eps = 2.0f;
    compare("APGD-DLR-L2 20 vs 100 steps", attack(&c, ap), attack(&c, ap100));
    compare("IG 16 vs 64 points", explain(&c, 16), explain(&c, 64));

    free(params);
    foil_device_data_free(&c.d, c.b);
    foil_net_destroy(&c.net);
    foil_dataset_free(&te);
    c.b->destroy(c.b);
    return tu_finish("test_emu_roundtrips");
}
