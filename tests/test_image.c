/* Canvases, colour maps and PNG files: exact round trips, clipping that never
 * writes outside the canvas, the diverging map's shape, and one-line errors
 * for every bad file. */
#include "testutil.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <png.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "foil/image.h"

static void check_msg(const char *msg, const char *path) {
    TU_CHECK(strstr(msg, path) == msg, "message should start with %s: %s", path, msg);
    TU_CHECK(strchr(msg, '\n') == NULL, "message is not one line: %s", msg);
}

static int count_temp_files(void) {
    DIR *d = opendir(tu_tmpdir());
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += strstr(e->d_name, ".tmp.") != NULL;
    if (d) closedir(d);
    return n;
}

static const uint8_t *px(const foil_image *img, int x, int y) {
    return img->rgb + ((size_t)y * (size_t)img->w + (size_t)x) * 3;
}

static int is_rgb(const uint8_t *p, int r, int g, int b) {
    return p[0] == r && p[1] == g && p[2] == b;
}

static void test_create(void) {
    foil_image img;
    foil_err err = {{0}};
    TU_CHECK(foil_image_create(&img, 3, 2, 1, 2, 3, &err) == 0, "%s", err.msg);
    TU_CHECK(img.w == 3 && img.h == 2 && is_rgb(px(&img, 2, 1), 1, 2, 3), "fill colour");
    foil_image_free(&img);
    TU_CHECK(img.rgb == NULL, "free clears the canvas");
    int bad[][2] = {{0, 5}, {5, 0}, {-1, 5}, {100000, 100000}, {INT_MAX, INT_MAX}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err.msg[0] = 0;
        TU_CHECK(foil_image_create(&img, bad[i][0], bad[i][1], 0, 0, 0, &err) == -1,
                 "%d x %d should fail", bad[i][0], bad[i][1]);
        TU_CHECK(img.rgb == NULL && err.msg[0], "%d x %d: no canvas, a message", bad[i][0],
                 bad[i][1]);
    }
}

static void test_round_trip(void) {
    foil_image img, back;
    foil_err err = {{0}};
    char path[1024];
    TU_CHECK(foil_image_create(&img, 7, 5, 0, 0, 0, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < 7 * 5 * 3; i++) img.rgb[i] = (uint8_t)(i * 37 + 11);
    tu_path(path, sizeof path, "rt.png");
    TU_CHECK(foil_png_write(path, &img, &err) == 0, "%s", err.msg);
    TU_CHECK(foil_png_read(path, &back, &err) == 0, "%s", err.msg);
    TU_CHECK(back.w == 7 && back.h == 5, "size %d x %d", back.w, back.h);
    TU_CHECK(back.rgb && memcmp(back.rgb, img.rgb, 7 * 5 * 3) == 0, "pixels differ");
    TU_CHECK(count_temp_files() == 0, "temporary file left behind");
    foil_image_free(&img);
    foil_image_free(&back);
}

/* Other PNG flavours (gray, gray+alpha, 16-bit, palette) read as RGB8; written
 * with libpng's simplified API so the test does not depend on our writer. */
static void check_flavour(const char *name, png_uint_32 format, const void *pix,
                          const void *colormap, int ncolors, const uint8_t want[4][3]) {
    png_image pi;
    memset(&pi, 0, sizeof pi);
    pi.version = PNG_IMAGE_VERSION;
    pi.width = 2;
    pi.height = 2;
    pi.format = format;
    pi.colormap_entries = (png_uint_32)ncolors;
    char path[1024];
    tu_path(path, sizeof path, name);
    TU_CHECK(png_image_write_to_file(&pi, path, 0, pix, 0, colormap) != 0, "%s: %s", name,
             pi.message);
    png_image_free(&pi);
    foil_image img;
    foil_err err = {{0}};
    TU_CHECK(foil_png_read(path, &img, &err) == 0, "%s", err.msg);
    for (int i = 0; img.rgb && i < 4; i++)
        TU_CHECK(is_rgb(img.rgb + 3 * i, want[i][0], want[i][1], want[i][2]),
                 "%s pixel %d: %d %d %d", name, i, img.rgb[3 * i], img.rgb[3 * i + 1],
                 img.rgb[3 * i + 2]);
    foil_image_free(&img);
}

static void test_flavours(void) {
    const uint8_t gray[4] = {0, 85, 170, 255};
    const uint8_t want_gray[4][3] = {{0, 0, 0}, {85, 85, 85}, {170, 170, 170}, {255, 255, 255}};
    check_flavour("gray.png", PNG_FORMAT_GRAY, gray, NULL, 0, want_gray);
    const uint8_t ga[8] = {0, 255, 85, 0, 170, 128, 255, 255}; /* alpha is dropped */
    check_flavour("ga.png", PNG_FORMAT_GA, ga, NULL, 0, want_gray);
    const uint16_t g16[4] = {0, 65535, 65535, 0};
    const uint8_t want16[4][3] = {{0, 0, 0}, {255, 255, 255}, {255, 255, 255}, {0, 0, 0}};
    check_flavour("g16.png", PNG_FORMAT_LINEAR_Y, g16, NULL, 0, want16);
    const uint8_t idx[4] = {2, 0, 1, 2}, cmap[3 * 3] = {10, 20, 30, 200, 100, 0, 5, 250, 7};
    const uint8_t wantp[4][3] = {{5, 250, 7}, {10, 20, 30}, {200, 100, 0}, {5, 250, 7}};
    check_flavour("pal.png", PNG_FORMAT_RGB_COLORMAP, idx, cmap, 3, wantp);
}

static void test_gray(void) {
    foil_image img;
    foil_err err = {{0}};
    TU_CHECK(foil_image_create(&img, 6, 1, 9, 9, 9, &err) == 0, "%s", err.msg);
    const float v[5] = {0.0f, 1.0f, -0.5f, 2.0f, NAN};
    foil_image_draw_gray(&img, 0, 0, v, 1, 5, 1);
    TU_CHECK(is_rgb(px(&img, 0, 0), 0, 0, 0), "0 is black");
    TU_CHECK(is_rgb(px(&img, 1, 0), 255, 255, 255), "1 is white");
    TU_CHECK(is_rgb(px(&img, 2, 0), 0, 0, 0), "below 0 clips to black");
    TU_CHECK(is_rgb(px(&img, 3, 0), 255, 255, 255), "above 1 clips to white");
    const uint8_t *n = px(&img, 4, 0);
    TU_CHECK(n[0] == n[1] && n[1] == n[2] && n[0] > 0 && n[0] < 255, "NaN is mid gray");
    TU_CHECK(is_rgb(px(&img, 5, 0), 9, 9, 9), "past the map untouched");
    foil_image_free(&img);
}

static void test_scale(void) {
    foil_image img;
    foil_err err = {{0}};
    TU_CHECK(foil_image_create(&img, 7, 6, 1, 2, 3, &err) == 0, "%s", err.msg);
    const float v[4] = {0.0f, 1.0f, 1.0f, 0.0f}; /* 2 x 2 checkerboard */
    foil_image_draw_gray(&img, 1, 1, v, 2, 2, 2);
    for (int y = 0; y < 6; y++)
        for (int x = 0; x < 7; x++) {
            const uint8_t *p = px(&img, x, y);
            int in = x >= 1 && x < 5 && y >= 1 && y < 5;
            int white = in && (((x - 1) / 2) != ((y - 1) / 2));
            int ok = !in ? is_rgb(p, 1, 2, 3) : white ? is_rgb(p, 255, 255, 255)
                                                      : is_rgb(p, 0, 0, 0);
            TU_CHECK(ok, "pixel (%d, %d) = %d %d %d", x, y, p[0], p[1], p[2]);
        }
    foil_image_free(&img);
}

/* The canvas points into a bigger buffer whose margins must stay untouched. */
#define GUARD 4096
static void test_clipping(void) {
    enum { W = 10, H = 8 };
    uint8_t *buf = malloc(W * H * 3 + 2 * GUARD);
    if (!buf) return;
    memset(buf, 0xAB, W * H * 3 + 2 * GUARD);
    foil_image img = {W, H, buf + GUARD};
    float v[5 * 5], a[5 * 5];
    for (int i = 0; i < 25; i++) v[i] = 1.0f, a[i] = (float)(i - 12);
    int spots[][2] = {{-3, -3}, {W - 2, H - 2}, {-100, 2}, {2, -100}, {W, 0},
                      {INT_MAX - 1, INT_MAX - 1}, {INT_MIN, INT_MIN}, {-7, H - 4}};
    for (size_t s = 0; s < sizeof spots / sizeof spots[0]; s++) {
        foil_image_draw_gray(&img, spots[s][0], spots[s][1], v, 5, 5, 3);
        foil_image_draw_diverging(&img, spots[s][0], spots[s][1], a, 5, 5, 3, 0.0f);
        foil_image_draw_overlay(&img, spots[s][0], spots[s][1], v, a, 5, 5, 3, 0.0f, 0.5f);
    }
    int guard_ok = 1;
    for (size_t i = 0; i < GUARD; i++)
        guard_ok &= buf[i] == 0xAB && buf[GUARD + W * H * 3 + i] == 0xAB;
    TU_CHECK(guard_ok, "drawing wrote outside the canvas");
    /* a rect partly outside: (-3, -3) with 5 cells of 3 covers x, y in [0, 12) */
    foil_image_draw_gray(&img, -3, -3, v, 5, 5, 3);
    TU_CHECK(is_rgb(px(&img, 0, 0), 255, 255, 255) && is_rgb(px(&img, W - 1, H - 1), 255, 255, 255),
             "visible part drawn");
    /* bad arguments draw nothing */
    memset(img.rgb, 7, W * H * 3);
    foil_image_draw_gray(&img, 0, 0, v, 5, 5, 0);
    foil_image_draw_gray(&img, 0, 0, v, -5, 5, 1);
    foil_image_draw_gray(&img, 0, 0, NULL, 5, 5, 1);
    foil_image_draw_overlay(&img, 0, 0, v, NULL, 5, 5, 1, 1.0f, 1.0f);
    TU_CHECK(is_rgb(px(&img, 0, 0), 7, 7, 7), "bad arguments should draw nothing");
    free(buf);
}

static int darkness(const uint8_t c[3]) { return 765 - c[0] - c[1] - c[2]; }

static void test_diverging(void) {
    uint8_t c[3], prev_r[3], prev_b[3];
    foil_diverging_rgb(0.0f, c);
    TU_CHECK(is_rgb(c, 255, 255, 255), "0 is white");
    foil_diverging_rgb(-1.0f, c);
    TU_CHECK(is_rgb(c, 33, 102, 172), "-1 is dark blue: %d %d %d", c[0], c[1], c[2]);
    foil_diverging_rgb(-5.0f, c);
    TU_CHECK(is_rgb(c, 33, 102, 172), "below -1 clips");
    foil_diverging_rgb(1.0f, c);
    TU_CHECK(is_rgb(c, 178, 24, 43), "+1 is dark red: %d %d %d", c[0], c[1], c[2]);
    foil_diverging_rgb(INFINITY, c);
    TU_CHECK(is_rgb(c, 178, 24, 43), "+inf clips");
    foil_diverging_rgb(NAN, c);
    TU_CHECK(c[0] == c[1] && c[1] == c[2] && c[0] < 255, "NaN is gray");
    memset(prev_r, 255, 3);
    memcpy(prev_b, prev_r, 3);
    for (int i = 1; i <= 20; i++) { /* both sides darken steadily with |t| */
        uint8_t r[3], b[3];
        foil_diverging_rgb(0.05f * (float)i, r);
        foil_diverging_rgb(-0.05f * (float)i, b);
        TU_CHECK(darkness(r) > darkness(prev_r) && r[0] > r[2], "red side at %d", i);
        TU_CHECK(darkness(b) > darkness(prev_b) && b[2] > b[0], "blue side at %d", i);
        memcpy(prev_r, r, 3);
        memcpy(prev_b, b, 3);
    }
}

static void test_draw_diverging(void) {
    foil_image img;
    foil_err err = {{0}};
    uint8_t want[3];
    TU_CHECK(foil_image_create(&img, 4, 1, 0, 0, 0, &err) == 0, "%s", err.msg);
    const float v[4] = {-2.0f, 0.0f, 2.0f, NAN};
    foil_image_draw_diverging(&img, 0, 0, v, 1, 4, 1, 2.0f);
    TU_CHECK(px(&img, 0, 0)[2] > px(&img, 0, 0)[0], "-limit is blue-ish");
    TU_CHECK(is_rgb(px(&img, 1, 0), 255, 255, 255), "0 is white");
    TU_CHECK(px(&img, 2, 0)[0] > px(&img, 2, 0)[2], "+limit is red-ish");
    TU_CHECK(px(&img, 3, 0)[0] == px(&img, 3, 0)[2], "NaN is gray");
    const float w[3] = {-1.0f, 0.0f, 0.5f}; /* limit 0: max |v| = 1 */
    foil_image_draw_diverging(&img, 0, 0, w, 1, 3, 1, 0.0f);
    foil_diverging_rgb(0.5f, want);
    TU_CHECK(memcmp(px(&img, 2, 0), want, 3) == 0, "auto limit scales by max |v|");
    const float z[4] = {0};
    foil_image_draw_diverging(&img, 0, 0, z, 1, 4, 1, 0.0f);
    TU_CHECK(is_rgb(px(&img, 3, 0), 255, 255, 255), "all-zero map draws white");
    foil_image_free(&img);
}

static void test_overlay(void) {
    foil_image img;
    foil_err err = {{0}};
    TU_CHECK(foil_image_create(&img, 4, 1, 0, 0, 0, &err) == 0, "%s", err.msg);
    const float digit[4] = {1.0f, 0.0f, 1.0f, 0.5f}, attr[4] = {0.0f, 0.0f, 5.0f, -5.0f};
    foil_image_draw_overlay(&img, 0, 0, digit, attr, 1, 4, 1, 5.0f, 0.6f);
    TU_CHECK(is_rgb(px(&img, 0, 0), 255, 255, 255), "ink visible where attribution is 0");
    TU_CHECK(is_rgb(px(&img, 1, 0), 0, 0, 0), "background visible where attribution is 0");
    const uint8_t *r = px(&img, 2, 0), *b = px(&img, 3, 0);
    TU_CHECK(r[0] > r[2] && r[1] > 24, "positive blends to a light red: %d %d %d", r[0], r[1],
             r[2]);
    TU_CHECK(b[2] > b[0], "negative blends to blue: %d %d %d", b[0], b[1], b[2]);
    foil_image_draw_overlay(&img, 0, 0, digit, attr, 1, 4, 1, 5.0f, 0.0f);
    TU_CHECK(is_rgb(px(&img, 2, 0), 255, 255, 255), "alpha 0 is the plain digit");
    foil_image_free(&img);
}

static void check_read_fails(const char *path) {
    foil_image img;
    foil_err err = {{0}};
    TU_CHECK(foil_png_read(path, &img, &err) == -1, "%s should not read", path);
    TU_CHECK(img.rgb == NULL && img.w == 0, "%s: no image after failure", path);
    check_msg(err.msg, path);
}

static void test_bad_files(void) {
    char path[1024], good[1024];
    const char junk[] = "this is not a PNG file, just some text\n";
    tu_write_file(path, sizeof path, "junk.png", junk, sizeof junk - 1);
    check_read_fails(path);
    tu_write_file(path, sizeof path, "empty.png", "", 0);
    check_read_fails(path);
    tu_path(path, sizeof path, "missing.png");
    check_read_fails(path);

    /* a real PNG cut short at several points past the signature */
    foil_image img;
    foil_err err = {{0}};
    TU_CHECK(foil_image_create(&img, 40, 30, 0, 0, 0, &err) == 0, "%s", err.msg);
    for (size_t i = 0; img.rgb && i < 40 * 30 * 3; i++) img.rgb[i] = (uint8_t)(i * 7919 >> 3);
    tu_path(good, sizeof good, "whole.png");
    TU_CHECK(foil_png_write(good, &img, &err) == 0, "%s", err.msg);
    foil_image_free(&img);
    FILE *f = fopen(good, "rb");
    uint8_t bytes[16384];
    size_t n = f ? fread(bytes, 1, sizeof bytes, f) : 0;
    if (f) fclose(f);
    TU_CHECK(n > 100 && n < sizeof bytes, "whole.png has %zu bytes", n);
    size_t cuts[] = {12, 40, n / 2, n - 13, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        tu_write_file(path, sizeof path, "cut.png", bytes, cuts[i]);
        check_read_fails(path);
    }
    bytes[n / 2] ^= 0x55; /* a flipped byte inside IDAT fails its CRC */
    tu_write_file(path, sizeof path, "flipped.png", bytes, n);
    check_read_fails(path);
}

/* A PNG header claiming a huge image must be refused before any allocation:
 * signature, IHDR, and the start of an IDAT so that the header is complete. */
static void test_huge_header(void) {
    uint32_t dims[2] = {60000, 200000}; /* past our byte cap; past libpng's limit */
    const char *why[2] = {"too large", "IHDR"};
    for (int i = 0; i < 2; i++) {
        uint8_t f[8 + 25 + 8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
                                 'I', 'H', 'D', 'R'};
        uint8_t *ihdr = f + 16;
        for (int k = 0; k < 2; k++)
            for (int b = 0; b < 4; b++) ihdr[4 * k + b] = (uint8_t)(dims[i] >> (24 - 8 * b));
        ihdr[8] = 8; /* bit depth; then colour type 2 (RGB), rest 0 */
        ihdr[9] = 2;
        uLong crc = crc32(crc32(0L, Z_NULL, 0), f + 12, 17);
        for (int b = 0; b < 4; b++) f[29 + b] = (uint8_t)(crc >> (24 - 8 * b));
        memcpy(f + 33, "\0\0\0\x10IDAT", 8);
        char path[1024];
        tu_write_file(path, sizeof path, "huge.png", f, sizeof f);
        foil_image img;
        foil_err err = {{0}};
        TU_CHECK(foil_png_read(path, &img, &err) == -1 && img.rgb == NULL, "huge PNG read");
        check_msg(err.msg, path);
        TU_CHECK(strstr(err.msg, why[i]) != NULL, "should say %s: %s", why[i], err.msg);
    }
}

static void test_write_missing_folder(void) {
    foil_image img;
    foil_err err = {{0}};
    char path[1024];
    struct stat sb;
    TU_CHECK(foil_image_create(&img, 3, 3, 50, 60, 70, &err) == 0, "%s", err.msg);
    tu_path(path, sizeof path, "no_such_folder/out.png");
    TU_CHECK(foil_png_write(path, &img, &err) == -1, "write into a missing folder");
    check_msg(err.msg, path);
    TU_CHECK(stat(path, &sb) != 0, "no file may exist");
    TU_CHECK(count_temp_files() == 0, "temporary file left behind");
    foil_image empty = {0, 0, NULL};
    tu_path(path, sizeof path, "empty_out.png");
    TU_CHECK(foil_png_write(path, &empty, &err) == -1 && stat(path, &sb) != 0,
             "empty image is not written");
    foil_image_free(&img);
}

int main(void) {
    test_create();
    test_round_trip();
    test_flavours();
    test_gray();
    test_scale();
    test_clipping();
    test_diverging();
    test_draw_diverging();
    test_overlay();
    test_bad_files();
    test_huge_header();
    test_write_missing_folder();
    return tu_finish("test_image");
}
