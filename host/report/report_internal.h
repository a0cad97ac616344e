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

#define REPORT_MAX_SERIES 48

/* One line of a plot: points (x[i], y[i]); NaN y values are gaps. */
typedef struct report_series {
    char label[2 * FOIL_NAME_MAX + 32]; /* [a model label: ] an attack label and a suffix */
    int n;
    double x[FOIL_SWEEP_MAX_EPS], y[FOIL_SWEEP_MAX_EPS];
    int colour;  /* palette index */
    int dashed;
} report_series;

typedef struct report_plot {
    const char *title, *xlabel, *ylabel;
    double ymin, ymax;  /* the y axis spans at least this range */
    int n;
    report_series series[REPORT_MAX_SERIES];
} report_plot;

/* An inline <svg> line plot with axes, ticks, grid lines and a legend. */
void report_svg_lines(rbuf *b, const report_plot *p);

/* A per-(attack, eps) value to plot. */
typedef double (*row_value)(const void *rows, int i);

/* Rows of the sweep or the shift table, seen through accessors
 * (host/report/report_plot.c). */
typedef struct plot_src {
    const void *rows;
    int n;
    const char *(*label)(const void *rows, int i);
    int (*is_l2)(const void *rows, int i);
    float (*eps)(const void *rows, int i);
} plot_src;

plot_src report_sweep_src(const foil_sweep_row *rows, int n);
plot_src report_shift_src(const foil_shift_row *rows, int n);
double report_sweep_accuracy(const void *rows, int i);
double report_shift_spearman_true(const void *rows, int i);
double report_shift_spearman_pred(const void *rows, int i);
/* Title and axis labels; the y axis spans at least [0, 1]; no series. */
void report_plot_init(report_plot *p, const char *title, const char *xlabel, const char *ylabel);
/* Adds one series per attack (consecutive rows with one label) of kind l2
 * (past REPORT_MAX_SERIES: left out), named prefix + label + suffix;
 * colour < 0: one palette colour per attack, else that colour; dashed < 0:
 * every other attack dashed, else as given. Returns the attacks added. */
int report_add_series(report_plot *p, const plot_src *s, int l2, row_value value,
                      const char *prefix, const char *suffix, int colour, int dashed);

/* Pieces of the page (host/report/report.c): the head (doctype to the
 * subtitle), the facts table, an image gallery (a new line per group), the
 * file list, the foot. */
void report_head(rbuf *b, const char *title, const char *generated);
void report_facts(rbuf *b, const foil_report *r);
void report_gallery(rbuf *b, const foil_report_images *set);
void report_links(rbuf *b, const foil_report *r);
void report_foot(rbuf *b);
/* Writes a page atomically and frees it (NULL: out of memory). */
int report_write_html(char *html, const char *path, foil_err *err);
/* The minimal-perturbation attacks' accuracy vs radius (report_radii.c). */
void report_radii_part(rbuf *b, const foil_report *r, report_plot *p);
/* A table cell coloured by v on the red-yellow-green scale, showing shown. */
void report_scale_cell(rbuf *b, double v, double shown, int digits, const char *cls);

/* Tables (host/report/report_tables.c). */
void report_clean_tables(rbuf *b, const foil_metrics *m);
void report_sweep_table(rbuf *b, const foil_sweep_row *rows, int n);
void report_recall_heatmap(rbuf *b, const foil_sweep_row *rows, int n);
void report_shift_table(rbuf *b, const foil_shift_row *rows, int n, const char *method);

#endif
