/* foil run over several models (host/cli/run_models.c, run_models_report.c). */
#ifndef FOIL_CLI_RUN_MODELS_H
#define FOIL_CLI_RUN_MODELS_H

#include "run.h"

#define RUN_MAX_MODELS FOIL_REPORT_MAX_MODELS

typedef struct run_model_entry {
    char label[FOIL_NAME_MAX];  /* its folder models/<label> and its name */
    char recipe[FOIL_PATH_MAX]; /* "": none (a bare model, the study's train section) */
    char model[FOIL_PATH_MAX];  /* "": the recipe's */
    long seed;                  /* -1: the recipe's, else the study's */
    char dir[FOIL_PATH_MAX];    /* <rundir>/models/<label> */
    char config[FOIL_PATH_MAX]; /* <dir>/study.yaml */
} run_model_entry;

typedef struct run_study {
    const char *config;         /* the study's file */
    char name[FOIL_NAME_MAX];
    char rundir[FOIL_PATH_MAX];
    cli_overrides all_over;     /* the command line's */
    cli_overrides over;         /* those each model's study gets (less name and models) */
    int n;
    run_model_entry e[RUN_MAX_MODELS];
    run_ctx *ctx[RUN_MAX_MODELS]; /* each model's run, prepared, then run */
} run_study;

/* RUNDIR/report.html (foil_report_study) and RUNDIR/summary.md. */
int run_models_write_report(const run_study *s, foil_err *err);

#endif
