/* The attack kinds and what the rest of foil needs to know of each: one row
 * per kind (foil_attack_info, foil/attack.h). Configs, sweeps, reports and
 * the attack loop read these rows instead of testing kinds. Adding an
 * attack: its kind in foil_attack_kind, its run function in a file of its
 * own (declared in attack_internal.h), its row here (docs/design.md). */
#include <string.h>

#include "attack_internal.h"

/* Step defaults: MI-FGSM eps / steps (Dong et al. 2018), the other iterative
 * attacks 2.5 eps / steps (Madry et al. 2018's rule of thumb). */
#define GRADIENT .run = foil_attack_gradient_run
static const foil_attack_info ATTACKS[FOIL_ATTACK_COUNT] = {
    [FOIL_ATTACK_FGSM] = {.name = "fgsm", .norm = FOIL_NORM_LINF, .default_steps = 1,
                          .rule = FOIL_STEP_SIGN, GRADIENT},
    [FOIL_ATTACK_BIM] = {.name = "bim", .norm = FOIL_NORM_LINF, .iterative = 1,
                         .default_steps = 10, .step_factor = 2.5f, .rule = FOIL_STEP_SIGN,
                         GRADIENT},
    [FOIL_ATTACK_PGD] = {.name = "pgd", .norm = FOIL_NORM_LINF, .iterative = 1,
                         .default_steps = 40, .default_random_start = 1, .step_factor = 2.5f,
                         .rule = FOIL_STEP_SIGN, GRADIENT},
    [FOIL_ATTACK_PGD_L2] = {.name = "pgd_l2", .norm = FOIL_NORM_L2, .iterative = 1,
                            .default_steps = 40, .default_random_start = 1, .step_factor = 2.5f,
                            .rule = FOIL_STEP_L2, GRADIENT},
    [FOIL_ATTACK_MIFGSM] = {.name = "mifgsm", .norm = FOIL_NORM_LINF, .iterative = 1,
                            .default_steps = 10, .step_factor = 1.0f, .momentum = 1,
                            .rule = FOIL_STEP_MOMENTUM_SIGN, GRADIENT},
    /* APGD: 100 iterations, step 2 eps halved by the schedule (apgd.c) */
    [FOIL_ATTACK_APGD_CE] = {.name = "apgd_ce", .norm = FOIL_NORM_LINF, .apgd = 1, .compacts = 1,
                             .default_steps = 100, .default_random_start = 1,
                             .loss = FOIL_LOSS_CE, .run = foil_attack_apgd_run},
    [FOIL_ATTACK_APGD_DLR] = {.name = "apgd_dlr", .norm = FOIL_NORM_LINF, .apgd = 1,
                              .compacts = 1,
                              .default_steps = 100, .default_random_start = 1,
                              .loss = FOIL_LOSS_DLR, .run = foil_attack_apgd_run},
    [FOIL_ATTACK_APGD_T] = {.name = "apgd_t", .norm = FOIL_NORM_LINF, .apgd = 1, .compacts = 1,
                            .default_steps = 100, .default_random_start = 1,
                            .loss = FOIL_LOSS_DLR_TARGETED, .multi_target = 1,
                            .run = foil_attack_apgd_run},
    [FOIL_ATTACK_SQUARE] = {.name = "square", .norm = FOIL_NORM_LINF, .square = 1,
                            .compacts = 1, .default_steps = 1, .run = foil_attack_square_run},
    /* FAB-T: 100 iterations, the first run from x0 (fab.c) */
    [FOIL_ATTACK_FAB_T] = {.name = "fab_t", .norm = FOIL_NORM_LINF, .fab = 1, .compacts = 1,
                           .default_steps = 100, .multi_target = 1,
                           .run = foil_attack_fab_run},
    /* DeepFool: at most 50 iterations, overshoot 0.02 (deepfool.c) */
    [FOIL_ATTACK_DEEPFOOL] = {.name = "deepfool", .norm = FOIL_NORM_L2, .minimal = 1,
                              .default_steps = 50, .run = foil_attack_deepfool_run},
    /* CW-L2: 1000 Adam steps per c (the paper: 10000; saturated pixels move
     * slowly in tanh space), 9 binary-search steps (cw.c) */
    [FOIL_ATTACK_CW_L2] = {.name = "cw_l2", .norm = FOIL_NORM_L2, .minimal = 1, .cw = 1,
                           .default_steps = 1000, .run = foil_attack_cw_run},
    /* the cascade runs its stages' rows (attack.c): no run function of its own */
    [FOIL_ATTACK_AUTOATTACK] = {.name = "autoattack", .norm = FOIL_NORM_LINF, .cascade = 1,
                                .default_steps = 100},
};
#undef GRADIENT

const foil_attack_info *foil_attack_info_of(foil_attack_kind kind) {
    return (unsigned)kind < FOIL_ATTACK_COUNT ? &ATTACKS[kind] : NULL;
}

const char *foil_attack_name(foil_attack_kind kind) {
    const foil_attack_info *a = foil_attack_info_of(kind);
    return a ? a->name : "?";
}

int foil_attack_parse_name(const char *name, foil_attack_kind *kind) {
    for (int k = 0; k < FOIL_ATTACK_COUNT; k++)
        if (strcmp(name, ATTACKS[k].name) == 0) {
            *kind = (foil_attack_kind)k;
            return 0;
        }
    return -1;
}

const char *foil_norm_name(foil_norm norm) { return norm == FOIL_NORM_L2 ? "l2" : "linf"; }

int foil_norm_parse(const char *name, foil_norm *norm) {
    if (strcmp(name, "linf") && strcmp(name, "l2")) return -1;
    *norm = strcmp(name, "l2") == 0 ? FOIL_NORM_L2 : FOIL_NORM_LINF;
    return 0;
}

foil_norm foil_attack_norm(const foil_attack_spec *s) {
    const foil_attack_info *a = foil_attack_info_of(s->kind);
    return a && (a->apgd || a->cascade || a->square || a->fab) ? s->norm
           : a                                                 ? a->norm
                                                               : FOIL_NORM_LINF;
}

float foil_attack_pixel_bound(foil_norm norm, float eps) {
    return norm == FOIL_NORM_LINF ? eps : 0.0f;
}

/* A non-iterative attack steps by eps; an iterative one by the spec's step,
 * or step_factor * eps / steps; APGD starts at 2 eps. */
float foil_attack_step_size(const foil_attack_spec *s) {
    const foil_attack_info *a = foil_attack_info_of(s->kind);
    if (a && a->apgd) return 2.0f * s->eps;
    if (!a || !a->iterative) return s->eps;
    if (s->step > 0.0f) return s->step;
    return a->step_factor * s->eps / (float)(s->steps > 0 ? s->steps : 1);
}
