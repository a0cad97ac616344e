/* MNIST-format data: IDX readers (gzip or raw), data sets in memory, and
 * fetching the four MNIST files with SHA-256 verification. */
#ifndef FOIL_DATA_H
#define FOIL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "foil/error.h"

#define FOIL_IDX_IMAGES_MAGIC 2051 /* 0x00000803: unsigned byte, 3 dims */
#define FOIL_IDX_LABELS_MAGIC 2049 /* 0x00000801: unsigned byte, 1 dim */

/* Reads an IDX3 image file (gzip or raw, detected by content). Validates the
 * magic, the dimensions (non-zero, product not overflowing, at most 2^31
 * images) and the payload length against the header before allocating.
 * *pixels: (n, rows*cols) float32 in [0,1], malloc'd. */
int foil_idx_read_images(const char *path, float **pixels, int *n, int *rows, int *cols,
                         foil_err *err);

/* Reads an IDX1 label file (gzip or raw). *labels: (n) malloc'd. */
int foil_idx_read_labels(const char *path, uint8_t **labels, int *n, foil_err *err);

/* Writes an IDX3 image file (raw, uncompressed) from floats in [0,1], rounded
 * to bytes; written atomically (temp file, fsync, rename). */
int foil_idx_write_images(const char *path, const float *pixels, int n, int rows, int cols,
                          foil_err *err);

typedef struct foil_dataset {
    int n;           /* number of images */
    int rows, cols;  /* image size (28x28 for MNIST) */
    int classes;     /* 1 + the largest label, at least 10 */
    float *images;   /* (n, rows*cols) in [0,1] */
    uint8_t *labels; /* (n) */
} foil_dataset;

/* Loads "<dir>/<split>-images-idx3-ubyte[.gz]" and the matching labels file,
 * split is "train" or "t10k". Checks that image and label counts agree.
 * limit > 0 keeps only the first `limit` samples. */
int foil_dataset_load(foil_dataset *ds, const char *dir, const char *split, int limit,
                      foil_err *err);
void foil_dataset_free(foil_dataset *ds);

/* SHA-256 of a file as 64 lowercase hex characters plus NUL. */
int foil_sha256_file(const char *path, char hex[65], foil_err *err);
/* SHA-256 of a buffer, likewise. */
void foil_sha256_hex(const void *data, size_t len, char hex[65]);

/* Fills dest_dir with the four MNIST .gz files and verifies each against the
 * SHA-256 sums in sums_path (sha256sum format). `from` is a local folder, a
 * URL prefix (http/https/file, fetched with curl or wget), or NULL for the
 * public mirrors. Files already present with the right checksum are kept; a
 * download goes to a temporary file that is renamed only once verified.
 * Progress lines go to stderr. */
int foil_data_fetch(const char *dest_dir, const char *from, const char *sums_path,
                    foil_err *err);

#endif
