/* The HTML report library on hand-made results: every section, one SVG plot
 * per kind of attack, balanced tags, escaped text, NaN shown as n/a, empty
 * sections that say so, and the atomic write. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/report.h"
#include "testutil.h"

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

static void balanced(const char *html, const char *open, const char *close) {
    TU_CHECK(count(html, open) == count(html, close) && count(html, open) > 0,
             "%s (%d) and %s (%d) balance", open, count(html, open), close, count(html, close));
}

static void fill_metrics(foil_metrics *m, double *prec, double *rec, double *f1, long *sup,
                         long *conf) {
    const double p[3] = {0.9, 0.8, NAN}, r[3] = {0.95, 0.7, 0.5};
    for (int c = 0; c < 3; c++) prec[c] = p[c], rec[c] = r[c], f1[c] = 0.8, sup[c] = 10;
    for (int i = 0; i < 9; i++) conf[i] = i % 4 == 0 ? 8 : 1;
    *m = (foil_metrics){.classes = 3, .n = 30, .present = 3, .accuracy = 0.8,
                        .macro_precision = 0.85, .macro_recall = 0.72, .macro_f1 = 0.8,
                        .precision = prec, .recall = rec, .f1 = f1, .support = sup,
                        .confusion = conf};
}

static void fill_sweep(foil_sweep_row *rows) {
    const float eps[3] = {0.0f, 0.1f, 0.3f};
    for (int i = 0; i < 6; i++) {
        foil_sweep_row *r = &rows[i];
        memset(r, 0, sizeof *r);
        r->kind = i < 3 ? FOIL_ATTACK_PGD : FOIL_ATTACK_PGD_L2;
        r->norm = i < 3 ? FOIL_NORM_LINF : FOIL_NORM_L2;
        snprintf(r->label, sizeof r->label, "%s", i < 3 ? "pgd<b>&'" : "pgd_l2");
        r->eps = i < 3 ? eps[i] : 2.0f * eps[i - 3];
        r->n = 30, r->classes = 3;
        r->accuracy = 0.9 - 0.25 * (i % 3);
        for (int c = 0; c < 3; c++) r->recall[c] = r->accuracy - 0.1 * c;
        r->least_class = 2;
    }
}

static void fill_shift(foil_shift_row *rows) {
    for (int i = 0; i < 2; i++) {
        memset(&rows[i], 0, sizeof rows[i]);
        rows[i].kind = FOIL_ATTACK_FGSM;
        snprintf(rows[i].label, sizeof rows[i].label, "fgsm");
        rows[i].eps = 0.1f * (float)(i + 1);
        rows[i].n = 4;
        rows[i].spearman_true = 0.6 - 0.2 * i;
        rows[i].spearman_pred = i ? NAN : 0.3; /* a gap in the dashed line */
    }
}

static void check_full(void) {
    foil_report *r = calloc(1, sizeof *r);
    double prec[3], rec[3], f1[3];
    long sup[3], conf[9];
    foil_metrics m;
    foil_sweep_row sweep[6];
    foil_shift_row shift[2];
    fill_metrics(&m, prec, rec, f1, sup, conf);
    fill_sweep(sweep);
    fill_shift(shift);
    snprintf(r->title, sizeof r->title, "study <x>");
    foil_report_fact_add(r, "model", "tiny & <small> %d", 7);
    foil_report_step_add(r, "train", 1.5, 0);
    foil_report_step_add(r, "sweep", 2.0, 1);
    foil_report_step_add(r, "shift", -1.0, 0);
    r->clean = &m;
    r->sweep = sweep, r->nsweep = 6;
    r->shift = shift, r->nshift = 2;
    foil_report_image_add(&r->examples, "sweep/examples/a b.png", "pgd, eps 0.1", "pgd");
    foil_report_image_add(&r->examples, "sweep/examples/c.png", "pgd_l2, eps 0.2", "pgd_l2");
    foil_report_image_add(&r->heatmaps, "explain/img_00000.png", "image 0", NULL);
    r->completeness = (foil_report_completeness){5, 32, "ig", 0.001, 0.004, 0.01};
    foil_report_link_add(r, "sweep/sweep.csv", "sweep table");
    char *html = foil_report_html(r);
    TU_CHECK(html != NULL, "a page");
    if (html) {
        balanced(html, "<table", "</table>");
        balanced(html, "<svg", "</svg>");
        balanced(html, "<figure>", "</figure>");
        balanced(html, "<tr", "</tr>");
        TU_CHECK(count(html, "<svg") == 3, "plots: Linf and L2 accuracy, Spearman (%d)",
                 count(html, "<svg"));
        TU_CHECK(strstr(html, "pgd&lt;b&gt;&amp;&#39;") && !strstr(html, "pgd<b>"), "labels escaped");
        TU_CHECK(strstr(html, "study &lt;x&gt;") && strstr(html, "tiny &amp; &lt;small&gt; 7"),
                 "title and facts escaped");
        TU_CHECK(strstr(html, "reused (inputs unchanged)") && strstr(html, "not run"), "step states");
        TU_CHECK(strstr(html, "n/a") != NULL, "NaN precision shows as n/a");
        TU_CHECK(count(html, "class='break'") == 1, "a new gallery line per attack");
        TU_CHECK(count(html, "class='least'") == 6, "the least-recalled cell of every row");
        TU_CHECK(strstr(html, "median <b>0.001</b>, p95 <b>0.004</b>"), "completeness error");
        TU_CHECK(strstr(html, "src='sweep/examples/a b.png'") && strstr(html, "href='sweep/sweep.csv'"),
                 "images and links by relative path");
        TU_CHECK(strstr(html, "Most fragile digit") && strstr(html, ": 2 ("), "the fragile class");
        TU_CHECK(!strstr(html, "nan") && !strstr(html, "inf<"), "no raw NaN in the page");
        TU_CHECK(count(html, "<polyline") == 4, "one line per series, split at NaN (%d)",
                 count(html, "<polyline"));
    }
    char path[1024];
    foil_err err;
    tu_path(path, sizeof path, "report.html");
    TU_CHECK(foil_report_write(r, path, &err) == 0, "write: %s", err.msg);
    FILE *f = fopen(path, "rb");
    char *back = calloc(1, html ? strlen(html) + 1 : 1);
    size_t n = f && back && html ? fread(back, 1, strlen(html), f) : 0;
    if (f) fclose(f);
    TU_CHECK(html && n == strlen(html) && !memcmp(back, html, n), "the file holds the page");
    free(back);
    free(html);
    free(r);
}

static void check_empty(void) {
    foil_report *r = calloc(1, sizeof *r);
    char *html = foil_report_html(r);
    TU_CHECK(html && strstr(html, "No evaluation") && strstr(html, "No sweep results") &&
                 strstr(html, "No explanation-shift results") && !strstr(html, "<svg"),
             "an empty report says what is missing");
    free(html);
    for (int i = 0; i < FOIL_REPORT_MAX_IMAGES + 5; i++)
        foil_report_image_add(&r->heatmaps, "x.png", "x", NULL);
    for (int i = 0; i < FOIL_REPORT_MAX_FACTS + 5; i++) foil_report_fact_add(r, "k", "%d", i);
    TU_CHECK(r->heatmaps.n == FOIL_REPORT_MAX_IMAGES && r->nfacts == FOIL_REPORT_MAX_FACTS,
             "adders stop at the array sizes");
    free(r);
}

int main(void) {
    check_full();
    check_empty();
    return tu_finish("test_report");
}
