/* foil run over several models: a study with a `models` list,
 *   models:
 *     - natural: configs/quickstart.yaml              # LABEL: RECIPE
 *     - robust: {recipe: configs/robust_quickstart.yaml, seed: 0}
 *     - madry: {model: configs/models/madry.yaml}     # the study's train section
 * Each entry becomes a study of its own, RUNDIR/models/<label>/study.yaml:
 * the study's sections (data, device, attack, explain, report, ...) with the
 * entry's `model` and `train` (a recipe's, or the study's train section for a
 * bare model) and its seed (the entry's, else the recipe's, else the
 * study's). Each is run as `foil run` runs a study, in RUNDIR/models/<label>/
 * (its own report, steps reused when unchanged), all of them parsed before
 * any work starts; then RUNDIR/report.html and summary.md put them side by
 * side (run_models_report.c). The command line's key=value overrides apply
 * to every model's study. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "foil/strbuf.h"
#include "run_models.h"

int run_models_present(const run_args *a, foil_err *err) {
    run_cfg rc;
    if (run_config_load(&rc, a, err)) return run_config_free(&rc), -1;
    int has = foil_node_get(rc.cfg.root, "models") != NULL;
    run_config_free(&rc);
    return has;
}

static int parse_entry(const foil_config *cfg, foil_node *item, run_model_entry *e,
                       foil_err *err) {
    memset(e, 0, sizeof *e);
    e->seed = -1;
    item->used = 1;
    if (item->kind != FOIL_NODE_MAP || foil_node_count(item) != 1)
        return foil_cfg_fail(cfg, item, err, "an entry is LABEL: RECIPE or LABEL: {recipe: "
                                             "FILE, model: FILE, seed: N}");
    foil_node *v = item->child;
    v->used = 1;
    foil_err why;
    if (foil_check_name("label", v->key, &why))
        return foil_cfg_fail(cfg, v, err, "%s", why.msg);
    snprintf(e->label, sizeof e->label, "%s", v->key);
    const char *recipe = NULL, *model = NULL;
    long seed;
    if (v->kind == FOIL_NODE_SCALAR) {
        recipe = v->value;
    } else if (v->kind == FOIL_NODE_MAP) {
        if (foil_cfg_string(cfg, v, "recipe", NULL, &recipe, err) ||
            foil_cfg_string(cfg, v, "model", NULL, &model, err) ||
            foil_cfg_int(cfg, v, "seed", -1, -1, 0x7FFFFFFFFFFFFFFFL, &seed, err) ||
            foil_config_check_used(cfg, v, err))
            return -1;
        e->seed = seed;
    } else {
        return foil_cfg_fail(cfg, v, err, "expected a recipe file or a map");
    }
    if (!recipe && !model)
        return foil_cfg_fail(cfg, v, err, "needs a recipe (its model and train section) or a "
                                          "model (trained with the study's train section)");
    if (recipe && foil_recipe_find_file(e->recipe, cfg->path, recipe))
        return foil_cfg_fail(cfg, v, err, "recipe file '%s' not found", recipe);
    if (model && foil_recipe_find_file(e->model, cfg->path, model))
        return foil_cfg_fail(cfg, v, err, "model file '%s' not found", model);
    return 0;
}

/* The list, the run folder and the report's options, from the study as the
 * command line changes it. */
static int parse_study(run_study *s, const run_args *a, foil_err *err) {
    run_cfg rc;
    const char *name;
    int code = run_config_load(&rc, a, err);
    foil_node *root = rc.cfg.root, *list = code ? NULL : foil_node_get(root, "models");
    if (!code && list->kind != FOIL_NODE_SEQ)
        code = foil_cfg_fail(&rc.cfg, list, err, "expected a list of models");
    else if (!code && (foil_node_count(list) < 1 || foil_node_count(list) > RUN_MAX_MODELS))
        code = foil_cfg_fail(&rc.cfg, list, err, "1 to %d models, not %d", RUN_MAX_MODELS,
                             foil_node_count(list));
    else if (!code && foil_node_get(root, "model"))
        code = foil_cfg_fail(&rc.cfg, foil_node_get(root, "model"), err,
                             "a study with `models` takes each model from its entry; remove "
                             "`model` (or make it an entry)");
    for (foil_node *it = code ? NULL : list->child; it && !code; it = it->next) {
        run_model_entry *e = &s->e[s->n];
        code = parse_entry(&rc.cfg, it, e, err);
        for (int k = 0; !code && k < s->n; k++)
            if (strcmp(s->e[k].label, e->label) == 0)
                code = foil_cfg_fail(&rc.cfg, it, err, "label '%s' given twice", e->label);
        if (!code && !e->recipe[0] && !foil_node_get(root, "train"))
            code = foil_cfg_fail(&rc.cfg, it, err, "'%s' names a model only, and the study has "
                                                   "no train section for it", e->label);
        s->n += !code;
    }
    if (!code) code = foil_cfg_string(&rc.cfg, root, "name", NULL, &name, err);
    if (!code && !name && !a->rundir)
        code = foil_fail(err, "%s: a study needs a name (its run folder) or -o RUNDIR", a->config);
    foil_err why;
    if (!code && !a->rundir && foil_check_name("name", name, &why))
        code = foil_fail(err, "%s: %s; give the study another name, or -o RUNDIR", a->config,
                         why.msg);
    if (!code)
        snprintf(s->name, sizeof s->name, "%s", name ? name : "study"),
            code = a->rundir ? foil_path(s->rundir, err, "%s", a->rundir)
                             : foil_path(s->rundir, err, "runs/%s", name);
    run_config_free(&rc);
    return code;
}

/* Emits one top-level key of value n (a copy without its siblings). */
static int put_node(foil_strbuf *out, const foil_node *n, const char *key, const char *value,
                    int quoted) {
    foil_node copy = n ? *n : (foil_node){.kind = FOIL_NODE_SCALAR};
    copy.key = (char *)key, copy.next = NULL, copy.parent = NULL;
    if (value) copy.kind = FOIL_NODE_SCALAR, copy.value = (char *)value, copy.quoted = quoted;
    foil_node root = {.kind = FOIL_NODE_MAP, .child = &copy};
    char *text = foil_config_emit_string(&root);
    int rc = !text || foil_sb_put(out, "%s", text);
    free(text);
    return rc ? -1 : 0;
}

static const char *const NOT_SHARED[] = {"models", "name", "seed", "model", "train", NULL};

/* The entry's study: the shared sections, then name, seed, model, train. */
static char *derive(const run_model_entry *e, foil_config *study, foil_err *err) {
    foil_config recipe = {0};
    foil_strbuf out = {0};
    char seed[32], model_path[FOIL_PATH_MAX];
    if (e->recipe[0] && foil_config_load(&recipe, e->recipe, err)) return NULL;
    foil_node *from = e->recipe[0] ? recipe.root : study->root;
    foil_node *seed_n = foil_node_get(e->recipe[0] ? recipe.root : study->root, "seed");
    if (!seed_n) seed_n = foil_node_get(study->root, "seed");
    if (e->seed >= 0) snprintf(seed, sizeof seed, "%ld", e->seed);
    foil_node *model = e->model[0] ? NULL : foil_node_get(from, "model");
    foil_node *train = foil_node_get(from, "train");
    char *shared = run_emit_without(study->root, NOT_SHARED);
    int rc = shared ? foil_sb_put(&out, "%s", shared) : -1;
    free(shared);
    if (!rc) rc = put_node(&out, NULL, "name", e->label, 1);
    if (!rc && (e->seed >= 0 || seed_n))
        rc = put_node(&out, seed_n, "seed", e->seed >= 0 ? seed : NULL, 0);
    if (!rc && e->model[0]) rc = put_node(&out, NULL, "model", e->model, 1);
    else if (!rc && !model) rc = foil_fail(err, "%s: no model", e->recipe);
    else if (!rc && model->kind == FOIL_NODE_SCALAR) {
        if (foil_recipe_find_file(model_path, recipe.path, model->value))
            rc = foil_cfg_fail(&recipe, model, err, "model file '%s' not found", model->value);
        else rc = put_node(&out, model, "model", model_path, 1);
    } else if (!rc) {
        rc = put_node(&out, model, "model", NULL, 0);
    }
    if (!rc && train) rc = put_node(&out, train, "train", NULL, 0);
    foil_config_free(&recipe);
    char *text = foil_sb_take(&out);
    if (!rc && !text) foil_fail(err, "out of memory");
    if (rc) free(text), text = NULL;
    return text;
}

/* Writes every entry's study.yaml and prepares its run (errors before any
 * step runs). */
static int prepare(run_study *s, const run_args *a, foil_err *err) {
    foil_config study = {0};
    if (foil_config_load(&study, a->config, err)) return -1;
    int rc = 0;
    for (int i = 0; i < s->n && !rc; i++) {
        run_model_entry *e = &s->e[i];
        char *text = NULL;
        run_ctx *c = s->ctx[i] = calloc(1, sizeof *c);
        rc = !c ? foil_fail(err, "out of memory")
             : foil_path(e->dir, err, "%s/models/%s", s->rundir, e->label) ||
                     foil_path(e->config, err, "%s/study.yaml", e->dir) || cli_mkdirs(e->dir, err)
                 ? -1
                 : !(text = derive(e, &study, err)) ? -1
                 : foil_write_file_atomic(e->config, text, strlen(text), err);
        free(text);
        if (rc) break;
        c->a = (run_args){.config = e->config, .rundir = e->dir, .over = s->over,
                          .common = a->common};
        if (run_prepare(c, err)) rc = foil_fail_prefix(err, "model '%s'", e->label);
    }
    foil_config_free(&study);
    return rc;
}

static void study_free(run_study *s) {
    for (int i = 0; i < s->n; i++) {
        run_ctx *c = s->ctx[i];
        if (!c) continue;
        run_prepared_free(c);
        run_loaded_free(&c->loaded);
        run_state_free(&c->st);
        free(c->report);
        free(c);
    }
    free(s);
}

int run_models(const run_args *a, int *interrupted, foil_err *err) {
    run_study *s = calloc(1, sizeof *s);
    if (!s) return foil_fail(err, "out of memory");
    s->config = a->config;
    for (int i = 0; i < a->over.n; i++) { /* the study's name and list are not each model's */
        const char *o = a->over.v[i];
        if (strncmp(o, "name=", 5) && strncmp(o, "models=", 7) && strncmp(o, "models.", 7))
            s->over.v[s->over.n++] = o;
    }
    s->all_over = a->over;
    int rc = parse_study(s, a, err) || foil_check_outdir(a->rundir ? "-o" : "rundir", s->rundir, err) ||
             cli_mkdirs(s->rundir, err) || cli_lock_dir(s->rundir, err) || prepare(s, a, err);
    for (int i = 0; i < s->n && !rc; i++) {
        printf("== model %s (%d of %d): %s -> %s\n", s->e[i].label, i + 1, s->n,
               s->e[i].recipe[0] ? s->e[i].recipe : s->e[i].model, s->e[i].dir);
        fflush(stdout);
        if (run_execute(s->ctx[i], err)) {
            *interrupted = s->ctx[i]->interrupted;
            rc = foil_fail_prefix(err, "model '%s'", s->e[i].label);
        }
    }
    if (!rc) rc = run_models_write_report(s, err);
    if (!rc)
        printf("report: %s/report.html (%d model%s side by side)\n", s->rundir, s->n,
               s->n == 1 ? "" : "s");
    study_free(s);
    return rc ? -1 : 0;
}
