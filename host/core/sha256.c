/* SHA-256 through OpenSSL's libcrypto (EVP), see include/foil/hash.h. */
#include "foil/hash.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "foil/fileio.h"

static void to_hex(const unsigned char *digest, char hex[FOIL_SHA256_HEX]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = 0;
}

int foil_sha256_begin(foil_sha256 *h, foil_err *err) {
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    h->ctx = c;
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        foil_sha256_free(h);
        return foil_fail(err, "SHA-256: libcrypto could not start a digest");
    }
    return 0;
}

int foil_sha256_add(foil_sha256 *h, const void *data, size_t len, foil_err *err) {
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return foil_fail(err, "SHA-256: libcrypto failed to hash %zu bytes", len);
    return 0;
}

int foil_sha256_end(foil_sha256 *h, char hex[FOIL_SHA256_HEX], foil_err *err) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(h->ctx, digest, &n) == 1 && n == 32;
    foil_sha256_free(h);
    if (!ok) return foil_fail(err, "SHA-256: libcrypto failed to finish the digest");
    to_hex(digest, hex);
    return 0;
}

void foil_sha256_free(foil_sha256 *h) {
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

int foil_sha256_hex(const void *data, size_t len, char hex[FOIL_SHA256_HEX], foil_err *err) {
    foil_sha256 h;
    if (foil_sha256_begin(&h, err)) return -1;
    if (foil_sha256_add(&h, data, len, err)) {
        foil_sha256_free(&h);
        return -1;
    }
    return foil_sha256_end(&h, hex, err);
}

int foil_sha256_file(const char *path, char hex[FOIL_SHA256_HEX], foil_err *err) {
    FILE *f = foil_fopen_read(path, 0, err);
    if (!f) return -1;
    foil_sha256 h;
    if (foil_sha256_begin(&h, err)) {
        fclose(f);
        return -1;
    }
    static const size_t block = 1 << 16; /* 64 KiB: large enough that syscalls don't dominate */
    unsigned char buf[1 << 16];
    size_t got;
    int rc = 0;
    while (rc == 0 && (got = fread(buf, 1, block, f)) > 0) rc = foil_sha256_add(&h, buf, got, err);
    int failed = ferror(f), saved = errno;
    fclose(f);
    if (rc == 0 && failed) rc = foil_fail(err, "%s: read error: %s", path, strerror(saved));
    if (rc) {
        foil_sha256_free(&h);
        return -1;
    }
    return foil_sha256_end(&h, hex, err);
}
