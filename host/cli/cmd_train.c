/* foil train -c CONFIG -o OUTDIR [--resume] [key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "foil/fileio.h"
#include "run_train.h"

static const char HELP[] =
    "usage: foil train -c CONFIG -o OUTDIR [--resume [--allow-changes] | --overwrite]\n"
    "                  [--data DIR] [--device D] [--limit N] [-q] [key=value ...]\n"
    "\n"
    "Trains the model of a recipe (configs/*.yaml), evaluating on the test set\n"
    "after every epoch, and writes atomically into OUTDIR:\n"
    "  model.safetensors        parameters; model definition and resolved config\n"
    "                           in __metadata__ (loads in PyTorch as nn.Sequential)\n"
    "  train_state.safetensors  optimizer state, for --resume\n"
    "  config.yaml              the resolved config (printed too)\n"
    "  metrics.json             test_accuracy, per-epoch loss/accuracy/time (and\n"
    "                           robust_accuracy with train.adversarial)\n"
    "train.adversarial trains on adversarial examples: mode pgd (PGD-AT), fgsm_rs\n"
    "(FGSM from a random start) or trades, with eps, steps, step, ...; FGSM-RS\n"
    "stops when its PGD accuracy collapses (the guard) and keeps the best epoch.\n"
    "train.lr_schedule: {kind: cyclic | step | cosine}. See docs/training.md.\n"
    "key=value overrides any config key, e.g. train.epochs=3 train.lr=0.0005.\n"
    "--limit N evaluates on the first N test images (data.test_limit).\n"
    "--resume continues from OUTDIR's checkpoint: after its last finished epoch, or\n"
    "mid-epoch after Ctrl-C. It refuses a recipe that differs from the checkpoint's\n"
    "(optimizer, learning rate and schedule, batch size, seed, adversarial\n"
    "training, data limits; more epochs are fine) and names the keys; --allow-changes continues anyway and\n"
    "records the changes in the checkpoint's metadata (resume_changes).\n"
    "A folder that already holds a checkpoint is not trained into without --resume\n"
    "or --overwrite (which replaces it).\n"
    "Ctrl-C (or SIGTERM) stops after the current step and saves a checkpoint to\n"
    "resume from (exit 130; 143 for SIGTERM), also when it comes during the last\n"
    "step or the final evaluation; a second one ends at once.\n"
    "A diverging loss (NaN or Inf) stops training with an error and keeps the last\n"
    "checkpoint.\n";

typedef struct train_args {
    const char *config, *outdir;
    int resume, overwrite, allow_changes;
    cli_overrides over;
    cli_common common;
} train_args;

/* The command line alone (usage errors: exit 2). */
static int parse_args(train_args *a, int argc, char **argv, foil_err *err) {
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
        } else if (strcmp(argv[i], "--overwrite") == 0) {
            a->overwrite = 1;
        } else if (strcmp(argv[i], "--allow-changes") == 0) {
            a->allow_changes = 1;
        } else if ((r = cli_take_override(&a->over, argv[i], err)) < 0) {
            return -1;
        } else if (r == 0) {
            return foil_fail(err, "train: unknown option '%s' (try foil train --help)", argv[i]);
        }
    }
    if (!a->config || !a->outdir) return foil_fail(err, "train: needs -c CONFIG and -o OUTDIR");
    if (a->resume && a->overwrite)
        return foil_fail(err, "train: --resume and --overwrite do not go together");
    if (a->allow_changes && !a->resume) return foil_fail(err, "train: --allow-changes needs --resume");
    return foil_check_outdir("-o", a->outdir, err);
}

static int load_config(const train_args *a, foil_config *cfg, foil_err *err) {
    if (foil_config_load(cfg, a->config, err) || cli_apply_overrides(cfg, &a->over, err)) return -1;
    return cli_apply_common(cfg, &a->common, NULL, "data.test_limit", err);
}

/* A checkpoint in the folder is continued (--resume) or replaced
 * (--overwrite), never replaced without a word. */
static int check_existing(const train_args *a, foil_err *err) {
    char path[FOIL_PATH_MAX];
    struct stat sb;
    if (a->resume || a->overwrite) return 0;
    if (foil_path(path, err, "%s/model.safetensors", a->outdir)) return -1;
    if (stat(path, &sb) != 0) return 0;
    return foil_fail(err, "%s: a checkpoint is already there; continue it with --resume, replace "
                          "it with --overwrite, or give another -o", path);
}

int cmd_train(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(HELP, stdout);
            return 0;
        }
    foil_err err = {{0}};
    train_args a = {0};
    if (parse_args(&a, argc, argv, &err)) return cli_usage_error(&err);
    foil_config cfg = {0};
    train_job *j = calloc(1, sizeof *j);
    foil_train_result *res = calloc(1, sizeof *res);
    int rc = 1;
    if (!j || !res) {
        foil_fail(&err, "out of memory");
        goto out;
    }
    j->allow_changes = a.allow_changes;
    if (load_config(&a, &cfg, &err) || train_job_parse(j, &cfg, NULL, &err) ||
        cli_out_open("-o", a.outdir, NULL, &err) || check_existing(&a, &err) ||
        train_job_open(j, a.outdir, a.resume, a.common.quiet, &err) ||
        train_job_run(j, a.outdir, a.resume, a.common.quiet, res, &err))
        goto out;
    printf("test accuracy %.4f after %d epoch(s), %.1f s, %.0f train images/s\n"
           "checkpoint: %s/model.safetensors\n",
           res->test_accuracy, j->r.epochs, res->wall_seconds, res->images_per_s, a.outdir);
    rc = 0;
out:
    if (rc && res && res->interrupted) {
        fprintf(stderr, "foil: %s%s\n", err.msg,
                j->stopped_late ? "" : "; continue with the same command and --resume");
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
