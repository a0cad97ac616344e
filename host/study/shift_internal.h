/* Private to the shift analysis: per-batch buffers and per-image results. */
#ifndef FOIL_SHIFT_INTERNAL_H
#define FOIL_SHIFT_INTERNAL_H

#include "foil/shift.h"

/* Per-image measures of one (attack, eps), over all images. */
typedef struct shift_acc {
    double *sp_true, *sp_pred, *iou_true, *iou_pred, *mass; /* (nimages) */
    float *rd_clean, *rd_true, *rd_pred;                    /* (nimages) |relative delta| */
    long correct;
} shift_acc;

typedef struct shift_state {
    foil_attack_work aw;
    foil_explain_work *ew;
    size_t row;
    int32_t *idx_dev, *labels_dev;          /* (batch) */
    float *x_dev, *adv_dev, *attr_dev;      /* (batch, row) */
    int32_t *labels, *adv_pred;             /* (batch) host */
    float *x, *adv, *delta;                 /* (batch, row) host */
    float *ig_clean, *ig_true, *ig_pred;    /* (batch, row) host */
    foil_explain_stats *st_clean, *st_true, *st_pred; /* (batch) */
    float *logits;                          /* (batch, classes) host */
    shift_acc *acc;                         /* (rows) */
} shift_state;

/* host/study/shift_output.c: the PNG grid of the first rows of a batch. */
int shift_save_grid(const shift_state *s, const foil_shift_io *io, const foil_shift_row *r,
                    int nb, foil_err *err);

#endif
