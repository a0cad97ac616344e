/* Private to host/report/report*.c: HTML escaping on foil_strbuf,
 * colour scales, and the pieces of the page. */
#ifndef FOIL_REPORT_INTERNAL_H
#define FOIL_REPORT_INTERNAL_H

#include <stddef.h>

#include "foil/report.h"
#include "foil/strbuf.h"

typedef foil_strbuf rbuf;

/* Appends s with &, <, >, " and ' escaped. */
void rb_esc(rbuf *b, const char *s);
/* Appends a number: "%.{digits}f", or "n/a" for NaN and infinities. */
void rb_num(rbuf *b, double v, int digits);

/* Background colour for v in [0, 1] on a red (0) - yellow - green (1) scale,
 * and a text colour that reads on it; "#rrggbb". */
void rb_scale_colour(double v, char bg[8], char fg[8]);
/* A colour of the plot palette (cycles). */
const char *rb_palette(int i);

/* One line of a plot: points (x[i], y[i]); NaN y values are gaps. */
typedef struct report_series {
    char label[FOIL_NAME_MAX + 32]; /* an attack label and a suffix */
    int n;
    double x[FOIL_SWEEP_MAX_EPS], y[FOIL_SWEEP_MAX_EPS];
    int colour;  /* palette index */
    int dashed;
} report_series;

typedef struct report_plot {
    const char *title, *xlabel, *ylabel;
    double ymin, ymax;  /* the y axis spans at least this range */
    int n;
    report_series series[2 * FOIL_SWEEP_MAX_ATTACKS];
} report_plot;

/* An inline <svg> line plot with axes, ticks, grid lines and a legend. */
void report_svg_lines(rbuf *b, const report_plot *p);

/* Tables (host/report/report_tables.c). */
void report_clean_tables(rbuf *b, const foil_metrics *m);
void report_sweep_table(rbuf *b, const foil_sweep_row *rows, int n);
void report_recall_heatmap(rbuf *b, const foil_sweep_row *rows, int n);
void report_shift_table(rbuf *b, const foil_shift_row *rows, int n, const char *method);

#endif
