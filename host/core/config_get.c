/* Typed getters on the config tree, node paths for messages, and the check
 * that every key in a config was read (so typos are errors, not silence). */
#include "foil/config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"
#include "foil/fileio.h"

/* ---- navigation and paths ------------------------------------------------------ */

foil_node *foil_node_get(foil_node *map, const char *key) {
    if (!map || map->kind != FOIL_NODE_MAP) return NULL;
    for (foil_node *c = map->child; c; c = c->next) {
        if (strcmp(c->key, key) == 0) {
            c->used = 1;
            return c;
        }
    }
    return NULL;
}

int foil_node_count(const foil_node *node) {
    int n = 0;
    for (const foil_node *c = node ? node->child : NULL; c; c = c->next) n++;
    return n;
}

/* Appends s, truncating at cap; control characters become '?' so that a key
 * holding a newline cannot break a one-line message. */
static void put(char *out, size_t cap, size_t *len, const char *s) {
    for (; *s && *len + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        out[(*len)++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[*len] = 0;
}

static void path_put(const foil_node *n, char *out, size_t cap, size_t *len) {
    if (!n || !n->parent) return; /* the root has no name */
    path_put(n->parent, out, cap, len);
    if (n->parent->kind == FOIL_NODE_SEQ) {
        int i = 0;
        for (const foil_node *c = n->parent->child; c && c != n; c = c->next) i++;
        char idx[24];
        snprintf(idx, sizeof idx, "[%d]", i);
        put(out, cap, len, idx);
    } else {
        if (*len) put(out, cap, len, ".");
        put(out, cap, len, n->key ? n->key : "?");
    }
}

void foil_node_path(const foil_node *node, char *out, size_t cap) {
    if (!cap) return;
    size_t len = 0;
    out[0] = 0;
    path_put(node, out, cap, &len);
}

/* ---- messages ------------------------------------------------------------------ */

static const char *file_of(const foil_config *cfg) {
    return cfg && cfg->path ? cfg->path : "<config>";
}

int foil_cfg_fail(const foil_config *cfg, const foil_node *node, foil_err *err,
                  const char *fmt, ...) {
    /* what may hold a value of any length (a path, a label): formatted
     * whole, so that eliding the message keeps its end */
    char path[200];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *what = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!what) return foil_fail(err, "%s: out of memory", file_of(cfg));
    va_start(ap, fmt);
    vsnprintf(what, (size_t)n + 1, fmt, ap);
    va_end(ap);
    foil_node_path(node, path, sizeof path);
    if (!path[0]) /* the top level (or no node): the file is the place */
        foil_fail(err, "%s: %s", file_of(cfg), what);
    else if (node->line == 0) /* made by an override: there is no line to show */
        foil_fail(err, "%s: override %s: %s", file_of(cfg), path, what);
    else
        foil_fail(err, "%s:%d: %s: %s", file_of(cfg), node->line, path, what);
    free(what);
    foil_cfg_one_line(err);
    return -1;
}

/* A value shortened for a message, cut on a UTF-8 character boundary. */
static const char *clip(const char *s, char *buf, size_t cap) {
    size_t n = strlen(s);
    if (n < cap) return s;
    n = cap - 4;
    while (n && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    memcpy(buf, s, n);
    memcpy(buf + n, "...", 4);
    return buf;
}

/* What a node is, for "expected X, got <this>". */
static const char *describe(const foil_node *n, char *buf, size_t cap) {
    if (n->kind == FOIL_NODE_MAP) return "a mapping";
    if (n->kind == FOIL_NODE_SEQ) return "a sequence";
    if (!n->value[0]) return n->quoted ? "an empty string" : "an empty value";
    char v[64];
    snprintf(buf, cap, n->quoted ? "the quoted string '%s'" : "'%s'", clip(n->value, v, sizeof v));
    return buf;
}

/* The text of a scalar node, or NULL after a type error. Quoted scalars are
 * strings: `seed: "42"` is not a number. */
static const char *scalar_text(const foil_config *cfg, const foil_node *n, const char *what,
                               int allow_quoted, foil_err *err) {
    if (n->kind == FOIL_NODE_SCALAR && (allow_quoted || !n->quoted)) return n->value;
    char buf[100];
    foil_cfg_fail(cfg, n, err, "expected %s, got %s", what, describe(n, buf, sizeof buf));
    return NULL;
}

/* ---- scalar conversions ---------------------------------------------------------- */

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* 0 ok, -1 not an integer, 1 does not fit in a long. */
static int parse_long(const char *s, long *v) {
    if (!is_digit(s[0]) && !((s[0] == '-' || s[0] == '+') && is_digit(s[1]))) return -1;
    char *end;
    errno = 0;
    *v = strtol(s, &end, 10);
    if (*end) return -1;
    return errno == ERANGE ? 1 : 0;
}

/* 0 ok, -1 not a number, 1 too large for a double. Only decimal notation:
 * strtod alone would also take "nan", "inf" and hex floats. */
static int parse_double(const char *s, double *v) {
    if (!*s || s[strspn(s, "0123456789+-.eE")] || !strpbrk(s, "0123456789")) return -1;
    char *end;
    *v = strtod(s, &end);
    if (end == s || *end) return -1;
    return isfinite(*v) ? 0 : 1;
}

/* The shortest text that reads back as exactly v: 0.001, not
 * 0.0010000000000000000208. */
static void fmt_double(double v, char *buf, size_t cap) {
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, cap, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* 1 true, 0 false, -1 neither. */
static int parse_bool(const char *s) {
    static const char *const words[] = {"false", "true", "no", "yes", "off", "on"};
    for (int i = 0; i < 6; i++)
        if (strcasecmp(s, words[i]) == 0) return i % 2;
    return -1;
}

int foil_node_as_int(const foil_config *cfg, const foil_node *node, long min, long max,
                     long *out, foil_err *err) {
    /* reading a node is what marks it used; the tree itself is never const */
    ((foil_node *)node)->used = 1;
    const char *s = scalar_text(cfg, node, "an integer", 0, err);
    if (!s) return -1;
    long v;
    int r = parse_long(s, &v);
    char buf[100], c[64];
    if (r < 0) return foil_cfg_fail(cfg, node, err, "expected an integer, got %s",
                                    describe(node, buf, sizeof buf));
    if (r > 0 || v < min || v > max)
        return foil_cfg_fail(cfg, node, err, "%s is out of range [%ld, %ld]",
                             clip(s, c, sizeof c), min, max);
    *out = v;
    return 0;
}

int foil_node_as_float(const foil_config *cfg, const foil_node *node, double min, double max,
                       double *out, foil_err *err) {
    ((foil_node *)node)->used = 1; /* see foil_node_as_int */
    const char *s = scalar_text(cfg, node, "a number", 0, err);
    if (!s) return -1;
    double v;
    int r = parse_double(s, &v);
    char buf[100], c[64], lo[32], hi[32];
    if (r < 0) return foil_cfg_fail(cfg, node, err, "expected a number, got %s",
                                    describe(node, buf, sizeof buf));
    if (r > 0 || v < min || v > max) {
        fmt_double(min, lo, sizeof lo);
        fmt_double(max, hi, sizeof hi);
        return foil_cfg_fail(cfg, node, err, "%s is out of range [%s, %s]",
                             clip(s, c, sizeof c), lo, hi);
    }
    *out = v;
    return 0;
}

/* ---- getters on map entries ---------------------------------------------------- */

/* *node = the entry (marked used), or NULL when absent or map is NULL. */
static int lookup(const foil_config *cfg, foil_node *map, const char *key, foil_node **node,
                  foil_err *err) {
    *node = NULL;
    if (!map) return 0;
    if (map->kind != FOIL_NODE_MAP) {
        char buf[100];
        return foil_cfg_fail(cfg, map, err, "expected a mapping, got %s",
                             describe(map, buf, sizeof buf));
    }
    *node = foil_node_get(map, key);
    return 0;
}

/* Would a plain scalar with this text read as something other than a string
 * (null, bool, number)? Such string defaults are stored quoted. */
static int looks_typed(const char *s) {
    static const char *const words[] = {"~", "null", "y", "n", "true", "false",
                                        "yes", "no", "on", "off"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasecmp(s, words[i]) == 0) return 1;
    if (is_digit(s[0])) return 1;
    return strchr("+-.", s[0]) && s[0] && (is_digit(s[1]) || strchr(".iInN", s[1]));
}

/* Records a default in the tree (line 0, used) so that emitting the tree gives
 * the resolved config. */
static int add_default(const foil_config *cfg, foil_node *map, const char *key,
                       const char *text, int is_string, foil_err *err) {
    if (!map) return 0;
    foil_node *n = foil_cfg_node_new(FOIL_NODE_SCALAR, key, text, strlen(text));
    if (!n) return foil_cfg_fail(cfg, map, err, "out of memory");
    n->used = 1;
    n->quoted = is_string && (!foil_cfg_plain_ok(text, 0) || looks_typed(text));
    foil_cfg_node_append(map, n);
    return 0;
}

int foil_cfg_int(const foil_config *cfg, foil_node *map, const char *key, long dflt, long min,
                 long max, long *out, foil_err *err) {
    foil_node *n;
    if (lookup(cfg, map, key, &n, err)) return -1;
    if (n) return foil_node_as_int(cfg, n, min, max, out, err);
    char text[32];
    snprintf(text, sizeof text, "%ld", dflt);
    *out = dflt;
    return add_default(cfg, map, key, text, 0, err);
}

int foil_cfg_float(const foil_config *cfg, foil_node *map, const char *key, double dflt,
                   double min, double max, double *out, foil_err *err) {
    foil_node *n;
    if (lookup(cfg, map, key, &n, err)) return -1;
    if (n) return foil_node_as_float(cfg, n, min, max, out, err);
    char text[32];
    fmt_double(dflt, text, sizeof text);
    *out = dflt;
    return add_default(cfg, map, key, text, 0, err);
}

int foil_cfg_bool(const foil_config *cfg, foil_node *map, const char *key, int dflt, int *out,
                  foil_err *err) {
    foil_node *n;
    if (lookup(cfg, map, key, &n, err)) return -1;
    if (!n) {
        *out = dflt != 0;
        return add_default(cfg, map, key, dflt ? "true" : "false", 0, err);
    }
    const char *s = scalar_text(cfg, n, "true or false", 0, err);
    if (!s) return -1;
    int b = parse_bool(s);
    char buf[100];
    if (b < 0) return foil_cfg_fail(cfg, n, err, "expected true or false, got %s",
                                    describe(n, buf, sizeof buf));
    *out = b;
    return 0;
}

int foil_cfg_string(const foil_config *cfg, foil_node *map, const char *key, const char *dflt,
                    const char **out, foil_err *err) {
    foil_node *n;
    if (lookup(cfg, map, key, &n, err)) return -1;
    if (!n) {
        *out = dflt;
        return dflt ? add_default(cfg, map, key, dflt, 1, err) : 0;
    }
    const char *s = scalar_text(cfg, n, "a string", 1, err);
    if (!s) return -1;
    *out = s;
    return 0;
}

int foil_cfg_path(const foil_config *cfg, foil_node *map, const char *key, const char *dflt,
                  char out[FOIL_PATH_MAX], foil_err *err) {
    const char *s;
    if (foil_cfg_string(cfg, map, key, dflt, &s, err)) return -1;
    size_t n = s ? strlen(s) : 0;
    if (n >= FOIL_PATH_MAX)
        return foil_cfg_fail(cfg, foil_node_get(map, key), err,
                             "path too long (%zu bytes, at most %d)", n, FOIL_PATH_MAX - 1);
    memcpy(out, s ? s : "", n + 1);
    return 0;
}

int foil_cfg_name(const foil_config *cfg, foil_node *map, const char *key, const char *dflt,
                  char out[FOIL_NAME_MAX], foil_err *err) {
    const char *s;
    foil_err why;
    if (foil_cfg_string(cfg, map, key, dflt, &s, err)) return -1;
    if (foil_check_name(key, s, &why))
        return foil_cfg_fail(cfg, foil_node_get(map, key), err,
                             "'%s' cannot be part of a file name (1 to %d letters, digits, '_', "
                             "'-', '+' or '.', not starting with '.')", s, FOIL_NAME_MAX - 1);
    memcpy(out, s, strlen(s) + 1);
    return 0;
}

/* "a, b, c" */
static void join_choices(const char *const *choices, char *out, size_t cap) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; choices[i]; i++) {
        if (i) put(out, cap, &len, ", ");
        put(out, cap, &len, choices[i]);
    }
}

int foil_cfg_enum(const foil_config *cfg, foil_node *map, const char *key, int dflt,
                  const char *const *choices, int *out, foil_err *err) {
    foil_node *n;
    if (lookup(cfg, map, key, &n, err)) return -1;
    int count = 0;
    while (choices[count]) count++;
    if (!n) {
        *out = dflt;
        if (dflt < 0 || dflt >= count) return 0; /* no default to record */
        return add_default(cfg, map, key, choices[dflt], 1, err);
    }
    char list[256], what[300], c[64];
    join_choices(choices, list, sizeof list);
    snprintf(what, sizeof what, "one of (%s)", list);
    const char *s = scalar_text(cfg, n, what, 1, err);
    if (!s) return -1;
    for (int i = 0; i < count; i++) {
        if (strcmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return foil_cfg_fail(cfg, n, err, "unknown value '%s' (choose one of: %s)",
                         clip(s, c, sizeof c), list);
}

int foil_cfg_require(const foil_config *cfg, foil_node *map, const char *key, foil_node **out,
                     foil_err *err) {
    foil_node *n;
    if (lookup(cfg, map, key, &n, err)) return -1;
    if (!n) return foil_cfg_fail(cfg, map, err, "missing required key '%s'", key);
    *out = n;
    return 0;
}

/* ---- unknown keys ---------------------------------------------------------------- */

static int report_unused(const foil_config *cfg, const foil_node *n, foil_err *err) {
    char path[256];
    foil_node_path(n, path, sizeof path);
    const char *what =
        n->parent && n->parent->kind == FOIL_NODE_SEQ ? "unused item" : "unknown key";
    if (n->line > 0)
        foil_fail(err, "%s:%d: %s '%s'", file_of(cfg), n->line, what, path);
    else
        foil_fail(err, "%s: %s '%s' (set by an override)", file_of(cfg), what, path);
    foil_cfg_one_line(err);
    return -1;
}

/* Document order, parents before children: an unknown section is reported as
 * itself, not as its first key. */
int foil_config_check_used(const foil_config *cfg, const foil_node *node, foil_err *err) {
    for (const foil_node *c = node ? node->child : NULL; c; c = c->next) {
        if (!c->used) return report_unused(cfg, c, err);
        if (foil_config_check_used(cfg, c, err)) return -1;
    }
    return 0;
}

static void mark_subtree_used(foil_node *n) {
    for (; n; n = n->next) {
        n->used = 1;
        mark_subtree_used(n->child);
    }
}

void foil_config_skip_sections(foil_node *root, const char *const *sections) {
    for (int i = 0; sections[i]; i++) {
        foil_node *n = foil_node_get(root, sections[i]);
        if (n) mark_subtree_used(n->child);
    }
}

int foil_cfg_device(const foil_config *cfg, char *device, size_t cap, int *tf32, foil_err *err) {
    static const char *const DEVICES[] = {"auto", "cpu", "cuda", NULL};
    static const char *const PRECISIONS[] = {"fp32", "tf32", NULL};
    int dev, prec;
    if (foil_cfg_enum(cfg, cfg->root, "device", 0, DEVICES, &dev, err) ||
        foil_cfg_enum(cfg, cfg->root, "precision", 0, PRECISIONS, &prec, err))
        return -1;
    snprintf(device, cap, "%s", DEVICES[dev]);
    *tf32 = prec == 1;
    return 0;
}
