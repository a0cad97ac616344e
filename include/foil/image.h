/* Images for people: RGB8 canvases, colour maps, grids, PNG files (libpng).
 * Used for adversarial example grids (clean | adversarial | perturbation) and
 * attribution heatmaps. */
#ifndef FOIL_IMAGE_H
#define FOIL_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "foil/error.h"

typedef struct foil_image {
    int w, h;
    uint8_t *rgb; /* (h, w, 3) */
} foil_image;

/* A canvas filled with one colour; -1 on allocation failure or absurd sizes. */
int foil_image_create(foil_image *img, int w, int h, uint8_t r, uint8_t g, uint8_t b,
                      foil_err *err);
void foil_image_free(foil_image *img);

/* Draws a (rows, cols) float map into the canvas at (x, y), each value a
 * scale x scale block:
 *  - gray: v in [0, 1] -> black..white (values outside are clipped);
 *  - diverging: v in [-limit, limit] -> blue..white..red (0 is white);
 *    limit <= 0 means max |v| of the map (all-zero maps draw white);
 *  - overlay: the digit in gray with the diverging map blended over it with
 *    opacity alpha where |v| is large (|v| / limit), so the ink stays visible. */
void foil_image_draw_gray(foil_image *img, int x, int y, const float *v, int rows, int cols,
                          int scale);
void foil_image_draw_diverging(foil_image *img, int x, int y, const float *v, int rows, int cols,
                               int scale, float limit);
void foil_image_draw_overlay(foil_image *img, int x, int y, const float *digit,
                             const float *attr, int rows, int cols, int scale, float limit,
                             float alpha);

/* The diverging colour of t in [-1, 1] (clipped). */
void foil_diverging_rgb(float t, uint8_t rgb[3]);

/* Writes an RGB PNG atomically (encoded in memory, then temp file + rename). */
int foil_png_write(const char *path, const foil_image *img, foil_err *err);
/* Reads a PNG (any colour type libpng can turn into RGB8). */
int foil_png_read(const char *path, foil_image *img, foil_err *err);

#endif
