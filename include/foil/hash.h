/* SHA-256 (OpenSSL's libcrypto) as 64 lowercase hex characters plus NUL:
 * downloads are verified with it, checkpoints record and check it. */
#ifndef FOIL_HASH_H
#define FOIL_HASH_H

#include <stddef.h>

#include "foil/error.h"

#define FOIL_SHA256_HEX 65

/* An incremental hash: begin, add any number of times, end (which also
 * releases it; free releases one abandoned before end). */
typedef struct foil_sha256 {
    void *ctx; /* EVP_MD_CTX */
} foil_sha256;

int foil_sha256_begin(foil_sha256 *h, foil_err *err);
int foil_sha256_add(foil_sha256 *h, const void *data, size_t len, foil_err *err);
int foil_sha256_end(foil_sha256 *h, char hex[FOIL_SHA256_HEX], foil_err *err);
void foil_sha256_free(foil_sha256 *h);

/* Of a buffer, and of a file (read in 64 KiB blocks, never held whole). */
int foil_sha256_hex(const void *data, size_t len, char hex[FOIL_SHA256_HEX], foil_err *err);
int foil_sha256_file(const char *path, char hex[FOIL_SHA256_HEX], foil_err *err);

#endif
