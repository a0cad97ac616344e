/* foil run: one command from a study config to an HTML report. Shared by
 * host/cli/cmd_run.c and the host/cli/run_*.c helpers. */
#ifndef FOIL_CLI_RUN_H
#define FOIL_CLI_RUN_H

#include <cjson/cJSON.h>

#include "cli.h"
#include "explain_run.h"
#include "foil/report.h"
#include "foil/sweep.h"
#include "run_train.h"


typedef struct run_args {
    const char *config;   /* the study */
    const char *rundir;   /* -o; NULL: runs/<name> */
    cli_overrides over;
    cli_common common;
} run_args;

/* One method of report.compare: `name` or `name: {label: L, key: value, ...}`
 * (explain keys, over the explain section's). */
#define RUN_MAX_COMPARE FOIL_REPORT_MAX_COMPARE
typedef struct run_compare_entry {
    char label[FOIL_NAME_MAX]; /* its folder compare/<label> and its row */
    char method[32];
    char *assign;              /* "explain.<key>=<value>\n" per key (malloc'd; NULL: none) */
} run_compare_entry;

/* The `report` section of a study (read by foil run only; the other
 * commands skip it). */
typedef struct run_opts {
    int attack_images;   /* test images the sweep attacks (0: all of data.test_limit) */
    int grid_eps;        /* eps values per attack shown as example grids */
    int shift;           /* run the explanation-shift step */
    double topk;         /* pixel share for the shift's top-k IoU */
    int ncompare;        /* report.compare: methods side by side, with faithfulness */
    run_compare_entry compare[RUN_MAX_COMPARE];
    int compare_images;  /* the first N test images (report.compare_images, 16) */
    int compare_shown;   /* of them in the report's heatmap rows (6) */
} run_opts;

/* A parsed config and the `model` node it hid (see run_config_derive). */
typedef struct run_cfg {
    foil_config cfg;
    foil_node *hidden;
} run_cfg;

/* Results read back for the report (run_write_report), kept for a study
 * of several models, which shows them side by side. */
typedef struct run_loaded {
    foil_metrics clean;
    int have_clean;
    foil_sweep_row *sweep;
    int nsweep;
    foil_shift_row *shift;
    int nshift;
} run_loaded;

/* Step results as written by an earlier or this run (RUNDIR/state.json):
 * {"steps": {"<step>": {"fingerprint", "seconds", "device"}}}. */
typedef struct run_state {
    char path[FOIL_PATH_MAX];
    cJSON *root;
} run_state;

typedef struct run_ctx {
    run_args a;
    run_opts o;
    char rundir[FOIL_PATH_MAX];
    char ckpt[FOIL_PATH_MAX]; /* <rundir>/model.safetensors */
    char ckpt_sha[65];
    char device[64];         /* backend of the last step that opened one */
    train_job *train;        /* the parsed recipe */
    foil_sweep *sweep;       /* attack section, model = ckpt */
    char *sweep_resolved;
    explain_run *explain;    /* explain section, model = ckpt */
    foil_sweep *shift_sweep; /* both sections, for the shift */
    foil_explain_config *shift_ec;
    char *shift_resolved;
    explain_run *compare[RUN_MAX_COMPARE]; /* report.compare, model = ckpt */
    char *compare_resolved;  /* every entry's resolved config, for the fingerprint */
    run_state st;
    foil_report *report;     /* step timings gathered on the way */
    run_loaded loaded;       /* what report points at (run_write_report) */
    int interrupted;         /* training stopped by SIGINT/SIGTERM, checkpoint saved */
} run_ctx;

/* host/cli/cmd_run.c: a prepared study's steps and report, in c->rundir. */
int run_execute(run_ctx *c, foil_err *err);

/* host/cli/run_models.c: a study of several models (`models`, a list of
 * recipes or model definitions), each run as a study of its own in
 * RUNDIR/models/<label>/, then RUNDIR/report.html side by side.
 * present: 1 when the study has `models`, 0 when not, -1 on an error. */
int run_models_present(const run_args *a, foil_err *err);
int run_models(const run_args *a, int *interrupted, foil_err *err);

/* host/cli/run_config.c */
int run_config_load(run_cfg *rc, const run_args *a, foil_err *err);
/* Loads the study again with `model` pointing at the checkpoint (an inline
 * definition is set aside, keeping its place) and, when test_limit > 0,
 * data.test_limit set to it. */
int run_config_derive(run_cfg *rc, const run_args *a, const char *ckpt, int test_limit,
                      foil_err *err);
void run_config_free(run_cfg *rc);
int run_opts_parse(run_opts *o, const run_args *a, foil_err *err);
/* Parses every section (errors before any work) into ctx. */
int run_prepare(run_ctx *c, foil_err *err);
/* With the data there, before training: the test images the sections name
 * (attack examples, explain.images as a list) exist in the test set they
 * will see (its header's count, within data.test_limit). */
int run_check_indices(const run_ctx *c, foil_err *err);
void run_prepared_free(run_ctx *c);

/* host/cli/run_state.c */
int run_state_load(run_state *s, const char *rundir, foil_err *err);
int run_state_matches(const run_state *s, const char *step, const char *fingerprint);
double run_state_seconds(const run_state *s, const char *step);
const char *run_state_device(const run_state *s);
int run_state_forget(run_state *s, const char *step, foil_err *err);
int run_state_record(run_state *s, const char *step, const char *fingerprint, double seconds,
                     const char *device, foil_err *err);
void run_state_free(run_state *s);
/* Whether every <rundir>/<name> of the NULL-terminated list is a file. */
int run_files_exist(const char *rundir, const char *const *names);
int run_file_exists(const char *path);
/* Removes temporary files that an interrupted run left in the run folder. */
void run_clean_stale(const char *rundir);
/* A whole text file (at most 64 MiB), malloc'd and NUL-terminated; NULL on failure. */
char *run_read_text(const char *path);

/* host/cli/run_steps.c: each writes its outputs under c->rundir. */
int run_step_train(run_ctx *c, int resume, foil_err *err);
int run_step_eval(run_ctx *c, foil_err *err);
int run_step_sweep(run_ctx *c, foil_err *err);
int run_step_explain(run_ctx *c, foil_err *err);
int run_step_shift(run_ctx *c, foil_err *err);

/* host/cli/run_compare.c: report.compare. parse: the list (into o);
 * prepare: each entry's explain config (errors before any work); the step
 * writes compare/<label>/ (as foil explain, faithfulness on) and
 * compare/faithfulness.csv; report: the table and heatmap rows read back. */
int run_compare_parse(run_opts *o, const foil_config *cfg, foil_node *list, foil_err *err);
int run_compare_prepare(run_ctx *c, foil_err *err);
int run_step_compare(run_ctx *c, foil_err *err);
void run_compare_report(const run_ctx *c, foil_report *r);
void run_compare_free(run_ctx *c);
/* <rundir>/<sub>, created, with its resolved config.yaml (run_steps.c) */
int run_step_dir(const run_ctx *c, const char *sub, const char *resolved,
                 char dir[FOIL_PATH_MAX], foil_err *err);

/* host/cli/run_report.c: reads the results back and writes report.html;
 * c->report and c->loaded keep them until run_loaded_free. */
int run_write_report(run_ctx *c, foil_err *err);
void run_loaded_free(run_loaded *l);

/* host/cli/run_summary.c: RUNDIR/summary.md, the headline table in Markdown. */
int run_write_summary(const run_ctx *c, const foil_report *r, foil_err *err);

/* host/cli/run_facts.c: the run table (model, data, device, precision, seed,
 * version, commit, ...). */
void run_report_facts(const run_ctx *c, foil_report *r);

/* host/cli/run_load.c: results read back from their files. */
int run_load_metrics(const char *path, foil_metrics *m, foil_err *err);
int run_load_sweep(const char *path, foil_sweep_row **rows, int *n, foil_err *err);
int run_load_shift(const char *path, foil_shift_row **rows, int *n, foil_err *err);
/* host/cli/run_radii.c: sweep/radii.csv into r->radii (r->nradii of them). */
int run_load_radii(const char *path, foil_report *r, foil_err *err);

#endif
