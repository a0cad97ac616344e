/* The recipe's adversarial training (train.adversarial) and learning-rate
 * schedule (train.lr_schedule): parsing, with one-line errors naming the
 * key, and the per-step values the training loop asks for. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/train.h"

#define PI 3.14159265358979323846

/* The keys of train.adversarial and the modes that take them (bit mode). */
#define M_PGD (1u << FOIL_ADV_PGD)
#define M_FGSM (1u << FOIL_ADV_FGSM_RS)
#define M_TRADES (1u << FOIL_ADV_TRADES)
#define M_ALL (M_PGD | M_FGSM | M_TRADES)
static const struct {
    const char *key;
    unsigned modes;
} ADV_KEYS[] = {
    {"mode", M_ALL},           {"eps", M_ALL},         {"steps", M_PGD | M_TRADES},
    {"step", M_PGD | M_TRADES}, {"alpha", M_FGSM},     {"beta", M_TRADES},
    {"random_start", M_PGD},   {"clean_ratio", M_PGD | M_FGSM}, {"clip_start", M_FGSM},
    {"warmup_epochs", M_ALL},  {"eval_attack", M_ALL}, {"eval_steps", M_ALL},
    {"eval_images", M_ALL},    {"guard", M_ALL},       {"guard_images", M_ALL},
    {"guard_drop", M_ALL},
};
static const char *const MODES[] = {"none", "pgd", "fgsm_rs", "trades", NULL};

/* The attacks that can measure robust accuracy between epochs. */
static int trainer_can_use(foil_attack_kind k) {
    return k == FOIL_ATTACK_FGSM || k == FOIL_ATTACK_BIM || k == FOIL_ATTACK_PGD ||
           k == FOIL_ATTACK_MIFGSM || k == FOIL_ATTACK_APGD_CE || k == FOIL_ATTACK_APGD_DLR;
}

/* Every key of m belongs to the mode (names are checked before values, so
 * that `beta` under mode pgd says so rather than being parsed). */
static int check_keys(foil_config *cfg, foil_node *m, foil_adv_mode mode, foil_err *err) {
    for (foil_node *c = m->child; c; c = c->next) {
        size_t k = 0, nk = sizeof ADV_KEYS / sizeof *ADV_KEYS;
        while (k < nk && strcmp(ADV_KEYS[k].key, c->key)) k++;
        if (k == nk) continue; /* foil_config_check_used reports it */
        if (!(ADV_KEYS[k].modes & (1u << mode)))
            return foil_cfg_fail(cfg, c, err, "not a key of mode %s", MODES[mode]);
    }
    return 0;
}

static int parse_adv(foil_recipe *r, foil_config *cfg, foil_node *m, foil_err *err) {
    foil_adv_recipe *a = &r->adv;
    long v;
    int mode;
    if (m->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, m, err, "expected a map");
    if (!foil_node_get(m, "mode"))
        return foil_cfg_fail(cfg, m, err, "missing key 'mode' (pgd, fgsm_rs, trades or none)");
    if (foil_cfg_enum(cfg, m, "mode", 0, MODES, &mode, err)) return -1;
    a->mode = (foil_adv_mode)mode;
    if (a->mode == FOIL_ADV_NONE) {
        if (m->child && m->child->next)
            return foil_cfg_fail(cfg, m, err, "mode none (clean training) takes no other keys");
        return 0;
    }
    if (check_keys(cfg, m, a->mode, err)) return -1;
    const int pgd = a->mode == FOIL_ADV_PGD, fgsm = a->mode == FOIL_ADV_FGSM_RS,
              trades = a->mode == FOIL_ADV_TRADES;
    if (foil_cfg_float(cfg, m, "eps", 0.3, 0.0, 1.0, &a->eps, err)) return -1;
    a->steps = 1;
    const double least = a->eps > 0 ? 1e-9 : 0.0; /* a step of 0 moves nothing */
    if (!fgsm) {
        if (foil_cfg_int(cfg, m, "steps", 40, 1, 100000, &v, err)) return -1;
        a->steps = (int)v;
        if (foil_cfg_float(cfg, m, "step", 2.5 * a->eps / a->steps, least, 1.0, &a->step, err))
            return -1;
    }
    if (fgsm && (foil_cfg_float(cfg, m, "alpha", 1.25 * a->eps, least, 1.0, &a->alpha, err) ||
                 foil_cfg_bool(cfg, m, "clip_start", 0, &a->clip_start, err)))
        return -1;
    if (trades && foil_cfg_float(cfg, m, "beta", 1.0, 0.0, 1e6, &a->beta, err)) return -1;
    a->random_start = !pgd;
    if (pgd && foil_cfg_bool(cfg, m, "random_start", 1, &a->random_start, err)) return -1;
    if (!trades && foil_cfg_float(cfg, m, "clean_ratio", 0.0, 0.0, 1.0, &a->clean_ratio, err))
        return -1;
    if (foil_cfg_int(cfg, m, "warmup_epochs", 0, 0, FOIL_MAX_EPOCHS, &v, err)) return -1;
    a->warmup_epochs = (int)v;
    const char *name;
    foil_attack_kind kind;
    if (foil_cfg_string(cfg, m, "eval_attack", "pgd", &name, err)) return -1;
    if (foil_attack_parse_name(name, &kind) || !trainer_can_use(kind))
        return foil_cfg_fail(cfg, foil_node_get(m, "eval_attack"), err,
                             "'%s' cannot measure robustness between epochs (fgsm, bim, pgd, "
                             "mifgsm, apgd_ce or apgd_dlr)", name);
    a->eval_attack = (int)kind;
    if (foil_cfg_int(cfg, m, "eval_steps", 10, 1, 100000, &v, err)) return -1;
    a->eval_steps = (int)v;
    if (foil_cfg_int(cfg, m, "eval_images", 1000, 0, 1L << 30, &v, err)) return -1;
    a->eval_images = (int)v;
    if (foil_cfg_bool(cfg, m, "guard", fgsm, &a->guard, err)) return -1;
    if (foil_cfg_int(cfg, m, "guard_images", 1000, 1, 1L << 30, &v, err)) return -1;
    a->guard_images = (int)v;
    if (foil_cfg_float(cfg, m, "guard_drop", 0.2, 0.0, 1.0, &a->guard_drop, err)) return -1;
    return 0;
}

static int parse_schedule(foil_recipe *r, foil_config *cfg, foil_node *t, foil_err *err) {
    static const char *const KINDS[] = {"decay", "cyclic", "step", "cosine", NULL};
    foil_lr_schedule *s = &r->schedule;
    foil_node *m = foil_node_get(t, "lr_schedule");
    memset(s, 0, sizeof *s);
    s->kind = FOIL_LR_DECAY;
    if (!m) return 0;
    if (m->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, m, err, "expected a map");
    int kind;
    long v;
    if (!foil_node_get(m, "kind"))
        return foil_cfg_fail(cfg, m, err, "missing key 'kind' (cyclic, step or cosine)");
    if (foil_cfg_enum(cfg, m, "kind", 0, KINDS, &kind, err)) return -1;
    s->kind = (foil_lr_kind)kind;
    if (s->kind != FOIL_LR_DECAY && (r->lr_decay != 1.0 || r->lr_decay_epochs != 1))
        return foil_cfg_fail(cfg, m, err, "a schedule and lr_decay / lr_decay_epochs: "
                                          "give one of them");
    if (s->kind == FOIL_LR_CYCLIC &&
        foil_cfg_float(cfg, m, "peak", 0.4, 0.0, 1.0, &s->peak, err))
        return -1;
    if ((s->kind == FOIL_LR_CYCLIC || s->kind == FOIL_LR_COSINE) &&
        foil_cfg_float(cfg, m, "min_lr", 0.0, 0.0, r->lr, &s->min_lr, err))
        return -1;
    if (s->kind == FOIL_LR_STEP) {
        if (foil_cfg_int(cfg, m, "every", 1, 1, FOIL_MAX_EPOCHS, &v, err) ||
            foil_cfg_float(cfg, m, "gamma", 0.1, 1e-12, 1e12, &s->gamma, err))
            return -1;
        s->every = (int)v;
    }
    return 0;
}

int foil_recipe_parse_adversarial(foil_recipe *r, foil_config *cfg, foil_node *t,
                                  foil_err *err) {
    memset(&r->adv, 0, sizeof r->adv);
    if (parse_schedule(r, cfg, t, err)) return -1;
    foil_node *m = foil_node_get(t, "adversarial");
    return m ? parse_adv(r, cfg, m, err) : 0;
}

const char *foil_adv_mode_name(foil_adv_mode mode) {
    return mode >= FOIL_ADV_NONE && mode <= FOIL_ADV_TRADES ? MODES[mode] : "?";
}

double foil_recipe_lr(const foil_recipe *r, int epoch, int step, int steps_per_epoch) {
    const foil_lr_schedule *s = &r->schedule;
    /* the share of the run done after this step, in (0, 1] */
    const double t = ((double)(epoch - 1) * steps_per_epoch + step + 1) /
                     ((double)r->epochs * steps_per_epoch);
    switch (s->kind) {
    case FOIL_LR_CYCLIC:
        if (t <= s->peak && s->peak > 0)
            return s->min_lr + (r->lr - s->min_lr) * t / s->peak;
        return s->min_lr + (r->lr - s->min_lr) * (1.0 - t) / (1.0 - s->peak);
    case FOIL_LR_STEP: return r->lr * pow(s->gamma, (double)((epoch - 1) / s->every));
    case FOIL_LR_COSINE: return s->min_lr + (r->lr - s->min_lr) * 0.5 * (1.0 + cos(PI * t));
    case FOIL_LR_DECAY: break;
    }
    return r->lr * pow(r->lr_decay, (double)((epoch - 1) / r->lr_decay_epochs));
}

double foil_recipe_adv_eps(const foil_recipe *r, int epoch, int step, int steps_per_epoch) {
    const int w = r->adv.warmup_epochs;
    if (w <= 0) return r->adv.eps;
    const double t = ((double)(epoch - 1) * steps_per_epoch + step + 1) /
                     ((double)w * steps_per_epoch);
    return t >= 1.0 ? r->adv.eps : r->adv.eps * t;
}
