/* foil_strbuf: see include/foil/strbuf.h. */
#include "foil/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(foil_strbuf *b, size_t more) {
    if (b->failed) return -1;
    if (more > ((size_t)-1) / 4 - b->len) {
        b->failed = 1;
        return -1;
    }
    if (b->len + more + 1 <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
        b->failed = 1;
        return -1;
    }
    b->s = p;
    b->cap = cap;
    return 0;
}

int foil_sb_put(foil_strbuf *b, const char *fmt, ...) {
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) b->failed = 1;
    if (n >= 0 && reserve(b, (size_t)n) == 0) {
        vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap2);
        b->len += (size_t)n;
    }
    va_end(ap2);
    return b->failed ? -1 : 0;
}

int foil_sb_append(foil_strbuf *b, const char *s, size_t n) {
    if (reserve(b, n)) return -1;
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
    return 0;
}

char *foil_sb_take(foil_strbuf *b) {
    char *s = NULL;
    if (!b->failed && !b->s) s = calloc(1, 1);
    else if (!b->failed) s = b->s, b->s = NULL;
    foil_sb_free(b);
    return s;
}

void foil_sb_free(foil_strbuf *b) {
    free(b->s);
    *b = (foil_strbuf){0};
}

/* A UTF-8 continuation byte. */
static int continuation(char c) { return ((unsigned char)c & 0xC0) == 0x80; }

void foil_str_elide(char *out, size_t cap, const char *text) {
    size_t len = strlen(text);
    if (cap == 0) return;
    if (len < cap) {
        memmove(out, text, len + 1);
        return;
    }
    if (cap < 8) { /* too small to elide: a plain cut, on a character boundary */
        size_t n = cap - 1;
        while (n > 0 && continuation(text[n])) n--;
        memmove(out, text, n);
        out[n] = 0;
        return;
    }
    size_t head = cap / 3, tail = cap - head - 4; /* "..." and the NUL */
    while (head > 0 && continuation(text[head])) head--;
    size_t from = len - tail;
    while (from < len && continuation(text[from])) from++;
    memmove(out, text, head);
    memcpy(out + head, "...", 3);
    memmove(out + head + 3, text + from, len - from + 1);
}
