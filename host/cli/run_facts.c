/* foil run: the facts at the top of the report. The commit is the one the
 * binary was built from (cmake/commit.cmake writes foil_commit.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/strbuf.h"
#include "foil_commit.h"
#include "run.h"

static void train_metrics(const run_ctx *c, double *acc, int *ntrain, int *ntest) {
    char path[FOIL_PATH_MAX];
    foil_err e;
    char *text = foil_path(path, &e, "%s/metrics.json", c->rundir) ? NULL : run_read_text(path);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *a = cJSON_GetObjectItem(o, "test_accuracy"), *tr = cJSON_GetObjectItem(o, "train_images"),
                *te = cJSON_GetObjectItem(o, "test_images");
    *acc = cJSON_IsNumber(a) ? a->valuedouble : -1.0;
    *ntrain = cJSON_IsNumber(tr) ? tr->valueint : -1;
    *ntest = cJSON_IsNumber(te) ? te->valueint : -1;
    cJSON_Delete(o);
}

static void model_facts(const run_ctx *c, foil_report *r) {
    const foil_recipe *rp = &c->train->r;
    const foil_model_def *d = &c->train->model.def;
    double acc;
    int ntrain, ntest;
    train_metrics(c, &acc, &ntrain, &ntest);
    foil_report_fact_add(r, "model", "%s: %zu parameters, %d layers, input %dx%dx%d, %d classes (%s)",
                         d->name, c->train->model.nvalues, d->nlayers, d->in_c, d->in_h, d->in_w,
                         d->classes, rp->model_path[0] ? rp->model_path : "inline definition");
    if (ntrain >= 0)
        foil_report_fact_add(r, "data", "%s: %d training / %d test images", rp->data_dir, ntrain, ntest);
    else
        foil_report_fact_add(r, "data", "%s", rp->data_dir);
    char decay[64] = "";
    if (rp->lr_decay != 1.0)
        snprintf(decay, sizeof decay, " (x %g every %d epoch(s))", rp->lr_decay, rp->lr_decay_epochs);
    foil_report_fact_add(r, "training", "%d epoch(s), %s, lr %g%s, batch %d, weight decay %g; "
                         "test accuracy after training %.4f", rp->epochs,
                         rp->optimizer == FOIL_OPT_ADAM ? "Adam" : "SGD", rp->lr, decay,
                         rp->batch_size, rp->weight_decay, acc);
}

static void method_facts(const run_ctx *c, foil_report *r) {
    if (c->sweep) {
        foil_strbuf labels = {0};
        for (int i = 0; i < c->sweep->nattacks; i++)
            foil_sb_put(&labels, "%s%s", i ? ", " : "", c->sweep->attacks[i].label);
        char images[32] = "all";
        if (c->sweep->test_limit) snprintf(images, sizeof images, "the first %d", c->sweep->test_limit);
        foil_report_fact_add(r, "attacks", "%s on %s test images (seed %llu)",
                             labels.s && !labels.failed ? labels.s : "", images,
                             (unsigned long long)c->sweep->seed);
        foil_sb_free(&labels);
    }
    if (c->explain) {
        const foil_explain_spec *s = &c->explain->c.spec;
        foil_report_fact_add(r, "explanations", "%s, %d points, %s rule, %s baseline, %s output",
                             foil_explain_method_name(s->method), s->steps, foil_quad_rule_name(s->rule),
                             foil_baseline_name(s->baseline), s->output == FOIL_TARGET_PROB ? "prob" : "logit");
    }
}

void run_report_facts(const run_ctx *c, foil_report *r) {
    foil_strbuf args = {0};
    for (int i = 0; i < c->a.over.n; i++) foil_sb_put(&args, " %s", c->a.over.v[i]);
    foil_report_fact_add(r, "study", "%s%s", c->a.config, args.s && !args.failed ? args.s : "");
    foil_sb_free(&args);
    foil_report_fact_add(r, "run folder", "%s", c->rundir);
    model_facts(c, r);
    method_facts(c, r);
    const char *dev = c->device[0] ? c->device : run_state_device(&c->st);
    foil_report_fact_add(r, "device", "%s (config: %s)", dev ? dev : "n/a", c->train->r.device);
    foil_report_fact_add(r, "precision", "%s", c->train->r.tf32 ? "tf32 (GPU convolutions and GEMMs)" : "fp32");
    foil_report_fact_add(r, "seed", "%llu", (unsigned long long)c->train->r.seed);
    foil_report_fact_add(r, "checkpoint", "model.safetensors (sha256 %.16s...)", c->ckpt_sha);
    foil_report_fact_add(r, "foil version", "%s", FOIL_VERSION);
    foil_report_fact_add(r, "commit", "%s%s", FOIL_BUILD_COMMIT,
                         FOIL_BUILD_DIRTY ? " (built with uncommitted changes)" : "");
}
