/* Writes a config tree back as YAML through libyaml's emitter: block style
 * with 2-space indents, short lists of scalars as [a, b, c]. Quoting is
 * libyaml's: a scalar read as plain is asked for plain, a quoted one for
 * single quotes, one with control characters for double quotes, and the
 * emitter moves each to the first style after it that holds the text
 * (plain, single, double quotes), so the text reads back as the same
 * strings and emitting it again gives the same text (fuzz_config checks). */
#include "foil/config.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "config_internal.h"

/* Flow sequences longer than this go one item per line. */
enum { FLOW_WIDTH = 72 };

static int write_file(void *data, unsigned char *buffer, size_t size) {
    return fwrite(buffer, 1, size, data) == size;
}

/* A sequence of scalars that fits on one line as [a, b, c], where every
 * plain one stays plain (in flow, "a:b" and "" would need quotes). */
static int flow_ok(const foil_node *seq) {
    size_t width = 2;
    for (const foil_node *c = seq->child; c; c = c->next) {
        if (c->kind != FOIL_NODE_SCALAR || (!c->quoted && !foil_cfg_plain_ok(c->value, 1)))
            return 0;
        width += strlen(c->value) + 4;
        if (width > FLOW_WIDTH) return 0;
    }
    return 1;
}

static int has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20) return 1;
    return 0;
}

/* Text with line breaks or tabs goes in double quotes (as escapes, on one
 * line) rather than in single quotes over several lines. */
static int scalar(yaml_emitter_t *e, const char *text, int quoted) {
    yaml_event_t ev;
    const yaml_scalar_style_t style = has_control(text) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE
                                      : quoted          ? YAML_SINGLE_QUOTED_SCALAR_STYLE
                                                        : YAML_PLAIN_SCALAR_STYLE;
    return yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)text, (int)strlen(text),
                                        !quoted, 1, style) &&
           yaml_emitter_emit(e, &ev);
}

/* The node's events; keys carry no quoted flag and are asked for plain.
 * probe: every sequence in flow style (foil_cfg_plain_ok's [s]). */
static int node(yaml_emitter_t *e, const foil_node *n, int probe) {
    yaml_event_t ev;
    if (n->kind == FOIL_NODE_SCALAR) return scalar(e, n->value, n->quoted);
    int ok = n->kind == FOIL_NODE_MAP
                 ? yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
                                                       YAML_BLOCK_MAPPING_STYLE)
                 : yaml_sequence_start_event_initialize(
                       &ev, NULL, NULL, 1,
                       probe || flow_ok(n) ? YAML_FLOW_SEQUENCE_STYLE
                                           : YAML_BLOCK_SEQUENCE_STYLE);
    if (!ok || !yaml_emitter_emit(e, &ev)) return 0;
    for (const foil_node *c = n->child; c; c = c->next) {
        if (n->kind == FOIL_NODE_MAP && !scalar(e, c->key ? c->key : "", 0)) return 0;
        if (!node(e, c, probe)) return 0;
    }
    ok = n->kind == FOIL_NODE_MAP ? yaml_mapping_end_event_initialize(&ev)
                                  : yaml_sequence_end_event_initialize(&ev);
    return ok && yaml_emitter_emit(e, &ev);
}

static int emit(const foil_node *root, FILE *out, int probe) {
    yaml_emitter_t e;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&e)) return -1;
    yaml_emitter_set_output(&e, write_file, out);
    yaml_emitter_set_unicode(&e, 1);
    yaml_emitter_set_indent(&e, 2);
    yaml_emitter_set_width(&e, -1); /* no folding of long scalars */
    int ok = yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) &&
             yaml_emitter_emit(&e, &ev) &&
             yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) &&
             yaml_emitter_emit(&e, &ev) && node(&e, root, probe) &&
             yaml_document_end_event_initialize(&ev, 1) && yaml_emitter_emit(&e, &ev) &&
             yaml_stream_end_event_initialize(&ev) && yaml_emitter_emit(&e, &ev) &&
             yaml_emitter_flush(&e);
    yaml_emitter_delete(&e);
    return ok && !ferror(out) ? 0 : -1;
}

int foil_config_emit(const foil_node *root, FILE *out) {
    return root ? emit(root, out, 0) : -1;
}

static char *emit_string(const foil_node *root, int probe) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return NULL;
    int rc = emit(root, f, probe);
    if (fclose(f) != 0 || rc != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

char *foil_config_emit_string(const foil_node *root) { return root ? emit_string(root, 0) : NULL; }

int foil_cfg_plain_ok(const char *s, int flow) {
    if (!s[0]) return 0; /* an empty plain scalar is null */
    foil_node n = {.kind = FOIL_NODE_SCALAR, .value = (char *)s};
    foil_node seq = {.kind = FOIL_NODE_SEQ, .child = &n}; /* emitted as [s] */
    char *text = emit_string(flow ? &seq : &n, 1);
    int plain = text && text[flow] != '\'' && text[flow] != '"';
    free(text);
    return plain;
}
