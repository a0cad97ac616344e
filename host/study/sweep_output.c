/* Sweep outputs: example grids (PNG), the examples index, IDX files of the
 * adversarial sets, and the results table as CSV, JSON and Markdown. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "foil/fileio.h"
#include "foil/image.h"
#include "sweep_internal.h"

#define CELL 28
#define SCALE 3
#define GAP 4

static int ensure_dir(const char *path, foil_err *err) {
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return foil_fail(err, "%s: cannot create folder: %s", path, strerror(errno));
    return 0;
}

/* One row per example: clean | adversarial | perturbation (blue-white-red,
 * full colour at eps for Linf attacks, at the largest change otherwise). */
int sweep_save_examples(sweep_state *st, const foil_sweep *sw, const foil_sweep_io *io,
                        const foil_sweep_row *r, foil_err *err) {
    if (sw->nexamples == 0) return 0;
    const int w = io->test->cols, h = io->test->rows, c = r->classes;
    const size_t row = (size_t)w * h;
    char dir[FOIL_PATH_MAX], path[FOIL_PATH_MAX], file[FOIL_NAME_MAX + 32];
    snprintf(file, sizeof file, "%s_eps%.3f.png", r->label, (double)r->eps); /* fits */
    if (foil_path(dir, err, "%s/examples", io->outdir) ||
        foil_path(path, err, "%s/%s", dir, file) || ensure_dir(dir, err))
        return -1;
    foil_image img;
    if (foil_image_create(&img, 3 * w * SCALE + 4 * GAP, sw->nexamples * (h * SCALE + GAP) + GAP,
                          255, 255, 255, err))
        return -1;
    float *delta = malloc(sizeof(float) * row);
    if (!delta) {
        foil_image_free(&img);
        return foil_fail(err, "out of memory");
    }
    float limit = foil_attack_pixel_bound(r->norm, r->eps);
    int rc = 0;
    for (int e = 0; e < sw->nexamples && rc == 0; e++) {
        int idx = sw->examples[e], y = GAP + e * (h * SCALE + GAP);
        const float *x0 = io->test->images + (size_t)idx * row, *xa = st->examples_adv + (size_t)e * row;
        for (size_t j = 0; j < row; j++) delta[j] = xa[j] - x0[j];
        foil_image_draw_gray(&img, GAP, y, x0, h, w, SCALE);
        foil_image_draw_gray(&img, 2 * GAP + w * SCALE, y, xa, h, w, SCALE);
        foil_image_draw_diverging(&img, 3 * GAP + 2 * w * SCALE, y, delta, h, w, SCALE, limit);
        int cp = st->clean_pred[idx];
        rc = foil_sb_put(&st->index, "%s,%s,%.6g,%s,%d,%d,%d,%d,%.4f,%d,%.4f\n", foil_attack_name(r->kind),
                              r->label, (double)r->eps, file, e, idx, io->test->labels[idx], cp,
                    (double)st->clean_prob[(size_t)idx * c + cp], st->adv_pred[idx],
                    (double)st->adv_conf[idx]);
        if (rc) foil_fail(err, "out of memory");
    }
    if (rc == 0) rc = foil_png_write(path, &img, err);
    free(delta);
    foil_image_free(&img);
    return rc;
}

int sweep_write_example_index(sweep_state *st, const foil_sweep_io *io, foil_err *err) {
    if (!st->index.s) return 0;
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/examples/index.csv", io->outdir)) return -1;
    char *body = foil_sb_take(&st->index);
    foil_strbuf text = {0};
    foil_sb_put(&text, "attack,variant,eps,file,row,index,label,clean_pred,clean_conf,adv_pred,"
                       "adv_conf\n%s", body ? body : "");
    int rc = !body || text.failed
                 ? foil_fail(err, "out of memory")
                 : foil_write_file_atomic(path, text.s, text.len, err);
    free(body);
    foil_sb_free(&text);
    return rc;
}

int sweep_write_radii(sweep_state *st, const foil_sweep_io *io, foil_err *err) {
    if (!st->radii.s) return 0;
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/radii.csv", io->outdir)) return -1;
    char *body = foil_sb_take(&st->radii);
    foil_strbuf text = {0};
    foil_sb_put(&text, "attack,variant,index,label,predicted,radius_l2,radius_linf\n%s",
                body ? body : "");
    int rc = !body || text.failed ? foil_fail(err, "out of memory")
                                  : foil_write_file_atomic(path, text.s, text.len, err);
    free(body);
    foil_sb_free(&text);
    return rc;
}

/* The adversarial test set as IDX images (rounded to bytes: re-reading gives
 * perturbations within 1/510 of the float ones). */
int sweep_save_idx(sweep_state *st, const foil_sweep_io *io, const foil_sweep_row *r,
                   foil_err *err) {
    if (!st->all_adv) return 0;
    char dir[FOIL_PATH_MAX], path[FOIL_PATH_MAX];
    if (foil_path(dir, err, "%s/adversarial", io->outdir) ||
        foil_path(path, err, "%s/%s_eps%.3f-images-idx3-ubyte", dir, r->label, (double)r->eps) ||
        ensure_dir(dir, err))
        return -1;
    return foil_idx_write_images(path, st->all_adv, io->test->n, io->test->rows, io->test->cols,
                                 err);
}

int foil_sweep_write_csv(const foil_sweep_row *rows, int n, const char *path, foil_err *err) {
    int classes = n > 0 ? rows[0].classes : 0;
    size_t cap = 512 + (size_t)(n + 1) * (400 + 16 * (size_t)classes), len = 0;
    char *buf = malloc(cap);
    if (!buf) return foil_fail(err, "%s: out of memory", path);
    len += (size_t)snprintf(buf + len, cap - len,
                            "attack,variant,eps,n,accuracy,macro_recall,success_rate,target_rate,"
                            "least_recalled_class,linf_mean,linf_max,l2_mean,l2_max,l0_mean,"
                            "l0_max,seconds,norm");
    for (int k = 0; k < classes; k++) len += (size_t)snprintf(buf + len, cap - len, ",recall_%d", k);
    len += (size_t)snprintf(buf + len, cap - len, "\n");
    for (int i = 0; i < n; i++) {
        const foil_sweep_row *r = &rows[i];
        len += (size_t)snprintf(buf + len, cap - len,
                                "%s,%s,%.6g,%d,%.6f,%.6f,%.6f,%.6f,%d,%.6f,%.6f,%.6f,%.6f,%.2f,%.0f,%.3f,%s",
                                foil_attack_name(r->kind), r->label, (double)r->eps, r->n,
                                r->accuracy, r->macro_recall, r->success_rate, r->target_rate,
                                r->least_class, r->linf_mean, r->linf_max, r->l2_mean, r->l2_max,
                                r->l0_mean, r->l0_max, r->seconds, foil_norm_name(r->norm));
        for (int k = 0; k < classes; k++)
            len += (size_t)snprintf(buf + len, cap - len, ",%.6f", r->recall[k]);
        len += (size_t)snprintf(buf + len, cap - len, "\n");
    }
    int rc = foil_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}

int foil_sweep_write_json(const foil_sweep_row *rows, int n, const char *path, foil_err *err) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        const foil_sweep_row *r = &rows[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "attack", foil_attack_name(r->kind));
        cJSON_AddStringToObject(o, "variant", r->label);
        cJSON_AddStringToObject(o, "norm", foil_norm_name(r->norm));
        cJSON_AddNumberToObject(o, "eps", r->eps);
        cJSON_AddNumberToObject(o, "n", r->n);
        cJSON_AddNumberToObject(o, "accuracy", r->accuracy);
        cJSON_AddNumberToObject(o, "macro_recall", r->macro_recall);
        cJSON_AddNumberToObject(o, "success_rate", r->success_rate);
        if (r->target_rate >= 0) cJSON_AddNumberToObject(o, "target_rate", r->target_rate);
        cJSON_AddNumberToObject(o, "least_recalled_class", r->least_class);
        cJSON *rec = cJSON_CreateArray();
        for (int k = 0; k < r->classes; k++) cJSON_AddItemToArray(rec, cJSON_CreateNumber(r->recall[k]));
        cJSON_AddItemToObject(o, "recall", rec);
        const char *keys[] = {"linf_mean", "linf_max", "l2_mean", "l2_max", "l0_mean", "l0_max", "seconds"};
        const double vals[] = {r->linf_mean, r->linf_max, r->l2_mean, r->l2_max, r->l0_mean, r->l0_max, r->seconds};
        for (int k = 0; k < 7; k++) cJSON_AddNumberToObject(o, keys[k], vals[k]);
        if (r->nstages) { /* autoattack: [{attack, broken}] in order, after the clean right */
            cJSON_AddNumberToObject(o, "clean_right", r->clean_right);
            cJSON *st = cJSON_CreateArray();
            for (int k = 0; k < r->nstages; k++) {
                cJSON *e = cJSON_CreateObject();
                cJSON_AddStringToObject(e, "attack", foil_attack_name(r->stages[k]));
                cJSON_AddNumberToObject(e, "broken", r->stage_broken[k]);
                cJSON_AddNumberToObject(e, "seconds", r->stage_seconds[k]);
                cJSON_AddItemToArray(st, e);
            }
            cJSON_AddItemToObject(o, "stages", st);
        }
        cJSON_AddItemToArray(arr, o);
    }
    int rc = foil_write_json_atomic(path, arr, err);
    cJSON_Delete(arr);
    return rc;
}

void foil_sweep_print(const foil_sweep_row *rows, int n, FILE *out) {
    fprintf(out, "| attack | eps | accuracy | macro recall | least recalled | success rate | "
                 "Linf max | L2 mean | seconds |\n|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < n; i++) {
        const foil_sweep_row *r = &rows[i];
        fprintf(out, "| %s | %.3g | %.4f | %.4f | %d (%.3f) | %.4f | %.4f | %.3f | %.1f |\n",
                r->label, (double)r->eps, r->accuracy, r->macro_recall, r->least_class,
                r->recall[r->least_class], r->success_rate, r->linf_max, r->l2_mean, r->seconds);
    }
}
