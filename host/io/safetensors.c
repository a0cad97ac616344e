/* safetensors reader and writer. Format: u64 LE header length N, N bytes of
 * JSON, then the raw tensor data, every byte of it belonging to a tensor. */
#include "foil/checkpoint.h"

#include "foil/hash.h"

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

/* The caller's metadata, then the digest of the data (one the caller passed
 * on, copying another file's metadata, is replaced). */
static cJSON *meta_json(const char *path, const char *const *meta, int nmeta, const char *digest,
                        foil_err *err) {
    cJSON *m = cJSON_CreateObject();
    for (int i = 0; m && i <= nmeta; i++) {
        const char *k = i < nmeta ? meta[2 * i] : FOIL_ST_DIGEST_KEY;
        const char *v = i < nmeta ? meta[2 * i + 1] : digest;
        if (i < nmeta && k && strcmp(k, FOIL_ST_DIGEST_KEY) == 0) continue;
        if (!k || !v || add_unique(m, k, cJSON_CreateString(v)) != 0) {
            foil_fail(err, "%s: metadata key %d (%s) is missing, duplicated or has no value",
                      path, i, k ? k : "?");
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
    int rc = cJSON_AddStringToObject(t, "dtype", e->i32 ? "I32" : "F32") ? 0 : -1;
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
                          const char *const *meta, int nmeta, const char *digest, size_t *sizes,
                          size_t *hlen, foil_err *err) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return foil_fail(err, "%s: out of memory", path), NULL;
    cJSON *m = meta_json(path, meta, nmeta, digest, err); /* first, like the HF writer */
    if (!m) goto fail;
    cJSON_AddItemToObject(root, "__metadata__", m);
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

/* SHA-256 of the data region as it will be written: the tensors in order. */
static int data_digest(const char *path, const foil_st_entry *entries, int n,
                       char hex[FOIL_SHA256_HEX], foil_err *err) {
    foil_sha256 h;
    if (foil_sha256_begin(&h, err)) return -1;
    for (int i = 0; i < n; i++) {
        size_t bytes;
        if (entry_bytes(path, &entries[i], &bytes, err) ||
            foil_sha256_add(&h, entries[i].data, bytes, err)) {
            foil_sha256_free(&h);
            return -1;
        }
    }
    return foil_sha256_end(&h, hex, err);
}

int foil_st_write(const char *path, const foil_st_entry *entries, int n,
                  const char *const *meta, int nmeta, foil_err *err) {
    if (!host_is_le()) return foil_fail(err, "%s: big-endian hosts are not supported", path);
    if (n < 0 || nmeta < 0 || (n > 0 && !entries) || (nmeta > 0 && !meta))
        return foil_fail(err, "%s: bad tensor or metadata list", path);
    size_t *sizes = calloc((size_t)n + 1, sizeof *sizes);
    foil_part *parts = calloc((size_t)n + 1, sizeof *parts);
    size_t hlen = 0;
    char digest[FOIL_SHA256_HEX];
    char *hdr = sizes && parts && data_digest(path, entries, n, digest, err) == 0
                    ? build_header(path, entries, n, meta, nmeta, digest, sizes, &hlen, err)
                    : NULL;
    int rc = -1;
    if (!sizes || !parts) foil_fail(err, "%s: out of memory", path);
    if (hdr) {
        parts[0] = (foil_part){hdr, hlen};
        for (int i = 0; i < n; i++) parts[i + 1] = (foil_part){entries[i].data, sizes[i]};
        rc = foil_write_parts_atomic(path, parts, n + 1, err);
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
    t->i32 = strcmp(dt->valuestring, "I32") == 0;
    if (strcmp(dt->valuestring, "F32") != 0 && !t->i32)
        return foil_fail(err, "%s: tensor %s: unsupported dtype %.32s (only F32 and I32)", path,
                         name, dt->valuestring);
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

/* The tensors must tile the data region exactly, as the safetensors format
 * requires: no overlap, no hole, nothing after the last tensor. A header
 * length a few bytes short (every tensor shifted) or bytes appended to the
 * file show up here. */
static int check_layout(const char *path, range *r, int n, uint64_t data_len,
                        const foil_safetensors *st, foil_err *err) {
    qsort(r, (size_t)n, sizeof *r, cmp_range);
    uint64_t end = 0;
    int owner = -1;
    for (int i = 0; i < n; i++) {
        if (r[i].begin == r[i].end) continue; /* empty tensors occupy no bytes */
        if (r[i].begin < end)
            return foil_fail(err, "%s: tensors %s and %s have overlapping data_offsets", path,
                             st->tensors[owner].name, st->tensors[r[i].idx].name);
        if (r[i].begin > end)
            return foil_fail(err, "%s: %llu bytes before tensor %s belong to no tensor (a "
                                  "corrupt header?)", path,
                             (unsigned long long)(r[i].begin - end), st->tensors[r[i].idx].name);
        end = r[i].end;
        owner = r[i].idx;
    }
    if (end != data_len)
        return foil_fail(err, "%s: %llu bytes after the last tensor (the data region is %llu "
                              "bytes, the tensors end at %llu): truncated header or trailing "
                              "data", path, (unsigned long long)(data_len - end),
                         (unsigned long long)data_len, (unsigned long long)end);
    return 0;
}

/* When the file records the SHA-256 of its data (every file foil writes),
 * the data must match it; files of other tools have none and load as they are. */
static int check_digest(const char *path, const foil_safetensors *st, uint64_t data_len,
                        foil_err *err) {
    const char *want = foil_st_meta(st, FOIL_ST_DIGEST_KEY);
    if (!want) return 0;
    char got[FOIL_SHA256_HEX];
    if (foil_sha256_hex(st->blob, (size_t)data_len, got, err)) return -1;
    if (strcmp(got, want) != 0)
        return foil_fail(err, "%s: corrupt: the tensor data do not match the SHA-256 recorded "
                              "in the file (%.16s... recorded, %.16s... found)", path, want, got);
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
    if (rc == 0) rc = check_layout(path, r, st->ntensors, data_len, st, err);
    if (rc == 0) rc = check_digest(path, st, data_len, err);
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
    int fd = foil_open_read(path, 0, err);
    if (fd < 0) return -1;
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
