/* What --resume compares: the recipe keys that change what training does
 * from here on, and data.test_limit, whose change would make the epoch log
 * mix accuracies on two test sets (more epochs, another device or another
 * eval batch are no change); adversarial training's keys and the schedule's
 * count as changes. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "foil/strbuf.h"
#include "foil/train.h"

static const char *const KEYS[] = {
    "seed",               "train.batch_size",   "train.optimizer",    "train.lr",
    "train.momentum",     "train.nesterov",     "train.weight_decay", "train.beta1",
    "train.beta2",        "train.eps",          "train.lr_decay",     "train.lr_decay_epochs",
    "data.train_limit",   "data.test_limit",
    "train.lr_schedule.kind", "train.lr_schedule.peak", "train.lr_schedule.min_lr",
    "train.lr_schedule.every", "train.lr_schedule.gamma",
    "train.adversarial.mode", "train.adversarial.eps", "train.adversarial.steps",
    "train.adversarial.step", "train.adversarial.alpha", "train.adversarial.beta",
    "train.adversarial.random_start", "train.adversarial.clean_ratio",
    "train.adversarial.warmup_epochs", "train.adversarial.eval_attack",
    "train.adversarial.eval_steps", "train.adversarial.eval_images", "train.adversarial.guard",
    "train.adversarial.guard_images", "train.adversarial.guard_drop", NULL};

/* The scalar at a dotted path, or NULL. */
static const char *scalar_at(foil_node *root, const char *path) {
    char part[64];
    foil_node *n = root;
    for (const char *p = path; n && *p;) {
        size_t k = strcspn(p, ".");
        if (k >= sizeof part) return NULL;
        memcpy(part, p, k);
        part[k] = 0;
        n = n->kind == FOIL_NODE_MAP ? foil_node_get(n, part) : NULL;
        p += k + (p[k] == '.');
    }
    return n && n->kind == FOIL_NODE_SCALAR ? n->value : NULL;
}

/* 1 / 0 for YAML's boolean words, -1 for anything else. */
static int as_bool(const char *s) {
    static const char *const YES[] = {"true", "yes", "on", NULL}, *const NO[] = {"false", "no", "off", NULL};
    for (int i = 0; YES[i]; i++)
        if (!strcasecmp(s, YES[i])) return 1;
    for (int i = 0; NO[i]; i++)
        if (!strcasecmp(s, NO[i])) return 0;
    return -1;
}

/* Equal as numbers when both are numbers (1e-3 is 0.001), as booleans when
 * both are (yes is true), else as text. */
static int same_value(const char *a, const char *b) {
    char *ea, *eb;
    double x = strtod(a, &ea), y = strtod(b, &eb);
    if (*a && *b && !*ea && !*eb) return x == y;
    if (as_bool(a) >= 0 && as_bool(b) >= 0) return as_bool(a) == as_bool(b);
    return strcmp(a, b) == 0;
}

int foil_recipe_changes(const char *saved_yaml, const char *now_yaml, char **changes,
                        foil_err *err) {
    foil_config saved = {0}, now = {0};
    *changes = NULL;
    if (foil_config_parse(&saved, "<checkpoint config>", saved_yaml, strlen(saved_yaml), err) ||
        foil_config_parse(&now, "<config>", now_yaml, strlen(now_yaml), err)) {
        foil_config_free(&saved);
        foil_config_free(&now);
        return -1;
    }
    foil_strbuf b = {0};
    for (int i = 0; KEYS[i]; i++) {
        const char *was = scalar_at(saved.root, KEYS[i]), *is = scalar_at(now.root, KEYS[i]);
        if (!was || !is || same_value(was, is)) continue; /* absent: an older checkpoint */
        foil_sb_put(&b, "%s%s %s -> %s", b.len ? ", " : "", KEYS[i], was, is);
    }
    foil_config_free(&saved);
    foil_config_free(&now);
    if (!(*changes = foil_sb_take(&b))) return foil_fail(err, "out of memory");
    return 0;
}
