/* foil run: sweep/radii.csv read back for the report, each variant of a
 * minimal-perturbation attack (CW-L2, DeepFool) as its accuracy-vs-radius
 * curve: the share of the test images classified right when clean whose
 * adversarial (if one was found) lies beyond r.
 *   attack,variant,index,label,predicted,radius_l2,radius_linf */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "run.h"

typedef struct radius_list {
    double *v[2]; /* radii found (images right when clean), per norm */
    int n, cap;
} radius_list;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int push(radius_list *l, double l2, double linf) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        for (int k = 0; k < 2; k++) {
            double *p = realloc(l->v[k], (size_t)cap * sizeof *p);
            if (!p) return -1;
            l->v[k] = p;
        }
        l->cap = cap;
    }
    l->v[0][l->n] = l2, l->v[1][l->n] = linf, l->n++;
    return 0;
}

/* The curve and the median of one variant from its radii. */
static void curve(foil_report_radii *o, radius_list *l) {
    o->found = l->n;
    o->npts = FOIL_REPORT_RADIUS_POINTS;
    for (int k = 0; k < 2; k++) {
        qsort(l->v[k], (size_t)l->n, sizeof(double), cmp_double);
        double top = l->n ? l->v[k][l->n - 1] : 1.0;
        o->median[k] = l->n ? 0.5 * (l->v[k][(l->n - 1) / 2] + l->v[k][l->n / 2]) : NAN;
        for (int j = 0, below = 0; j < o->npts; j++) {
            double r = top * j / (o->npts - 1);
            while (below < l->n && l->v[k][below] <= r) below++;
            o->r[k][j] = r;
            o->acc[k][j] = o->n ? (double)(o->right - below) / o->n : NAN;
        }
    }
}

static foil_report_radii *variant(foil_report *r, radius_list *lists, const char *attack,
                                  const char *label, int *which) {
    for (int i = 0; i < r->nradii; i++)
        if (strcmp(r->radii[i].label, label) == 0) return *which = i, &r->radii[i];
    if (r->nradii == FOIL_REPORT_MAX_RADII) return NULL;
    foil_report_radii *o = &r->radii[r->nradii];
    memset(o, 0, sizeof *o);
    memset(&lists[r->nradii], 0, sizeof *lists);
    snprintf(o->label, sizeof o->label, "%s", label);
    snprintf(o->attack, sizeof o->attack, "%s", attack);
    *which = r->nradii++;
    return o;
}

int run_load_radii(const char *path, foil_report *r, foil_err *err) {
    foil_err e;
    FILE *f = foil_fopen_read(path, 0, &e);
    if (!f) return foil_fail(err, "%s", e.msg);
    radius_list lists[FOIL_REPORT_MAX_RADII];
    char line[512];
    int rc = 0, first = 1;
    r->nradii = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char attack[32], label[FOIL_NAME_MAX];
        int index, truth, pred, which, used = 0;
        if (first) { /* the header */
            first = 0;
            continue;
        }
        if (sscanf(line, "%31[^,],%63[^,],%d,%d,%d,%n", attack, label, &index, &truth, &pred,
                   &used) != 5 || used == 0) {
            rc = foil_fail(err, "%s: a line that is not attack,variant,index,label,predicted,"
                                "radius_l2,radius_linf", path);
            break;
        }
        foil_report_radii *o = variant(r, lists, attack, label, &which);
        if (!o) continue; /* past the report's room */
        o->n++;
        if (truth != pred) continue;
        o->right++;
        double l2, linf;
        if (sscanf(line + used, "%lf,%lf", &l2, &linf) == 2 && push(&lists[which], l2, linf))
            rc = foil_fail(err, "out of memory");
    }
    fclose(f);
    for (int i = 0; i < r->nradii; i++) {
        if (rc == 0) curve(&r->radii[i], &lists[i]);
        free(lists[i].v[0]);
        free(lists[i].v[1]);
    }
    if (rc) r->nradii = 0;
    return rc;
}
