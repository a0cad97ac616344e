/* Features for the perturbation explainers (LIME, KernelSHAP, feature
 * ablation): an image's pixels grouped into segments that are switched on
 * and off together. A patch grid, SLIC superpixels (VLFeat's
 * vl_slic_segment) or quickshift segments (VLFeat's vl_quickshift, with the
 * `lime` package's parameter names and its colour space: the image in CIE
 * Lab, times `ratio`). */
#ifndef FOIL_FEATURES_H
#define FOIL_FEATURES_H

#include <stdint.h>

#include "foil/error.h"

typedef enum {
    FOIL_FEATURES_GRID,       /* size x size patches, the last row/column cut by the border */
    FOIL_FEATURES_SLIC,       /* region `size`, `regularization`, `min_size` */
    FOIL_FEATURES_QUICKSHIFT, /* `kernel_size`, `max_dist`, `ratio` */
    FOIL_FEATURES_COUNT
} foil_features_kind;

typedef struct foil_features_spec {
    foil_features_kind kind;
    int size;             /* grid: patch side; slic: region size (pixels) */
    float regularization; /* slic: spatial against intensity, as VLFeat's (foil hands
                             it the image in [0, 255], the scale its default 0.1 is for) */
    int min_size;         /* slic: smaller regions are merged into a neighbour */
    float kernel_size;    /* quickshift: sigma of the density estimate (lime: 4) */
    float max_dist;       /* quickshift: cut-off distance in the joint space (lime: 200) */
    float ratio;          /* quickshift: weight of colour against space (lime: 0.2) */
} foil_features_spec;

/* The defaults of a kind: grid 4, slic size 4 / regularization 0.1 /
 * min_size 4, quickshift 4 / 200 / 0.2 (lime's). */
foil_features_spec foil_features_default(foil_features_kind kind);
const char *foil_features_name(foil_features_kind kind);
int foil_features_parse(const char *name, foil_features_kind *kind);

/* Segments of one image img (c, h, w) into seg (h * w), numbered 0 ..
 * *nseg - 1 in the order of their first pixel (row-major), so that the same
 * image always gives the same numbers. Fails on bad parameters. */
int foil_segment(const foil_features_spec *s, const float *img, int c, int h, int w,
                 int32_t *seg, int *nseg, foil_err *err);

#endif
