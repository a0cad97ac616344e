/* CUDA Square-attack ops (Andriushchenko et al. 2020): the proposals and
 * the bookkeeping after their evaluation, so a Square run keeps its
 * per-sample state on the device. Same math and draws as
 * host/backend/cpu/backend_cpu_square.c through foil/elementwise.h. Layout
 * as attack_ops.cu: kernels, launchers, op entry points. Not yet run on a
 * GPU (only on foil's CUDA emulator). */
#include "cuda_common.h"
#include "foil/elementwise.h"
#include "foil/square_l2.h"

#define SQ_THREADS 256u

/* ---- kernels ------------------------------------------------------------- */

/* One block per proposal. Every thread draws the square's edges itself and
 * the sign of each channel it touches (a Philox block is a few dozen
 * integer operations): no shared memory, no barrier. */
static __global__ void k_square_propose(float *x_new, const float *x_best, const float *x0,
                                        const int32_t *ids, int n, foil_square_params sq) {
    const int h = sq.h, w = sq.w, t = sq.iteration, s = sq.size;
    const size_t plane = (size_t)h * w, row = plane * sq.channels;
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const int64_t k = ids[r];
        const int64_t id = sq.first + (sq.index ? sq.index[k] : k);
        const uint64_t st = FOIL_STREAM(FOIL_RNG_SQUARE, (sq.restart << 32) | (uint64_t)id);
        const float *xb = x_best + (size_t)k * row, *o = x0 + (size_t)k * row;
        float *out = x_new + (size_t)r * row;
        const int top = t ? foil_square_edge(foil_square_word(sq.seed, st, t, 0), h, s) : 0;
        const int left = t ? foil_square_edge(foil_square_word(sq.seed, st, t, 1), w, s) : 0;
        for (size_t p = threadIdx.x; p < row; p += blockDim.x) {
            const int ch = (int)(p / plane), y = (int)(p % plane) / w, x = (int)(p % plane) % w;
            if (t == 0) { /* vertical stripes */
                const float d = __fmul_rn(sq.eps, foil_square_sign(foil_square_word(
                                                      sq.seed, st, 0, (uint32_t)(ch * w + x))));
                out[p] = foil_square_linf(o[p], o[p], d, sq.eps);
            } else if (y >= top && y < top + s && x >= left && x < left + s) {
                const float d = __fmul_rn(2.0f * sq.eps, foil_square_sign(foil_square_word(
                                                             sq.seed, st, t, 2u + (uint32_t)ch)));
                out[p] = foil_square_linf(xb[p], o[p], d, sq.eps);
            } else {
                out[p] = xb[p];
            }
        }
    }
}

/* L2: one thread per proposal, the whole row in the order of the CPU
 * reference (foil/square_l2.h: its norms are sums over the row; a few
 * thousand operations per sample next to the network's forward pass). */
static __global__ void k_square_propose_l2(float *x_new, const float *x_best, const float *x0,
                                           const int32_t *ids, int n, foil_square_params sq) {
    const size_t row = (size_t)sq.h * sq.w * sq.channels;
    for (int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; r < n;
         r += (int64_t)gridDim.x * blockDim.x) {
        const int64_t k = ids[r];
        const int64_t id = sq.first + (sq.index ? sq.index[k] : k);
        const uint64_t st = FOIL_STREAM(FOIL_RNG_SQUARE, (sq.restart << 32) | (uint64_t)id);
        float *out = x_new + (size_t)r * row;
        if (sq.iteration == 0)
            foil_square_l2_start(out, x0 + (size_t)k * row, sq.channels, sq.h, sq.w, sq.eps,
                                 sq.seed, st);
        else
            foil_square_l2_step(out, x_best + (size_t)k * row, x0 + (size_t)k * row, sq.channels,
                                sq.h, sq.w, sq.iteration, sq.size, sq.eps, sq.seed, st);
    }
}

/* One block per proposal: every thread reads the decision before thread 0
 * changes the margin it was made from. A label out of range leaves the
 * sample alone (the CPU backend fails; the attack never passes one). */
static __global__ void k_square_update(float *x_best, float *margin_best, int32_t *queries,
                                       const float *x_new, const float *logits,
                                       const int32_t *labels, const int32_t *ids, int n,
                                       int classes, size_t row) {
    for (int64_t r = blockIdx.x; r < n; r += gridDim.x) {
        const int k = ids[r], y = labels[k];
        const int live = y >= 0 && y < classes && margin_best[k] > 0.0f;
        const float m = live ? foil_margin_row(logits + (size_t)r * classes, classes, y) : 0.0f;
        const int take = live && m < margin_best[k];
        __syncthreads();
        if (threadIdx.x == 0 && live) {
            queries[k]++;
            if (take) margin_best[k] = m;
        }
        for (size_t j = threadIdx.x; take && j < row; j += blockDim.x)
            x_best[(size_t)k * row + j] = x_new[(size_t)r * row + j];
    }
}

/* ---- launchers (launch only; the entry point checks) --------------------- */

static void launch_square_propose(cudaStream_t s, float *x_new, const float *x_best,
                                  const float *x0, const int32_t *ids, int n,
                                  const foil_square_params *sq) {
    if (sq->norm == FOIL_NORM_L2)
        k_square_propose_l2<<<cuda_blocks((size_t)n, 64u), 64u, 0, s>>>(x_new, x_best, x0, ids,
                                                                       n, *sq);
    else
        k_square_propose<<<cuda_blocks((size_t)n, 1u), SQ_THREADS, 0, s>>>(x_new, x_best, x0,
                                                                          ids, n, *sq);
}

static void launch_square_update(cudaStream_t s, float *x_best, float *margin_best,
                                 int32_t *queries, const float *x_new, const float *logits,
                                 const int32_t *labels, const int32_t *ids, int n, int classes,
                                 size_t row) {
    k_square_update<<<cuda_blocks((size_t)n, 1u), SQ_THREADS, 0, s>>>(
        x_best, margin_best, queries, x_new, logits, labels, ids, n, classes, row);
}

/* ---- op entry points ----------------------------------------------------- */

static cudaStream_t stream_of(foil_backend *b) { return cuda_ctx_of(b)->stream; }

static int cuda_square_propose(foil_backend *b, float *x_new, const float *x_best,
                               const float *x0, const int32_t *ids, int n,
                               const foil_square_params *sq) {
    if (n <= 0) return 0; /* the shape checked in front (host/backend/check.c) */
    launch_square_propose(stream_of(b), x_new, x_best, x0, ids, n, sq);
    LAUNCH_CHECK(b, "square_propose");
    return 0;
}

static int cuda_square_update(foil_backend *b, float *x_best, float *margin_best,
                              int32_t *queries, const float *x_new, const float *logits,
                              const int32_t *labels, const int32_t *ids, int n, int classes,
                              size_t row) {
    if (n <= 0) return 0;
    launch_square_update(stream_of(b), x_best, margin_best, queries, x_new, logits, labels, ids,
                         n, classes, row);
    LAUNCH_CHECK(b, "square_update");
    return 0;
}

extern "C" void cuda_register_square_ops(foil_backend *b) {
    b->square_propose = cuda_square_propose;
    b->square_update = cuda_square_update;
}
