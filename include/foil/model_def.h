/* Model definitions as YAML: the `model` map of a recipe or a definition
 * file (configs/models/), and back. */
#ifndef FOIL_MODEL_DEF_H
#define FOIL_MODEL_DEF_H

#include "foil/config.h"
#include "foil/error.h"
#include "foil/model.h"

/* Parses a model definition from a config MAP node (the keys name, input,
 * classes, layers). Errors name the file, line and key. */
int foil_model_def_parse(foil_model_def *def, const foil_config *cfg, foil_node *map,
                         foil_err *err);
/* Loads a model definition file (configs/models/x.yaml). */
int foil_model_def_load(foil_model_def *def, const char *path, foil_err *err);
/* Writes the definition as YAML (round-trips through foil_model_def_parse);
 * returns a malloc'd string. */
char *foil_model_def_to_yaml(const foil_model_def *def);

#endif
