/* Explanation shift under attack: Integrated Gradients of clean and
 * adversarial images (for the true class and for the adversarial prediction)
 * and how far they move, aggregated per (attack, eps). */
#ifndef FOIL_SHIFT_H
#define FOIL_SHIFT_H

#include <stdio.h>

#include "foil/explain.h"
#include "foil/sweep.h"

/* Spearman rank correlation of a and b (n values; ties get their average
 * rank). 0 when either is constant. */
double foil_spearman(const float *a, const float *b, size_t n);
/* Intersection over union of the top ceil(frac * n) entries of |a| and |b|
 * (ties broken by index). */
double foil_topk_iou(const float *a, const float *b, size_t n, double frac);
/* Share of sum |attr| on pixels the attack changed by more than one gray
 * level (|delta| > 1/255); 0 when attr is all zero. */
double foil_mass_on_perturbed(const float *attr, const float *delta, size_t n);

typedef struct foil_shift_row {
    foil_attack_kind kind;
    foil_norm norm;            /* the ball eps bounds */
    char label[FOIL_NAME_MAX]; /* the attack's label, whole */
    float eps;
    int n;
    double accuracy;          /* on the adversarial images */
    double spearman_true;     /* rank correlation IG(clean, true) vs IG(adv, true) */
    double spearman_pred;     /* ... vs IG(adv, adversarial prediction) */
    double iou_true, iou_pred;/* top-k overlap, same pairs */
    double mass_perturbed;    /* share of |IG(adv, true)| on perturbed pixels */
    double rel_delta_clean, rel_delta_adv_true, rel_delta_adv_pred; /* median |relative delta| */
} foil_shift_row;

typedef struct foil_shift_io {
    foil_net *net;                   /* max_batch >= batch * IG points per forward */
    const foil_dataset *test;
    const foil_device_data *dtest;
    const int32_t *images;           /* (nimages) test indices */
    int nimages;
    int batch;                       /* images per batch */
    double topk;                     /* fraction of pixels for the IoU, e.g. 0.1 */
    int grid_rows;                   /* images in each PNG grid (from the first batch) */
    const char *outdir;              /* grids go to <outdir>/shift/ */
    int quiet;
} foil_shift_io;

/* For every (attack, eps) of the sweep: attack the images, explain clean and
 * adversarial images with `spec` (its class rule is ignored: the true class
 * and the adversarial prediction are explained), and aggregate the shift.
 * rows (one per attack x eps, in order) are malloc'd. */
int foil_shift_run(const foil_sweep *sw, const foil_explain_spec *spec, const foil_shift_io *io,
                   foil_shift_row **rows, int *nrows, foil_err *err);

int foil_shift_write_csv(const foil_shift_row *rows, int n, const char *path, foil_err *err);
int foil_shift_write_json(const foil_shift_row *rows, int n, const char *path, foil_err *err);
void foil_shift_print(const foil_shift_row *rows, int n, FILE *out);

#endif
