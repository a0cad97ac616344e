/* IDX reading/writing, data set loading and fetching: good files round-trip
 * exactly; every kind of bad file gives -1 and a one-line message that starts
 * with the file's path and says what is wrong. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foil/data.h"
#include "testutil.h"

/* Builds an IDX file in memory: magic, ndim big-endian dims, payload. */
static size_t build_idx(uint8_t *out, uint32_t magic, int ndim, const uint32_t *dims,
                        const uint8_t *payload, size_t len) {
    uint32_t words[4] = {magic, dims[0], ndim > 1 ? dims[1] : 0, ndim > 2 ? dims[2] : 0};
    for (int w = 0; w <= ndim; w++)
        for (int b = 0; b < 4; b++) out[4 * w + b] = (uint8_t)(words[w] >> (24 - 8 * b));
    if (len) memcpy(out + 4 + 4 * ndim, payload, len);
    return 4 + 4 * (size_t)ndim + len;
}

/* Writes an image file with the given header and payload; path in out. */
static void write_images(char *out, const char *name, int gz, uint32_t magic, uint32_t n,
                         uint32_t rows, uint32_t cols, const uint8_t *payload, size_t len) {
    uint8_t *buf = malloc(16 + len);
    uint32_t dims[3] = {n, rows, cols};
    size_t total = build_idx(buf, magic, 3, dims, payload, len);
    if (gz) tu_write_gz(out, 1024, name, buf, total);
    else tu_write_file(out, 1024, name, buf, total);
    free(buf);
}

static void write_labels(char *out, const char *name, int gz, uint32_t magic, uint32_t n,
                         const uint8_t *payload, size_t len) {
    uint8_t *buf = malloc(8 + len);
    size_t total = build_idx(buf, magic, 1, &n, payload, len);
    if (gz) tu_write_gz(out, 1024, name, buf, total);
    else tu_write_file(out, 1024, name, buf, total);
    free(buf);
}

static void fill_bytes(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u; /* LCG: varied, incompressible-ish bytes */
        p[i] = (uint8_t)(seed >> 24);
    }
    if (n > 1) p[0] = 0, p[1] = 255; /* make sure both ends of the range appear */
}

/* A failure must return -1 with one line that starts with `path` and has `word`. */
static void expect_fail(int line, int rc, const foil_err *err, const char *path,
                        const char *word) {
    TU_CHECK(rc == -1, "line %d: expected failure, got %d", line, rc);
    TU_CHECK(strncmp(err->msg, path, strlen(path)) == 0, "line %d: message does not start "
             "with %s: %s", line, path, err->msg);
    TU_CHECK(strstr(err->msg, word) != NULL, "line %d: no '%s' in: %s", line, word, err->msg);
    TU_CHECK(strchr(err->msg, '\n') == NULL, "line %d: not one line: %s", line, err->msg);
}
#define EXPECT_FAIL(rc, err, path, word) expect_fail(__LINE__, rc, err, path, word)

static int read_whole(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (int)n;
}

static void test_images_roundtrip(void) {
    enum { N = 3, R = 4, C = 5, P = N * R * C };
    uint8_t px[P], file[16 + P], back[16 + P + 1];
    fill_bytes(px, P, 7);
    for (int gz = 0; gz < 2; gz++) {
        char path[1024];
        write_images(path, gz ? "img.gz" : "img", gz, FOIL_IDX_IMAGES_MAGIC, N, R, C, px, P);
        float *v = NULL;
        int n = 0, rows = 0, cols = 0;
        foil_err err = {{0}};
        TU_CHECK(foil_idx_read_images(path, 0, &v, &n, &rows, &cols, &err) == 0, "%s", err.msg);
        TU_CHECK(n == N && rows == R && cols == C, "got %dx%dx%d", n, rows, cols);
        int bad = 0;
        for (int i = 0; v && i < P; i++) bad += v[i] != (float)px[i] / 255.0f;
        TU_CHECK(v && bad == 0, "%d pixels differ (gz=%d)", bad, gz);

        /* Written back, the file is byte for byte the one we built. */
        char out[1024];
        tu_path(out, sizeof out, gz ? "img_back_gz" : "img_back");
        TU_CHECK(v && foil_idx_write_images(out, v, n, rows, cols, &err) == 0, "%s", err.msg);
        size_t flen = build_idx(file, FOIL_IDX_IMAGES_MAGIC, 3, (uint32_t[]){N, R, C}, px, P);
        int blen = read_whole(out, back, sizeof back);
        TU_CHECK(blen == (int)flen && memcmp(file, back, flen) == 0, "written file differs");
        free(v);
    }
}

static void test_write_edges(void) {
    char path[1024];
    foil_err err = {{0}};
    tu_path(path, sizeof path, "clamped");
    float v[4] = {-0.5f, NAN, 2.0f, 0.5f};
    TU_CHECK(foil_idx_write_images(path, v, 1, 2, 2, &err) == 0, "%s", err.msg);
    uint8_t back[32];
    TU_CHECK(read_whole(path, back, sizeof back) == 20, "wrong size");
    TU_CHECK(back[16] == 0 && back[17] == 0 && back[18] == 255 && back[19] == 128,
             "clamping/rounding: %d %d %d %d", back[16], back[17], back[18], back[19]);
    tu_path(path, sizeof path, "never_written");
    EXPECT_FAIL(foil_idx_write_images(path, v, 0, 2, 2, &err), &err, path, "0 images");
    TU_CHECK(access(path, F_OK) != 0, "file written for n=0");
}

static void test_labels(void) {
    uint8_t lb[7] = {0, 1, 2, 9, 3, 250, 4};
    for (int gz = 0; gz < 2; gz++) {
        char path[1024];
        write_labels(path, gz ? "lab.gz" : "lab", gz, FOIL_IDX_LABELS_MAGIC, 7, lb, 7);
        uint8_t *got = NULL;
        int n = 0;
        foil_err err = {{0}};
        TU_CHECK(foil_idx_read_labels(path, 0, &got, &n, NULL, &err) == 0, "%s", err.msg);
        TU_CHECK(n == 7 && got && memcmp(got, lb, 7) == 0, "labels differ (gz=%d)", gz);
        free(got);
    }
}

/* Headers that lie or break the rules, each rejected before any big allocation. */
static void test_bad_headers(void) {
    char path[1024];
    foil_err err = {{0}};
    float *v = NULL;
    uint8_t *lb = NULL, px[61] = {0};
    int n, r, c;
#define IMG(name, magic, N, R, C, len)                                            \
    (write_images(path, name, 0, magic, N, R, C, px, len), v = NULL,             \
     foil_idx_read_images(path, 0, &v, &n, &r, &c, &err))
    EXPECT_FAIL(IMG("magic", 1234, 3, 4, 5, 60), &err, path, "bad magic 1234");
    EXPECT_FAIL(IMG("magic_lab", FOIL_IDX_LABELS_MAGIC, 3, 4, 5, 60), &err, path, "magic");
    EXPECT_FAIL(IMG("trunc", FOIL_IDX_IMAGES_MAGIC, 3, 4, 5, 59), &err, path,
                "truncated: header says 60 bytes of pixels, file has 59");
    EXPECT_FAIL(IMG("trail", FOIL_IDX_IMAGES_MAGIC, 3, 4, 5, 61), &err, path, "trailing");
    EXPECT_FAIL(IMG("huge_n", FOIL_IDX_IMAGES_MAGIC, 0xFFFFFFFFu, 0xFFFF, 0xFFFF, 0), &err,
                path, "4294967295 images");
    EXPECT_FAIL(IMG("huge_img", FOIL_IDX_IMAGES_MAGIC, 0x7FFFFFFF, 0xFFFF, 0xFFFF, 0), &err,
                path, "overflow");
    EXPECT_FAIL(IMG("huge_wide", FOIL_IDX_IMAGES_MAGIC, 2, 1, 0xFFFFFFFFu, 0), &err, path,
                "overflow");
    /* A header claiming ~9 EB that does not overflow is caught by the length check. */
    EXPECT_FAIL(IMG("lying", FOIL_IDX_IMAGES_MAGIC, 0x7FFFFFFF, 0x7FFF, 0x7FFF, 0), &err,
                path, "truncated");
    EXPECT_FAIL(IMG("zero_rows", FOIL_IDX_IMAGES_MAGIC, 3, 0, 5, 0), &err, path, "zero");
    EXPECT_FAIL(IMG("zero_n", FOIL_IDX_IMAGES_MAGIC, 0, 4, 5, 0), &err, path, "zero");
    TU_CHECK(v == NULL, "pixels set on failure");
#undef IMG
    uint8_t hdr[16];
    build_idx(hdr, FOIL_IDX_IMAGES_MAGIC, 3, (uint32_t[]){1, 1, 1}, NULL, 0);
    size_t lens[3] = {10, 2, 0};
    for (int i = 0; i < 3; i++) {
        tu_write_file(path, sizeof path, "short", hdr, lens[i]);
        EXPECT_FAIL(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err), &err, path, "short");
    }
    write_labels(path, "lab_huge", 0, FOIL_IDX_LABELS_MAGIC, 0xFFFFFFFFu, NULL, 0);
    EXPECT_FAIL(foil_idx_read_labels(path, 0, &lb, &n, NULL, &err), &err, path, "4294967295 labels");
    write_labels(path, "lab_zero", 0, FOIL_IDX_LABELS_MAGIC, 0, NULL, 0);
    EXPECT_FAIL(foil_idx_read_labels(path, 0, &lb, &n, NULL, &err), &err, path, "zero");
    write_labels(path, "lab_trunc", 1, FOIL_IDX_LABELS_MAGIC, 5, px, 4);
    EXPECT_FAIL(foil_idx_read_labels(path, 0, &lb, &n, NULL, &err), &err, path,
                "header says 5 bytes of labels, file has 4");
    write_labels(path, "lab_magic", 0, FOIL_IDX_IMAGES_MAGIC, 5, px, 5);
    EXPECT_FAIL(foil_idx_read_labels(path, 0, &lb, &n, NULL, &err), &err, path, "expected 2049");
    tu_path(path, sizeof path, "no_such.gz");
    EXPECT_FAIL(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err), &err, path, "cannot open");
    TU_CHECK(v == NULL && lb == NULL, "outputs set on failure");
}

static void test_corrupt_gzip(void) {
    char path[1024];
    foil_err err = {{0}};
    float *v = NULL;
    int n, r, c;
    /* A valid gzip member header, then bytes that are not deflate data. */
    uint8_t junk[42] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memset(junk + 10, 0xFF, sizeof junk - 10);
    tu_write_file(path, sizeof path, "junk.gz", junk, sizeof junk);
    EXPECT_FAIL(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err), &err, path, "corrupt gzip");

    /* A good file cut mid-stream, and one missing only its 4-byte length trailer
     * (all pixels decompress, so only zlib can tell). */
    enum { P = 10 * 20 * 20 };
    uint8_t *px = malloc(P), *gz = malloc(2 * P);
    fill_bytes(px, P, 99);
    write_images(path, "whole.gz", 1, FOIL_IDX_IMAGES_MAGIC, 10, 20, 20, px, P);
    int glen = read_whole(path, gz, 2 * P);
    TU_CHECK(glen > 100, "gzip file too small: %d", glen);
    TU_CHECK(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err) == 0, "%s", err.msg);
    free(v);
    v = NULL;
    tu_write_file(path, sizeof path, "half.gz", gz, (size_t)glen / 2);
    EXPECT_FAIL(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err), &err, path, "gzip");
    tu_write_file(path, sizeof path, "notrailer.gz", gz, (size_t)glen - 4);
    EXPECT_FAIL(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err), &err, path, "gzip");
    TU_CHECK(v == NULL, "pixels set on failure");
    free(px);
    free(gz);
}

/* After a gzip member: another member is more of the stream (as gzip -d
 * reads it), anything else is refused as a raw file's trailing bytes are;
 * a limit reads the kept images only, from either kind of file. */
static void test_gzip_end(void) {
    enum { N = 6, P = N * 4 * 4 };
    uint8_t px[P], *gz = malloc(4 * P + 256);
    fill_bytes(px, P, 5);
    char path[1024];
    foil_err err = {{0}};
    float *v = NULL;
    int n, r, c;
    write_images(path, "member.gz", 1, FOIL_IDX_IMAGES_MAGIC, N, 4, 4, px, P);
    int glen = read_whole(path, gz, 4 * P + 256);
    memcpy(gz + glen, "garbage!", 8);
    tu_write_file(path, sizeof path, "garbage.gz", gz, (size_t)glen + 8);
    EXPECT_FAIL(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err), &err, path, "trailing");
    TU_CHECK(v == NULL, "pixels set on failure");
    /* with a limit, only the kept images are read: the garbage is not reached */
    TU_CHECK(foil_idx_read_images(path, 2, &v, &n, &r, &c, &err) == 0 && n == 2 &&
                 v[2 * 16 - 1] == (float)px[2 * 16 - 1] / 255.0f,
             "limit 2 of a file with trailing garbage: %s", err.msg);
    free(v);
    v = NULL;

    /* the same pixels as two members: header + 3 images, then 3 images */
    uint8_t whole[16 + P];
    size_t wl = build_idx(whole, FOIL_IDX_IMAGES_MAGIC, 3, (uint32_t[]){N, 4, 4}, px, P);
    char a[1024], b[1024];
    tu_write_gz(a, sizeof a, "part1.gz", whole, 16 + P / 2);
    tu_write_gz(b, sizeof b, "part2.gz", whole + 16 + P / 2, wl - 16 - P / 2);
    int la = read_whole(a, gz, 4 * P), lb = read_whole(b, gz + la, 4 * P);
    tu_write_file(path, sizeof path, "two_members.gz", gz, (size_t)(la + lb));
    TU_CHECK(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err) == 0 && n == N &&
                 v[P - 1] == (float)px[P - 1] / 255.0f,
             "two gzip members: %s", err.msg);
    free(v);
    v = NULL;
    /* a second member cut short is a truncated stream */
    tu_write_file(path, sizeof path, "cut_member.gz", gz, (size_t)(la + lb / 2));
    EXPECT_FAIL(foil_idx_read_images(path, 0, &v, &n, &r, &c, &err), &err, path, "gzip");

    /* a raw file's length is checked even under a limit */
    write_images(path, "raw_long", 0, FOIL_IDX_IMAGES_MAGIC, N - 1, 4, 4, px, P);
    EXPECT_FAIL(foil_idx_read_images(path, 1, &v, &n, &r, &c, &err), &err, path, "trailing");
    free(gz);
}

static void make_dir(char *out, const char *name) {
    tu_path(out, 1024, name);
    TU_CHECK(mkdir(out, 0755) == 0, "mkdir %s", out);
}

static void test_dataset(void) {
    char dir[1024], path[1024], want[1200];
    foil_err err = {{0}};
    foil_dataset ds;
    enum { N = 5, R = 2, C = 3 };
    uint8_t px[N * R * C], lb[N] = {0, 12, 3, 4, 5};
    fill_bytes(px, sizeof px, 3);
    make_dir(dir, "ds_good");
    write_images(path, "ds_good/t10k-images-idx3-ubyte.gz", 1, FOIL_IDX_IMAGES_MAGIC, N, R, C,
                 px, sizeof px);
    write_labels(path, "ds_good/t10k-labels-idx1-ubyte", 0, FOIL_IDX_LABELS_MAGIC, N, lb, N);
    int limits[4] = {0, 2, N, 99}, expect[4] = {N, 2, N, N};
    for (int i = 0; i < 4; i++) {
        TU_CHECK(foil_dataset_load(&ds, dir, "t10k", limits[i], &err) == 0, "%s", err.msg);
        TU_CHECK(ds.n == expect[i] && ds.rows == R && ds.cols == C && ds.classes == 13,
                 "limit %d: n=%d %dx%d classes=%d", limits[i], ds.n, ds.rows, ds.cols,
                 ds.classes);
        TU_CHECK(ds.labels[ds.n - 1] == lb[ds.n - 1] &&
                     ds.images[ds.n * R * C - 1] == (float)px[ds.n * R * C - 1] / 255.0f,
                 "limit %d: last sample differs", limits[i]);
        foil_dataset_free(&ds);
    }

    make_dir(dir, "ds_count");
    write_images(path, "ds_count/train-images-idx3-ubyte", 0, FOIL_IDX_IMAGES_MAGIC, 3, R, C,
                 px, 3 * R * C);
    write_labels(want, "ds_count/train-labels-idx1-ubyte.gz", 1, FOIL_IDX_LABELS_MAGIC, 2, lb,
                 2);
    EXPECT_FAIL(foil_dataset_load(&ds, dir, "train", 0, &err), &err, path, "3 images but");
    TU_CHECK(strstr(err.msg, "has 2 labels") && strstr(err.msg, want), "%s", err.msg);
    TU_CHECK(ds.images == NULL && ds.labels == NULL && ds.n == 0, "ds not cleared");

    make_dir(dir, "ds_empty");
    tu_path(path, sizeof path, "ds_empty/t10k-images-idx3-ubyte.gz");
    snprintf(want, sizeof want, "nor %s/t10k-images-idx3-ubyte)", dir);
    EXPECT_FAIL(foil_dataset_load(&ds, dir, "t10k", 0, &err), &err, path, want);

    /* Images there, labels missing: the message names the labels file. */
    tu_path(path, sizeof path, "ds_empty/train-labels-idx1-ubyte.gz");
    write_images(want, "ds_empty/train-images-idx3-ubyte", 0, FOIL_IDX_IMAGES_MAGIC, 1, R, C,
                 px, R * C);
    EXPECT_FAIL(foil_dataset_load(&ds, dir, "train", 0, &err), &err, path, "not found");

    make_dir(dir, "ds_badlab"); /* a bad labels file frees the images already read */
    write_images(path, "ds_badlab/t10k-images-idx3-ubyte", 0, FOIL_IDX_IMAGES_MAGIC, 1, R, C,
                 px, R * C);
    write_labels(path, "ds_badlab/t10k-labels-idx1-ubyte", 0, 77, 1, lb, 1);
    EXPECT_FAIL(foil_dataset_load(&ds, dir, "t10k", 0, &err), &err, path, "magic");
    TU_CHECK(ds.images == NULL, "images leaked into ds");
}

static const char *const NAMES[4] = {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

/* Writes a sums file; `bad` >= 0 gives that file a wrong (all zero) hash. */
static void write_sums(char *out, const char *name, const char *src, int bad) {
    char text[1024] = "# test sums\n", path[1200], hex[65];
    foil_err err = {{0}};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", src, NAMES[i]);
        TU_CHECK(foil_sha256_file(path, hex, &err) == 0, "%s", err.msg);
        if (i == bad) memset(hex, '0', 64);
        size_t len = strlen(text);
        snprintf(text + len, sizeof text - len, "%s  %s\n", hex, NAMES[i]);
    }
    tu_write_file(out, 1024, name, text, strlen(text));
}

/* Whether dir holds any entry whose name starts with prefix. */
static int has_entry(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)) != NULL) found |= strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d) closedir(d);
    return found;
}

static void check_fetched(const char *dest, const char *src) {
    char a[1200], b[1200];
    uint8_t x[256], y[256];
    for (int i = 0; i < 4; i++) {
        snprintf(a, sizeof a, "%s/%s", dest, NAMES[i]);
        snprintf(b, sizeof b, "%s/%s", src, NAMES[i]);
        int na = read_whole(a, x, sizeof x), nb = read_whole(b, y, sizeof y);
        TU_CHECK(na > 0 && na == nb && memcmp(x, y, (size_t)na) == 0, "%s differs", a);
    }
}

static void test_fetch(void) {
    char src[1024], dest[1024], sums[1024], path[1024], absdir[4096] = "", url[4200];
    foil_err err = {{0}};
    make_dir(src, "fetch_src");
    for (int i = 0; i < 4; i++) {
        char name[256];
        snprintf(name, sizeof name, "fetch_src/%s", NAMES[i]);
        tu_write_file(path, sizeof path, name, NAMES[i], strlen(NAMES[i]) - (size_t)i);
    }
    write_sums(sums, "good.sha256", src, -1);
    tu_path(dest, sizeof dest, "fetch_dest/a/b"); /* parents are created */
    TU_CHECK(foil_data_fetch(dest, src, sums, &err) == 0, "%s", err.msg);
    check_fetched(dest, src);
    TU_CHECK(!has_entry(dest, "train-images-idx3-ubyte.gz.tmp"), "temp file left");

    /* Again: cached; a damaged copy is replaced. */
    tu_path(path, sizeof path, "fetch_dest/a/b/train-labels-idx1-ubyte.gz");
    FILE *f = fopen(path, "wb");
    if (f) fputs("damaged", f), fclose(f);
    TU_CHECK(foil_data_fetch(dest, src, sums, &err) == 0, "%s", err.msg);
    check_fetched(dest, src);

    /* A checksum mismatch: error naming the file and both hashes, nothing left. */
    write_sums(sums, "bad.sha256", src, 2);
    tu_path(dest, sizeof dest, "fetch_bad");
    tu_path(path, sizeof path, "fetch_src/t10k-images-idx3-ubyte.gz");
    EXPECT_FAIL(foil_data_fetch(dest, src, sums, &err), &err, path, "checksum mismatch");
    char zeros[65];
    memset(zeros, '0', 64), zeros[64] = 0;
    TU_CHECK(strstr(err.msg, zeros) && strstr(err.msg, sums), "%s", err.msg);
    TU_CHECK(!has_entry(dest, NAMES[2]), "mismatched file left in %s", dest);

    /* Sums file problems. */
    tu_write_file(sums, sizeof sums, "garbage.sha256", "hello  world\n", 13);
    EXPECT_FAIL(foil_data_fetch(dest, src, sums, &err), &err, sums, ":1: not a sha256sum");
    tu_write_file(sums, sizeof sums, "empty.sha256", "", 0);
    EXPECT_FAIL(foil_data_fetch(dest, src, sums, &err), &err, sums, NAMES[0]);

    /* file:// goes through curl (fork/exec), when curl is installed. */
    char cwd[2048] = "";
    if (src[0] == '/') snprintf(absdir, sizeof absdir, "%s", src);
    else if (getcwd(cwd, sizeof cwd)) snprintf(absdir, sizeof absdir, "%s/%s", cwd, src);
    if (system("curl --version >/dev/null 2>&1") == 0 && absdir[0] == '/') {
        write_sums(sums, "good2.sha256", src, -1);
        snprintf(url, sizeof url, "file://%s", absdir);
        tu_path(dest, sizeof dest, "fetch_url");
        TU_CHECK(foil_data_fetch(dest, url, sums, &err) == 0, "%s", err.msg);
        check_fetched(dest, src);
        snprintf(url, sizeof url, "file://%s/nowhere/", absdir);
        tu_path(dest, sizeof dest, "fetch_url_missing");
        /* the tool's own reason, in the one line */
        EXPECT_FAIL(foil_data_fetch(dest, url, sums, &err), &err, url, "exit status");
        TU_CHECK(strstr(err.msg, "Couldn't") || strstr(err.msg, "No such") ||
                     strstr(err.msg, "failed"),
                 "the reason: %s", err.msg);
        TU_CHECK(!has_entry(dest, NAMES[0]), "partial download left");
    }
}

/* The real test set, when the MNIST files are around. */
static void test_real_mnist(void) {
    const char *dir = tu_mnist_dir();
    if (!dir) {
        printf("test_idx: no real MNIST (set FOIL_TEST_DATA); skipping that part\n");
        return;
    }
    foil_dataset ds;
    foil_err err = {{0}};
    TU_CHECK(foil_dataset_load(&ds, dir, "t10k", 0, &err) == 0, "%s", err.msg);
    TU_CHECK(ds.n == 10000 && ds.rows == 28 && ds.cols == 28 && ds.classes == 10,
             "n=%d %dx%d classes=%d", ds.n, ds.rows, ds.cols, ds.classes);
    int bad = 0;
    float lo = 1, hi = 0;
    for (int i = 0; ds.labels && i < ds.n; i++) bad += ds.labels[i] >= 10;
    for (size_t i = 0; ds.images && i < (size_t)ds.n * 784; i++) {
        lo = ds.images[i] < lo ? ds.images[i] : lo;
        hi = ds.images[i] > hi ? ds.images[i] : hi;
    }
    TU_CHECK(bad == 0 && lo == 0.0f && hi == 1.0f, "%d bad labels, range [%g, %g]", bad, lo, hi);
    foil_dataset_free(&ds);

    /* The sums shipped in data/ match the real files. */
    char sums[1024], dest[1024];
    tu_source_path(sums, sizeof sums, "data/mnist.sha256");
    tu_path(dest, sizeof dest, "real_fetch");
    TU_CHECK(foil_data_fetch(dest, dir, sums, &err) == 0, "%s", err.msg);
}

int main(void) {
    test_images_roundtrip();
    test_write_edges();
    test_labels();
    test_bad_headers();
    test_corrupt_gzip();
    test_gzip_end();
    test_dataset();
    test_fetch();
    test_real_mnist();
    return tu_finish("test_idx");
}
