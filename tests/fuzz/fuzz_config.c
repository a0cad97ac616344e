/* libFuzzer target for the YAML config loader (host/core/config*.c) and the parsers
 * on top of it (recipe, model definition, attack sweep, explain config).
 *
 * Input: YAML text, optionally followed by a line "%%" and then up to eight
 * `key.path=value` override lines. Every pass starts from a fresh parse with
 * the overrides applied. Properties checked besides the sanitizers:
 *  - a failed call leaves a non-empty one-line message;
 *  - the emitted tree parses again and emits the same text (the resolved
 *    config a run saves must reload);
 *  - a config a parser accepts is accepted again after emitting and reparsing
 *    it, with the same resolved text;
 *  - a model definition that builds survives foil_model_def_to_yaml (how it is
 *    stored in a checkpoint) unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foil/config.h"
#include "foil/explain.h"
#include "foil/model.h"
#include "foil/model_def.h"
#include "foil/sweep.h"
#include "foil/train.h"
#include "fuzz_util.h"

#define MAX_OVERRIDES 8
#define MAX_DEPTH 64 /* host/core/config.c reads at most this many levels */

typedef struct input {
    const char *yaml;
    size_t yaml_len;
    char *overrides[MAX_OVERRIDES];
    int noverrides;
} input;

/* Splits the input at the first "\n%%\n" line. */
static void split_input(input *in, const uint8_t *data, size_t size, char *ovr_buf) {
    static const char sep[] = "\n%%\n";
    const size_t seplen = sizeof sep - 1;
    memset(in, 0, sizeof *in);
    in->yaml = (const char *)data;
    in->yaml_len = size;
    size_t at = 0;
    while (at + seplen <= size && memcmp(data + at, sep, seplen) != 0) at++;
    if (at + seplen > size) return;
    in->yaml_len = at + 1; /* keep the newline */
    size_t rest = size - at - seplen;
    memcpy(ovr_buf, data + at + seplen, rest);
    ovr_buf[rest] = 0;
    for (char *line = ovr_buf; line && *line && in->noverrides < MAX_OVERRIDES;) {
        char *nl = strchr(line, '\n');
        if (nl) *nl = 0;
        in->overrides[in->noverrides++] = line;
        line = nl ? nl + 1 : NULL;
    }
}

/* Parses the YAML and applies the overrides (a failed one is skipped). */
static int load(foil_config *cfg, const input *in) {
    foil_err err = {{0}};
    if (foil_config_parse(cfg, "fuzz.yaml", in->yaml, in->yaml_len, &err) != 0) {
        fuzz_check_err(&err, "foil_config_parse");
        return -1;
    }
    for (int i = 0; i < in->noverrides; i++) {
        err.msg[0] = 0;
        if (foil_config_override(cfg, in->overrides[i], &err) != 0)
            fuzz_check_err(&err, "foil_config_override");
    }
    return 0;
}

static int depth(const foil_node *n) {
    int d = 0;
    for (const foil_node *c = n->child; c; c = c->next) {
        int cd = 1 + depth(c);
        if (cd > d) d = cd;
    }
    return d;
}

/* Emits cfg, parses the text into *again (which the caller frees) and checks
 * that it emits the same text. Returns the first emission (malloc'd). */
static char *emit_reparse(const foil_config *cfg, foil_config *again) {
    char *text = foil_config_emit_string(cfg->root);
    FUZZ_CHECK(text, "foil_config_emit_string returned NULL");
    foil_err err = {{0}};
    int rc = foil_config_parse(again, "emitted.yaml", text, strlen(text), &err);
    FUZZ_CHECK(rc == 0, "emitted config does not parse: %s\n--- emitted:\n%s", err.msg, text);
    char *text2 = foil_config_emit_string(again->root);
    FUZZ_CHECK(text2 && strcmp(text, text2) == 0,
               "emitting the reparsed config differs\n--- first:\n%s--- second:\n%s", text,
               text2 ? text2 : "(null)");
    free(text2);
    return text;
}

/* Walks the tree and calls every getter on every entry (errors are fine;
 * their messages are checked). Marks everything used. */
static void exercise_getters(const foil_config *cfg, foil_node *map) {
    foil_err err = {{0}};
    char path[256];
    for (foil_node *c = map->child; c; c = c->next) {
        foil_node_path(c, path, sizeof path);
        for (const char *p = path; *p; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "node path has a control char");
        if (c->kind == FOIL_NODE_SCALAR) {
            long l;
            double d;
            err.msg[0] = 0;
            if (foil_node_as_int(cfg, c, -1000, 1000, &l, &err)) fuzz_check_err(&err, "as_int");
            err.msg[0] = 0;
            if (foil_node_as_float(cfg, c, -1.0, 1.0, &d, &err)) fuzz_check_err(&err, "as_float");
        }
        if (map->kind == FOIL_NODE_MAP) {
            static const char *const CHOICES[] = {"a", "b", NULL};
            const char *s;
            long l;
            double d;
            int b;
            err.msg[0] = 0;
            if (foil_cfg_int(cfg, map, c->key, 0, 0, 10, &l, &err)) fuzz_check_err(&err, "int");
            err.msg[0] = 0;
            if (foil_cfg_float(cfg, map, c->key, 0, 0, 1, &d, &err)) fuzz_check_err(&err, "float");
            err.msg[0] = 0;
            if (foil_cfg_bool(cfg, map, c->key, 0, &b, &err)) fuzz_check_err(&err, "bool");
            err.msg[0] = 0;
            if (foil_cfg_string(cfg, map, c->key, NULL, &s, &err)) fuzz_check_err(&err, "string");
            err.msg[0] = 0;
            if (foil_cfg_enum(cfg, map, c->key, 0, CHOICES, &b, &err)) fuzz_check_err(&err, "enum");
        }
        if (c->kind != FOIL_NODE_SCALAR) exercise_getters(cfg, c);
    }
}

/* ---- the parsers, behind one signature ------------------------------------------ */

/* 0: accepted, -1: refused (err says why), 1: skipped (it would open files) */
typedef int (*parse_fn)(foil_config *cfg, foil_err *err);

/* foil_recipe_parse loads the model file a scalar `model:` names; the fuzzer
 * must not open files, so only inline (map) models are tried. */
static int recipe(foil_config *cfg, foil_err *err) {
    foil_recipe r;
    for (const foil_node *c = cfg->root->child; c; c = c->next)
        if (strcmp(c->key, "model") == 0 && c->kind != FOIL_NODE_MAP) return 1;
    return foil_recipe_parse(&r, cfg, err);
}

static int sweep(foil_config *cfg, foil_err *err) {
    foil_sweep sw;
    return foil_sweep_parse(&sw, cfg, err);
}

/* A baseline that is not a keyword is opened as a file: skipped, as above. */
static int explain(foil_config *cfg, foil_err *err) {
    foil_explain_config c;
    for (const foil_node *s = cfg->root->child; s; s = s->next) {
        if (strcmp(s->key, "explain") != 0 || s->kind != FOIL_NODE_MAP) continue;
        for (const foil_node *b = s->child; b; b = b->next) {
            foil_baseline_kind k;
            if (strcmp(b->key, "baseline") == 0 &&
                (b->kind != FOIL_NODE_SCALAR || foil_baseline_parse(b->value, &k) != 0))
                return 1;
        }
    }
    int rc = foil_explain_config_parse(&c, cfg, err);
    foil_explain_config_free(&c);
    return rc;
}

static int model_file(foil_config *cfg, foil_err *err) {
    foil_model_def def;
    if (foil_model_def_parse(&def, cfg, cfg->root, err)) return -1;
    return foil_config_check_used(cfg, cfg->root, err);
}

/* Runs one parser; if it accepts the config, its resolved text must be
 * accepted again and resolve to the same text. */
static void check_parser(const input *in, parse_fn parse, const char *name) {
    foil_config cfg;
    if (load(&cfg, in) != 0) return;
    foil_err err = {{0}};
    int rc = parse(&cfg, &err);
    if (rc < 0) fuzz_check_err(&err, name);
    if (rc == 0 && depth(cfg.root) <= MAX_DEPTH) {
        foil_config again;
        char *text = emit_reparse(&cfg, &again);
        err.msg[0] = 0;
        rc = parse(&again, &err);
        FUZZ_CHECK(rc == 0, "%s accepts the config but not its resolved text: %s\n---\n%s", name,
                   err.msg, text);
        char *text2 = foil_config_emit_string(again.root);
        FUZZ_CHECK(text2 && strcmp(text, text2) == 0, "%s: resolving twice differs", name);
        free(text2);
        free(text);
        foil_config_free(&again);
    }
    foil_config_free(&cfg);
}

/* Whether two definitions describe the same network: fields a layer kind
 * does not use (a flatten's pool size) may differ. */
static int same_model(const foil_model_def *a, const foil_model_def *b) {
    if (strcmp(a->name, b->name) != 0 || a->in_c != b->in_c || a->in_h != b->in_h ||
        a->in_w != b->in_w || a->classes != b->classes || a->nlayers != b->nlayers)
        return 0;
    for (int i = 0; i < a->nlayers; i++) {
        const foil_layer_def *x = &a->layers[i], *y = &b->layers[i];
        int same = x->kind == y->kind;
        if (same && x->kind == FOIL_LAYER_CONV2D)
            same = x->filters == y->filters && x->kernel_h == y->kernel_h &&
                   x->kernel_w == y->kernel_w && x->stride_h == y->stride_h &&
                   x->stride_w == y->stride_w && x->pad_mode == y->pad_mode &&
                   (x->pad_mode != FOIL_PAD_EXPLICIT ||
                    (x->pad_h == y->pad_h && x->pad_w == y->pad_w));
        if (same && x->kind == FOIL_LAYER_MAXPOOL)
            same = x->pool == y->pool && x->pool_stride == y->pool_stride;
        if (same && x->kind == FOIL_LAYER_DENSE) same = x->units == y->units;
        if (same && x->kind == FOIL_LAYER_DROPOUT) same = x->rate == y->rate;
        if (!same) return 0;
    }
    return 1;
}

/* A model definition (the file itself, or a recipe's inline `model:` map) that
 * builds must come back unchanged from foil_model_def_to_yaml. */
static void check_model_def(const input *in, int inline_model) {
    foil_config cfg;
    if (load(&cfg, in) != 0) return;
    foil_node *map = cfg.root;
    if (inline_model) {
        map = NULL;
        for (foil_node *c = cfg.root->child; c; c = c->next)
            if (strcmp(c->key, "model") == 0 && c->kind == FOIL_NODE_MAP) map = c;
    }
    foil_err err = {{0}};
    foil_model_def def;
    foil_model *m = malloc(sizeof *m);
    FUZZ_CHECK(m, "harness: out of memory");
    if (map && foil_model_def_parse(&def, &cfg, map, &err) != 0) {
        fuzz_check_err(&err, "foil_model_def_parse");
    } else if (map && foil_model_build(m, &def, &err) != 0) {
        fuzz_check_err(&err, "foil_model_build");
    } else if (map) {
        char *yaml = foil_model_def_to_yaml(&def);
        FUZZ_CHECK(yaml, "foil_model_def_to_yaml returned NULL");
        foil_config back;
        foil_model_def def2;
        int rc = foil_config_parse(&back, "checkpoint", yaml, strlen(yaml), &err);
        FUZZ_CHECK(rc == 0, "model YAML does not parse: %s\n---\n%s", err.msg, yaml);
        rc = foil_model_def_parse(&def2, &back, back.root, &err);
        if (rc == 0) rc = foil_config_check_used(&back, back.root, &err);
        FUZZ_CHECK(rc == 0, "model YAML does not load: %s\n---\n%s", err.msg, yaml);
        FUZZ_CHECK(same_model(&def, &def2), "model changed in a round trip\n%s", yaml);
        foil_config_free(&back);
        free(yaml);
    }
    free(m);
    foil_config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *ovr_buf = malloc(size + 1);
    FUZZ_CHECK(ovr_buf, "harness: out of memory");
    input in;
    split_input(&in, data, size, ovr_buf);

    foil_config cfg;
    if (load(&cfg, &in) == 0) {
        if (depth(cfg.root) <= MAX_DEPTH) {
            foil_config again;
            free(emit_reparse(&cfg, &again));
            foil_config_free(&again);
        }
        exercise_getters(&cfg, cfg.root);
        foil_err err = {{0}};
        if (foil_config_check_used(&cfg, cfg.root, &err) != 0)
            fuzz_check_err(&err, "foil_config_check_used");
        foil_config_free(&cfg);

        check_parser(&in, recipe, "foil_recipe_parse");
        check_parser(&in, sweep, "foil_sweep_parse");
        check_parser(&in, explain, "foil_explain_config_parse");
        check_parser(&in, model_file, "foil_model_def_parse");
        check_model_def(&in, 0);
        check_model_def(&in, 1);
    }
    free(ovr_buf);
    return 0;
}
