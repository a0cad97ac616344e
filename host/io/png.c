/* PNG files through libpng. libpng reports errors by calling an error function
 * that must not return; ours records a one-line foil_err and longjmps back to
 * the setjmp in the function that created the png struct. Those functions
 * change no local after setjmp (the mutable state lives in the caller's
 * structs), so nothing is clobbered when the jump lands. */
#include "foil/image.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"

/* libpng's own per-dimension check; the byte cap is foil_image_create's. */
#define PNG_MAX_DIM 100000

typedef struct png_ctx {
    const char *path;
    const char *what; /* "bad PNG" or "cannot encode PNG" */
    foil_err *err;
} png_ctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(png);
    foil_fail(c->err, "%s: %s: %s", c->path, c->what, msg);
    /* keep it one line whatever libpng (or a chunk name) put in the text */
    for (char *p = c->err ? c->err->msg : NULL; p && *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    png_longjmp(png, 1);
}

/* Warnings (bad ancillary chunks, odd gamma) change nothing we read or
 * write, and a library must not print; they are dropped. */
static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* ------------------------------------------------------------------- write */

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
} membuf;

static void mem_write(png_structp png, png_bytep data, size_t n) {
    membuf *m = png_get_io_ptr(png);
    size_t need;
    if (foil_add_size(m->len, n, &need) != 0) png_error(png, "encoded image too large");
    if (need > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < need) {
            if (foil_mul_size(cap, 2, &cap) != 0) png_error(png, "encoded image too large");
        }
        uint8_t *p = realloc(m->data, cap);
        if (!p) png_error(png, "out of memory");
        m->data = p;
        m->cap = cap;
    }
    memcpy(m->data + m->len, data, n);
    m->len = need;
}

/* Without our own flush, libpng would treat the io pointer as a FILE*. */
static void mem_flush(png_structp png) { (void)png; }

/* The rows, after png_write_info; kept out of encode() so that no loop
 * variable lives in the function holding the setjmp. */
static void write_rows(png_structp png, const foil_image *img) {
    size_t stride = (size_t)img->w * 3;
    for (int y = 0; y < img->h; y++) png_write_row(png, img->rgb + (size_t)y * stride);
}

static int encode(const char *path, const foil_image *img, membuf *out, foil_err *err) {
    png_ctx ctx = {path, "cannot encode PNG", err};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return foil_fail(err, "%s: out of memory", path);
    }
    png_set_write_fn(png, out, mem_write, mem_flush);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_IHDR(png, info, (png_uint_32)img->w, (png_uint_32)img->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    write_rows(png, img);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int foil_png_write(const char *path, const foil_image *img, foil_err *err) {
    if (!path) return foil_fail(err, "PNG write: no path");
    if (!img || !img->rgb || img->w <= 0 || img->h <= 0)
        return foil_fail(err, "%s: no image to write", path);
    membuf out = {NULL, 0, 0};
    int rc = encode(path, img, &out, err);
    /* encoded fully in memory first, so the file appears whole or not at all */
    if (rc == 0) rc = foil_write_file_atomic(path, out.data, out.len, err);
    free(out.data);
    return rc;
}

/* -------------------------------------------------------------------- read */

static void file_read(png_structp png, png_bytep data, size_t n) {
    FILE *f = png_get_io_ptr(png);
    if (fread(data, 1, n, f) != n)
        png_error(png, ferror(f) ? "read error" : "file is truncated");
}

/* Whatever the file holds (palette, gray, 1-16 bits, alpha, interlaced),
 * ask libpng for 8-bit RGB rows. Alpha is dropped, not composited: foil only
 * reads back images it wrote, which are opaque. */
static int set_rgb8(png_structp png, png_infop info) {
    png_set_expand(png); /* palette -> RGB, gray < 8 bits -> 8, tRNS -> alpha */
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);
    return passes;
}

static void read_rows(png_structp png, foil_image *img, int passes) {
    size_t stride = (size_t)img->w * 3;
    for (int p = 0; p < passes; p++)
        for (int y = 0; y < img->h; y++)
            png_read_row(png, img->rgb + (size_t)y * stride, NULL);
}

/* Everything after setjmp; png_error longjmps out of here to decode(). */
static void decode_body(png_structp png, png_infop info, const png_ctx *ctx, foil_image *img) {
    png_read_info(png, info);
    int passes = set_rgb8(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (png_get_bit_depth(png, info) != 8 || png_get_channels(png, info) != 3 ||
        png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "cannot convert to 8-bit RGB");
    if (foil_image_create(img, (int)w, (int)h, 0, 0, 0, ctx->err) != 0) {
        foil_fail_prefix(ctx->err, "%s", ctx->path);
        png_longjmp(png, 1); /* message already set: skip on_error */
    }
    read_rows(png, img, passes);
    png_read_end(png, NULL);
}

static int decode(const char *path, FILE *f, foil_image *img, foil_err *err) {
    png_ctx ctx = {path, "bad PNG", err};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return foil_fail(err, "%s: out of memory", path);
    }
    png_set_read_fn(png, f, file_read);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, PNG_MAX_DIM, PNG_MAX_DIM);
    if (setjmp(png_jmpbuf(png))) {
        foil_image_free(img);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    decode_body(png, info, &ctx, img);
    png_destroy_read_struct(&png, &info, NULL);
    return 0;
}

int foil_png_read(const char *path, foil_image *img, foil_err *err) {
    if (!img) return foil_fail(err, "PNG read: no image to read into");
    img->w = img->h = 0;
    img->rgb = NULL;
    if (!path) return foil_fail(err, "PNG read: no path");
    FILE *f = foil_fopen_read(path, 0, err);
    if (!f) return -1;
    png_byte sig[8];
    size_t n = fread(sig, 1, sizeof sig, f);
    if (n != sizeof sig || png_sig_cmp(sig, 0, sizeof sig) != 0) {
        int was_err = ferror(f);
        fclose(f);
        return foil_fail(err, "%s: %s", path, was_err ? "read error" : "not a PNG file");
    }
    int rc = decode(path, f, img, err);
    fclose(f);
    return rc;
}
