/* foil run over several models (`models`), on synthetic data with a tiny
 * model: two recipes (natural and PGD-AT) and a bare model trained with the
 * study's train section. Each model's folder is a whole run; an entry
 * trains exactly as `foil train -c RECIPE` does (the same parameters, the
 * same epoch log); the side-by-side report names every model and references
 * only files beside it; a second run reuses every step, a changed attack key
 * redoes the sweeps and no training; report.compare adds each method's
 * heatmap rows under every model; a bad list is a one-line error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "foil/checkpoint.h"
#include "synth.h"
#include "testutil.h"

static const char TINY[] =
    "name: tiny\n"
    "input: [1, 28, 28]\n"
    "classes: 10\n"
    "layers:\n"
    "  - conv2d: {filters: 4, kernel: 5, stride: 2, padding: same}\n"
    "  - relu\n"
    "  - maxpool: {size: 2}\n"
    "  - flatten\n"
    "  - dense: {units: 10}\n";

static const char NATURAL[] =
    "name: natural_recipe\nseed: 3\nmodel: tiny.yaml\n"
    "train: {epochs: 2, batch_size: 32, optimizer: adam, lr: 0.01}\n";

static const char ROBUST[] =
    "name: robust_recipe\nseed: 4\nmodel: tiny.yaml\n"
    "train:\n  epochs: 2\n  batch_size: 32\n  optimizer: adam\n  lr: 0.01\n"
    "  adversarial: {mode: pgd, eps: 0.1, steps: 2, eval_steps: 2, eval_images: 50}\n";

static const char BAD_RECIPE[] =
    "name: bad\nmodel: tiny.yaml\ntrain: {epochs: 0}\n";

static const char STUDY[] =
    "name: pair\n"
    "seed: 5\n"
    "device: cpu\n"
    "train: {epochs: 1, batch_size: 32, optimizer: adam, lr: 0.01}\n"
    "models:\n"
    "  - natural: natural.yaml\n"
    "  - robust: {recipe: robust.yaml}\n"
    "  - bare: {model: tiny.yaml, seed: 9}\n"
    "attack:\n"
    "  batch_size: 100\n"
    "  eps: [0, 0.1, 0.3]\n"
    "  attacks:\n"
    "    - fgsm\n"
    "    - pgd: {steps: 3, step: 0.1, label: pgd3}\n"
    "  examples: 2\n"
    "explain: {steps: 8, images: 4, batch: 4, chunk: 8}\n"
    "report: {grid_eps: 1}\n";

static const char *const LABELS[] = {"natural", "robust", "bare"};

static char *slurp2(const char *dir, const char *rel) {
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return tu_slurp(path, NULL);
}

/* A top-level number of a JSON file (NaN when absent). */
static double json_number(const char *dir, const char *rel, const char *key) {
    char *text = slurp2(dir, rel);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const cJSON *v = cJSON_GetObjectItem(o, key);
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(o);
    free(text);
    return x;
}

static int count(const char *text, const char *what) {
    int n = 0;
    for (const char *p = text ? strstr(text, what) : NULL; p; p = strstr(p + 1, what)) n++;
    return n;
}

/* The SHA-256 of a checkpoint's tensor data (its metadata), into out. */
static void digest(const char *path, char *out, size_t cap) {
    foil_safetensors st;
    foil_err e;
    out[0] = 0;
    if (foil_st_read(path, &st, &e) != 0) return;
    const char *d = foil_st_meta(&st, FOIL_ST_DIGEST_KEY);
    snprintf(out, cap, "%s", d ? d : "");
    foil_st_free(&st);
}

static void check_outputs(const char *dir, const char *out) {
    char want[1200], sub[1200];
    snprintf(want, sizeof want, "report: %s/report.html (3 models side by side)", dir);
    TU_CHECK(strstr(out, want) && strstr(out, "== model natural (1 of 3)") &&
                 strstr(out, "== model bare (3 of 3)"), "says what it runs and where: %s", out);
    for (int i = 0; i < 3; i++) {
        static const char *const FILES[] = {"study.yaml", "model.safetensors", "report.html",
                                            "sweep/sweep.json", "shift/shift.json",
                                            "explain/explain.csv"};
        for (int f = 0; f < 6; f++) {
            snprintf(sub, sizeof sub, "%s/models/%s/%s", dir, LABELS[i], FILES[f]);
            TU_CHECK(tu_exists(sub), "%s", sub);
        }
    }
    char *m = slurp2(dir, "models/robust/metrics.json"), *n = slurp2(dir, "models/natural/metrics.json");
    TU_CHECK(m && strstr(m, "\"robust_accuracy\"") && strstr(m, "\"adversarial\""),
             "the robust entry trained adversarially (its recipe's train section)");
    TU_CHECK(n && !strstr(n, "\"adversarial\""), "the natural entry trained naturally");
    free(m);
    free(n);
    char *bare = slurp2(dir, "models/bare/study.yaml");
    TU_CHECK(bare && strstr(bare, "seed: 9") && strstr(bare, "epochs: 1") &&
                 strstr(bare, "name: 'bare'"), "the bare model: its seed, the study's train section");
    TU_CHECK(json_number(dir, "models/bare/metrics.json", "epochs_run") == 1.0 &&
                 json_number(dir, "models/robust/metrics.json", "epochs_run") == 2.0,
             "the bare model trained one epoch (the study's), the robust one two (its recipe's)");
    free(bare);

    char *html = slurp2(dir, "report.html");
    TU_CHECK(html != NULL, "report.html");
    static const char *const KEYS[] = {"foil study: pair (3 models)", "id='attacks'",
                                       "id='recall'", "id='explain'", "id='shift'",
                                       "Robust accuracy vs eps (Linf), every model",
                                       "Accuracy under attack, side by side", "PGD-AT eps 0.1",
                                       "robust: pgd3", "bare: fgsm", "Tsipras", "</html>"};
    for (size_t k = 0; html && k < sizeof KEYS / sizeof *KEYS; k++)
        TU_CHECK(strstr(html, KEYS[k]) != NULL, "the page holds '%s'", KEYS[k]);
    for (int i = 0; html && i < 3; i++) {
        snprintf(sub, sizeof sub, "href='models/%s/report.html'", LABELS[i]);
        TU_CHECK(strstr(html, sub) != NULL, "links %s's own report", LABELS[i]);
    }
    int images = html ? tu_check_references(html, dir) : 0;
    TU_CHECK(images == 3 * 4, "the same 4 images' heatmaps under each model: %d (12)", images);
    free(html);
    char *md = slurp2(dir, "summary.md");
    TU_CHECK(md && strstr(md, "| natural | natural;") && strstr(md, "| robust | PGD-AT") &&
                 strstr(md, "| bare |") && strstr(md, "pgd3 eps 0.3"), "summary.md: %s",
             md ? md : "(missing)");
    free(md);
}

/* The robust entry against foil train of its recipe on the same data. */
static void check_same_training(const char *dir, const char *recipe, const char *data) {
    char alone[1024], args[4096], out[65536], a[1200], b[1200], why[256], da[80], db[80];
    tu_path(alone, sizeof alone, "alone");
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q", recipe, alone, data);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "foil train -c robust.yaml: %s", out);
    snprintf(a, sizeof a, "%s/model.safetensors", alone);
    snprintf(b, sizeof b, "%s/models/robust/model.safetensors", dir);
    digest(a, da, sizeof da);
    digest(b, db, sizeof db);
    TU_CHECK(da[0] && strcmp(da, db) == 0, "the study's robust model has foil train's "
             "parameters (%.12s vs %.12s)", da, db);
    snprintf(a, sizeof a, "%s/metrics.json", alone);
    snprintf(b, sizeof b, "%s/models/robust/metrics.json", dir);
    TU_CHECK(tu_same_epoch_log(a, b, why, sizeof why), "and its epoch log: %s", why);
}

static void check_rerun(const char *base, const char *dir) {
    char out[65536], args[8192], ckpt[1200], before[80], after[80];
    snprintf(ckpt, sizeof ckpt, "%s/models/natural/model.safetensors", dir);
    digest(ckpt, before, sizeof before);
    TU_CHECK(tu_run_logged(base, 0, 0, out, sizeof out) == 0, "second run: %s", out);
    TU_CHECK(count(out, "train: reusing") == 3 && count(out, "sweep: unchanged") == 3 &&
                 count(out, "shift: unchanged") == 3, "the second run reuses every step: %s", out);
    snprintf(args, sizeof args, "%s 'attack.eps=[0, 0.2]'", base);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "changed attack eps: %s", out);
    TU_CHECK(count(out, "train: reusing") == 3 && count(out, "sweep: unchanged") == 0,
             "an override reaches every model: sweeps redone, training kept: %s", out);
    digest(ckpt, after, sizeof after);
    TU_CHECK(before[0] && strcmp(before, after) == 0, "the checkpoint is untouched");
    char *html = slurp2(dir, "report.html");
    TU_CHECK(html && strstr(html, "<th>fgsm</th><td>0.2</td>") &&
                 !strstr(html, "<th>fgsm</th><td>0.1</td>"), "the page shows the new eps");
    free(html);
    /* report.compare: each method's heatmaps, one row per model, and its faithfulness */
    snprintf(args, sizeof args, "%s 'report.compare=[saliency]' report.compare_images=2 "
             "report.compare_shown=2", base);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "with report.compare: %s", out);
    html = slurp2(dir, "report.html");
    TU_CHECK(html && strstr(html, "Methods compared, under each model") &&
                 strstr(html, "robust: saliency, test image 1") &&
                 strstr(html, "Faithfulness of the compared methods under each model"),
             "the page compares the methods under each model");
    int images = html ? tu_check_references(html, dir) : 0;
    TU_CHECK(images == 3 * 2 + 3 * 2, "2 IG and 2 saliency heatmaps per model: %d (12)", images);
    free(html);
}

static void expect_error(const char *cfg, const char *data, const char *extra, const char *w1,
                         const char *w2) {
    char args[8192], out[65536], dir[1024];
    tu_path(dir, sizeof dir, "bad");
    snprintf(args, sizeof args, "run '%s' -o '%s' --data '%s' -q %s", cfg, dir, data, extra);
    int rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, w1, w2), "%s: exit %d, one line naming '%s': %s",
             extra, rc, w1, out);
    printf("%-60.60s -> %s", extra, out);
}

int main(void) {
    synth_dataset("synth", 600, 100);
    char data[1024], cfg[1024], dir[1024], base[4096], out[65536], recipe[1024], path[1024];
    tu_path(data, sizeof data, "synth");
    tu_write_file(path, sizeof path, "tiny.yaml", TINY, sizeof TINY - 1);
    tu_write_file(path, sizeof path, "natural.yaml", NATURAL, sizeof NATURAL - 1);
    tu_write_file(recipe, sizeof recipe, "robust.yaml", ROBUST, sizeof ROBUST - 1);
    tu_write_file(path, sizeof path, "bad_recipe.yaml", BAD_RECIPE, sizeof BAD_RECIPE - 1);
    tu_write_file(cfg, sizeof cfg, "study.yaml", STUDY, sizeof STUDY - 1);
    tu_path(dir, sizeof dir, "run");
    snprintf(base, sizeof base, "run '%s' -o '%s' --data '%s' -q", cfg, dir, data);
    int rc = tu_run_logged(base, 0, 0, out, sizeof out);
    TU_CHECK(rc == 0, "foil run with 3 models: exit %d: %s", rc, out);
    check_outputs(dir, out);
    check_same_training(dir, recipe, data);
    check_rerun(base, dir);

    /* the list from the command line (and a study name there): one model */
    char one[1024];
    tu_path(one, sizeof one, "one");
    snprintf(base, sizeof base, "run '%s' -o '%s' --data '%s' -q 'models=[{solo: natural.yaml}]' "
             "name=renamed", cfg, one, data);
    TU_CHECK(tu_run_logged(base, 0, 0, out, sizeof out) == 0 && strstr(out, "(1 model side by side)"),
             "models= on the command line: %s", out);
    char solo[1200];
    snprintf(solo, sizeof solo, "%s/models/solo/report.html", one);
    TU_CHECK(tu_exists(solo), "the command line's model ran: %s", solo);
    expect_error(cfg, data, "'models=[{a: natural.yaml}, {a: robust.yaml}]'", "label 'a'", "twice");
    expect_error(cfg, data, "'models=[{a: nothere.yaml}]'", "nothere.yaml", "not found");
    expect_error(cfg, data, "'models=[{a: {seed: 1}}]'", "models", "needs a recipe");
    expect_error(cfg, data, "'models=[{a: {recipe: natural.yaml, epochs: 3}}]'", "epochs", NULL);
    expect_error(cfg, data, "'models=[natural.yaml]'", "models", "LABEL: RECIPE");
    expect_error(cfg, data, "models=natural.yaml", "models", "list");
    expect_error(cfg, data, "'models=[{b: bad_recipe.yaml}]'", "model 'b'", "train.epochs");
    expect_error(cfg, data, "model=tiny.yaml", "model", "entry");
    expect_error(cfg, data, "'models=[{\"a b/c\": natural.yaml}]'", "models", "a b/c");
    return tu_finish("test_run_models");
}
