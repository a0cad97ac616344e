/* foil run: the report, from the files the steps wrote (this run or an
 * earlier one). A missing or unreadable result leaves its section empty
 * with a note instead of failing the run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "run.h"

/* Adds <rundir>/<rel> to set when the file is there. */
static void add_image(const run_ctx *c, foil_report_images *set, const char *rel,
                      const char *caption, const char *group) {
    char path[FOIL_PATH_MAX];
    foil_err e;
    if (foil_path(path, &e, "%s/%s", c->rundir, rel) == 0 && run_file_exists(path))
        foil_report_image_add(set, rel, caption, group);
}

/* Up to k of the n eps values (zero left out when others exist), evenly
 * spread and always with the largest; their indices into pick. */
static int pick_eps(const float *eps, int n, int k, int *pick) {
    int idx[FOIL_SWEEP_MAX_EPS], m = 0, any = 0, out = 0;
    for (int i = 0; i < n; i++) any |= eps[i] > 0.0f;
    for (int i = 0; i < n && m < FOIL_SWEEP_MAX_EPS; i++)
        if (!any || eps[i] > 0.0f) idx[m++] = i;
    if (m <= k) {
        for (int i = 0; i < m; i++) pick[out++] = idx[i];
        return out;
    }
    for (int j = 0; j < k; j++) {
        int at = k == 1 ? m - 1 : (int)lround((double)j * (m - 1) / (k - 1));
        if (out == 0 || pick[out - 1] != idx[at]) pick[out++] = idx[at];
    }
    return out;
}

/* Grids named <dir>/<label>_eps<eps>.png for the picked eps of each attack
 * (consecutive rows with one label). */
static void add_grids(const run_ctx *c, foil_report_images *set, const char *dir, int k,
                      const char *(*label)(const void *, int), float (*eps_of)(const void *, int),
                      const void *rows, int n) {
    for (int i0 = 0; i0 < n;) {
        int i1 = i0 + 1, pick[FOIL_SWEEP_MAX_EPS];
        float eps[FOIL_SWEEP_MAX_EPS];
        while (i1 < n && strcmp(label(rows, i1), label(rows, i0)) == 0) i1++;
        int m = i1 - i0 < FOIL_SWEEP_MAX_EPS ? i1 - i0 : FOIL_SWEEP_MAX_EPS;
        for (int i = 0; i < m; i++) eps[i] = eps_of(rows, i0 + i);
        int np = pick_eps(eps, m, k, pick);
        for (int p = 0; p < np; p++) {
            char rel[400], caption[128];
            snprintf(rel, sizeof rel, "%s/%s_eps%.3f.png", dir, label(rows, i0), (double)eps[pick[p]]);
            snprintf(caption, sizeof caption, "%s, eps %.3g", label(rows, i0), (double)eps[pick[p]]);
            add_image(c, set, rel, caption, label(rows, i0));
        }
        i0 = i1;
    }
}

static const char *sweep_label(const void *r, int i) { return ((const foil_sweep_row *)r)[i].label; }
static float sweep_eps(const void *r, int i) { return ((const foil_sweep_row *)r)[i].eps; }
static const char *shift_label(const void *r, int i) { return ((const foil_shift_row *)r)[i].label; }
static float shift_eps(const void *r, int i) { return ((const foil_shift_row *)r)[i].eps; }

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double percentile(const double *sorted, int n, double q) {
    double pos = q * (n - 1);
    int lo = (int)floor(pos), hi = lo + 1 < n ? lo + 1 : lo;
    return sorted[lo] + (pos - lo) * (sorted[hi] - sorted[lo]);
}

/* explain.csv: heatmap per image and the completeness error. */
static void explain_part(const run_ctx *c, foil_report *r) {
    char path[FOIL_PATH_MAX], line[1024];
    foil_err e;
    FILE *f = foil_path(path, &e, "%s/explain/explain.csv", c->rundir) ? NULL
                                                                     : foil_fopen_read(path, 0, &e);
    if (!f) return;
    double rel[FOIL_REPORT_MAX_IMAGES * 64];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        double v[10];
        char *p = line, *end;
        int k = 0;
        for (; k < 10; k++, p = end + (*end == ',')) {
            v[k] = strtod(p, &end);
            if (end == p) break;
        }
        if (k < 10) continue; /* the header */
        char rel_path[64], caption[128];
        snprintf(rel_path, sizeof rel_path, "explain/img_%05d.png", (int)v[0]);
        snprintf(caption, sizeof caption, "test image %d: label %d, predicted %d, rel. delta %.2g",
                 (int)v[0], (int)v[1], (int)v[2], v[8]);
        add_image(c, &r->heatmaps, rel_path, caption, NULL);
        if (!isnan(v[8]) && n < (int)(sizeof rel / sizeof *rel)) rel[n++] = fabs(v[8]);
        r->completeness.steps = (int)v[9];
    }
    fclose(f);
    qsort(rel, (size_t)n, sizeof *rel, cmp_double);
    foil_report_completeness *cp = &r->completeness;
    cp->n = n;
    if (n) cp->median = percentile(rel, n, 0.5), cp->p95 = percentile(rel, n, 0.95), cp->max = rel[n - 1];
}

/* The explained method, named in the sections' titles (the shift's config
 * when there is no explain step). */
static void method_facts(const run_ctx *c, foil_report *r) {
    const foil_explain_config *ec = c->explain ? &c->explain->c : c->shift_ec;
    if (!ec) return;
    const foil_explain_spec *s = &ec->spec;
    const foil_explain_method_info *info = foil_explain_method_info_of(s->method);
    foil_report_completeness *cp = &r->completeness;
    snprintf(r->method, sizeof r->method, "%s", info->name);
    r->completeness_applies = info->completeness;
    if (info->path)
        snprintf(cp->method, sizeof cp->method, "%s, %s rule, %s baseline", info->name,
                 foil_quad_rule_name(s->rule), foil_baseline_name(s->baseline));
    else if (info->baseline)
        snprintf(cp->method, sizeof cp->method, "%s, %s baseline", info->name,
                 foil_baseline_name(s->baseline));
    else
        snprintf(cp->method, sizeof cp->method, "%s", info->name);
}

/* Whether the sweep has a minimal-perturbation attack (else a radii.csv on
 * disk is an earlier run's). */
static int has_minimal(const foil_sweep *sw) {
    for (int i = 0; sw && i < sw->nattacks; i++)
        if (foil_attack_info_of(sw->attacks[i].spec.kind)->minimal) return 1;
    return 0;
}

static void load_results(const run_ctx *c, run_loaded *l, foil_report *r) {
    char path[FOIL_PATH_MAX];
    foil_err e = {{0}};
    if (foil_path(path, &e, "%s/eval.json", c->rundir) == 0 && run_file_exists(path) &&
        !(l->have_clean = run_load_metrics(path, &l->clean, &e) == 0))
        fprintf(stderr, "foil: note: %s\n", e.msg);
    if (c->sweep && foil_path(path, &e, "%s/sweep/sweep.json", c->rundir) == 0 &&
        run_file_exists(path) && run_load_sweep(path, &l->sweep, &l->nsweep, &e))
        fprintf(stderr, "foil: note: %s\n", e.msg);
    if (c->shift_sweep && foil_path(path, &e, "%s/shift/shift.json", c->rundir) == 0 &&
        run_file_exists(path) && run_load_shift(path, &l->shift, &l->nshift, &e))
        fprintf(stderr, "foil: note: %s\n", e.msg);
    if (has_minimal(c->sweep) && foil_path(path, &e, "%s/sweep/radii.csv", c->rundir) == 0 &&
        run_file_exists(path) && run_load_radii(path, r, &e))
        fprintf(stderr, "foil: note: %s\n", e.msg);
    r->clean = l->have_clean ? &l->clean : NULL;
    r->sweep = l->sweep, r->nsweep = l->nsweep;
    r->shift = l->shift, r->nshift = l->nshift;
    if (c->sweep && c->sweep->nexamples > 0) /* else grids on disk are an earlier run's */
        add_grids(c, &r->examples, "sweep/examples", c->o.grid_eps, sweep_label, sweep_eps,
                  l->sweep, l->nsweep);
    add_grids(c, &r->shift_grids, "shift/shift", 2, shift_label, shift_eps, l->shift, l->nshift);
    method_facts(c, r);
    if (c->explain) explain_part(c, r); /* else a file on disk is an earlier run's */
    run_compare_report(c, r);
}

static void links(const run_ctx *c, foil_report *r) {
    static const char *const FILES[][2] = {
        {"config.yaml", "resolved training config"}, {"model.safetensors", "checkpoint"},
        {"metrics.json", "training metrics"}, {"eval.json", "clean metrics"},
        {"eval.csv", "per-class metrics"}, {"sweep/sweep.csv", "sweep table"},
        {"sweep/sweep.json", "sweep table"}, {"sweep/config.yaml", "resolved sweep config"},
        {"sweep/examples/index.csv", "example images: classes and confidences"},
        {"explain/explain.csv", "per-image attributions' values and completeness"},
        {"explain/attributions.safetensors", "attributions and inputs"},
        {"explain/config.yaml", "resolved explain config"}, {"shift/shift.csv", "shift table"},
        {"shift/shift.json", "shift table"}, {"shift/config.yaml", "resolved shift config"},
        {"compare/faithfulness.csv", "the methods compared: faithfulness means"},
        {"state.json", "what each step was computed from"}};
    char path[FOIL_PATH_MAX];
    foil_err e;
    for (size_t i = 0; i < sizeof FILES / sizeof *FILES; i++)
        if (foil_path(path, &e, "%s/%s", c->rundir, FILES[i][0]) == 0 && run_file_exists(path))
            foil_report_link_add(r, FILES[i][0], FILES[i][1]);
}

void run_loaded_free(run_loaded *l) {
    if (l->have_clean) foil_metrics_free(&l->clean);
    free(l->sweep);
    free(l->shift);
    memset(l, 0, sizeof *l);
}

int run_write_report(run_ctx *c, foil_err *err) {
    foil_report *r = c->report;
    run_loaded *l = &c->loaded;
    time_t now = time(NULL);
    struct tm tm;
    run_loaded_free(l);
    snprintf(r->title, sizeof r->title, "foil study: %s", c->train->r.name);
    if (localtime_r(&now, &tm)) strftime(r->generated, sizeof r->generated, "%Y-%m-%d %H:%M %Z", &tm);
    run_report_facts(c, r);
    load_results(c, l, r);
    links(c, r);
    char path[FOIL_PATH_MAX];
    int rc = foil_path(path, err, "%s/report.html", c->rundir) ? -1
                                                               : foil_report_write(r, path, err);
    return rc ? rc : run_write_summary(c, r, err);
}
