/* Accuracy, per-class precision/recall/F1 and the confusion matrix. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "foil/strbuf.h"
#include "foil/metrics.h"

int foil_metrics_compute(foil_metrics *mt, const int32_t *pred, const uint8_t *labels, int n,
                         int classes, foil_err *err) {
    memset(mt, 0, sizeof *mt);
    mt->classes = classes;
    mt->n = n;
    mt->precision = calloc((size_t)classes, sizeof(double));
    mt->recall = calloc((size_t)classes, sizeof(double));
    mt->f1 = calloc((size_t)classes, sizeof(double));
    mt->support = calloc((size_t)classes, sizeof(long));
    mt->confusion = calloc((size_t)classes * classes, sizeof(long));
    if (!mt->precision || !mt->recall || !mt->f1 || !mt->support || !mt->confusion) {
        foil_metrics_free(mt);
        return foil_fail(err, "out of memory for metrics");
    }
    long correct = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] >= classes || pred[i] < 0 || pred[i] >= classes) {
            foil_metrics_free(mt);
            return foil_fail(err, "metrics: sample %d has label %d / prediction %d outside [0, %d)",
                             i, labels[i], pred[i], classes);
        }
        mt->confusion[(size_t)labels[i] * classes + pred[i]]++;
        correct += labels[i] == pred[i];
    }
    mt->accuracy = n ? (double)correct / n : 0.0;
    for (int c = 0; c < classes; c++) {
        long tp = mt->confusion[(size_t)c * classes + c], predicted = 0, actual = 0;
        for (int k = 0; k < classes; k++) {
            predicted += mt->confusion[(size_t)k * classes + c];
            actual += mt->confusion[(size_t)c * classes + k];
        }
        mt->support[c] = actual;
        mt->precision[c] = predicted ? (double)tp / predicted : 0.0;
        mt->recall[c] = actual ? (double)tp / actual : 0.0;
        double pr = mt->precision[c] + mt->recall[c];
        mt->f1[c] = pr > 0 ? 2.0 * mt->precision[c] * mt->recall[c] / pr : 0.0;
        mt->present += actual > 0;
    }
    /* absent classes are not averaged; the terms are divided one by one, as
     * before there were absent classes, so a full test set gives the bits
     * it always gave */
    for (int c = 0; c < classes && mt->present; c++) {
        if (!mt->support[c]) continue;
        mt->macro_precision += mt->precision[c] / mt->present;
        mt->macro_recall += mt->recall[c] / mt->present;
        mt->macro_f1 += mt->f1[c] / mt->present;
    }
    return 0;
}

int foil_metrics_least_recalled(const foil_metrics *mt) {
    int least = -1;
    for (int c = 0; c < mt->classes; c++)
        if (mt->support[c] && (least < 0 || mt->recall[c] < mt->recall[least])) least = c;
    return least;
}

/* "3, 7": the classes without test images (empty when all have some). */
static void absent_list(const foil_metrics *mt, foil_strbuf *out) {
    for (int c = 0; c < mt->classes; c++)
        if (!mt->support[c]) foil_sb_put(out, "%s%d", out->len ? ", " : "", c);
}

void foil_metrics_free(foil_metrics *mt) {
    free(mt->precision);
    free(mt->recall);
    free(mt->f1);
    free(mt->support);
    free(mt->confusion);
    memset(mt, 0, sizeof *mt);
}

void foil_metrics_print(const foil_metrics *mt, FILE *out) {
    foil_strbuf absent = {0};
    absent_list(mt, &absent);
    fprintf(out, "accuracy: %.4f (%d images), macro recall %.4f, macro F1 %.4f", mt->accuracy,
            mt->n, mt->macro_recall, mt->macro_f1);
    if (absent.len)
        fprintf(out, " (over the %d classes present; no test images of class %s)", mt->present,
                absent.failed ? "(out of memory)" : absent.s);
    foil_sb_free(&absent);
    fprintf(out, "\n\n| class | precision | recall | F1 | support |\n|---|---|---|---|---|\n");
    for (int c = 0; c < mt->classes; c++)
        if (mt->support[c])
            fprintf(out, "| %d | %.4f | %.4f | %.4f | %ld |\n", c, mt->precision[c],
                    mt->recall[c], mt->f1[c], mt->support[c]);
        else
            fprintf(out, "| %d | - | - | - | 0 |\n", c);
    fprintf(out, "\nconfusion matrix (rows: true class, columns: predicted)\n      ");
    for (int c = 0; c < mt->classes; c++) fprintf(out, "%6d", c);
    fputc('\n', out);
    for (int r = 0; r < mt->classes; r++) {
        fprintf(out, "%6d", r);
        for (int c = 0; c < mt->classes; c++)
            fprintf(out, "%6ld", mt->confusion[(size_t)r * mt->classes + c]);
        fputc('\n', out);
    }
}

static cJSON *number_array(const double *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *long_array(const long *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

int foil_metrics_write_json(const foil_metrics *mt, const char *path, foil_err *err) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "accuracy", mt->accuracy);
    cJSON_AddNumberToObject(o, "n", mt->n);
    cJSON_AddNumberToObject(o, "macro_precision", mt->macro_precision);
    cJSON_AddNumberToObject(o, "macro_recall", mt->macro_recall);
    cJSON_AddNumberToObject(o, "macro_f1", mt->macro_f1);
    cJSON *absent = cJSON_CreateArray(); /* classes with no test images (not averaged) */
    for (int c = 0; absent && c < mt->classes; c++)
        if (!mt->support[c]) cJSON_AddItemToArray(absent, cJSON_CreateNumber(c));
    cJSON_AddItemToObject(o, "absent_classes", absent);
    cJSON_AddItemToObject(o, "precision", number_array(mt->precision, mt->classes));
    cJSON_AddItemToObject(o, "recall", number_array(mt->recall, mt->classes));
    cJSON_AddItemToObject(o, "f1", number_array(mt->f1, mt->classes));
    cJSON_AddItemToObject(o, "support", long_array(mt->support, mt->classes));
    cJSON *conf = cJSON_CreateArray();
    for (int r = 0; r < mt->classes; r++)
        cJSON_AddItemToArray(conf, long_array(mt->confusion + (size_t)r * mt->classes,
                                              mt->classes));
    cJSON_AddItemToObject(o, "confusion", conf);
    int rc = foil_write_json_atomic(path, o, err);
    cJSON_Delete(o);
    return rc;
}

int foil_metrics_write_csv(const foil_metrics *mt, const char *path, foil_err *err) {
    size_t cap = 64 + (size_t)mt->classes * 96;
    char *buf = malloc(cap);
    if (!buf) return foil_fail(err, "%s: out of memory", path);
    size_t len = (size_t)snprintf(buf, cap, "class,precision,recall,f1,support\n");
    for (int c = 0; c < mt->classes; c++)
        len += (size_t)snprintf(buf + len, cap - len, "%d,%.6f,%.6f,%.6f,%ld\n", c,
                                mt->precision[c], mt->recall[c], mt->f1[c], mt->support[c]);
    int rc = foil_write_file_atomic(path, buf, len, err);
    free(buf);
    return rc;
}
