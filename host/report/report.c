/* The study report: one HTML page, CSS and SVG inline, images beside it. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "report_internal.h"

static const char CSS[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1d1f;"
    "margin:0 auto;max-width:1180px;padding:0 24px 48px;background:#fff}"
    "h1{font-size:26px;margin:24px 0 2px}h2{font-size:20px;margin:36px 0 10px;padding-top:8px;"
    "border-top:2px solid #e4e4e8}h3{font-size:15px;margin:18px 0 6px}"
    ".sub{color:#666;margin:0 0 10px}nav a{margin-right:14px;color:#4e79a7;text-decoration:none}"
    "table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}"
    "caption{text-align:left;font-weight:600;padding:4px 0;color:#333;max-width:760px}"
    "th,td{border:1px solid #dcdce0;padding:3px 8px}th{background:#f4f4f6;font-weight:600}"
    "table.num td{text-align:right;font-variant-numeric:tabular-nums}"
    "table.facts th{text-align:left;width:150px}table.facts td{text-align:left;word-break:break-all}"
    "tr.worst td,tr.worst th{font-weight:700}tr.group th,tr.group td{border-top:2px solid #888}"
    "td.zero{color:#bbb}table.confusion td{min-width:34px}"
    "table.heat td{min-width:38px}td.least{outline:3px solid #1d1d1f;outline-offset:-3px;"
    "font-weight:700}.row{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}"
    ".headline{font-size:17px}.note{color:#444;max-width:900px}"
    ".gallery{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}"
    "figure{margin:0;border:1px solid #e4e4e8;padding:6px;background:#fafafa}"
    "figure img{display:block;image-rendering:pixelated}figcaption{font-size:12px;color:#444;"
    "margin-top:4px;max-width:520px}.break{flex-basis:100%;height:0}.missing{color:#b00}"
    "svg.plot{border:1px solid #e4e4e8;margin:6px 0 12px}svg .grid{stroke:#e6e6ea}"
    "svg .axis{stroke:#444;stroke-width:1.2}svg .tick{font-size:11px;fill:#444}"
    "svg .label{font-size:13px;fill:#222}svg .title{font-size:14px;font-weight:600;fill:#111}"
    "svg .legend{font-size:12px;fill:#222}footer{margin-top:40px;color:#777;font-size:12px}";

/* After loading, the body carries how many images loaded and how many did
 * not, for headless checks (no network is used). */
static const char SCRIPT[] =
    "window.addEventListener('load',function(){var ok=0,bad=0;"
    "document.querySelectorAll('img').forEach(function(i){if(i.complete&&i.naturalWidth>0)ok++;"
    "else bad++;});document.body.setAttribute('data-images-loaded',ok);"
    "document.body.setAttribute('data-images-broken',bad);});";

void foil_report_fact_add(foil_report *r, const char *label, const char *fmt, ...) {
    if (r->nfacts >= FOIL_REPORT_MAX_FACTS) return;
    foil_report_fact *f = &r->facts[r->nfacts++];
    snprintf(f->label, sizeof f->label, "%s", label);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *text = n >= 0 ? malloc((size_t)n + 1) : NULL;
    va_start(ap, fmt);
    if (text) vsnprintf(text, (size_t)n + 1, fmt, ap);
    else vsnprintf(f->value, sizeof f->value, fmt, ap);
    va_end(ap);
    if (text) foil_str_elide(f->value, sizeof f->value, text); /* "..." where it is cut */
    free(text);
}

void foil_report_step_add(foil_report *r, const char *name, double seconds, int reused) {
    if (r->nsteps >= FOIL_REPORT_MAX_STEPS) return;
    foil_report_step *s = &r->steps[r->nsteps++];
    snprintf(s->name, sizeof s->name, "%s", name);
    s->seconds = seconds;
    s->reused = reused;
}

void foil_report_image_add(foil_report_images *set, const char *path, const char *caption,
                           const char *group) {
    if (set->n >= FOIL_REPORT_MAX_IMAGES) return;
    foil_report_image *im = &set->items[set->n++];
    snprintf(im->path, sizeof im->path, "%s", path);
    snprintf(im->caption, sizeof im->caption, "%s", caption ? caption : "");
    snprintf(im->group, sizeof im->group, "%s", group ? group : "");
}

void foil_report_link_add(foil_report *r, const char *path, const char *caption) {
    if (r->nlinks >= FOIL_REPORT_MAX_LINKS) return;
    foil_report_image *l = &r->links[r->nlinks++];
    snprintf(l->path, sizeof l->path, "%s", path);
    snprintf(l->caption, sizeof l->caption, "%s", caption ? caption : "");
}

void report_facts(rbuf *b, const foil_report *r) {
    foil_sb_put(b, "<table class='facts'>\n");
    for (int i = 0; i < r->nfacts; i++) {
        foil_sb_put(b, "<tr><th>");
        rb_esc(b, r->facts[i].label);
        foil_sb_put(b, "</th><td>");
        rb_esc(b, r->facts[i].value);
        foil_sb_put(b, "</td></tr>\n");
    }
    foil_sb_put(b, "</table>\n");
}

static void run_section(rbuf *b, const foil_report *r) {
    foil_sb_put(b, "<h2 id='run'>Run</h2>\n<div class='row'>");
    report_facts(b, r);
    foil_sb_put(b, "<table class='num'><caption>Steps</caption>\n"
              "<tr><th>step</th><th>seconds</th><th>this run</th></tr>\n");
    double total = 0.0;
    for (int i = 0; i < r->nsteps; i++) {
        const foil_report_step *s = &r->steps[i];
        foil_sb_put(b, "<tr><th>");
        rb_esc(b, s->name);
        foil_sb_put(b, "</th><td>");
        if (s->seconds >= 0) foil_sb_put(b, "%.1f", s->seconds);
        else foil_sb_put(b, "-");
        foil_sb_put(b, "</td><td style='text-align:left'>%s</td></tr>\n",
               s->reused ? "reused (inputs unchanged)" : s->seconds < 0 ? "not run" : "ran");
        if (s->seconds > 0 && !s->reused) total += s->seconds;
    }
    foil_sb_put(b, "<tr><th>this run</th><td>%.1f</td><td></td></tr>\n</table></div>\n", total);
}

void report_gallery(rbuf *b, const foil_report_images *set) {
    foil_sb_put(b, "<div class='gallery'>\n");
    for (int i = 0; i < set->n; i++) {
        if (i > 0 && strcmp(set->items[i].group, set->items[i - 1].group) != 0)
            foil_sb_put(b, "<div class='break'></div>\n");
        foil_sb_put(b, "<figure><img src='");
        rb_esc(b, set->items[i].path);
        foil_sb_put(b, "' alt='");
        rb_esc(b, set->items[i].caption);
        foil_sb_put(b, "'><figcaption>");
        rb_esc(b, set->items[i].caption);
        foil_sb_put(b, "</figcaption></figure>\n");
    }
    foil_sb_put(b, "</div>\n");
}

static void attack_section(rbuf *b, const foil_report *r, report_plot *p) {
    foil_sb_put(b, "<h2 id='attacks'>Robustness</h2>\n");
    if (r->nsweep == 0) {
        foil_sb_put(b, "<p class='missing'>No sweep results.</p>\n");
        return;
    }
    plot_src s = report_sweep_src(r->sweep, r->nsweep);
    for (int l2 = 0; l2 < 2; l2++) {
        report_plot_init(p, l2 ? "Robust accuracy vs L2 radius" : "Robust accuracy vs eps (Linf)",
                  l2 ? "L2 radius (pixel units)" : "eps (pixel units, images in [0, 1])",
                  "accuracy");
        if (report_add_series(p, &s, l2, report_sweep_accuracy, "", "", -1, 0)) report_svg_lines(b, p);
    }
    report_sweep_table(b, r->sweep, r->nsweep);
    report_recall_heatmap(b, r->sweep, r->nsweep);
    report_radii_part(b, r, p);
    foil_sb_put(b, "<h3>Examples: clean | adversarial | perturbation (blue &lt; 0 &lt; red, full "
              "colour at eps)</h3>\n");
    report_gallery(b, &r->examples);
}

static const char *method_of(const foil_report *r) { return r->method[0] ? r->method : "ig"; }

static void compare_part(rbuf *b, const foil_report *r) {
    if (r->ncompare == 0) return;
    foil_sb_put(b, "<h3 id='compare'>Methods compared</h3>\n<table class='num'><caption>"
              "Faithfulness, mean over the images (deletion and insertion AUC as RISE, "
              "infidelity as Captum's, unnormalised; max-sensitivity: the largest relative "
              "change under 10 perturbations of radius 0.02)</caption>\n<tr><th>method</th>"
              "<th>images</th><th>deletion AUC (lower: better)</th><th>insertion AUC (higher: "
              "better)</th><th>infidelity</th><th>max-sensitivity</th><th>seconds</th></tr>\n");
    for (int i = 0; i < r->ncompare; i++) {
        const foil_report_faith *f = &r->compare[i];
        foil_sb_put(b, "<tr><th>");
        rb_esc(b, f->label);
        if (strcmp(f->label, f->method) != 0) {
            foil_sb_put(b, " (");
            rb_esc(b, f->method);
            foil_sb_put(b, ")");
        }
        foil_sb_put(b, "</th><td>%d</td><td>%.4g</td><td>%.4g</td><td>%.3g</td><td>%.3g</td>"
                  "<td>%.1f</td></tr>\n", f->n, f->deletion, f->insertion, f->infidelity,
                  f->sensitivity, f->seconds);
    }
    foil_sb_put(b, "</table>\n<p class='note'>One row per method, the same clean images: "
              "digit | heatmap (blue &lt; 0 &lt; red) | overlay.</p>\n");
    report_gallery(b, &r->compare_maps);
}

static void explain_section(rbuf *b, const foil_report *r) {
    const foil_report_completeness *c = &r->completeness;
    foil_sb_put(b, "<h2 id='explain'>Explanations</h2>\n");
    if (c->n > 0) {
        foil_sb_put(b, "<p class='note'>");
        rb_esc(b, c->method);
        foil_sb_put(b, " (%d evaluations per image) of %d clean test images. Completeness error "
                  "|sum(attr) - (F(x) - F(baseline))| / |F(x) - F(baseline)|: median <b>%.3g"
                  "</b>, p95 <b>%.3g</b>, max %.3g.</p>\n", c->steps, c->n, c->median, c->p95,
                  c->max);
    } else if (r->method[0] && !r->completeness_applies) {
        foil_sb_put(b, "<p class='note'>");
        rb_esc(b, c->method[0] ? c->method : r->method);
        foil_sb_put(b, ": its attributions promise no completeness.</p>\n");
    } else {
        foil_sb_put(b, "<p class='missing'>No completeness data.</p>\n");
    }
    foil_sb_put(b, "<h3>Clean images: digit | ");
    rb_esc(b, method_of(r));
    foil_sb_put(b, " heatmap (blue &lt; 0 &lt; red) | overlay</h3>\n");
    report_gallery(b, &r->heatmaps);
    compare_part(b, r);
}

static void shift_section(rbuf *b, const foil_report *r, report_plot *p) {
    char title[96];
    const char *m = method_of(r);
    foil_sb_put(b, "<h2 id='shift'>Explanation shift under attack</h2>\n");
    if (r->nshift == 0) {
        foil_sb_put(b, "<p class='missing'>No explanation-shift results.</p>\n");
        return;
    }
    report_shift_table(b, r->shift, r->nshift, m);
    plot_src s = report_shift_src(r->shift, r->nshift);
    snprintf(title, sizeof title, "Spearman rank correlation of %s, clean vs adversarial", m);
    for (int l2 = 0; l2 < 2; l2++) {
        report_plot_init(p, title, l2 ? "L2 radius (pixel units)" : "eps (pixel units)", "Spearman");
        if (report_add_series(p, &s, l2, report_shift_spearman_true, "", " (true class)", -1, 0))
            report_add_series(p, &s, l2, report_shift_spearman_pred, "", " (adv. class)", -1, 1),
                report_svg_lines(b, p);
    }
    foil_sb_put(b, "<h3>clean | M(clean, true) | adversarial | M(adv, true) | M(adv, predicted) | "
              "perturbation, M = ");
    rb_esc(b, m);
    foil_sb_put(b, "</h3>\n");
    report_gallery(b, &r->shift_grids);
}

void report_head(rbuf *b, const char *title, const char *generated) {
    foil_sb_put(b, "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
              "<meta name='viewport' content='width=device-width, initial-scale=1'>\n<title>");
    rb_esc(b, title);
    foil_sb_put(b, "</title>\n<style>%s</style>\n<script>%s</script>\n</head>\n<body>\n<h1>", CSS, SCRIPT);
    rb_esc(b, title);
    foil_sb_put(b, "</h1>\n<p class='sub'>foil report");
    if (generated[0]) foil_sb_put(b, ", ");
    rb_esc(b, generated);
    foil_sb_put(b, "</p>\n");
}

void report_links(rbuf *b, const foil_report *r) {
    foil_sb_put(b, "<h2 id='files'>Files</h2>\n<ul>\n");
    for (int i = 0; i < r->nlinks; i++) {
        foil_sb_put(b, "<li><a href='");
        rb_esc(b, r->links[i].path);
        foil_sb_put(b, "'>");
        rb_esc(b, r->links[i].path);
        foil_sb_put(b, "</a> ");
        rb_esc(b, r->links[i].caption);
        foil_sb_put(b, "</li>\n");
    }
    foil_sb_put(b, "</ul>\n");
}

void report_foot(rbuf *b) {
    foil_sb_put(b, "<footer>Generated by foil; no network needed to view this page.</footer>\n"
              "</body>\n</html>\n");
}

static void page(rbuf *b, const foil_report *r, report_plot *plot) {
    report_head(b, r->title, r->generated);
    foil_sb_put(b, "<nav><a href='#run'>run</a><a href='#clean'>clean</a><a href='#attacks'>"
              "robustness</a><a href='#explain'>explanations</a><a href='#shift'>shift</a>"
              "<a href='#files'>files</a></nav>\n");
    run_section(b, r);
    foil_sb_put(b, "<h2 id='clean'>Clean test set</h2>\n");
    if (r->clean) report_clean_tables(b, r->clean);
    else foil_sb_put(b, "<p class='missing'>No evaluation.</p>\n");
    attack_section(b, r, plot);
    explain_section(b, r);
    shift_section(b, r, plot);
    report_links(b, r);
    report_foot(b);
}

char *foil_report_html(const foil_report *r) {
    rbuf b = {0};
    report_plot *plot = malloc(sizeof *plot);
    if (!plot) return NULL;
    page(&b, r, plot);
    free(plot);
    return foil_sb_take(&b);
}

int report_write_html(char *html, const char *path, foil_err *err) {
    if (!html) return foil_fail(err, "%s: out of memory", path);
    int rc = foil_write_file_atomic(path, html, strlen(html), err);
    free(html);
    return rc;
}

int foil_report_write(const foil_report *r, const char *path, foil_err *err) {
    return report_write_html(foil_report_html(r), path, err);
}
