/* Classification metrics: accuracy, per-class precision/recall/F1 and the
 * confusion matrix, with table/JSON/CSV output. */
#ifndef FOIL_METRICS_H
#define FOIL_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "foil/error.h"

/* Macro averages are over the classes present (support > 0): a class with
 * no test images has no recall to average, and counting it as 0 would make
 * 20 correctly classified images look 90% recalled. */
typedef struct foil_metrics {
    int classes, n;
    int present;                     /* classes with test images */
    double accuracy;
    double macro_precision, macro_recall, macro_f1; /* over the present classes */
    double *precision, *recall, *f1; /* (classes); 0 when undefined */
    long *support;                   /* (classes) samples per true class; 0: absent */
    long *confusion;                 /* (classes, classes): [true][predicted] */
} foil_metrics;

/* The least-recalled class among those present (-1 when none is). */
int foil_metrics_least_recalled(const foil_metrics *mt);

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
