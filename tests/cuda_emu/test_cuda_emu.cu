/* The CUDA emulator's own tests: it is the oracle-runner for cuda/ in CI, so
 * it must get CUDA's semantics right and report misuse. Built like cuda/
 * (this file goes through translate.cmake): kernels with barriers, 3-D
 * indices and shuffles; divergent barriers, host pointers given to kernels
 * and wrong copy directions (in child processes: they abort or poison the
 * process); the memory cap; cublasSgemm against OpenBLAS's column-major
 * sgemm (BLAS semantics, which cuBLAS follows); cuDNN convolutions against
 * direct loops, and their backward passes through the adjoint identities
 * <conv(x), dy> = <x, bwd_data(dy)> = <w, bwd_filter(x, dy)>. */
#include <cblas.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

static int failures, checks;

#define CHECK(cond, ...)                                                                   \
    do {                                                                                   \
        checks++;                                                                          \
        if (!(cond)) {                                                                     \
            failures++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
        }                                                                                  \
    } while (0)

template <class T> static T *dev(size_t n) {
    void *p = nullptr;
    if (cudaMalloc(&p, n * sizeof(T)) != cudaSuccess) abort();
    return (T *)p;
}

template <class T> static std::vector<T> down(const T *d, size_t n) {
    std::vector<T> h(n);
    if (cudaMemcpyAsync(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost, 0) != cudaSuccess)
        abort();
    return h;
}

template <class T> static T *up(const std::vector<T> &h) {
    T *d = dev<T>(h.size());
    if (cudaMemcpyAsync(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice, 0) != cudaSuccess)
        abort();
    return d;
}

/* ---- kernels ------------------------------------------------------------------- */

/* out[block] = sum of (linear thread index + 1) over the block, by a shared
 * tree; idx[block * T + t] = the thread's (x, y, z) packed, to check the order */
static __global__ void k_tree(int *out, int *idx) {
    __shared__ int buf[64];
    unsigned t = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    unsigned nt = blockDim.x * blockDim.y * blockDim.z;
    idx[b * nt + t] = (int)(threadIdx.x | threadIdx.y << 8 | threadIdx.z << 16);
    buf[t] = (int)t + 1;
    __syncthreads();
    for (unsigned s = nt / 2; s > 0; s /= 2) {
        if (t < s) buf[t] += buf[t + s];
        __syncthreads();
    }
    if (t == 0) out[b] = buf[0];
}

/* every lane of each warp ends with the warp's sum of lane indices (496) */
static __global__ void k_warp(int *out) {
    int v = (int)(threadIdx.x & 31);
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, off);
    out[blockIdx.x * blockDim.x + threadIdx.x] = v;
}

/* threads below `quit` leave before the barrier: divergent */
static __global__ void k_divergent(int *out, unsigned quit) {
    if (threadIdx.x < quit) return;
    __syncthreads();
    out[threadIdx.x] = 1;
}

/* a race: thread t reads its neighbour's slot, which the neighbour zeroes
 * with no barrier between; `extra` barriers before it change the parity */
static __global__ void k_race(int *out, int extra) {
    __shared__ int buf[32];
    unsigned t = threadIdx.x, n = blockDim.x;
    buf[t] = (int)t + 1;
    __syncthreads();
    for (int i = 0; i < extra; i++) __syncthreads();
    int v = buf[(t + 1) % n];
    buf[t] = 0;
    out[blockIdx.x * n + t] = v;
}

/* gets a pointer one past the end of begin's allocation, never read */
static __global__ void k_end(float *begin, const float *end) {
    if (threadIdx.x == 0) begin[0] = (float)(end - begin);
}

static __global__ void k_square(float *out, float v) { out[threadIdx.x] = v * v; }

static __global__ void k_nothing() {}

static __global__ void k_fill(float *out, float v, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
        out[i] = v;
}

/* ---- runtime ------------------------------------------------------------------- */

/* Runs f in a child process; returns its exit status, or 128 + the signal. */
template <class F> static int in_child(F f) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        freopen("/dev/null", "w", stderr);
        f();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void test_kernels() {
    const dim3 grid(3, 2, 2), block(4, 4, 4);
    int *out = dev<int>(12), *idx = dev<int>(12 * 64);
    k_tree<<<grid, block>>>(out, idx);
    CHECK(cudaGetLastError() == cudaSuccess, "k_tree launch");
    std::vector<int> o = down(out, 12), ix = down(idx, 12 * 64);
    bool sums = true, order = true;
    for (int b = 0; b < 12; b++) sums &= o[b] == 64 * 65 / 2;
    for (int b = 0; b < 12; b++)
        for (int t = 0; t < 64; t++) order &= ix[b * 64 + t] == ((t % 4) | (t / 4 % 4) << 8 | (t / 16) << 16);
    CHECK(sums, "block tree sums over 3-D blocks");
    CHECK(order, "threadIdx.x varies fastest, then y, then z");

    int *w = dev<int>(2 * 96);
    k_warp<<<2, 96>>>(w);
    std::vector<int> wv = down(w, 2 * 96);
    bool all = true;
    for (int v : wv) all &= v == 496;
    CHECK(all, "butterfly shuffle over three warps in two blocks");

    int *flags = dev<int>(64);
    CHECK(in_child([&] { k_divergent<<<1, 64>>>(flags, 10); }) == 128 + SIGABRT,
          "a barrier some threads never reach aborts");
    CHECK(in_child([&] {
              k_divergent<<<1, 64>>>(flags, 0);
              _exit(cudaGetLastError() == cudaSuccess && down(flags, 64)[63] == 1 ? 0 : 2);
          }) == 0,
          "a barrier all threads reach");
    cudaFree(flags);
    int rc = in_child([] {
        float host[4];
        k_fill<<<1, 32>>>(host, 1.0f, 4);
        if (cudaGetLastError() != cudaErrorLaunchFailure) _exit(2);
        void *p;
        _exit(cudaMalloc(&p, 16) == cudaErrorLaunchFailure ? 0 : 3); /* sticky */
    });
    CHECK(rc == 0, "a host pointer given to a kernel is a sticky launch failure (child: %d)", rc);
    int *race = dev<int>(4 * 32);
    for (int extra = 0; extra < 3; extra++) {
        k_race<<<4, 32>>>(race, extra);
        std::vector<int> r = down(race, 4 * 32);
        int wrong = 0;
        for (int i = 0; i < 4 * 32; i++) wrong += r[i] != (i % 32 + 1) % 32 + 1;
        CHECK(wrong > 0, "a shared-memory race shows (%d barriers before it)", 1 + extra);
    }
    cudaFree(race);
    float *end = dev<float>(4);
    k_end<<<1, 32>>>(end, end + 4);
    CHECK(cudaGetLastError() == cudaSuccess && down(end, 1)[0] == 4.0f,
          "a pointer one past an allocation's end is a valid argument");
    cudaFree(end);
    /* a host thread with FTZ/DAZ set (as foil's CPU backend sets them): the
     * kernel still computes with denormals, as nvcc builds kernels */
    float *sq = dev<float>(1);
    const unsigned mxcsr = __builtin_ia32_stmxcsr();
    __builtin_ia32_ldmxcsr(mxcsr | 0x8040u);
    k_square<<<1, 1>>>(sq, 1e-20f);
    __builtin_ia32_ldmxcsr(mxcsr);
    CHECK(down(sq, 1)[0] > 0.0f, "denormal results are kept in kernels");
    cudaFree(sq);
    k_nothing<<<2, 32>>>();
    CHECK(cudaGetLastError() == cudaSuccess, "a kernel without arguments");
    k_fill<<<1, 2000>>>((float *)out, 0.0f, 1);
    CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration, "2000 threads per block");
    CHECK(cudaGetLastError() == cudaSuccess, "the error is cleared once read");
    cudaFree(out);
    cudaFree(idx);
    cudaFree(w);
}

static void test_memory() {
    float *d = dev<float>(8), h[9] = {0};
    CHECK(cudaMemcpyAsync(d, h, 9 * sizeof(float), cudaMemcpyHostToDevice, 0) ==
              cudaErrorInvalidValue, "a copy past the allocation's end");
    CHECK(cudaMemcpyAsync(h, d, sizeof(float), cudaMemcpyHostToDevice, 0) ==
              cudaErrorInvalidValue, "host-to-device with the pointers swapped");
    CHECK(cudaMemsetAsync(d + 4, 0, 5 * sizeof(float), 0) == cudaErrorInvalidValue,
          "memset past the end");
    CHECK(cudaMemsetAsync(d + 2, 0, (size_t)-7, 0) == cudaErrorInvalidValue,
          "a size that wraps around");
    CHECK(cudaMemcpyAsync(d + 1, d, 4 * sizeof(float), cudaMemcpyDeviceToDevice, 0) ==
              cudaErrorInvalidValue, "overlapping device-to-device copy");
    std::vector<float> fresh = down(d, 8);
    CHECK(isnan(fresh[3]), "new device memory reads as NaN");
    CHECK(cudaFree(d + 1) == cudaErrorInvalidDevicePointer, "free of an interior pointer");
    cudaGetLastError();
    cudaFree(d);
    int rc = in_child([] {
        setenv("FOIL_EMU_MEMORY", "1M", 1);
        void *a = nullptr, *b = nullptr;
        if (cudaMalloc(&a, 768 << 10) != cudaSuccess) _exit(2);
        if (cudaMalloc(&b, 512 << 10) != cudaErrorMemoryAllocation || b) _exit(3);
        if (cudaGetLastError() != cudaErrorMemoryAllocation) _exit(4);
        if (cudaMalloc(&b, 256 << 10) != cudaSuccess) _exit(5); /* not sticky */
        _exit(0);
    });
    CHECK(rc == 0, "FOIL_EMU_MEMORY caps device memory (child: %d)", rc);
}

/* ---- cuBLAS -------------------------------------------------------------------- */

static void test_sgemm() {
    cublasHandle_t h;
    CHECK(cublasCreate(&h) == CUBLAS_STATUS_SUCCESS, "cublasCreate");
    const int m = 5, n = 4, k = 3, ld = 7; /* leading dimensions larger than the rows */
    std::vector<float> a(ld * 7), b(ld * 7), c(ld * n);
    for (size_t i = 0; i < a.size(); i++) a[i] = (float)((i * 7) % 11) - 5.0f;
    for (size_t i = 0; i < b.size(); i++) b[i] = (float)((i * 5) % 13) - 6.0f;
    for (size_t i = 0; i < c.size(); i++) c[i] = (float)(i % 3);
    const float alpha = 0.5f, beta = -2.0f, zero = 0.0f;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            float *da = up(a), *db = up(b), *dc = up(c);
            cublasStatus_t s = cublasSgemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                           tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, da,
                                           ld, db, ld, &beta, dc, ld);
            std::vector<float> ref = c, got = down(dc, c.size());
            cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a.data(), ld, b.data(), ld,
                        beta, ref.data(), ld);
            double err = 0;
            for (size_t i = 0; i < ref.size(); i++) err = fmax(err, fabs(ref[i] - got[i]));
            CHECK(s == CUBLAS_STATUS_SUCCESS && err < 1e-5, "sgemm %c%c against OpenBLAS: %g",
                  ta ? 'T' : 'N', tb ? 'T' : 'N', err);
            cudaFree(da), cudaFree(db), cudaFree(dc);
        }
    std::vector<float> nan_c(ld * n, NAN);
    float *da = up(a), *db = up(b), *dc = up(nan_c);
    cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da, ld, db, ld, &zero, dc, ld);
    std::vector<float> got = down(dc, nan_c.size());
    CHECK(!isnan(got[0]) && !isnan(got[(n - 1) * ld + m - 1]), "beta = 0 does not read C");
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &alpha, da, m - 1, db, ld, &zero, dc,
                      ld) == CUBLAS_STATUS_INVALID_VALUE, "lda < m");
    CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, 40, k, &alpha, da, ld, db, ld, &zero, dc,
                      ld) == CUBLAS_STATUS_INVALID_VALUE, "C larger than its allocation");
    cudaFree(da), cudaFree(db), cudaFree(dc);
    cublasDestroy(h);
}

/* ---- cuDNN --------------------------------------------------------------------- */

struct conv_case {
    int n, c, h, w, k, r, s, pad, stride, dil;
    cudnnConvolutionMode_t mode;
};

/* y (n, k, oh, ow) by direct loops from cuDNN's definition */
static std::vector<double> conv_direct(const conv_case &q, const std::vector<float> &x,
                                       const std::vector<float> &w, int oh, int ow) {
    std::vector<double> y((size_t)q.n * q.k * oh * ow, 0.0);
    for (int n = 0; n < q.n; n++)
        for (int k = 0; k < q.k; k++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    double acc = 0;
                    for (int c = 0; c < q.c; c++)
                        for (int r = 0; r < q.r; r++)
                            for (int s = 0; s < q.s; s++) {
                                int iy = oy * q.stride - q.pad + r * q.dil;
                                int ix = ox * q.stride - q.pad + s * q.dil;
                                if (iy < 0 || iy >= q.h || ix < 0 || ix >= q.w) continue;
                                int rr = q.mode == CUDNN_CONVOLUTION ? q.r - 1 - r : r;
                                int ss = q.mode == CUDNN_CONVOLUTION ? q.s - 1 - s : s;
                                acc += (double)x[((size_t)(n * q.c + c) * q.h + iy) * q.w + ix] *
                                       w[((size_t)(k * q.c + c) * q.r + rr) * q.s + ss];
                            }
                    y[((size_t)(n * q.k + k) * oh + oy) * ow + ox] = acc;
                }
    return y;
}

static double dot(const std::vector<float> &a, const std::vector<float> &b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += (double)a[i] * b[i];
    return s;
}

static std::vector<float> randoms(size_t n, unsigned seed) {
    std::vector<float> v(n);
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        v[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
    return v;
}

static void test_conv(cudnnHandle_t h, const conv_case &q) {
    cudnnTensorDescriptor_t xd, yd;
    cudnnFilterDescriptor_t wd;
    cudnnConvolutionDescriptor_t cd;
    cudnnCreateTensorDescriptor(&xd), cudnnCreateTensorDescriptor(&yd);
    cudnnCreateFilterDescriptor(&wd), cudnnCreateConvolutionDescriptor(&cd);
    cudnnSetTensor4dDescriptor(xd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, q.n, q.c, q.h, q.w);
    cudnnSetFilter4dDescriptor(wd, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, q.k, q.c, q.r, q.s);
    cudnnSetConvolution2dDescriptor(cd, q.pad, q.pad, q.stride, q.stride, q.dil, q.dil, q.mode,
                                    CUDNN_DATA_FLOAT);
    cudnnSetConvolutionMathType(cd, CUDNN_FMA_MATH);
    int on, oc, oh, ow;
    CHECK(cudnnGetConvolution2dForwardOutputDim(cd, xd, wd, &on, &oc, &oh, &ow) == 0, "out dim");
    cudnnSetTensor4dDescriptor(yd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, on, oc, oh, ow);
    std::vector<float> x = randoms((size_t)q.n * q.c * q.h * q.w, 1),
                       w = randoms((size_t)q.k * q.c * q.r * q.s, 2),
                       dy = randoms((size_t)on * oc * oh * ow, 3);
    float *dx_ = up(x), *dw_ = up(w), *ddy = up(dy), *y = dev<float>(dy.size());
    float *gx = dev<float>(x.size()), *gw = dev<float>(w.size());
    void *ws = dev<char>(1 << 16);
    const float one = 1.0f, zero = 0.0f;
    cudnnStatus_t s1 = cudnnConvolutionForward(h, &one, xd, dx_, wd, dw_, cd,
                                               CUDNN_CONVOLUTION_FWD_ALGO_GEMM, ws, 1 << 16,
                                               &zero, yd, y);
    cudnnStatus_t s2 = cudnnConvolutionBackwardData(h, &one, wd, dw_, yd, ddy, cd,
                                                    CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, ws,
                                                    1 << 16, &zero, xd, gx);
    cudnnStatus_t s3 = cudnnConvolutionBackwardFilter(h, &one, xd, dx_, yd, ddy, cd,
                                                      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, ws,
                                                      1 << 16, &zero, wd, gw);
    CHECK(s1 == 0 && s2 == 0 && s3 == 0, "conv calls: %d %d %d", s1, s2, s3);
    std::vector<double> ref = conv_direct(q, x, w, oh, ow);
    std::vector<float> got = down(y, dy.size());
    double err = 0;
    for (size_t i = 0; i < ref.size(); i++) err = fmax(err, fabs(ref[i] - got[i]));
    double fwd = dot(got, dy), bd = dot(x, down(gx, x.size())), bf = dot(w, down(gw, w.size()));
    CHECK(err < 1e-5, "conv (mode %d, stride %d, pad %d, dilation %d) against direct loops: %g",
          (int)q.mode, q.stride, q.pad, q.dil, err);
    CHECK(fabs(fwd - bd) <= 1e-5 * (1 + fabs(fwd)) && fabs(fwd - bf) <= 1e-5 * (1 + fabs(fwd)),
          "adjoints (mode %d): <conv x, dy> %.9g, <x, bwd_data> %.9g, <w, bwd_filter> %.9g",
          (int)q.mode, fwd, bd, bf);
    /* the other kind of each direction (direct loops / im2col + GEMM) agrees */
    float *y2 = dev<float>(dy.size()), *gx2 = dev<float>(x.size()), *gw2 = dev<float>(w.size());
    s1 = cudnnConvolutionForward(h, &one, xd, dx_, wd, dw_, cd,
                                 CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, ws, 1 << 16, &zero, yd, y2);
    s2 = cudnnConvolutionBackwardData(h, &one, wd, dw_, yd, ddy, cd,
                                      CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED, ws, 1 << 16,
                                      &zero, xd, gx2);
    s3 = cudnnConvolutionBackwardFilter(h, &one, xd, dx_, yd, ddy, cd,
                                        CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT, ws, 1 << 16, &zero,
                                        wd, gw2);
    CHECK(s1 == 0 && s2 == 0 && s3 == 0, "the other algorithms: %d %d %d", s1, s2, s3);
    std::vector<float> got2 = down(y2, dy.size()), a = down(gx, x.size()), a2 = down(gx2, x.size()),
                       b = down(gw, w.size()), b2 = down(gw2, w.size());
    double e1 = 0, e2 = 0, e3 = 0;
    for (size_t i = 0; i < ref.size(); i++) e1 = fmax(e1, fabs(ref[i] - got2[i]));
    for (size_t i = 0; i < a.size(); i++) e2 = fmax(e2, fabs((double)a[i] - a2[i]));
    for (size_t i = 0; i < b.size(); i++) e3 = fmax(e3, fabs((double)b[i] - b2[i]));
    CHECK(e1 < 1e-5 && e2 < 1e-5 && e3 < 1e-5,
          "direct and GEMM algorithms (mode %d, stride %d, pad %d, dilation %d): forward %g, "
          "backward data %g, backward filter %g", (int)q.mode, q.stride, q.pad, q.dil, e1, e2, e3);
    cudaFree(y2), cudaFree(gx2), cudaFree(gw2);
    CHECK(cudnnConvolutionBackwardFilter(h, &one, xd, dx_, yd, ddy, cd,
                                         CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, ws, 1 << 16, &zero,
                                         wd, gw) != CUDNN_STATUS_SUCCESS,
          "a non-deterministic algorithm is refused");
    CHECK(cudnnConvolutionForward(h, &one, xd, dx_, wd, dw_, cd, CUDNN_CONVOLUTION_FWD_ALGO_GEMM,
                                  ws, 16, &zero, yd, y) == CUDNN_STATUS_BAD_PARAM,
          "a workspace smaller than the algorithm's");
    cudaFree(dx_), cudaFree(dw_), cudaFree(ddy), cudaFree(y), cudaFree(gx), cudaFree(gw);
    cudaFree(ws);
    cudnnDestroyTensorDescriptor(xd), cudnnDestroyTensorDescriptor(yd);
    cudnnDestroyFilterDescriptor(wd), cudnnDestroyConvolutionDescriptor(cd);
}

static void test_cudnn() {
    cudnnHandle_t h;
    CHECK(cudnnCreate(&h) == CUDNN_STATUS_SUCCESS, "cudnnCreate");
    test_conv(h, conv_case{2, 3, 9, 8, 4, 3, 3, 1, 1, 1, CUDNN_CROSS_CORRELATION});
    test_conv(h, conv_case{2, 2, 11, 10, 3, 4, 3, 2, 2, 1, CUDNN_CONVOLUTION});
    test_conv(h, conv_case{1, 2, 12, 12, 2, 3, 3, 1, 1, 2, CUDNN_CROSS_CORRELATION});
    /* bias broadcast: C (2, 3, 2, 2) += A (1, 3, 1, 1) */
    cudnnTensorDescriptor_t ad, cdd;
    cudnnCreateTensorDescriptor(&ad), cudnnCreateTensorDescriptor(&cdd);
    cudnnSetTensor4dDescriptor(ad, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1, 3, 1, 1);
    cudnnSetTensor4dDescriptor(cdd, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 2, 3, 2, 2);
    std::vector<float> a = {1, 2, 3}, c(24, 10.0f);
    float *da = up(a), *dc = up(c);
    const float one = 1.0f;
    CHECK(cudnnAddTensor(h, &one, ad, da, &one, cdd, dc) == 0, "cudnnAddTensor");
    std::vector<float> got = down(dc, 24);
    bool ok = true;
    for (int i = 0; i < 24; i++) ok &= got[i] == 10.0f + a[(i / 4) % 3];
    CHECK(ok, "cudnnAddTensor broadcasts A over n, h, w");
    cudaFree(da), cudaFree(dc);
    cudnnDestroyTensorDescriptor(ad), cudnnDestroyTensorDescriptor(cdd);
    cudnnDestroy(h);
}

int main() {
    test_kernels();
    test_memory();
    test_sgemm();
    test_cudnn();
    printf("test_cuda_emu: %d checks, %d failures\n", checks, failures);
    return failures ? 1 : 0;
}
