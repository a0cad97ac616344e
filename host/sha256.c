/* SHA-256 (FIPS 180-4), written from the standard, used to verify downloaded
 * data. Streaming: a file is hashed 64 KiB at a time, never held whole. */
#include "foil/data.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

typedef struct sha256_ctx {
    uint32_t h[8];     /* running hash value */
    uint8_t block[64]; /* pending bytes of the current block */
    size_t nblock;     /* bytes used in block */
    uint64_t nbytes;   /* total message length so far */
} sha256_ctx;

/* FIPS 180-4 section 4.2.2: first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void sha256_init(sha256_ctx *c) {
    /* Section 5.3.3: fractional parts of the square roots of the first 8 primes. */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->nblock = 0;
    c->nbytes = 0;
}

/* Section 6.2.2: message schedule, then 64 rounds on one 512-bit block. */
static void sha256_compress(uint32_t h[8], const uint8_t blk[64]) {
    uint32_t w[64];
    for (int t = 0; t < 16; t++) w[t] = load_be32(blk + 4 * t);
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = k + S1 + ch + K[t] + w[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = S0 + maj;
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d;
    h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

static void sha256_update(sha256_ctx *c, const uint8_t *p, size_t n) {
    c->nbytes += n;
    while (n > 0) {
        if (c->nblock == 0 && n >= 64) { /* whole blocks straight from the input */
            sha256_compress(c->h, p);
            p += 64, n -= 64;
            continue;
        }
        size_t take = 64 - c->nblock < n ? 64 - c->nblock : n;
        memcpy(c->block + c->nblock, p, take);
        c->nblock += take, p += take, n -= take;
        if (c->nblock == 64) {
            sha256_compress(c->h, c->block);
            c->nblock = 0;
        }
    }
}

/* Section 5.1.1: append 0x80, zeros to 56 mod 64, then the bit length (64-bit BE). */
static void sha256_final(sha256_ctx *c, uint8_t out[32]) {
    uint64_t bits = c->nbytes * 8;
    uint8_t pad[72] = {0x80};
    size_t npad = (c->nblock < 56 ? 56 : 120) - c->nblock;
    for (int i = 0; i < 8; i++) pad[npad + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_update(c, pad, npad + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

static void to_hex(const uint8_t digest[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = 0;
}

void foil_sha256_hex(const void *data, size_t len, char hex[65]) {
    sha256_ctx ctx;
    uint8_t digest[32];
    sha256_init(&ctx);
    sha256_update(&ctx, data, len);
    sha256_final(&ctx, digest);
    to_hex(digest, hex);
}

int foil_sha256_file(const char *path, char hex[65], foil_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return foil_fail(err, "%s: cannot open: %s", path, strerror(errno));
    sha256_ctx ctx;
    sha256_init(&ctx);
    uint8_t buf[1 << 16]; /* 64 KiB: large enough that syscalls don't dominate */
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&ctx, buf, got);
    int failed = ferror(f);
    int saved = errno;
    fclose(f);
    if (failed) return foil_fail(err, "%s: read error: %s", path, strerror(saved));
    uint8_t digest[32];
    sha256_final(&ctx, digest);
    to_hex(digest, hex);
    return 0;
}
