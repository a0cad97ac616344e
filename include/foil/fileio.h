/* Files and paths: paths built so that they are never cut, names from
 * configs checked before they become part of a path, reading that refuses
 * what is not a regular file (a FIFO would block forever), and the atomic
 * whole-file write every output goes through. */
#ifndef FOIL_FILEIO_H
#define FOIL_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "foil/error.h"

/* The longest path foil builds, NUL included: Linux's PATH_MAX, beyond
 * which the kernel refuses a path anyway. */
#define FOIL_PATH_MAX 4096
/* Bytes foil may append to an output folder it is given (sub-folders, file
 * names with an attack label, ".tmp.<pid>"); an output folder must leave
 * this much room, so that no path inside it is refused after work began. */
#define FOIL_PATH_ROOM 512
/* The longest name from a config that becomes part of a file name (a study
 * name, an attack label). */
#define FOIL_NAME_MAX 64

/* Formats a path into out (FOIL_PATH_MAX bytes). Returns 0, or -1 with
 * "path too long (N bytes, at most 4095): <the path, elided>" when it would
 * not fit: a path is never silently cut. */
int foil_path(char out[FOIL_PATH_MAX], foil_err *err, const char *fmt, ...) FOIL_PRINTF(3, 4);

/* Checks an output folder given by the user (what: "-o", "rundir", ...):
 * not empty and short enough to leave FOIL_PATH_ROOM bytes for what foil
 * writes inside. */
int foil_check_outdir(const char *what, const char *dir, foil_err *err);

/* Checks a name from a config that becomes part of a file name (key: the
 * config key, for the message): 1 to FOIL_NAME_MAX - 1 characters of
 * letters, digits, '_', '-', '+' and '.', not starting with '.' (so never
 * "..", "/" or a hidden file). */
int foil_check_name(const char *key, const char *name, foil_err *err);

enum { FOIL_READ_STDIN = 1 }; /* "-" and "/dev/stdin" read standard input */

/* Opens a file for reading, refusing anything but a regular file before
 * reading a byte (a FIFO, a device or a folder would block or mislead):
 * "<path>: not a regular file (a FIFO)". With FOIL_READ_STDIN, "-" and
 * "/dev/stdin" give a duplicate of standard input, whatever it is. Returns a
 * descriptor (close it), or -1 with the message in err. */
int foil_open_read(const char *path, int flags, foil_err *err);
/* The same as a stdio stream ("rb"). */
FILE *foil_fopen_read(const char *path, int flags, foil_err *err);

/* One piece of a file to write. */
typedef struct foil_part {
    const void *data;
    size_t len;
} foil_part;

/* Writes the parts to "<path>.tmp.<pid>", fsyncs, renames it over path and
 * fsyncs the folder. On any failure the temporary file is removed and path
 * is untouched. A path that exists and is not a regular file (a device such
 * as /dev/full, a FIFO) is written in place: there is nothing to replace
 * atomically, and renaming over a device node would destroy it. */
int foil_write_parts_atomic(const char *path, const foil_part *parts, int nparts, foil_err *err);
/* One buffer, likewise: configs, metrics and results, so that no reader sees
 * half a file. */
int foil_write_file_atomic(const char *path, const void *data, size_t len, foil_err *err);
/* A cJSON tree, printed (indented), likewise; the tree stays the caller's. */
struct cJSON;
int foil_write_json_atomic(const char *path, const struct cJSON *json, foil_err *err);

#endif
