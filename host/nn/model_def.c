/* Model definitions: YAML <-> foil_model_def. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/model.h"
#include "foil/model_def.h"
#include "foil/strbuf.h"

static const char *const LAYER_NAMES[] = {"conv2d", "maxpool", "relu", "flatten", "dense",
                                          "dropout", "add", NULL};

/* A size given as one integer or [h, w]. */
static int parse_pair(const foil_config *cfg, foil_node *map, const char *key, int dflt,
                      int min, int *h, int *w, foil_err *err) {
    foil_node *n = foil_node_get(map, key);
    if (!n || n->kind == FOIL_NODE_SCALAR) {
        long v;
        if (foil_cfg_int(cfg, map, key, dflt, min, 4096, &v, err)) return -1;
        *h = *w = (int)v;
        return 0;
    }
    if (n->kind != FOIL_NODE_SEQ || foil_node_count(n) != 2)
        return foil_cfg_fail(cfg, n, err, "expected an integer or a list [height, width]");
    long a, b;
    if (foil_node_as_int(cfg, n->child, min, 4096, &a, err) ||
        foil_node_as_int(cfg, n->child->next, min, 4096, &b, err))
        return -1;
    *h = (int)a;
    *w = (int)b;
    return 0;
}

static int parse_padding(const foil_config *cfg, foil_node *args, foil_layer_def *l,
                         foil_err *err) {
    foil_node *p = foil_node_get(args, "padding");
    if (p && p->kind == FOIL_NODE_SCALAR && !p->quoted &&
        (strcmp(p->value, "same") == 0 || strcmp(p->value, "valid") == 0)) {
        l->pad_mode = strcmp(p->value, "same") == 0 ? FOIL_PAD_SAME : FOIL_PAD_VALID;
        return 0;
    }
    if (!p) {
        l->pad_mode = FOIL_PAD_VALID;
        return 0;
    }
    if (p->kind == FOIL_NODE_SCALAR) {
        char *end;
        strtol(p->value, &end, 10);
        if (*p->value == 0 || *end != 0)
            return foil_cfg_fail(cfg, p, err,
                                 "expected same, valid, an integer or [height, width], got '%s'",
                                 p->value);
    }
    l->pad_mode = FOIL_PAD_EXPLICIT;
    return parse_pair(cfg, args, "padding", 0, 0, &l->pad_h, &l->pad_w, err);
}

/* from: the layer's inputs, one index or a list of up to FOIL_MAX_INPUTS
 * (earlier layers, -1 the network input; checked against the graph when
 * the model is built). Without it a layer reads the previous one. */
static int parse_from(const foil_config *cfg, foil_node *args, foil_layer_def *l,
                      foil_err *err) {
    foil_node *f = foil_node_get(args, "from");
    if (!f) return 0;
    if (f->kind == FOIL_NODE_SEQ && foil_node_count(f) >= 1 &&
        foil_node_count(f) <= FOIL_MAX_INPUTS) {
        for (foil_node *c = f->child; c; c = c->next) {
            long v;
            if (foil_node_as_int(cfg, c, FOIL_FROM_INPUT, FOIL_MAX_LAYERS - 1, &v, err)) return -1;
            l->from[l->nfrom++] = (int)v;
        }
        return 0;
    }
    long v;
    if (f->kind != FOIL_NODE_SCALAR)
        return foil_cfg_fail(cfg, f, err, "from: a layer index or a list of up to %d",
                             FOIL_MAX_INPUTS);
    if (foil_node_as_int(cfg, f, FOIL_FROM_INPUT, FOIL_MAX_LAYERS - 1, &v, err)) return -1;
    l->from[l->nfrom++] = (int)v;
    return 0;
}

static int parse_layer_args(const foil_config *cfg, foil_node *args, foil_layer_def *l,
                            foil_err *err) {
    long v;
    double d;
    if (parse_from(cfg, args, l, err)) return -1;
    switch (l->kind) {
    case FOIL_LAYER_CONV2D:
        if (!foil_node_get(args, "filters")) return foil_cfg_fail(cfg, args, err, "conv2d needs filters");
        if (foil_cfg_int(cfg, args, "filters", 0, 1, 65536, &v, err)) return -1;
        l->filters = (int)v;
        if (!foil_node_get(args, "kernel")) return foil_cfg_fail(cfg, args, err, "conv2d needs kernel");
        if (parse_pair(cfg, args, "kernel", 3, 1, &l->kernel_h, &l->kernel_w, err)) return -1;
        if (parse_pair(cfg, args, "stride", 1, 1, &l->stride_h, &l->stride_w, err)) return -1;
        return parse_padding(cfg, args, l, err);
    case FOIL_LAYER_MAXPOOL:
        if (foil_cfg_int(cfg, args, "size", 2, 1, 4096, &v, err)) return -1;
        l->pool = (int)v;
        if (foil_cfg_int(cfg, args, "stride", l->pool, 1, 4096, &v, err)) return -1;
        l->pool_stride = (int)v;
        return 0;
    case FOIL_LAYER_DENSE:
        if (!foil_node_get(args, "units")) return foil_cfg_fail(cfg, args, err, "dense needs units");
        if (foil_cfg_int(cfg, args, "units", 0, 1, 1 << 24, &v, err)) return -1;
        l->units = (int)v;
        return 0;
    case FOIL_LAYER_DROPOUT:
        if (foil_cfg_float(cfg, args, "rate", 0.5, 0.0, 0.99, &d, err)) return -1;
        l->rate = (float)d;
        return 0;
    default:
        return 0;
    }
}

/* A layer is a bare name ("relu") or a one-key map ({conv2d: {...}}). */
static int parse_layer(const foil_config *cfg, foil_node *item, foil_layer_def *l,
                       foil_err *err) {
    memset(l, 0, sizeof *l);
    const char *name;
    foil_node *args = NULL;
    if (item->kind == FOIL_NODE_SCALAR) {
        name = item->value;
        item->used = 1;
    } else if (item->kind == FOIL_NODE_MAP && foil_node_count(item) == 1) {
        args = item->child;
        name = args->key;
        args->used = 1;
        item->used = 1;
    } else {
        return foil_cfg_fail(cfg, item, err,
                             "a layer is a name (relu) or a one-key map ({conv2d: {...}})");
    }
    int kind = -1;
    for (int i = 0; LAYER_NAMES[i]; i++)
        if (strcmp(name, LAYER_NAMES[i]) == 0) kind = i;
    if (kind < 0) {
        char known[128] = "";
        for (int i = 0; LAYER_NAMES[i]; i++)
            snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", i ? ", " : "",
                     LAYER_NAMES[i]);
        return foil_cfg_fail(cfg, args ? args : item, err, "unknown layer '%s' (choose one of: %s)",
                             name, known);
    }
    l->kind = (foil_layer_kind)kind;
    if (args && args->kind == FOIL_NODE_SCALAR && args->value[0] == 0) args = NULL;
    if (args && args->kind != FOIL_NODE_MAP)
        return foil_cfg_fail(cfg, args, err, "layer arguments must be a map");
    if (!args) {
        if (kind == FOIL_LAYER_CONV2D || kind == FOIL_LAYER_DENSE || kind == FOIL_LAYER_ADD)
            return foil_cfg_fail(cfg, item, err, "%s needs arguments", name);
        /* defaults for bare maxpool / dropout */
        l->pool = l->pool_stride = 2;
        l->rate = 0.5f;
        return 0;
    }
    return parse_layer_args(cfg, args, l, err);
}

int foil_model_def_parse(foil_model_def *def, const foil_config *cfg, foil_node *map,
                         foil_err *err) {
    memset(def, 0, sizeof *def);
    const char *name;
    if (foil_cfg_string(cfg, map, "name", "model", &name, err)) return -1;
    /* a long name is cut on a UTF-8 character boundary: half a character
     * would make the YAML stored in checkpoints unreadable */
    size_t len = strlen(name);
    if (len >= sizeof def->name) {
        len = sizeof def->name - 1;
        while (len > 0 && ((unsigned char)name[len] & 0xC0) == 0x80) len--;
    }
    memcpy(def->name, name, len);
    def->name[len] = 0;
    long v;
    if (foil_cfg_int(cfg, map, "classes", 10, 2, 1 << 16, &v, err)) return -1;
    def->classes = (int)v;
    foil_node *in = foil_node_get(map, "input");
    if (!in) {
        def->in_c = 1;
        def->in_h = def->in_w = 28;
    } else {
        if (in->kind != FOIL_NODE_SEQ || foil_node_count(in) != 3)
            return foil_cfg_fail(cfg, in, err, "expected [channels, height, width]");
        long c, h, w;
        if (foil_node_as_int(cfg, in->child, 1, 4096, &c, err) ||
            foil_node_as_int(cfg, in->child->next, 1, 65536, &h, err) ||
            foil_node_as_int(cfg, in->child->next->next, 1, 65536, &w, err))
            return -1;
        def->in_c = (int)c;
        def->in_h = (int)h;
        def->in_w = (int)w;
    }
    foil_node *layers;
    if (foil_cfg_require(cfg, map, "layers", &layers, err)) return -1;
    if (layers->kind != FOIL_NODE_SEQ || foil_node_count(layers) == 0)
        return foil_cfg_fail(cfg, layers, err, "expected a non-empty list of layers");
    if (foil_node_count(layers) > FOIL_MAX_LAYERS)
        return foil_cfg_fail(cfg, layers, err, "at most %d layers", FOIL_MAX_LAYERS);
    for (foil_node *it = layers->child; it; it = it->next)
        if (parse_layer(cfg, it, &def->layers[def->nlayers++], err)) return -1;
    return 0;
}

int foil_model_def_load(foil_model_def *def, const char *path, foil_err *err) {
    foil_config cfg;
    if (foil_config_load(&cfg, path, err)) return -1;
    int rc = foil_model_def_parse(def, &cfg, cfg.root, err);
    if (rc == 0) rc = foil_config_check_used(&cfg, cfg.root, err);
    foil_config_free(&cfg);
    return rc;
}

/* "name: ...\n" written by the config emitter (libyaml's), which quotes and
 * escapes what a plain YAML string cannot hold as is (quotes, backslashes,
 * control characters); pasted in raw, such a name made checkpoints that did
 * not load. */
static char *name_line(const foil_model_def *def) {
    char key[] = "name", value[sizeof def->name];
    snprintf(value, sizeof value, "%s", def->name);
    foil_node root = {.kind = FOIL_NODE_MAP};
    foil_node entry = {.kind = FOIL_NODE_SCALAR, .key = key, .value = value, .quoted = 1,
                       .parent = &root};
    root.child = &entry;
    return foil_config_emit_string(&root);
}

char *foil_model_def_to_yaml(const foil_model_def *def) {
    char *name = name_line(def);
    if (!name) return NULL;
    foil_strbuf sb = {0}, *s = &sb;
    foil_sb_put(s, "%sinput: [%d, %d, %d]\nclasses: %d\nlayers:\n", name, def->in_c, def->in_h,
                def->in_w, def->classes);
    free(name);
    for (int i = 0; i < def->nlayers; i++) {
        const foil_layer_def *l = &def->layers[i];
        char from[64] = "";
        if (l->nfrom == 1) snprintf(from, sizeof from, "from: %d", l->from[0]);
        if (l->nfrom == 2) snprintf(from, sizeof from, "from: [%d, %d]", l->from[0], l->from[1]);
        const char *sep = from[0] ? ", " : "";
        switch (l->kind) {
        case FOIL_LAYER_CONV2D:
            foil_sb_put(s, "  - conv2d: {filters: %d, kernel: [%d, %d], stride: [%d, %d], padding: ",
                        l->filters, l->kernel_h, l->kernel_w, l->stride_h, l->stride_w);
            if (l->pad_mode == FOIL_PAD_EXPLICIT)
                foil_sb_put(s, "[%d, %d]%s%s}\n", l->pad_h, l->pad_w, sep, from);
            else
                foil_sb_put(s, "%s%s%s}\n", l->pad_mode == FOIL_PAD_SAME ? "same" : "valid", sep,
                            from);
            break;
        case FOIL_LAYER_MAXPOOL:
            foil_sb_put(s, "  - maxpool: {size: %d, stride: %d%s%s}\n", l->pool, l->pool_stride, sep,
                        from);
            break;
        case FOIL_LAYER_DENSE:
            foil_sb_put(s, "  - dense: {units: %d%s%s}\n", l->units, sep, from);
            break;
        case FOIL_LAYER_DROPOUT:
            foil_sb_put(s, "  - dropout: {rate: %.9g%s%s}\n", (double)l->rate, sep, from);
            break;
        default:
            if (from[0]) foil_sb_put(s, "  - %s: {%s}\n", LAYER_NAMES[l->kind], from);
            else foil_sb_put(s, "  - %s\n", LAYER_NAMES[l->kind]);
        }
    }
    return foil_sb_take(s);
}
