/* Error reporting: library functions return 0 on success and -1 on failure,
 * leaving a one-line message in a caller-owned foil_err. Only the CLI exits. */
#ifndef FOIL_ERROR_H
#define FOIL_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct foil_err {
    char msg[512];
} foil_err;

#if defined(__GNUC__)
#define FOIL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FOIL_PRINTF(a, b)
#endif

/* Formats the message into err (if not NULL), control characters replaced by
 * spaces so that it stays one line, and returns -1. */
int foil_fail(foil_err *err, const char *fmt, ...) FOIL_PRINTF(2, 3);

/* Prefixes an existing message: "<prefix>: <old message>". Returns -1. */
int foil_fail_prefix(foil_err *err, const char *fmt, ...) FOIL_PRINTF(2, 3);

/* Overflow-checked size arithmetic: return 0 and set *out, or -1 on overflow. */
int foil_mul_size(size_t a, size_t b, size_t *out);
int foil_add_size(size_t a, size_t b, size_t *out);

#ifdef __cplusplus
}
#endif
#endif
