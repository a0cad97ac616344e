/* foil train -c CONFIG -o OUTDIR [--resume] [key=value ...] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "foil/checkpoint.h"
#include "foil/train.h"

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
    "--resume continues from OUTDIR's checkpoint after its last finished epoch.\n";

typedef struct progress {
    int tty, quiet;
} progress;

static void on_progress(void *user, const foil_train_event *ev) {
    const progress *p = user;
    if (p->quiet) return;
    if (ev->epoch_done) {
        fprintf(stderr, "%sepoch %d/%d: loss %.4f, test accuracy %.4f, %.1f s, %.0f images/s\n",
                p->tty ? "\r\033[K" : "", ev->epoch, ev->epochs, ev->loss, ev->test_accuracy,
                ev->epoch_seconds, ev->images_per_s);
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
    for (int i = 0; i < res->epochs_run; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "loss", res->epoch_loss[i]);
        cJSON_AddNumberToObject(e, "test_accuracy", res->epoch_accuracy[i]);
        cJSON_AddNumberToObject(e, "seconds", res->epoch_seconds[i]);
        cJSON_AddItemToArray(epochs, e);
    }
    cJSON_AddItemToObject(o, "epochs", epochs);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return foil_fail(err, "%s: out of memory", path);
    int rc = foil_write_file_atomic(path, text, strlen(text), err);
    cJSON_free(text);
    return rc;
}

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
    char buf[1200];
    const char *data = a->common.data ? a->common.data : getenv("FOIL_DATA");
    if (data && *data) {
        snprintf(buf, sizeof buf, "data.dir=%s", data);
        if (foil_config_override(cfg, buf, err)) return -1;
    }
    if (a->common.device) {
        snprintf(buf, sizeof buf, "device=%s", a->common.device);
        if (foil_config_override(cfg, buf, err)) return -1;
    }
    if (a->common.limit) {
        snprintf(buf, sizeof buf, "data.test_limit=%d", a->common.limit);
        if (foil_config_override(cfg, buf, err)) return -1;
    }
    return 0;
}

typedef struct train_job {
    foil_recipe r;
    foil_model model;
    foil_backend *b;
    foil_dataset train, test;
    foil_device_data dtrain, dtest;
    foil_net net;
    char *resolved;
} train_job;

static int setup(train_job *j, const train_args *a, foil_config *cfg, foil_err *err) {
    if (foil_recipe_parse(&j->r, cfg, err)) return -1;
    if (!(j->resolved = foil_config_emit_string(cfg->root)))
        return foil_fail(err, "out of memory");
    if (foil_model_build(&j->model, &j->r.model, err))
        return foil_fail_prefix(err, "%s", j->r.model_path[0] ? j->r.model_path : a->config);
    if (cli_mkdirs(a->outdir, err)) return -1;
    char path[1200];
    snprintf(path, sizeof path, "%s/config.yaml", a->outdir);
    if (foil_write_file_atomic(path, j->resolved, strlen(j->resolved), err)) return -1;
    if (!a->common.quiet) printf("# resolved config (%s)\n%s\n", path, j->resolved);
    fflush(stdout);
    if (foil_dataset_load(&j->train, j->r.data_dir, "train", j->r.train_limit, err) ||
        foil_dataset_load(&j->test, j->r.data_dir, "t10k", j->r.test_limit, err))
        return -1;
    if ((size_t)j->train.rows * j->train.cols != j->model.in_size)
        return foil_fail(err, "%s: images are %dx%d but the model takes %dx%dx%d", j->r.data_dir,
                         j->train.rows, j->train.cols, j->r.model.in_c, j->r.model.in_h,
                         j->r.model.in_w);
    if (!(j->b = cli_backend_create(j->r.device, err))) return -1;
    if (foil_device_data_upload(&j->dtrain, j->b, &j->train, err) ||
        foil_device_data_upload(&j->dtest, j->b, &j->test, err))
        return -1;
    int maxb = j->r.batch_size > j->r.eval_batch ? j->r.batch_size : j->r.eval_batch;
    if (foil_net_create(&j->net, &j->model, j->b, maxb, err)) return -1;
    if (a->resume) return 0; /* parameters come from the checkpoint */
    float *init = malloc(j->model.nparams * sizeof(float) + 1);
    if (!init) return foil_fail(err, "out of memory");
    foil_model_init_params(&j->model, init, j->r.seed);
    int rc = j->b->upload(j->b, j->net.params, init, j->model.nparams * sizeof(float));
    free(init);
    return rc ? foil_fail(err, "%s", j->b->err.msg) : 0;
}

static void teardown(train_job *j) {
    if (j->b) {
        foil_net_destroy(&j->net);
        foil_device_data_free(&j->dtrain, j->b);
        foil_device_data_free(&j->dtest, j->b);
        j->b->destroy(j->b);
    }
    foil_dataset_free(&j->train);
    foil_dataset_free(&j->test);
    free(j->resolved);
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
    if (parse_args(&a, &cfg, argc, argv, &err) || setup(j, &a, &cfg, &err)) goto out;
    progress p = {isatty(2), a.common.quiet};
    foil_train_options opt = {a.outdir, a.resume, j->resolved, on_progress, &p};
    if (!a.common.quiet)
        fprintf(stderr, "train: %s, %zu parameters, %d train / %d test images, device %s\n",
                j->model.def.name, j->model.nparams, j->train.n, j->test.n, j->b->name);
    if (foil_train(&j->r, &j->net, &j->dtrain, &j->dtest, &opt, res, &err)) goto out;
    char path[1200];
    snprintf(path, sizeof path, "%s/metrics.json", a.outdir);
    if (write_metrics(path, &j->r, res, j->b->name, j->train.n, j->test.n, &err)) goto out;
    printf("test accuracy %.4f after %d epoch(s), %.1f s, %.0f train images/s\n"
           "checkpoint: %s/model.safetensors\n",
           res->test_accuracy, j->r.epochs, res->wall_seconds, res->images_per_s, a.outdir);
    rc = 0;
out:
    if (rc) cli_error(&err);
    if (j) teardown(j);
    free(j);
    free(res);
    foil_config_free(&cfg);
    return rc;
}
