/* Explain configs: config tree -> foil_explain_config. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "foil/explain.h"

/* Sections read by other commands; `foil explain` leaves them alone. */
static const char *const OTHER_SECTIONS[] = {"train", "attack", "report", "sweep", NULL};

/* A map under `parent` (created with `key=value` when absent, so that the
 * resolved config shows the defaults). */
static int section(foil_config *cfg, foil_node *parent, const char *path, const char *key,
                   const char *first, foil_node **out, foil_err *err) {
    foil_node *n = foil_node_get(parent, key);
    *out = NULL;
    if (!n) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s.%s", path, first);
        if (foil_config_override(cfg, buf, err)) return -1;
        n = foil_node_get(parent, key);
    }
    if (!n || n->kind != FOIL_NODE_MAP) return foil_cfg_fail(cfg, n, err, "expected a map");
    *out = n;
    return 0;
}

static int parse_header(foil_explain_config *c, foil_config *cfg, foil_err *err) {
    const char *s;
    long v;
    foil_node *d;
    if (foil_cfg_string(cfg, cfg->root, "name", "explain", &s, err)) return -1;
    snprintf(c->name, sizeof c->name, "%s", s);
    if (foil_cfg_int(cfg, cfg->root, "seed", 0, 0, 0x7FFFFFFFFFFFFFFFL, &v, err)) return -1;
    c->spec.seed = (uint64_t)v;
    if (foil_cfg_device(cfg, c->device, sizeof c->device, &c->tf32, err)) return -1;
    if (foil_cfg_path(cfg, cfg->root, "model", "", c->model_path, err)) return -1;
    if (section(cfg, cfg->root, "data", "data", "dir=data/raw/mnist", &d, err)) return -1;
    if (foil_cfg_path(cfg, d, "dir", "data/raw/mnist", c->data_dir, err)) return -1;
    if (foil_cfg_int(cfg, d, "test_limit", 0, 0, 1L << 30, &v, err)) return -1;
    c->test_limit = (int)v;
    foil_node *tl = foil_node_get(d, "train_limit"); /* a recipe key; not ours */
    if (tl) tl->used = 1;
    return 0;
}

/* target: label | predicted | a class number */
static int parse_target(foil_explain_config *c, foil_config *cfg, foil_node *e, foil_err *err) {
    const char *s;
    if (foil_cfg_string(cfg, e, "target", "label", &s, err)) return -1;
    if (strcmp(s, "label") == 0) c->target = FOIL_CLASS_LABEL;
    else if (strcmp(s, "predicted") == 0) c->target = FOIL_CLASS_PREDICTED;
    else {
        long k;
        foil_node *t = foil_node_get(e, "target");
        if (foil_node_as_int(cfg, t, 0, 65535, &k, err))
            return foil_cfg_fail(cfg, t, err, "unknown target '%s' (choose one of: label, "
                                 "predicted, or a class number)", s);
        c->target = FOIL_CLASS_GIVEN;
        c->target_class = (int)k;
    }
    return 0;
}

/* A number in [0, 1] (unquoted): the constant baseline's value. */
static int baseline_number(const foil_node *n, double *v) {
    char *end;
    if (!n || n->kind != FOIL_NODE_SCALAR || n->quoted || !n->value[0]) return 0;
    *v = strtod(n->value, &end);
    return *end == 0;
}

/* baseline: black | white | uniform | blur | mean | a number in [0, 1] (every
 * pixel that value, as lime's hide_color) | a file name (lime: mean, as the
 * lime package; else black) */
static int parse_baseline(foil_explain_config *c, foil_config *cfg, foil_node *e, foil_err *err) {
    const char *s;
    double sigma, value;
    const char *dflt = c->spec.method == FOIL_EXPLAIN_LIME ? "mean" : "black";
    foil_node *given = foil_node_get(e, "baseline");
    if (baseline_number(given, &value)) {
        if (!(value >= 0.0 && value <= 1.0))
            return foil_cfg_fail(cfg, given, err, "a constant baseline is a pixel value in "
                                 "[0, 1], not %s", given->value);
        c->spec.baseline = FOIL_BASELINE_CONSTANT;
        c->spec.baseline_value = (float)value;
    } else if (foil_cfg_string(cfg, e, "baseline", dflt, &s, err)) {
        return -1;
    } else if (foil_baseline_parse(s, &c->spec.baseline) != 0) {
        struct stat sb;
        if (stat(s, &sb) != 0)
            return foil_cfg_fail(cfg, foil_node_get(e, "baseline"), err,
                                 "unknown baseline '%s' (choose one of: black, white, uniform, "
                                 "blur, mean, a pixel value in [0, 1], or an image file)", s);
        if (!S_ISREG(sb.st_mode))
            return foil_cfg_fail(cfg, foil_node_get(e, "baseline"), err,
                                 "'%s' is not a regular file", s);
        c->spec.baseline = FOIL_BASELINE_IMAGE;
        if (foil_cfg_path(cfg, e, "baseline", NULL, c->baseline_path, err)) return -1;
    }
    if (foil_cfg_float(cfg, e, "blur_sigma", 3.0, 0.0, 1000.0, &sigma, err)) return -1;
    c->spec.blur_sigma = (float)sigma;
    return 0;
}

/* images: N (the first N; 0: all) or a list of test set indices */
static int parse_images(foil_explain_config *c, foil_config *cfg, foil_node *e, foil_err *err) {
    foil_node *n = foil_node_get(e, "images");
    long v;
    if (!n || n->kind == FOIL_NODE_SCALAR) {
        if (foil_cfg_int(cfg, e, "images", 16, 0, 1L << 30, &v, err)) return -1;
        c->image_count = (int)v;
        return 0;
    }
    if (n->kind != FOIL_NODE_SEQ || foil_node_count(n) == 0)
        return foil_cfg_fail(cfg, n, err, "expected a count or a non-empty list of test indices");
    c->nlist = 0;
    if (!(c->image_list = malloc(sizeof(int) * (size_t)foil_node_count(n))))
        return foil_fail(err, "out of memory");
    for (foil_node *it = n->child; it; it = it->next) {
        it->used = 1;
        if (foil_node_as_int(cfg, it, 0, (1L << 31) - 1, &v, err)) return -1;
        c->image_list[c->nlist++] = (int)v;
    }
    return 0;
}

static int parse_smoothgrad(foil_explain_config *c, foil_config *cfg, foil_node *e,
                            foil_err *err) {
    foil_node *sg;
    long v;
    double d;
    const int dflt = foil_explain_method_info_of(c->spec.method)->smoothing ? 16 : 0;
    char first[64];
    snprintf(first, sizeof first, "samples=%d", dflt);
    if (section(cfg, e, "explain.smoothgrad", "smoothgrad", first, &sg, err)) return -1;
    if (foil_cfg_int(cfg, sg, "samples", dflt, 0, 1 << 20, &v, err)) return -1;
    c->spec.smooth_samples = (int)v;
    if (foil_cfg_float(cfg, sg, "sigma", 0.15, 0.0, 100.0, &d, err)) return -1;
    c->spec.smooth_sigma = (float)d;
    return 0;
}

/* features: {kind: grid | slic | quickshift, size, regularization, min_size,
 * kernel_size, max_dist, ratio}, and samples / kernel_width: the feature
 * methods' keys (left alone for the gradient methods, so that one config
 * may switch between them with --method) */
static int parse_features(foil_explain_config *c, foil_config *cfg, foil_node *e,
                          foil_err *err) {
    static const char *const KINDS[] = {"grid", "slic", "quickshift", NULL};
    foil_explain_spec *s = &c->spec;
    const foil_explain_method_info *info = foil_explain_method_info_of(s->method);
    foil_node *f;
    long v, v2;
    double d;
    int k;
    if (s->method == FOIL_EXPLAIN_OCCLUSION) {
        if (foil_cfg_int(cfg, e, "window", 4, 1, 1 << 16, &v, err)) return -1;
        s->window = (int)v;
        if (foil_cfg_int(cfg, e, "stride", 2, 1, 1 << 16, &v, err)) return -1;
        s->stride = (int)v;
    } else {
        static const char *const KEYS[] = {"window", "stride", NULL};
        foil_config_skip_sections(e, KEYS);
    }
    if (info->sampled) {
        if (foil_cfg_int(cfg, e, "samples", info->default_samples, 1, 1 << 20, &v, err) ||
            foil_cfg_int(cfg, e, "background", 100, 1, 1 << 20, &v2, err))
            return -1;
        s->samples = (int)v, c->background = (int)v2;
        static const char *const KEYS[] = {"features", "kernel_width", NULL};
        foil_config_skip_sections(e, KEYS);
        return 0;
    } else {
        static const char *const KEYS[] = {"background", NULL};
        foil_config_skip_sections(e, KEYS);
    }
    if (!info->features) {
        static const char *const KEYS[] = {"features", "samples", "kernel_width", NULL};
        foil_config_skip_sections(e, KEYS);
        return 0;
    }
    if (section(cfg, e, "explain.features", "features", "kind=grid", &f, err)) return -1;
    if (foil_cfg_enum(cfg, f, "kind", FOIL_FEATURES_GRID, KINDS, &k, err)) return -1;
    s->features = foil_features_default((foil_features_kind)k);
    if (foil_cfg_int(cfg, f, "size", 4, 1, 1 << 16, &v, err)) return -1;
    s->features.size = (int)v;
    if (k == FOIL_FEATURES_SLIC) {
        if (foil_cfg_float(cfg, f, "regularization", 0.1, 0.0, 1e9, &d, err)) return -1;
        s->features.regularization = (float)d;
        if (foil_cfg_int(cfg, f, "min_size", 4, 0, 1 << 20, &v, err)) return -1;
        s->features.min_size = (int)v;
    }
    if (k == FOIL_FEATURES_QUICKSHIFT) {
        if (foil_cfg_float(cfg, f, "kernel_size", 4.0, 1e-3, 1e4, &d, err)) return -1;
        s->features.kernel_size = (float)d;
        if (foil_cfg_float(cfg, f, "max_dist", 200.0, 1e-3, 1e9, &d, err)) return -1;
        s->features.max_dist = (float)d;
        if (foil_cfg_float(cfg, f, "ratio", 0.2, 0.0, 1e6, &d, err)) return -1;
        s->features.ratio = (float)d;
    }
    if (foil_cfg_int(cfg, e, "samples", info->default_samples, 0, 1 << 24, &v, err)) return -1;
    s->samples = (int)v;
    if (s->method == FOIL_EXPLAIN_LIME && s->samples < 2)
        return foil_cfg_fail(cfg, foil_node_get(e, "samples"), err,
                             "LIME needs at least 2 samples, got %d", s->samples);
    if (foil_cfg_float(cfg, e, "kernel_width", 0.25, 1e-6, 1e6, &d, err)) return -1;
    s->kernel_width = (float)d;
    return 0;
}

static int parse_explain(foil_explain_config *c, foil_config *cfg, foil_err *err) {
    static const char *const RULES[] = {"left", "right", "midpoint", "trapezoid",
                                        "gauss-legendre", NULL};
    static const char *const OUTPUTS[] = {"logit", "prob", NULL};
    foil_explain_spec *s = &c->spec;
    foil_node *e;
    long v;
    int k;
    const char *methods[FOIL_EXPLAIN_METHOD_COUNT + 1] = {NULL};
    for (int i = 0; i < FOIL_EXPLAIN_METHOD_COUNT; i++)
        methods[i] = foil_explain_method_name((foil_explain_method)i);
    if (section(cfg, cfg->root, "explain", "explain", "method=ig", &e, err)) return -1;
    if (foil_cfg_enum(cfg, e, "method", FOIL_EXPLAIN_IG, methods, &k, err)) return -1;
    s->method = (foil_explain_method)k;
    if (foil_cfg_enum(cfg, e, "output", 0, OUTPUTS, &k, err)) return -1;
    s->output = k ? FOIL_TARGET_PROB : FOIL_TARGET_LOGIT;
    if (parse_target(c, cfg, e, err)) return -1;
    if (foil_cfg_int(cfg, e, "steps", 64, 1, FOIL_EXPLAIN_MAX_STEPS, &v, err)) return -1;
    s->steps = (int)v;
    if (foil_cfg_enum(cfg, e, "rule", FOIL_RULE_GAUSS_LEGENDRE, RULES, &k, err)) return -1;
    s->rule = (foil_quad_rule)k;
    if (parse_baseline(c, cfg, e, err)) return -1;
    if (foil_cfg_float(cfg, e, "tolerance", 0.0, 0.0, 1e6, &s->tolerance, err)) return -1;
    if (foil_cfg_int(cfg, e, "max_steps", 1024, 1, FOIL_EXPLAIN_MAX_STEPS, &v, err)) return -1;
    s->max_steps = (int)v;
    if (foil_cfg_int(cfg, e, "chunk", 32, 0, 1 << 20, &v, err)) return -1;
    s->chunk = (int)v;
    if (parse_smoothgrad(c, cfg, e, err) || parse_features(c, cfg, e, err) ||
        parse_images(c, cfg, e, err))
        return -1;
    if (foil_explain_method_info_of(s->method)->perturb && s->smooth_samples > 0)
        return foil_cfg_fail(cfg, foil_node_get(e, "smoothgrad"), err,
                             "the %s method takes no SmoothGrad samples",
                             foil_explain_method_name(s->method));
    if (s->baseline == FOIL_BASELINE_MEAN && !foil_explain_method_info_of(s->method)->features)
        return foil_cfg_fail(cfg, foil_node_get(e, "baseline"), err,
                             "mean (each segment's mean) is for lime, kernelshap and ablation");
    if (s->method == FOIL_EXPLAIN_OCCLUSION && s->stride > s->window)
        return foil_cfg_fail(cfg, foil_node_get(e, "stride"), err,
                             "%d is larger than the window (%d)", s->stride, s->window);
    if (foil_cfg_int(cfg, e, "batch", 8, 1, 4096, &v, err)) return -1;
    c->batch = (int)v;
    if (foil_cfg_bool(cfg, e, "heatmaps", 1, &c->heatmaps, err)) return -1;
    if (foil_node_get(e, "faithfulness") || foil_explain_method_info_of(s->method)->perturb)
        if (foil_cfg_bool(cfg, e, "faithfulness", 0, &c->faithfulness, err)) return -1;
    if (foil_cfg_int(cfg, e, "scale", 4, 1, 32, &v, err)) return -1;
    c->scale = (int)v;
    if (s->rule == FOIL_RULE_TRAPEZOID && s->steps < 2 &&
        foil_explain_method_info_of(s->method)->path)
        return foil_cfg_fail(cfg, foil_node_get(e, "steps"), err,
                             "the trapezoid rule needs at least 2 steps");
    if (s->tolerance > 0.0 && s->max_steps < s->steps)
        return foil_cfg_fail(cfg, foil_node_get(e, "max_steps"), err,
                             "%d is below steps (%d)", s->max_steps, s->steps);
    return 0;
}

int foil_explain_config_parse(foil_explain_config *c, foil_config *cfg, foil_err *err) {
    memset(c, 0, sizeof *c);
    if (parse_header(c, cfg, err) || parse_explain(c, cfg, err)) return -1;
    foil_config_skip_sections(cfg->root, OTHER_SECTIONS);
    return foil_config_check_used(cfg, cfg->root, err);
}

void foil_explain_config_free(foil_explain_config *c) {
    free(c->image_list);
    c->image_list = NULL;
    c->nlist = 0;
}
