/* safetensors reader/writer and the atomic file write every output goes through.
 * Format: u64 LE header length N, N bytes of JSON, then the raw tensor data. */
#include "foil/checkpoint.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "foil safetensors I/O copies floats as-is and needs a little-endian host"
#endif

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000) /* same cap as the HF loader */
#define ST_ALIGN 64

/* Runtime twin of the #error above for compilers without __BYTE_ORDER__. */
static int host_is_le(void) {
    const uint32_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* ---------------------------------------------------------------- atomic write */

typedef struct part {
    const void *data;
    size_t len;
} part;

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { /* should not happen for regular files; avoid spinning */
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Without syncing the folder, a crash right after rename can lose the new name. */
static int sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else dir = strndup(path, (size_t)(slash - path));
    if (!dir) return -1;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e == EINVAL) return 0; /* folder fsync unsupported here: nothing to do */
    errno = e;
    return rc;
}

/* A path that exists and is not a regular file (a device such as /dev/stdout
 * or /dev/full, a FIFO) is written in place: there is nothing to replace
 * atomically, and renaming over a device node would destroy it. */
static int write_parts_special(const char *path, const part *parts, int nparts, foil_err *err) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return foil_fail(err, "%s: cannot open for writing: %s", path, strerror(errno));
    int ok = 1;
    for (int i = 0; i < nparts && ok; i++) ok = write_all(fd, parts[i].data, parts[i].len) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) ok = 0, e = errno;
    return ok ? 0 : foil_fail(err, "%s: write failed: %s", path, strerror(e));
}

/* Writes the parts to "<path>.tmp.<pid>", fsyncs and renames it over path. */
static int write_parts_atomic(const char *path, const part *parts, int nparts, foil_err *err) {
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if (S_ISDIR(sb.st_mode)) return foil_fail(err, "%s: is a folder, not a file", path);
        return write_parts_special(path, parts, nparts, err);
    }
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (!tmp) return foil_fail(err, "%s: out of memory", path);
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* only a dead process with our pid can have left it */

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        foil_fail(err, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *step = "write";
    int ok = 1;
    for (int i = 0; i < nparts && ok; i++) ok = write_all(fd, parts[i].data, parts[i].len) == 0;
    if (ok) {
        step = "fsync";
        ok = fsync(fd) == 0;
    }
    int e = errno;
    /* close can report deferred write errors (NFS, quota), so its result counts */
    if (close(fd) != 0 && ok) {
        step = "close";
        ok = 0;
        e = errno;
    }
    if (ok) {
        step = "rename";
        ok = rename(tmp, path) == 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return foil_fail(err, "%s: %s failed: %s", path, step, strerror(e));
    }
    free(tmp);
    /* The new file is in place; a failure here only means it may not be durable. */
    if (sync_parent_dir(path) != 0)
        return foil_fail(err, "%s: written, but fsync of its folder failed: %s", path,
                         strerror(errno));
    return 0;
}

int foil_write_file_atomic(const char *path, const void *data, size_t len, foil_err *err) {
    part p = {data, len};
    return write_parts_atomic(path, &p, 1, err);
}

/* ---------------------------------------------------------------------- write */

static int entry_bytes(const char *path, const foil_st_entry *e, size_t *bytes, foil_err *err) {
    if (!e->name || !*e->name || strlen(e->name) >= FOIL_ST_MAX_NAME ||
        strcmp(e->name, "__metadata__") == 0)
        return foil_fail(err, "%s: bad tensor name \"%s\"", path, e->name ? e->name : "(null)");
    if (e->ndim < 0 || e->ndim > FOIL_ST_MAX_DIMS)
        return foil_fail(err, "%s: tensor %s has %d dims (max %d)", path, e->name, e->ndim,
                         FOIL_ST_MAX_DIMS);
    size_t n = 1;
    for (int d = 0; d < e->ndim; d++)
        if (e->shape[d] < 0 || foil_mul_size(n, (size_t)e->shape[d], &n) != 0)
            return foil_fail(err, "%s: tensor %s has a bad shape", path, e->name);
    if (foil_mul_size(n, sizeof(float), bytes) != 0)
        return foil_fail(err, "%s: tensor %s is too large", path, e->name);
    if (n > 0 && !e->data) return foil_fail(err, "%s: tensor %s has no data", path, e->name);
    return 0;
}

/* cJSON keeps duplicate keys; a safetensors header must not have them. */
static int add_unique(cJSON *obj, const char *key, cJSON *item) {
    if (!item || cJSON_GetObjectItemCaseSensitive(obj, key) ||
        !cJSON_AddItemToObject(obj, key, item)) {
        cJSON_Delete(item);
        return -1;
    }
    return 0;
}

static cJSON *meta_json(const char *path, const char *const *meta, int nmeta, foil_err *err) {
    cJSON *m = cJSON_CreateObject();
    for (int i = 0; m && i < nmeta; i++) {
        const char *k = meta[2 * i], *v = meta[2 * i + 1];
        if (!k || !v || add_unique(m, k, cJSON_CreateString(v)) != 0) {
            foil_fail(err, "%s: metadata key %d is missing, duplicated or has no value", path, i);
            cJSON_Delete(m);
            return NULL;
        }
    }
    if (!m) foil_fail(err, "%s: out of memory", path);
    return m;
}

static int add_num(cJSON *arr, double v) {
    cJSON *x = cJSON_CreateNumber(v);
    return x && cJSON_AddItemToArray(arr, x) ? 0 : (cJSON_Delete(x), -1);
}

static cJSON *tensor_json(const foil_st_entry *e, size_t begin, size_t end) {
    cJSON *t = cJSON_CreateObject();
    int rc = cJSON_AddStringToObject(t, "dtype", "F32") ? 0 : -1;
    cJSON *shape = cJSON_AddArrayToObject(t, "shape");
    cJSON *offs = cJSON_AddArrayToObject(t, "data_offsets");
    if (!shape || !offs) rc = -1;
    /* doubles hold integers exactly up to 2^53: far beyond any real tensor */
    for (int d = 0; d < e->ndim && rc == 0; d++) rc = add_num(shape, (double)e->shape[d]);
    if (rc == 0) rc = add_num(offs, (double)begin);
    if (rc == 0) rc = add_num(offs, (double)end);
    if (rc == 0) return t;
    cJSON_Delete(t);
    return NULL;
}

/* Builds "<u64 len><json><spaces>" with 8 + len a multiple of 8; fills sizes[]. */
static char *build_header(const char *path, const foil_st_entry *entries, int n,
                          const char *const *meta, int nmeta, size_t *sizes, size_t *hlen,
                          foil_err *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return foil_fail(err, "%s: out of memory", path), NULL;
    if (nmeta > 0) { /* like the HF writer: metadata first, omitted when empty */
        cJSON *m = meta_json(path, meta, nmeta, err);
        if (!m) goto fail;
        cJSON_AddItemToObject(root, "__metadata__", m);
    }
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (entry_bytes(path, &entries[i], &sizes[i], err) != 0) goto fail;
        size_t end;
        if (foil_add_size(off, sizes[i], &end) != 0) {
            foil_fail(err, "%s: total tensor size overflows", path);
            goto fail;
        }
        cJSON *t = tensor_json(&entries[i], off, end);
        if (!t) {
            foil_fail(err, "%s: out of memory", path);
            goto fail;
        }
        if (add_unique(root, entries[i].name, t) != 0) {
            foil_fail(err, "%s: duplicate tensor name %s", path, entries[i].name);
            goto fail;
        }
        off = end;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return foil_fail(err, "%s: out of memory", path), NULL;
    size_t jlen = strlen(json), padded = (jlen + 7) / 8 * 8;
    char *buf = malloc(8 + padded);
    if (buf) {
        uint64_t le = padded; /* host is little-endian (checked) */
        memcpy(buf, &le, 8);
        memcpy(buf + 8, json, jlen);
        memset(buf + 8 + jlen, ' ', padded - jlen);
        *hlen = 8 + padded;
    } else {
        foil_fail(err, "%s: out of memory", path);
    }
    cJSON_free(json);
    return buf;
fail:
    cJSON_Delete(root);
    return NULL;
}

int foil_st_write(const char *path, const foil_st_entry *entries, int n,
                  const char *const *meta, int nmeta, foil_err *err) {
    if (!host_is_le()) return foil_fail(err, "%s: big-endian hosts are not supported", path);
    if (n < 0 || nmeta < 0 || (n > 0 && !entries) || (nmeta > 0 && !meta))
        return foil_fail(err, "%s: bad tensor or metadata list", path);
    size_t *sizes = calloc((size_t)n + 1, sizeof *sizes);
    part *parts = calloc((size_t)n + 1, sizeof *parts);
    size_t hlen = 0;
    char *hdr = sizes && parts ? build_header(path, entries, n, meta, nmeta, sizes, &hlen, err)
                               : NULL;
    int rc = -1;
    if (!sizes || !parts) foil_fail(err, "%s: out of memory", path);
    if (hdr) {
        parts[0] = (part){hdr, hlen};
        for (int i = 0; i < n; i++) parts[i + 1] = (part){entries[i].data, sizes[i]};
        rc = write_parts_atomic(path, parts, n + 1, err);
    }
    free(hdr);
    free(parts);
    free(sizes);
    return rc;
}

/* ----------------------------------------------------------------------- read */

static int read_all(int fd, void *buf, size_t len) {
    char *p = buf;
    while (len > 0) {
        ssize_t r = read(fd, p, len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) { /* the file shrank under us */
            errno = EIO;
            return -1;
        }
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* JSON numbers are doubles; accept only exact non-negative integers <= 2^53. */
static int json_uint(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!isfinite(d) || d < 0 || d != floor(d) || d > 9007199254740992.0) return -1;
    *out = (uint64_t)d;
    return 0;
}

typedef struct range { /* a tensor's bytes in the data region, for the overlap check */
    uint64_t begin, end;
    int idx;
} range;

static int parse_shape(const char *path, const char *name, const cJSON *shape,
                       foil_st_tensor *t, foil_err *err) {
    int nd = cJSON_IsArray(shape) ? cJSON_GetArraySize(shape) : -1;
    if (nd < 0 || nd > FOIL_ST_MAX_DIMS)
        return foil_fail(err, "%s: tensor %s: shape must be an array of at most %d dims", path,
                         name, FOIL_ST_MAX_DIMS);
    t->ndim = nd;
    size_t count = 1;
    int d = 0;
    for (const cJSON *v = shape->child; v; v = v->next, d++) {
        uint64_t dim;
        if (json_uint(v, &dim) != 0)
            return foil_fail(err, "%s: tensor %s: shape has a negative or non-integer dim", path,
                             name);
        if (dim > SIZE_MAX || foil_mul_size(count, (size_t)dim, &count) != 0)
            return foil_fail(err, "%s: tensor %s: shape product overflows", path, name);
        t->shape[d] = (int64_t)dim;
    }
    t->count = count;
    return 0;
}

static int parse_tensor(const char *path, const cJSON *item, uint64_t data_len,
                        foil_st_tensor *t, range *r, foil_err *err) {
    const char *name = item->string;
    if (strlen(name) >= FOIL_ST_MAX_NAME)
        return foil_fail(err, "%s: tensor name too long (%zu bytes, max %d)", path, strlen(name),
                         FOIL_ST_MAX_NAME - 1);
    snprintf(t->name, sizeof t->name, "%s", name);
    if (!cJSON_IsObject(item)) return foil_fail(err, "%s: tensor %s: not an object", path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dt)) return foil_fail(err, "%s: tensor %s: missing dtype", path, name);
    if (strcmp(dt->valuestring, "F32") != 0)
        return foil_fail(err, "%s: tensor %s: unsupported dtype %.32s (only F32)", path, name,
                         dt->valuestring);
    if (parse_shape(path, name, cJSON_GetObjectItemCaseSensitive(item, "shape"), t, err) != 0)
        return -1;
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        json_uint(offs->child, &r->begin) != 0 || json_uint(offs->child->next, &r->end) != 0)
        return foil_fail(err, "%s: tensor %s: data_offsets must be [begin, end]", path, name);
    if (r->begin > r->end || r->end > data_len)
        return foil_fail(err,
                         "%s: tensor %s: data_offsets [%llu, %llu] out of range (data is %llu bytes)",
                         path, name, (unsigned long long)r->begin, (unsigned long long)r->end,
                         (unsigned long long)data_len);
    size_t bytes;
    if (foil_mul_size(t->count, sizeof(float), &bytes) != 0 || r->end - r->begin != bytes)
        return foil_fail(err, "%s: tensor %s: shape/size mismatch (%zu elements, %llu bytes)",
                         path, name, t->count, (unsigned long long)(r->end - r->begin));
    if (r->begin % sizeof(float) != 0) /* floats must be aligned in the 64-aligned blob */
        return foil_fail(err, "%s: tensor %s: misaligned offset %llu", path, name,
                         (unsigned long long)r->begin);
    return 0;
}

static int parse_meta(const char *path, const cJSON *m, foil_safetensors *st, foil_err *err) {
    if (!cJSON_IsObject(m)) return foil_fail(err, "%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(m);
    st->meta_keys = calloc((size_t)n + 1, sizeof(char *));
    st->meta_values = calloc((size_t)n + 1, sizeof(char *));
    if (!st->meta_keys || !st->meta_values) return foil_fail(err, "%s: out of memory", path);
    for (const cJSON *v = m->child; v; v = v->next) {
        if (!cJSON_IsString(v))
            return foil_fail(err, "%s: __metadata__ value for %.64s is not a string", path,
                             v->string);
        if (foil_st_meta(st, v->string))
            return foil_fail(err, "%s: duplicate __metadata__ key %.64s", path, v->string);
        st->meta_keys[st->nmeta] = strdup(v->string);
        st->meta_values[st->nmeta] = strdup(v->valuestring);
        st->nmeta++; /* counted even on failure so foil_st_free frees both */
        if (!st->meta_keys[st->nmeta - 1] || !st->meta_values[st->nmeta - 1])
            return foil_fail(err, "%s: out of memory", path);
    }
    return 0;
}

static int cmp_range(const void *a, const void *b) {
    const range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* Holes are tolerated (the data is still well-defined); overlaps are not. */
static int check_overlap(const char *path, range *r, int n, const foil_safetensors *st,
                         foil_err *err) {
    qsort(r, (size_t)n, sizeof *r, cmp_range);
    uint64_t max_end = 0;
    int owner = -1;
    for (int i = 0; i < n; i++) {
        if (r[i].begin == r[i].end) continue; /* empty tensors occupy no bytes */
        if (owner >= 0 && r[i].begin < max_end)
            return foil_fail(err, "%s: tensors %s and %s have overlapping data_offsets", path,
                             st->tensors[owner].name, st->tensors[r[i].idx].name);
        max_end = r[i].end;
        owner = r[i].idx;
    }
    return 0;
}

static int parse_header(const char *path, const cJSON *root, uint64_t data_len,
                        foil_safetensors *st, foil_err *err) {
    if (!cJSON_IsObject(root)) return foil_fail(err, "%s: bad JSON header (not an object)", path);
    int n = cJSON_GetArraySize(root);
    st->tensors = calloc((size_t)n + 1, sizeof *st->tensors);
    range *r = calloc((size_t)n + 1, sizeof *r);
    int rc = st->tensors && r ? 0 : foil_fail(err, "%s: out of memory", path);
    for (const cJSON *it = root->child; it && rc == 0; it = it->next) {
        if (strcmp(it->string, "__metadata__") == 0) {
            rc = st->meta_keys ? foil_fail(err, "%s: duplicate __metadata__", path)
                               : parse_meta(path, it, st, err);
            continue;
        }
        if (foil_st_find(st, it->string)) {
            rc = foil_fail(err, "%s: duplicate tensor name %.64s", path, it->string);
            break;
        }
        foil_st_tensor *t = &st->tensors[st->ntensors];
        rc = parse_tensor(path, it, data_len, t, &r[st->ntensors], err);
        if (rc != 0) break;
        r[st->ntensors].idx = st->ntensors;
        t->data = (const float *)((const char *)st->blob + r[st->ntensors].begin);
        st->ntensors++;
    }
    if (rc == 0) rc = check_overlap(path, r, st->ntensors, st, err);
    free(r);
    return rc;
}

/* Reads the length word, the header (NUL-terminated) and the data into st->blob. */
static int load_file(const char *path, int fd, char **hdr, uint64_t *hlen, uint64_t *dlen,
                     foil_safetensors *st, foil_err *err) {
    struct stat sb;
    if (fstat(fd, &sb) != 0) return foil_fail(err, "%s: stat failed: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return foil_fail(err, "%s: not a regular file", path);
    uint64_t size = (uint64_t)sb.st_size;
    if (size < 8)
        return foil_fail(err, "%s: file too short (%llu bytes) for a safetensors header", path,
                         (unsigned long long)size);
    unsigned char lenb[8];
    if (read_all(fd, lenb, 8) != 0)
        return foil_fail(err, "%s: read failed: %s", path, strerror(errno));
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | lenb[i];
    if (n > size - 8)
        return foil_fail(err, "%s: header length %llu past end of file (file is %llu bytes)", path,
                         (unsigned long long)n, (unsigned long long)size);
    if (n > ST_MAX_HEADER)
        return foil_fail(err, "%s: header length %llu over the %llu byte limit", path,
                         (unsigned long long)n, (unsigned long long)ST_MAX_HEADER);
    *hlen = n;
    *dlen = size - 8 - n;
    if (*dlen > SIZE_MAX - ST_ALIGN) return foil_fail(err, "%s: file too large", path);
    *hdr = malloc((size_t)n + 1);
    /* round up so even an empty data region gets a real, aligned allocation */
    size_t cap = ((size_t)*dlen + ST_ALIGN) / ST_ALIGN * ST_ALIGN;
    if (!*hdr || posix_memalign(&st->blob, ST_ALIGN, cap) != 0) {
        st->blob = NULL; /* posix_memalign leaves it unspecified on failure */
        return foil_fail(err, "%s: out of memory", path);
    }
    if (read_all(fd, *hdr, (size_t)n) != 0 || read_all(fd, st->blob, (size_t)*dlen) != 0)
        return foil_fail(err, "%s: read failed: %s", path, strerror(errno));
    (*hdr)[n] = 0;
    return 0;
}

int foil_st_read(const char *path, foil_safetensors *st, foil_err *err) {
    memset(st, 0, sizeof *st);
    if (!host_is_le()) return foil_fail(err, "%s: big-endian hosts are not supported", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return foil_fail(err, "%s: cannot open: %s", path, strerror(errno));
    char *hdr = NULL;
    uint64_t hlen = 0, dlen = 0;
    int rc = load_file(path, fd, &hdr, &hlen, &dlen, st, err);
    close(fd);
    if (rc == 0) {
        const char *end = NULL;
        /* require_null_terminated: only whitespace may follow the JSON object */
        cJSON *root = strlen(hdr) == hlen ? cJSON_ParseWithOpts(hdr, &end, 1) : NULL;
        rc = root ? parse_header(path, root, dlen, st, err)
                  : foil_fail(err, "%s: bad JSON header", path);
        cJSON_Delete(root);
    }
    free(hdr);
    if (rc != 0) foil_st_free(st);
    return rc;
}

const foil_st_tensor *foil_st_find(const foil_safetensors *st, const char *name) {
    for (int i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *foil_st_meta(const foil_safetensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}

void foil_st_free(foil_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    free(st->tensors);
    free(st->blob);
    memset(st, 0, sizeof *st);
}
