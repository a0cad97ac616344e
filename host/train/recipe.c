/* Training recipes: config tree -> foil_recipe. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "foil/model_def.h"
#include "foil/train.h"

/* Sections read by other commands; `foil train` leaves them alone. */
static const char *const OTHER_SECTIONS[] = {"attack", "explain", "report", "sweep", NULL};

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A candidate too long to be a path is not one. */
int foil_recipe_find_file(char out[FOIL_PATH_MAX], const char *cfg_path, const char *rel) {
    foil_err e;
    if (foil_path(out, &e, "%s", rel) == 0 && (rel[0] == '/' || file_exists(out))) return 0;
    const char *slash = strrchr(cfg_path, '/');
    int dirlen = slash ? (int)(slash - cfg_path) : 1;
    const char *dir = slash ? cfg_path : ".";
    if (foil_path(out, &e, "%.*s/%s", dirlen, dir, rel) == 0 && file_exists(out)) return 0;
    if (foil_path(out, &e, "%.*s/../%s", dirlen, dir, rel) == 0 && file_exists(out)) return 0;
    out[0] = 0;
    return -1;
}

static int parse_model(foil_recipe *r, foil_config *cfg, foil_err *err) {
    foil_node *m;
    if (foil_cfg_require(cfg, cfg->root, "model", &m, err)) return -1;
    if (m->kind == FOIL_NODE_MAP) return foil_model_def_parse(&r->model, cfg, m, err);
    if (m->kind != FOIL_NODE_SCALAR)
        return foil_cfg_fail(cfg, m, err, "expected a model file name or a model map");
    if (strlen(m->value) >= FOIL_PATH_MAX)
        return foil_cfg_fail(cfg, m, err, "path too long (%zu bytes, at most %d)",
                             strlen(m->value), FOIL_PATH_MAX - 1);
    if (foil_recipe_find_file(r->model_path, cfg->path, m->value))
        return foil_cfg_fail(cfg, m, err, "model file '%s' not found", m->value);
    return foil_model_def_load(&r->model, r->model_path, err);
}

static int parse_data(foil_recipe *r, foil_config *cfg, foil_err *err) {
    foil_node *d = foil_node_get(cfg->root, "data");
    if (d && d->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, d, err, "expected a map");
    long v;
    if (!d) {
        snprintf(r->data_dir, sizeof r->data_dir, "data/raw/mnist");
        return 0;
    }
    if (foil_cfg_path(cfg, d, "dir", "data/raw/mnist", r->data_dir, err)) return -1;
    if (foil_cfg_int(cfg, d, "train_limit", 0, 0, 1L << 30, &v, err)) return -1;
    r->train_limit = (int)v;
    if (foil_cfg_int(cfg, d, "test_limit", 0, 0, 1L << 30, &v, err)) return -1;
    r->test_limit = (int)v;
    return 0;
}

static int parse_train(foil_recipe *r, foil_config *cfg, foil_err *err) {
    foil_node *t = foil_node_get(cfg->root, "train");
    if (!t) return foil_fail(err, "%s: missing section 'train'", cfg->path);
    if (t->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, t, err, "expected a map");
    static const char *const OPTS[] = {"sgd", "adam", NULL};
    long v;
    int opt;
    if (foil_cfg_int(cfg, t, "epochs", 1, 1, FOIL_MAX_EPOCHS, &v, err)) return -1;
    r->epochs = (int)v;
    if (foil_cfg_int(cfg, t, "batch_size", 64, 1, 1 << 16, &v, err)) return -1;
    r->batch_size = (int)v;
    if (foil_cfg_int(cfg, t, "eval_batch", 500, 1, 1 << 16, &v, err)) return -1;
    r->eval_batch = (int)v;
    if (foil_cfg_enum(cfg, t, "optimizer", FOIL_OPT_ADAM, OPTS, &opt, err)) return -1;
    r->optimizer = (foil_optimizer_kind)opt;
    if (foil_cfg_float(cfg, t, "lr", 1e-3, 1e-12, 1e6, &r->lr, err) ||
        foil_cfg_float(cfg, t, "momentum", 0.9, 0.0, 0.999999, &r->momentum, err) ||
        foil_cfg_bool(cfg, t, "nesterov", 0, &r->nesterov, err) ||
        foil_cfg_float(cfg, t, "weight_decay", 0.0, 0.0, 1.0, &r->weight_decay, err) ||
        foil_cfg_float(cfg, t, "beta1", 0.9, 0.0, 0.999999, &r->beta1, err) ||
        foil_cfg_float(cfg, t, "beta2", 0.999, 0.0, 0.999999999, &r->beta2, err) ||
        foil_cfg_float(cfg, t, "eps", 1e-8, 1e-30, 1.0, &r->eps, err) ||
        foil_cfg_float(cfg, t, "lr_decay", 1.0, 1e-6, 1.0, &r->lr_decay, err))
        return -1;
    if (foil_cfg_int(cfg, t, "lr_decay_epochs", 1, 1, FOIL_MAX_EPOCHS, &v, err)) return -1;
    r->lr_decay_epochs = (int)v;
    return foil_recipe_parse_adversarial(r, cfg, t, err);
}

int foil_recipe_parse(foil_recipe *r, foil_config *cfg, foil_err *err) {
    memset(r, 0, sizeof *r);
    const char *name;
    long seed;
    if (foil_cfg_string(cfg, cfg->root, "name", "run", &name, err)) return -1;
    if (strlen(name) >= sizeof r->name)
        return foil_cfg_fail(cfg, foil_node_get(cfg->root, "name"), err,
                             "too long (%zu characters, at most %zu)", strlen(name),
                             sizeof r->name - 1);
    snprintf(r->name, sizeof r->name, "%s", name);
    if (foil_cfg_int(cfg, cfg->root, "seed", 1, 0, 0x7FFFFFFFFFFFFFFFL, &seed, err)) return -1;
    r->seed = (uint64_t)seed;
    if (foil_cfg_device(cfg, r->device, sizeof r->device, &r->tf32, err)) return -1;
    if (parse_model(r, cfg, err) || parse_data(r, cfg, err) || parse_train(r, cfg, err))
        return -1;
    foil_config_skip_sections(cfg->root, OTHER_SECTIONS);
    return foil_config_check_used(cfg, cfg->root, err);
}
