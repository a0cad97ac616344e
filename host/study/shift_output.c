/* Shift outputs: the PNG grids and the table as CSV, JSON and Markdown. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "foil/fileio.h"
#include "foil/image.h"
#include "shift_internal.h"

#define SCALE 3
#define GAP 4
#define COLS 6

/* The 99th percentile of |v|: a colour limit that one hot pixel cannot wash out. */
static float p99_abs(const float *v, size_t n) {
    float *a = malloc(sizeof(float) * (n ? n : 1));
    if (!a) return 0.0f;
    for (size_t i = 0; i < n; i++) a[i] = fabsf(v[i]);
    /* partial selection is overkill for 784 values: sort */
    for (size_t i = 1; i < n; i++) {
        float x = a[i];
        size_t j = i;
        for (; j > 0 && a[j - 1] > x; j--) a[j] = a[j - 1];
        a[j] = x;
    }
    float p = n ? a[(size_t)(0.99 * (double)(n - 1))] : 0.0f;
    free(a);
    return p;
}

/* Rows: clean | IG(clean, true) | adversarial | IG(adv, true) | IG(adv, predicted)
 * | perturbation. The three IG maps of a row share one colour scale. */
int shift_save_grid(const shift_state *s, const foil_shift_io *io, const foil_shift_row *r,
                    int nb, foil_err *err) {
    const int h = io->test->rows, w = io->test->cols, rows = nb < io->grid_rows ? nb : io->grid_rows;
    char dir[FOIL_PATH_MAX], path[FOIL_PATH_MAX];
    if (foil_path(dir, err, "%s/shift", io->outdir) ||
        foil_path(path, err, "%s/%s_eps%.3f.png", dir, r->label, (double)r->eps))
        return -1;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return foil_fail(err, "%s: cannot create folder: %s", dir, strerror(errno));
    foil_image img;
    if (foil_image_create(&img, COLS * (w * SCALE + GAP) + GAP, rows * (h * SCALE + GAP) + GAP,
                          255, 255, 255, err))
        return -1;
    for (int i = 0; i < rows; i++) {
        const size_t o = (size_t)i * s->row;
        const int y = GAP + i * (h * SCALE + GAP);
        float lim = p99_abs(s->ig_clean + o, s->row);
        float lt = p99_abs(s->ig_true + o, s->row), lp = p99_abs(s->ig_pred + o, s->row);
        lim = fmaxf(lim, fmaxf(lt, lp));
        const float *maps[COLS] = {s->x + o, s->ig_clean + o, s->adv + o, s->ig_true + o,
                                   s->ig_pred + o, s->delta + o};
        for (int c = 0; c < COLS; c++) {
            int x = GAP + c * (w * SCALE + GAP);
            if (c == 0 || c == 2)
                foil_image_draw_gray(&img, x, y, maps[c], h, w, SCALE);
            else
                foil_image_draw_diverging(&img, x, y, maps[c], h, w, SCALE,
                                          c == 5 ? foil_attack_pixel_bound(r->norm, r->eps) : lim);
        }
    }
    int rc = foil_png_write(path, &img, err);
    foil_image_free(&img);
    return rc;
}

int foil_shift_write_csv(const foil_shift_row *rows, int n, const char *path, foil_err *err) {
    size_t cap = 512 + (size_t)n * 320, len = 0;
    char *buf = malloc(cap);
    if (!buf) return foil_fail(err, "%s: out of memory", path);
    len += (size_t)snprintf(buf, cap,
                            "attack,variant,eps,n,accuracy,spearman_true,spearman_pred,iou_true,"
                            "iou_pred,mass_on_perturbed,rel_delta_clean,rel_delta_adv_true,"
                            "rel_delta_adv_pred,norm\n");
    for (int i = 0; i < n; i++) {
        const foil_shift_row *r = &rows[i];
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s,%s,%.6g,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,%.6g,%.6g,%.6g,%s\n",
                                foil_attack_name(r->kind), r->label, (double)r->eps, r->n,
                                r->accuracy, r->spearman_true, r->spearman_pred, r->iou_true,
                                r->iou_pred, r->mass_perturbed, r->rel_delta_clean,
                                r->rel_delta_adv_true, r->rel_delta_adv_pred,
                                foil_norm_name(r->norm));
    }
    int rc = foil_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

int foil_shift_write_json(const foil_shift_row *rows, int n, const char *path, foil_err *err) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        const foil_shift_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "attack", foil_attack_name(r->kind));
        cJSON_AddStringToObject(o, "variant", r->label);
        cJSON_AddStringToObject(o, "norm", foil_norm_name(r->norm));
        const char *keys[] = {"eps", "n", "accuracy", "spearman_true", "spearman_pred",
                              "iou_true", "iou_pred", "mass_on_perturbed", "rel_delta_clean",
                              "rel_delta_adv_true", "rel_delta_adv_pred"};
        const double v[] = {r->eps, r->n, r->accuracy, r->spearman_true, r->spearman_pred,
                            r->iou_true, r->iou_pred, r->mass_perturbed, r->rel_delta_clean,
                            r->rel_delta_adv_true, r->rel_delta_adv_pred};
        for (int k = 0; k < 11; k++) cJSON_AddNumberToObject(o, keys[k], v[k]);
        cJSON_AddItemToArray(arr, o);
    }
    int rc = foil_write_json_atomic(path, arr, err);
    cJSON_Delete(arr);
    return rc;
}

void foil_shift_print(const foil_shift_row *rows, int n, FILE *out) {
    fprintf(out, "| attack | eps | images | accuracy | Spearman (true) | Spearman (adv class) | "
                 "top-k IoU (true) | IoU (adv class) | mass on perturbed | |rel delta| clean / "
                 "adv |\n|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const foil_shift_row *r = &rows[i];
        fprintf(out, "| %s | %.3g | %d | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.2g / %.2g |\n",
                r->label, (double)r->eps, r->n, r->accuracy, r->spearman_true, r->spearman_pred,
                r->iou_true, r->iou_pred, r->mass_perturbed, r->rel_delta_clean,
                r->rel_delta_adv_true);
    }
}
