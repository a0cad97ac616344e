/* Synthetic MNIST-format data for tests that need no real data: class c is a
 * bright 8x8 square at a class-specific place on a noisy 28x28 background,
 * easy enough for a tiny CNN to learn in one epoch. */
#ifndef FOIL_TEST_SYNTH_H
#define FOIL_TEST_SYNTH_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "foil/philox.h"
#include "testutil.h"

static void synth_write_idx(const char *dir_name, const char *split, int n, uint64_t seed) {
    size_t img_len = 16 + (size_t)n * 784, lab_len = 8 + (size_t)n;
    uint8_t *img = calloc(1, img_len), *lab = calloc(1, lab_len);
    const uint8_t ih[16] = {0, 0, 8, 3, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                            (uint8_t)n, 0, 0, 0, 28, 0, 0, 0, 28};
    const uint8_t lh[8] = {0, 0, 8, 1, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8),
                           (uint8_t)n};
    memcpy(img, ih, 16);
    memcpy(lab, lh, 8);
    for (int i = 0; i < n; i++) {
        int c = (int)(foil_rng_u32(seed, 1, (uint64_t)i) % 10);
        lab[8 + i] = (uint8_t)c;
        uint8_t *p = img + 16 + (size_t)i * 784;
        for (int k = 0; k < 784; k++)
            p[k] = (uint8_t)(foil_rng_u32(seed, 2 + (uint64_t)i, (uint64_t)k) % 60);
        int y0 = 2 + (c / 5) * 12, x0 = 1 + (c % 5) * 5;
        for (int y = y0; y < y0 + 8; y++)
            for (int x = x0; x < x0 + 6; x++) p[y * 28 + x] = 255;
    }
    char name[256], path[1024];
    snprintf(name, sizeof name, "%s/%s-images-idx3-ubyte.gz", dir_name, split);
    tu_write_gz(path, sizeof path, name, img, img_len);
    snprintf(name, sizeof name, "%s/%s-labels-idx1-ubyte.gz", dir_name, split);
    tu_write_gz(path, sizeof path, name, lab, lab_len);
    free(img);
    free(lab);
}

/* Makes <tmp>/<dir_name>/ with a train and a t10k set. */
static void synth_dataset(const char *dir_name, int ntrain, int ntest) {
    char path[1024], cmd[1200];
    tu_path(path, sizeof path, dir_name);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", path);
    if (system(cmd) != 0) exit(1);
    synth_write_idx(dir_name, "train", ntrain, 100);
    synth_write_idx(dir_name, "t10k", ntest, 200);
}

/* A synthetic data set "synth" (128 train, 40 test images), the recipe
 * text written to recipe.yaml, and a model trained on it by the foil binary
 * into model/; paths into data, recipe and model (1024, 1024, 1100 bytes).
 * Exits 1 when training fails: the test has nothing to work on. */
static inline void synth_trained_model(const char *recipe_text, char *data, char *recipe, char *model) {
    char args[4096], out[8192], dir[1024];
    synth_dataset("synth", 128, 40);
    tu_path(data, 1024, "synth");
    tu_write_file(recipe, 1024, "recipe.yaml", recipe_text, strlen(recipe_text));
    tu_path(dir, sizeof dir, "model");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s'", recipe, dir, data);
    if (tu_run_logged(args, 0, 0, out, sizeof out) != 0) {
        fprintf(stderr, "cannot train the test model: %s", out);
        exit(1);
    }
    snprintf(model, 1100, "%s/model.safetensors", dir);
}

#endif
