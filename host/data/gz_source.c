/* gz_source: see host/data/gz_source.h. zlib's gzread is not used: it skips
 * trailing garbage after a gzip member silently, and reads a whole member
 * where the caller wants a few bytes of it. */
#include "gz_source.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foil/fileio.h"

#define GZ_SOURCE_CHUNK ((size_t)1 << 17) /* 128 KiB per read(2) */

/* Refills in[] (keeping unread bytes) until it holds at least `want` bytes
 * or the file ends. */
static int fill(gz_source *s, size_t want, foil_err *err) {
    if (want > GZ_SOURCE_CHUNK) want = GZ_SOURCE_CHUNK;
    if (s->in_pos > 0) {
        memmove(s->in, s->in + s->in_pos, s->in_len - s->in_pos);
        s->in_len -= s->in_pos;
        s->in_pos = 0;
    }
    while (s->in_len < want && !s->file_eof) {
        ssize_t r = read(s->fd, s->in + s->in_len, GZ_SOURCE_CHUNK - s->in_len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return foil_fail(err, "%s: read error: %s", s->path, strerror(errno));
        if (r == 0) s->file_eof = 1;
        s->in_len += (size_t)r;
    }
    return 0;
}

static size_t avail(const gz_source *s) { return s->in_len - s->in_pos; }

int gz_source_open(gz_source *s, const char *path, foil_err *err) {
    memset(s, 0, sizeof *s);
    s->path = path;
    s->fd = -1;
    s->fd = foil_open_read(path, 0, err);
    if (s->fd < 0) return -1;
    struct stat sb;
    if (fstat(s->fd, &sb) == 0) s->raw_size = sb.st_size;
    s->in = malloc(GZ_SOURCE_CHUNK);
    if (!s->in) {
        gz_source_close(s);
        return foil_fail(err, "%s: out of memory", path);
    }
    if (fill(s, 2, err)) {
        gz_source_close(s);
        return -1;
    }
    s->gzip = avail(s) >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (s->gzip) {
        /* 16 + MAX_WBITS: gzip only (a zlib or raw deflate stream is not IDX.gz) */
        if (inflateInit2(&s->zs, 16 + MAX_WBITS) != Z_OK) {
            gz_source_close(s);
            return foil_fail(err, "%s: out of memory starting zlib", path);
        }
        s->zs_ready = 1;
    }
    return 0;
}

/* After a member's end: another member, the end of the file, or garbage. */
static int next_member(gz_source *s, foil_err *err) {
    if (fill(s, 2, err)) return -1;
    if (avail(s) == 0) {
        s->done = 1;
        return 0;
    }
    if (avail(s) < 2 || s->in[s->in_pos] != 0x1f || s->in[s->in_pos + 1] != 0x8b)
        return foil_fail(err, "%s: corrupt gzip: %zu%s bytes of trailing data after the "
                              "compressed stream", s->path, avail(s), s->file_eof ? "" : "+");
    if (inflateReset(&s->zs) != Z_OK) return foil_fail(err, "%s: corrupt gzip", s->path);
    s->member_done = 0;
    return 0;
}

/* Inflates into dst until n bytes are out, the stream ends, or an error. */
static int inflate_some(gz_source *s, unsigned char *dst, size_t n, size_t *got,
                        foil_err *err) {
    *got = 0;
    while (*got < n && !s->done) {
        if (s->member_done) {
            if (next_member(s, err)) return -1;
            continue;
        }
        if (avail(s) == 0 && fill(s, 1, err)) return -1;
        s->zs.next_in = s->in + s->in_pos;
        s->zs.avail_in = (uInt)avail(s);
        size_t room = n - *got;
        s->zs.next_out = dst + *got;
        s->zs.avail_out = room > (1u << 30) ? (1u << 30) : (uInt)room;
        uInt before_out = s->zs.avail_out, before_in = s->zs.avail_in;
        int rc = inflate(&s->zs, Z_NO_FLUSH);
        s->in_pos += before_in - s->zs.avail_in;
        *got += before_out - s->zs.avail_out;
        int stuck = before_in == s->zs.avail_in && before_out == s->zs.avail_out;
        if (rc == Z_STREAM_END) {
            s->member_done = 1;
        } else if (rc == Z_BUF_ERROR || (rc == Z_OK && stuck)) {
            /* zlib wants more input: there is none, or it is still in the file */
            if (s->file_eof && avail(s) == 0)
                return foil_fail(err, "%s: corrupt gzip: stream truncated", s->path);
            if (stuck && fill(s, avail(s) + 1, err)) return -1;
        } else if (rc == Z_MEM_ERROR) {
            return foil_fail(err, "%s: out of memory in zlib", s->path);
        } else if (rc != Z_OK) {
            return foil_fail(err, "%s: corrupt gzip: %s", s->path,
                             s->zs.msg ? s->zs.msg : "bad data");
        }
    }
    return 0;
}

int gz_source_read(gz_source *s, void *dst, size_t n, size_t *got, foil_err *err) {
    if (s->gzip) return inflate_some(s, dst, n, got, err);
    unsigned char *out = dst;
    *got = 0;
    while (*got < n) {
        if (avail(s) == 0) {
            if (s->file_eof) break;
            if (fill(s, 1, err)) return -1;
            continue;
        }
        size_t k = avail(s) < n - *got ? avail(s) : n - *got;
        memcpy(out + *got, s->in + s->in_pos, k);
        s->in_pos += k;
        *got += k;
    }
    return 0;
}

int gz_source_more(gz_source *s, int *more, foil_err *err) {
    unsigned char b;
    size_t got;
    if (gz_source_read(s, &b, 1, &got, err)) return -1;
    *more = got == 1; /* gzip: no more only once the last member ended cleanly */
    return 0;
}

void gz_source_close(gz_source *s) {
    if (s->zs_ready) inflateEnd(&s->zs);
    if (s->fd >= 0) close(s->fd);
    free(s->in);
    s->zs_ready = 0;
    s->fd = -1;
    s->in = NULL;
}
