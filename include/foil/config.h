/* YAML configs as a small tree with line numbers, `key.path=value` overrides,
 * typed getters whose errors name the file, line and key, and a check that
 * every key was used (unknown keys are errors). */
#ifndef FOIL_CONFIG_H
#define FOIL_CONFIG_H

#include <stdio.h>

#include "foil/error.h"
#include "foil/fileio.h"

typedef enum { FOIL_NODE_SCALAR, FOIL_NODE_MAP, FOIL_NODE_SEQ } foil_node_kind;

typedef struct foil_node foil_node;
struct foil_node {
    foil_node_kind kind;
    int line;          /* 1-based line in the source; 0 for overrides */
    char *key;         /* key when the node is a map entry, else NULL */
    char *value;       /* scalar text (SCALAR only) */
    int quoted;        /* scalar was quoted in the source (a string, never a number) */
    int used;          /* set by the getters; checked by foil_config_check_used */
    foil_node *parent;
    foil_node *child;  /* first child (MAP entries or SEQ items) */
    foil_node *next;   /* next sibling */
};

typedef struct foil_config {
    char *path;       /* file name used in messages ("<override>" etc.) */
    foil_node *root;  /* a MAP (an empty file gives an empty MAP) */
} foil_config;

/* Loads a YAML file (block and flow style, comments; anchors/aliases and
 * multiple documents are rejected). The root must be a mapping. Duplicate keys
 * are an error. */
int foil_config_load(foil_config *cfg, const char *path, foil_err *err);
int foil_config_parse(foil_config *cfg, const char *name, const char *text, size_t len,
                      foil_err *err);
void foil_config_free(foil_config *cfg);

/* Applies "a.b.c=value": replaces the scalar at that path or creates it (and
 * any missing maps on the way). The value is parsed as a YAML flow scalar or
 * flow sequence, e.g. "eps=[0,0.1]". Overriding a map or a key under a scalar
 * is an error. */
int foil_config_override(foil_config *cfg, const char *assignment, foil_err *err);
/* As foil_config_override, but the value replaces whatever is at the path, a
 * map included: for a command-line option that stands for the whole key
 * (`-m CHECKPOINT` replaces an inline `model:` definition). */
int foil_config_replace(foil_config *cfg, const char *assignment, foil_err *err);

/* Child of a MAP by key, or NULL; marks it used. */
foil_node *foil_node_get(foil_node *map, const char *key);
/* Number of children of a MAP or SEQ. */
int foil_node_count(const foil_node *node);
/* "train.lr" style path of a node, for messages; items of a sequence show as
 * "layers[2]". */
void foil_node_path(const foil_node *node, char *out, size_t cap);

/* Typed getters on a MAP entry. If the key is absent, *out = dflt, the default
 * is added to the map as a new scalar (line 0, used) so that emitting the tree
 * afterwards gives the resolved config, and they return 0 (a string default of
 * NULL adds nothing). Use foil_cfg_require for required keys. Errors look like
 * "configs/x.yaml:12: train.lr: expected a number, got 'abc'" and
 * "configs/x.yaml:7: train.epochs: 0 is out of range [1, 10000]". */
int foil_cfg_int(const foil_config *cfg, foil_node *map, const char *key, long dflt, long min,
                 long max, long *out, foil_err *err);
int foil_cfg_float(const foil_config *cfg, foil_node *map, const char *key, double dflt,
                   double min, double max, double *out, foil_err *err);
int foil_cfg_bool(const foil_config *cfg, foil_node *map, const char *key, int dflt, int *out,
                  foil_err *err);
/* *out points into the tree (or is dflt). */
int foil_cfg_string(const foil_config *cfg, foil_node *map, const char *key, const char *dflt,
                    const char **out, foil_err *err);
/* A file or folder name into out, refused (never cut) when it is as long
 * as FOIL_PATH_MAX or longer. */
int foil_cfg_path(const foil_config *cfg, foil_node *map, const char *key, const char *dflt,
                  char out[FOIL_PATH_MAX], foil_err *err);
/* A name that becomes part of a file name (an attack label, a study name):
 * refused unless foil_check_name takes it (no '/', no "..", at most
 * FOIL_NAME_MAX - 1 characters). */
int foil_cfg_name(const foil_config *cfg, foil_node *map, const char *key, const char *dflt,
                  char out[FOIL_NAME_MAX], foil_err *err);
/* choices is NULL-terminated; *out is the index. Error lists the choices. */
int foil_cfg_enum(const foil_config *cfg, foil_node *map, const char *key, int dflt,
                  const char *const *choices, int *out, foil_err *err);
/* The top-level `device` (auto, cpu, cuda; default auto) and `precision`
 * (fp32, tf32; default fp32: TF32 tensor-core math for cuDNN convolutions and
 * cuBLAS GEMMs on the GPU, no effect on the CPU) keys. */
int foil_cfg_device(const foil_config *cfg, char *device, size_t cap, int *tf32, foil_err *err);
/* A required key that must exist. */
int foil_cfg_require(const foil_config *cfg, foil_node *map, const char *key, foil_node **out,
                     foil_err *err);
/* Scalar conversions on a node itself (e.g. items of a sequence of numbers). */
int foil_node_as_float(const foil_config *cfg, const foil_node *node, double min, double max,
                       double *out, foil_err *err);
int foil_node_as_int(const foil_config *cfg, const foil_node *node, long min, long max,
                     long *out, foil_err *err);
/* Fails with "<file>:<line>: <path>: <what>" for this node. */
int foil_cfg_fail(const foil_config *cfg, const foil_node *node, foil_err *err,
                  const char *fmt, ...) FOIL_PRINTF(4, 5);

/* Fails naming the first node under `node` (recursively) that no getter used:
 * "configs/x.yaml:9: unknown key 'train.lr_decay'". */
int foil_config_check_used(const foil_config *cfg, const foil_node *node, foil_err *err);

/* Marks the named top-level sections (NULL-terminated list) and everything
 * under them as used: sections that belong to another command, which checks
 * them itself. */
void foil_config_skip_sections(foil_node *root, const char *const *sections);

/* Writes the tree as block-style YAML (comments are not kept). */
int foil_config_emit(const foil_node *root, FILE *out);
/* Same into a malloc'd NUL-terminated string. */
char *foil_config_emit_string(const foil_node *root);

#endif
