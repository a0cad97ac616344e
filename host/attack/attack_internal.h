/* Private to host/attack/: the run functions the attack table
 * (attack_table.c) names, one per family of attacks. */
#ifndef FOIL_ATTACK_INTERNAL_H
#define FOIL_ATTACK_INTERNAL_H

#include "foil/attack.h"

/* gradient.c: FGSM, BIM, PGD-Linf, PGD-L2, MI-FGSM */
int foil_attack_gradient_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                             const float *x0, int n, int64_t first, int restart, foil_err *err);

/* apgd.c: APGD-CE, APGD-DLR, APGD-T */
int foil_attack_apgd_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                         const float *x0, int n, int64_t first, int restart, foil_err *err);

/* attack.c: APGD-T's and FAB-T's targets, w->target = the class of each
 * sample's (rank + 1)-th largest logit at x0 (rank 1: the second; ties: the
 * lower class first). */
int foil_attack_set_targets(foil_net *net, foil_attack_work *w, const float *x0, int n, int rank,
                            foil_err *err);

/* fab.c: FAB-T */
int foil_attack_fab_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                        const float *x0, int n, int64_t first, int restart, foil_err *err);

/* deepfool.c: DeepFool (L2) */
int foil_attack_deepfool_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                             const float *x0, int n, int64_t first, int restart,
                             foil_err *err);

/* cw.c: CW-L2 */
int foil_attack_cw_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                       const float *x0, int n, int64_t first, int restart, foil_err *err);

/* square.c: the Square attack */
int foil_attack_square_run(foil_net *net, foil_attack_work *w, const foil_attack_spec *s,
                           const float *x0, int n, int64_t first, int restart, foil_err *err);

#endif
