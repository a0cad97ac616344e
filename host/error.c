#include "foil/error.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Control characters (a newline in a tensor name or a key, say) become
 * spaces, so that every message stays on one line. */
static void one_line(char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) *s = ' ';
}

int foil_fail(foil_err *err, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    one_line(err->msg);
    return -1;
}

int foil_fail_prefix(foil_err *err, const char *fmt, ...) {
    if (!err) return -1;
    char old[sizeof err->msg];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* append ": <old>" by hand, truncating at the buffer's end */
    size_t pos = n < 0 ? 0 : (size_t)n;
    const char *tail[2] = {": ", old};
    for (int t = 0; t < 2; t++)
        for (const char *c = tail[t]; *c && pos + 1 < sizeof err->msg; c++) err->msg[pos++] = *c;
    if (pos < sizeof err->msg) err->msg[pos] = 0;
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
