/* foil eval -m MODEL [--json FILE] [--csv FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "foil/metrics.h"
#include "foil/train.h"

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
            a->batch = atoi(v);
            if (a->batch < 1 || a->batch > 65536)
                return foil_fail(err, "--batch: expected 1 to 65536, got '%s'", v);
        } else {
            return foil_fail(err, "eval: unknown option '%s' (try foil eval --help)", argv[i]);
        }
    }
    if (!a->model) return foil_fail(err, "eval: needs -m MODEL");
    return 0;
}

typedef struct eval_job {
    foil_model model;
    float *params;
    foil_dataset test;
    foil_backend *b;
    foil_device_data dtest;
    foil_net net;
    int32_t *pred;
    foil_metrics mt;
} eval_job;

static int run(eval_job *j, const eval_args *a, foil_err *err) {
    if (foil_model_load(a->model, &j->model, &j->params, NULL, NULL, err)) return -1;
    const char *dir = cli_data_dir(&a->common, NULL);
    if (foil_dataset_load(&j->test, dir, "t10k", a->common.limit, err)) return -1;
    if ((size_t)j->test.rows * j->test.cols != j->model.in_size)
        return foil_fail(err, "%s: images are %dx%d, the model takes %zu values", dir,
                         j->test.rows, j->test.cols, j->model.in_size);
    if (!(j->b = foil_backend_create(a->common.device, err))) return -1;
    if (foil_device_data_upload(&j->dtest, j->b, &j->test, err) ||
        foil_net_create(&j->net, &j->model, j->b, a->batch, err))
        return -1;
    if (j->b->upload(j->b, j->net.params, j->params, j->model.nparams * sizeof(float)))
        return foil_fail(err, "%s", j->b->err.msg);
    if (!(j->pred = malloc(sizeof(int32_t) * (size_t)j->test.n + 1)))
        return foil_fail(err, "out of memory");
    if (foil_predict(&j->net, &j->dtest, j->pred, NULL, err) ||
        foil_metrics_compute(&j->mt, j->pred, j->test.labels, j->test.n, j->model.def.classes,
                             err))
        return -1;
    printf("model %s (%s), %d test images from %s, device %s\n\n", j->model.def.name, a->model,
           j->test.n, dir, j->b->name);
    foil_metrics_print(&j->mt, stdout);
    if (a->json && foil_metrics_write_json(&j->mt, a->json, err)) return -1;
    if (a->csv && foil_metrics_write_csv(&j->mt, a->csv, err)) return -1;
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
    eval_job j;
    memset(&j, 0, sizeof j);
    int rc = parse_args(&a, argc, argv, &err) || run(&j, &a, &err) ? 1 : 0;
    if (rc) cli_error(&err);
    if (j.b) {
        foil_net_destroy(&j.net);
        foil_device_data_free(&j.dtest, j.b);
        j.b->destroy(j.b);
    }
    foil_metrics_free(&j.mt);
    foil_dataset_free(&j.test);
    free(j.params);
    free(j.pred);
    return rc;
}
