/* YAML configs: libyaml's event parser builds a small foil_node tree that keeps
 * line numbers and whether each scalar was quoted; `key.path=value` overrides
 * edit that tree (config_override.c). Getters live in config_get.c, the writer
 * in config_emit.c. */
#include "foil/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_internal.h"
#include "foil/fileio.h"

/* Deep enough for any real config; the limit keeps hostile input from
 * exhausting the stack in the recursive reader. */
enum { MAX_DEPTH = 64 };
/* Configs are a few kilobytes; anything this big is a mistake. */
#define MAX_FILE_BYTES ((size_t)16 << 20)

/* ---- nodes ------------------------------------------------------------------ */

foil_node *foil_cfg_node_new(foil_node_kind kind, const char *key, const char *value,
                             size_t len) {
    foil_node *n = calloc(1, sizeof *n);
    if (!n) return NULL;
    n->kind = kind;
    if (key && !(n->key = strdup(key))) goto oom;
    if (kind == FOIL_NODE_SCALAR) {
        if (!(n->value = malloc(len + 1))) goto oom;
        if (len) memcpy(n->value, value, len);
        n->value[len] = 0;
    }
    return n;
oom:
    free(n->key);
    free(n);
    return NULL;
}

void foil_cfg_node_append(foil_node *parent, foil_node *child) {
    child->parent = parent;
    child->next = NULL;
    foil_node **link = &parent->child;
    while (*link) link = &(*link)->next;
    *link = child;
}

void foil_cfg_node_free(foil_node *node) {
    if (!node) return;
    foil_node *c = node->child;
    while (c) {
        foil_node *next = c->next;
        foil_cfg_node_free(c);
        c = next;
    }
    free(node->key);
    free(node->value);
    free(node);
}

void foil_cfg_one_line(foil_err *err) {
    if (!err) return;
    for (char *p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
}

/* ---- reading YAML events into a tree ------------------------------------------ */

typedef struct parser {
    yaml_parser_t yp;
    const char *name;  /* file name, or "<file>: override <key>" for override values */
    int lines;         /* 1: record line numbers; 0: override values (no lines) */
    const char *text;  /* the input, to turn a byte offset into a line */
    size_t len;
    foil_err *err;
} parser;

static int pfail(parser *p, int line, const char *fmt, ...) FOIL_PRINTF(3, 4);
static int pfail(parser *p, int line, const char *fmt, ...) {
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (p->lines)
        foil_fail(p->err, "%s:%d: %s", p->name, line, what);
    else
        foil_fail(p->err, "%s: %s", p->name, what);
    foil_cfg_one_line(p->err);
    return -1;
}

static int mark_line(const yaml_mark_t *m) { return (int)m->line + 1; }

/* Reader errors (bad UTF-8, control characters) only give a byte offset. */
static int offset_line(const parser *p, size_t offset) {
    int line = 1;
    for (size_t i = 0; i < offset && i < p->len; i++) line += p->text[i] == '\n';
    return line;
}

static int next_event(parser *p, yaml_event_t *ev) {
    if (yaml_parser_parse(&p->yp, ev)) return 0;
    const yaml_parser_t *y = &p->yp;
    const char *problem = y->problem ? y->problem : "unknown error";
    if (y->error == YAML_MEMORY_ERROR) return pfail(p, 1, "out of memory");
    if (y->error == YAML_READER_ERROR)
        return pfail(p, offset_line(p, y->problem_offset), "YAML syntax error: %s", problem);
    int line = mark_line(&y->problem_mark);
    /* the context ("while parsing a flow sequence") often starts lines earlier */
    if (y->context && p->lines)
        return pfail(p, line, "YAML syntax error: %s (%s started on line %d)", problem,
                     y->context, mark_line(&y->context_mark));
    if (y->context)
        return pfail(p, line, "YAML syntax error: %s (%s)", problem, y->context);
    return pfail(p, line, "YAML syntax error: %s", problem);
}

/* Anchors, aliases and tags make a config mean something other than what it
 * plainly says; rejecting them keeps every config readable at a glance. */
static int check_props(parser *p, const yaml_event_t *ev) {
    const yaml_char_t *anchor = NULL, *tag = NULL;
    int line = mark_line(&ev->start_mark);
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        return pfail(p, line, "aliases (*%s) are not supported; write the value out",
                     (const char *)ev->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
        break;
    default:
        break;
    }
    if (anchor)
        return pfail(p, line, "anchors (&%s) are not supported", (const char *)anchor);
    if (tag) return pfail(p, line, "tags (%s) are not supported", (const char *)tag);
    return 0;
}

/* The node that ev starts: a scalar, or a still empty map or sequence. */
static foil_node *node_from_event(parser *p, const yaml_event_t *ev, const char *key,
                                  int line) {
    if (check_props(p, ev)) return NULL;
    foil_node *n = NULL;
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        if (memchr(v, 0, len)) {
            pfail(p, line, "NUL characters are not allowed in values");
            return NULL;
        }
        n = foil_cfg_node_new(FOIL_NODE_SCALAR, key, v, len);
        /* Quoted and block (| >) scalars are strings, never numbers. So is
         * the rare plain text that only flow context allows ("[-]"): calling
         * it quoted is what emitting it in block style and reading it back
         * gives. */
        if (n)
            n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                        (len && !foil_cfg_plain_ok(n->value, 0));
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        n = foil_cfg_node_new(FOIL_NODE_SEQ, key, NULL, 0);
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        n = foil_cfg_node_new(FOIL_NODE_MAP, key, NULL, 0);
    } else {
        pfail(p, line, "unexpected YAML structure");
        return NULL;
    }
    if (!n) pfail(p, line, "out of memory");
    else n->line = p->lines ? line : 0;
    return n;
}

static int read_value(parser *p, yaml_event_t *ev, foil_node *parent, foil_node **tail,
                      const char *key, int line, int depth, foil_node **out);

static int read_seq(parser *p, foil_node *seq, int depth) {
    foil_node *tail = NULL;
    for (;;) {
        yaml_event_t ev;
        if (next_event(p, &ev)) return -1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        if (read_value(p, &ev, seq, &tail, NULL, mark_line(&ev.start_mark), depth, NULL))
            return -1;
    }
}

static int check_duplicate(parser *p, const foil_node *map, const char *key, int line) {
    for (const foil_node *c = map->child; c; c = c->next) {
        if (strcmp(c->key, key) != 0) continue;
        char path[256];
        foil_node_path(c, path, sizeof path);
        if (!p->lines) return pfail(p, 0, "duplicate key '%s'", path);
        return pfail(p, line, "duplicate key '%s' (first on line %d)", path, c->line);
    }
    return 0;
}

/* A key: plain text (not a map or list), unique in its map. Frees ev. */
static int read_key(parser *p, yaml_event_t *ev, const foil_node *map, char **key,
                    int *line) {
    *key = NULL;
    *line = mark_line(&ev->start_mark);
    int rc = check_props(p, ev);
    if (!rc && ev->type != YAML_SCALAR_EVENT)
        rc = pfail(p, *line, "keys must be plain text, not a %s",
                   ev->type == YAML_MAPPING_START_EVENT ? "mapping" : "sequence");
    if (!rc && memchr(ev->data.scalar.value, 0, ev->data.scalar.length))
        rc = pfail(p, *line, "NUL characters are not allowed in keys");
    if (!rc && !(*key = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length)))
        rc = pfail(p, *line, "out of memory");
    yaml_event_delete(ev);
    if (!rc) rc = check_duplicate(p, map, *key, *line);
    if (rc) {
        free(*key);
        *key = NULL;
    }
    return rc;
}

static int read_map(parser *p, foil_node *map, int depth) {
    foil_node *tail = NULL;
    for (;;) {
        yaml_event_t ev;
        if (next_event(p, &ev)) return -1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return 0;
        }
        char *key;
        int line;
        if (read_key(p, &ev, map, &key, &line)) return -1;
        int rc = next_event(p, &ev);
        /* a map entry reports the key's line: that is where people look */
        if (!rc) rc = read_value(p, &ev, map, &tail, key, line, depth, NULL);
        free(key);
        if (rc) return -1;
    }
}

/* Reads one whole value starting with ev (which it frees). The node is linked
 * into parent before its contents are read, so that messages can name its path
 * and an error half-way leaves nothing unowned. */
static int read_value(parser *p, yaml_event_t *ev, foil_node *parent, foil_node **tail,
                      const char *key, int line, int depth, foil_node **out) {
    if (depth > MAX_DEPTH) {
        yaml_event_delete(ev);
        return pfail(p, line, "nested more than %d levels deep", MAX_DEPTH);
    }
    foil_node *n = node_from_event(p, ev, key, line);
    yaml_event_delete(ev);
    if (!n) return -1;
    if (parent) {
        n->parent = parent;
        if (*tail) (*tail)->next = n;
        else parent->child = n;
        *tail = n;
    }
    if (out) *out = n;
    if (n->kind == FOIL_NODE_MAP) return read_map(p, n, depth + 1);
    if (n->kind == FOIL_NODE_SEQ) return read_seq(p, n, depth + 1);
    return 0;
}

/* A stream holds nothing (*root = NULL) or exactly one document. */
static int read_stream(parser *p, foil_node **root) {
    yaml_event_t ev;
    if (next_event(p, &ev)) return -1; /* stream start */
    yaml_event_delete(&ev);
    if (next_event(p, &ev)) return -1;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        return 0;
    }
    yaml_event_delete(&ev); /* document start */
    if (next_event(p, &ev)) return -1;
    if (read_value(p, &ev, NULL, NULL, NULL, mark_line(&ev.start_mark), 0, root)) return -1;
    if (next_event(p, &ev)) return -1; /* document end */
    yaml_event_delete(&ev);
    if (next_event(p, &ev)) return -1;
    int line = mark_line(&ev.start_mark);
    int more = ev.type == YAML_DOCUMENT_START_EVENT;
    yaml_event_delete(&ev);
    if (more) return pfail(p, line, "only one YAML document is allowed (found a second '---')");
    return 0;
}

int foil_cfg_parse_text(const char *name, int lines, const char *text, size_t len,
                        foil_node **root, foil_err *err) {
    parser p;
    memset(&p, 0, sizeof p);
    p.name = name;
    p.lines = lines;
    p.text = text ? text : "";
    p.len = text ? len : 0;
    p.err = err;
    *root = NULL;
    if (!yaml_parser_initialize(&p.yp)) return foil_fail(err, "%s: out of memory", name);
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)p.text, p.len);
    int rc = read_stream(&p, root);
    yaml_parser_delete(&p.yp);
    if (rc) {
        foil_cfg_node_free(*root);
        *root = NULL;
    }
    return rc;
}

/* ---- loading ------------------------------------------------------------------ */

int foil_config_parse(foil_config *cfg, const char *name, const char *text, size_t len,
                      foil_err *err) {
    memset(cfg, 0, sizeof *cfg);
    if (!name) name = "<config>";
    foil_node *root;
    if (foil_cfg_parse_text(name, 1, text, len, &root, err)) return -1;
    /* an empty file (or a bare "---") is an empty config */
    if (!root || foil_cfg_is_null(root)) {
        foil_cfg_node_free(root);
        root = foil_cfg_node_new(FOIL_NODE_MAP, NULL, NULL, 0);
        if (!root) return foil_fail(err, "%s: out of memory", name);
    }
    if (root->kind != FOIL_NODE_MAP) {
        int line = root->line;
        foil_cfg_node_free(root);
        return foil_fail(err, "%s:%d: the top level must be a mapping (key: value lines)",
                         name, line);
    }
    if (!(cfg->path = strdup(name))) {
        foil_cfg_node_free(root);
        return foil_fail(err, "%s: out of memory", name);
    }
    cfg->root = root;
    return 0;
}

/* "-" and /dev/stdin read standard input (a pipe works); any other path
 * must be a regular file, so that a FIFO cannot block the program. */
static int read_file(const char *path, char **text, size_t *len, foil_err *err) {
    FILE *f = foil_fopen_read(path, FOIL_READ_STDIN, err);
    if (!f) return -1;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (n == cap) {
            if (cap >= MAX_FILE_BYTES) {
                rc = foil_fail(err, "%s: config file is too large (16 MiB or more)", path);
                break;
            }
            size_t ncap = cap ? 2 * cap : 4096;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                rc = foil_fail(err, "%s: out of memory", path);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (!rc && ferror(f)) rc = foil_fail(err, "%s: cannot read: %s", path, strerror(errno));
    fclose(f);
    if (rc) {
        free(buf);
        return -1;
    }
    *text = buf;
    *len = n;
    return 0;
}

int foil_config_load(foil_config *cfg, const char *path, foil_err *err) {
    memset(cfg, 0, sizeof *cfg);
    char *text = NULL;
    size_t len = 0;
    if (read_file(path, &text, &len, err)) return -1;
    int rc = foil_config_parse(cfg, path, text, len, err);
    free(text);
    return rc;
}

void foil_config_free(foil_config *cfg) {
    if (!cfg) return;
    foil_cfg_node_free(cfg->root);
    free(cfg->path);
    cfg->root = NULL;
    cfg->path = NULL;
}
