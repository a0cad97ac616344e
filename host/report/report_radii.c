/* The report's radii part: for the minimal-perturbation attacks (CW-L2,
 * DeepFool), accuracy vs radius in L2 and L-inf (one line per variant) and
 * a table of how many adversarials were found and their median radius. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

static void radius_plot(rbuf *b, const foil_report *r, report_plot *p, int k) {
    report_plot_init(p, k ? "Accuracy vs L-inf radius (minimal-perturbation attacks)"
                          : "Accuracy vs L2 radius (minimal-perturbation attacks)",
                     k ? "L-inf radius (pixel units)" : "L2 radius (pixel units)", "accuracy");
    for (int i = 0; i < r->nradii && p->n < REPORT_MAX_SERIES; i++) {
        const foil_report_radii *v = &r->radii[i];
        report_series *s = &p->series[p->n++];
        memset(s, 0, sizeof *s);
        snprintf(s->label, sizeof s->label, "%s", v->label);
        s->colour = i;
        s->n = v->npts < FOIL_SWEEP_MAX_EPS ? v->npts : FOIL_SWEEP_MAX_EPS;
        for (int j = 0; j < s->n; j++) s->x[j] = v->r[k][j], s->y[j] = v->acc[k][j];
    }
    report_svg_lines(b, p);
}

void report_radii_part(rbuf *b, const foil_report *r, report_plot *p) {
    if (r->nradii == 0) return;
    foil_sb_put(b, "<h3 id='radii'>Robustness radii</h3>\n<p class='note'>Each image's "
                   "smallest adversarial perturbation found by the minimal-perturbation "
                   "attacks: the share of the test images still classified right within "
                   "radius r (images misclassified when clean count as broken at 0; images "
                   "without an adversarial found as robust at every r).</p>\n<div class='row'>");
    radius_plot(b, r, p, 0);
    radius_plot(b, r, p, 1);
    foil_sb_put(b, "</div>\n<table class='num'><caption>Radii found (of the images classified "
                   "right when clean)</caption>\n<tr><th>variant</th><th>attack</th>"
                   "<th>images</th><th>right when clean</th><th>adversarial found</th>"
                   "<th>median L2 radius</th><th>median L-inf radius</th></tr>\n");
    for (int i = 0; i < r->nradii; i++) {
        const foil_report_radii *v = &r->radii[i];
        foil_sb_put(b, "<tr><th>");
        rb_esc(b, v->label);
        foil_sb_put(b, "</th><td style='text-align:left'>");
        rb_esc(b, v->attack);
        foil_sb_put(b, "</td><td>%d</td><td>%d</td><td>%d</td><td>", v->n, v->right, v->found);
        rb_num(b, v->median[0], 4);
        foil_sb_put(b, "</td><td>");
        rb_num(b, v->median[1], 4);
        foil_sb_put(b, "</td></tr>\n");
    }
    foil_sb_put(b, "</table>\n");
}
