/* Sweep configs: config tree -> foil_sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/sweep.h"

static const char *const OTHER_SECTIONS[] = {"train", "explain", "report", NULL};

/* The keys of the sweep itself: at the top level of a sweep file, or in the
 * `attack` section of a config shared with other commands (foil shift, run). */

/* A list of eps values, each >= 0. */
static int parse_eps(const foil_config *cfg, foil_node *list, float *eps, int *n, foil_err *err) {
    if (list->kind != FOIL_NODE_SEQ || foil_node_count(list) == 0)
        return foil_cfg_fail(cfg, list, err, "expected a non-empty list of eps values");
    if (foil_node_count(list) > FOIL_SWEEP_MAX_EPS)
        return foil_cfg_fail(cfg, list, err, "at most %d eps values", FOIL_SWEEP_MAX_EPS);
    *n = 0;
    for (foil_node *it = list->child; it; it = it->next) {
        double v;
        it->used = 1;
        if (foil_node_as_float(cfg, it, 0.0, 1e6, &v, err)) return -1;
        eps[(*n)++] = (float)v;
    }
    return 0;
}

static int parse_target(const foil_config *cfg, foil_node *args, foil_attack_spec *s,
                        foil_err *err) {
    foil_node *t = foil_node_get(args, "target");
    if (!t) return 0;
    if (t->kind != FOIL_NODE_SCALAR)
        return foil_cfg_fail(cfg, t, err, "expected none, least_likely, next, random or a class");
    static const char *const RULES[] = {"none", "", "least_likely", "next", "random", NULL};
    for (int i = 0; RULES[i]; i++)
        if (i != 1 && strcmp(t->value, RULES[i]) == 0) {
            s->target = (foil_target_rule)i;
            return 0;
        }
    long k;
    if (foil_node_as_int(cfg, t, 0, FOIL_MAX_CLASSES - 1, &k, err))
        return foil_cfg_fail(cfg, t, err,
                             "unknown target '%s' (choose one of: none, least_likely, next, "
                             "random, or a class number)", t->value);
    s->target = FOIL_TARGET_CLASS;
    s->target_class = (int)k;
    return 0;
}

/* Square's keys (square, and the cascade's Square stage). */
static int parse_square(const foil_config *cfg, foil_node *args, foil_attack_spec *s,
                        foil_err *err) {
    long v;
    double d;
    if (foil_cfg_int(cfg, args, "queries", FOIL_SQUARE_QUERIES, 1, 10000000, &v, err)) return -1;
    s->queries = (int)v;
    if (foil_cfg_float(cfg, args, "p_init", FOIL_SQUARE_P_INIT, 1e-6, 1.0, &d, err)) return -1;
    s->p_init = (float)d;
    /* AutoAttack's Square keeps the paper's schedule (resc_schedule=False) */
    if (foil_cfg_bool(cfg, args, "rescale_schedule", 0, &s->rescale_schedule, err)) return -1;
    return 0;
}

/* The cascade's stages: `version: fast | standard`, or `attacks: [...]`
 * (version custom); the label autoattack_<version>. Standard is the
 * reference's: APGD-CE, APGD-T, FAB-T, Square. */
static int parse_cascade(const foil_config *cfg, foil_node *args, foil_attack_spec *s,
                         char *name, size_t cap, foil_err *err) {
    static const char *const VERSIONS[] = {"fast", "standard", "custom", NULL};
    static const foil_attack_kind FAST[] = {FOIL_ATTACK_APGD_CE, FOIL_ATTACK_APGD_T};
    static const foil_attack_kind STANDARD[] = {FOIL_ATTACK_APGD_CE, FOIL_ATTACK_APGD_T,
                                                FOIL_ATTACK_FAB_T, FOIL_ATTACK_SQUARE};
    foil_node *list = foil_node_get(args, "attacks");
    int version;
    if (foil_cfg_enum(cfg, args, "version", list ? 2 : 1, VERSIONS, &version, err)) return -1;
    s->version = (foil_cascade_version)version;
    snprintf(name, cap, "autoattack_%s", VERSIONS[version]);
    if (version != FOIL_CASCADE_CUSTOM) {
        if (list)
            return foil_cfg_fail(cfg, list, err, "autoattack: attacks is for version custom");
        s->nstages = version == FOIL_CASCADE_FAST ? 2 : 4;
        memcpy(s->stages, version == FOIL_CASCADE_FAST ? FAST : STANDARD,
               sizeof(foil_attack_kind) * (size_t)s->nstages);
        return 0;
    }
    if (!list || list->kind != FOIL_NODE_SEQ || foil_node_count(list) < 1 ||
        foil_node_count(list) > FOIL_CASCADE_MAX)
        return foil_cfg_fail(cfg, list ? list : args, err, "autoattack: version custom needs "
                             "attacks: a list of 1 to %d of apgd_ce, apgd_dlr, apgd_t, fab_t, "
                             "square",
                             FOIL_CASCADE_MAX);
    list->used = 1;
    s->nstages = 0;
    for (foil_node *it = list->child; it; it = it->next) {
        it->used = 1;
        foil_attack_kind k;
        const foil_attack_info *st = NULL;
        if (it->kind == FOIL_NODE_SCALAR && foil_attack_parse_name(it->value, &k) == 0)
            st = foil_attack_info_of(k);
        if (!st || !(st->apgd || st->square || st->fab))
            return foil_cfg_fail(cfg, it, err, "autoattack: a stage is one of apgd_ce, "
                                 "apgd_dlr, apgd_t, fab_t, square");
        s->stages[s->nstages++] = k;
    }
    return 0;
}

/* Whether a stage of the cascade is Square (what = 0), APGD or FAB-T (1:
 * takes steps). */
static int has_stage(const foil_attack_spec *s, int what) {
    for (int k = 0; k < s->nstages; k++) {
        const foil_attack_info *st = foil_attack_info_of(s->stages[k]);
        if (what == 0 ? st->square : st->apgd || st->fab)
            return 1;
    }
    return 0;
}

static int parse_attack_args(const foil_config *cfg, foil_node *args, foil_sweep_attack *a,
                             foil_err *err) {
    foil_attack_spec *s = &a->spec;
    const foil_attack_info *info = foil_attack_info_of(s->kind);
    static const char *const LABELS[] = {"true", "predicted", NULL};
    long v;
    double d;
    int labels;
    char name[FOIL_NAME_MAX];
    snprintf(name, sizeof name, "%s", info->name);
    if (info->cascade && parse_cascade(cfg, args, s, name, sizeof name, err)) return -1;
    /* only the attacks with a norm key look it up (a lookup marks it used;
     * for the others check_used names it) */
    if (info->apgd || info->cascade || info->square || info->fab) {
        static const char *const NORMS[] = {"linf", "l2", NULL};
        int norm;
        if (foil_cfg_enum(cfg, args, "norm", 0, NORMS, &norm, err)) return -1;
        s->norm = norm ? FOIL_NORM_L2 : FOIL_NORM_LINF;
        if (norm) snprintf(name + strlen(name), sizeof name - strlen(name), "_l2");
    }
    /* the label names example and IDX files: it must be a file name */
    if (foil_cfg_name(cfg, args, "label", name, a->label, err)) return -1;
    const int takes_steps = info->iterative || info->apgd || info->fab || info->minimal ||
                            (info->cascade && has_stage(s, 1));
    s->steps = info->default_steps;
    if (takes_steps) {
        if (foil_cfg_int(cfg, args, "steps", info->default_steps, 1, 100000, &v, err)) return -1;
        s->steps = (int)v;
    }
    if (info->apgd || info->iterative || info->square || info->fab || info->cascade) {
        if (foil_cfg_int(cfg, args, "restarts", 1, 1, 1000, &v, err)) return -1;
        s->restarts = (int)v;
    } else {
        s->restarts = 1;
    }
    if ((info->apgd || info->iterative) &&
        foil_cfg_bool(cfg, args, "random_start", info->default_random_start, &s->random_start,
                      err))
        return -1;
    if ((info->square || (info->cascade && has_stage(s, 0))) && parse_square(cfg, args, s, err))
        return -1;
    if (info->iterative) { /* APGD sets its own step and runs every iteration */
        if (foil_cfg_float(cfg, args, "step", 0.0, 0.0, 1e6, &d, err)) return -1;
        s->step = (float)d;
        if (foil_cfg_bool(cfg, args, "early_stop", 0, &s->early_stop, err)) return -1;
    }
    int targets = info->multi_target;
    for (int k = 0; info->cascade && k < s->nstages; k++)
        targets |= foil_attack_info_of(s->stages[k])->multi_target;
    if (targets) {
        if (foil_cfg_int(cfg, args, "target_classes", 9, 1, FOIL_MAX_CLASSES - 1, &v, err))
            return -1;
        s->target_classes = (int)v;
    }
    if ((info->apgd || info->square || info->fab || info->minimal || info->cascade) &&
        foil_node_get(args, "target"))
        return foil_cfg_fail(cfg, foil_node_get(args, "target"), err,
                             info->multi_target ? "%s chooses its own targets (target_classes)"
                                                : "%s is untargeted", info->name);
    if (info->minimal && !info->cw) {
        if (foil_cfg_float(cfg, args, "overshoot", FOIL_DEEPFOOL_OVERSHOOT, 0.0, 10.0, &d, err))
            return -1;
        s->overshoot = (float)d;
    }
    if (info->cw) {
        if (foil_cfg_int(cfg, args, "search_steps", FOIL_CW_SEARCH_STEPS, 1, 100, &v, err))
            return -1;
        s->search_steps = (int)v;
        if (foil_cfg_float(cfg, args, "c_init", FOIL_CW_C_INIT, 1e-12, 1e12, &d, err)) return -1;
        s->c_init = (float)d;
        if (foil_cfg_float(cfg, args, "kappa", 0.0, 0.0, 1e6, &d, err)) return -1;
        s->kappa = (float)d;
    }
    if (info->momentum) {
        if (foil_cfg_float(cfg, args, "decay", 1.0, 0.0, 10.0, &d, err)) return -1;
        s->decay = (float)d;
    }
    if (foil_cfg_enum(cfg, args, "labels", 0, LABELS, &labels, err)) return -1;
    s->use_predicted = labels == 1;
    if (parse_target(cfg, args, s, err)) return -1;
    foil_node *eps = foil_node_get(args, "eps");
    if (eps && parse_eps(cfg, eps, a->eps, &a->neps, err)) return -1;
    return 0;
}

/* An attack is a name (fgsm) or a one-key map ({pgd: {steps: 40}}). */
static int parse_attack(const foil_config *cfg, foil_node *item, foil_sweep_attack *a,
                        foil_err *err) {
    memset(a, 0, sizeof *a);
    foil_node *args = NULL;
    const char *name;
    item->used = 1;
    if (item->kind == FOIL_NODE_SCALAR) {
        name = item->value;
    } else if (item->kind == FOIL_NODE_MAP && foil_node_count(item) == 1) {
        args = item->child;
        args->used = 1;
        name = args->key;
    } else {
        return foil_cfg_fail(cfg, item, err, "an attack is a name (fgsm) or {name: {...}}");
    }
    if (foil_attack_parse_name(name, &a->spec.kind)) {
        char known[256] = "";
        for (int k = 0; k < FOIL_ATTACK_COUNT; k++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                     foil_attack_name((foil_attack_kind)k));
        return foil_cfg_fail(cfg, args ? args : item, err,
                             "unknown attack '%s' (choose one of: %s)", name, known);
    }
    if (args && args->kind == FOIL_NODE_SCALAR && args->value[0] == 0) args = NULL;
    if (args && args->kind != FOIL_NODE_MAP)
        return foil_cfg_fail(cfg, args, err, "attack arguments must be a map");
    return parse_attack_args(cfg, args ? args : NULL, a, err);
}

static int parse_examples(const foil_config *cfg, foil_node *sec, foil_sweep *sw, foil_err *err) {
    foil_node *e = foil_node_get(sec, "examples");
    long v;
    if (!e || e->kind == FOIL_NODE_SCALAR) {
        if (foil_cfg_int(cfg, sec, "examples", 8, 0, FOIL_SWEEP_MAX_EXAMPLES, &v, err))
            return -1;
        sw->nexamples = (int)v;
        sw->examples_first = 1; /* the first N: fewer when the test set is smaller */
        for (int i = 0; i < sw->nexamples; i++) sw->examples[i] = i;
        return 0;
    }
    if (e->kind != FOIL_NODE_SEQ || foil_node_count(e) > FOIL_SWEEP_MAX_EXAMPLES)
        return foil_cfg_fail(cfg, e, err, "expected a count or a list of at most %d test indices",
                             FOIL_SWEEP_MAX_EXAMPLES);
    for (foil_node *it = e->child; it; it = it->next) {
        it->used = 1;
        if (foil_node_as_int(cfg, it, 0, 1L << 30, &v, err)) return -1;
        sw->examples[sw->nexamples++] = (int)v;
    }
    return 0;
}

static int parse_header(foil_sweep *sw, foil_config *cfg, foil_node *sec, foil_err *err) {
    const char *s;
    long v;
    if (foil_cfg_string(cfg, cfg->root, "name", "sweep", &s, err)) return -1;
    snprintf(sw->name, sizeof sw->name, "%s", s); /* shown only, never a path */
    if (foil_cfg_int(cfg, cfg->root, "seed", 0, 0, 0x7FFFFFFFFFFFFFFFL, &v, err)) return -1;
    sw->seed = (uint64_t)v;
    if (foil_cfg_device(cfg, sw->device, sizeof sw->device, &sw->tf32, err)) return -1;
    if (foil_cfg_path(cfg, cfg->root, "model", "", sw->model_path, err)) return -1;
    foil_node *d = foil_node_get(cfg->root, "data");
    snprintf(sw->data_dir, sizeof sw->data_dir, "data/raw/mnist");
    if (d) {
        if (d->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, d, err, "expected a map");
        if (foil_cfg_path(cfg, d, "dir", "data/raw/mnist", sw->data_dir, err)) return -1;
        if (foil_cfg_int(cfg, d, "test_limit", 0, 0, 1L << 30, &v, err)) return -1;
        sw->test_limit = (int)v;
        foil_node *tl = foil_node_get(d, "train_limit"); /* a recipe key; not ours */
        if (tl) tl->used = 1;
    }
    if (foil_cfg_int(cfg, sec, "batch_size", 500, 1, 65536, &v, err)) return -1;
    sw->batch_size = (int)v;
    return foil_cfg_bool(cfg, sec, "save_idx", 0, &sw->save_idx, err);
}

/* Every (label, eps) names its own example grid and IDX file and its own
 * rows in the tables: two attacks with one label, or two eps values that
 * print alike (the file names show three decimals), would overwrite each
 * other's files and make the rows ambiguous. */
static int check_files(const foil_config *cfg, foil_node *list, const foil_sweep *sw,
                       foil_err *err) {
    foil_node *it = list->child;
    for (int a = 0; a < sw->nattacks; a++, it = it->next) {
        const foil_sweep_attack *x = &sw->attacks[a];
        for (int b = 0; b < a; b++)
            if (strcmp(sw->attacks[b].label, x->label) == 0)
                return foil_cfg_fail(cfg, it, err, "label '%s' is taken by attacks[%d]; give "
                                     "one of them its own label", x->label, b);
        for (int i = 0; i < x->neps; i++)
            for (int j = 0; j < i; j++) {
                char p[32], q[32];
                snprintf(p, sizeof p, "%.3f", (double)x->eps[i]);
                snprintf(q, sizeof q, "%.3f", (double)x->eps[j]);
                if (strcmp(p, q) == 0)
                    return foil_cfg_fail(cfg, it, err, "eps %g and %g are both %s in file "
                                         "names; use values at least 0.001 apart",
                                         (double)x->eps[j], (double)x->eps[i], p);
            }
    }
    return 0;
}

int foil_sweep_parse(foil_sweep *sw, foil_config *cfg, foil_err *err) {
    memset(sw, 0, sizeof *sw);
    foil_node *sec = foil_node_get(cfg->root, "attack");
    if (sec && sec->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, sec, err, "expected a map");
    if (!sec) sec = cfg->root;
    if (parse_header(sw, cfg, sec, err) || parse_examples(cfg, sec, sw, err)) return -1;
    float eps[FOIL_SWEEP_MAX_EPS];
    int neps = 0;
    foil_node *e = foil_node_get(sec, "eps");
    if (e && parse_eps(cfg, e, eps, &neps, err)) return -1;
    foil_node *list;
    if (foil_cfg_require(cfg, sec, "attacks", &list, err)) return -1;
    if (list->kind != FOIL_NODE_SEQ || foil_node_count(list) == 0)
        return foil_cfg_fail(cfg, list, err, "expected a non-empty list of attacks");
    if (foil_node_count(list) > FOIL_SWEEP_MAX_ATTACKS)
        return foil_cfg_fail(cfg, list, err, "at most %d attacks", FOIL_SWEEP_MAX_ATTACKS);
    for (foil_node *it = list->child; it; it = it->next) {
        foil_sweep_attack *a = &sw->attacks[sw->nattacks++];
        if (parse_attack(cfg, it, a, err)) return -1;
        a->spec.seed = sw->seed;
        if (a->neps == 0) {
            if (neps == 0)
                return foil_cfg_fail(cfg, it, err, "no eps values: give eps at the top level "
                                                   "or in the attack");
            memcpy(a->eps, eps, sizeof(float) * (size_t)neps);
            a->neps = neps;
        }
    }
    if (check_files(cfg, list, sw, err)) return -1;
    foil_config_skip_sections(cfg->root, OTHER_SECTIONS);
    return foil_config_check_used(cfg, cfg->root, err);
}
