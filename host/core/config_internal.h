/* Helpers shared by the host/core/config*.c files.
 * Not part of the public API. */
#ifndef FOIL_CONFIG_INTERNAL_H
#define FOIL_CONFIG_INTERNAL_H

#include "foil/config.h"

/* A new, unlinked node. key may be NULL; value (len bytes, need not be
 * NUL-terminated) is copied for scalars and ignored otherwise. NULL when out
 * of memory. */
foil_node *foil_cfg_node_new(foil_node_kind kind, const char *key, const char *value,
                             size_t len);
/* Links child after the last child of parent. */
void foil_cfg_node_append(foil_node *parent, foil_node *child);
/* Frees a node and everything under it (it must already be unlinked). */
void foil_cfg_node_free(foil_node *node);

/* Parses text into *root (NULL for an empty stream). name starts every
 * message; lines = 0 gives nodes line 0 and messages without a line (for
 * override values). */
int foil_cfg_parse_text(const char *name, int lines, const char *text, size_t len,
                        foil_node **root, foil_err *err);

/* An empty plain scalar: YAML's null, as in "key:" with nothing after it. */
static inline int foil_cfg_is_null(const foil_node *n) {
    return n->kind == FOIL_NODE_SCALAR && !n->quoted && n->value[0] == 0;
}

/* Whether libyaml's emitter writes s as a plain (unquoted) scalar in block
 * context (flow: as an item of [ ]), that is whether s reads back there as
 * the same text unquoted. */
int foil_cfg_plain_ok(const char *s, int flow);

/* Replaces control characters in err->msg: values and keys may hold newlines,
 * but every message must stay on one line. */
void foil_cfg_one_line(foil_err *err);

#endif
