/* The report's tables: clean metrics and the confusion matrix, the sweep,
 * per-class recall vs eps as a heatmap, and the explanation shift. */
#include <math.h>
#include <string.h>

#include "report_internal.h"

void report_scale_cell(rbuf *b, double v, double shown, int digits, const char *cls) {
    char bg[8], fg[8];
    rb_scale_colour(v, bg, fg);
    foil_sb_put(b, "<td class='%s' style='background:%s;color:%s'>", cls ? cls : "", bg, fg);
    rb_num(b, shown, digits);
    foil_sb_put(b, "</td>");
}

static void per_class(rbuf *b, const foil_metrics *m) {
    int worst = foil_metrics_least_recalled(m);
    foil_sb_put(b, "<table class='num'><caption>Per class (lowest recall in bold)</caption>\n"
              "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
    for (int c = 0; c < m->classes; c++) {
        foil_sb_put(b, "<tr%s><th>%d</th><td>", c == worst ? " class='worst'" : "", c);
        int absent = m->support[c] == 0; /* no test images: nothing to show */
        rb_num(b, absent ? NAN : m->precision[c], 4);
        foil_sb_put(b, "</td><td>");
        rb_num(b, absent ? NAN : m->recall[c], 4);
        foil_sb_put(b, "</td><td>");
        rb_num(b, absent ? NAN : m->f1[c], 4);
        foil_sb_put(b, "</td><td>%ld</td></tr>\n", m->support[c]);
    }
    foil_sb_put(b, "</table>\n");
}

/* Cells shaded by their share of the row: the diagonal blue, errors red. */
static void confusion(rbuf *b, const foil_metrics *m) {
    const int k = m->classes;
    foil_sb_put(b, "<table class='num confusion'><caption>Confusion matrix (rows: true class, "
              "columns: predicted)</caption>\n<tr><th></th>");
    for (int c = 0; c < k; c++) foil_sb_put(b, "<th>%d</th>", c);
    foil_sb_put(b, "</tr>\n");
    for (int t = 0; t < k; t++) {
        foil_sb_put(b, "<tr><th>%d</th>", t);
        for (int p = 0; p < k; p++) {
            long v = m->confusion[(size_t)t * k + p];
            double share = m->support[t] > 0 ? (double)v / (double)m->support[t] : 0.0;
            if (v == 0) foil_sb_put(b, "<td class='zero'>0</td>");
            else if (t == p)
                foil_sb_put(b, "<td style='background:rgba(78,121,167,%.2f)'>%ld</td>",
                       0.15 + 0.6 * share, v);
            else
                foil_sb_put(b, "<td style='background:rgba(225,87,89,%.2f)'>%ld</td>",
                       fmin(0.85, 0.12 + 6.0 * share), v);
        }
        foil_sb_put(b, "</tr>\n");
    }
    foil_sb_put(b, "</table>\n");
}

void report_clean_tables(rbuf *b, const foil_metrics *m) {
    foil_sb_put(b, "<p class='headline'>Clean accuracy <b>%.2f%%</b> on %d test images "
              "(macro recall %.4f, macro F1 %.4f).</p>\n<div class='row'>\n",
           100.0 * m->accuracy, m->n, m->macro_recall, m->macro_f1);
    per_class(b, m);
    confusion(b, m);
    foil_sb_put(b, "</div>\n");
}

void report_sweep_table(rbuf *b, const foil_sweep_row *rows, int n) {
    foil_sb_put(b, "<table class='num'><caption>Robust accuracy per attack and eps (success rate: "
              "misclassified after the attack among initially correct images)</caption>\n"
              "<tr><th>attack</th><th>eps</th><th>images</th><th>accuracy</th><th>macro recall</th>"
              "<th>success rate</th><th>least recalled</th><th>Linf mean</th><th>L2 mean</th>"
              "<th>seconds</th></tr>\n");
    for (int i = 0; i < n; i++) {
        const foil_sweep_row *r = &rows[i];
        foil_sb_put(b, "<tr%s><th>", i > 0 && strcmp(r->label, rows[i - 1].label) ? " class='group'" : "");
        rb_esc(b, r->label);
        foil_sb_put(b, "</th><td>%.4g</td><td>%d</td>", (double)r->eps, r->n);
        report_scale_cell(b, r->accuracy, r->accuracy, 4, NULL);
        foil_sb_put(b, "<td>%.4f</td><td>%.4f</td><td>%d (", r->macro_recall, r->success_rate,
               r->least_class);
        rb_num(b, r->recall[r->least_class], 3);
        foil_sb_put(b, ")</td><td>%.4f</td><td>%.3f</td><td>%.1f</td></tr>\n", r->linf_mean, r->l2_mean,
               r->seconds);
    }
    foil_sb_put(b, "</table>\n");
}

/* The class with the lowest mean recall over the rows [i0, i1) with eps > 0
 * (all of them when there are none). */
static int fragile_class(const foil_sweep_row *rows, int i0, int i1, double *mean) {
    int any = 0, best = 0;
    for (int i = i0; i < i1; i++) any |= rows[i].eps > 0.0f;
    double best_mean = INFINITY;
    for (int c = 0; c < rows[i0].classes; c++) {
        double sum = 0.0;
        int n = 0;
        for (int i = i0; i < i1; i++)
            if ((!any || rows[i].eps > 0.0f) && isfinite(rows[i].recall[c]))
                sum += rows[i].recall[c], n++;
        if (n && sum / n < best_mean) best_mean = sum / n, best = c;
    }
    *mean = best_mean;
    return best;
}

static void fragile_summary(rbuf *b, const foil_sweep_row *rows, int n) {
    foil_sb_put(b, "<p class='note'>Most fragile digit (lowest mean recall over eps &gt; 0): ");
    for (int i0 = 0; i0 < n;) {
        int i1 = i0 + 1;
        while (i1 < n && strcmp(rows[i1].label, rows[i0].label) == 0) i1++;
        double mean;
        int c = fragile_class(rows, i0, i1, &mean);
        foil_sb_put(b, "%s<b>", i0 ? "; " : "");
        rb_esc(b, rows[i0].label);
        foil_sb_put(b, "</b>: %d (", c);
        rb_num(b, mean, 3);
        foil_sb_put(b, ")");
        i0 = i1;
    }
    foil_sb_put(b, ".</p>\n");
}

void report_recall_heatmap(rbuf *b, const foil_sweep_row *rows, int n) {
    if (n == 0) return;
    const int k = rows[0].classes;
    foil_sb_put(b, "<table class='num heat'><caption>Per-class recall vs eps (red: fragile; the "
              "least-recalled class of each row is outlined)</caption>\n<tr><th>attack</th>"
              "<th>eps</th>");
    for (int c = 0; c < k; c++) foil_sb_put(b, "<th>%d</th>", c);
    foil_sb_put(b, "</tr>\n");
    for (int i = 0; i < n; i++) {
        const foil_sweep_row *r = &rows[i];
        foil_sb_put(b, "<tr%s><th>", i > 0 && strcmp(r->label, rows[i - 1].label) ? " class='group'" : "");
        rb_esc(b, r->label);
        foil_sb_put(b, "</th><th>%.4g</th>", (double)r->eps);
        for (int c = 0; c < k; c++)
            report_scale_cell(b, r->recall[c], r->recall[c], 2, c == r->least_class ? "least" : NULL);
        foil_sb_put(b, "</tr>\n");
    }
    foil_sb_put(b, "</table>\n");
    fragile_summary(b, rows, n);
}

void report_shift_table(rbuf *b, const foil_shift_row *rows, int n, const char *method) {
    foil_sb_put(b, "<table class='num'><caption>Explanation shift (");
    rb_esc(b, method);
    foil_sb_put(b, "): the clean image's attributions (true class) vs the adversarial image's "
              "for the true class and for the adversarial prediction; median |relative "
              "completeness delta|</caption>\n"
              "<tr><th>attack</th><th>eps</th><th>images</th><th>adv. accuracy</th>"
              "<th>Spearman (true)</th><th>Spearman (adv. class)</th><th>top-k IoU (true)</th>"
              "<th>IoU (adv. class)</th><th>mass on perturbed</th><th>|rel &delta;| clean</th>"
              "<th>|rel &delta;| adv. (true)</th><th>|rel &delta;| adv. (pred)</th></tr>\n");
    for (int i = 0; i < n; i++) {
        const foil_shift_row *r = &rows[i];
        foil_sb_put(b, "<tr%s><th>", i > 0 && strcmp(r->label, rows[i - 1].label) ? " class='group'" : "");
        rb_esc(b, r->label);
        foil_sb_put(b, "</th><td>%.4g</td><td>%d</td><td>%.3f</td>", (double)r->eps, r->n, r->accuracy);
        report_scale_cell(b, r->spearman_true, r->spearman_true, 3, NULL);
        report_scale_cell(b, r->spearman_pred, r->spearman_pred, 3, NULL);
        foil_sb_put(b, "<td>%.3f</td><td>%.3f</td><td>%.3f</td><td>%.2g</td><td>%.2g</td><td>%.2g</td>"
                  "</tr>\n", r->iou_true, r->iou_pred, r->mass_perturbed, r->rel_delta_clean,
               r->rel_delta_adv_true, r->rel_delta_adv_pred);
    }
    foil_sb_put(b, "</table>\n");
}
