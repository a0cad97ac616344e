/* Whole algorithms on the GPU against the CPU reference (skipped without a
 * GPU): a training run from the same initial weights (loss curve and final
 * weights), a GPU-trained checkpoint evaluated on the CPU (per image, on
 * inputs half noise, where the model is unsure: the predictions must agree
 * but many are near ties, so the check can fail), PGD with a fixed
 * seed (adversarial predictions and perturbations), and eps = 0 giving the
 * clean predictions exactly. Tolerances (fp32, TF32 off):
 *   - epoch losses within 1e-3 relative, final weights NMSE < 1e-6: float
 *     summation order differs (cuDNN/cuBLAS vs OpenBLAS) and training
 *     amplifies it a little over ~100 steps;
 *   - PGD: >= 99.5% of samples get the same adversarial prediction, and
 *     >= 99% of pixels the same value to 1e-5 (a sign flip of a near-zero
 *     gradient moves a pixel by a whole step, so a few may differ);
 *   - explanations (IG with Gauss-Legendre and trapezoid rules, black and
 *     uniform baselines, gradient x input, SmoothGrad): attributions NMSE
 *     < 1e-8 and each within 1e-4 + 1e-2 relative, F(x), F(baseline) and the
 *     attribution sums within 1e-4 + 1e-4 relative: the same seeded noise
 *     and baselines on both, only the summation order differs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/checkpoint.h"
#include "foil/explain.h"
#include "foil/model_def.h"
#include "foil/train.h"
#include "parity.h"
#include "synth.h"

static const char MODEL[] =
    "name: tiny\ninput: [1, 28, 28]\nclasses: 10\nlayers:\n"
    "  - conv2d: {filters: 8, kernel: 5, stride: 1, padding: same}\n  - relu\n"
    "  - maxpool: {size: 2}\n  - conv2d: {filters: 8, kernel: 4, stride: 2, padding: same}\n"
    "  - relu\n  - dropout: {rate: 0.25}\n  - flatten\n  - dense: {units: 32}\n  - relu\n"
    "  - dense: {units: 10}\n";

typedef struct run {
    foil_backend *b;
    foil_net net;
    foil_device_data train, test;
    foil_train_result res;
} run;

static void load_model(foil_model *m) {
    char path[1024];
    foil_err err;
    tu_write_file(path, sizeof path, "tiny_model.yaml", MODEL, strlen(MODEL));
    foil_model_def def;
    TU_CHECK(foil_model_def_load(&def, path, &err) == 0 && foil_model_build(m, &def, &err) == 0,
             "model: %s", err.msg);
}

static void start(run *r, foil_backend *b, const foil_model *m, const foil_dataset *tr,
                  const foil_dataset *te, const float *init) {
    foil_err err;
    r->b = b;
    TU_CHECK(foil_net_create(&r->net, m, b, 100, &err) == 0, "net: %s", err.msg);
    TU_CHECK(foil_device_data_upload(&r->train, b, tr, &err) == 0 &&
                 foil_device_data_upload(&r->test, b, te, &err) == 0, "data: %s", err.msg);
    TU_CHECK(b->upload(b, r->net.params, init, m->nparams * sizeof(float)) == 0,
             "%s: initial weights: %s", b->name, b->err.msg);
}

static void train(run *r, const foil_recipe *rec, const char *dir) {
    char out[1024];
    foil_err err;
    tu_path(out, sizeof out, dir);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", out);
    TU_CHECK(system(cmd) == 0, "mkdir");
    foil_train_options opt = {.outdir = out, .resolved_config = ""};
    TU_CHECK(foil_train(rec, &r->net, &r->train, &r->test, &opt, &r->res, &err) == 0,
             "%s training: %s", r->b->name, err.msg);
}

static void finish(run *r) {
    foil_net_destroy(&r->net);
    foil_device_data_free(&r->train, r->b);
    foil_device_data_free(&r->test, r->b);
}

static void test_training(foil_backend *cpu, foil_backend *gpu, const foil_model *m,
                          const foil_dataset *tr, const foil_dataset *te) {
    printf("training: 2 epochs of %d images, same initial weights\n", tr->n);
    float *init = malloc(m->nparams * sizeof(float));
    foil_model_init_params(m, init, 17);
    foil_recipe rec = {.epochs = 2, .batch_size = 50, .eval_batch = 100,
                       .optimizer = FOIL_OPT_ADAM, .lr = 2e-3, .beta1 = 0.9, .beta2 = 0.999,
                       .eps = 1e-8, .lr_decay = 1.0, .lr_decay_epochs = 1, .seed = 5};
    run c = {0}, g = {0};
    start(&c, cpu, m, tr, te, init);
    start(&g, gpu, m, tr, te, init);
    train(&c, &rec, "cpu_run");
    train(&g, &rec, "gpu_run");
    for (int e = 0; e < c.res.epochs_run; e++) {
        double lc = c.res.epoch_loss[e], lg = g.res.epoch_loss[e];
        printf("  epoch %d: loss cpu %.6f gpu %.6f, accuracy cpu %.4f gpu %.4f\n", e + 1, lc, lg,
               c.res.epoch_accuracy[e], g.res.epoch_accuracy[e]);
        TU_CHECK(fabs(lc - lg) <= 1e-3 * fabs(lc), "epoch %d loss %g vs %g", e + 1, lc, lg);
    }
    float *wc = malloc(m->nparams * sizeof(float));
    TU_CHECK(cpu->download(cpu, wc, c.net.params, m->nparams * sizeof(float)) == 0, "download");
    parity_check(gpu, "final weights", wc, g.net.params, m->nparams, 1e-3, 5e-2, 1e-6);

    /* The GPU's checkpoint on the CPU predicts what the GPU predicts. On the
     * clean synthetic test set both are 100% right, which proves nothing,
     * so the images are half uniform noise: accuracy falls to where many
     * predictions are near ties, and a flip shows. */
    char path[1200];
    float *params;
    foil_model m2;
    foil_err err;
    snprintf(path, sizeof path, "%s/gpu_run/model.safetensors", tu_tmpdir());
    TU_CHECK(foil_model_load(path, &m2, &params, NULL, NULL, &err) == 0, "load: %s", err.msg);
    TU_CHECK(cpu->upload(cpu, c.net.params, params, m->nparams * sizeof(float)) == 0, "upload");
    foil_dataset noisy = *te;
    size_t px = (size_t)te->n * te->rows * te->cols;
    noisy.images = malloc(sizeof(float) * px);
    for (size_t i = 0; i < px; i++)
        noisy.images[i] = 0.5f * te->images[i] + 0.5f * foil_rng_uniform(77, 3, i);
    foil_device_data dc, dg;
    int32_t *pc = malloc(sizeof(int32_t) * (size_t)te->n), *pg = malloc(sizeof(int32_t) * (size_t)te->n);
    TU_CHECK(foil_device_data_upload(&dc, cpu, &noisy, &err) == 0 &&
                 foil_device_data_upload(&dg, gpu, &noisy, &err) == 0, "noisy data: %s", err.msg);
    TU_CHECK(foil_predict(&c.net, &dc, pc, NULL, &err) == 0 &&
                 foil_predict(&g.net, &dg, pg, NULL, &err) == 0, "%s", err.msg);
    long right = 0, differ = 0;
    for (int i = 0; i < te->n; i++) right += pg[i] == te->labels[i], differ += pc[i] != pg[i];
    double acc = (double)right / te->n;
    printf("  GPU checkpoint on half-noise images: accuracy %.4f on the GPU, %ld of %d "
           "predictions differ on the CPU\n", acc, differ, te->n);
    TU_CHECK(acc > 0.2 && acc < 0.97, "the noisy set must be hard enough to test: accuracy %.4f",
             acc);
    /* +/- 0.05 pp (issue 5): one near-tie flip in 2000 images */
    TU_CHECK(differ <= (te->n + 1999) / 2000, "GPU-trained checkpoint on the CPU: %ld of %d "
             "predictions differ", differ, te->n);
    foil_device_data_free(&dc, cpu);
    foil_device_data_free(&dg, gpu);
    free(noisy.images);
    free(pc);
    free(pg);
    free(params);
    free(wc);
    free(init);
    finish(&c);
    finish(&g);
}

static void attack_both(foil_backend *cpu, foil_backend *gpu, const foil_model *m,
                        const foil_dataset *te, const float *params, const foil_attack_spec *s,
                        float *adv_c, float *adv_g_host, int32_t *pc, int32_t *pg) {
    foil_backend *bs[2] = {cpu, gpu};
    for (int k = 0; k < 2; k++) {
        foil_backend *b = bs[k];
        foil_net net;
        foil_attack_work w;
        foil_device_data d;
        foil_err err;
        TU_CHECK(foil_net_create(&net, m, b, te->n, &err) == 0 &&
                     foil_attack_work_create(&w, &net, &err) == 0 &&
                     foil_device_data_upload(&d, b, te, &err) == 0, "%s", err.msg);
        TU_CHECK(b->upload(b, net.params, params, m->nparams * sizeof(float)) == 0, "%s: %s",
                 b->name, b->err.msg);
        float *adv = foil_alloc_floats(b, (size_t)te->n * m->in_size);
        TU_CHECK(foil_attack_run(&net, &w, s, adv, d.images, d.labels, te->n, 0, NULL, &err) == 0,
                 "%s attack: %s", b->name, err.msg);
        const float *logits = NULL;
        int32_t *pred = b->alloc(b, sizeof(int32_t) * (size_t)te->n);
        TU_CHECK(foil_net_forward(&net, adv, te->n, 0, 0, 0, &logits, &err) == 0 && pred &&
                     b->argmax(b, pred, logits, te->n, m->def.classes) == 0 &&
                     b->download(b, k ? pg : pc, pred, sizeof(int32_t) * (size_t)te->n) == 0 &&
                     b->download(b, k ? adv_g_host : adv_c, adv,
                                 sizeof(float) * (size_t)te->n * m->in_size) == 0,
                 "%s: predictions on the adversarial images: %s / %s", b->name, err.msg,
                 b->err.msg);
        b->free(b, pred);
        b->free(b, adv);
        foil_device_data_free(&d, b);
        foil_attack_work_destroy(&w, b);
        foil_net_destroy(&net);
    }
}

static void test_pgd(foil_backend *cpu, foil_backend *gpu, const foil_model *m,
                     const foil_dataset *te) {
    float *params = malloc(m->nparams * sizeof(float));
    foil_model_init_params(m, params, 23);
    size_t total = (size_t)te->n * m->in_size;
    float *ac = malloc(total * sizeof(float)), *ag = malloc(total * sizeof(float));
    int32_t *pc = malloc(sizeof(int32_t) * (size_t)te->n), *pg = malloc(sizeof(int32_t) * (size_t)te->n);
    const float eps[2] = {0.0f, 0.1f};
    for (int e = 0; e < 2; e++) {
        foil_attack_spec s = {.kind = FOIL_ATTACK_PGD, .eps = eps[e], .step = 0.01f, .steps = 20,
                              .random_start = 1, .restarts = 2, .seed = 3};
        attack_both(cpu, gpu, m, te, params, &s, ac, ag, pc, pg);
        int same = 0;
        size_t close = 0;
        for (int i = 0; i < te->n; i++) same += pc[i] == pg[i];
        for (size_t j = 0; j < total; j++) close += fabsf(ac[j] - ag[j]) <= 1e-5f;
        printf("PGD-20 eps %.2f: %d of %d predictions agree, %.4f of pixels within 1e-5\n",
               (double)eps[e], same, te->n, (double)close / total);
        /* eps 0: the images stay the originals on both backends; predictions
         * may still differ on a near-tie of the (untrained) logits */
        if (eps[e] == 0.0f) TU_CHECK(close == total, "eps 0: the images are the originals");
        TU_CHECK(same >= te->n * 995 / 1000, "PGD predictions agree on %d of %d", same, te->n);
        TU_CHECK(close >= total * 99 / 100, "PGD pixels agree: %zu of %zu", close, total);
    }
    free(params);
    free(ac);
    free(ag);
    free(pc);
    free(pg);
}

/* Attributions of the first n test images on one backend (host copies). */
static void explain_on(foil_backend *b, const foil_model *m, const foil_dataset *te,
                       const float *params, const foil_explain_spec *s, int n, float *attr_host,
                       foil_explain_stats *stats) {
    foil_net net;
    foil_explain_work *w = NULL;
    foil_err err;
    size_t in = m->in_size;
    TU_CHECK(foil_net_create(&net, m, b, 64, &err) == 0 &&
                 foil_explain_work_create(&w, &net, n, &err) == 0, "%s: %s", b->name, err.msg);
    TU_CHECK(b->upload(b, net.params, params, m->nparams * sizeof(float)) == 0, "%s: %s",
             b->name, b->err.msg);
    float *x = foil_alloc_floats(b, (size_t)n * in), *attr = foil_alloc_floats(b, (size_t)n * in);
    TU_CHECK(x && attr && b->upload(b, x, te->images, sizeof(float) * (size_t)n * in) == 0,
             "%s: %s", b->name, b->err.msg);
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    for (int i = 0; i < n; i++) labels[i] = te->labels[i];
    TU_CHECK(foil_explain_batch(w, s, attr, x, labels, NULL, n, stats, &err) == 0 &&
                 b->download(b, attr_host, attr, sizeof(float) * (size_t)n * in) == 0,
             "%s explain: %s / %s", b->name, err.msg, b->err.msg);
    free(labels);
    b->free(b, x);
    b->free(b, attr);
    foil_explain_work_destroy(w);
    foil_net_destroy(&net);
}

static void test_explain(foil_backend *cpu, foil_backend *gpu, const foil_model *m,
                         const foil_dataset *te) {
    float *params = malloc(m->nparams * sizeof(float));
    foil_model_init_params(m, params, 29);
    const int n = 12;
    size_t total = (size_t)n * m->in_size;
    const foil_explain_spec specs[] = {
        {.method = FOIL_EXPLAIN_IG, .output = FOIL_TARGET_LOGIT, .steps = 32,
         .rule = FOIL_RULE_GAUSS_LEGENDRE, .baseline = FOIL_BASELINE_BLACK, .seed = 4},
        {.method = FOIL_EXPLAIN_IG, .output = FOIL_TARGET_PROB, .steps = 20, .chunk = 7,
         .rule = FOIL_RULE_TRAPEZOID, .baseline = FOIL_BASELINE_UNIFORM, .seed = 4},
        {.method = FOIL_EXPLAIN_GRAD_X_INPUT, .output = FOIL_TARGET_LOGIT,
         .baseline = FOIL_BASELINE_BLACK, .seed = 4},
        {.method = FOIL_EXPLAIN_SMOOTHGRAD, .output = FOIL_TARGET_LOGIT, .smooth_samples = 8,
         .smooth_sigma = 0.15f, .seed = 4},
    };
    const char *names[] = {"IG-32 gauss-legendre black logit", "IG-20 trapezoid uniform prob",
                           "grad x input", "SmoothGrad-8"};
    float *ac = malloc(total * sizeof(float)), *ag = malloc(total * sizeof(float));
    foil_explain_stats sc[12], sg[12];
    for (int k = 0; k < 4; k++) {
        foil_err err;
        TU_CHECK(foil_explain_spec_check(&specs[k], &err) == 0, "%s: %s", names[k], err.msg);
        explain_on(cpu, m, te, params, &specs[k], n, ac, sc);
        explain_on(gpu, m, te, params, &specs[k], n, ag, sg);
        float *dg = parity_upload(gpu, ag, total * sizeof(float));
        parity_check(gpu, names[k], ac, dg, total, 1e-4, 1e-2, 1e-8);
        gpu->free(gpu, dg);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            const float c3[3] = {sc[i].f_x, sc[i].f_baseline, sc[i].attr_sum};
            const float g3[3] = {sg[i].f_x, sg[i].f_baseline, sg[i].attr_sum};
            for (int j = 0; j < 3; j++) {
                double e = fabs((double)c3[j] - g3[j]) / (1e-4 + 1e-4 * fabs((double)c3[j]));
                if (e > worst) worst = e;
            }
            TU_CHECK(sc[i].steps == sg[i].steps, "%s image %d: %d vs %d steps", names[k], i,
                     sc[i].steps, sg[i].steps);
        }
        printf("  %s: F(x), F(baseline), sum(attr): worst error %.3f of the tolerance\n",
               names[k], worst);
        TU_CHECK(worst <= 1.0, "%s: per-image values differ beyond 1e-4 + 1e-4 relative",
                 names[k]);
    }
    free(ac);
    free(ag);
    free(params);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* the CPU oracle on OpenBLAS's kernels for this CPU, as foil runs */
    foil_backend *gpu = parity_gpu_or_skip();
    foil_err err;
    foil_backend *cpu = foil_backend_cpu_create(&err);
    if (!cpu) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    synth_dataset("synth", 600, 2000);
    char dir[1024];
    tu_path(dir, sizeof dir, "synth");
    foil_dataset tr, te;
    TU_CHECK(foil_dataset_load(&tr, dir, "train", 0, &err) == 0 &&
                 foil_dataset_load(&te, dir, "t10k", 0, &err) == 0, "data: %s", err.msg);
    foil_model m;
    load_model(&m);
    test_training(cpu, gpu, &m, &tr, &te);
    /* FOIL_PARITY_PGD_IMAGES: fewer images for PGD on slow runners (the
     * CUDA emulator under ASan); default all 2000 */
    foil_dataset pgd_set = te;
    const char *pgd_n = getenv("FOIL_PARITY_PGD_IMAGES");
    if (pgd_n && atoi(pgd_n) > 0 && atoi(pgd_n) < te.n) pgd_set.n = atoi(pgd_n);
    test_pgd(cpu, gpu, &m, &pgd_set);
    printf("explanations of %d images, same weights\n", 12);
    test_explain(cpu, gpu, &m, &te);
    foil_dataset_free(&tr);
    foil_dataset_free(&te);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return tu_finish("test_gpu_algorithms");
}
