/* foil run: the steps after the config is parsed. Each opens the checkpoint
 * and the test set itself, writes its files atomically under the run folder
 * and leaves what it printed to the caller's -q. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "foil/metrics.h"
#include "foil/shift.h"
#include "run.h"

int run_step_dir(const run_ctx *c, const char *sub, const char *resolved,
                 char dir[FOIL_PATH_MAX], foil_err *err) {
    char path[FOIL_PATH_MAX];
    if (foil_path(dir, err, "%s/%s", c->rundir, sub) ||
        foil_path(path, err, "%s/config.yaml", dir) || cli_mkdirs(dir, err))
        return -1;
    return foil_write_file_atomic(path, resolved, strlen(resolved), err);
}

static void note_device(run_ctx *c, const foil_backend *b) {
    snprintf(c->device, sizeof c->device, "%s", b->name);
}

int run_step_train(run_ctx *c, int resume, foil_err *err) {
    train_job *j = c->train;
    foil_train_result *res = calloc(1, sizeof *res);
    if (!res) return foil_fail(err, "out of memory");
    int rc = train_job_open(j, c->rundir, resume, 1, err) ||
             train_job_run(j, c->rundir, resume, c->a.common.quiet, res, err) ? -1 : 0;
    c->interrupted = res->interrupted;
    if (rc == 0 || j->stopped_late) note_device(c, j->b); /* the step did train */
    if (rc == 0) {
        printf("train: test accuracy %.4f after %d epoch(s), %.0f train images/s\n",
               res->test_accuracy, j->r.epochs, res->images_per_s);
    }
    train_job_close(j); /* the training set is large; later steps load the test set */
    free(res);
    return rc;
}

static int eval_run(run_ctx *c, cli_model *cm, cli_testset *ts, foil_metrics *mt, foil_err *err) {
    const foil_recipe *r = &c->train->r;
    char path[FOIL_PATH_MAX];
    if (cli_model_open(cm, c->ckpt, r->device, r->tf32, r->eval_batch, "train.eval_batch", err) ||
        cli_testset_load(ts, cm, r->data_dir, r->test_limit, err))
        return -1;
    note_device(c, cm->b);
    if (cli_eval(cm, ts, mt, err)) return -1;
    if (foil_path(path, err, "%s/eval.json", c->rundir) ||
        foil_metrics_write_json(mt, path, err) ||
        foil_path(path, err, "%s/eval.csv", c->rundir) || foil_metrics_write_csv(mt, path, err))
        return -1;
    if (!c->a.common.quiet) foil_metrics_print(mt, stdout);
    printf("eval: accuracy %.4f on %d test images\n", mt->accuracy, mt->n);
    return 0;
}

int run_step_eval(run_ctx *c, foil_err *err) {
    cli_model cm = {0};
    cli_testset ts = {0};
    foil_metrics mt = {0};
    int rc = eval_run(c, &cm, &ts, &mt, err);
    foil_metrics_free(&mt);
    cli_testset_free(&ts, &cm);
    cli_model_close(&cm);
    return rc;
}

static int write_sweep(const foil_sweep_row *rows, int n, const char *dir, int quiet,
                       foil_err *err) {
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/sweep.csv", dir) || foil_sweep_write_csv(rows, n, path, err) ||
        foil_path(path, err, "%s/sweep.json", dir) || foil_sweep_write_json(rows, n, path, err))
        return -1;
    if (!quiet) foil_sweep_print(rows, n, stdout);
    return 0;
}

int run_step_sweep(run_ctx *c, foil_err *err) {
    const foil_sweep *sw = c->sweep;
    cli_model cm = {0};
    cli_testset ts = {0};
    foil_sweep_row *rows = NULL;
    char dir[FOIL_PATH_MAX];
    int nrows = 0, rc = -1;
    if (run_step_dir(c, "sweep", c->sweep_resolved, dir, err) ||
        cli_model_open(&cm, sw->model_path, sw->device, sw->tf32, sw->batch_size,
                       "attack.batch_size", err) ||
        cli_testset_load(&ts, &cm, sw->data_dir, sw->test_limit, err))
        goto done;
    note_device(c, cm.b);
    foil_sweep_io io = {&cm.net, &ts.ds, &ts.dd, dir, c->a.common.quiet};
    if (foil_sweep_run(sw, &io, &rows, &nrows, err) ||
        write_sweep(rows, nrows, dir, c->a.common.quiet, err))
        goto done;
    printf("sweep: %d attack x eps rows on %d test images\n", nrows, ts.ds.n);
    rc = 0;
done:
    free(rows);
    cli_testset_free(&ts, &cm);
    cli_model_close(&cm);
    return rc;
}

int run_step_explain(run_ctx *c, foil_err *err) {
    explain_run *r = c->explain;
    char dir[FOIL_PATH_MAX];
    if (run_step_dir(c, "explain", r->resolved, dir, err)) return -1;
    r->outdir = dir;
    r->quiet = c->a.common.quiet;
    int rc = explain_run_all(r, err) || explain_write_outputs(r, err) ? -1 : 0;
    if (rc == 0 && !r->quiet) explain_print_summary(r, stdout);
    if (r->cm.b) note_device(c, r->cm.b);
    if (rc == 0) printf("explain: %d images\n", r->n);
    r->outdir = NULL; /* dir goes out of scope */
    return rc;
}

/* explain.images: the first N test images or a list. */
static int shift_images(const foil_explain_config *ec, int total, int32_t **out, int *n,
                        foil_err *err) {
    *n = ec->image_list ? ec->nlist : (ec->image_count && ec->image_count < total ? ec->image_count : total);
    if (!(*out = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1))))
        return foil_fail(err, "out of memory");
    for (int i = 0; i < *n; i++) {
        int idx = ec->image_list ? ec->image_list[i] : i;
        if (idx >= total)
            return foil_fail(err, "explain.images: image %d is past the end of the test set "
                                  "(%d images)", idx, total);
        (*out)[i] = idx;
    }
    return 0;
}

static int shift_run(run_ctx *c, cli_model *cm, cli_testset *ts, int32_t **images,
                     foil_shift_row **rows, foil_err *err) {
    const foil_explain_config *ec = c->shift_ec;
    char dir[FOIL_PATH_MAX], path[FOIL_PATH_MAX];
    int batch = ec->batch, nimages, nrows;
    int points = foil_explain_points_per_image(&ec->spec, batch);
    if (run_step_dir(c, "shift", c->shift_resolved, dir, err) ||
        cli_model_open(cm, c->ckpt, ec->device, ec->tf32, batch * points,
                       "explain.batch x IG points per pass", err) ||
        cli_testset_load(ts, cm, ec->data_dir, ec->test_limit, err) ||
        shift_images(ec, ts->ds.n, images, &nimages, err))
        return -1;
    note_device(c, cm->b);
    foil_shift_io io = {&cm->net, &ts->ds, &ts->dd, *images, nimages,
                        batch < nimages ? batch : nimages, c->o.topk, 4, dir, c->a.common.quiet};
    if (foil_shift_run(c->shift_sweep, &ec->spec, &io, rows, &nrows, err)) return -1;
    if (foil_path(path, err, "%s/shift.csv", dir) ||
        foil_shift_write_csv(*rows, nrows, path, err) ||
        foil_path(path, err, "%s/shift.json", dir) ||
        foil_shift_write_json(*rows, nrows, path, err))
        return -1;
    if (!c->a.common.quiet) foil_shift_print(*rows, nrows, stdout);
    printf("shift: %d attack x eps rows on %d images\n", nrows, nimages);
    return 0;
}

int run_step_shift(run_ctx *c, foil_err *err) {
    cli_model cm = {0};
    cli_testset ts = {0};
    int32_t *images = NULL;
    foil_shift_row *rows = NULL;
    int rc = shift_run(c, &cm, &ts, &images, &rows, err);
    free(images);
    free(rows);
    cli_testset_free(&ts, &cm);
    cli_model_close(&cm);
    return rc;
}
