/* The side-by-side page of a study of several models (foil_report_study):
 * built from each model's own report data; every model attacked and
 * explained by the same sections, so rows match by (attack label, eps). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "report_internal.h"

/* The row of model r's sweep (or shift) with this label and eps, or NULL. */
static const foil_sweep_row *sweep_row(const foil_report *r, const char *label, float eps) {
    for (int i = 0; r && i < r->nsweep; i++)
        if (strcmp(r->sweep[i].label, label) == 0 && fabsf(r->sweep[i].eps - eps) < 1e-6f)
            return &r->sweep[i];
    return NULL;
}

static const foil_shift_row *shift_row(const foil_report *r, const char *label, float eps) {
    for (int i = 0; r && i < r->nshift; i++)
        if (strcmp(r->shift[i].label, label) == 0 && fabsf(r->shift[i].eps - eps) < 1e-6f)
            return &r->shift[i];
    return NULL;
}

/* The first model with sweep (shift) rows: the one whose rows name the
 * table's lines. */
static const foil_report *with_sweep(const foil_report_study *s) {
    for (int m = 0; m < s->nmodels; m++)
        if (s->models[m].r->nsweep) return s->models[m].r;
    return NULL;
}

static const foil_report *with_shift(const foil_report_study *s) {
    for (int m = 0; m < s->nmodels; m++)
        if (s->models[m].r->nshift) return s->models[m].r;
    return NULL;
}

/* Indices of each attack's row with the largest eps, in sweep order. */
static int last_rows(const foil_report *r, int *idx, int cap) {
    int n = 0;
    for (int i = 0; r && i < r->nsweep; i++) {
        int k = 0;
        while (k < n && strcmp(r->sweep[idx[k]].label, r->sweep[i].label) != 0) k++;
        if (k == n && n < cap) idx[n++] = i;
        else if (k < n && r->sweep[i].eps > r->sweep[idx[k]].eps) idx[k] = i;
    }
    return n;
}

static double step_seconds(const foil_report *r, const char *name) {
    double total = 0.0;
    for (int i = 0; i < r->nsteps; i++)
        if (r->steps[i].seconds > 0 && (!name || strcmp(r->steps[i].name, name) == 0))
            total += r->steps[i].seconds;
    return total;
}

static void num_cell(rbuf *b, double v, int digits) {
    foil_sb_put(b, "<td>");
    rb_num(b, v, digits);
    foil_sb_put(b, "</td>");
}

static void models_table(rbuf *b, const foil_report_study *s) {
    const foil_report *ref = with_sweep(s);
    int last[FOIL_SWEEP_MAX_ATTACKS], nlast = last_rows(ref, last, FOIL_SWEEP_MAX_ATTACKS);
    foil_sb_put(b, "<table class='num'><caption>Models (robust accuracy at each attack's "
                   "largest eps; seconds: training, and every step of the study, earlier "
                   "runs' included)</caption>\n<tr><th>model</th><th>training</th>"
                   "<th>clean accuracy</th>");
    for (int k = 0; k < nlast; k++) {
        foil_sb_put(b, "<th>");
        rb_esc(b, ref->sweep[last[k]].label);
        foil_sb_put(b, " eps %g</th>", (double)ref->sweep[last[k]].eps);
    }
    foil_sb_put(b, "<th>training s</th><th>all steps s</th><th>its report</th></tr>\n");
    for (int m = 0; m < s->nmodels; m++) {
        const foil_report_model *md = &s->models[m];
        foil_sb_put(b, "<tr><th>");
        rb_esc(b, md->label);
        foil_sb_put(b, "</th><td style='text-align:left'>");
        rb_esc(b, md->training);
        foil_sb_put(b, "</td>");
        if (md->r->clean) report_scale_cell(b, md->r->clean->accuracy, md->r->clean->accuracy, 4, NULL);
        else num_cell(b, NAN, 4);
        for (int k = 0; k < nlast; k++) {
            const foil_sweep_row *w = sweep_row(md->r, ref->sweep[last[k]].label,
                                                ref->sweep[last[k]].eps);
            if (w) report_scale_cell(b, w->accuracy, w->accuracy, 4, NULL);
            else num_cell(b, NAN, 4);
        }
        num_cell(b, step_seconds(md->r, "train"), 1);
        num_cell(b, step_seconds(md->r, NULL), 1);
        foil_sb_put(b, "<td style='text-align:left'><a href='");
        rb_esc(b, md->dir);
        foil_sb_put(b, "/report.html'>");
        rb_esc(b, md->dir);
        foil_sb_put(b, "/report.html</a></td></tr>\n");
    }
    foil_sb_put(b, "</table>\n");
}

static void model_header(rbuf *b, const foil_report_study *s, int span) {
    for (int m = 0; m < s->nmodels; m++) {
        foil_sb_put(b, "<th colspan='%d'>", span);
        rb_esc(b, s->models[m].label);
        foil_sb_put(b, "</th>");
    }
    foil_sb_put(b, "</tr>\n");
}

/* One line per model and attack of the sweep's rows (shift = 0) or the
 * shift's, L-inf then L2 (a plot where there are rows of that norm). */
static void every_model_plot(rbuf *b, const foil_report_study *s, report_plot *p, int shift,
                             const char *const title[2], const char *const xlabel[2],
                             const char *ylabel, row_value value) {
    for (int l2 = 0; l2 < 2; l2++) {
        report_plot_init(p, title[l2], xlabel[l2], ylabel);
        int any = 0;
        for (int m = 0; m < s->nmodels; m++) {
            const foil_report *r = s->models[m].r;
            plot_src src = shift ? report_shift_src(r->shift, r->nshift)
                                 : report_sweep_src(r->sweep, r->nsweep);
            char prefix[FOIL_NAME_MAX + 4];
            snprintf(prefix, sizeof prefix, "%s: ", s->models[m].label);
            any += report_add_series(p, &src, l2, value, prefix, "", m, -1);
        }
        if (any) report_svg_lines(b, p);
    }
}

static void robust_plot(rbuf *b, const foil_report_study *s, report_plot *p) {
    static const char *const TITLE[2] = {"Robust accuracy vs eps (Linf), every model",
                                         "Robust accuracy vs L2 radius, every model"};
    static const char *const X[2] = {"eps (pixel units, images in [0, 1])",
                                     "L2 radius (pixel units)"};
    every_model_plot(b, s, p, 0, TITLE, X, "accuracy", report_sweep_accuracy);
}

static void robust_section(rbuf *b, const foil_report_study *s, report_plot *p) {
    const foil_report *ref = with_sweep(s);
    foil_sb_put(b, "<h2 id='attacks'>Robustness</h2>\n");
    if (!ref) {
        foil_sb_put(b, "<p class='missing'>No sweep results.</p>\n");
        return;
    }
    robust_plot(b, s, p);
    foil_sb_put(b, "<table class='num'><caption>Accuracy under attack, side by side (%d test "
                   "images)</caption>\n<tr><th>attack</th><th>eps</th>", ref->sweep[0].n);
    model_header(b, s, 1);
    for (int i = 0; i < ref->nsweep; i++) {
        const foil_sweep_row *w = &ref->sweep[i];
        foil_sb_put(b, "<tr%s><th>", i > 0 && strcmp(w->label, ref->sweep[i - 1].label) != 0
                                         ? " class='group'" : "");
        rb_esc(b, w->label);
        foil_sb_put(b, "</th><td>%g</td>", (double)w->eps);
        for (int m = 0; m < s->nmodels; m++) {
            const foil_sweep_row *x = sweep_row(s->models[m].r, w->label, w->eps);
            if (x) report_scale_cell(b, x->accuracy, x->accuracy, 4, NULL);
            else num_cell(b, NAN, 4);
        }
        foil_sb_put(b, "</tr>\n");
    }
    foil_sb_put(b, "</table>\n");
}

static void recall_row(rbuf *b, const char *model, const char *what, const double *recall,
                       const long *support, int classes) {
    foil_sb_put(b, "<tr><th>");
    rb_esc(b, model);
    foil_sb_put(b, "</th><td style='text-align:left'>");
    rb_esc(b, what);
    foil_sb_put(b, "</td>");
    for (int c = 0; c < classes; c++) {
        double v = support && support[c] == 0 ? NAN : recall[c];
        report_scale_cell(b, v, v, 2, NULL);
    }
    foil_sb_put(b, "</tr>\n");
}

static void recall_section(rbuf *b, const foil_report_study *s) {
    int classes = 0;
    for (int m = 0; m < s->nmodels; m++) {
        const foil_report *r = s->models[m].r;
        int k = r->clean ? r->clean->classes : r->nsweep ? r->sweep[0].classes : 0;
        if (k > classes) classes = k;
    }
    foil_sb_put(b, "<h2 id='recall'>Per-class recall</h2>\n");
    if (classes == 0) {
        foil_sb_put(b, "<p class='missing'>No per-class results.</p>\n");
        return;
    }
    foil_sb_put(b, "<table class='num heat'><caption>Recall per class: clean, and under each "
                   "attack at its largest eps</caption>\n<tr><th>model</th><th>images</th>");
    for (int c = 0; c < classes; c++) foil_sb_put(b, "<th>%d</th>", c);
    foil_sb_put(b, "</tr>\n");
    for (int m = 0; m < s->nmodels; m++) {
        const foil_report *r = s->models[m].r;
        if (r->clean && r->clean->classes == classes)
            recall_row(b, s->models[m].label, "clean", r->clean->recall, r->clean->support, classes);
        int last[FOIL_SWEEP_MAX_ATTACKS], n = last_rows(r, last, FOIL_SWEEP_MAX_ATTACKS);
        for (int k = 0; k < n; k++) {
            const foil_sweep_row *w = &r->sweep[last[k]];
            char what[FOIL_NAME_MAX + 32];
            if (w->classes != classes) continue;
            snprintf(what, sizeof what, "%s, eps %g", w->label, (double)w->eps);
            recall_row(b, s->models[m].label, what, w->recall, NULL, classes);
        }
    }
    foil_sb_put(b, "</table>\n");
}

static void faith_table(rbuf *b, const foil_report_study *s) {
    int any = 0;
    for (int m = 0; m < s->nmodels; m++) any |= s->models[m].r->ncompare > 0;
    if (!any) return;
    foil_sb_put(b, "<table class='num'><caption>Faithfulness of the compared methods under "
                   "each model (means over the images; deletion AUC: lower is better, "
                   "insertion AUC: higher is better)</caption>\n<tr><th>model</th>"
                   "<th>method</th><th>images</th><th>deletion AUC</th><th>insertion AUC</th>"
                   "<th>infidelity</th><th>max-sensitivity</th></tr>\n");
    for (int m = 0; m < s->nmodels; m++) {
        const foil_report *r = s->models[m].r;
        for (int i = 0; i < r->ncompare; i++) {
            const foil_report_faith *f = &r->compare[i];
            foil_sb_put(b, "<tr%s><th>", i == 0 && m > 0 ? " class='group'" : "");
            rb_esc(b, s->models[m].label);
            foil_sb_put(b, "</th><td style='text-align:left'>");
            rb_esc(b, f->label);
            foil_sb_put(b, "</td><td>%d</td><td>%.4g</td><td>%.4g</td><td>%.3g</td><td>%.3g</td>"
                           "</tr>\n", f->n, f->deletion, f->insertion, f->infidelity,
                        f->sensitivity);
        }
    }
    foil_sb_put(b, "</table>\n");
}

/* The compared methods' heatmaps: per method (model 0's order), one row per
 * model, as many images each as fit the gallery. */
static void compare_rows(rbuf *b, const foil_report_study *s, foil_report_images *rows) {
    const foil_report *ref = s->models[0].r;
    if (ref->ncompare == 0) return;
    int per = FOIL_REPORT_MAX_IMAGES / (ref->ncompare * s->nmodels);
    per = per < s->shown ? per : s->shown;
    rows->n = 0;
    for (int i = 0; i < ref->ncompare && per > 0; i++)
        for (int m = 0; m < s->nmodels; m++) {
            const foil_report_images *maps = &s->models[m].r->compare_maps;
            char group[2 * FOIL_NAME_MAX];
            snprintf(group, sizeof group, "%s/%s", ref->compare[i].label, s->models[m].label);
            for (int k = 0, taken = 0; k < maps->n && taken < per; k++) {
                if (strcmp(maps->items[k].group, ref->compare[i].label) != 0) continue;
                char path[sizeof maps->items[k].path], caption[sizeof maps->items[k].caption];
                snprintf(path, sizeof path, "%s/%s", s->models[m].dir, maps->items[k].path);
                snprintf(caption, sizeof caption, "%s: %s", s->models[m].label,
                         maps->items[k].caption);
                foil_report_image_add(rows, path, caption, group);
                taken++;
            }
        }
    if (rows->n == 0) return;
    foil_sb_put(b, "<h3>Methods compared, under each model</h3>\n<p class='note'>Per method "
                   "(report.compare), one row per model, the same clean images. Saliency "
                   "(the plain gradient) shows the difference best.</p>\n");
    report_gallery(b, rows);
}

static void explain_section(rbuf *b, const foil_report_study *s, foil_report_images *rows) {
    const char *method = "ig";
    for (int m = 0; m < s->nmodels; m++)
        if (s->models[m].r->method[0]) method = s->models[m].r->method;
    rows->n = 0;
    for (int m = 0; m < s->nmodels; m++) {
        const foil_report_images *h = &s->models[m].r->heatmaps;
        for (int i = 0; i < h->n && i < s->shown; i++) {
            char path[sizeof h->items[i].path], caption[sizeof h->items[i].caption];
            snprintf(path, sizeof path, "%s/%s", s->models[m].dir, h->items[i].path);
            snprintf(caption, sizeof caption, "%s: %s", s->models[m].label, h->items[i].caption);
            foil_report_image_add(rows, path, caption, s->models[m].label);
        }
    }
    foil_sb_put(b, "<h2 id='explain'>Explanations</h2>\n");
    if (rows->n == 0) foil_sb_put(b, "<p class='missing'>No explanations.</p>\n");
    else {
        foil_sb_put(b, "<p class='note'>The same clean test images, one row per model: digit | ");
        rb_esc(b, method);
        foil_sb_put(b, " heatmap (blue &lt; 0 &lt; red) | overlay. Adversarially trained models "
                       "are known to have gradients that look more like the digit (Tsipras et "
                       "al. 2019).</p>\n");
        report_gallery(b, rows);
    }
    compare_rows(b, s, rows);
    faith_table(b, s);
}

static void shift_section(rbuf *b, const foil_report_study *s, report_plot *p) {
    const foil_report *ref = with_shift(s);
    foil_sb_put(b, "<h2 id='shift'>Explanation shift under attack</h2>\n");
    if (!ref) {
        foil_sb_put(b, "<p class='missing'>No explanation-shift results.</p>\n");
        return;
    }
    foil_sb_put(b, "<table class='num'><caption>Clean vs adversarial attributions of the true "
                   "class, %d images: Spearman rank correlation and top-k IoU (higher: the "
                   "explanation moved less)</caption>\n<tr><th rowspan='2'>attack</th>"
                   "<th rowspan='2'>eps</th>", ref->shift[0].n);
    model_header(b, s, 2);
    foil_sb_put(b, "<tr>");
    for (int m = 0; m < s->nmodels; m++) foil_sb_put(b, "<th>Spearman</th><th>top-k IoU</th>");
    foil_sb_put(b, "</tr>\n");
    for (int i = 0; i < ref->nshift; i++) {
        const foil_shift_row *w = &ref->shift[i];
        foil_sb_put(b, "<tr><th>");
        rb_esc(b, w->label);
        foil_sb_put(b, "</th><td>%g</td>", (double)w->eps);
        for (int m = 0; m < s->nmodels; m++) {
            const foil_shift_row *x = shift_row(s->models[m].r, w->label, w->eps);
            if (x) report_scale_cell(b, x->spearman_true, x->spearman_true, 3, NULL);
            else num_cell(b, NAN, 3);
            num_cell(b, x ? x->iou_true : NAN, 3);
        }
        foil_sb_put(b, "</tr>\n");
    }
    foil_sb_put(b, "</table>\n");
    static const char *const TITLE[2] = {
        "Spearman rank correlation, clean vs adversarial (true class)",
        "Spearman rank correlation, clean vs adversarial (true class), L2"};
    static const char *const X[2] = {"eps (pixel units)", "L2 radius (pixel units)"};
    every_model_plot(b, s, p, 1, TITLE, X, "Spearman", report_shift_spearman_true);
}

static void page(rbuf *b, const foil_report_study *s, report_plot *plot,
                 foil_report_images *rows) {
    const foil_report *h = s->head;
    report_head(b, h->title, h->generated);
    foil_sb_put(b, "<nav><a href='#run'>run</a><a href='#attacks'>robustness</a><a href='#recall'>"
                   "per-class recall</a><a href='#explain'>explanations</a><a href='#shift'>"
                   "shift</a><a href='#files'>files</a></nav>\n<h2 id='run'>Run</h2>\n");
    report_facts(b, h);
    models_table(b, s);
    robust_section(b, s, plot);
    recall_section(b, s);
    explain_section(b, s, rows);
    shift_section(b, s, plot);
    report_links(b, h);
    report_foot(b);
}

char *foil_report_study_html(const foil_report_study *s) {
    rbuf b = {0};
    report_plot *plot = malloc(sizeof *plot);
    foil_report_images *rows = malloc(sizeof *rows);
    if (plot && rows) page(&b, s, plot, rows);
    char *html = plot && rows ? foil_sb_take(&b) : NULL;
    free(plot);
    free(rows);
    return html;
}

int foil_report_study_write(const foil_report_study *s, const char *path, foil_err *err) {
    return report_write_html(foil_report_study_html(s), path, err);
}
