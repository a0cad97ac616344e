/* foil train -c CONFIG -o OUTDIR [--resume] [key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "run_train.h"

static const char HELP[] =
    "usage: foil train -c CONFIG -o OUTDIR [--resume] [--data DIR] [--device D]\n"
    "                  [--limit N] [-q] [key=value ...]\n"
    "\n"
    "Trains the model of a recipe (configs/*.yaml), evaluating on the test set\n"
    "after every epoch, and writes atomically into OUTDIR:\n"
    "  model.safetensors        parameters; model definition and resolved config\n"
    "                           in __metadata__ (loads in PyTorch as nn.Sequential)\n"
    "  train_state.safetensors  optimizer state, for --resume\n"
    "  config.yaml              the resolved config (printed too)\n"
    "  metrics.json             test_accuracy, per-epoch loss/accuracy/time\n"
    "key=value overrides any config key, e.g. train.epochs=3 train.lr=0.0005.\n"
    "--limit N evaluates on the first N test images (data.test_limit).\n"
    "--resume continues from OUTDIR's checkpoint: after its last finished epoch, or\n"
    "mid-epoch after Ctrl-C. Ctrl-C (or SIGTERM) stops after the current step and\n"
    "saves a checkpoint to resume from (exit 130; 143 for SIGTERM); a second one\n"
    "ends at once.\n"
    "A diverging loss (NaN or Inf) stops training with an error and keeps the last\n"
    "checkpoint.\n";

typedef struct train_args {
    const char *config, *outdir;
    int resume;
    cli_common common;
} train_args;

static int parse_args(train_args *a, foil_config *cfg, int argc, char **argv, foil_err *err) {
    const char *overrides[256];
    int nover = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_option(&a->common, argc, argv, &i, err);
        if (r < 0) return -1;
        if (r) continue;
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (cli_value(argc, argv, &i, &a->config, err)) return -1;
        } else if (strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--out") == 0) {
            if (cli_value(argc, argv, &i, &a->outdir, err)) return -1;
        } else if (strcmp(argv[i], "--resume") == 0) {
            a->resume = 1;
        } else if (argv[i][0] != '-' && strchr(argv[i], '=') && nover < 256) {
            overrides[nover++] = argv[i];
        } else {
            return foil_fail(err, "train: unknown option '%s' (try foil train --help)", argv[i]);
        }
    }
    if (!a->config || !a->outdir) return foil_fail(err, "train: needs -c CONFIG and -o OUTDIR");
    if (foil_config_load(cfg, a->config, err)) return -1;
    for (int i = 0; i < nover; i++)
        if (foil_config_override(cfg, overrides[i], err)) return -1;
    return cli_apply_common(cfg, &a->common, NULL, "data.test_limit", err);
}

int cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(HELP, stdout);
            return 0;
        }
    foil_err err = {{0}};
    train_args a = {0};
    foil_config cfg = {0};
    train_job *j = calloc(1, sizeof *j);
    foil_train_result *res = calloc(1, sizeof *res);
    int rc = 1;
    if (!j || !res) {
        foil_fail(&err, "out of memory");
        goto out;
    }
    if (parse_args(&a, &cfg, argc, argv, &err) || train_job_parse(j, &cfg, NULL, &err) ||
        cli_mkdirs(a.outdir, &err) || cli_lock_dir(a.outdir, &err) ||
        train_job_open(j, a.outdir, a.resume, a.common.quiet, &err) ||
        train_job_run(j, a.outdir, a.resume, a.common.quiet, res, &err))
        goto out;
    printf("test accuracy %.4f after %d epoch(s), %.1f s, %.0f train images/s\n"
           "checkpoint: %s/model.safetensors\n",
           res->test_accuracy, j->r.epochs, res->wall_seconds, res->images_per_s, a.outdir);
    rc = 0;
out:
    if (rc && res && res->interrupted) {
        fprintf(stderr, "foil: %s; continue with the same command and --resume\n", err.msg);
        rc = cli_stop_exit_code();
    } else if (rc) {
        cli_error(&err);
    }
    if (j) train_job_free(j);
    free(j);
    free(res);
    foil_config_free(&cfg);
    return rc;
}
