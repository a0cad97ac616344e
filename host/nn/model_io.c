/* Model checkpoints as safetensors: parameters as PyTorch nn.Sequential names
 * ("0.weight", "0.bias", ...) and the model definition in __metadata__. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/checkpoint.h"
#include "foil/hash.h"
#include "foil/model.h"
#include "foil/model_def.h"

int foil_model_save(const char *path, const foil_model *m, const float *params_host,
                    const char *const *meta, int nmeta, foil_err *err) {
    int nt = foil_model_param_tensor(m, -1, NULL, 0, NULL, NULL, NULL, NULL);
    foil_st_entry *entries = calloc((size_t)nt + 1, sizeof *entries);
    char (*names)[64] = calloc((size_t)nt + 1, sizeof *names);
    const char **kv = calloc(2 * (size_t)nmeta + 2, sizeof *kv);
    char *def_yaml = foil_model_def_to_yaml(&m->def);
    int rc = -1;
    if (!entries || !names || !kv || !def_yaml) {
        foil_fail(err, "%s: out of memory preparing the checkpoint", path);
        goto done;
    }
    for (int t = 0; t < nt; t++) {
        size_t off, count;
        foil_st_entry *e = &entries[t];
        foil_model_param_tensor(m, t, names[t], sizeof names[t], &e->ndim, e->shape, &off,
                                &count);
        e->name = names[t];
        e->data = params_host + off;
    }
    kv[0] = "model";
    kv[1] = def_yaml;
    for (int i = 0; i < 2 * nmeta; i++) kv[2 + i] = meta[i];
    rc = foil_st_write(path, entries, nt, kv, nmeta + 1, err);
done:
    free(entries);
    free(names);
    free(kv);
    free(def_yaml);
    return rc;
}

/* Checks that the file holds every parameter tensor of the model, with the
 * model's shapes, and copies them into params unless it is NULL. */
static int copy_params(const char *path, const foil_model *m, const foil_safetensors *st,
                       float *params, foil_err *err) {
    int nt = foil_model_param_tensor(m, -1, NULL, 0, NULL, NULL, NULL, NULL);
    if (st->ntensors != nt)
        return foil_fail(err, "%s: holds %d tensors, the model in its metadata has %d", path,
                         st->ntensors, nt);
    for (int t = 0; t < nt; t++) {
        char name[64];
        int ndim;
        int64_t shape[4];
        size_t off, count;
        foil_model_param_tensor(m, t, name, sizeof name, &ndim, shape, &off, &count);
        const foil_st_tensor *tt = foil_st_find(st, name);
        if (!tt) return foil_fail(err, "%s: tensor '%s' is missing", path, name);
        int same = tt->ndim == ndim && tt->count == count && !tt->i32;
        for (int d = 0; same && d < ndim; d++) same = tt->shape[d] == shape[d];
        if (!same)
            return foil_fail(err, "%s: tensor '%s' does not have the shape the model needs", path,
                             name);
        for (size_t i = 0; params && i < count; i++)
            if (!isfinite(tt->data[i]))
                return foil_fail(err, "%s: tensor '%s' holds %s at element %zu: a broken "
                                      "checkpoint (every result from it would be meaningless)",
                                 path, name, isnan(tt->data[i]) ? "NaN" : "an infinity", i);
        if (params) memcpy(params + off, tt->data, count * sizeof(float));
    }
    return 0;
}

int foil_model_params_sha256(const foil_model *m, const float *params,
                             char hex[FOIL_SHA256_HEX], foil_err *err) {
    float *packed = malloc(m->nvalues * sizeof(float) + 1);
    if (!packed) return foil_fail(err, "out of memory hashing %zu parameters", m->nvalues);
    foil_model_pack(m, packed, params);
    int rc = foil_sha256_hex(packed, m->nvalues * sizeof(float), hex, err);
    free(packed);
    return rc;
}

/* Files foil wrote before they recorded a digest of their data still carry
 * the start of the parameters' SHA-256 in their save id ("<step>-<32 hex>"):
 * check it. Files with a digest were checked when read; other tools' files
 * have neither. */
static int check_save_id(const char *path, const foil_safetensors *st, const foil_model *m,
                         const float *params, foil_err *err) {
    const char *id = foil_st_meta(st, "save_id"), *dash = id ? strchr(id, '-') : NULL;
    if (!dash || foil_st_meta(st, FOIL_ST_DIGEST_KEY) || strlen(dash + 1) != 32) return 0;
    char sha[FOIL_SHA256_HEX];
    if (foil_model_params_sha256(m, params, sha, err)) return -1;
    if (strncmp(sha, dash + 1, 32) != 0)
        return foil_fail(err, "%s: corrupt: the parameters do not match the SHA-256 in its "
                              "save_id (%s)", path, id);
    return 0;
}

int foil_model_load_meta(const char *path, foil_model *m, float **params_host,
                         const char *const *keys, char **values, foil_err *err) {
    foil_safetensors st;
    *params_host = NULL;
    for (int i = 0; keys && keys[i]; i++) values[i] = NULL;
    if (foil_st_read(path, &st, err)) return -1;
    int rc = -1;
    foil_config cfg = {0};
    const char *def_yaml = foil_st_meta(&st, "model");
    if (!def_yaml) {
        foil_fail(err, "%s: no 'model' entry in the metadata (not a foil checkpoint?)", path);
        goto done;
    }
    foil_model_def def;
    if (foil_config_parse(&cfg, path, def_yaml, strlen(def_yaml), err) ||
        foil_model_def_parse(&def, &cfg, cfg.root, err) ||
        foil_config_check_used(&cfg, cfg.root, err) || foil_model_build(m, &def, err)) {
        foil_fail_prefix(err, "%s: model metadata", path);
        goto done;
    }
    /* check before allocating: the metadata alone must not be able to ask
     * for gigabytes that the file does not hold */
    if (copy_params(path, m, &st, NULL, err)) goto done;
    *params_host = calloc(m->nparams + 1, sizeof(float)); /* the padding stays 0 */
    if (!*params_host) {
        foil_fail(err, "%s: out of memory for %zu parameters", path, m->nvalues);
        goto done;
    }
    if (copy_params(path, m, &st, *params_host, err) ||
        check_save_id(path, &st, m, *params_host, err))
        goto done;
    for (int i = 0; keys && keys[i]; i++) {
        const char *v = foil_st_meta(&st, keys[i]);
        if (v && !(values[i] = strdup(v))) {
            foil_fail(err, "%s: out of memory", path);
            goto done;
        }
    }
    rc = 0;
done:
    if (rc) {
        free(*params_host);
        *params_host = NULL;
        for (int i = 0; keys && keys[i]; i++) {
            free(values[i]);
            values[i] = NULL;
        }
    }
    foil_config_free(&cfg);
    foil_st_free(&st);
    return rc;
}

int foil_model_load(const char *path, foil_model *m, float **params_host, const char *meta_key,
                    char **meta_out, foil_err *err) {
    const char *keys[2] = {meta_key, NULL};
    char *values[1] = {NULL};
    int rc = foil_model_load_meta(path, m, params_host, meta_key && meta_out ? keys : NULL, values,
                                  err);
    if (meta_out) *meta_out = values[0];
    else free(values[0]);
    return rc;
}
