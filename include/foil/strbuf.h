/* A growable text buffer for the files foil writes whole (CSV, Markdown,
 * HTML, YAML): append formatted text of any length, then write or take the
 * string. An allocation failure is sticky: `failed` is set, later appends do
 * nothing, and the caller reports "out of memory" once at the end. */
#ifndef FOIL_STRBUF_H
#define FOIL_STRBUF_H

#include <stddef.h>

#include "foil/error.h"

typedef struct foil_strbuf {
    char *s;      /* NUL-terminated once anything was appended; NULL before */
    size_t len, cap;
    int failed;   /* an allocation failed: the text is incomplete */
} foil_strbuf;

/* Appends formatted text. Returns 0, or -1 once the buffer has failed. */
int foil_sb_put(foil_strbuf *b, const char *fmt, ...) FOIL_PRINTF(2, 3);
/* Appends n bytes of s. Returns 0 or -1 as foil_sb_put. */
int foil_sb_append(foil_strbuf *b, const char *s, size_t n);
/* The text, owned by the caller ("" when empty); NULL when an allocation
 * failed. The buffer is empty afterwards. */
char *foil_sb_take(foil_strbuf *b);
void foil_sb_free(foil_strbuf *b);

/* Copies text into out (cap bytes); when it does not fit, the middle goes
 * and "..." stands for it (never inside a UTF-8 character). The head names
 * the file or key, the tail says what is wrong: a long path never costs a
 * message its reason. */
void foil_str_elide(char *out, size_t cap, const char *text);

#endif
