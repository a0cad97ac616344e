/* Opening a checkpoint and the test set on a backend, shared by the commands. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_model_open(cli_model *cm, const char *path, const char *device, int tf32,
                   int max_batch, const char *batch_what, foil_err *err) {
    memset(cm, 0, sizeof *cm);
    float *params;
    if (foil_model_load(path, &cm->model, &params, NULL, NULL, err)) return -1;
    int rc = -1;
    if (!(cm->b = cli_backend_create(device, tf32, err))) goto done;
    if (foil_net_create(&cm->net, &cm->model, cm->b, max_batch, err)) {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        if (batch_what) foil_fail(err, "%s; set by %s", why, batch_what);
        goto done;
    }
    if (cm->b->upload(cm->b, cm->net.params, params, cm->model.nparams * sizeof(float))) {
        foil_fail(err, "%s", cm->b->err.msg);
        goto done;
    }
    rc = 0;
done:
    free(params);
    if (rc) cli_model_close(cm);
    return rc;
}

void cli_model_close(cli_model *cm) {
    if (!cm->b) return;
    foil_net_destroy(&cm->net);
    cm->b->destroy(cm->b);
    cm->b = NULL;
}

int cli_testset_load(cli_testset *ts, const cli_model *cm, const char *dir, int limit,
                     foil_err *err) {
    memset(ts, 0, sizeof *ts);
    ts->dir = dir;
    if (foil_dataset_load(&ts->ds, dir, "t10k", limit, err)) return -1;
    if ((size_t)ts->ds.rows * ts->ds.cols != cm->model.in_size) {
        foil_fail(err, "%s: images are %dx%d, the model takes %dx%dx%d", dir, ts->ds.rows,
                  ts->ds.cols, cm->model.def.in_c, cm->model.def.in_h, cm->model.def.in_w);
        foil_dataset_free(&ts->ds);
        return -1;
    }
    if (foil_dataset_check_labels(&ts->ds, cm->model.def.classes, err) ||
        foil_device_data_upload(&ts->dd, cm->b, &ts->ds, err)) {
        foil_dataset_free(&ts->ds);
        return -1;
    }
    return 0;
}

void cli_testset_free(cli_testset *ts, const cli_model *cm) {
    if (cm->b) foil_device_data_free(&ts->dd, cm->b);
    foil_dataset_free(&ts->ds);
}

int cli_eval(cli_model *cm, const cli_testset *ts, foil_metrics *mt, foil_err *err) {
    int32_t *pred = malloc(sizeof(int32_t) * (size_t)ts->ds.n + 1);
    if (!pred) return foil_fail(err, "out of memory");
    int rc = foil_predict(&cm->net, &ts->dd, pred, NULL, err) ||
             foil_metrics_compute(mt, pred, ts->ds.labels, ts->ds.n, cm->model.def.classes, err);
    free(pred);
    return rc ? -1 : 0;
}
