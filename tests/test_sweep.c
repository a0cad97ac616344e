/* foil attack end to end on synthetic data: sweep.csv has the documented
 * columns and one row per attack x eps, eps = 0 gives the clean accuracy,
 * PGD lowers accuracy, example grids and the IDX export read back, and bad
 * sweep configs get one-line errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/data.h"
#include "foil/image.h"
#include "synth.h"
#include "testutil.h"

static const char RECIPE[] =
    "name: tiny\nseed: 5\nmodel:\n  input: [1, 28, 28]\n  layers:\n"
    "    - conv2d: {filters: 4, kernel: 5, stride: 2, padding: same}\n    - relu\n"
    "    - flatten\n    - dense: {units: 10}\n"
    "train: {epochs: 2, batch_size: 32, lr: 0.003}\n";

static const char SWEEP[] =
    "name: s\nseed: 1\nbatch_size: 64\neps: [0, 0.1, 0.3]\n"
    "attacks:\n  - fgsm\n  - pgd: {steps: 10, step: 0.05, label: pgd10}\n"
    "  - pgd_l2: {steps: 5, eps: [0, 3]}\nexamples: [0, 5, 99]\nsave_idx: true\n";

/* Splits a CSV line in place; returns the number of fields. */
static int split(char *line, char **fields, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        fields[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    char *nl = strchr(fields[n - 1], '\n');
    if (nl) *nl = 0;
    return n;
}

static int column(char **header, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(header[i], name) == 0) return i;
    return -1;
}

static void check_csv(const char *path) {
    FILE *f = fopen(path, "r");
    TU_CHECK(f != NULL, "%s exists", path);
    if (!f) return;
    char hline[4096], line[4096], *h[64], *v[64];
    int nh = fgets(hline, sizeof hline, f) ? split(hline, h, 64) : 0;
    const char *need[] = {"attack", "eps", "accuracy", "macro_recall", "success_rate", "linf_max",
                          "l2_mean", "recall_0", "recall_9"};
    for (int i = 0; i < 9; i++) TU_CHECK(column(h, nh, need[i]) >= 0, "column %s", need[i]);
    int ca = column(h, nh, "attack"), ce = column(h, nh, "eps"), cacc = column(h, nh, "accuracy");
    int rows = 0;
    double acc[8] = {0}, clean = -1;
    while (fgets(line, sizeof line, f) && rows < 8) {
        int nv = split(line, v, 64);
        TU_CHECK(nv == nh, "row %d has %d fields, header %d", rows, nv, nh);
        for (int i = 0; i < nv; i++)
            if (strncmp(h[i], "recall_", 7) == 0 || !strcmp(h[i], "accuracy") ||
                !strcmp(h[i], "success_rate"))
                TU_CHECK(atof(v[i]) >= 0 && atof(v[i]) <= 1, "%s in [0, 1]", h[i]);
        acc[rows] = atof(v[cacc]);
        if (atof(v[ce]) == 0 && clean < 0) clean = acc[rows];
        if (atof(v[ce]) == 0) TU_CHECK(acc[rows] == clean, "eps 0 gives the clean accuracy");
        if (rows == 3) TU_CHECK(!strcmp(v[ca], "pgd"), "attack names are lower case: %s", v[ca]);
        rows++;
    }
    fclose(f);
    TU_CHECK(rows == 8, "3 + 3 + 2 rows, got %d", rows);
    printf("clean %.3f, fgsm@0.3 %.3f, pgd10@0.3 %.3f, pgd_l2@3 %.3f\n", clean, acc[2], acc[5], acc[7]);
    TU_CHECK(acc[5] < clean && acc[5] <= acc[2] + 0.05, "PGD lowers accuracy, at least as much as FGSM");
}

static void check_files(const char *out) {
    char path[2048];
    foil_image img = {0};
    foil_err err;
    snprintf(path, sizeof path, "%s/examples/pgd10_eps0.300.png", out);
    TU_CHECK(foil_png_read(path, &img, &err) == 0, "example grid reads back: %s", err.msg);
    TU_CHECK(img.w > 3 * 28 && img.h > 3 * 28, "grid %dx%d holds 3 rows of 3 images", img.w, img.h);
    foil_image_free(&img);
    snprintf(path, sizeof path, "%s/examples/index.csv", out);
    FILE *f = fopen(path, "r");
    int lines = 0;
    char line[1024];
    while (f && fgets(line, sizeof line, f)) lines++;
    if (f) fclose(f);
    TU_CHECK(lines == 1 + 8 * 3, "index.csv: header and 3 examples per grid, got %d lines", lines);
    float *px = NULL;
    int n, r, c;
    snprintf(path, sizeof path, "%s/adversarial/fgsm_eps0.300-images-idx3-ubyte", out);
    TU_CHECK(foil_idx_read_images(path, 0, &px, &n, &r, &c, &err) == 0 && n == 120 && r == 28,
             "adversarial IDX reads back: %s", err.msg);
    free(px);
}

/* A one-off attack from the flags (--eps 0,E): its two rows name the variant
 * and the norm, stay in the ball (column max_col), and the attack lowers
 * the accuracy. APGD-CE L2 (default label apgd_ce_l2), Square and FAB-T in
 * L-inf and L2. */
static void check_oneoff(const char *model, const char *dir, const char *flags,
                         const char *variant, const char *norm, const char *max_col) {
    char args[4096], last[2048], path[1300], hdr[4096], line[4096];
    snprintf(args, sizeof args, "attack -q -m '%s' -o '%s/%s' %s --limit 60", model, tu_tmpdir(),
             dir, flags);
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "%s from flags: %s", variant, last);
    snprintf(path, sizeof path, "%s/%s/sweep.csv", tu_tmpdir(), dir);
    FILE *f = fopen(path, "r");
    TU_CHECK(f != NULL, "%s exists", path);
    if (!f) return;
    char *h[64], *v[64];
    int nh = fgets(hdr, sizeof hdr, f) ? split(hdr, h, 64) : 0, rows = 0;
    int cv = column(h, nh, "variant"), cn = column(h, nh, "norm"), cl = column(h, nh, max_col),
        ca = column(h, nh, "accuracy"), ce = column(h, nh, "eps");
    TU_CHECK(cv >= 0 && cn >= 0 && cl >= 0 && ca >= 0 && ce >= 0, "sweep.csv has a norm column");
    double acc[2] = {0, 0};
    while (cv >= 0 && cn >= 0 && cl >= 0 && ca >= 0 && ce >= 0 && rows < 2 &&
           fgets(line, sizeof line, f)) {
        int nv = split(line, v, 64);
        TU_CHECK(nv == nh, "%s row %d: %d fields, header %d", variant, rows, nv, nh);
        if (nv != nh) break;
        TU_CHECK(!strcmp(v[cv], variant) && !strcmp(v[cn], norm), "row %d: %s, norm %s", rows,
                 v[cv], v[cn]);
        TU_CHECK(atof(v[cl]) <= atof(v[ce]) * (1 + 1e-5), "row %d: %s %s within eps %s", rows,
                 max_col, v[cl], v[ce]);
        acc[rows++] = atof(v[ca]);
    }
    fclose(f);
    TU_CHECK(rows == 2 && acc[1] < acc[0], "2 rows, %s lowers accuracy: %g -> %g", variant,
             acc[0], acc[1]);
}

/* DeepFool's radii.csv and its sweep rows tell the same story: at each eps
 * the accuracy is the share of images with no radius or a radius above eps. */
static void check_radii(const char *model) {
    char args[4096], last[2048], path[1300], line[4096], *v[16];
    const double eps[3] = {0.0, 1.0, 2.0};
    snprintf(args, sizeof args, "attack -q -m '%s' -o '%s/df' --attack deepfool --steps 10 "
             "--eps 0,1,2 --limit 60", model, tu_tmpdir());
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "deepfool from flags: %s", last);
    snprintf(path, sizeof path, "%s/df/radii.csv", tu_tmpdir());
    FILE *f = fopen(path, "r");
    TU_CHECK(f != NULL, "%s exists", path);
    if (!f) return;
    int rows = 0, above[3] = {0, 0, 0}, found = 0;
    TU_CHECK(fgets(line, sizeof line, f) &&
                 !strcmp(line, "attack,variant,index,label,predicted,radius_l2,radius_linf\n"),
             "radii.csv header: %s", line);
    while (fgets(line, sizeof line, f)) {
        int nv = split(line, v, 16);
        TU_CHECK(nv == 7 && atoi(v[2]) == rows, "radii row %d: %d fields", rows, nv);
        if (nv != 7) break;
        const int none = v[5][0] == 0;
        found += !none;
        for (int e = 0; e < 3; e++) above[e] += none || atof(v[5]) > eps[e];
        rows++;
    }
    fclose(f);
    TU_CHECK(rows == 60 && found > 0, "60 radii, %d found", found);
    snprintf(path, sizeof path, "%s/df/sweep.csv", tu_tmpdir());
    f = fopen(path, "r");
    TU_CHECK(f != NULL, "%s exists", path);
    if (!f) return;
    char hdr[4096], *h[64], *w[64];
    int nh = fgets(hdr, sizeof hdr, f) ? split(hdr, h, 64) : 0, ca = column(h, nh, "accuracy");
    char last_row[4096] = "";
    for (int e = 0; e < 3 && ca >= 0 && fgets(line, sizeof line, f); e++) {
        snprintf(last_row, sizeof last_row, "%s", line);
        split(line, w, 64);
        TU_CHECK(fabs(atof(w[ca]) - above[e] / 60.0) < 1e-6, "eps %g: accuracy %s, radii say %g",
                 eps[e], w[ca], above[e] / 60.0);
    }
    fclose(f);
    /* the attack runs once for all eps: its eps-2 row is that of a sweep of eps 2 alone */
    snprintf(args, sizeof args, "attack -q -m '%s' -o '%s/df2' --attack deepfool --steps 10 "
             "--eps 2 --limit 60", model, tu_tmpdir());
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "deepfool at eps 2: %s", last);
    snprintf(path, sizeof path, "%s/df2/sweep.csv", tu_tmpdir());
    f = fopen(path, "r");
    TU_CHECK(f != NULL, "%s exists", path);
    if (!f) return;
    char *a[64];
    const int cs = column(h, nh, "seconds");
    int na = fgets(line, sizeof line, f) && fgets(line, sizeof line, f) ? split(line, a, 64) : 0,
        nb = split(last_row, w, 64);
    TU_CHECK(na == nh && nb == nh && cs >= 0, "rows of %d and %d fields, header %d", na, nb, nh);
    for (int k = 0; k < na && k < nb; k++)
        TU_CHECK(k == cs || !strcmp(a[k], w[k]), "eps 2 alone vs in the sweep: %s %s vs %s", h[k],
                 a[k], w[k]);
    fclose(f);
}

static void expect_error(const char *what, const char *model, const char *sweep_text,
                         const char *word) {
    char cfg[1024], args[4096], last[2048];
    tu_write_file(cfg, sizeof cfg, "bad.yaml", sweep_text, strlen(sweep_text));
    snprintf(args, sizeof args, "attack -q -m '%s' -c '%s' -o '%s/bad'", model, cfg, tu_tmpdir());
    int rc = tu_run_foil(args, last, sizeof last);
    TU_CHECK(rc == 1 && strstr(last, word), "%s: exit %d, '%s' in: %s", what, rc, word, last);
    printf("%-22s -> %s\n", what, last);
}

int main(void) {
    synth_dataset("synth", 1000, 120);
    char data[1024], cfg[1024], sweep[1024], args[4096], last[2048], model[1200], out[1200];
    tu_path(data, sizeof data, "synth");
    setenv("FOIL_DATA", data, 1);
    tu_write_file(cfg, sizeof cfg, "tiny.yaml", RECIPE, strlen(RECIPE));
    tu_write_file(sweep, sizeof sweep, "sweep.yaml", SWEEP, strlen(SWEEP));
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/m'", cfg, tu_tmpdir());
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "train: %s", last);
    snprintf(model, sizeof model, "%s/m/model.safetensors", tu_tmpdir());
    snprintf(out, sizeof out, "%s/sweep", tu_tmpdir());
    snprintf(args, sizeof args, "attack -q -m '%s' -c '%s' -o '%s'", model, sweep, out);
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "attack: %s", last);
    char csv[1300];
    snprintf(csv, sizeof csv, "%s/sweep.csv", out);
    check_csv(csv);
    check_files(out);

    snprintf(args, sizeof args, "attack -q -m '%s' -o '%s/oneoff' --attack pgd --eps 0,0.2 --steps 3 --limit 50",
             model, tu_tmpdir());
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "one-off attack from flags: %s", last);
    check_oneoff(model, "apgd", "--attack apgd_ce --norm l2 --steps 10 --eps 0,3", "apgd_ce_l2",
                 "l2", "l2_max");
    check_oneoff(model, "square", "--attack square --queries 200 --eps 0,0.3", "square", "linf",
                 "linf_max");
    check_oneoff(model, "square_l2", "--attack square --norm l2 --queries 200 --eps 0,6",
                 "square_l2", "l2", "l2_max");
    check_oneoff(model, "aa", "--attack autoattack --version fast --steps 5 --eps 0,0.3", "autoattack_fast",
                 "linf", "linf_max");
    check_oneoff(model, "fab", "--attack fab_t --steps 10 --eps 0,0.3", "fab_t", "linf",
                 "linf_max");
    check_oneoff(model, "fab_l2", "--attack fab_t --norm l2 --steps 10 --eps 0,3", "fab_t_l2",
                 "l2", "l2_max");
    check_oneoff(model, "dfl2", "--attack deepfool --steps 10 --eps 0,3", "deepfool", "l2",
                 "l2_max");
    check_radii(model);
    check_oneoff(model, "cw", "--attack cw_l2 --steps 200 --eps 0,5", "cw_l2", "l2", "l2_max");

    expect_error("unknown attack", model, "eps: [0.1]\nattacks: [cw_l3]\n", "cw_l3");
    expect_error("negative eps", model, "eps: [0.1, -0.2]\nattacks: [fgsm]\n", "-0.2");
    expect_error("steps = 0", model, "eps: [0.1]\nattacks: [{pgd: {steps: 0}}]\n", "steps");
    expect_error("APGD's step", model, "eps: [0.1]\nattacks: [{apgd_ce: {step: 0.1}}]\n",
                 "apgd_ce.step");
    expect_error("APGD's norm", model, "eps: [0.1]\nattacks: [{apgd_dlr: {norm: l1}}]\n", "norm");
    expect_error("APGD-T's targets", model,
                 "eps: [0.1]\nattacks: [{apgd_t: {target_classes: 10}}]\n", "target_classes");
    expect_error("APGD is untargeted", model,
                 "eps: [0.1]\nattacks: [{apgd_ce: {target: next}}]\n", "target");
    expect_error("Square's queries", model, "eps: [0.1]\nattacks: [{square: {queries: 0}}]\n",
                 "queries");
    expect_error("Square's p_init", model, "eps: [0.1]\nattacks: [{square: {p_init: 1.5}}]\n",
                 "p_init");
    expect_error("Square's norm", model, "eps: [0.1]\nattacks: [{square: {norm: l1}}]\n",
                 "norm");
    expect_error("Square is untargeted", model,
                 "eps: [0.1]\nattacks: [{square: {target: 3}}]\n", "target");
    expect_error("FAB-T's norm", model, "eps: [0.1]\nattacks: [{fab_t: {norm: l3}}]\n", "norm");
    expect_error("FAB-T is untargeted", model,
                 "eps: [0.1]\nattacks: [{fab_t: {target: next}}]\n", "target");
    expect_error("FAB-T's steps", model, "eps: [0.1]\nattacks: [{fab_t: {steps: 0}}]\n",
                 "steps");
    expect_error("AutoAttack's version", model,
                 "eps: [0.1]\nattacks: [{autoattack: {version: slow}}]\n", "version");
    expect_error("AutoAttack's stages", model,
                 "eps: [0.1]\nattacks: [{autoattack: {attacks: [apgd_ce, pgd]}}]\n", "stage");
    expect_error("DeepFool's overshoot", model,
                 "eps: [0.1]\nattacks: [{deepfool: {overshoot: -0.1}}]\n", "overshoot");
    expect_error("CW's kappa", model, "eps: [0.1]\nattacks: [{cw_l2: {kappa: -1}}]\n", "kappa");
    expect_error("CW's search steps", model,
                 "eps: [0.1]\nattacks: [{cw_l2: {search_steps: 0}}]\n", "search_steps");
    expect_error("CW takes no overshoot", model,
                 "eps: [0.1]\nattacks: [{cw_l2: {overshoot: 0.1}}]\n", "overshoot");
    expect_error("PGD takes no norm", model, "eps: [0.1]\nattacks: [{pgd: {norm: l2}}]\n",
                 "norm");
    expect_error("unknown key", model, "eps: [0.1]\nattacks: [fgsm]\nepz: 3\n", "epz");
    expect_error("missing checkpoint", "/nonexistent/m.safetensors", "eps: [0.1]\nattacks: [fgsm]\n",
                 "/nonexistent/m.safetensors");
    expect_error("example past the end", model, "eps: [0.1]\nattacks: [fgsm]\nexamples: [500]\n",
                 "500");
    return tu_finish("test_sweep");
}
