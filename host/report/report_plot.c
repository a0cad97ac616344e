/* Plot series from sweep and shift rows: one line per attack (consecutive
 * rows with one label), read through accessors so that both tables share
 * the code (host/report/report.c and report_study.c). */
#include <stdio.h>
#include <string.h>

#include "report_internal.h"

static const char *sweep_label(const void *rows, int i) { return ((const foil_sweep_row *)rows)[i].label; }
static int sweep_l2(const void *rows, int i) { return ((const foil_sweep_row *)rows)[i].norm == FOIL_NORM_L2; }
static float sweep_eps(const void *rows, int i) { return ((const foil_sweep_row *)rows)[i].eps; }
static const char *shift_label(const void *rows, int i) { return ((const foil_shift_row *)rows)[i].label; }
static int shift_l2(const void *rows, int i) { return ((const foil_shift_row *)rows)[i].norm == FOIL_NORM_L2; }
static float shift_eps(const void *rows, int i) { return ((const foil_shift_row *)rows)[i].eps; }

double report_sweep_accuracy(const void *rows, int i) { return ((const foil_sweep_row *)rows)[i].accuracy; }
double report_shift_spearman_true(const void *rows, int i) { return ((const foil_shift_row *)rows)[i].spearman_true; }
double report_shift_spearman_pred(const void *rows, int i) { return ((const foil_shift_row *)rows)[i].spearman_pred; }

plot_src report_sweep_src(const foil_sweep_row *rows, int n) {
    return (plot_src){rows, n, sweep_label, sweep_l2, sweep_eps};
}

plot_src report_shift_src(const foil_shift_row *rows, int n) {
    return (plot_src){rows, n, shift_label, shift_l2, shift_eps};
}

void report_plot_init(report_plot *p, const char *title, const char *xlabel, const char *ylabel) {
    p->title = title;
    p->xlabel = xlabel;
    p->ylabel = ylabel;
    p->ymin = 0.0;
    p->ymax = 1.0;
    p->n = 0;
}

int report_add_series(report_plot *p, const plot_src *s, int l2, row_value value,
                      const char *prefix, const char *suffix, int colour, int dashed) {
    int added = 0;
    for (int i0 = 0; i0 < s->n && p->n < REPORT_MAX_SERIES;) {
        int i1 = i0 + 1;
        while (i1 < s->n && strcmp(s->label(s->rows, i1), s->label(s->rows, i0)) == 0) i1++;
        if (s->is_l2(s->rows, i0) == l2) {
            report_series *se = &p->series[p->n];
            memset(se, 0, sizeof *se);
            snprintf(se->label, sizeof se->label, "%s%s%s", prefix, s->label(s->rows, i0), suffix);
            se->colour = colour < 0 ? added : colour;
            se->dashed = dashed < 0 ? added % 2 : dashed;
            added++;
            for (int i = i0; i < i1 && se->n < FOIL_SWEEP_MAX_EPS; i++, se->n++) {
                se->x[se->n] = s->eps(s->rows, i);
                se->y[se->n] = value(s->rows, i);
            }
            p->n++;
        }
        i0 = i1;
    }
    return added;
}
