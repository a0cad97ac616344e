/* CUDA attack ops: argmax, compare, the random start in the eps-ball, one
 * attack step (direction, MI-FGSM velocity, projection, clip), row
 * selection and the non-finite row flags. Same math as
 * host/backend/cpu/backend_cpu_attack.c through the shared header
 * (foil/elementwise.h) and the same Philox streams, so a seeded attack gives
 * the CPU's numbers. Layout as in ggml: kernels, launchers, op entry points.
 *
 * Per-row ops run one block of AT_THREADS per row (grid-stride over rows):
 * an MNIST row is 784 floats, about 3 per thread. Row norms are reduced in
 * double, each thread summing its strided elements in order and the block
 * combining them with a fixed-shape shared-memory tree: deterministic, and
 * within an ulp of the CPU's sequential double sum before rounding to float.
 *
 * Where the CPU computes a*b + c in float, the kernels spell it with
 * __fmul_rn / __fadd_rn: nvcc would otherwise contract it to one fma (gcc for
 * plain x86-64 does not), and the result would differ in the last bit. */
#include <math.h>

#include "cuda_common.h"
#include "reduce.cuh"
#include "foil/elementwise.h"

#define AT_THREADS 256u /* threads per block; block_sum assumes exactly this */

/* ---- kernels ------------------------------------------------------------- */

/* One thread per row: classes is small (10), and a sequential scan gives the
 * CPU's tie rule (the first maximum wins) trivially. logits (n, classes). */
static __global__ void k_argmax(int32_t *out, const float *logits, int n, int classes) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x) {
        const float *x = logits + (size_t)i * classes;
        int best = 0;
        for (int j = 1; j < classes; j++) best = x[j] > x[best] ? j : best;
        out[i] = best;
    }
}

static __global__ void k_compare(int32_t *out, const int32_t *a, const int32_t *c, int n,
                                 int equal) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        out[i] = equal ? a[i] == c[i] : a[i] != c[i];
}

/* x_adv, x0 (n, row). Row i draws from stream (seed, ATTACK, restart<<32 |
 * k), k = first + index[i] (first + i without index), element j at index j; the L2 radius uniform at index
 * 2*ceil(row/2), past the normals (which use indices in pairs). */
static __global__ void k_random_start(float *x_adv, const float *x0, int n, size_t row, int norm,
                                      float eps, int unclipped, uint64_t seed, uint64_t restart,
                                      int64_t first, const int32_t *index) {
    const float lo = unclipped ? -INFINITY : 0.0f, hi = unclipped ? INFINITY : 1.0f;
    __shared__ double buf[AT_THREADS];
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const int64_t k = first + (index ? index[i] : i);
        const uint64_t stream = FOIL_STREAM(FOIL_RNG_ATTACK, (restart << 32) | (uint64_t)k);
        float *x = x_adv + (size_t)i * row;
        const float *o = x0 + (size_t)i * row;
        if (norm == FOIL_NORM_LINF) { /* uniform in the box: x0 + (2u - 1) eps */
            for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
                float t = __fsub_rn(__fmul_rn(2.0f, foil_rng_uniform(seed, stream, j)), 1.0f);
                x[j] = foil_clampf(__fadd_rn(o[j], __fmul_rn(t, eps)), lo, hi);
            }
            continue;
        }
        /* uniform in the L2 ball: a normal direction, radius eps * u^(1/d);
         * x holds the normals until the radius is known */
        double s = 0.0;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            float z = foil_rng_normal(seed, stream, j);
            x[j] = z;
            s += (double)z * z; /* exact product in double: an fma changes nothing */
        }
        s = block_sum<AT_THREADS>(s, buf);
        float u = foil_rng_uniform(seed, stream, 2 * ((row + 1) / 2));
        float r = eps * powf(u, 1.0f / (float)row) / (float)(sqrt(s) + 1e-12);
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) /* own elements: no sync */
            x[j] = foil_clampf(__fadd_rn(o[j], __fmul_rn(x[j], r)), lo, hi);
    }
}

/* One step on the active rows. x_adv, velocity (may be NULL unless MI-FGSM),
 * grad, x0: (n, row); active (n) or NULL. The branches on rule and norm and
 * the skip of an inactive row are uniform over the block, so every thread
 * reaches the same __syncthreads. */
static __global__ void k_attack_step(float *x_adv, float *velocity, const float *grad,
                                     const float *x0, const int32_t *active, int n, size_t row,
                                     foil_attack_hparams hp) {
    __shared__ double buf[AT_THREADS];
    const int rule = (int)hp.rule;
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        if (active && !active[i]) continue;
        const size_t off = (size_t)i * row;
        float *x = x_adv + off, *v = velocity ? velocity + off : NULL;
        const float *g = grad + off, *o = x0 + off;
        float scale = 0.0f;
        if (hp.rule == FOIL_STEP_L2) {
            double s = 0.0;
            for (size_t j = threadIdx.x; j < row; j += blockDim.x) s += (double)g[j] * g[j];
            s = block_sum<AT_THREADS>(s, buf);
            scale = (float)(1.0 / (sqrt(s) + 1e-12));
        }
        if (hp.rule == FOIL_STEP_MOMENTUM_SIGN) {
            double s = 0.0;
            for (size_t j = threadIdx.x; j < row; j += blockDim.x) s += fabs((double)g[j]);
            s = block_sum<AT_THREADS>(s, buf);
            const float inv_l1 = (float)(1.0 / (s + 1e-12));
            for (size_t j = threadIdx.x; j < row; j += blockDim.x)
                v[j] = __fadd_rn(__fmul_rn(hp.decay, v[j]), __fmul_rn(g[j], inv_l1));
        }
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
            float d = foil_step_direction(rule, g[j], v ? v[j] : 0.0f, scale);
            float xj = __fadd_rn(x[j], __fmul_rn(hp.step, d));
            if (hp.norm == FOIL_NORM_LINF) xj = foil_project_linf(xj, o[j], hp.eps);
            x[j] = xj;
        }
        if (hp.norm == FOIL_NORM_L2) { /* shrink delta = x - x0 into the ball, clip */
            double s = 0.0;
            for (size_t j = threadIdx.x; j < row; j += blockDim.x) {
                float dj = __fsub_rn(x[j], o[j]);
                s += (double)dj * dj;
            }
            s = block_sum<AT_THREADS>(s, buf);
            const float k = foil_l2_shrink((float)sqrt(s), hp.eps);
            for (size_t j = threadIdx.x; j < row; j += blockDim.x)
                x[j] = foil_clampf(__fadd_rn(o[j], __fmul_rn(__fsub_rn(x[j], o[j]), k)), 0.0f,
                                   1.0f);
        }
    }
}

/* dst, src (n, row); mask (n) */
static __global__ void k_select_rows(float *dst, const float *src, const int32_t *mask, int n,
                                     size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        if (!mask[i]) continue;
        const size_t off = (size_t)i * row;
        for (size_t j = threadIdx.x; j < row; j += blockDim.x) dst[off + j] = src[off + j];
    }
}

/* flags (n), x (n, row): a thread that meets a NaN or an infinity sets its
 * row's flag; threads of one row store the same value, so no atomics. */
static __global__ void k_flag_nonfinite(int32_t *flags, const float *x, int n, size_t row) {
    for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
        const float *r = x + (size_t)i * row;
        int bad = 0;
        for (size_t j = threadIdx.x; j < row && !bad; j += blockDim.x) bad = !foil_finitef(r[j]);
        if (bad) flags[i] = 1;
    }
}

/* ---- launchers (launch only; the entry point checks) --------------------- */

static void launch_argmax(cudaStream_t s, int32_t *out, const float *logits, int n,
                          int classes) {
    k_argmax<<<cuda_blocks((size_t)n, AT_THREADS), AT_THREADS, 0, s>>>(out, logits, n, classes);
}

static void launch_compare(cudaStream_t s, int32_t *out, const int32_t *a, const int32_t *c,
                           int n, int equal) {
    k_compare<<<cuda_blocks((size_t)n, AT_THREADS), AT_THREADS, 0, s>>>(out, a, c, n, equal);
}

static void launch_random_start(cudaStream_t s, float *x_adv, const float *x0, int n,
                                size_t row, const foil_attack_hparams *hp, uint64_t seed,
                                uint64_t restart, int64_t first, const int32_t *index) {
    k_random_start<<<cuda_blocks((size_t)n, 1u), AT_THREADS, 0, s>>>(
        x_adv, x0, n, row, (int)hp->norm, hp->eps, hp->unclipped, seed, restart, first, index);
}

static void launch_attack_step(cudaStream_t s, float *x_adv, float *velocity, const float *grad,
                               const float *x0, const int32_t *active, int n, size_t row,
                               const foil_attack_hparams *hp) {
    k_attack_step<<<cuda_blocks((size_t)n, 1u), AT_THREADS, 0, s>>>(x_adv, velocity, grad, x0,
                                                                    active, n, row, *hp);
}

static void launch_select_rows(cudaStream_t s, float *dst, const float *src,
                               const int32_t *mask, int n, size_t row) {
    k_select_rows<<<cuda_blocks((size_t)n, 1u), AT_THREADS, 0, s>>>(dst, src, mask, n, row);
}

static void launch_flag_nonfinite(cudaStream_t s, int32_t *flags, const float *x, int n,
                                  size_t row) {
    k_flag_nonfinite<<<cuda_blocks((size_t)n, 1u), AT_THREADS, 0, s>>>(flags, x, n, row);
}

/* ---- op entry points ----------------------------------------------------- */

static cudaStream_t stream_of(foil_backend *b) { return cuda_ctx_of(b)->stream; }

static int cuda_argmax(foil_backend *b, int32_t *out, const float *logits, int n, int classes) {
    if (n <= 0) return 0; /* classes checked in front (host/backend/check.c) */
    launch_argmax(stream_of(b), out, logits, n, classes);
    LAUNCH_CHECK(b, "argmax");
    return 0;
}

static int cuda_compare(foil_backend *b, int32_t *out, const int32_t *a, const int32_t *c, int n,
                        int equal) {
    if (n <= 0) return 0;
    launch_compare(stream_of(b), out, a, c, n, equal);
    LAUNCH_CHECK(b, "compare");
    return 0;
}

static int cuda_attack_random_start(foil_backend *b, float *x_adv, const float *x0, int n,
                                    size_t row, const foil_attack_hparams *hp, uint64_t seed,
                                    uint64_t restart, int64_t first, const int32_t *index) {
    if (n <= 0 || !row) return 0;
    launch_random_start(stream_of(b), x_adv, x0, n, row, hp, seed, restart, first, index);
    LAUNCH_CHECK(b, "attack_random_start");
    return 0;
}

static int cuda_attack_step(foil_backend *b, float *x_adv, float *velocity, const float *grad,
                            const float *x0, const int32_t *active, int n, size_t row,
                            const foil_attack_hparams *hp) {
    if (n <= 0 || !row) return 0; /* the velocity buffer checked in front */
    launch_attack_step(stream_of(b), x_adv, velocity, grad, x0, active, n, row, hp);
    LAUNCH_CHECK(b, "attack_step");
    return 0;
}

static int cuda_select_rows(foil_backend *b, float *dst, const float *src, const int32_t *mask,
                            int n, size_t row) {
    if (n <= 0 || !row) return 0;
    launch_select_rows(stream_of(b), dst, src, mask, n, row);
    LAUNCH_CHECK(b, "select_rows");
    return 0;
}

static int cuda_flag_nonfinite(foil_backend *b, int32_t *flags, const float *x, int n,
                               size_t row) {
    if (n <= 0 || !row) return 0;
    launch_flag_nonfinite(stream_of(b), flags, x, n, row);
    LAUNCH_CHECK(b, "flag_nonfinite");
    return 0;
}

extern "C" void cuda_register_attack_ops(foil_backend *b) {
    b->argmax = cuda_argmax;
    b->compare = cuda_compare;
    b->attack_random_start = cuda_attack_random_start;
    b->attack_step = cuda_attack_step;
    b->select_rows = cuda_select_rows;
    b->flag_nonfinite = cuda_flag_nonfinite;
}
