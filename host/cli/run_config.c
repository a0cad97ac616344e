/* foil run: the study config, loaded once per step with the command line's
 * overrides, and every section parsed before any work starts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

int run_config_load(run_cfg *rc, const run_args *a, foil_err *err) {
    memset(rc, 0, sizeof *rc);
    if (foil_config_load(&rc->cfg, a->config, err)) return -1;
    if (cli_apply_overrides(&rc->cfg, &a->over, err)) return -1;
    const char *data = a->common.data ? a->common.data : getenv("FOIL_DATA");
    char limit[32];
    snprintf(limit, sizeof limit, "%d", a->common.limit);
    if ((data && *data && cli_set_string(&rc->cfg, "data.dir", data, 0, err)) ||
        (a->common.device && cli_set_string(&rc->cfg, "device", a->common.device, 0, err)) ||
        (a->common.precision && cli_set_string(&rc->cfg, "precision", a->common.precision, 0, err)) ||
        (a->common.limit && cli_set_string(&rc->cfg, "data.test_limit", limit, 0, err)))
        return -1;
    return 0;
}

static foil_node *child(foil_node *map, const char *key, foil_node **prev) {
    foil_node *p = NULL, *c = map && map->kind == FOIL_NODE_MAP ? map->child : NULL;
    for (; c && (!c->key || strcmp(c->key, key) != 0); c = c->next) p = c;
    if (prev) *prev = p;
    return c;
}

static void unlink_node(foil_node *map, foil_node *n, foil_node *prev) {
    if (prev) prev->next = n->next;
    else map->child = n->next;
    n->next = NULL;
}

static void insert_after(foil_node *map, foil_node *n, foil_node *prev) {
    n->next = prev ? prev->next : map->child;
    if (prev) prev->next = n;
    else map->child = n;
}

/* `model` names the checkpoint; the definition (a file name or an inline
 * map, which an override cannot replace) is set aside in rc->hidden. */
static int point_at_checkpoint(run_cfg *rc, const char *ckpt, foil_err *err) {
    foil_node *root = rc->cfg.root, *prev, *m = child(root, "model", &prev);
    if (m) unlink_node(root, m, prev);
    rc->hidden = m;
    if (cli_set_string(&rc->cfg, "model", ckpt, 0, err)) return -1;
    if (!m) return 0;
    foil_node *before = NULL, *last = root->child;
    while (last && last->next) before = last, last = last->next;
    unlink_node(root, last, before);
    insert_after(root, last, prev);
    return 0;
}

/* data.test_limit = min(its value, limit) (0 counts as all). */
static int limit_test_set(run_cfg *rc, int limit, foil_err *err) {
    foil_node *t = child(child(rc->cfg.root, "data", NULL), "test_limit", NULL);
    long now = t && t->kind == FOIL_NODE_SCALAR ? atol(t->value) : 0;
    if (now > 0 && now <= limit) return 0;
    char v[32];
    snprintf(v, sizeof v, "%d", limit);
    return cli_set_string(&rc->cfg, "data.test_limit", v, 0, err);
}

int run_config_derive(run_cfg *rc, const run_args *a, const char *ckpt, int test_limit,
                      foil_err *err) {
    if (run_config_load(rc, a, err) || point_at_checkpoint(rc, ckpt, err)) return -1;
    return test_limit > 0 ? limit_test_set(rc, test_limit, err) : 0;
}

void run_config_free(run_cfg *rc) {
    if (rc->hidden && rc->cfg.root) { /* back in the tree, which frees it */
        foil_node *last = rc->cfg.root->child;
        while (last && last->next) last = last->next;
        insert_after(rc->cfg.root, rc->hidden, last);
    }
    rc->hidden = NULL;
    foil_config_free(&rc->cfg);
}

static int parse_report(run_opts *o, const foil_config *cfg, foil_node *r, foil_err *err) {
    long images, grids, cmp, shown;
    if (r->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, r, err, "expected a map");
    if (foil_cfg_int(cfg, r, "attack_images", 0, 0, 1L << 30, &images, err) ||
        foil_cfg_int(cfg, r, "grid_eps", 3, 1, FOIL_SWEEP_MAX_EPS, &grids, err) ||
        foil_cfg_bool(cfg, r, "shift", 1, &o->shift, err) ||
        foil_cfg_float(cfg, r, "topk", 0.1, 1e-6, 1.0, &o->topk, err) ||
        foil_cfg_int(cfg, r, "compare_images", 16, 1, 4096, &cmp, err) ||
        foil_cfg_int(cfg, r, "compare_shown", 6, 0, 8, &shown, err))
        return -1;
    o->attack_images = (int)images;
    o->grid_eps = (int)grids;
    o->compare_images = (int)cmp;
    o->compare_shown = (int)shown;
    foil_node *list = foil_node_get(r, "compare");
    if (list && run_compare_parse(o, cfg, list, err)) return -1;
    return foil_config_check_used(cfg, r, err);
}

int run_opts_parse(run_opts *o, const run_args *a, foil_err *err) {
    run_cfg rc;
    *o = (run_opts){.grid_eps = 3, .shift = 1, .topk = 0.1, .compare_images = 16,
                   .compare_shown = 6};
    int code = run_config_load(&rc, a, err);
    foil_node *r = code ? NULL : foil_node_get(rc.cfg.root, "report");
    if (r) code = parse_report(o, &rc.cfg, r, err);
    run_config_free(&rc);
    return code;
}

/* Whether the study has a top-level section. */
static int has_section(const run_args *a, const char *name, foil_err *err) {
    run_cfg rc;
    int code = run_config_load(&rc, a, err);
    int has = code ? -1 : child(rc.cfg.root, name, NULL) != NULL;
    run_config_free(&rc);
    return has;
}

static const char *const NOT_TRAIN[] = {"attack", "explain", "report", "sweep", NULL};
static const char *const NOT_SWEEP[] = {"train", "explain", "report", NULL};
static const char *const NOT_EXPLAIN[] = {"train", "attack", "report", "sweep", NULL};
static const char *const NOT_SHIFT[] = {"train", "report", NULL};

static int prepare_train(run_ctx *c, foil_err *err) {
    run_cfg rc;
    int code = run_config_load(&rc, &c->a, err) ||
               train_job_parse(c->train, &rc.cfg, NOT_TRAIN, err) ? -1 : 0;
    run_config_free(&rc);
    if (code) return -1;
    /* the study's name becomes the run folder unless -o gives one */
    foil_err why;
    if (!c->a.rundir && foil_check_name("name", c->train->r.name, &why))
        return foil_fail(err, "%s: %s; give the study another name, or -o RUNDIR", c->a.config,
                         why.msg);
    if (c->a.rundir ? foil_path(c->rundir, err, "%s", c->a.rundir)
                    : foil_path(c->rundir, err, "runs/%s", c->train->r.name))
        return -1;
    if (foil_check_outdir(c->a.rundir ? "-o" : "rundir", c->rundir, err)) return -1;
    return foil_path(c->ckpt, err, "%s/model.safetensors", c->rundir);
}

static int prepare_sweep(run_ctx *c, foil_err *err) {
    run_cfg rc;
    if (!(c->sweep = calloc(1, sizeof *c->sweep))) return foil_fail(err, "out of memory");
    int code = run_config_derive(&rc, &c->a, c->ckpt, c->o.attack_images, err) ||
               foil_sweep_parse(c->sweep, &rc.cfg, err) ? -1 : 0;
    if (!code && !(c->sweep_resolved = run_emit_without(rc.cfg.root, NOT_SWEEP)))
        code = foil_fail(err, "out of memory");
    run_config_free(&rc);
    return code;
}

static int prepare_explain(run_ctx *c, foil_err *err) {
    run_cfg rc;
    if (!(c->explain = calloc(1, sizeof *c->explain))) return foil_fail(err, "out of memory");
    int code = run_config_derive(&rc, &c->a, c->ckpt, 0, err) ||
               foil_explain_config_parse(&c->explain->c, &rc.cfg, err) ? -1 : 0;
    if (!code && !(c->explain->resolved = run_emit_without(rc.cfg.root, NOT_EXPLAIN)))
        code = foil_fail(err, "out of memory");
    run_config_free(&rc);
    return code;
}

/* The shift reads both sections from one tree, as foil shift does. */
static int prepare_shift(run_ctx *c, foil_err *err) {
    run_cfg rc;
    c->shift_sweep = calloc(1, sizeof *c->shift_sweep);
    c->shift_ec = calloc(1, sizeof *c->shift_ec);
    if (!c->shift_sweep || !c->shift_ec) return foil_fail(err, "out of memory");
    int code = run_config_derive(&rc, &c->a, c->ckpt, 0, err) ||
               foil_sweep_parse(c->shift_sweep, &rc.cfg, err) ||
               foil_explain_config_parse(c->shift_ec, &rc.cfg, err) ? -1 : 0;
    if (!code && !(c->shift_resolved = run_emit_without(rc.cfg.root, NOT_SHIFT)))
        code = foil_fail(err, "out of memory");
    run_config_free(&rc);
    return code;
}

int run_prepare(run_ctx *c, foil_err *err) {
    if (run_opts_parse(&c->o, &c->a, err)) return -1;
    if (!(c->train = calloc(1, sizeof *c->train))) return foil_fail(err, "out of memory");
    if (prepare_train(c, err)) return -1;
    int attack = has_section(&c->a, "attack", err), explain = has_section(&c->a, "explain", err);
    if (attack < 0 || explain < 0) return -1;
    if (attack && prepare_sweep(c, err)) return -1;
    if (explain && prepare_explain(c, err)) return -1;
    if (c->o.ncompare && run_compare_prepare(c, err)) return -1;
    if (attack && explain && c->o.shift && prepare_shift(c, err)) return -1;
    return 0;
}

/* The test images a section sees: the data set's count within its limit. */
static int test_images(const char *dir, int limit, int *n, foil_err *err) {
    if (foil_dataset_count(dir, "t10k", n, err)) return -1;
    if (limit > 0 && limit < *n) *n = limit;
    return 0;
}

static int check_list(const char *what, const int *idx, int k, int n, const char *limits,
                      foil_err *err) {
    for (int i = 0; i < k; i++)
        if (idx[i] >= n)
            return foil_fail(err, "%s: image %d is past the end of the test set (%d images, "
                                  "within %s)", what, idx[i], n, limits);
    return 0;
}

int run_check_indices(const run_ctx *c, foil_err *err) {
    int n;
    const foil_sweep *sw = c->sweep;
    if (sw && !sw->examples_first && sw->nexamples > 0 &&
        (test_images(sw->data_dir, sw->test_limit, &n, err) ||
         check_list("attack.examples", sw->examples, sw->nexamples, n,
                    "data.test_limit and report.attack_images", err)))
        return -1;
    const foil_explain_config *ec = c->explain ? &c->explain->c : NULL;
    if (ec && ec->image_list &&
        (test_images(ec->data_dir, ec->test_limit, &n, err) ||
         check_list("explain.images", ec->image_list, ec->nlist, n, "data.test_limit", err)))
        return -1;
    ec = c->shift_ec;
    if (ec && ec->image_list &&
        (test_images(ec->data_dir, ec->test_limit, &n, err) ||
         check_list("explain.images (shift)", ec->image_list, ec->nlist, n, "data.test_limit",
                    err)))
        return -1;
    return 0;
}

void run_prepared_free(run_ctx *c) {
    if (c->train) train_job_free(c->train);
    free(c->train);
    free(c->sweep);
    free(c->sweep_resolved);
    if (c->explain) explain_run_free(c->explain);
    free(c->explain);
    if (c->shift_ec) foil_explain_config_free(c->shift_ec);
    free(c->shift_ec);
    free(c->shift_sweep);
    free(c->shift_resolved);
    run_compare_free(c);
    c->train = NULL, c->sweep = c->shift_sweep = NULL, c->explain = NULL, c->shift_ec = NULL;
    c->sweep_resolved = c->shift_resolved = NULL;
}
