/* IDX files (the MNIST format): a big-endian header (magic, then one uint32 per
 * dimension) followed by unsigned bytes, gzip or raw (host/data/gz_source.c).
 * Every file is hostile until validated: the header is checked before
 * anything is allocated, and what is read and held is bounded by what the
 * header promises, by the caller's limit and by the data really there (the
 * buffers grow as a gzip stream delivers: a 36-byte file whose header
 * claims 14 GB costs nothing). Reading the whole payload also
 * checks the end: a raw file or gzip stream longer than the header says is
 * refused, as is one that ends early. With a limit below the count, only the
 * kept samples are decompressed (a raw file's length is still checked; a
 * gzip stream's end is then not read). */
#include "foil/data.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "foil/fileio.h"
#include "gz_source.h"

#define IDX_CHUNK ((size_t)1 << 16) /* payload bytes converted per read */
/* The most payload bytes foil reads from one file (after --limit): far
 * above MNIST's 47 MB and EMNIST's 550 MB; a larger honest header (100M
 * images, say) is refused before a byte is inflated, not run until the
 * memory runs out. */
#define IDX_MAX_BYTES ((size_t)4 << 30)

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
static int check_dims(const char *path, const idx_kind *k, const uint32_t *dim, size_t *per,
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
    size_t p = 1, total, bytes;
    if (k->ndim == 3 && (foil_mul_size(dim[1], dim[2], &p) != 0 || p > INT32_MAX))
        return foil_fail(err, "%s: image size %ux%u overflows", path, dim[1], dim[2]);
    if (foil_mul_size(dim[0], p, &total) != 0 || foil_mul_size(total, k->elem_out, &bytes) != 0)
        return foil_fail(err, "%s: size overflows: %u %ss of %zu bytes", path, dim[0], k->noun,
                         p);
    *per = p;
    return 0;
}

/* An open IDX file whose header has been read and checked. */
typedef struct idx_file {
    gz_source src;
    const idx_kind *kind;
    uint32_t dim[3];   /* n, rows, cols (1, 1 for labels) */
    size_t per;        /* bytes per sample */
    size_t hdr;        /* header bytes */
} idx_file;

static int idx_open(idx_file *f, const char *path, const idx_kind *k, foil_err *err) {
    memset(f, 0, sizeof *f);
    f->kind = k;
    f->hdr = 4 + 4 * (size_t)k->ndim;
    if (gz_source_open(&f->src, path, err)) return -1;
    uint8_t h[16];
    size_t got;
    int rc = gz_source_read(&f->src, h, f->hdr, &got, err);
    if (rc == 0 && got < 4) {
        rc = foil_fail(err, "%s: too short for an IDX header (%zu bytes)", path, got);
    } else if (rc == 0 && be32(h) != k->magic) {
        rc = foil_fail(err, "%s: bad magic %u (expected %u for an IDX %s file)", path, be32(h),
                       k->magic, k->noun);
    } else if (rc == 0 && got < f->hdr) {
        rc = foil_fail(err, "%s: header too short: %zu bytes, an IDX %s header is %zu", path,
                       got, k->noun, f->hdr);
    } else if (rc == 0) {
        f->dim[1] = f->dim[2] = 1;
        for (int i = 0; i < k->ndim; i++) f->dim[i] = be32(h + 4 + 4 * i);
        rc = check_dims(path, k, f->dim, &f->per, err);
    }
    /* a raw file's length is known without reading it */
    size_t count = (size_t)f->dim[0] * f->per;
    if (rc == 0 && !f->src.gzip && (uint64_t)f->src.raw_size - f->hdr != count)
        rc = foil_fail(err, "%s: %s: header says %zu bytes of %s, file has %llu", path,
                       (uint64_t)f->src.raw_size - f->hdr < count ? "truncated" : "trailing bytes",
                       count, k->unit, (unsigned long long)((uint64_t)f->src.raw_size - f->hdr));
    if (rc) gz_source_close(&f->src);
    return rc;
}

/* Where the kept payload goes: elements of `elem` bytes, converted from
 * the file's bytes by convert. The buffer grows as the data arrive (at most
 * doubling, up to what is wanted), so a header that lies about a small
 * gzip file costs no more memory than the data it really holds; a raw file,
 * whose length was checked, gets it all at once. */
typedef struct idx_out {
    void *buf;
    size_t cap, elem; /* elements allocated, bytes per element */
    void (*convert)(void *dst, const uint8_t *src, size_t n);
} idx_out;

static int reserve(idx_out *o, size_t need, size_t want, const char *path, foil_err *err) {
    if (need <= o->cap) return 0;
    size_t ncap = o->cap * 2 > IDX_CHUNK ? o->cap * 2 : IDX_CHUNK;
    if (ncap < need) ncap = need;
    if (ncap > want) ncap = want;
    void *p = realloc(o->buf, ncap * o->elem + 1);
    if (!p) return foil_fail(err, "%s: out of memory for %zu bytes", path, ncap * o->elem);
    o->buf = p;
    o->cap = ncap;
    return 0;
}

/* Reads the first `keep` samples into o; with keep == n the end of the
 * data is checked too. */
static int idx_payload(idx_file *f, size_t keep, idx_out *o, foil_err *err) {
    const char *path = f->src.path;
    size_t want = keep * f->per, count = (size_t)f->dim[0] * f->per, done = 0;
    if (want > IDX_MAX_BYTES)
        return foil_fail(err, "%s: %zu %ss of %zu bytes are more than the %zu bytes foil reads "
                              "from one file; keep fewer (--limit, data.train_limit, "
                              "data.test_limit)", path, keep, f->kind->noun, f->per, IDX_MAX_BYTES);
    uint8_t *buf = malloc(IDX_CHUNK);
    int rc = buf ? 0 : foil_fail(err, "%s: out of memory", path);
    if (rc == 0) rc = reserve(o, f->src.gzip ? 1 : want, want, path, err);
    while (rc == 0 && done < want) {
        size_t n = want - done < IDX_CHUNK ? want - done : IDX_CHUNK, got;
        rc = gz_source_read(&f->src, buf, n, &got, err);
        if (rc == 0 && got < n)
            rc = foil_fail(err, "%s: truncated: header says %zu bytes of %s, file has %zu", path,
                           count, f->kind->unit, done + got);
        if (rc == 0) rc = reserve(o, done + got, want, path, err);
        if (rc == 0) o->convert((char *)o->buf + done * o->elem, buf, got);
        done += got;
    }
    free(buf);
    int more = 0;
    if (rc == 0 && want == count && gz_source_more(&f->src, &more, err)) rc = -1;
    if (rc == 0 && more)
        rc = foil_fail(err, "%s: trailing bytes: header says %zu bytes of %s, the data go on",
                       path, count, f->kind->unit);
    return rc;
}

static size_t kept(const idx_file *f, int limit) {
    return limit > 0 && (uint32_t)limit < f->dim[0] ? (size_t)limit : f->dim[0];
}

static void to_floats(void *dst, const uint8_t *bytes, size_t n) {
    float *px = dst;
    for (size_t i = 0; i < n; i++) px[i] = (float)bytes[i] / 255.0f;
}

static void to_bytes(void *dst, const uint8_t *bytes, size_t n) { memcpy(dst, bytes, n); }

int foil_idx_read_images(const char *path, int limit, float **pixels, int *n, int *rows,
                         int *cols, foil_err *err) {
    idx_file f;
    *pixels = NULL;
    if (idx_open(&f, path, &IDX_IMAGES, err)) return -1;
    size_t keep = kept(&f, limit); /* keep * per * 4 was overflow-checked */
    idx_out o = {NULL, 0, sizeof(float), to_floats};
    int rc = idx_payload(&f, keep, &o, err);
    gz_source_close(&f.src);
    if (rc) {
        free(o.buf);
        return -1;
    }
    *pixels = o.buf;
    *n = (int)keep, *rows = (int)f.dim[1], *cols = (int)f.dim[2];
    return 0;
}

int foil_idx_read_labels(const char *path, int limit, uint8_t **labels, int *n, int *total,
                         foil_err *err) {
    idx_file f;
    *labels = NULL;
    if (idx_open(&f, path, &IDX_LABELS, err)) return -1;
    size_t keep = kept(&f, limit);
    idx_out o = {NULL, 0, 1, to_bytes};
    int rc = idx_payload(&f, keep, &o, err);
    gz_source_close(&f.src);
    if (rc) {
        free(o.buf);
        return -1;
    }
    *labels = o.buf;
    *n = (int)keep;
    if (total) *total = (int)f.dim[0];
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
static int find_file(char out[FOIL_PATH_MAX], const char *dir, const char *split,
                     const char *kind, foil_err *err) {
    char raw[FOIL_PATH_MAX];
    struct stat st;
    if (foil_path(out, err, "%s/%s-%s.gz", dir, split, kind) ||
        foil_path(raw, err, "%s/%s-%s", dir, split, kind))
        return -1;
    if (stat(out, &st) == 0) return 0;
    if (stat(raw, &st) == 0) {
        memcpy(out, raw, strlen(raw) + 1);
        return 0;
    }
    return foil_fail(err, "%s: not found (nor %s)", out, raw);
}

int foil_dataset_count(const char *dir, const char *split, int *n, foil_err *err) {
    char path[FOIL_PATH_MAX];
    idx_file f;
    if (find_file(path, dir, split, "images-idx3-ubyte", err) ||
        idx_open(&f, path, &IDX_IMAGES, err))
        return -1;
    *n = (int)f.dim[0];
    gz_source_close(&f.src);
    return 0;
}

int foil_dataset_load(foil_dataset *ds, const char *dir, const char *split, int limit,
                      foil_err *err) {
    memset(ds, 0, sizeof *ds);
    char ipath[FOIL_PATH_MAX], lpath[FOIL_PATH_MAX];
    if (find_file(ipath, dir, split, "images-idx3-ubyte", err) != 0 ||
        find_file(lpath, dir, split, "labels-idx1-ubyte", err) != 0)
        return -1;
    int nl = 0, total = 0, ni = 0;
    /* the counts first, from the headers: a mismatch costs no decompression */
    if (foil_dataset_count(dir, split, &ni, err) ||
        foil_idx_read_labels(lpath, limit, &ds->labels, &nl, &total, err))
        return -1;
    if (total != ni) {
        foil_fail(err, "%s: %d images but %s has %d labels", ipath, ni, lpath, total);
        foil_dataset_free(ds);
        return -1;
    }
    if (foil_idx_read_images(ipath, limit, &ds->images, &ds->n, &ds->rows, &ds->cols, err)) {
        foil_dataset_free(ds);
        return -1;
    }
    if (snprintf(ds->labels_path, sizeof ds->labels_path, "%s", lpath) < 0) ds->labels_path[0] = 0;
    int maxlabel = 0;
    for (int i = 0; i < nl; i++)
        if (ds->labels[i] > maxlabel) maxlabel = ds->labels[i];
    ds->classes = maxlabel + 1 > 10 ? maxlabel + 1 : 10;
    return 0;
}

int foil_dataset_check_labels(const foil_dataset *ds, int classes, foil_err *err) {
    for (int i = 0; i < ds->n; i++)
        if (ds->labels[i] >= classes)
            return foil_fail(err, "%s: sample %d has label %d, but the model has %d classes "
                                  "(0 to %d)", ds->labels_path, i, ds->labels[i], classes,
                             classes - 1);
    return 0;
}

void foil_dataset_free(foil_dataset *ds) {
    if (!ds) return;
    free(ds->images);
    free(ds->labels);
    memset(ds, 0, sizeof *ds);
}
