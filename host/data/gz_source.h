/* A file read as a stream of bytes: as it is, or gunzipped when it starts
 * with the gzip magic. Reading is on demand, so a caller that wants the
 * first n bytes decompresses no more than that. Concatenated gzip members
 * are one stream (as gzip -d reads them); anything else after a member
 * (garbage, a partial member) is an error, as a raw file with trailing
 * bytes is for the IDX reader. Private to host/data/idx.c. */
#ifndef FOIL_GZ_SOURCE_H
#define FOIL_GZ_SOURCE_H

#include <stdint.h>
#include <sys/types.h>
#include <zlib.h>

#include "foil/error.h"

typedef struct gz_source {
    const char *path;
    int fd;
    int gzip;          /* the file is gzip (else raw) */
    off_t raw_size;    /* the file's size */
    z_stream zs;
    int zs_ready;      /* inflateInit2 done */
    int member_done;   /* the current gzip member ended (Z_STREAM_END) */
    int file_eof;      /* every byte of the file has been read into in[] */
    int done;          /* no more data: the stream ended where it may */
    unsigned char *in; /* GZ_SOURCE_CHUNK bytes of input */
    size_t in_len, in_pos;
} gz_source;

int gz_source_open(gz_source *s, const char *path, foil_err *err);
/* Reads exactly n bytes into dst; *got tells how many there were when the
 * data ended first (then the call still returns 0). */
int gz_source_read(gz_source *s, void *dst, size_t n, size_t *got, foil_err *err);
/* Whether the data end here: *more = 1 when at least one more byte follows.
 * For gzip this also reads the member's trailer, so its CRC and length are
 * checked. */
int gz_source_more(gz_source *s, int *more, foil_err *err);
void gz_source_close(gz_source *s);

#endif
