/* Philox4x32-10 counter-based RNG (Salmon et al., SC'11), header-only so that
 * gcc and nvcc compile the same arithmetic: the CPU backend and the CUDA
 * kernels draw identical numbers for the same (seed, stream, index).
 *
 *   key     = seed (64 bits)
 *   counter = (index lo, index hi, stream lo, stream hi)
 *
 * A "stream" names one use of randomness (weight init of layer 3, the shuffle
 * of epoch 2, the dropout mask of step 117 in layer 5, the random start of
 * sample 42 in restart 1, ...); `index` is the element within that use. Each
 * call yields four 32-bit words; element i of a stream uses word i % 4 of the
 * block with index i / 4. */
#ifndef FOIL_PHILOX_H
#define FOIL_PHILOX_H

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define FOIL_HD __host__ __device__ __forceinline__
#else
#define FOIL_HD static inline
#endif

typedef struct foil_u32x4 {
    uint32_t v[4];
} foil_u32x4;

FOIL_HD void foil_philox_mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * (uint64_t)b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* The raw block function: 10 rounds on ctr with key k. */
FOIL_HD foil_u32x4 foil_philox4x32_10(foil_u32x4 ctr, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        foil_philox_mulhilo(0xD2511F53u, ctr.v[0], &hi0, &lo0);
        foil_philox_mulhilo(0xCD9E8D57u, ctr.v[2], &hi1, &lo1);
        foil_u32x4 next = {{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
        ctr = next;
        k0 += 0x9E3779B9u; /* golden ratio */
        k1 += 0xBB67AE85u; /* sqrt(3) - 1 */
    }
    return ctr;
}

FOIL_HD foil_u32x4 foil_philox(uint64_t seed, uint64_t stream, uint64_t block) {
    foil_u32x4 ctr = {{(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream,
                       (uint32_t)(stream >> 32)}};
    return foil_philox4x32_10(ctr, (uint32_t)seed, (uint32_t)(seed >> 32));
}

/* Word i of a stream. The word is selected, not indexed: `.v[i & 3]` with
 * a run-time index puts the four words in a GPU thread's local memory (a
 * memory round trip per draw); selects keep them in registers. */
FOIL_HD uint32_t foil_rng_u32(uint64_t seed, uint64_t stream, uint64_t i) {
    foil_u32x4 r = foil_philox(seed, stream, i >> 2);
    uint32_t k = (uint32_t)(i & 3);
    return k == 0 ? r.v[0] : k == 1 ? r.v[1] : k == 2 ? r.v[2] : r.v[3];
}

/* Uniform in [0, 1) with 24 bits, exactly representable in float. */
FOIL_HD float foil_u32_to_unit(uint32_t x) {
    return (float)(x >> 8) * (1.0f / 16777216.0f);
}

FOIL_HD float foil_rng_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    return foil_u32_to_unit(foil_rng_u32(seed, stream, i));
}

/* Standard normal by Box-Muller: elements 2k and 2k+1 share block k (words
 * 0 and 1). Uses logf/cosf/sinf, whose last bit may differ between glibc and
 * CUDA, so cross-backend comparisons of normal draws need a tolerance. */
FOIL_HD float foil_rng_normal(uint64_t seed, uint64_t stream, uint64_t i) {
    foil_u32x4 r = foil_philox(seed, stream, i >> 1);
    float u1 = ((float)(r.v[0] >> 8) + 1.0f) * (1.0f / 16777216.0f); /* (0, 1] */
    float u2 = foil_u32_to_unit(r.v[1]);
    float rad = sqrtf(-2.0f * logf(u1)), th = 6.2831853071795865f * u2;
    return (i & 1) ? rad * sinf(th) : rad * cosf(th);
}

/* Stream ids: a purpose tag in the top byte, the rest says which use. */
#define FOIL_STREAM(tag, id) (((uint64_t)(tag) << 56) | ((uint64_t)(id) & 0x00FFFFFFFFFFFFFFull))
enum {
    FOIL_RNG_INIT = 1,    /* id: parameter tensor number */
    FOIL_RNG_SHUFFLE = 2, /* id: epoch */
    FOIL_RNG_DROPOUT = 3, /* id: (step << 8) | layer */
    FOIL_RNG_ATTACK = 4,  /* id: (restart << 32) | sample */
    FOIL_RNG_NOISE = 5,   /* id: (draw << 32) | sample (baselines, SmoothGrad) */
    FOIL_RNG_FEATURES = 6, /* id: (method << 40) | sample (LIME 0, KernelSHAP 1: feature masks) */
    FOIL_RNG_SQUARE = 7,   /* id: (restart << 32) | sample; element (iteration << 24) + j */
    FOIL_RNG_ADV_TRAIN = 8 /* id 0: the key of adversarial training's random starts */
};

#endif
