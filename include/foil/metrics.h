/* Classification metrics: accuracy, per-class precision/recall/F1 and the
 * confusion matrix, with table/JSON/CSV output. */
#ifndef FOIL_METRICS_H
#define FOIL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "foil/error.h"

typedef struct foil_metrics {
    int classes, n;
    double accuracy;
    double macro_recall, macro_f1;
    double *precision, *recall, *f1; /* (classes); NaN-free: 0 when undefined */
    long *support;                   /* (classes) samples per true class */
    long *confusion;                 /* (classes, classes): [true][predicted] */
} foil_metrics;

int foil_metrics_compute(foil_metrics *mt, const int32_t *pred, const uint8_t *labels, int n,
                         int classes, foil_err *err);
void foil_metrics_free(foil_metrics *mt);

/* A readable Markdown table plus the confusion matrix. */
void foil_metrics_print(const foil_metrics *mt, FILE *out);
/* {"accuracy", "precision", "recall", "f1", "support", "confusion", ...}, atomically. */
int foil_metrics_write_json(const foil_metrics *mt, const char *path, foil_err *err);
/* One row per class: class,precision,recall,f1,support; atomically. */
int foil_metrics_write_csv(const foil_metrics *mt, const char *path, foil_err *err);

#endif
