/* IDX files (the MNIST format): a big-endian header (magic, then one uint32 per
 * dimension) followed by unsigned bytes. gzip or raw, both read through zlib,
 * which passes non-gzip files through unchanged. Every file is hostile until
 * validated: the header is checked against the real decompressed length before
 * the float array is allocated, so a lying header cannot cost memory. */
#include "foil/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "foil/checkpoint.h"

#define IDX_CHUNK ((size_t)1 << 20)     /* 1 MiB per gzread call */
#define IDX_MAX_BYTES ((size_t)2 << 30) /* 2 GiB: far above MNIST's 47 MB */

/* Turns zlib's sticky error state into a message. Z_BUF_ERROR after the last
 * read means the gzip stream ended early (gzread reports that as a short read,
 * not as -1, so it has to be asked for). */
static int gz_status(gzFile g, const char *path, foil_err *err) {
    int code = Z_OK;
    const char *what = gzerror(g, &code);
    if (code == Z_OK) return 0;
    size_t plen = strlen(path); /* zlib prefixes its message with the path; drop it */
    if (strncmp(what, path, plen) == 0 && what[plen] == ':') what += plen + 1;
    while (*what == ' ') what++;
    if (code == Z_ERRNO) return foil_fail(err, "%s: read error: %s", path, strerror(errno));
    if (code == Z_BUF_ERROR)
        return foil_fail(err, "%s: corrupt gzip: stream truncated (%s)", path, what);
    return foil_fail(err, "%s: corrupt gzip: %s", path, what);
}

/* Grows *buf so at least one more byte fits, doubling up to IDX_MAX_BYTES + 1;
 * the extra byte lets the caller notice a stream longer than the cap. */
static int grow(uint8_t **buf, size_t *cap, const char *path, foil_err *err) {
    size_t limit = IDX_MAX_BYTES + 1;
    if (*cap >= limit)
        return foil_fail(err, "%s: decompressed data larger than the %zu-byte limit", path,
                         IDX_MAX_BYTES);
    size_t ncap = *cap ? *cap * 2 : IDX_CHUNK;
    if (ncap > limit) ncap = limit;
    uint8_t *p = realloc(*buf, ncap);
    if (!p) return foil_fail(err, "%s: out of memory reading %zu bytes", path, ncap);
    *buf = p;
    *cap = ncap;
    return 0;
}

/* Reads the whole (decompressed) file into a malloc'd buffer. */
static int read_stream(const char *path, uint8_t **out, size_t *out_len, foil_err *err) {
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return foil_fail(err, "%s: cannot open: %s", path,
                         errno ? strerror(errno) : "out of memory");
    gzbuffer(g, 1 << 17); /* 128 KiB input buffer: fewer read syscalls than 8 KiB */
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (len == cap && (rc = grow(&buf, &cap, path, err)) != 0) break;
        size_t want = cap - len < IDX_CHUNK ? cap - len : IDX_CHUNK;
        int got = gzread(g, buf + len, (unsigned)want);
        if (got <= 0) {
            rc = gz_status(g, path, err);
            break;
        }
        len += (size_t)got;
    }
    gzclose(g);
    if (rc != 0) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = len;
    return 0;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* What one kind of IDX file looks like: its magic, its dimensions, and how
 * large each element becomes in memory (to overflow-check that allocation). */
typedef struct idx_kind {
    uint32_t magic;
    int ndim;          /* 3 for images (n, rows, cols), 1 for labels (n) */
    const char *noun;  /* "image" / "label" */
    const char *unit;  /* what the payload bytes are: "pixels" / "labels" */
    size_t elem_out;   /* bytes per element after conversion */
} idx_kind;

static const idx_kind IDX_IMAGES = {FOIL_IDX_IMAGES_MAGIC, 3, "image", "pixels", sizeof(float)};
static const idx_kind IDX_LABELS = {FOIL_IDX_LABELS_MAGIC, 1, "label", "labels", 1};

/* Checks the dimensions: non-zero, n and rows*cols fit an int, and the element
 * count (and its converted size in bytes) does not overflow size_t. */
static int check_dims(const char *path, const idx_kind *k, const uint32_t *dim, size_t *count,
                      foil_err *err) {
    for (int i = 0; i < k->ndim; i++) {
        if (dim[i] != 0) continue;
        if (k->ndim == 1) return foil_fail(err, "%s: zero dimension in header (n=0)", path);
        return foil_fail(err, "%s: zero dimension in header (n=%u rows=%u cols=%u)", path,
                         dim[0], dim[1], dim[2]);
    }
    if (dim[0] > INT32_MAX)
        return foil_fail(err, "%s: header says %u %ss, more than the limit of %d", path, dim[0],
                         k->noun, INT32_MAX);
    size_t per = 1, total, bytes;
    if (k->ndim == 3 && (foil_mul_size(dim[1], dim[2], &per) != 0 || per > INT32_MAX))
        return foil_fail(err, "%s: image size %ux%u overflows", path, dim[1], dim[2]);
    if (foil_mul_size(dim[0], per, &total) != 0 || foil_mul_size(total, k->elem_out, &bytes) != 0)
        return foil_fail(err, "%s: size overflows: %u %ss of %zu bytes", path, dim[0], k->noun,
                         per);
    *count = total;
    return 0;
}

/* Reads and validates an IDX file. On success *buf holds the whole file and
 * the payload of *count bytes starts at *buf + 4 + 4*ndim. */
static int idx_load(const char *path, const idx_kind *k, uint32_t dim[3], uint8_t **buf,
                    size_t *count, foil_err *err) {
    size_t len = 0, hdr = 4 + 4 * (size_t)k->ndim;
    if (read_stream(path, buf, &len, err) != 0) return -1;
    const uint8_t *b = *buf;
    int rc = 0;
    if (len < 4) {
        rc = foil_fail(err, "%s: too short for an IDX header (%zu bytes)", path, len);
    } else if (be32(b) != k->magic) {
        rc = foil_fail(err, "%s: bad magic %u (expected %u for an IDX %s file)", path, be32(b),
                       k->magic, k->noun);
    } else if (len < hdr) {
        rc = foil_fail(err, "%s: header too short: %zu bytes, an IDX %s header is %zu", path,
                       len, k->noun, hdr);
    } else {
        dim[1] = dim[2] = 1;
        for (int i = 0; i < k->ndim; i++) dim[i] = be32(b + 4 + 4 * i);
        rc = check_dims(path, k, dim, count, err);
    }
    if (rc == 0 && len - hdr != *count)
        rc = foil_fail(err, "%s: %s: header says %zu bytes of %s, file has %zu", path,
                       len - hdr < *count ? "truncated" : "trailing bytes", *count, k->unit,
                       len - hdr);
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

int foil_idx_read_images(const char *path, float **pixels, int *n, int *rows, int *cols,
                         foil_err *err) {
    uint32_t dim[3];
    uint8_t *buf = NULL;
    size_t count = 0;
    if (idx_load(path, &IDX_IMAGES, dim, &buf, &count, err) != 0) return -1;
    float *px = malloc(count * sizeof *px); /* count*4 was overflow-checked */
    if (!px) {
        free(buf);
        return foil_fail(err, "%s: out of memory for %zu pixels", path, count);
    }
    const uint8_t *src = buf + 16;
    for (size_t i = 0; i < count; i++) px[i] = (float)src[i] / 255.0f;
    free(buf);
    *pixels = px;
    *n = (int)dim[0], *rows = (int)dim[1], *cols = (int)dim[2];
    return 0;
}

int foil_idx_read_labels(const char *path, uint8_t **labels, int *n, foil_err *err) {
    uint32_t dim[3];
    uint8_t *buf = NULL;
    size_t count = 0;
    if (idx_load(path, &IDX_LABELS, dim, &buf, &count, err) != 0) return -1;
    memmove(buf, buf + 8, count); /* reuse the buffer: labels are the payload */
    uint8_t *shrunk = realloc(buf, count);
    *labels = shrunk ? shrunk : buf;
    *n = (int)dim[0];
    return 0;
}

static uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0; /* also NaN */
    if (v >= 1.0f) return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

static void put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int foil_idx_write_images(const char *path, const float *pixels, int n, int rows, int cols,
                          foil_err *err) {
    if (n <= 0 || rows <= 0 || cols <= 0)
        return foil_fail(err, "%s: cannot write %d images of %dx%d", path, n, rows, cols);
    size_t per, count, total;
    if (foil_mul_size((size_t)rows, (size_t)cols, &per) != 0 ||
        foil_mul_size(per, (size_t)n, &count) != 0 || foil_add_size(count, 16, &total) != 0)
        return foil_fail(err, "%s: size overflows: %d images of %dx%d", path, n, rows, cols);
    uint8_t *buf = malloc(total);
    if (!buf) return foil_fail(err, "%s: out of memory for %zu bytes", path, total);
    put_be32(buf, FOIL_IDX_IMAGES_MAGIC);
    put_be32(buf + 4, (uint32_t)n);
    put_be32(buf + 8, (uint32_t)rows);
    put_be32(buf + 12, (uint32_t)cols);
    for (size_t i = 0; i < count; i++) buf[16 + i] = to_byte(pixels[i]);
    int rc = foil_write_file_atomic(path, buf, total, err);
    free(buf);
    return rc;
}

/* Finds "<dir>/<split>-<kind>[.gz]", preferring the compressed file as
 * distributed. */
static int find_file(char *out, size_t cap, const char *dir, const char *split,
                     const char *kind, foil_err *err) {
    char raw[4096];
    struct stat st;
    int a = snprintf(out, cap, "%s/%s-%s.gz", dir, split, kind);
    int b = snprintf(raw, sizeof raw, "%s/%s-%s", dir, split, kind);
    if (a < 0 || (size_t)a >= cap || b < 0 || (size_t)b >= sizeof raw)
        return foil_fail(err, "%s: path too long", dir);
    if (stat(out, &st) == 0) return 0;
    if (stat(raw, &st) == 0) {
        memcpy(out, raw, (size_t)b + 1);
        return 0;
    }
    return foil_fail(err, "%s: not found (nor %s)", out, raw);
}

/* Keeps the first `keep` samples; shrinking can only fail harmlessly. */
static void dataset_truncate(foil_dataset *ds, int keep) {
    size_t per = (size_t)ds->rows * (size_t)ds->cols;
    ds->n = keep;
    float *im = realloc(ds->images, (size_t)keep * per * sizeof *im);
    if (im) ds->images = im;
    uint8_t *lb = realloc(ds->labels, (size_t)keep);
    if (lb) ds->labels = lb;
}

int foil_dataset_load(foil_dataset *ds, const char *dir, const char *split, int limit,
                      foil_err *err) {
    memset(ds, 0, sizeof *ds);
    char ipath[4096], lpath[4096];
    if (find_file(ipath, sizeof ipath, dir, split, "images-idx3-ubyte", err) != 0 ||
        find_file(lpath, sizeof lpath, dir, split, "labels-idx1-ubyte", err) != 0)
        return -1;
    int nl = 0;
    if (foil_idx_read_images(ipath, &ds->images, &ds->n, &ds->rows, &ds->cols, err) != 0)
        return -1;
    if (foil_idx_read_labels(lpath, &ds->labels, &nl, err) != 0) {
        foil_dataset_free(ds);
        return -1;
    }
    if (nl != ds->n) {
        foil_fail(err, "%s: %d images but %s has %d labels", ipath, ds->n, lpath, nl);
        foil_dataset_free(ds);
        return -1;
    }
    /* Classes from all labels, not just the kept ones, so a --limit run builds
     * the same model shape as the full run. */
    int maxlabel = 0;
    for (int i = 0; i < nl; i++)
        if (ds->labels[i] > maxlabel) maxlabel = ds->labels[i];
    ds->classes = maxlabel + 1 > 10 ? maxlabel + 1 : 10;
    if (limit > 0 && limit < ds->n) dataset_truncate(ds, limit);
    return 0;
}

void foil_dataset_free(foil_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}
