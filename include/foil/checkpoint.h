/* safetensors checkpoints: 8-byte little-endian header length, a JSON header
 * {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {"key": "string value", ...}}, then the raw data.
 * PyTorch, NumPy and friends load these directly. Only F32 tensors are written;
 * reading accepts F32 only and validates everything against the file size. */
#ifndef FOIL_CHECKPOINT_H
#define FOIL_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "foil/error.h"
#include "foil/fileio.h"

#define FOIL_ST_MAX_DIMS 8
/* __metadata__ key of the SHA-256 (hex) of the data region, written by
 * foil_st_write and checked by foil_st_read when present */
#define FOIL_ST_DIGEST_KEY "data_sha256"
#define FOIL_ST_MAX_NAME 128

typedef struct foil_st_entry { /* one tensor to write */
    const char *name;
    int ndim;
    int64_t shape[FOIL_ST_MAX_DIMS];
    const float *data; /* prod(shape) floats (or int32 values when i32) */
    int i32;           /* written as I32 (segment maps) */
} foil_st_entry;

typedef struct foil_st_tensor { /* one tensor read */
    char name[FOIL_ST_MAX_NAME];
    int ndim;
    int64_t shape[FOIL_ST_MAX_DIMS];
    size_t count;      /* prod(shape) */
    const float *data; /* points into the file's data, aligned, native-endian */
    int i32;           /* dtype I32: data holds int32 values */
} foil_st_tensor;

typedef struct foil_safetensors {
    int ntensors;
    foil_st_tensor *tensors;
    int nmeta;
    char **meta_keys;
    char **meta_values;
    void *blob; /* owns the tensor data */
} foil_safetensors;

/* Writes atomically: "<path>.tmp.<pid>", fsync, rename, fsync of the folder.
 * On any failure the temporary file is removed and `path` is untouched.
 * meta: nmeta key/value pairs as meta[2*i], meta[2*i+1]; the SHA-256 of the
 * tensor data is added as FOIL_ST_DIGEST_KEY. */
int foil_st_write(const char *path, const foil_st_entry *entries, int n,
                  const char *const *meta, int nmeta, foil_err *err);

/* Reads and validates the whole file. Errors name the file and the problem
 * (header length past end of file, bad JSON, unknown dtype, offsets out of
 * range, overlapping or not covering the data exactly, shape/size mismatch,
 * data not matching the recorded SHA-256, not a regular file, ...). */
int foil_st_read(const char *path, foil_safetensors *st, foil_err *err);

/* Returns the tensor with this name, or NULL. */
const foil_st_tensor *foil_st_find(const foil_safetensors *st, const char *name);

/* Returns the metadata value for key, or NULL. */
const char *foil_st_meta(const foil_safetensors *st, const char *key);

void foil_st_free(foil_safetensors *st);

#endif
