/* Inline SVG line plots for the report: axes with "nice" ticks, grid lines,
 * one polyline per series (gaps at NaN), point tooltips and a legend. */
#include <math.h>
#include <stdio.h>

#include "report_internal.h"

enum { WIDTH = 660, MARGIN_L = 62, MARGIN_R = 170, MARGIN_T = 34, MARGIN_B = 50, PLOT_H = 280,
       LEGEND_ROW = 20 };

typedef struct frame {
    double x0, x1, y0, y1, xstep, ystep;
    int h; /* whole picture */
} frame;

/* 1, 2 or 5 times a power of ten, about range / target. */
static double nice_step(double range, int target) {
    double raw = range / target, mag = pow(10.0, floor(log10(raw))), f = raw / mag;
    return (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * mag;
}

static int decimals(double step) {
    int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

static frame make_frame(const report_plot *p) {
    frame f = {INFINITY, -INFINITY, p->ymin, p->ymax, 0, 0, 0};
    for (int s = 0; s < p->n; s++)
        for (int i = 0; i < p->series[s].n; i++) {
            double x = p->series[s].x[i], y = p->series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            f.x0 = fmin(f.x0, x), f.x1 = fmax(f.x1, x);
            f.y0 = fmin(f.y0, y), f.y1 = fmax(f.y1, y);
        }
    if (!isfinite(f.x0)) f.x0 = 0.0, f.x1 = 1.0;
    if (f.x1 - f.x0 < 1e-12) f.x0 -= 0.5, f.x1 += 0.5;
    if (f.y1 - f.y0 < 1e-12) f.y0 -= 0.5, f.y1 += 0.5;
    f.xstep = nice_step(f.x1 - f.x0, 6);
    f.ystep = nice_step(f.y1 - f.y0, 5);
    f.y0 = floor(f.y0 / f.ystep + 1e-9) * f.ystep;
    f.y1 = ceil(f.y1 / f.ystep - 1e-9) * f.ystep;
    int legend = MARGIN_T + LEGEND_ROW * p->n + 10, plot = MARGIN_T + PLOT_H + MARGIN_B;
    f.h = legend > plot ? legend : plot;
    return f;
}

static double px(const frame *f, double x) {
    return MARGIN_L + (x - f->x0) / (f->x1 - f->x0) * (WIDTH - MARGIN_L - MARGIN_R);
}

static double py(const frame *f, double y) {
    return MARGIN_T + PLOT_H - (y - f->y0) / (f->y1 - f->y0) * PLOT_H;
}

static void axes(rbuf *b, const frame *f, const report_plot *p) {
    const double left = MARGIN_L, right = WIDTH - MARGIN_R, top = MARGIN_T,
                 bottom = MARGIN_T + PLOT_H;
    int dy = decimals(f->ystep), dx = decimals(f->xstep);
    for (double v = f->y0; v <= f->y1 + f->ystep * 1e-6; v += f->ystep) {
        double y = py(f, v);
        foil_sb_put(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' class='grid'/>"
                  "<text x='%.1f' y='%.1f' class='tick' text-anchor='end'>%.*f</text>\n",
               left, y, right, y, left - 6, y + 4, dy, fabs(v) < 1e-12 ? 0.0 : v);
    }
    double first = ceil(f->x0 / f->xstep - 1e-9) * f->xstep;
    for (double v = first; v <= f->x1 + f->xstep * 1e-6; v += f->xstep) {
        double x = px(f, v);
        foil_sb_put(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' class='grid'/>"
                  "<text x='%.1f' y='%.1f' class='tick' text-anchor='middle'>%.*f</text>\n",
               x, top, x, bottom + 5, x, bottom + 18, dx, fabs(v) < 1e-12 ? 0.0 : v);
    }
    foil_sb_put(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' class='axis'/>"
              "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' class='axis'/>\n",
           left, top, left, bottom, left, bottom, right, bottom);
    foil_sb_put(b, "<text x='%.1f' y='%.1f' class='label' text-anchor='middle'>", (left + right) / 2,
           bottom + 40.0);
    rb_esc(b, p->xlabel);
    foil_sb_put(b, "</text><text transform='translate(16 %.1f) rotate(-90)' class='label' "
              "text-anchor='middle'>", (top + bottom) / 2);
    rb_esc(b, p->ylabel);
    foil_sb_put(b, "</text><text x='%.1f' y='20' class='title' text-anchor='middle'>",
           (left + right) / 2);
    rb_esc(b, p->title);
    foil_sb_put(b, "</text>\n");
}

static void series_line(rbuf *b, const frame *f, const report_series *s) {
    const char *colour = rb_palette(s->colour), *dash = s->dashed ? " stroke-dasharray='6 4'" : "";
    int open = 0;
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i])) {
            if (open) foil_sb_put(b, "'/>\n");
            open = 0;
            continue;
        }
        if (!open) foil_sb_put(b, "<polyline fill='none' stroke='%s' stroke-width='2'%s points='", colour, dash);
        foil_sb_put(b, "%s%.1f,%.1f", open ? " " : "", px(f, s->x[i]), py(f, s->y[i]));
        open = 1;
    }
    if (open) foil_sb_put(b, "'/>\n");
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i])) continue;
        foil_sb_put(b, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'><title>", px(f, s->x[i]),
               py(f, s->y[i]), colour);
        rb_esc(b, s->label);
        foil_sb_put(b, ": eps %.4g, %.4f</title></circle>\n", s->x[i], s->y[i]);
    }
}

static void legend(rbuf *b, const report_plot *p) {
    double x = WIDTH - MARGIN_R + 16;
    for (int i = 0; i < p->n; i++) {
        const report_series *s = &p->series[i];
        double y = MARGIN_T + 8 + LEGEND_ROW * i;
        foil_sb_put(b, "<line x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f' stroke='%s' stroke-width='2.5'%s/>"
                  "<text x='%.1f' y='%.1f' class='legend'>", x, y, x + 24, y, rb_palette(s->colour),
               s->dashed ? " stroke-dasharray='6 4'" : "", x + 30, y + 4);
        rb_esc(b, s->label);
        foil_sb_put(b, "</text>\n");
    }
}

void report_svg_lines(rbuf *b, const report_plot *p) {
    frame f = make_frame(p);
    foil_sb_put(b, "<svg xmlns='http://www.w3.org/2000/svg' class='plot' width='%d' height='%d' "
              "viewBox='0 0 %d %d' role='img' aria-label='", WIDTH, f.h, WIDTH, f.h);
    rb_esc(b, p->title);
    foil_sb_put(b, "'>\n<rect x='0' y='0' width='%d' height='%d' fill='#ffffff'/>\n", WIDTH, f.h);
    axes(b, &f, p);
    for (int i = 0; i < p->n; i++) series_line(b, &f, &p->series[i]);
    legend(b, p);
    foil_sb_put(b, "</svg>\n");
}
