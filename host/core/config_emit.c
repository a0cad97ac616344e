/* Writes a config tree back as block-style YAML with 2-space indents. Scalars
 * are quoted exactly when needed for the text to read back as the same tree:
 * strings that were quoted stay quoted (so "42" stays a string), and text that
 * a plain scalar cannot hold (": ", " #", leading blanks, newlines) is quoted. */
#include "foil/config.h"

#include <stdlib.h>
#include <string.h>

#include "config_internal.h"

/* Flow sequences longer than this go one item per line. */
enum { FLOW_WIDTH = 72 };

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* UTF-8 encodings of U+0085, U+2028 and U+2029, which YAML reads as line
 * breaks; returns the length of the one at s, or 0. */
static int unicode_break(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] == 0xC2 && u[1] == 0x85) return 2;
    if (u[0] == 0xE2 && u[1] == 0x80 && (u[2] == 0xA8 || u[2] == 0xA9)) return 3;
    return 0;
}

/* UTF-8 of the code points libyaml refuses to read unescaped: the C1 controls
 * U+0080..U+009F (but U+0085, a line break, above) and the non-characters
 * U+FFFE and U+FFFF. A quoted "\x80" puts one in a value. Returns the length
 * of the one at s, or 0. */
static int unreadable(const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] == 0xC2 && u[1] >= 0x80 && u[1] <= 0x9F && u[1] != 0x85) return 2;
    if (u[0] == 0xEF && u[1] == 0xBF && (u[2] == 0xBE || u[2] == 0xBF)) return 3;
    return 0;
}

/* Follows libyaml's scanner: a plain scalar may not start with an indicator
 * (except "-x", and "?x" / ":x" outside flow), may not hold ": " or " #",
 * nor (inside [ ]) any of ",[]{}:" . */
int foil_cfg_plain_ok(const char *s, int flow) {
    size_t n = strlen(s);
    if (n == 0 || is_blank(s[0]) || is_blank(s[n - 1]) || s[n - 1] == ':') return 0;
    if (strchr("-?:,[]{}#&*!|>'\"%@`", s[0])) {
        int dash = s[0] == '-';
        if (!dash && (flow || (s[0] != '?' && s[0] != ':'))) return 0;
        if (n == 1 || is_blank(s[1])) return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f || unicode_break(s + i) || unreadable(s + i))
            return 0;
        if (c == ':' && (flow || is_blank(s[i + 1]))) return 0;
        if (c == '#' && i > 0 && is_blank(s[i - 1])) return 0;
        if (flow && strchr(",[]{}", c)) return 0;
    }
    return 1;
}

static void put_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int ub = unicode_break(s), ur = unreadable(s);
        if (ub) {
            fputs(ub == 2 ? "\\N" : (unsigned char)s[2] == 0xA8 ? "\\L" : "\\P", f);
            s += ub - 1;
        } else if (ur) {
            if (ur == 2) fprintf(f, "\\x%02X", (unsigned char)s[1]);
            else fputs((unsigned char)s[2] == 0xBE ? "\\uFFFE" : "\\uFFFF", f);
            s += ur - 1;
        } else if (c == '"' || c == '\\') {
            fputc('\\', f);
            fputc(c, f);
        } else if (c == '\n') {
            fputs("\\n", f);
        } else if (c == '\t') {
            fputs("\\t", f);
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\x%02X", c);
        } else {
            fputc(c, f);
        }
    }
    fputc('"', f);
}

static void put_scalar(FILE *f, const foil_node *n, int flow) {
    if (!n->quoted && foil_cfg_plain_ok(n->value, flow))
        fputs(n->value, f);
    else
        put_quoted(f, n->value);
}

/* Keys carry no quoted flag, so quoting one is always safe; a root key that
 * starts like a document marker ("---", "...") is quoted too. */
static void put_key(FILE *f, const char *k) {
    if (foil_cfg_plain_ok(k, 0) && strncmp(k, "---", 3) != 0 && strncmp(k, "...", 3) != 0)
        fputs(k, f);
    else
        put_quoted(f, k);
}

static int is_empty_plain(const foil_node *n) {
    return n->kind == FOIL_NODE_SCALAR && !n->quoted && !n->value[0];
}

/* A sequence of scalars that fits on one line as [a, b, c]. */
static int flow_ok(const foil_node *seq) {
    size_t width = 2;
    for (const foil_node *c = seq->child; c; c = c->next) {
        if (c->kind != FOIL_NODE_SCALAR || is_empty_plain(c)) return 0;
        if (!c->quoted && !foil_cfg_plain_ok(c->value, 1)) return 0;
        width += strlen(c->value) + 4;
        if (width > FLOW_WIDTH) return 0;
    }
    return 1;
}

static void put_flow_seq(FILE *f, const foil_node *seq) {
    fputc('[', f);
    for (const foil_node *c = seq->child; c; c = c->next) {
        put_scalar(f, c, 1);
        if (c->next) fputs(", ", f);
    }
    fputc(']', f);
}

static void emit_map(FILE *f, const foil_node *map, int indent, int first_inline);
static void emit_seq(FILE *f, const foil_node *seq, int indent, int first_inline);

/* The rest of a line after "key:" or "-", and anything nested under it. A map
 * under "key:" goes on the next lines; under "-" it starts on the same line. */
static void emit_value(FILE *f, const foil_node *v, int indent, int in_seq) {
    if (v->kind == FOIL_NODE_SCALAR) {
        if (!is_empty_plain(v)) {
            fputc(' ', f);
            put_scalar(f, v, 0);
        }
        fputc('\n', f);
    } else if (!v->child) {
        fputs(v->kind == FOIL_NODE_MAP ? " {}\n" : " []\n", f);
    } else if (v->kind == FOIL_NODE_SEQ && flow_ok(v)) {
        fputc(' ', f);
        put_flow_seq(f, v);
        fputc('\n', f);
    } else {
        fputs(in_seq ? " " : "\n", f);
        if (v->kind == FOIL_NODE_MAP) emit_map(f, v, indent + 2, in_seq);
        else emit_seq(f, v, indent + 2, in_seq);
    }
}

/* libyaml reads "key: value" only when the key takes at most 1024
 * characters up to its ':' (YAML's limit on implicit keys); a longer key
 * (a quoted one grows with its escapes) is written as an explicit one:
 * "? key" on its own line, then ":" and the value. */
enum { IMPLICIT_KEY_MAX = 1000 };

static int key_too_long(const char *k) {
    if (strlen(k) * 4 + 2 <= IMPLICIT_KEY_MAX) return 0; /* \xXX is the longest escape */
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m) return 1;
    put_key(m, k);
    int too_long = fclose(m) != 0 || len > IMPLICIT_KEY_MAX;
    free(buf);
    return too_long;
}

static void emit_map(FILE *f, const foil_node *map, int indent, int first_inline) {
    for (const foil_node *c = map->child; c; c = c->next) {
        const char *k = c->key ? c->key : "";
        if (c != map->child || !first_inline) fprintf(f, "%*s", indent, "");
        if (key_too_long(k)) {
            fputs("? ", f);
            put_key(f, k);
            fprintf(f, "\n%*s", indent, "");
        } else {
            put_key(f, k);
        }
        fputc(':', f);
        emit_value(f, c, indent, 0);
    }
}

static void emit_seq(FILE *f, const foil_node *seq, int indent, int first_inline) {
    for (const foil_node *c = seq->child; c; c = c->next) {
        if (c != seq->child || !first_inline) fprintf(f, "%*s", indent, "");
        fputc('-', f);
        emit_value(f, c, indent, 1);
    }
}

int foil_config_emit(const foil_node *root, FILE *out) {
    if (!root) return -1;
    if (root->kind == FOIL_NODE_SCALAR) {
        put_scalar(out, root, 0);
        fputc('\n', out);
    } else if (!root->child) {
        fputs(root->kind == FOIL_NODE_MAP ? "{}\n" : "[]\n", out);
    } else if (root->kind == FOIL_NODE_MAP) {
        emit_map(out, root, 0, 0);
    } else {
        emit_seq(out, root, 0, 0);
    }
    return ferror(out) ? -1 : 0;
}

char *foil_config_emit_string(const foil_node *root) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = foil_config_emit(root, f);
    if (fclose(f) != 0 || rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
