/* `key.path=value` overrides from the command line: the value is parsed as
 * YAML (a scalar, [flow list] or {flow map}) and replaces or creates the node
 * at that path. Nodes made here have line 0; messages name the override. */
#include "foil/config.h"

#include <stdlib.h>
#include <string.h>

#include "config_internal.h"
#include "foil/strbuf.h"

static foil_node *find_child(const foil_node *map, const char *key) {
    for (foil_node *c = map->child; c; c = c->next)
        if (strcmp(c->key, key) == 0) return c;
    return NULL;
}

/* Keys come from the command line, not through libyaml as values do: one
 * that is not valid UTF-8 (stray bytes, overlong forms, surrogates, past
 * U+10FFFF) would make a resolved config that does not read back. */
static int utf8_ok(const char *s) {
    for (const unsigned char *u = (const unsigned char *)s; *u;) {
        /* continuation bytes after this lead byte; -1: not a lead byte */
        int n = *u < 0x80 ? 0 : *u < 0xC2 ? -1 : *u < 0xE0 ? 1 : *u < 0xF0 ? 2 : *u < 0xF5 ? 3 : -1;
        if (n < 0) return 0;
        unsigned long cp = n ? *u & (0x3Fu >> n) : *u;
        for (int i = 1; i <= n; i++) {
            if ((u[i] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (u[i] & 0x3Fu);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        u += n + 1;
    }
    return 1;
}

/* Splits "a.b.c" in place into parts; every part must be non-empty. */
static int split_keys(char *keys, char ***parts, int *n, const char *assignment,
                      foil_err *err) {
    int count = 1;
    for (const char *s = keys; *s; s++) count += *s == '.';
    char **v = malloc((size_t)count * sizeof *v);
    if (!v) return foil_fail(err, "override '%s': out of memory", assignment);
    char *s = keys;
    for (int i = 0; i < count; i++) {
        v[i] = s;
        char *dot = strchr(s, '.');
        if (dot) *dot = 0;
        if (!*v[i]) {
            free(v);
            return foil_fail(err, "override '%s': empty key in '%.*s'", assignment,
                             (int)strcspn(assignment, "="), assignment);
        }
        s = dot ? dot + 1 : s + strlen(s);
    }
    *parts = v;
    *n = count;
    return 0;
}

/* The value is YAML: a scalar, a [flow, list] or a {flow: map}. */
static int parse_value(const char *where, const char *text, foil_node **v, foil_err *err) {
    if (foil_cfg_parse_text(where, 0, text, strlen(text), v, err)) return -1;
    if (!*v) { /* "key=" sets an empty value */
        *v = foil_cfg_node_new(FOIL_NODE_SCALAR, NULL, "", 0);
        return *v ? 0 : foil_fail(err, "%s: out of memory", where);
    }
    const char *s = text + strspn(text, " \t");
    if ((*v)->kind != FOIL_NODE_SCALAR && *s != '[' && *s != '{') {
        foil_cfg_node_free(*v);
        *v = NULL;
        return foil_fail(err, "%s: write lists and maps in flow style, e.g. [1, 2] or {a: 1}",
                         where);
    }
    return 0;
}

/* Walks parts[0..n-2] from the root. With create = 0 it only checks that the
 * path can be made and stops at the first map that is not there yet (*map =
 * NULL); with create = 1 it makes missing maps. An empty value (YAML null)
 * on the way becomes a map. */
static int walk(foil_config *cfg, char **parts, int n, int create, foil_node **map,
                const char *where, foil_err *err) {
    foil_node *cur = cfg->root;
    for (int i = 0; i < n - 1; i++) {
        foil_node *c = find_child(cur, parts[i]);
        if (c && c->kind != FOIL_NODE_MAP && !foil_cfg_is_null(c)) {
            char path[256];
            foil_node_path(c, path, sizeof path);
            return foil_fail(err, "%s: '%s' is not a mapping", where, path);
        }
        if (!create && (!c || c->kind != FOIL_NODE_MAP)) {
            *map = NULL;
            return 0;
        }
        if (!c) {
            if (!(c = foil_cfg_node_new(FOIL_NODE_MAP, parts[i], NULL, 0)))
                return foil_fail(err, "%s: out of memory", where);
            foil_cfg_node_append(cur, c);
        } else if (c->kind != FOIL_NODE_MAP) {
            free(c->value);
            c->value = NULL;
            c->kind = FOIL_NODE_MAP;
        }
        cur = c;
    }
    *map = cur;
    return 0;
}

/* Gives dst the contents of src (which is freed); dst keeps its key and place. */
static void replace_node(foil_node *dst, foil_node *src) {
    foil_node *c = dst->child;
    while (c) {
        foil_node *next = c->next;
        foil_cfg_node_free(c);
        c = next;
    }
    free(dst->value);
    dst->kind = src->kind;
    dst->value = src->value;
    dst->quoted = src->quoted;
    dst->child = src->child;
    for (c = dst->child; c; c = c->next) c->parent = dst;
    dst->line = 0;
    dst->used = 0;
    free(src->key);
    free(src);
}

static int check_target(const foil_node *map, const char *key, const char *where,
                        foil_err *err) {
    const foil_node *old = map ? find_child(map, key) : NULL;
    if (!old || old->kind != FOIL_NODE_MAP) return 0;
    char path[256];
    foil_node_path(old, path, sizeof path);
    return foil_fail(err, "%s: '%s' is a mapping; override its keys instead (%s.<key>=value)",
                     where, path, path);
}

/* Checks everything first so that a failed override leaves the tree as it was. */
static int apply(foil_config *cfg, char **parts, int n, foil_node *v, int any_target,
                 const char *where, foil_err *err) {
    foil_node *map;
    if (walk(cfg, parts, n, 0, &map, where, err) ||
        (!any_target && check_target(map, parts[n - 1], where, err)) ||
        walk(cfg, parts, n, 1, &map, where, err)) {
        foil_cfg_node_free(v);
        return -1;
    }
    foil_node *old = find_child(map, parts[n - 1]);
    if (old) {
        replace_node(old, v);
        return 0;
    }
    if (!(v->key = strdup(parts[n - 1]))) {
        foil_cfg_node_free(v);
        return foil_fail(err, "%s: out of memory", where);
    }
    foil_cfg_node_append(map, v);
    return 0;
}

static int assign(foil_config *cfg, const char *assignment, int any_target, foil_err *err) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment) {
        foil_fail(err, "override '%s': expected key.path=value (e.g. train.lr=0.01)",
                  assignment);
        foil_cfg_one_line(err);
        return -1;
    }
    /* the place for messages: the config path and the key, whole (the
     * message elides the middle when it is too long) */
    foil_strbuf wb = {0};
    foil_sb_put(&wb, "%s: override %.*s", cfg->path ? cfg->path : "<config>",
                (int)(eq - assignment), assignment);
    char *where = foil_sb_take(&wb);
    if (!where) return foil_fail(err, "override: out of memory");
    char *keys = strndup(assignment, (size_t)(eq - assignment));
    char **parts = NULL;
    int n = 0, rc;
    foil_node *v = NULL;
    if (!keys)
        rc = foil_fail(err, "%s: out of memory", where);
    else if (!utf8_ok(keys))
        rc = foil_fail(err, "%s: the key is not valid UTF-8", where);
    else
        rc = split_keys(keys, &parts, &n, assignment, err) || parse_value(where, eq + 1, &v, err) ||
             apply(cfg, parts, n, v, any_target, where, err);
    free(parts);
    free(keys);
    free(where);
    if (rc) foil_cfg_one_line(err);
    return rc ? -1 : 0;
}

int foil_config_override(foil_config *cfg, const char *assignment, foil_err *err) {
    return assign(cfg, assignment, 0, err);
}

int foil_config_replace(foil_config *cfg, const char *assignment, foil_err *err) {
    return assign(cfg, assignment, 1, err);
}
