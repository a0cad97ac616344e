/* libFuzzer target for the safetensors reader (host/io/safetensors.c) and the
 * checkpoint loader on top of it (host/nn/model_io.c). The input is one file.
 * A file that reads is checked through the accessors, written back with
 * foil_st_write and must read back to the same tensors and metadata; then
 * foil_model_load tries it as a model checkpoint. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "foil/checkpoint.h"
#include "foil/model.h"
#include "fuzz_util.h"

static char in_path[512], out_path[512];

static void remove_files(void) {
    unlink(in_path);
    unlink(out_path);
}

static void check_accessors(const foil_safetensors *st) {
    for (int i = 0; i < st->ntensors; i++) {
        const foil_st_tensor *t = &st->tensors[i];
        FUZZ_CHECK(t->ndim >= 0 && t->ndim <= FOIL_ST_MAX_DIMS, "tensor %d: %d dims", i, t->ndim);
        size_t count = 1;
        for (int d = 0; d < t->ndim; d++) count *= (size_t)t->shape[d];
        FUZZ_CHECK(count == t->count, "tensor %d: count %zu, shape gives %zu", i, t->count, count);
        FUZZ_CHECK(((uintptr_t)t->data & (sizeof(float) - 1)) == 0, "tensor %d: misaligned", i);
        uint32_t x = 0; /* read every byte as integers: the data may hold NaNs */
        for (size_t k = 0; k < t->count; k++) {
            uint32_t w;
            memcpy(&w, &t->data[k], sizeof w);
            x ^= w;
        }
        (void)x;
        FUZZ_CHECK(foil_st_find(st, t->name) == t, "tensor %d: foil_st_find finds another", i);
    }
    for (int i = 0; i < st->nmeta; i++)
        FUZZ_CHECK(foil_st_meta(st, st->meta_keys[i]) == st->meta_values[i],
                   "metadata key %d: foil_st_meta finds another", i);
}

/* foil_st_write refuses an empty tensor name, which the reader accepts. */
static int writable(const foil_safetensors *st) {
    for (int i = 0; i < st->ntensors; i++)
        if (!st->tensors[i].name[0]) return 0;
    return 1;
}

static void check_round_trip(const foil_safetensors *st) {
    foil_st_entry *e = calloc((size_t)st->ntensors + 1, sizeof *e);
    const char **kv = calloc(2 * (size_t)st->nmeta + 1, sizeof *kv);
    FUZZ_CHECK(e && kv, "harness: out of memory");
    for (int i = 0; i < st->ntensors; i++) {
        const foil_st_tensor *t = &st->tensors[i];
        e[i].name = t->name;
        e[i].ndim = t->ndim;
        memcpy(e[i].shape, t->shape, sizeof t->shape);
        e[i].data = t->data;
        e[i].i32 = t->i32;
    }
    for (int i = 0; i < st->nmeta; i++) {
        kv[2 * i] = st->meta_keys[i];
        kv[2 * i + 1] = st->meta_values[i];
    }
    foil_err err = {{0}};
    int rc = foil_st_write(out_path, e, st->ntensors, kv, st->nmeta, &err);
    FUZZ_CHECK(rc == 0, "writing back a file that read failed: %s", err.msg);
    foil_safetensors back;
    rc = foil_st_read(out_path, &back, &err);
    FUZZ_CHECK(rc == 0, "reading back a written file failed: %s", err.msg);
    /* the writer adds the digest of the data when the file had none */
    int added = foil_st_meta(st, FOIL_ST_DIGEST_KEY) == NULL;
    FUZZ_CHECK(back.ntensors == st->ntensors && back.nmeta == st->nmeta + added,
               "read back %d tensors and %d metadata keys, wrote %d and %d (+%d)", back.ntensors,
               back.nmeta, st->ntensors, st->nmeta, added);
    for (int i = 0; i < st->ntensors; i++) {
        const foil_st_tensor *t = &st->tensors[i], *b = foil_st_find(&back, t->name);
        FUZZ_CHECK(b && b->ndim == t->ndim && b->count == t->count &&
                       memcmp(b->shape, t->shape, (size_t)t->ndim * sizeof t->shape[0]) == 0 &&
                       memcmp(b->data, t->data, t->count * sizeof(float)) == 0,
                   "tensor %d changed in a round trip", i);
    }
    for (int i = 0; i < st->nmeta; i++) {
        const char *v = foil_st_meta(&back, st->meta_keys[i]);
        FUZZ_CHECK(v && strcmp(v, st->meta_values[i]) == 0,
                   "metadata key %d changed in a round trip", i);
    }
    foil_st_free(&back);
    free(kv);
    free(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!in_path[0]) {
        fuzz_tmp_path(in_path, sizeof in_path, "st-in");
        fuzz_tmp_path(out_path, sizeof out_path, "st-out");
        atexit(remove_files);
    }
    fuzz_write_file(in_path, data, size);

    foil_err err = {{0}};
    foil_safetensors st;
    if (foil_st_read(in_path, &st, &err) == 0) {
        check_accessors(&st);
        if (writable(&st)) check_round_trip(&st);
        foil_st_free(&st);
    } else {
        fuzz_check_err(&err, "foil_st_read");
        FUZZ_CHECK(!st.tensors && !st.meta_keys && !st.blob, "a failed read left memory behind");
    }

    err.msg[0] = 0;
    foil_model m;
    float *params = NULL;
    char *extra = NULL;
    if (foil_model_load(in_path, &m, &params, "epoch", &extra, &err) == 0) {
        FUZZ_CHECK(params && m.nparams > 0, "model loaded without parameters");
        free(params);
        free(extra);
    } else {
        fuzz_check_err(&err, "foil_model_load");
        FUZZ_CHECK(!params && !extra, "a failed load returned memory");
    }
    return 0;
}
