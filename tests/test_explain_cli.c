/* foil explain end to end on synthetic data with a randomly initialised
 * checkpoint: explain.csv (header, one row per image, complete IG), the
 * attributions file, PNG heatmaps that read back with the right size, the
 * resolved config, the flags, and one-line errors for bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/checkpoint.h"
#include "foil/image.h"
#include "foil/model.h"
#include "synth.h"
#include "testutil.h"

static const char HEADER[] = "index,label,predicted,target,f_x,f_baseline,attr_sum,"
                             "completeness_delta,relative_delta,steps";

enum { MAXROWS = 64, COLS = 10 };

typedef struct csv {
    int rows;
    double v[MAXROWS][COLS];
    int header_ok;
} csv;

static void read_csv(csv *c, const char *dir) {
    char path[1200], line[2048];
    snprintf(path, sizeof path, "%s/explain.csv", dir);
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f) return;
    if (fgets(line, sizeof line, f)) c->header_ok = strncmp(line, HEADER, strlen(HEADER)) == 0 &&
                                                    line[strlen(HEADER)] == '\n';
    while (c->rows < MAXROWS && fgets(line, sizeof line, f)) {
        char *p = line;
        for (int k = 0; k < COLS; k++) {
            c->v[c->rows][k] = strtod(p, &p);
            if (*p == ',') p++;
        }
        c->rows++;
    }
    fclose(f);
}

static int run(const char *fmt, const char *a, const char *b, const char *cc) {
    char args[8192], err[1024];
    snprintf(args, sizeof args, fmt, a, b, cc);
    int rc = tu_run_foil(args, err, sizeof err);
    if (rc != 0) fprintf(stderr, "foil %s -> %d: %s\n", args, rc, err);
    return rc;
}

static void make_checkpoint(char *path, size_t cap) {
    foil_model_def d = {.in_c = 1, .in_h = 28, .in_w = 28, .classes = 10, .nlayers = 5};
    snprintf(d.name, sizeof d.name, "tiny");
    d.layers[0] = (foil_layer_def){.kind = FOIL_LAYER_CONV2D, .filters = 4, .kernel_h = 5,
                                   .kernel_w = 5, .stride_h = 2, .stride_w = 2,
                                   .pad_mode = FOIL_PAD_SAME};
    d.layers[1] = (foil_layer_def){.kind = FOIL_LAYER_RELU};
    d.layers[2] = (foil_layer_def){.kind = FOIL_LAYER_MAXPOOL, .pool = 2, .pool_stride = 2};
    d.layers[3] = (foil_layer_def){.kind = FOIL_LAYER_FLATTEN};
    d.layers[4] = (foil_layer_def){.kind = FOIL_LAYER_DENSE, .units = 10};
    foil_model m;
    foil_err err;
    float *params = NULL;
    if (foil_model_build(&m, &d, &err) || !(params = malloc(sizeof(float) * m.nparams))) exit(1);
    foil_model_init_params(&m, params, 3);
    tu_path(path, cap, "tiny.safetensors");
    TU_CHECK(foil_model_save(path, &m, params, NULL, 0, &err) == 0, "%s", err.msg);
    free(params);
}

static void check_default_run(const char *model, const char *data) {
    char out[1024], path[1200];
    csv c;
    tu_path(out, sizeof out, "run1");
    TU_CHECK(run("explain -q -m '%s' -o '%s' --data '%s' --limit 5 --steps 16", model, out, data) == 0,
             "explain IG on 5 images");
    read_csv(&c, out);
    TU_CHECK(c.header_ok && c.rows == 5, "explain.csv: header and 5 rows (%d)", c.rows);
    /* A random network's logits are small, so F(x) - F(baseline) can be tiny
     * and the relative delta large; the absolute delta is what is bounded. */
    double worst = 0.0;
    for (int i = 0; i < c.rows; i++) {
        double fx = c.v[i][4], fb = c.v[i][5], delta = c.v[i][7], rel = c.v[i][8];
        worst = fmax(worst, fabs(delta));
        TU_CHECK(c.v[i][0] == i && c.v[i][3] == c.v[i][1] && c.v[i][9] == 16,
                 "row %d: index, target = label, steps", i);
        TU_CHECK(fabs(c.v[i][6] - (fx - fb) - delta) < 1e-6 &&
                     fabs(rel * fabs(fx - fb) - delta) < 1e-6, "row %d: the deltas add up", i);
    }
    printf("explain csv: 5 rows, max |completeness delta| at 16 steps %.2e\n", worst);
    TU_CHECK(worst < 5e-3, "IG is complete at 16 steps: |delta| %g", worst);
    foil_safetensors st;
    foil_err err;
    snprintf(path, sizeof path, "%s/attributions.safetensors", out);
    TU_CHECK(foil_st_read(path, &st, &err) == 0, "%s", err.msg);
    const foil_st_tensor *a = foil_st_find(&st, "attributions"), *ix = foil_st_find(&st, "indices");
    TU_CHECK(a && a->ndim == 4 && a->shape[0] == 5 && a->shape[1] == 1 && a->shape[2] == 28 &&
                 a->shape[3] == 28 && ix && ix->count == 5 && ix->data[4] == 4.0f,
             "attributions (5, 1, 28, 28) and indices");
    double sum = 0.0;
    for (size_t j = 0; a && j < 784; j++) sum += a->data[784 * 2 + j];
    TU_CHECK(fabs(sum - c.v[2][6]) < 1e-4 * fmax(1.0, fabs(sum)), "attributions sum to attr_sum");
    TU_CHECK(foil_st_meta(&st, "method") && !strcmp(foil_st_meta(&st, "method"), "ig"), "metadata");
    foil_st_free(&st);
    foil_image img = {0};
    snprintf(path, sizeof path, "%s/img_00003.png", out);
    TU_CHECK(foil_png_read(path, &img, &err) == 0 && img.w == 3 * 28 * 4 + 16 && img.h == 28 * 4 + 8,
             "heatmap PNG reads back at %dx%d: %s", img.w, img.h, err.msg);
    foil_image_free(&img);
    snprintf(path, sizeof path, "%s/config.yaml", out);
    FILE *f = fopen(path, "r");
    char text[4096] = {0};
    if (f) text[fread(text, 1, sizeof text - 1, f)] = 0, fclose(f);
    TU_CHECK(strstr(text, "gauss-legendre") && strstr(text, "steps: 16") && strstr(text, "images: 5"),
             "config.yaml holds the resolved config");
}

static void check_variants(const char *model, const char *data) {
    char out[1024], cfg[1024], base[1024], args[4096];
    csv c;
    tu_path(out, sizeof out, "run2");
    tu_source_path(cfg, sizeof cfg, "configs/explain/ig.yaml");
    snprintf(args, sizeof args, "explain -q -m '%%s' -o '%%s' --data '%%s' -c '%s' --indices 3,17 "
             "--rule trapezoid --baseline blur --target predicted", cfg);
    TU_CHECK(run(args, model, out, data) == 0, "the shipped config with flags");
    read_csv(&c, out);
    TU_CHECK(c.rows == 2 && c.v[0][0] == 3 && c.v[1][0] == 17 && c.v[1][3] == c.v[1][2] &&
                 c.v[0][9] == 64 && fabs(c.v[0][7]) < 5e-3, "--indices, predicted target, 64 steps");

    tu_path(out, sizeof out, "run3");
    TU_CHECK(run("explain -q -m '%s' -o '%s' --data '%s' --method smoothgrad --limit 2 "
                 "explain.smoothgrad.samples=2 explain.heatmaps=false", model, out, data) == 0,
             "smoothgrad");
    read_csv(&c, out);
    char png[1200];
    snprintf(png, sizeof png, "%s/img_00000.png", out);
    FILE *f = fopen(png, "rb");
    TU_CHECK(c.rows == 2 && isnan(c.v[0][8]) && c.v[0][9] == 1 && !f,
             "smoothgrad: no completeness, no heatmaps when off");
    if (f) fclose(f);

    float half[784];
    for (int j = 0; j < 784; j++) half[j] = 0.5f;
    tu_write_file(base, sizeof base, "half.f32", half, sizeof half);
    tu_path(out, sizeof out, "run4");
    snprintf(args, sizeof args, "explain -q -m '%%s' -o '%%s' --data '%%s' --baseline '%s' "
             "--method grad_x_input --target 7 --limit 3", base);
    TU_CHECK(run(args, model, out, data) == 0, "a baseline file");
    read_csv(&c, out);
    TU_CHECK(c.rows == 3 && c.v[2][3] == 7 && !isnan(c.v[2][8]), "given target, grad x input");
    char again[1024], a[1200], b[1200];
    tu_path(again, sizeof again, "run4c");
    TU_CHECK(run("explain -q -m '%s' -o '%s' --data '%s' --baseline 0.5 --method grad_x_input "
                 "--target 7 --limit 3", model, again, data) == 0, "a constant baseline");
    snprintf(a, sizeof a, "%s/explain.csv", out);
    snprintf(b, sizeof b, "%s/explain.csv", again);
    TU_CHECK(tu_same_file(a, b), "--baseline 0.5 gives the all-0.5 image's results");

    tu_path(out, sizeof out, "run5");
    TU_CHECK(run("explain -q -m '%s' -o '%s' --data '%s' --limit 2 --steps 2 --rule left "
                 "explain.tolerance=0.002 explain.max_steps=256", model, out, data) == 0,
             "adaptive steps");
    read_csv(&c, out);
    TU_CHECK(c.rows == 2 && c.v[0][9] > 2 && (fabs(c.v[0][8]) < 0.002 || c.v[0][9] == 256),
             "adaptive steps grow: %g steps, rel %g", c.v[0][9], c.v[0][8]);
}

/* A feature method through the command line: the extra columns, the
 * segments (I32) and feature weights in the safetensors file, and the
 * pixels carrying their feature's weight. */
static void check_feature_method(const char *model, const char *data) {
    char out[1024], path[1200];
    csv c;
    tu_path(out, sizeof out, "shap");
    TU_CHECK(run("explain -q -m '%s' -o '%s' --data '%s' --limit 3 --method kernelshap "
                 "explain.features.size=7", model, out, data) == 0, "explain kernelshap");
    snprintf(path, sizeof path, "%s/explain.csv", out);
    char *text = tu_slurp(path, NULL);
    TU_CHECK(text && strstr(text, ",steps,features,r2,intercept\n"), "feature columns");
    free(text);
    read_csv(&c, out);
    TU_CHECK(c.rows == 3, "3 rows (%d)", c.rows);
    for (int i = 0; i < c.rows; i++)
        TU_CHECK(fabs(c.v[i][7]) < 1e-4 * fmax(1.0, fabs(c.v[i][4])),
                 "row %d: KernelSHAP's completeness delta %g", i, c.v[i][7]);
    foil_safetensors st;
    foil_err err;
    snprintf(path, sizeof path, "%s/attributions.safetensors", out);
    TU_CHECK(foil_st_read(path, &st, &err) == 0, "%s", err.msg);
    const foil_st_tensor *seg = foil_st_find(&st, "segments"),
                         *fw = foil_st_find(&st, "feature_weights"),
                         *a = foil_st_find(&st, "attributions");
    TU_CHECK(seg && seg->i32 && seg->ndim == 3 && seg->shape[0] == 3 && seg->shape[1] == 28 &&
                 fw && !fw->i32 && fw->ndim == 2 && fw->shape[1] == 16 && a,
             "segments (3, 28, 28) I32 and feature_weights (3, 16)");
    size_t off = 0;
    for (size_t i = 0; seg && fw && a && i < 3 * 784; i++) {
        int32_t s;
        memcpy(&s, (const char *)seg->data + 4 * i, 4);
        off += a->data[i] != fw->data[(i / 784) * 16 + (size_t)s];
    }
    TU_CHECK(off == 0, "%zu pixels do not carry their feature's weight", off);
    foil_st_free(&st);
    tu_path(out, sizeof out, "faith");
    TU_CHECK(run("explain -q -m '%s' -o '%s' --data '%s' --limit 2 --steps 8 --faithfulness",
                 model, out, data) == 0, "explain --faithfulness");
    snprintf(path, sizeof path, "%s/explain.csv", out);
    text = tu_slurp(path, NULL);
    TU_CHECK(text && strstr(text, ",steps,deletion_auc,insertion_auc,infidelity,sensitivity_max\n") &&
                 !strstr(text, "nan"), "faithfulness columns, finite: %s", text ? text : "");
    free(text);
}

static int stderr_lines(void) {
    char path[1024], line[4096];
    tu_path(path, sizeof path, "last_stderr.txt");
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && fgets(line, sizeof line, f)) n += line[0] != '\n';
    if (f) fclose(f);
    return n;
}

static void expect_exit(int code, const char *what, const char *model, const char *data,
                        const char *flags, const char *word) {
    char args[4096], last[2048], out[1024];
    tu_path(out, sizeof out, "bad");
    snprintf(args, sizeof args, "explain -q --device cpu -m '%s' -o '%s' --data '%s' %s", model,
             out, data, flags);
    int rc = tu_run_foil(args, last, sizeof last);
    TU_CHECK(rc == code && stderr_lines() == 1 && strstr(last, word),
             "%s: exit %d (expected %d), %d lines, '%s' expected in: %s", what, rc, code,
             stderr_lines(), word, last);
    printf("%-24s -> %s\n", what, last);
}

/* Bad input: exit 1; command-line usage: exit 2. */
static void expect_error(const char *what, const char *model, const char *data, const char *flags,
                         const char *word) {
    expect_exit(1, what, model, data, flags, word);
}

int main(void) {
    synth_dataset("synth", 10, 40);
    char data[1024], model[1024], missing[1024];
    tu_path(data, sizeof data, "synth");
    make_checkpoint(model, sizeof model);
    check_default_run(model, data);
    check_variants(model, data);
    check_feature_method(model, data);
    expect_error("zero steps", model, data, "--steps 0", "explain.steps");
    expect_error("unknown rule", model, data, "--rule simpson", "simpson");
    expect_error("unknown baseline", model, data, "--baseline gray", "gray");
    expect_error("constant out of range", model, data, "--baseline 1.5", "explain.baseline");
    expect_error("index past the end", model, data, "--indices 5,40", "past the end");
    expect_exit(2, "bad indices", model, data, "--indices 1,,2", "--indices");
    expect_error("unknown key", model, data, "explain.colour=red", "explain.colour");
    expect_error("class past the end", model, data, "--target 12", "12");
    expect_error("one-step trapezoid", model, data, "--rule trapezoid --steps 1", "trapezoid");
    expect_error("LIME budget", model, data, "--method lime explain.samples=20", "explain.samples");
    expect_error("one segment", model, data, "--method ablation explain.features.size=28",
                 "explain.features");
    expect_error("unknown method", model, data, "--method lime_typo", "lime_typo");
    expect_error("mean baseline for IG", model, data, "--baseline mean", "mean");
    tu_path(missing, sizeof missing, "nope.safetensors");
    expect_error("missing checkpoint", missing, data, "", "nope.safetensors");
    char last[1024];
    TU_CHECK(tu_run_foil("explain -q -m x.safetensors", last, sizeof last) == 2 &&
                 strstr(last, "-o"), "no OUTDIR: %s", last);
    TU_CHECK(tu_run_foil("explain --help", last, sizeof last) == 0, "--help");
    return tu_finish("test_explain_cli");
}
