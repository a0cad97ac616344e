/* CPU reference: the Square attack's ops (Andriushchenko et al. 2020), the
 * proposals (L-inf here, L2 in foil/square_l2.h) and the bookkeeping after
 * their evaluation (foil/backend.h).
 * The element math and the draws are shared with the CUDA kernels
 * (foil/elementwise.h). */
#include <math.h>
#include <string.h>

#include "backend_cpu.h"
#include "foil/elementwise.h"
#include "foil/square_l2.h"

/* One proposal: row out for sample k of x_best and x0. */
static void propose_row(float *out, const float *xb, const float *x0, int64_t k,
                        const foil_square_params *sq) {
    const int c = sq->channels, h = sq->h, w = sq->w, t = sq->iteration;
    const int64_t id = sq->first + (sq->index ? sq->index[k] : k);
    const uint64_t st = FOIL_STREAM(FOIL_RNG_SQUARE, (sq->restart << 32) | (uint64_t)id);
    const size_t plane = (size_t)h * w;
    if (sq->norm == FOIL_NORM_L2 && t == 0) {
        foil_square_l2_start(out, x0, c, h, w, sq->eps, sq->seed, st);
        return;
    }
    if (sq->norm == FOIL_NORM_L2) {
        foil_square_l2_step(out, xb, x0, c, h, w, t, sq->size, sq->eps, sq->seed, st);
        return;
    }
    if (t == 0) { /* vertical stripes: a sign per channel and column */
        for (int ch = 0; ch < c; ch++)
            for (int col = 0; col < w; col++) {
                const float d = sq->eps * foil_square_sign(foil_square_word(
                                              sq->seed, st, 0, (uint32_t)(ch * w + col)));
                for (int y = 0; y < h; y++) {
                    const size_t p = ch * plane + (size_t)y * w + col;
                    out[p] = foil_square_linf(x0[p], x0[p], d, sq->eps);
                }
            }
        return;
    }
    const int s = sq->size;
    const int top = foil_square_edge(foil_square_word(sq->seed, st, t, 0), h, s);
    const int left = foil_square_edge(foil_square_word(sq->seed, st, t, 1), w, s);
    memcpy(out, xb, sizeof(float) * plane * c);
    for (int ch = 0; ch < c; ch++) {
        const float d = 2.0f * sq->eps *
                        foil_square_sign(foil_square_word(sq->seed, st, t, 2u + (uint32_t)ch));
        for (int y = top; y < top + s; y++)
            for (int x = left; x < left + s; x++) {
                const size_t p = ch * plane + (size_t)y * w + x;
                out[p] = foil_square_linf(xb[p], x0[p], d, sq->eps);
            }
    }
}

static int cpu_square_propose(foil_backend *b, float *x_new, const float *x_best,
                              const float *x0, const int32_t *ids, int n,
                              const foil_square_params *sq) {
    (void)b;
    const size_t row = (size_t)sq->channels * sq->h * sq->w;
    FOIL_PAR_FOR(n > 8)
    for (int r = 0; r < n; r++) {
        const int64_t k = ids[r];
        propose_row(x_new + (size_t)r * row, x_best + (size_t)k * row, x0 + (size_t)k * row, k,
                    sq);
    }
    return 0;
}

static int cpu_square_update(foil_backend *b, float *x_best, float *margin_best,
                             int32_t *queries, const float *x_new, const float *logits,
                             const int32_t *labels, const int32_t *ids, int n, int classes,
                             size_t row) {
    for (int r = 0; r < n; r++) {
        const int k = ids[r], y = labels[k];
        if (y < 0 || y >= classes)
            return foil_fail(&b->err, "square_update: label %d of sample %d is not in [0, %d)",
                             y, k, classes);
    }
    for (int r = 0; r < n; r++) {
        const int k = ids[r];
        if (!(margin_best[k] > 0.0f)) continue;
        const float m = foil_margin_row(logits + (size_t)r * classes, classes, labels[k]);
        queries[k]++;
        if (m < margin_best[k]) {
            margin_best[k] = m;
            memcpy(x_best + (size_t)k * row, x_new + (size_t)r * row, sizeof(float) * row);
        }
    }
    return 0;
}

void cpu_register_square_ops(foil_backend *b) {
    b->square_propose = cpu_square_propose;
    b->square_update = cpu_square_update;
}
