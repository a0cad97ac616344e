/* foil run: explanation methods side by side (report.compare). Each entry
 * explains the first report.compare_images test images with the explain
 * section's keys, then its own (a method's keys that do not apply to
 * another are left alone by it), heatmaps at scale 2 and faithfulness on,
 * into RUNDIR/compare/<label>/ as foil explain writes; the step ends with
 * RUNDIR/compare/faithfulness.csv, each entry's means:
 *   label,method,images,deletion_auc,insertion_auc,infidelity,sensitivity_max,seconds
 * The report reads that file and the heatmaps back: the table, and one row
 * of heatmaps per method for the same images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "foil/strbuf.h"
#include "run.h"

static const char *const NOT_EXPLAIN[] = {"train", "attack", "report", "sweep", NULL};

/* Appends explain.<path>=<value> lines for the scalars under node n. */
static int flatten(const foil_config *cfg, foil_node *n, const char *path, foil_strbuf *out,
                   foil_err *err) {
    n->used = 1;
    if (n->kind == FOIL_NODE_MAP) {
        for (foil_node *k = n->child; k; k = k->next) {
            char sub[256];
            if (snprintf(sub, sizeof sub, "%s.%s", path, k->key) >= (int)sizeof sub)
                return foil_cfg_fail(cfg, k, err, "key path too long");
            if (flatten(cfg, k, sub, out, err)) return -1;
        }
        return 0;
    }
    if (n->kind != FOIL_NODE_SCALAR)
        return foil_cfg_fail(cfg, n, err, "a list is not taken here (the compared images are "
                             "report.compare_images)");
    if (strchr(n->value, '\n'))
        return foil_cfg_fail(cfg, n, err, "a value on one line, please");
    return foil_sb_put(out, "%s=%s\n", path, n->value) ? foil_fail(err, "out of memory") : 0;
}

static int parse_entry(const foil_config *cfg, foil_node *item, run_compare_entry *e,
                       foil_err *err) {
    const char *name;
    foil_node *args = NULL;
    item->used = 1;
    if (item->kind == FOIL_NODE_SCALAR) {
        name = item->value;
    } else if (item->kind == FOIL_NODE_MAP && foil_node_count(item) == 1) {
        args = item->child;
        args->used = 1;
        name = args->key;
    } else {
        return foil_cfg_fail(cfg, item, err, "a method is a name (lime) or {name: {key: value}}");
    }
    foil_explain_method m;
    if (foil_explain_method_parse(name, &m)) {
        char known[256] = "";
        for (int k = 0; k < FOIL_EXPLAIN_METHOD_COUNT; k++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                     foil_explain_method_name((foil_explain_method)k));
        return foil_cfg_fail(cfg, args ? args : item, err,
                             "unknown method '%s' (choose one of: %s)", name, known);
    }
    snprintf(e->method, sizeof e->method, "%s", foil_explain_method_name(m));
    snprintf(e->label, sizeof e->label, "%s", e->method);
    if (args && args->kind == FOIL_NODE_SCALAR && args->value[0] == 0) args = NULL;
    if (!args) return 0;
    if (args->kind != FOIL_NODE_MAP)
        return foil_cfg_fail(cfg, args, err, "a method's keys must be a map");
    foil_strbuf sb = {0};
    for (foil_node *k = args->child; k; k = k->next) {
        static const char *const OWN[] = {"method", "images", "faithfulness", NULL};
        for (int i = 0; OWN[i]; i++)
            if (!strcmp(k->key, OWN[i])) {
                foil_sb_free(&sb);
                return foil_cfg_fail(cfg, k, err, "set by the comparison (the method is the "
                                     "entry's name; the images report.compare_images)");
            }
        if (!strcmp(k->key, "label")) {
            foil_err why;
            k->used = 1;
            if (k->kind != FOIL_NODE_SCALAR || foil_check_name("label", k->value, &why)) {
                foil_sb_free(&sb);
                return foil_cfg_fail(cfg, k, err, "%s", k->kind == FOIL_NODE_SCALAR ? why.msg
                                     : "expected a name");
            }
            snprintf(e->label, sizeof e->label, "%s", k->value);
            continue;
        }
        char path[256];
        snprintf(path, sizeof path, "explain.%s", k->key);
        if (flatten(cfg, k, path, &sb, err)) {
            foil_sb_free(&sb);
            return -1;
        }
    }
    e->assign = foil_sb_take(&sb);
    return 0;
}

int run_compare_parse(run_opts *o, const foil_config *cfg, foil_node *list, foil_err *err) {
    list->used = 1;
    if (list->kind == FOIL_NODE_SCALAR && list->value[0] == 0) return 0; /* compare: (none) */
    if (list->kind != FOIL_NODE_SEQ || foil_node_count(list) == 0)
        return foil_cfg_fail(cfg, list, err, "expected a non-empty list of methods");
    if (foil_node_count(list) > RUN_MAX_COMPARE)
        return foil_cfg_fail(cfg, list, err, "at most %d methods", RUN_MAX_COMPARE);
    for (foil_node *it = list->child; it; it = it->next) {
        run_compare_entry *e = &o->compare[o->ncompare++];
        if (parse_entry(cfg, it, e, err)) return -1;
        for (int j = 0; j < o->ncompare - 1; j++)
            if (!strcmp(o->compare[j].label, e->label))
                return foil_cfg_fail(cfg, it, err, "label '%s' is taken by compare[%d]; give "
                                     "one of them its own label", e->label, j);
    }
    return 0;
}

/* The study with the entry's keys over its explain section. */
static int entry_config(run_ctx *c, const run_compare_entry *e, run_cfg *rc, foil_err *err) {
    char images[32];
    snprintf(images, sizeof images, "%d", c->o.compare_images);
    if (run_config_derive(rc, &c->a, c->ckpt, 0, err) ||
        cli_set_string(&rc->cfg, "explain.method", e->method, 1, err) ||
        cli_set_string(&rc->cfg, "explain.images", images, 1, err) ||
        cli_set_string(&rc->cfg, "explain.faithfulness", "true", 1, err) ||
        cli_set_string(&rc->cfg, "explain.heatmaps", "true", 1, err) ||
        cli_set_string(&rc->cfg, "explain.scale", "2", 1, err))
        return -1;
    for (const char *line = e->assign; line && *line;) {
        const char *eq = strchr(line, '='), *nl = strchr(line, '\n');
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)(eq - line), line);
        char *value = strndup(eq + 1, (size_t)(nl - eq - 1));
        int bad = !value ? foil_fail(err, "out of memory")
                         : cli_set_string(&rc->cfg, key, value, 1, err);
        free(value);
        if (bad) return -1;
        line = nl + 1;
    }
    return 0;
}

int run_compare_prepare(run_ctx *c, foil_err *err) {
    foil_strbuf all = {0};
    for (int i = 0; i < c->o.ncompare; i++) {
        const run_compare_entry *e = &c->o.compare[i];
        run_cfg rc;
        explain_run *r = c->compare[i] = calloc(1, sizeof *r);
        if (!r) return foil_fail(err, "out of memory");
        int code = entry_config(c, e, &rc, err) ||
                   foil_explain_config_parse(&r->c, &rc.cfg, err) ? -1 : 0;
        if (!code && !(r->resolved = run_emit_without(rc.cfg.root, NOT_EXPLAIN)))
            code = foil_fail(err, "out of memory");
        run_config_free(&rc);
        if (code) {
            foil_sb_free(&all);
            return foil_fail_prefix(err, "report.compare[%d] (%s)", i, e->label);
        }
        foil_sb_put(&all, "# compare %s\n%s", e->label, r->resolved);
    }
    if (!(c->compare_resolved = foil_sb_take(&all))) return foil_fail(err, "out of memory");
    return 0;
}

/* Runs entry i into compare/<label>/; its means into f. */
static int run_entry(run_ctx *c, int i, foil_report_faith *f, foil_err *err) {
    explain_run *r = c->compare[i];
    const run_compare_entry *e = &c->o.compare[i];
    char sub[96], dir[FOIL_PATH_MAX];
    snprintf(sub, sizeof sub, "compare/%s", e->label);
    if (run_step_dir(c, sub, r->resolved, dir, err)) return -1;
    r->outdir = dir;
    r->quiet = 1;
    int rc = explain_run_all(r, err) || explain_write_outputs(r, err) ? -1 : 0;
    r->outdir = NULL;
    if (r->cm.b) snprintf(c->device, sizeof c->device, "%s", r->cm.b->name);
    if (rc) return foil_fail_prefix(err, "%s", e->label);
    *f = (foil_report_faith){.n = r->n, .seconds = r->seconds};
    snprintf(f->label, sizeof f->label, "%s", e->label);
    snprintf(f->method, sizeof f->method, "%s", e->method);
    for (int k = 0; k < r->n; k++) {
        f->deletion += r->faith[k].deletion_auc / r->n;
        f->insertion += r->faith[k].insertion_auc / r->n;
        f->infidelity += r->faith[k].infidelity / r->n;
        f->sensitivity += r->faith[k].sensitivity_max / r->n;
    }
    printf("compare: %-12s %d images, deletion %.4f, insertion %.4f, infidelity %.3g, "
           "max-sensitivity %.3g, %.1f s\n", e->label, r->n, f->deletion, f->insertion,
           f->infidelity, f->sensitivity, r->seconds);
    fflush(stdout);
    explain_run_free(r); /* its model, data and buffers; the step is done with them */
    memset(r, 0, sizeof *r);
    return 0;
}

int run_step_compare(run_ctx *c, foil_err *err) {
    foil_report_faith f[RUN_MAX_COMPARE];
    char dir[FOIL_PATH_MAX], path[FOIL_PATH_MAX];
    if (run_step_dir(c, "compare", c->compare_resolved, dir, err)) return -1;
    for (int i = 0; i < c->o.ncompare; i++)
        if (run_entry(c, i, &f[i], err)) return -1;
    foil_strbuf t = {0};
    int bad = foil_sb_put(&t, "label,method,images,deletion_auc,insertion_auc,infidelity,"
                              "sensitivity_max,seconds\n");
    for (int i = 0; i < c->o.ncompare && !bad; i++)
        bad = foil_sb_put(&t, "%s,%s,%d,%.9g,%.9g,%.9g,%.9g,%.3f\n", f[i].label, f[i].method,
                          f[i].n, f[i].deletion, f[i].insertion, f[i].infidelity,
                          f[i].sensitivity, f[i].seconds);
    int rc = foil_path(path, err, "%s/faithfulness.csv", dir) ? -1
             : bad ? foil_fail(err, "%s: out of memory", path)
                   : foil_write_file_atomic(path, t.s, t.len, err);
    foil_sb_free(&t);
    return rc;
}

void run_compare_report(const run_ctx *c, foil_report *r) {
    char path[FOIL_PATH_MAX], line[512];
    foil_err e;
    if (c->o.ncompare == 0) return; /* else files on disk are an earlier run's */
    FILE *f = foil_path(path, &e, "%s/compare/faithfulness.csv", c->rundir) ? NULL
              : foil_fopen_read(path, 0, &e);
    if (!f) return;
    while (fgets(line, sizeof line, f) && r->ncompare < FOIL_REPORT_MAX_COMPARE) {
        foil_report_faith x = {0};
        if (sscanf(line, "%63[^,],%31[^,],%d,%lf,%lf,%lf,%lf,%lf", x.label, x.method, &x.n,
                   &x.deletion, &x.insertion, &x.infidelity, &x.sensitivity, &x.seconds) != 8)
            continue; /* the header */
        r->compare[r->ncompare++] = x;
        for (int k = 0; k < x.n && k < c->o.compare_shown; k++) {
            char rel[160], caption[128];
            snprintf(rel, sizeof rel, "compare/%s/img_%05d.png", x.label, k);
            snprintf(caption, sizeof caption, "%s, test image %d", x.label, k);
            if (foil_path(path, &e, "%s/%s", c->rundir, rel) == 0 && run_file_exists(path))
                foil_report_image_add(&r->compare_maps, rel, caption, x.label);
        }
    }
    fclose(f);
}

void run_compare_free(run_ctx *c) {
    for (int i = 0; i < RUN_MAX_COMPARE; i++) {
        if (c->compare[i]) explain_run_free(c->compare[i]);
        free(c->compare[i]);
        c->compare[i] = NULL;
        free(c->o.compare[i].assign);
        c->o.compare[i].assign = NULL;
    }
    free(c->compare_resolved);
    c->compare_resolved = NULL;
}
