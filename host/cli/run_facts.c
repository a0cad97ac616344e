/* foil run: the facts at the top of the report, and the git commit of the
 * source tree read from .git (HEAD, the ref file or packed-refs). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

/* The first line of a file, without its newline. */
static int first_line(const char *path, char *out, size_t cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    if (!ok) return -1;
    out[strcspn(out, "\r\n")] = 0;
    return 0;
}

static int is_sha(const char *s) {
    int n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))) return 0;
    return n == 40;
}

/* <src>/.git, or where a .git file ("gitdir: X", worktrees) points. */
static int git_dir(const char *src, char *out, size_t cap) {
    char path[1100], line[1100];
    snprintf(path, sizeof path, "%s/.git/HEAD", src);
    if (run_file_exists(path)) return snprintf(out, cap, "%s/.git", src) >= (int)cap ? -1 : 0;
    snprintf(path, sizeof path, "%s/.git", src);
    if (first_line(path, line, sizeof line) || strncmp(line, "gitdir: ", 8) != 0) return -1;
    const char *d = line + 8;
    int n = d[0] == '/' ? snprintf(out, cap, "%s", d) : snprintf(out, cap, "%s/%s", src, d);
    return n >= (int)cap ? -1 : 0;
}

/* The sha of ref from <dir>/<ref> or <dir>/packed-refs. */
static int resolve_ref(const char *dir, const char *ref, char sha[41]) {
    char path[1400], line[1400];
    snprintf(path, sizeof path, "%s/%s", dir, ref);
    if (first_line(path, line, sizeof line) == 0 && is_sha(line)) {
        memcpy(sha, line, 41);
        return 0;
    }
    snprintf(path, sizeof path, "%s/packed-refs", dir);
    FILE *f = fopen(path, "r");
    int rc = -1;
    while (f && rc && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (strlen(line) > 41 && line[40] == ' ' && strcmp(line + 41, ref) == 0) {
            line[40] = 0;
            if (is_sha(line)) memcpy(sha, line, 41), rc = 0;
        }
    }
    if (f) fclose(f);
    return rc;
}

int run_git_commit(const char *source_dir, char sha[41], char *branch, size_t cap) {
    char dir[1100], head[1100], common[1100], path[2400];
    if (git_dir(source_dir, dir, sizeof dir)) return -1;
    snprintf(path, sizeof path, "%s/HEAD", dir);
    if (first_line(path, head, sizeof head)) return -1;
    snprintf(branch, cap, "%s", "");
    if (strncmp(head, "ref: ", 5) != 0) {
        if (!is_sha(head)) return -1;
        memcpy(sha, head, 41);
        return 0;
    }
    const char *ref = head + 5;
    snprintf(branch, cap, "%s", strncmp(ref, "refs/heads/", 11) == 0 ? ref + 11 : ref);
    if (resolve_ref(dir, ref, sha) == 0) return 0;
    snprintf(path, sizeof path, "%s/commondir", dir); /* a worktree's shared refs */
    if (first_line(path, common, sizeof common)) return -1;
    if (common[0] == '/') snprintf(path, sizeof path, "%s", common);
    else snprintf(path, sizeof path, "%s/%s", dir, common);
    return resolve_ref(path, ref, sha);
}

/* test_accuracy, train_images and test_images of metrics.json (NaN / -1 when absent). */
static void train_metrics(const run_ctx *c, double *acc, int *ntrain, int *ntest) {
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.json", c->rundir);
    char *text = run_read_text(path);
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
                         d->name, c->train->model.nparams, d->nlayers, d->in_c, d->in_h, d->in_w,
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
        char labels[256] = "";
        for (int i = 0; i < c->sweep->nattacks; i++)
            snprintf(labels + strlen(labels), sizeof labels - strlen(labels), "%s%s", i ? ", " : "",
                     c->sweep->attacks[i].label);
        char images[32] = "all";
        if (c->sweep->test_limit) snprintf(images, sizeof images, "the first %d", c->sweep->test_limit);
        foil_report_fact_add(r, "attacks", "%s on %s test images (seed %llu)", labels, images,
                             (unsigned long long)c->sweep->seed);
    }
    if (c->explain) {
        const foil_explain_spec *s = &c->explain->c.spec;
        foil_report_fact_add(r, "explanations", "%s, %d points, %s rule, %s baseline, %s output",
                             foil_explain_method_name(s->method), s->steps, foil_quad_rule_name(s->rule),
                             foil_baseline_name(s->baseline), s->output == FOIL_TARGET_PROB ? "prob" : "logit");
    }
}

void run_report_facts(const run_ctx *c, foil_report *r) {
    char args[464] = "";
    for (int i = 0; i < c->a.nover; i++)
        snprintf(args + strlen(args), sizeof args - strlen(args), " %s", c->a.over[i]);
    foil_report_fact_add(r, "study", "%s%s", c->a.config, args);
    foil_report_fact_add(r, "run folder", "%s", c->rundir);
    model_facts(c, r);
    method_facts(c, r);
    const char *dev = c->device[0] ? c->device : run_state_device(&c->st);
    foil_report_fact_add(r, "device", "%s (config: %s)", dev ? dev : "n/a", c->train->r.device);
    foil_report_fact_add(r, "precision", "%s", c->train->r.tf32 ? "tf32 (GPU convolutions and GEMMs)" : "fp32");
    foil_report_fact_add(r, "seed", "%llu", (unsigned long long)c->train->r.seed);
    foil_report_fact_add(r, "checkpoint", "model.safetensors (sha256 %.16s...)", c->ckpt_sha);
    foil_report_fact_add(r, "foil version", "%s", FOIL_VERSION);
    char sha[41], branch[256];
    if (run_git_commit(FOIL_SOURCE_DIR, sha, branch, sizeof branch) == 0)
        foil_report_fact_add(r, "commit", "%s%s%s%s", sha, branch[0] ? " (" : "", branch,
                             branch[0] ? ")" : "");
    else
        foil_report_fact_add(r, "commit", "unknown (no git checkout at %s)", FOIL_SOURCE_DIR);
}
