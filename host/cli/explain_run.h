/* foil explain, the run behind the command: images in batches through
 * foil_explain_batch, then the outputs (CSV, safetensors, PNG, summary). */
#ifndef FOIL_CLI_EXPLAIN_RUN_H
#define FOIL_CLI_EXPLAIN_RUN_H

#include <stdio.h>

#include "cli.h"
#include "foil/explain.h"

typedef struct explain_run {
    foil_explain_config c;
    char *resolved;            /* the resolved config as YAML */
    const char *outdir;
    int quiet;
    cli_model cm;
    cli_testset ts;
    foil_explain_work *w;
    float *baseline_img;       /* (row) host, FOIL_BASELINE_IMAGE */
    foil_dataset background;   /* gradshap: the first explain.background training images */
    int n;                     /* images explained */
    size_t row;                /* C * H * W */
    int32_t *index;            /* (n) test set indices */
    int32_t *label, *pred, *target; /* (n) */
    foil_explain_stats *stats; /* (n) */
    float *attr;               /* (n, row) host */
    float *inputs;             /* (n, row) host */
    int features;              /* a feature method: the two below are set */
    int32_t *segments;         /* (n, h * w) host */
    float *fweights;           /* (n, h * w) host: feature weights, per image its stats.features */
    foil_faithfulness *faith;  /* (n) with explain.faithfulness, else NULL */
    int32_t *idx_dev;          /* (batch) backend */
    float *x_dev, *attr_dev;   /* (batch, row) backend */
    double seconds;            /* explaining only */
} explain_run;

/* host/cli/explain_run.c */
int explain_run_all(explain_run *r, foil_err *err);
void explain_run_free(explain_run *r);

/* host/cli/explain_out.c */
int explain_write_outputs(const explain_run *r, foil_err *err);
void explain_print_summary(const explain_run *r, FILE *out);

#endif
