/* MNIST-format data: IDX readers (gzip or raw), data sets in memory, and
 * fetching the four MNIST files with SHA-256 verification. */
#ifndef FOIL_DATA_H
#define FOIL_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "foil/error.h"
#include "foil/fileio.h"
#include "foil/hash.h"

#define FOIL_IDX_IMAGES_MAGIC 2051 /* 0x00000803: unsigned byte, 3 dims */
#define FOIL_IDX_LABELS_MAGIC 2049 /* 0x00000801: unsigned byte, 1 dim */

/* Reads an IDX3 image file (gzip or raw, detected by content). Validates the
 * magic, the dimensions (non-zero, product not overflowing, at most 2^31
 * images) and, for a raw file, its length against the header before
 * allocating. limit > 0 keeps only the first `limit` images, and then only
 * those are decompressed; otherwise the whole payload is read and its end
 * checked (trailing bytes, or data after a gzip member, are refused).
 * *pixels: (n, rows*cols) float32 in [0,1], malloc'd. */
int foil_idx_read_images(const char *path, int limit, float **pixels, int *n, int *rows,
                         int *cols, foil_err *err);

/* Reads an IDX1 label file (gzip or raw) likewise. *labels: (n) malloc'd;
 * *total (may be NULL): the count the header gives. */
int foil_idx_read_labels(const char *path, int limit, uint8_t **labels, int *n, int *total,
                         foil_err *err);

/* Writes an IDX3 image file (raw, uncompressed) from floats in [0,1], rounded
 * to bytes; written atomically (temp file, fsync, rename). */
int foil_idx_write_images(const char *path, const float *pixels, int n, int rows, int cols,
                          foil_err *err);

typedef struct foil_dataset {
    int n;           /* number of images */
    int rows, cols;  /* image size (28x28 for MNIST) */
    int classes;     /* 1 + the largest label kept, at least 10 */
    float *images;   /* (n, rows*cols) in [0,1] */
    uint8_t *labels; /* (n) */
    char labels_path[FOIL_PATH_MAX]; /* the labels file, for messages */
} foil_dataset;

/* Loads "<dir>/<split>-images-idx3-ubyte[.gz]" and the matching labels file,
 * split is "train" or "t10k". Checks that image and label counts agree
 * (from the headers, before decompressing). limit > 0 keeps only the first
 * `limit` samples, and only they are decompressed and held. */
int foil_dataset_load(foil_dataset *ds, const char *dir, const char *split, int limit,
                      foil_err *err);
/* The number of images "<dir>/<split>-images-idx3-ubyte[.gz]" holds, from
 * its header alone (to check indices before any work). */
int foil_dataset_count(const char *dir, const char *split, int *n, foil_err *err);
/* Fails on the first label that is not a class of a model with `classes`
 * outputs, naming the labels file and the sample's index in it. */
int foil_dataset_check_labels(const foil_dataset *ds, int classes, foil_err *err);
void foil_dataset_free(foil_dataset *ds);

/* Fills dest_dir with the four MNIST .gz files and verifies each against the
 * SHA-256 sums in sums_path (sha256sum format). `from` is a local folder, a
 * URL prefix (http/https/file, fetched with curl or wget), or NULL for the
 * public mirrors. Files already present with the right checksum are kept; a
 * download goes to a temporary file that is renamed only once verified.
 * Progress lines go to stderr. */
int foil_data_fetch(const char *dest_dir, const char *from, const char *sums_path,
                    foil_err *err);

#endif
