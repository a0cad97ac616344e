/* CUDA explanation ops: the explained output and its gradient with respect to
 * the logits, Integrated Gradients path points and accumulation, Gaussian
 * noise (baselines, SmoothGrad) and row sums. Same math, order of summation
 * within an element and Philox streams as host/backend/cpu/backend_cpu_explain.c. Layout
 * as in ggml: kernels, launchers, op entry points.
 *
 * A target outside [0, classes) makes that row's value and dlogits NaN; in
 * debug-sync mode (FOIL_CUDA_SYNC=1) the op also returns -1 with the CPU's
 * message (see the top of elementwise_ops.cu for why only then).
 *
 * Where the CPU computes a*b + c in float, the kernels use __fmul_rn /
 * __fadd_rn so that nvcc does not contract it to an fma (see attack_ops.cu). */
#include <math.h>

#include "cuda_common.h"
#include "reduce.cuh"
#include "foil/philox.h"

#define EX_THREADS 256u              /* threads per block; block_sum assumes exactly this */
#define EX_WARPS (EX_THREADS / 32u)  /* rows per block in the warp-per-row kernel */

/* ---- kernels ------------------------------------------------------------- */

/* One warp per row, lanes over the classes. logits, dlogits (n, classes) (dlogits
 * may be NULL); value, target (n). The softmax denominator is in double. */
static __global__ void k_target_output(float *value, float *dlogits, const float *logits,
                                       const int32_t *target, int n, int classes, int prob,
                                       unsigned *bad_row) {
    const int lane = (int)(threadIdx.x & 31u);
    const int64_t stride = (int64_t)gridDim.x * EX_WARPS;
    for (int64_t i = (int64_t)blockIdx.x * EX_WARPS + threadIdx.x / 32u; i < n; i += stride) {
        const float *z = logits + (size_t)i * classes;
        float *d = dlogits ? dlogits + (size_t)i * classes : NULL;
        const int t = target[i];
        if (t < 0 || t >= classes) {
            if (lane == 0) {
                value[i] = NAN;
                if (bad_row) atomicMin(bad_row, (unsigned)i);
            }
            for (int j = lane; d && j < classes; j += 32) d[j] = NAN;
            continue;
        }
        if (!prob) { /* the logit itself: dF/dz = onehot */
            if (lane == 0) value[i] = z[t];
            for (int j = lane; d && j < classes; j += 32) d[j] = j == t ? 1.0f : 0.0f;
            continue;
        }
        float mx = -INFINITY;
        for (int j = lane; j < classes; j += 32) mx = z[j] > mx ? z[j] : mx;
        mx = warp_max(mx);
        double sum = 0.0;
        for (int j = lane; j < classes; j += 32) sum += exp((double)(z[j] - mx));
        sum = warp_sum(sum);
        const double pt = exp((double)(z[t] - mx)) / sum;
        if (lane == 0) value[i] = (float)pt;
        for (int j = lane; d && j < classes; j += 32) { /* d p_t / d z_j = p_t (onehot - p_j) */
            double pj = exp((double)(z[j] - mx)) / sum;
            d[j] = (float)(pt * ((j == t ? 1.0 : 0.0) - pj));
        }
    }
}

/* One block per output row r = i*m + k. xs (n*m, row); x, base (n, row); alpha (m). */
static __global__ void k_ig_interp(float *xs, const float *x, const float *base,
                                   const float *alpha, int n, int m, size_t row) {
    const int64_t rows = (int64_t)n * m;
    for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
        const int64_t i = r / m;
        const float a = alpha[r % m];
        const float *xi = x + (size_t)i * row, *bi = base + (size_t)i * row;
        float *out = xs + (size_t)r * row;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x)
            out[j] = __fadd_rn(bi[j], __fmul_rn(a, __fsub_rn(xi[j], bi[j])));
    }
}

/* One block per row i: out = base + alpha[i] * (x - base), spelled as the CPU's. */
static __global__ void k_lerp_rows(float *out, const float *x, const float *base,
                                   const float *alpha, int n, size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const float a = alpha[i];
        const float *xi = x + (size_t)i * row, *bi = base + (size_t)i * row;
        float *o = out + (size_t)i * row;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x)
            o[j] = __fadd_rn(bi[j], __fmul_rn(a, __fsub_rn(xi[j], bi[j])));
    }
}

/* One block per sample i, threads over the row; each element sums its m path
 * points in order, in double, as the CPU. attr (n, row); grads (n*m, row); w (m).
 * Reads of grads[(i*m + k)*row + j] are coalesced across the threads. */
static __global__ void k_ig_accumulate(float *attr, const float *grads, const float *w, int n,
                                       int m, size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        float *a = attr + (size_t)i * row;
        const float *g = grads + (size_t)i * m * row;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            double s = 0.0;
            for (int k = 0; k < m; k++) s += (double)w[k] * g[(size_t)k * row + j];
            a[j] = (float)((double)a[j] + s);
        }
    }
}

/* out, x (n, row); row i draws from stream (seed, NOISE, draw<<32 | first+i). */
static __global__ void k_gaussian_noise(float *out, const float *x, float sigma, uint64_t seed,
                                        uint64_t draw, int64_t first, int n, size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const uint64_t stream = FOIL_STREAM(FOIL_RNG_NOISE, (draw << 32) | (uint64_t)(first + i));
        const float *xi = x + (size_t)i * row;
        float *o = out + (size_t)i * row;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x)
            o[j] = __fadd_rn(xi[j], __fmul_rn(sigma, foil_rng_normal(seed, stream, j)));
    }
}

/* One block per row, double accumulation, fixed-order tree. out (n); x (n, row). */
static __global__ void k_row_sum(float *out, const float *x, int n, size_t row) {
    __shared__ double buf[EX_THREADS];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const float *xi = x + (size_t)i * row;
        double s = 0.0;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) s += xi[j];
        s = block_sum<EX_THREADS>(s, buf);
        if (threadIdx.x == 0) out[i] = (float)s;
    }
}

/* ---- launchers (launch only; the entry point checks) --------------------- */

static void launch_target_output(cudaStream_t s, float *value, float *dlogits,
                                 const float *logits, const int32_t *target, int n, int classes,
                                 foil_target_mode mode, unsigned *bad_row) {
    k_target_output<<<cuda_blocks((size_t)n, EX_WARPS), EX_THREADS, 0, s>>>(
        value, dlogits, logits, target, n, classes, mode == FOIL_TARGET_PROB, bad_row);
}

static void launch_ig_interp(cudaStream_t s, float *xs, const float *x, const float *base,
                             const float *alpha, int n, int m, size_t row) {
    k_ig_interp<<<cuda_blocks((size_t)n * (size_t)m, 1u), EX_THREADS, 0, s>>>(xs, x, base, alpha,
                                                                            n, m, row);
}

static void launch_ig_accumulate(cudaStream_t s, float *attr, const float *grads,
                                 const float *w, int n, int m, size_t row) {
    k_ig_accumulate<<<cuda_blocks((size_t)n, 1u), EX_THREADS, 0, s>>>(attr, grads, w, n, m, row);
}

static void launch_lerp_rows(cudaStream_t s, float *out, const float *x, const float *base,
                             const float *alpha, int n, size_t row) {
    k_lerp_rows<<<cuda_blocks((size_t)n, 1u), EX_THREADS, 0, s>>>(out, x, base, alpha, n, row);
}

static void launch_gaussian_noise(cudaStream_t s, float *out, const float *x, float sigma,
                                  uint64_t seed, uint64_t draw, int64_t first, int n,
                                  size_t row) {
    k_gaussian_noise<<<cuda_blocks((size_t)n, 1u), EX_THREADS, 0, s>>>(out, x, sigma, seed, draw,
                                                                       first, n, row);
}

/* One block per perturbed image r; threads over its pixels, every channel.
 * out (count, channels*plane); x, fill (images, channels*plane); segments
 * (images, plane); masks (count, nfeat). */
static __global__ void k_mask_images(float *out, const float *x, const float *fill,
                                     const int32_t *segments, const uint8_t *masks,
                                     int64_t first, int count, int samples, int nfeat,
                                     int channels, size_t plane) {
    const size_t row = (size_t)channels * plane;
    for (int64_t r = blockIdx.x; r < count; r += gridDim.x) {
        const int64_t i = (first + r) / samples;
        const int32_t *seg = segments + (size_t)i * plane;
        const uint8_t *m = masks + (size_t)r * nfeat;
        const float *xi = x + (size_t)i * row, *fi = fill + (size_t)i * row;
        float *o = out + (size_t)r * row;
        for (size_t p = threadIdx.x; p < plane; p += blockDim.x) {
            const int32_t f = seg[p];
            const bool on = f >= 0 && f < nfeat && m[f];
            for (int c = 0; c < channels; c++)
                o[c * plane + p] = on ? xi[c * plane + p] : fi[c * plane + p];
        }
    }
}

static void launch_mask_images(cudaStream_t s, float *out, const float *x, const float *fill,
                               const int32_t *segments, const uint8_t *masks, int64_t first,
                               int count, int samples, int nfeat, int channels, size_t plane) {
    k_mask_images<<<cuda_blocks((size_t)count, 1u), EX_THREADS, 0, s>>>(
        out, x, fill, segments, masks, first, count, samples, nfeat, channels, plane);
}

/* One block per occluded image r; threads over its pixels, every channel. */
static __global__ void k_occlude(float *out, const float *x, const float *fill, int64_t first,
                                 int count, int channels, foil_window_shape ws) {
    const size_t plane = (size_t)ws.h * ws.w, row = plane * (size_t)channels;
    const int64_t windows = (int64_t)ws.ny * ws.nx;
    for (int64_t r = blockIdx.x; r < count; r += gridDim.x) {
        const int64_t g = first + r, i = g / windows, k = g % windows;
        const int y0 = (int)(k / ws.nx) * ws.sh, x0 = (int)(k % ws.nx) * ws.sw;
        const float *xi = x + (size_t)i * row, *fi = fill + (size_t)i * row;
        float *o = out + (size_t)r * row;
        for (size_t p = threadIdx.x; p < plane; p += blockDim.x) {
            const int y = (int)(p / (size_t)ws.w), xx = (int)(p % (size_t)ws.w);
            const bool off = y >= y0 && y < y0 + ws.wh && xx >= x0 && xx < x0 + ws.ww;
            for (int c = 0; c < channels; c++)
                o[c * plane + p] = off ? fi[c * plane + p] : xi[c * plane + p];
        }
    }
}

static void launch_occlude(cudaStream_t s, float *out, const float *x, const float *fill,
                           int64_t first, int count, int channels, const foil_window_shape *ws) {
    k_occlude<<<cuda_blocks((size_t)count, 1u), EX_THREADS, 0, s>>>(out, x, fill, first, count,
                                                                   channels, *ws);
}

static void launch_row_sum(cudaStream_t s, float *out, const float *x, int n, size_t row) {
    k_row_sum<<<cuda_blocks((size_t)n, 1u), EX_THREADS, 0, s>>>(out, x, n, row);
}

/* ---- op entry points ----------------------------------------------------- */

static cudaStream_t stream_of(foil_backend *b) { return cuda_ctx_of(b)->stream; }

static int cuda_target_output(foil_backend *b, float *value, float *dlogits,
                              const float *logits, const int32_t *target, int n, int classes,
                              foil_target_mode mode) {
    if (n <= 0) return 0; /* classes checked in front (host/backend/check.c) */
    unsigned *bad_row;
    if (cuda_label_check_begin(b, &bad_row)) return -1;
    launch_target_output(stream_of(b), value, dlogits, logits, target, n, classes, mode,
                         bad_row);
    LAUNCH_CHECK(b, "target_output");
    return cuda_label_check_end(b, bad_row, target, "target_output", "target", classes);
}

static int cuda_ig_interp(foil_backend *b, float *xs, const float *x, const float *base,
                          const float *alpha, int n, int m, size_t row) {
    if (n <= 0 || m <= 0 || !row) return 0;
    launch_ig_interp(stream_of(b), xs, x, base, alpha, n, m, row);
    LAUNCH_CHECK(b, "ig_interp");
    return 0;
}

static int cuda_ig_accumulate(foil_backend *b, float *attr, const float *grads, const float *w,
                              int n, int m, size_t row) {
    if (n <= 0 || !row) return 0;
    if (m < 0) m = 0; /* the CPU adds nothing then */
    launch_ig_accumulate(stream_of(b), attr, grads, w, n, m, row);
    LAUNCH_CHECK(b, "ig_accumulate");
    return 0;
}

static int cuda_lerp_rows(foil_backend *b, float *out, const float *x, const float *base,
                          const float *alpha, int n, size_t row) {
    if (n <= 0 || !row) return 0;
    launch_lerp_rows(stream_of(b), out, x, base, alpha, n, row);
    LAUNCH_CHECK(b, "lerp_rows");
    return 0;
}

static int cuda_gaussian_noise(foil_backend *b, float *out, const float *x, float sigma,
                               uint64_t seed, uint64_t draw, int64_t first, int n, size_t row) {
    if (n <= 0 || !row) return 0;
    launch_gaussian_noise(stream_of(b), out, x, sigma, seed, draw, first, n, row);
    LAUNCH_CHECK(b, "gaussian_noise");
    return 0;
}

static int cuda_row_sum(foil_backend *b, float *out, const float *x, int n, size_t row) {
    if (n <= 0) return 0;
    launch_row_sum(stream_of(b), out, x, n, row); /* row 0: sums of nothing, 0 */
    LAUNCH_CHECK(b, "row_sum");
    return 0;
}

static int cuda_mask_images(foil_backend *b, float *out, const float *x, const float *fill,
                            const int32_t *segments, const uint8_t *masks, int64_t first,
                            int count, int samples, int nfeat, int channels, size_t plane) {
    if (count <= 0) return 0; /* sizes checked in front (host/backend/check.c) */
    launch_mask_images(stream_of(b), out, x, fill, segments, masks, first, count, samples,
                       nfeat, channels, plane);
    LAUNCH_CHECK(b, "mask_images");
    return 0;
}

static int cuda_occlude(foil_backend *b, float *out, const float *x, const float *fill,
                        int64_t first, int count, int channels, const foil_window_shape *ws) {
    if (count <= 0) return 0; /* windows checked in front (host/backend/check.c) */
    launch_occlude(stream_of(b), out, x, fill, first, count, channels, ws);
    LAUNCH_CHECK(b, "occlude");
    return 0;
}

extern "C" void cuda_register_explain_ops(foil_backend *b) {
    b->target_output = cuda_target_output;
    b->ig_interp = cuda_ig_interp;
    b->ig_accumulate = cuda_ig_accumulate;
    b->gaussian_noise = cuda_gaussian_noise;
    b->row_sum = cuda_row_sum;
    b->mask_images = cuda_mask_images;
    b->lerp_rows = cuda_lerp_rows;
    b->occlude = cuda_occlude;
}
