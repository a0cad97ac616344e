/* foil eval -m MODEL [--json FILE] [--csv FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "foil/metrics.h"

static const char HELP[] =
    "usage: foil eval -m MODEL [--json FILE] [--csv FILE] [--batch N] [--data DIR]\n"
    "                 [--device D] [--limit N]\n"
    "\n"
    "Evaluates a checkpoint on the test set (t10k files of the data folder):\n"
    "accuracy, per-class precision/recall/F1 and the confusion matrix as a table\n"
    "on stdout; --json writes {accuracy, precision, recall, f1, support,\n"
    "confusion}, --csv one row per class.\n";

typedef struct eval_args {
    const char *model, *json, *csv;
    int batch;
    cli_common common;
} eval_args;

static int parse_args(eval_args *a, int argc, char **argv, foil_err *err) {
    a->batch = 500;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_option(&a->common, argc, argv, &i, err);
        const char *v;
        if (r < 0) return -1;
        if (r) continue;
        if (strcmp(argv[i], "-m") == 0 || strcmp(argv[i], "--model") == 0) {
            if (cli_value(argc, argv, &i, &a->model, err)) return -1;
        } else if (strcmp(argv[i], "--json") == 0) {
            if (cli_value(argc, argv, &i, &a->json, err)) return -1;
        } else if (strcmp(argv[i], "--csv") == 0) {
            if (cli_value(argc, argv, &i, &a->csv, err)) return -1;
        } else if (strcmp(argv[i], "--batch") == 0) {
            if (cli_value(argc, argv, &i, &v, err)) return -1;
            char *end;
            long b = strtol(v, &end, 10);
            if (*v == 0 || *end || b < 1 || b > 65536)
                return foil_fail(err, "--batch: expected 1 to 65536, got '%s'", v);
            a->batch = (int)b;
        } else {
            return foil_fail(err, "eval: unknown option '%s' (try foil eval --help)", argv[i]);
        }
    }
    if (!a->model) return foil_fail(err, "eval: needs -m MODEL");
    /* output files are checked before any work */
    if ((a->json && cli_check_out_file("--json", a->json, err)) ||
        (a->csv && cli_check_out_file("--csv", a->csv, err)))
        return -1;
    return 0;
}

static int run(const eval_args *a, cli_model *cm, cli_testset *ts, foil_metrics *mt,
               foil_err *err) {
    if (cli_model_open(cm, a->model, a->common.device,
                       a->common.precision && !strcmp(a->common.precision, "tf32"), a->batch,
                       "--batch", err) ||
        cli_testset_load(ts, cm, cli_data_dir(&a->common, NULL), a->common.limit, err))
        return -1;
    if (cli_eval(cm, ts, mt, err)) return -1;
    if (a->json && foil_metrics_write_json(mt, a->json, err)) return -1;
    if (a->csv && foil_metrics_write_csv(mt, a->csv, err)) return -1;
    printf("model %s (%s), %d test images from %s, device %s\n\n", cm->model.def.name, a->model,
           ts->ds.n, ts->dir, cm->b->name);
    foil_metrics_print(mt, stdout);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(HELP, stdout);
            return 0;
        }
    foil_err err = {{0}};
    eval_args a = {0};
    cli_model cm = {0};
    cli_testset ts = {0};
    foil_metrics mt = {0};
    if (parse_args(&a, argc, argv, &err)) return cli_usage_error(&err);
    int rc = run(&a, &cm, &ts, &mt, &err) ? cli_error(&err) : 0;
    foil_metrics_free(&mt);
    cli_testset_free(&ts, &cm);
    cli_model_close(&cm);
    return rc;
}
