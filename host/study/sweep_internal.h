/* Private to the sweep: the state of a running sweep and its outputs. */
#ifndef FOIL_SWEEP_INTERNAL_H
#define FOIL_SWEEP_INTERNAL_H

#include "foil/strbuf.h"
#include "foil/sweep.h"

typedef struct sweep_state {
    foil_attack_work work;
    float *x_adv;            /* (batch, row) backend memory */
    int32_t *clean_pred;     /* (n) */
    float *clean_prob;       /* (n, classes) */
    int32_t *adv_pred;       /* (n) of the current (attack, eps) */
    float *adv_conf;         /* (n) softmax confidence of adv_pred */
    int32_t *targets;        /* (n) targets of a targeted attack */
    float *x_host;           /* (batch, row) */
    float *logits_host;      /* (batch, classes) */
    float *examples_adv;     /* (nexamples, row) adversarial example images */
    float *all_adv;          /* (n, row) when save_idx */
    foil_strbuf index;       /* examples/index.csv being built */
    foil_strbuf radii;       /* radii.csv being built (minimal-perturbation attacks) */
    /* A minimal-perturbation attack runs once, at no bound; each eps of it
     * takes what it found where the L2 radius is within eps, else x0. */
    const foil_sweep_attack *found_of; /* the attack found holds (its radii are in radii) */
    float *found;            /* (n, row) host: what it found (x0 where nothing) */
    float *found_l2;         /* (n) host: its L2 radii (+inf where nothing) */
} sweep_state;

int sweep_state_init(sweep_state *st, const foil_sweep *sw, const foil_sweep_io *io,
                     foil_err *err);
void sweep_state_free(sweep_state *st, foil_backend *b);

/* host/study/sweep_output.c */
int sweep_save_examples(sweep_state *st, const foil_sweep *sw, const foil_sweep_io *io,
                        const foil_sweep_row *r, foil_err *err);
int sweep_save_idx(sweep_state *st, const foil_sweep_io *io, const foil_sweep_row *r,
                   foil_err *err);
int sweep_write_example_index(sweep_state *st, const foil_sweep_io *io, foil_err *err);
/* OUTDIR/radii.csv from st->radii (nothing when no attack recorded radii). */
int sweep_write_radii(sweep_state *st, const foil_sweep_io *io, foil_err *err);

#endif
