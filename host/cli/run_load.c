/* foil run: results read back from eval.json, sweep.json and shift.json, so
 * that the report shows what a step computed in an earlier run as well. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

static cJSON *parse_file(const char *path, foil_err *err) {
    char *text = run_read_text(path);
    if (!text) return foil_fail(err, "%s: cannot read", path), NULL;
    cJSON *j = cJSON_Parse(text);
    free(text);
    if (!j) foil_fail(err, "%s: not valid JSON", path);
    return j;
}

static double num(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void str(const cJSON *o, const char *key, char *out, size_t cap) {
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    snprintf(out, cap, "%s", s ? s : "");
}

/* An array of k numbers into out (doubles); -1 when the length differs. */
static int numbers(const cJSON *o, const char *key, double *out, int k) {
    const cJSON *a = cJSON_GetObjectItem(o, key), *it;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != k) return -1;
    int i = 0;
    cJSON_ArrayForEach(it, a) out[i++] = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    return 0;
}

/* An array of k integers into out; -1 when it is not one. */
static int longs(const cJSON *a, long *out, int k) {
    const cJSON *it;
    int i = 0;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != k) return -1;
    cJSON_ArrayForEach(it, a) out[i++] = cJSON_IsNumber(it) ? (long)it->valuedouble : 0;
    return 0;
}

static int metrics_from(const cJSON *o, foil_metrics *m) {
    const cJSON *conf = cJSON_GetObjectItem(o, "confusion"), *row;
    const int k = cJSON_GetArraySize(cJSON_GetObjectItem(o, "recall"));
    if (k < 1 || k > FOIL_MAX_CLASSES || !cJSON_IsArray(conf) || cJSON_GetArraySize(conf) != k)
        return -1;
    m->classes = k;
    m->n = (int)num(o, "n");
    m->accuracy = num(o, "accuracy");
    m->macro_recall = num(o, "macro_recall");
    m->macro_f1 = num(o, "macro_f1");
    m->precision = calloc((size_t)k, sizeof(double));
    m->recall = calloc((size_t)k, sizeof(double));
    m->f1 = calloc((size_t)k, sizeof(double));
    m->support = calloc((size_t)k, sizeof(long));
    m->confusion = calloc((size_t)k * k, sizeof(long));
    int rc = !m->precision || !m->recall || !m->f1 || !m->support || !m->confusion ||
             numbers(o, "precision", m->precision, k) || numbers(o, "recall", m->recall, k) ||
             numbers(o, "f1", m->f1, k) || longs(cJSON_GetObjectItem(o, "support"), m->support, k)
                 ? -1 : 0;
    int t = 0;
    cJSON_ArrayForEach(row, conf) if (rc == 0) rc = longs(row, m->confusion + (size_t)k * t++, k);
    return rc;
}

int run_load_metrics(const char *path, foil_metrics *m, foil_err *err) {
    memset(m, 0, sizeof *m);
    cJSON *o = parse_file(path, err);
    if (!o) return -1;
    int rc = metrics_from(o, m);
    cJSON_Delete(o);
    if (rc) {
        foil_metrics_free(m);
        return foil_fail(err, "%s: not an eval.json of foil", path);
    }
    return 0;
}

/* "norm" of a row; files written before it existed: the attack's own. */
static int row_norm(const cJSON *o, foil_attack_kind kind, foil_norm *norm) {
    const cJSON *v = cJSON_GetObjectItem(o, "norm");
    const foil_attack_info *a = foil_attack_info_of(kind);
    *norm = a ? a->norm : FOIL_NORM_LINF;
    return v && (!cJSON_IsString(v) || foil_norm_parse(v->valuestring, norm)) ? -1 : 0;
}

static int sweep_row_from(const cJSON *o, foil_sweep_row *r) {
    char attack[32];
    str(o, "attack", attack, sizeof attack);
    str(o, "variant", r->label, sizeof r->label);
    if (foil_attack_parse_name(attack, &r->kind) || row_norm(o, r->kind, &r->norm)) return -1;
    r->classes = cJSON_GetArraySize(cJSON_GetObjectItem(o, "recall"));
    if (r->classes < 1 || r->classes > FOIL_MAX_CLASSES ||
        numbers(o, "recall", r->recall, r->classes))
        return -1;
    r->eps = (float)num(o, "eps");
    r->n = (int)num(o, "n");
    r->accuracy = num(o, "accuracy");
    r->macro_recall = num(o, "macro_recall");
    r->success_rate = num(o, "success_rate");
    r->target_rate = cJSON_GetObjectItem(o, "target_rate") ? num(o, "target_rate") : -1.0;
    r->least_class = (int)num(o, "least_recalled_class");
    if (r->least_class < 0 || r->least_class >= r->classes) r->least_class = 0;
    r->linf_mean = num(o, "linf_mean"), r->linf_max = num(o, "linf_max");
    r->l2_mean = num(o, "l2_mean"), r->l2_max = num(o, "l2_max");
    r->l0_mean = num(o, "l0_mean"), r->l0_max = num(o, "l0_max");
    r->seconds = num(o, "seconds");
    return isfinite(r->eps) ? 0 : -1;
}

static int shift_row_from(const cJSON *o, foil_shift_row *r) {
    char attack[32];
    str(o, "attack", attack, sizeof attack);
    str(o, "variant", r->label, sizeof r->label);
    if (foil_attack_parse_name(attack, &r->kind) || row_norm(o, r->kind, &r->norm)) return -1;
    r->eps = (float)num(o, "eps");
    r->n = (int)num(o, "n");
    r->accuracy = num(o, "accuracy");
    r->spearman_true = num(o, "spearman_true"), r->spearman_pred = num(o, "spearman_pred");
    r->iou_true = num(o, "iou_true"), r->iou_pred = num(o, "iou_pred");
    r->mass_perturbed = num(o, "mass_on_perturbed");
    r->rel_delta_clean = num(o, "rel_delta_clean");
    r->rel_delta_adv_true = num(o, "rel_delta_adv_true");
    r->rel_delta_adv_pred = num(o, "rel_delta_adv_pred");
    return isfinite(r->eps) ? 0 : -1;
}

/* A JSON array of row objects -> malloc'd rows. */
static int load_rows(const char *path, size_t size, int (*from)(const cJSON *, void *),
                     void **rows, int *n, foil_err *err) {
    *rows = NULL;
    *n = 0;
    cJSON *a = parse_file(path, err), *it;
    if (!a) return -1;
    int k = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1, rc = k < 0 ? -1 : 0;
    char *out = rc ? NULL : calloc((size_t)(k > 0 ? k : 1), size);
    if (!out) rc = -1;
    cJSON_ArrayForEach(it, a) if (rc == 0) rc = from(it, out + (size_t)(*n)++ * size);
    cJSON_Delete(a);
    if (rc) {
        free(out);
        *n = 0;
        return foil_fail(err, "%s: not a result table of foil", path);
    }
    *rows = out;
    return 0;
}

static int sweep_from(const cJSON *o, void *row) { return sweep_row_from(o, row); }
static int shift_from(const cJSON *o, void *row) { return shift_row_from(o, row); }

int run_load_sweep(const char *path, foil_sweep_row **rows, int *n, foil_err *err) {
    void *p;
    int rc = load_rows(path, sizeof(foil_sweep_row), sweep_from, &p, n, err);
    *rows = p;
    return rc;
}

int run_load_shift(const char *path, foil_shift_row **rows, int *n, foil_err *err) {
    void *p;
    int rc = load_rows(path, sizeof(foil_shift_row), shift_from, &p, n, err);
    *rows = p;
    return rc;
}
