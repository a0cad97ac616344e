/* The training job behind `foil train` and `foil run`: a recipe, its data on
 * a backend, the network, foil_train and metrics.json. */
#ifndef FOIL_CLI_RUN_TRAIN_H
#define FOIL_CLI_RUN_TRAIN_H

#include "cli.h"
#include "foil/config.h"
#include "foil/train.h"

typedef struct train_job {
    foil_recipe r;
    foil_model model;
    foil_backend *b;
    foil_dataset train, test;
    foil_device_data dtrain, dtest;
    foil_net net;
    char *resolved; /* the resolved config, saved with the checkpoint */
    volatile sig_atomic_t *stop; /* SIGINT/SIGTERM flag, from train_job_open on */
    int allow_changes;           /* --allow-changes: resume with a changed recipe */
    int stopped_late;            /* a stop request came after the last step: all is saved */
} train_job;

/* Parses the recipe of a loaded config (after overrides) and builds the
 * model. j->resolved is the config emitted without the top-level sections in
 * `drop` (NULL-terminated; NULL keeps everything). */
int train_job_parse(train_job *j, foil_config *cfg, const char *const *drop, foil_err *err);

/* Catches SIGINT and SIGTERM (a signal from here on stops training after
 * its first step with a checkpoint), writes <outdir>/config.yaml (also
 * printed unless quiet), loads the data, opens the backend and the network,
 * and initialises the parameters from the seed (unless resume: they come
 * from the checkpoint). */
int train_job_open(train_job *j, const char *outdir, int resume, int quiet, foil_err *err);

/* Trains (a progress bar or log lines on stderr unless quiet) and writes
 * <outdir>/metrics.json. A stop request (SIGINT/SIGTERM) is never dropped:
 * during training it saves and fails with res->interrupted; one that came
 * during the last step or the final evaluation lets training finish and
 * metrics.json be written, then fails likewise with j->stopped_late. */
int train_job_run(train_job *j, const char *outdir, int resume, int quiet,
                  foil_train_result *res, foil_err *err);

/* Releases the data, the network and the backend and restores the default
 * signal handlers; the recipe, the model and the resolved config stay. */
void train_job_close(train_job *j);
void train_job_free(train_job *j);

/* Top-level config without the sections in drop (see train_job_parse), as
 * YAML; malloc'd, NULL when out of memory. The tree is left as it was. */
char *run_emit_without(foil_node *root, const char *const *drop);

#endif
