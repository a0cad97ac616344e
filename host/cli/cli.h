/* Shared helpers of the foil command-line program. */
#ifndef FOIL_CLI_H
#define FOIL_CLI_H

#include <signal.h>

#include "foil/config.h"
#include "foil/error.h"

/* Common options every command takes. */
typedef struct cli_common {
    const char *data;   /* --data DIR (else FOIL_DATA, else the config/default) */
    const char *device; /* --device auto|cpu|cuda */
    const char *precision; /* --precision fp32|tf32 */
    int limit;          /* --limit N (0: all) */
    int quiet;
} cli_common;

/* Exit statuses: 1 for bad input (a config, a file, a value that does not
 * work), 2 for command-line usage (an unknown option, a missing argument, a
 * malformed option value), as docs/hardening.md says. */
enum { CLI_EXIT_ERROR = 1, CLI_EXIT_USAGE = 2 };

/* key=value arguments, applied to the config in command-line order. */
#define CLI_MAX_OVERRIDES 256
typedef struct cli_overrides {
    const char *v[CLI_MAX_OVERRIDES];
    int n;
} cli_overrides;

/* Takes argv[i] when it is key=value (not an option): 1, or -1 when there
 * are already CLI_MAX_OVERRIDES; 0 when it is not one. */
int cli_take_override(cli_overrides *o, const char *arg, foil_err *err);
int cli_apply_overrides(foil_config *cfg, const cli_overrides *o, foil_err *err);

/* Parses a common option at argv[*i] (advancing *i past its value). Returns 1
 * if it was one, 0 if not, -1 on a bad value (message in err). */
int cli_common_option(cli_common *c, int argc, char **argv, int *i, foil_err *err);

/* The value following argv[*i], or an error naming the option. */
int cli_value(int argc, char **argv, int *i, const char **out, foil_err *err);

/* Sets key to the string value (quoted for YAML when it is not safely plain,
 * so any path works); replace: it may replace a map (foil_config_replace). */
int cli_set_string(foil_config *cfg, const char *key, const char *value, int replace,
                   foil_err *err);

/* Applies "key=value" to the config (nothing when value is NULL); the value
 * is YAML (e.g. a list "[0, 0.1]"). */
int cli_override(foil_config *cfg, const char *key, const char *value, foil_err *err);

/* The overrides every command that reads a config shares: model=MODEL (when
 * given), data.dir from --data or $FOIL_DATA, device from --device,
 * precision from --precision and <limit_key>=N from --limit. */
int cli_apply_common(foil_config *cfg, const cli_common *c, const char *model,
                     const char *limit_key, foil_err *err);

/* The data folder: --data, else $FOIL_DATA, else fallback. */
const char *cli_data_dir(const cli_common *c, const char *fallback);

/* mkdir -p. */
int cli_mkdirs(const char *path, foil_err *err);

/* Opens an output folder for writing, before any work: checks the path
 * (foil_check_outdir: what names the option), creates it, takes its lock
 * (cli_lock_dir) and removes the temporary files that a killed foil left
 * in it and in its sub-folders `subs` (NULL-terminated, may be NULL). */
int cli_out_open(const char *what, const char *dir, const char *const *subs, foil_err *err);

/* Removes "<name>.tmp.<pid>" files of writers that no longer run from dir
 * and its sub-folders subs (NULL-terminated, may be NULL). */
void cli_clean_stale(const char *dir, const char *const *subs);

/* An output file named by an option (--json, --csv): not empty and not a
 * folder, checked before any work. */
int cli_check_out_file(const char *option, const char *path, foil_err *err);

/* Takes <dir>/.lock (an fcntl write lock, not waiting) so that two foil
 * processes never write one output folder; the lock lasts until the process
 * exits (the descriptor is left open on purpose). */
int cli_lock_dir(const char *dir, foil_err *err);

/* foil_backend_create, printing "foil: note: ..." when auto falls back to
 * the CPU although the CUDA backend is built, with TF32 math when tf32. */
struct foil_backend *cli_backend_create(const char *device, int tf32, foil_err *err);

/* SIGINT/SIGTERM handling around training (host/cli/cli_signal.c): begin
 * returns the flag for foil_train_options.stop; end restores the defaults
 * (a signal from then on ends the process at once) but keeps the flag, so
 * that one that came while training was finishing is still seen:
 * cli_stop_requested says whether one came. */
volatile sig_atomic_t *cli_stop_begin(void);
void cli_stop_end(void);
int cli_stop_requested(void);

/* Exit status of a run stopped by a signal after saving: 128 + the signal
 * (130 for Ctrl-C, 143 for SIGTERM), as the shell reports a killed process. */
int cli_stop_exit_code(void);

/* Prints "foil: <msg>" on stderr and returns exit code 1 (cli_usage_error: 2). */
int cli_error(const foil_err *err);
int cli_usage_error(const foil_err *err);

/* Path of data/mnist.sha256: the working folder's, else the source tree's. */
const char *cli_checksums_path(void);

int cmd_data(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_attack(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_shift(int argc, char **argv);
int cmd_run(int argc, char **argv);

#include "foil/metrics.h"
#include "foil/train.h"

/* A checkpoint opened on a backend, ready for forward/backward passes. */
typedef struct cli_model {
    foil_model model;
    foil_backend *b;
    foil_net net;
} cli_model;

/* max_batch: samples per forward pass; batch_what says which setting made
 * it so (for an out-of-memory message), e.g. "--batch" or "attack.batch_size". */
int cli_model_open(cli_model *cm, const char *path, const char *device, int tf32,
                   int max_batch, const char *batch_what, foil_err *err);
void cli_model_close(cli_model *cm);

/* The test split of a data folder, on the host and on the model's backend. */
typedef struct cli_testset {
    const char *dir;
    foil_dataset ds;
    foil_device_data dd;
} cli_testset;

/* Loads <dir>/t10k-* (first `limit` images when limit > 0), checks the image
 * size against the model and uploads it. */
int cli_testset_load(cli_testset *ts, const cli_model *cm, const char *dir, int limit,
                     foil_err *err);
void cli_testset_free(cli_testset *ts, const cli_model *cm);

/* Clean metrics of the model on the test set (foil eval). */
int cli_eval(cli_model *cm, const cli_testset *ts, foil_metrics *mt, foil_err *err);

#endif
