/* The training job shared by `foil train` and `foil run`. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "foil/fileio.h"
#include "run.h"

enum { MAX_TOP_KEYS = 256 };

static int dropped(const char *key, const char *const *drop) {
    for (int i = 0; drop && key && drop[i]; i++)
        if (strcmp(key, drop[i]) == 0) return 1;
    return 0;
}

/* Relinks the root's children without the dropped ones, emits, and restores
 * the original links. */
char *run_emit_without(foil_node *root, const char *const *drop) {
    foil_node *all[MAX_TOP_KEYS], *c;
    int n = 0;
    for (c = root->child; c && n < MAX_TOP_KEYS; c = c->next) all[n++] = c;
    if (c) return foil_config_emit_string(root); /* absurdly many keys: keep them all */
    foil_node *head = NULL, **tail = &head;
    for (int i = 0; i < n; i++) {
        if (dropped(all[i]->key, drop)) continue;
        *tail = all[i];
        tail = &all[i]->next;
    }
    *tail = NULL;
    root->child = head;
    char *text = foil_config_emit_string(root);
    root->child = n ? all[0] : NULL;
    for (int i = 0; i < n; i++) all[i]->next = i + 1 < n ? all[i + 1] : NULL;
    return text;
}

typedef struct progress {
    int tty, quiet;
} progress;

static void on_progress(void *user, const foil_train_event *ev) {
    const progress *p = user;
    if (p->quiet) return;
    if (ev->epoch_done) {
        char adv[96] = "";
        int len = 0;
        if (!isnan(ev->robust_accuracy))
            len = snprintf(adv, sizeof adv, ", robust accuracy %.4f", ev->robust_accuracy);
        if (!isnan(ev->guard_accuracy))
            snprintf(adv + len, sizeof adv - (size_t)len, ", guard %.4f", ev->guard_accuracy);
        fprintf(stderr, "%sepoch %d/%d: loss %.4f, test accuracy %.4f%s, %.1f s, %.0f images/s\n",
                p->tty ? "\r\033[K" : "", ev->epoch, ev->epochs, ev->loss, ev->test_accuracy,
                adv, ev->epoch_seconds, ev->images_per_s);
        return;
    }
    if (p->tty) {
        int width = 30, done = (int)((double)width * ev->step / ev->steps);
        char bar[32];
        for (int i = 0; i < width; i++) bar[i] = i < done ? '=' : (i == done ? '>' : ' ');
        bar[width] = 0;
        fprintf(stderr, "\r\033[Kepoch %d/%d [%s] %3d%% loss %.4f %.0f img/s ETA %.0fs", ev->epoch,
                ev->epochs, bar, 100 * ev->step / ev->steps, ev->loss, ev->images_per_s,
                ev->eta_s);
    } else if (ev->step == ev->steps || ev->step % ((ev->steps + 9) / 10) == 0) {
        fprintf(stderr, "epoch %d/%d step %d/%d: loss %.4f, %.0f images/s, ETA %.0f s\n",
                ev->epoch, ev->epochs, ev->step, ev->steps, ev->loss, ev->images_per_s,
                ev->eta_s);
    }
}

static int write_metrics(const char *path, const foil_recipe *r, const foil_train_result *res,
                         const char *device, int ntrain, int ntest, foil_err *err) {
    cJSON *o = cJSON_CreateObject(), *epochs = cJSON_CreateArray();
    cJSON_AddNumberToObject(o, "test_accuracy", res->test_accuracy);
    cJSON_AddStringToObject(o, "model", r->model.name);
    cJSON_AddStringToObject(o, "device", device);
    cJSON_AddNumberToObject(o, "seed", (double)r->seed);
    cJSON_AddNumberToObject(o, "train_images", ntrain);
    cJSON_AddNumberToObject(o, "test_images", ntest);
    cJSON_AddNumberToObject(o, "epochs_run", res->epochs_run);
    cJSON_AddNumberToObject(o, "wall_seconds", res->wall_seconds);
    cJSON_AddNumberToObject(o, "train_seconds", res->train_seconds);
    cJSON_AddNumberToObject(o, "train_images_per_s", res->images_per_s);
    for (int i = 0; i < res->epochs_logged; i++) { /* with those before a resume */
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "epoch", res->first_epoch + i);
        cJSON_AddNumberToObject(e, "loss", res->epoch_loss[i]);
        cJSON_AddNumberToObject(e, "test_accuracy", res->epoch_accuracy[i]);
        cJSON_AddNumberToObject(e, "seconds", res->epoch_seconds[i]);
        if (!isnan(res->epoch_robust[i]))
            cJSON_AddNumberToObject(e, "robust_accuracy", res->epoch_robust[i]);
        if (!isnan(res->epoch_guard[i]))
            cJSON_AddNumberToObject(e, "guard_accuracy", res->epoch_guard[i]);
        cJSON_AddItemToArray(epochs, e);
    }
    cJSON_AddItemToObject(o, "epochs", epochs);
    if (r->adv.mode != FOIL_ADV_NONE) {
        cJSON *adv = cJSON_AddObjectToObject(o, "adversarial");
        cJSON_AddStringToObject(adv, "mode", foil_adv_mode_name(r->adv.mode));
        cJSON_AddNumberToObject(adv, "eps", r->adv.eps);
        cJSON_AddStringToObject(adv, "eval_attack",
                                foil_attack_name((foil_attack_kind)r->adv.eval_attack));
        cJSON_AddNumberToObject(adv, "eval_images", r->adv.eval_images);
        if (res->guard_fired) {
            cJSON_AddNumberToObject(adv, "guard_stopped_after_epoch", res->guard_epoch);
            cJSON_AddNumberToObject(adv, "kept_epoch", res->best_epoch);
        }
    }
    int rc = foil_write_json_atomic(path, o, err);
    cJSON_Delete(o);
    return rc;
}

int train_job_parse(train_job *j, foil_config *cfg, const char *const *drop, foil_err *err) {
    if (foil_recipe_parse(&j->r, cfg, err)) return -1;
    if (!(j->resolved = run_emit_without(cfg->root, drop))) return foil_fail(err, "out of memory");
    if (foil_model_build(&j->model, &j->r.model, err))
        return foil_fail_prefix(err, "%s", j->r.model_path[0] ? j->r.model_path : cfg->path);
    return 0;
}

int train_job_open(train_job *j, const char *outdir, int resume, int quiet, foil_err *err) {
    /* before config.yaml, which tells a supervisor (and test_faults) that
     * training is under way: a signal from then on is answered with a save */
    j->stop = cli_stop_begin();
    if (cli_mkdirs(outdir, err)) return -1;
    run_clean_stale(outdir);
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/config.yaml", outdir) ||
        foil_write_file_atomic(path, j->resolved, strlen(j->resolved), err))
        return -1;
    if (!quiet) printf("# resolved config (%s)\n%s\n", path, j->resolved);
    fflush(stdout);
    if (foil_dataset_load(&j->train, j->r.data_dir, "train", j->r.train_limit, err) ||
        foil_dataset_load(&j->test, j->r.data_dir, "t10k", j->r.test_limit, err))
        return -1;
    if ((size_t)j->train.rows * j->train.cols != j->model.in_size)
        return foil_fail(err, "%s: images are %dx%d but the model takes %dx%dx%d", j->r.data_dir,
                         j->train.rows, j->train.cols, j->r.model.in_c, j->r.model.in_h,
                         j->r.model.in_w);
    if (foil_dataset_check_labels(&j->train, j->model.def.classes, err) ||
        foil_dataset_check_labels(&j->test, j->model.def.classes, err))
        return -1;
    if (!(j->b = cli_backend_create(j->r.device, j->r.tf32, err))) return -1;
    if (foil_device_data_upload(&j->dtrain, j->b, &j->train, err) ||
        foil_device_data_upload(&j->dtest, j->b, &j->test, err))
        return -1;
    int maxb = j->r.batch_size > j->r.eval_batch ? j->r.batch_size : j->r.eval_batch;
    if (foil_net_create(&j->net, &j->model, j->b, maxb, err)) {
        char why[sizeof err->msg];
        memcpy(why, err->msg, sizeof why);
        return foil_fail(err, "%s; set by %s %d", why,
                         maxb == j->r.batch_size ? "train.batch_size" : "train.eval_batch", maxb);
    }
    if (resume) return 0; /* parameters come from the checkpoint */
    float *init = malloc(j->model.nparams * sizeof(float) + 1);
    if (!init) return foil_fail(err, "out of memory");
    foil_model_init_params(&j->model, init, j->r.seed);
    int rc = j->b->upload(j->b, j->net.params, init, j->model.nparams * sizeof(float));
    free(init);
    return rc ? foil_fail(err, "%s", j->b->err.msg) : 0;
}

int train_job_run(train_job *j, const char *outdir, int resume, int quiet,
                  foil_train_result *res, foil_err *err) {
    progress p = {isatty(2), quiet};
    foil_train_options opt = {.outdir = outdir, .resume = resume,
                              .allow_changes = j->allow_changes, .resolved_config = j->resolved,
                              .progress = on_progress, .progress_user = &p, .stop = j->stop};
    if (!quiet)
        fprintf(stderr, "train: %s, %zu parameters, %d train / %d test images, device %s\n",
                j->model.def.name, j->model.nvalues, j->train.n, j->test.n, j->b->name);
    int rc = foil_train(&j->r, &j->net, &j->dtrain, &j->dtest, &opt, res, err);
    if (rc) {
        cli_stop_end();
        j->stop = NULL;
        return -1;
    }
    char path[FOIL_PATH_MAX];
    /* metrics.json still under the handler: the run's files are complete
     * before a late stop request is answered */
    rc = foil_path(path, err, "%s/metrics.json", outdir) ||
         write_metrics(path, &j->r, res, j->b->name, j->train.n, j->test.n, err);
    cli_stop_end();
    j->stop = NULL;
    if (rc) return -1;
    if (res->guard_fired && !quiet)
        fprintf(stderr, "train: catastrophic overfitting: the guard's accuracy fell by more than "
                        "%g after epoch %d; stopped, model.safetensors holds epoch %d's "
                        "weights\n", j->r.adv.guard_drop, res->guard_epoch, res->best_epoch);
    if (cli_stop_requested()) {
        res->interrupted = 1;
        j->stopped_late = 1;
        return foil_fail(err, "stopped by a signal as training finished; the checkpoint and "
                              "%s are complete", path);
    }
    return 0;
}

void train_job_close(train_job *j) {
    if (j->stop) cli_stop_end();
    j->stop = NULL;
    if (j->b) {
        foil_net_destroy(&j->net);
        foil_device_data_free(&j->dtrain, j->b);
        foil_device_data_free(&j->dtest, j->b);
        j->b->destroy(j->b);
        j->b = NULL;
    }
    foil_dataset_free(&j->train);
    foil_dataset_free(&j->test);
}

void train_job_free(train_job *j) {
    train_job_close(j);
    free(j->resolved);
    j->resolved = NULL;
}
