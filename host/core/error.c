#include "foil/error.h"
#include "foil/strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Control characters (a newline in a tensor name or a key, say) become
 * spaces, so that every message stays on one line. */
static void one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

/* Formats into err->msg through a heap buffer of the full length, so that
 * elision can keep the end (tail, when not NULL, follows after ": "); a
 * failed allocation falls back to a plain cut. */
static void format_msg(foil_err *err, const char *tail, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    size_t plen = tail ? strlen(tail) + 2 : 0;
    char *buf = n >= 0 ? malloc((size_t)n + plen + 1) : NULL;
    if (!buf) {
        vsnprintf(err->msg, sizeof err->msg, fmt, ap2);
        va_end(ap2);
        return;
    }
    vsnprintf(buf, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    if (tail) { /* "<formatted>: <tail>" */
        memcpy(buf + n, ": ", 2);
        memcpy(buf + n + 2, tail, plen - 2);
        buf[(size_t)n + plen] = 0;
    }
    foil_str_elide(err->msg, sizeof err->msg, buf);
    free(buf);
}

int foil_fail(foil_err *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    format_msg(err, NULL, fmt, ap);
    va_end(ap);
    one_line(err->msg);
    return -1;
}

int foil_fail_prefix(foil_err *err, const char *fmt, ...) {
    if (!err) return -1;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    va_list ap;
    va_start(ap, fmt);
    format_msg(err, old, fmt, ap);
    va_end(ap);
    one_line(err->msg);
    return -1;
}

int foil_mul_size(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

int foil_add_size(size_t a, size_t b, size_t *out) {
    if (b > SIZE_MAX - a) return -1;
    *out = a + b;
    return 0;
}
