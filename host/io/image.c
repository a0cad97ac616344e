/* RGB8 canvases and the colour maps foil draws with: gray for images,
 * blue-white-red for signed attributions, and an overlay of the two. All
 * drawing clips at the canvas edges, so callers can place maps anywhere. */
#include "foil/image.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* 256 MiB of pixels: far beyond any grid foil makes, small enough that a
 * hostile PNG header cannot make us allocate gigabytes. */
#define IMAGE_MAX_BYTES ((size_t)1 << 28)

/* NaN has no colour; a mid gray stands out on both colour maps. */
#define NAN_GRAY 128

int foil_image_create(foil_image *img, int w, int h, uint8_t r, uint8_t g, uint8_t b,
                      foil_err *err) {
    if (!img) return foil_fail(err, "image: no canvas to create");
    img->w = img->h = 0;
    img->rgb = NULL;
    size_t npix, bytes;
    if (w <= 0 || h <= 0 || foil_mul_size((size_t)w, (size_t)h, &npix) != 0 ||
        foil_mul_size(npix, 3, &bytes) != 0 || bytes > IMAGE_MAX_BYTES)
        return foil_fail(err, "image of %d x %d pixels is empty or too large (max %zu bytes)",
                         w, h, IMAGE_MAX_BYTES);
    uint8_t *p = malloc(bytes);
    if (!p) return foil_fail(err, "image of %d x %d pixels: out of memory", w, h);
    for (size_t i = 0; i < npix; i++) {
        p[3 * i] = r;
        p[3 * i + 1] = g;
        p[3 * i + 2] = b;
    }
    img->w = w;
    img->h = h;
    img->rgb = p;
    return 0;
}

void foil_image_free(foil_image *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->w = img->h = 0;
}

/* ------------------------------------------------------------------ drawing */

/* Whether a (rows, cols) map can be drawn at all; bad arguments draw nothing. */
static int map_ok(const foil_image *img, const float *v, int rows, int cols, int scale) {
    size_t n;
    return img && img->rgb && img->w > 0 && img->h > 0 && v && rows > 0 && cols > 0 &&
           scale > 0 && foil_mul_size((size_t)rows, (size_t)cols, &n) == 0;
}

/* Fills the scale x scale block of cell (r, c), clipped to the canvas. The
 * corner is computed in 64 bits: x + c * scale can overflow an int. */
static void fill_cell(foil_image *img, int x, int y, int r, int c, int scale,
                      const uint8_t rgb[3]) {
    int64_t x0 = (int64_t)x + (int64_t)c * scale, y0 = (int64_t)y + (int64_t)r * scale;
    int64_t x1 = x0 + scale, y1 = y0 + scale;
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->w) x1 = img->w;
    if (y1 > img->h) y1 = img->h;
    for (int64_t yy = y0; yy < y1; yy++) {
        uint8_t *p = img->rgb + ((size_t)yy * (size_t)img->w + (size_t)x0) * 3;
        for (int64_t xx = x0; xx < x1; xx++, p += 3) memcpy(p, rgb, 3);
    }
}

static uint8_t to_byte(float v) { /* v in [0, 255] */
    return (uint8_t)lrintf(v);
}

static void gray_rgb(float v, uint8_t rgb[3]) {
    uint8_t g = NAN_GRAY;
    if (!isnan(v)) g = to_byte(255.0f * (v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v));
    rgb[0] = rgb[1] = rgb[2] = g;
}

void foil_image_draw_gray(foil_image *img, int x, int y, const float *v, int rows, int cols,
                          int scale) {
    if (!map_ok(img, v, rows, cols, scale)) return;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            uint8_t rgb[3];
            gray_rgb(v[(size_t)r * (size_t)cols + (size_t)c], rgb);
            fill_cell(img, x, y, r, c, scale, rgb);
        }
}

/* RdBu-like stops for |t| = 0, 1/4, 1/2, 3/4, 1 (ColorBrewer RdBu, with pure
 * white at 0). Every channel falls monotonically with |t|, so saturation and
 * darkness grow steadily with the magnitude on both sides. */
static const uint8_t RED_STOPS[5][3] = {
    {255, 255, 255}, {253, 219, 199}, {244, 165, 130}, {214, 96, 77}, {178, 24, 43}};
static const uint8_t BLUE_STOPS[5][3] = {
    {255, 255, 255}, {209, 229, 240}, {146, 197, 222}, {67, 147, 195}, {33, 102, 172}};

void foil_diverging_rgb(float t, uint8_t rgb[3]) {
    if (isnan(t)) {
        rgb[0] = rgb[1] = rgb[2] = NAN_GRAY;
        return;
    }
    const uint8_t(*stops)[3] = t < 0.0f ? BLUE_STOPS : RED_STOPS;
    float a = fabsf(t) > 1.0f ? 1.0f : fabsf(t);
    float pos = a * 4.0f;
    int i = pos >= 4.0f ? 3 : (int)pos;
    float f = pos - (float)i;
    for (int ch = 0; ch < 3; ch++)
        rgb[ch] = to_byte((1.0f - f) * stops[i][ch] + f * stops[i + 1][ch]);
}

/* limit <= 0 (or NaN) means the largest finite |v| of the map; 0 when the map
 * has no non-zero finite value, and then every finite value draws white. */
static float resolve_limit(const float *v, size_t n, float limit) {
    if (limit > 0.0f) return limit;
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        if (isfinite(v[i]) && fabsf(v[i]) > m) m = fabsf(v[i]);
    return m;
}

/* v scaled into [-1, 1] by the limit (before clipping); NaN stays NaN. */
static float scaled(float v, float limit) {
    if (isnan(v)) return v;
    if (limit > 0.0f) return v / limit;
    return 0.0f;
}

void foil_image_draw_diverging(foil_image *img, int x, int y, const float *v, int rows, int cols,
                               int scale, float limit) {
    if (!map_ok(img, v, rows, cols, scale)) return;
    float lim = resolve_limit(v, (size_t)rows * (size_t)cols, limit);
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            uint8_t rgb[3];
            foil_diverging_rgb(scaled(v[(size_t)r * (size_t)cols + (size_t)c], lim), rgb);
            fill_cell(img, x, y, r, c, scale, rgb);
        }
}

/* The ink shows through: the colour's weight is alpha * min(1, |t|), so a zero
 * (or NaN) attribution leaves the digit's gray untouched. */
static void overlay_rgb(float digit, float t, float alpha, uint8_t rgb[3]) {
    uint8_t col[3];
    gray_rgb(digit, rgb);
    if (isnan(t)) return;
    float a = fabsf(t) > 1.0f ? 1.0f : fabsf(t);
    float wgt = alpha * a;
    foil_diverging_rgb(t, col);
    for (int ch = 0; ch < 3; ch++) rgb[ch] = to_byte((1.0f - wgt) * rgb[ch] + wgt * col[ch]);
}

void foil_image_draw_overlay(foil_image *img, int x, int y, const float *digit,
                             const float *attr, int rows, int cols, int scale, float limit,
                             float alpha) {
    if (!map_ok(img, digit, rows, cols, scale) || !attr) return;
    float lim = resolve_limit(attr, (size_t)rows * (size_t)cols, limit);
    /* NaN alpha draws the plain digit; the blend needs a weight in [0, 1] */
    float al = alpha > 1.0f ? 1.0f : alpha > 0.0f ? alpha : 0.0f;
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) {
            size_t i = (size_t)r * (size_t)cols + (size_t)c;
            uint8_t rgb[3];
            overlay_rgb(digit[i], scaled(attr[i], lim), al, rgb);
            fill_cell(img, x, y, r, c, scale, rgb);
        }
}
