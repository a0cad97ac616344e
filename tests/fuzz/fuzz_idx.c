/* libFuzzer target for the IDX readers (host/data/idx.c): the input is one file,
 * raw or gzip, read both as an image file and as a label file (at most one
 * can have the right magic). An image file that reads is written back with
 * foil_idx_write_images and must read back to the same pixels. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "foil/data.h"
#include "fuzz_util.h"

static char in_path[512], out_path[512];

static void remove_files(void) {
    unlink(in_path);
    unlink(out_path);
}

static void check_images(const float *px, int n, int rows, int cols) {
    FUZZ_CHECK(n > 0 && rows > 0 && cols > 0, "images read as %d of %dx%d", n, rows, cols);
    size_t count = (size_t)n * (size_t)rows * (size_t)cols;
    for (size_t i = 0; i < count; i++)
        FUZZ_CHECK(px[i] >= 0.0f && px[i] <= 1.0f, "pixel %zu is %g, not in [0, 1]", i,
                   (double)px[i]);

    foil_err err = {{0}};
    int rc = foil_idx_write_images(out_path, px, n, rows, cols, &err);
    FUZZ_CHECK(rc == 0, "writing back %d images of %dx%d failed: %s", n, rows, cols, err.msg);
    float *back = NULL;
    int n2 = 0, r2 = 0, c2 = 0;
    rc = foil_idx_read_images(out_path, 0, &back, &n2, &r2, &c2, &err);
    FUZZ_CHECK(rc == 0, "reading back the written images failed: %s", err.msg);
    FUZZ_CHECK(n2 == n && r2 == rows && c2 == cols, "read back %d of %dx%d, wrote %d of %dx%d",
               n2, r2, c2, n, rows, cols);
    FUZZ_CHECK(memcmp(back, px, count * sizeof *px) == 0, "pixels changed in a round trip");
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!in_path[0]) {
        fuzz_tmp_path(in_path, sizeof in_path, "idx-in");
        fuzz_tmp_path(out_path, sizeof out_path, "idx-out");
        atexit(remove_files);
    }
    fuzz_write_file(in_path, data, size);

    foil_err err = {{0}};
    float *px = NULL;
    int n = 0, rows = 0, cols = 0;
    if (foil_idx_read_images(in_path, 0, &px, &n, &rows, &cols, &err) == 0) {
        check_images(px, n, rows, cols);
        free(px);
    } else {
        fuzz_check_err(&err, "foil_idx_read_images");
    }

    err.msg[0] = 0;
    uint8_t *labels = NULL;
    int nl = 0;
    if (foil_idx_read_labels(in_path, 0, &labels, &nl, NULL, &err) == 0) {
        FUZZ_CHECK(nl > 0, "labels read as %d", nl);
        uint64_t sum = 0; /* touch every label so ASan sees the whole buffer */
        for (int i = 0; i < nl; i++) sum += labels[i];
        FUZZ_CHECK(sum <= 255u * (uint64_t)nl, "label sum %llu", (unsigned long long)sum);
        free(labels);
    } else {
        fuzz_check_err(&err, "foil_idx_read_labels");
    }
    return 0;
}
