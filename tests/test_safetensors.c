/* safetensors: round trip, on-disk layout, atomic writes, and a hand-built
 * malformed file for every check the reader makes. */
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foil/checkpoint.h"

/* Error messages must be one line naming the file and the problem. */
static void check_msg(const char *msg, const char *path, const char *word) {
    TU_CHECK(strstr(msg, path) == msg, "message should start with %s: %s", path, msg);
    TU_CHECK(strstr(msg, word) != NULL, "message should mention '%s': %s", word, msg);
    TU_CHECK(strchr(msg, '\n') == NULL, "message is not one line: %s", msg);
}

/* No "<name>.tmp.<pid>" may survive a write, failed or not. */
static int count_temp_files(void) {
    DIR *d = opendir(tu_tmpdir());
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static void fill(float *x, int n, float a, float b) {
    for (int i = 0; i < n; i++) x[i] = a * (float)i + b;
}

static void test_round_trip(void) {
    float w[24], b[4], s[1] = {3.25f};
    fill(w, 24, 0.5f, -3.0f);
    /* bit patterns a text round trip would lose */
    b[0] = -0.0f;
    b[1] = 1e-45f; /* denormal */
    b[2] = INFINITY;
    b[3] = NAN;
    foil_st_entry e[] = {
        {.name = "conv1.weight", .ndim = 3, .shape = {2, 3, 4}, .data = w},
        {.name = "conv1.bias", .ndim = 1, .shape = {4}, .data = b},
        {.name = "scalar", .ndim = 0, .data = s},
        {.name = "empty", .ndim = 2, .shape = {0, 5}, .data = NULL},
    };
    const char *meta[] = {"model", "conv(8)->relu->dense(10)", "epochs", "3"};
    char path[1024];
    tu_path(path, sizeof path, "rt.safetensors");
    foil_err err = {{0}};
    TU_CHECK(foil_st_write(path, e, 4, meta, 2, &err) == 0, "write: %s", err.msg);

    foil_safetensors st;
    TU_CHECK(foil_st_read(path, &st, &err) == 0, "read: %s", err.msg);
    TU_CHECK(st.ntensors == 4, "ntensors %d", st.ntensors);
    for (int i = 0; i < st.ntensors && i < 4; i++) {
        const foil_st_tensor *t = &st.tensors[i];
        TU_CHECK(strcmp(t->name, e[i].name) == 0, "order: %s vs %s", t->name, e[i].name);
        TU_CHECK(t->ndim == e[i].ndim, "%s ndim %d", t->name, t->ndim);
        for (int d = 0; d < t->ndim; d++)
            TU_CHECK(t->shape[d] == e[i].shape[d], "%s dim %d", t->name, d);
        TU_CHECK((uintptr_t)t->data % sizeof(float) == 0, "%s misaligned", t->name);
        if (e[i].data)
            TU_CHECK(memcmp(t->data, e[i].data, t->count * sizeof(float)) == 0, "%s bits", t->name);
    }
    TU_CHECK(st.tensors[0].count == 24 && (uintptr_t)st.tensors[0].data % 64 == 0, "w blob");
    const foil_st_tensor *sc = foil_st_find(&st, "scalar");
    TU_CHECK(sc && sc->ndim == 0 && sc->count == 1 && sc->data[0] == 3.25f, "scalar");
    const foil_st_tensor *em = foil_st_find(&st, "empty");
    TU_CHECK(em && em->count == 0, "empty tensor");
    TU_CHECK(foil_st_find(&st, "nope") == NULL, "find missing");
    TU_CHECK(st.nmeta == 3, "nmeta %d (two given, one digest)", st.nmeta);
    TU_CHECK(foil_st_meta(&st, FOIL_ST_DIGEST_KEY) &&
                 strlen(foil_st_meta(&st, FOIL_ST_DIGEST_KEY)) == 64,
             "the data's SHA-256 is recorded");
    const char *m = foil_st_meta(&st, "model");
    TU_CHECK(m && strcmp(m, meta[1]) == 0, "meta model: %s", m ? m : "(null)");
    TU_CHECK(foil_st_meta(&st, "missing") == NULL, "meta missing");
    foil_st_free(&st);
    TU_CHECK(st.tensors == NULL && st.blob == NULL && st.ntensors == 0, "free zeroes");
}

static void test_layout(void) {
    float x[3] = {1, 2, 3};
    foil_st_entry e = {.name = "x", .ndim = 1, .shape = {3}, .data = x};
    char path[1024];
    tu_path(path, sizeof path, "layout.safetensors");
    foil_err err = {{0}};
    TU_CHECK(foil_st_write(path, &e, 1, NULL, 0, &err) == 0, "write: %s", err.msg);
    unsigned char buf[4096];
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    TU_CHECK(n > 8, "file read");
    uint64_t len = 0;
    for (int i = 7; i >= 0 && n > 8; i--) len = len << 8 | buf[i];
    TU_CHECK(n > 8 && buf[8] == '{', "header starts with '{'");
    TU_CHECK((8 + len) % 8 == 0, "8 + header length %llu is not a multiple of 8",
             (unsigned long long)len);
    TU_CHECK(n == 8 + len + sizeof x, "file size %zu", n);
    TU_CHECK(n == 8 + len + sizeof x && memcmp(buf + 8 + len, x, sizeof x) == 0, "raw data");
}

static void test_atomic(void) {
    char path[1024];
    tu_write_file(path, sizeof path, "replace.bin", "old contents", 12);
    foil_err err = {{0}};
    TU_CHECK(foil_write_file_atomic(path, "new", 3, &err) == 0, "write: %s", err.msg);
    char buf[32] = {0};
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (f) fclose(f);
    TU_CHECK(n == 3 && memcmp(buf, "new", 3) == 0, "target replaced (%zu bytes)", n);
    TU_CHECK(count_temp_files() == 0, "temp file left behind");

    tu_path(path, sizeof path, "no_such_dir/x.safetensors");
    TU_CHECK(foil_write_file_atomic(path, "x", 1, &err) == -1, "missing folder");
    check_msg(err.msg, path, "No such file");

    /* a folder as the target is refused before any temporary file is written */
    char dir[1024], inner[1024];
    tu_path(dir, sizeof dir, "target_is_dir");
    TU_CHECK(mkdir(dir, 0755) == 0, "mkdir");
    tu_write_file(inner, sizeof inner, "target_is_dir/keep", "k", 1);
    TU_CHECK(foil_write_file_atomic(dir, "x", 1, &err) == -1, "writing onto a folder fails");
    check_msg(err.msg, dir, "folder");
    TU_CHECK(count_temp_files() == 0, "temp file left after a refused write");

    if (geteuid() == 0) { /* root ignores folder permissions: use a file as a folder */
        char file[1024];
        tu_write_file(file, sizeof file, "file.txt", "f", 1);
        tu_path(path, sizeof path, "file.txt/x");
        TU_CHECK(foil_write_file_atomic(path, "x", 1, &err) == -1, "path inside a file");
        check_msg(err.msg, path, "Not a directory");
    } else {
        tu_path(dir, sizeof dir, "readonly");
        TU_CHECK(mkdir(dir, 0555) == 0, "mkdir readonly");
        tu_path(path, sizeof path, "readonly/x.safetensors");
        TU_CHECK(foil_write_file_atomic(path, "x", 1, &err) == -1, "read-only folder");
        check_msg(err.msg, path, "Permission denied");
        TU_CHECK(access(path, F_OK) != 0, "nothing written in read-only folder");
        chmod(dir, 0755);
    }
    TU_CHECK(count_temp_files() == 0, "temp file left after failure");
}

static void test_bad_writes(void) {
    float x[2] = {0};
    char path[1024];
    tu_path(path, sizeof path, "badwrite.safetensors");
    foil_err err = {{0}};
    foil_st_entry dup[2] = {{.name = "a", .ndim = 1, .shape = {2}, .data = x},
                            {.name = "a", .ndim = 1, .shape = {2}, .data = x}};
    TU_CHECK(foil_st_write(path, dup, 2, NULL, 0, &err) == -1, "duplicate name written");
    check_msg(err.msg, path, "duplicate");
    foil_st_entry neg = {.name = "a", .ndim = 1, .shape = {-2}, .data = x};
    TU_CHECK(foil_st_write(path, &neg, 1, NULL, 0, &err) == -1, "negative shape written");
    check_msg(err.msg, path, "shape");
    foil_st_entry deep = {.name = "a", .ndim = FOIL_ST_MAX_DIMS + 1, .data = x};
    TU_CHECK(foil_st_write(path, &deep, 1, NULL, 0, &err) == -1, "too many dims written");
    check_msg(err.msg, path, "dims");
    const char *meta[] = {"k", "1", "k", "2"};
    TU_CHECK(foil_st_write(path, dup, 1, meta, 2, &err) == -1, "duplicate meta key written");
    check_msg(err.msg, path, "metadata");
    TU_CHECK(access(path, F_OK) != 0, "a rejected write created the file");
    TU_CHECK(count_temp_files() == 0, "temp file left after rejected write");
}

/* Builds "<len><json><data_len zero bytes>" with an explicit length word. */
static void write_raw(char *path, size_t cap, const char *name, uint64_t len, const char *json,
                      size_t data_len) {
    size_t jl = strlen(json), total = 8 + jl + data_len;
    unsigned char *buf = calloc(1, total);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(len >> (8 * i));
    memcpy(buf + 8, json, jl);
    tu_write_file(path, cap, name, buf, total);
    free(buf);
}

static void expect_bad(const char *json, size_t data_len, const char *word) {
    char path[1024];
    write_raw(path, sizeof path, "bad.safetensors", strlen(json), json, data_len);
    foil_safetensors st;
    foil_err err = {{0}};
    TU_CHECK(foil_st_read(path, &st, &err) == -1, "accepted %s", json);
    check_msg(err.msg, path, word);
    TU_CHECK(st.ntensors == 0 && st.blob == NULL && st.nmeta == 0, "not zeroed on failure");
}

#define T(body) "{\"a\":{" body "}}"

static void test_malformed(void) {
    char path[1024];
    foil_safetensors st;
    foil_err err = {{0}};
    write_raw(path, sizeof path, "past.safetensors", 1000, "{}", 8);
    TU_CHECK(foil_st_read(path, &st, &err) == -1, "length past end");
    check_msg(err.msg, path, "past end of file");
    write_raw(path, sizeof path, "huge.safetensors", UINT64_MAX, "{}", 0);
    TU_CHECK(foil_st_read(path, &st, &err) == -1, "huge length");
    check_msg(err.msg, path, "past end of file");
    tu_write_file(path, sizeof path, "short.safetensors", "\x02\0\0\0\0", 5);
    TU_CHECK(foil_st_read(path, &st, &err) == -1, "short file");
    check_msg(err.msg, path, "too short");
    /* a sparse file big enough to hold a header over the 100 MB cap */
    write_raw(path, sizeof path, "cap.safetensors", 100000001, "{}", 0);
    TU_CHECK(truncate(path, 8 + 100000001) == 0, "truncate");
    TU_CHECK(foil_st_read(path, &st, &err) == -1, "header over cap");
    check_msg(err.msg, path, "limit");
    unlink(path); /* sparse, but looks like 100 MB to anyone listing the folder */
    tu_path(path, sizeof path, "does_not_exist.safetensors");
    TU_CHECK(foil_st_read(path, &st, &err) == -1, "missing file");
    check_msg(err.msg, path, "No such file");

    expect_bad("{\"a\": ", 0, "bad JSON");
    expect_bad("{} trailing", 0, "bad JSON");
    expect_bad("[1, 2]", 0, "bad JSON");
    expect_bad("", 0, "bad JSON");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 4, "out of range");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]"), 8, "out of range");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), 8, "data_offsets");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), 8, "mismatch");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]"), 4, "negative");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]"), 4, "non-integer");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992],"
                 "\"data_offsets\":[0,4]"), 4, "overflow");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]"), 4,
               "dims");
    expect_bad(T("\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]"), 4, "F16");
    expect_bad(T("\"shape\":[2],\"data_offsets\":[0,8]"), 8, "dtype");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]"), 8, "misaligned");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "duplicate");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, "not a string");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap");
    /* the tensors must tile the data exactly (as the format requires) */
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12,
               "belong to no tensor");
    expect_bad(T("\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]"), 7,
               "after the last tensor");
    char longname[FOIL_ST_MAX_NAME + 64];
    snprintf(longname, sizeof longname, "{\"%0*d\":{}}", FOIL_ST_MAX_NAME, 0);
    expect_bad(longname, 0, "too long");
}

static void test_accepted(void) {
    /* trailing spaces pad the header; no digest (another tool's file) loads */
    char path[1024];
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}   ";
    write_raw(path, sizeof path, "padded.safetensors", strlen(json), json, 8);
    foil_safetensors st;
    foil_err err = {{0}};
    TU_CHECK(foil_st_read(path, &st, &err) == 0, "padded: %s", err.msg);
    TU_CHECK(st.ntensors == 2 && foil_st_find(&st, "b") && foil_st_find(&st, "b")->data[0] == 0,
             "padded content");
    foil_st_free(&st);
    write_raw(path, sizeof path, "empty.safetensors", 2, "{}", 0);
    TU_CHECK(foil_st_read(path, &st, &err) == 0 && st.ntensors == 0, "empty: %s", err.msg);
    foil_st_free(&st);
}

/* Reads our file the way any Python tool would: struct + json (+ numpy). */
static const char *py_reader =
    "import json, struct, sys\n"
    "raw = open(sys.argv[1], 'rb').read()\n"
    "n, = struct.unpack('<Q', raw[:8])\n"
    "assert (8 + n) % 8 == 0\n"
    "h = json.loads(raw[8:8 + n])\n"
    "t = h['w']\n"
    "assert t['dtype'] == 'F32' and t['shape'] == [3, 5]\n"
    "b, e = t['data_offsets']\n"
    "data = raw[8 + n + b:8 + n + e]\n"
    "import hashlib\n"
    "digest = hashlib.sha256(raw[8 + n:]).hexdigest()\n"
    "assert h['__metadata__'] == {'format': 'pt', 'data_sha256': digest}, h['__metadata__']\n"
    "try:\n"
    "    import numpy as np\n"
    "    v = np.frombuffer(data, dtype='<f4').reshape(t['shape']).ravel().tolist()\n"
    "except ImportError:\n"
    "    v = list(struct.unpack('<15f', data))\n"
    "assert v == [0.25 * i - 1 for i in range(15)], v\n";

static void test_python(void) {
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        printf("python3 not found: skipping the Python reader check\n");
        return;
    }
    float w[15];
    fill(w, 15, 0.25f, -1.0f);
    foil_st_entry e = {.name = "w", .ndim = 2, .shape = {3, 5}, .data = w};
    const char *meta[] = {"format", "pt"};
    char path[1024], script[1024], cmd[4096];
    tu_path(path, sizeof path, "py.safetensors");
    foil_err err = {{0}};
    TU_CHECK(foil_st_write(path, &e, 1, meta, 1, &err) == 0, "write: %s", err.msg);
    tu_write_file(script, sizeof script, "read_st.py", py_reader, strlen(py_reader));
    snprintf(cmd, sizeof cmd, "python3 '%s' '%s'", script, path);
    TU_CHECK(system(cmd) == 0, "python reader rejected %s", path);
}

int main(void) {
    test_round_trip();
    test_layout();
    test_atomic();
    test_bad_writes();
    test_malformed();
    test_accepted();
    test_python();
    return tu_finish("test_safetensors");
}
