/* foil run CONFIG [-o RUNDIR] [key=value ...]: the whole study, from a config
 * to RUNDIR/report.html. Steps whose inputs did not change are reused.
 *
 * Interrupting: during training, Ctrl-C (or SIGTERM) stops after the current
 * step and saves a checkpoint to resume from (exit 128 + the signal); one
 * that comes during the last step or the final evaluation lets training
 * finish, records it, and stops the run there (exit 128 + the signal). In
 * the other steps it ends the process, which is safe too: every file is
 * written to a temporary name and renamed, and a step is recorded in
 * state.json after its last file, so the next run redoes the interrupted
 * step only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "foil/checkpoint.h"
#include "foil/clock.h"
#include "foil/strbuf.h"
#include "run.h"

static const char HELP[] =
    "usage: foil run CONFIG [-o RUNDIR] [--data DIR] [--device D] [--limit N] [-q]\n"
    "                [key=value ...]\n"
    "\n"
    "Runs a study: train (or reuse the checkpoint trained with the same config),\n"
    "evaluate, the attack sweep of the `attack` section, Integrated Gradients of\n"
    "the `explain` section, the explanation shift under attack, and writes\n"
    "RUNDIR/report.html (default RUNDIR: runs/<name>) with every result beside it:\n"
    "  model.safetensors, config.yaml, metrics.json   training (as foil train)\n"
    "  eval.json, eval.csv                            clean metrics (as foil eval)\n"
    "  sweep/                                         as foil attack\n"
    "  explain/                                       as foil explain\n"
    "  shift/                                         as foil shift\n"
    "  state.json                                     what each step was computed from\n"
    "  compare/<label>/, compare/faithfulness.csv     report.compare (below)\n"
    "A second run redoes only the steps whose config or checkpoint changed. The\n"
    "optional `report` section: attack_images (test images the sweep attacks, 0:\n"
    "all), grid_eps (example grids per attack, default 3), shift (true), topk (0.1),\n"
    "compare (explanation methods side by side: a list of names or {name: {label,\n"
    "explain keys}}; each explains the first compare_images (16) test images with\n"
    "the explain section's keys and its own, with faithfulness; the report shows\n"
    "the faithfulness table and compare_shown (6) heatmaps per method).\n"
    "Several models side by side: a top-level `models` list instead of `model`,\n"
    "  models:\n"
    "    - natural: configs/quickstart.yaml             # LABEL: RECIPE\n"
    "    - robust: {recipe: configs/robust_quickstart.yaml, seed: 0}\n"
    "    - madry: {model: configs/models/madry.yaml}    # with the study's train\n"
    "runs each model as a study of its own in RUNDIR/models/<label>/ (its\n"
    "study.yaml: the study's sections with the entry's model, train and seed; the\n"
    "entry's seed, else the recipe's, else the study's) and writes RUNDIR/report.html\n"
    "and summary.md with the models side by side: clean and robust accuracy,\n"
    "accuracy vs eps, per-class recall, the same images' heatmaps under each\n"
    "model, faithfulness and the explanation shift. Overrides apply to every model.\n"
    "Ctrl-C leaves no half-written file; running again picks up where it stopped.\n"
    "key=value overrides any config key; --limit N sets data.test_limit.\n";

typedef int (*step_fn)(run_ctx *c, foil_err *err);

/* The command line alone (usage errors: exit 2). */
static int parse_args(run_args *a, int argc, char **argv, foil_err *err) {
    for (int i = 1; i < argc; i++) {
        int r = cli_common_option(&a->common, argc, argv, &i, err);
        const char *o = argv[i];
        if (r < 0) return -1;
        if (r) continue;
        if (!strcmp(o, "-o") || !strcmp(o, "--out")) {
            if (cli_value(argc, argv, &i, &a->rundir, err)) return -1;
        } else if (!strcmp(o, "-c") || !strcmp(o, "--config")) {
            if (cli_value(argc, argv, &i, &a->config, err)) return -1;
        } else if ((r = cli_take_override(&a->over, o, err)) < 0) {
            return -1;
        } else if (r == 0 && o[0] != '-' && !a->config) {
            a->config = o;
        } else if (r == 0) {
            return foil_fail(err, "run: unknown option '%s' (try foil run --help)", o);
        }
    }
    if (!a->config) return foil_fail(err, "run: needs a CONFIG (try foil run --help)");
    return a->rundir ? foil_check_outdir("-o", a->rundir, err) : 0;
}

/* What a step's outputs depend on: its resolved config, less the `model`
 * line (the checkpoint's path; the run folder may move), and the checkpoint's
 * SHA-256. malloc'd. */
static char *fingerprint(const char *resolved, const char *sha, foil_err *err) {
    size_t n = strlen(resolved) + 128, len = 0;
    char *fp = malloc(n);
    if (!fp) return foil_fail(err, "out of memory"), NULL;
    for (const char *line = resolved; *line;) {
        size_t k = strcspn(line, "\n");
        k += line[k] == '\n';
        if (strncmp(line, "model: ", 7) != 0) memcpy(fp + len, line, k), len += k;
        line += k;
    }
    snprintf(fp + len, n - len, "# checkpoint sha256 %s\n", sha);
    return fp;
}

/* Runs a step unless state.json says it was done from the same inputs and
 * its outputs are there. */
static int step(run_ctx *c, const char *name, const char *resolved, const char *const *outputs,
                step_fn fn, foil_err *err) {
    char *fp = fingerprint(resolved, c->ckpt_sha, err);
    if (!fp) return -1;
    int rc = 0;
    if (run_state_matches(&c->st, name, fp) && run_files_exist(c->rundir, outputs)) {
        double s = run_state_seconds(&c->st, name);
        printf("%s: unchanged, reusing %s/%s\n", name, c->rundir, outputs[0]);
        foil_report_step_add(c->report, name, s, 1);
    } else if (!(rc = run_state_forget(&c->st, name, err))) {
        double t0 = foil_now_s();
        rc = fn(c, err);
        double s = foil_now_s() - t0;
        if (rc == 0) rc = run_state_record(&c->st, name, fp, s, c->device, err);
        if (rc == 0) foil_report_step_add(c->report, name, s, 0);
        if (rc) foil_fail_prefix(err, "%s", name);
    }
    free(fp);
    fflush(stdout);
    return rc;
}

enum { TRAIN_FRESH, TRAIN_RESUME, TRAIN_REUSE };

/* What the checkpoint in the run folder allows: reuse when it was trained
 * with the same resolved config to the last epoch, resume an interrupted run
 * of the same config (also mid-epoch), else train afresh. *epoch and
 * *epoch_step: where it stands; why (when training afresh over a checkpoint):
 * what is wrong with it. */
static int checkpoint_status(const run_ctx *c, int *epoch, int *epoch_step, foil_err *why) {
    foil_safetensors st;
    foil_err e;
    *epoch = -1, *epoch_step = 0;
    if (!run_file_exists(c->ckpt)) return TRAIN_FRESH;
    if (foil_st_read(c->ckpt, &st, &e)) {
        foil_fail(why, "does not read (%s)", e.msg);
        return TRAIN_FRESH;
    }
    const char *cfg = foil_st_meta(&st, "config"), *ep = foil_st_meta(&st, "epoch");
    const char *es = foil_st_meta(&st, "epoch_step"), *sp = foil_st_meta(&st, "step");
    int same = cfg && ep && sp && strcmp(cfg, c->train->resolved) == 0;
    /* the overfitting guard's stop is an end: the file holds the kept weights */
    const int stopped = same && foil_st_meta(&st, "guard_stopped") != NULL;
    *epoch = same ? atoi(ep) : -1;
    *epoch_step = same && es ? atoi(es) : 0;
    long step = same ? atol(sp) : -1;
    foil_st_free(&st);
    int resumable = !stopped && step >= 1 && foil_train_can_resume(c->rundir);
    if (!same) foil_fail(why, "was trained with another config");
    else if (stopped) foil_fail(why, "was stopped by the overfitting guard before its run finished");
    else if (!resumable) foil_fail(why, "has no readable optimizer state saved with it");
    /* done only once state.json says so: a kill after the last checkpoint
     * but before metrics.json leaves training to finish (it re-evaluates) */
    char metrics[FOIL_PATH_MAX];
    if ((*epoch >= c->train->r.epochs || stopped) &&
        run_state_matches(&c->st, "train", c->train->resolved) &&
        foil_path(metrics, &e, "%s/metrics.json", c->rundir) == 0 && run_file_exists(metrics))
        return TRAIN_REUSE;
    return resumable ? TRAIN_RESUME : TRAIN_FRESH;
}

static int train(run_ctx *c, foil_err *err) {
    foil_err why = {{0}};
    int epoch, epoch_step, status = checkpoint_status(c, &epoch, &epoch_step, &why);
    if (status == TRAIN_REUSE) {
        printf("train: reusing %s (trained with this config)\n", c->ckpt);
        foil_report_step_add(c->report, "train", run_state_seconds(&c->st, "train"), 1);
        return 0;
    }
    if (status == TRAIN_RESUME && epoch >= c->train->r.epochs)
        printf("train: %s has all %d epochs; evaluating it again\n", c->ckpt, epoch);
    else if (status == TRAIN_RESUME && epoch_step)
        printf("train: resuming %s in epoch %d of %d after step %d\n", c->ckpt, epoch + 1,
               c->train->r.epochs, epoch_step);
    else if (status == TRAIN_RESUME)
        printf("train: resuming %s after epoch %d of %d\n", c->ckpt, epoch, c->train->r.epochs);
    else if (run_file_exists(c->ckpt))
        printf("train: %s %s; training afresh\n", c->ckpt, why.msg);
    fflush(stdout);
    double t0 = foil_now_s();
    if (run_state_forget(&c->st, "train", err)) return -1;
    int rc = run_step_train(c, status == TRAIN_RESUME, err);
    double s = foil_now_s() - t0;
    if (rc && c->train->stopped_late) { /* trained to the end: keep that, then stop */
        foil_err stop = *err;
        if (run_state_record(&c->st, "train", c->train->resolved, s, c->device, err)) return -1;
        *err = stop;
    }
    if (rc) return foil_fail_prefix(err, "train");
    foil_report_step_add(c->report, "train", s, 0);
    return run_state_record(&c->st, "train", c->train->resolved, s, c->device, err);
}

/* The data folder: fetched (and verified) when the IDX files are missing. */
static int ensure_data(const run_ctx *c, foil_err *err) {
    static const char *const NAMES[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                        "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    const char *dir = c->train->r.data_dir;
    char path[FOIL_PATH_MAX];
    for (int i = 0; i < 4; i++) {
        if (foil_path(path, err, "%s/%s.gz", dir, NAMES[i])) return -1;
        if (run_file_exists(path)) continue;
        if (foil_path(path, err, "%s/%s", dir, NAMES[i])) return -1;
        if (run_file_exists(path)) continue;
        fprintf(stderr, "foil: note: %s has no %s; fetching MNIST (as foil data fetch)\n", dir,
                NAMES[i]);
        const char *from = getenv("FOIL_MIRROR");
        return foil_data_fetch(dir, from && *from ? from : NULL, cli_checksums_path(), err);
    }
    return 0;
}

static void not_run(run_ctx *c, const char *name, const char *why) {
    printf("%s: skipped (%s)\n", name, why);
    foil_report_step_add(c->report, name, -1.0, 0);
}

static int run_steps(run_ctx *c, foil_err *err) {
    static const char *const EVAL[] = {"eval.json", "eval.csv", NULL};
    static const char *const SWEEP[] = {"sweep/sweep.json", "sweep/sweep.csv", NULL};
    static const char *const EXPLAIN[] = {"explain/explain.csv", "explain/attributions.safetensors", NULL};
    static const char *const SHIFT[] = {"shift/shift.json", "shift/shift.csv", NULL};
    static const char *const COMPARE[] = {"compare/faithfulness.csv", NULL};
    const foil_recipe *r = &c->train->r;
    char shift_cfg[64];
    if (train(c, err)) return -1;
    if (foil_sha256_file(c->ckpt, c->ckpt_sha, err)) return -1;
    foil_strbuf ecfg = {0};
    foil_sb_put(&ecfg, "data: %s\ntest_limit: %d\ndevice: %s\nprecision: %s\n", r->data_dir,
                r->test_limit, r->device, r->tf32 ? "tf32" : "fp32");
    char *eval_cfg = foil_sb_take(&ecfg);
    int rc = eval_cfg ? step(c, "eval", eval_cfg, EVAL, run_step_eval, err)
                      : foil_fail(err, "out of memory");
    free(eval_cfg);
    if (rc) return -1;
    if (!c->sweep) not_run(c, "sweep", "no attack section");
    else if (step(c, "sweep", c->sweep_resolved, SWEEP, run_step_sweep, err)) return -1;
    if (!c->explain) not_run(c, "explain", "no explain section");
    else if (step(c, "explain", c->explain->resolved, EXPLAIN, run_step_explain, err)) return -1;
    if (c->o.ncompare &&
        step(c, "compare", c->compare_resolved, COMPARE, run_step_compare, err))
        return -1;
    if (!c->shift_sweep) {
        not_run(c, "shift", c->sweep && c->explain ? "report.shift is false" : "needs attack and explain");
        return 0;
    }
    size_t n = strlen(c->shift_resolved) + sizeof shift_cfg;
    char *text = malloc(n);
    if (!text) return foil_fail(err, "out of memory");
    snprintf(text, n, "%stopk: %.17g\n", c->shift_resolved, c->o.topk);
    rc = step(c, "shift", text, SHIFT, run_step_shift, err);
    free(text);
    return rc;
}

int run_execute(run_ctx *c, foil_err *err) {
    if (!(c->report = calloc(1, sizeof *c->report))) return foil_fail(err, "out of memory");
    if (cli_mkdirs(c->rundir, err) || cli_lock_dir(c->rundir, err) ||
        run_state_load(&c->st, c->rundir, err))
        return -1;
    run_clean_stale(c->rundir);
    printf("run: %s -> %s\n", c->a.config, c->rundir);
    fflush(stdout);
    if (ensure_data(c, err) || run_check_indices(c, err) || run_steps(c, err) ||
        run_write_report(c, err))
        return -1;
    printf("report: %s/report.html\n", c->rundir);
    return 0;
}

static int run_all(run_ctx *c, foil_err *err) {
    int models = run_models_present(&c->a, err);
    if (models < 0) return -1;
    if (models) return run_models(&c->a, &c->interrupted, err);
    return run_prepare(c, err) || run_execute(c, err) ? -1 : 0;
}

int cmd_run(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(HELP, stdout);
            return 0;
        }
    foil_err err = {{0}};
    run_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        foil_fail(&err, "out of memory");
        return cli_error(&err);
    }
    if (parse_args(&c->a, argc, argv, &err)) {
        free(c);
        return cli_usage_error(&err);
    }
    int rc = run_all(c, &err) ? 1 : 0;
    fflush(stdout);
    if (rc && c && c->interrupted) {
        fprintf(stderr, "foil: %s; run the same command again to continue\n", err.msg);
        rc = cli_stop_exit_code();
    } else if (rc) {
        cli_error(&err);
    }
    if (c) {
        run_prepared_free(c);
        run_loaded_free(&c->loaded);
        run_state_free(&c->st);
        free(c->report);
        free(c);
    }
    return rc;
}
