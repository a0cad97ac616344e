/* Explanation-shift measures (Spearman with ties, top-k IoU, mass on
 * perturbed pixels) against hand-computed values, and `foil shift` end to end
 * on synthetic data: at eps = 0 the adversarial IG is the clean IG (rank
 * correlation and IoU exactly 1), larger eps moves it, and the grid reads back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/image.h"
#include "foil/shift.h"
#include "synth.h"
#include "testutil.h"

static void test_measures(void) {
    const float a[5] = {1, 2, 3, 4, 5}, rev[5] = {5, 4, 3, 2, 1}, flat[5] = {2, 2, 2, 2, 2};
    TU_CHECK(fabs(foil_spearman(a, a, 5) - 1.0) < 1e-12, "identical maps: rho = 1");
    TU_CHECK(fabs(foil_spearman(a, rev, 5) + 1.0) < 1e-12, "reversed maps: rho = -1");
    TU_CHECK(foil_spearman(a, flat, 5) == 0.0, "a constant map: rho = 0");
    /* ties: ranks of b = (1.5, 1.5, 3, 4, 5); rho = 0.9746794 (scipy.stats.spearmanr) */
    const float b[5] = {0, 0, 1, 2, 3};
    double rho = foil_spearman(a, b, 5);
    TU_CHECK(fabs(rho - 0.97467943448) < 1e-9, "spearman with ties: %.10f", rho);
    /* top 2 of |x|: {3, 4} vs {0, 4} -> IoU 1/3 */
    const float p[5] = {0.1f, 0, 0.2f, -5, 3}, q[5] = {-4, 0, 0, 0.5f, 9};
    TU_CHECK(fabs(foil_topk_iou(p, q, 5, 0.4) - 1.0 / 3.0) < 1e-12, "top-k IoU 1/3");
    TU_CHECK(fabs(foil_topk_iou(p, p, 5, 0.4) - 1.0) < 1e-12, "top-k IoU of a map with itself");
    const float attr[4] = {1, -3, 0, 4}, delta[4] = {0, 0.1f, 0.001f, -0.2f};
    TU_CHECK(fabs(foil_mass_on_perturbed(attr, delta, 4) - 7.0 / 8.0) < 1e-12,
             "mass on pixels changed by more than a gray level: 7/8");
}

static const char RECIPE[] =
    "name: tiny\nseed: 5\nmodel:\n  input: [1, 28, 28]\n  layers:\n"
    "    - conv2d: {filters: 4, kernel: 5, stride: 2, padding: same}\n    - relu\n"
    "    - flatten\n    - dense: {units: 10}\ntrain: {epochs: 2, batch_size: 32, lr: 0.003}\n";

static const char CONFIG[] =
    "name: s\nattack:\n  eps: [0, 0.3]\n  attacks: [fgsm, {pgd: {steps: 5, step: 0.1}}]\n"
    "explain:\n  steps: 16\n  images: 12\n  batch: 5\n  chunk: 8\n";

static void test_cli(void) {
    synth_dataset("synth", 600, 40);
    char data[1024], cfg[1024], shift[1024], args[4096], last[2048], path[1400];
    tu_path(data, sizeof data, "synth");
    setenv("FOIL_DATA", data, 1);
    tu_write_file(cfg, sizeof cfg, "tiny.yaml", RECIPE, strlen(RECIPE));
    tu_write_file(shift, sizeof shift, "shift.yaml", CONFIG, strlen(CONFIG));
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s/m'", cfg, tu_tmpdir());
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "train: %s", last);
    snprintf(args, sizeof args, "shift -q -m '%s/m/model.safetensors' -c '%s' -o '%s/out'",
             tu_tmpdir(), shift, tu_tmpdir());
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 0, "shift: %s", last);
    snprintf(path, sizeof path, "%s/out/shift.csv", tu_tmpdir());
    FILE *f = fopen(path, "r");
    char line[1024];
    int rows = 0;
    TU_CHECK(f && fgets(line, sizeof line, f) && strstr(line, "spearman_true") &&
                 strstr(line, "iou_true") && strstr(line, "mass_on_perturbed"),
             "shift.csv header");
    while (f && fgets(line, sizeof line, f)) {
        char attack[32], variant[32];
        double eps, acc, sp_true, sp_pred, iou_true;
        int n;
        int got = sscanf(line, "%31[^,],%31[^,],%lf,%d,%lf,%lf,%lf,%lf", attack, variant, &eps, &n,
                         &acc, &sp_true, &sp_pred, &iou_true);
        TU_CHECK(got == 8 && n == 12, "row %d parses: %s", rows, line);
        if (eps == 0)
            TU_CHECK(sp_true == 1.0 && iou_true == 1.0, "%s eps 0: unchanged IG (%g, %g)", attack,
                     sp_true, iou_true);
        else
            TU_CHECK(sp_true < 1.0, "%s eps %g moves the attributions", attack, eps);
        rows++;
    }
    if (f) fclose(f);
    TU_CHECK(rows == 4, "2 attacks x 2 eps rows, got %d", rows);
    foil_image img = {0};
    foil_err err;
    snprintf(path, sizeof path, "%s/out/shift/pgd_eps0.300.png", tu_tmpdir());
    TU_CHECK(foil_png_read(path, &img, &err) == 0 && img.w > 6 * 28 * 3 && img.h > 4 * 28 * 3,
             "shift grid reads back with 4 rows of 6 maps: %s", err.msg);
    foil_image_free(&img);

    snprintf(args, sizeof args, "shift -q -m '%s/m/model.safetensors' -c '%s' -o '%s/bad' --topk 2",
             tu_tmpdir(), shift, tu_tmpdir());
    TU_CHECK(tu_run_foil(args, last, sizeof last) == 2 && strstr(last, "--topk"),
             "bad --topk (a usage error, exit 2): %s", last);
}

int main(void) {
    test_measures();
    test_cli();
    return tu_finish("test_shift");
}
