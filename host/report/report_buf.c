/* The report's HTML escaping, numbers and colours. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"

void rb_esc(rbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': foil_sb_put(b, "&amp;"); break;
        case '<': foil_sb_put(b, "&lt;"); break;
        case '>': foil_sb_put(b, "&gt;"); break;
        case '"': foil_sb_put(b, "&quot;"); break;
        case '\'': foil_sb_put(b, "&#39;"); break;
        default:
            foil_sb_append(b, s, 1);
        }
    }
}

void rb_num(rbuf *b, double v, int digits) {
    if (!isfinite(v)) foil_sb_put(b, "n/a");
    else foil_sb_put(b, "%.*f", digits, v);
}

static double lerp(double a, double c, double t) { return a + (c - a) * t; }

/* ColorBrewer RdYlGn end points and middle: #d73027, #fee08b, #1a9850. */
void rb_scale_colour(double v, char bg[8], char fg[8]) {
    static const double STOPS[3][3] = {{215, 48, 39}, {254, 224, 139}, {26, 152, 80}};
    if (!isfinite(v)) { /* no value (a class without test images): grey */
        snprintf(bg, 8, "#dddddd");
        snprintf(fg, 8, "#111111");
        return;
    }
    v = v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
    const double *lo = v < 0.5 ? STOPS[0] : STOPS[1], *hi = v < 0.5 ? STOPS[1] : STOPS[2];
    double t = v < 0.5 ? v / 0.5 : (v - 0.5) / 0.5, rgb[3];
    for (int k = 0; k < 3; k++) rgb[k] = lerp(lo[k], hi[k], t);
    snprintf(bg, 8, "#%02x%02x%02x", (int)rgb[0] & 255, (int)rgb[1] & 255, (int)rgb[2] & 255);
    double luma = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
    snprintf(fg, 8, "%s", luma < 140.0 ? "#ffffff" : "#111111");
}

const char *rb_palette(int i) {
    /* Tableau 10: distinguishable, and readable on white. */
    static const char *const P[10] = {"#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1",
                                      "#76b7b2", "#edc948", "#ff9da7", "#9c755f", "#bab0ac"};
    return P[(i % 10 + 10) % 10];
}
