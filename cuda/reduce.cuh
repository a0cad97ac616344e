/* Fixed-order reductions shared by the kernels: every lane or thread ends with
 * the same value and the order of the additions never changes, so results
 * are identical run to run (no float atomics). Device functions in a header:
 * each .cu gets its own copy without relocatable device code. */
#ifndef FOIL_CUDA_REDUCE_CUH
#define FOIL_CUDA_REDUCE_CUH

#define FULL_MASK 0xFFFFFFFFu

/* Butterfly reductions over a full warp. */
static __device__ __forceinline__ float warp_max(float v) {
    for (int off = 16; off > 0; off >>= 1) {
        float o = __shfl_xor_sync(FULL_MASK, v, off);
        v = o > v ? o : v;
    }
    return v;
}

static __device__ __forceinline__ double warp_sum(double v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(FULL_MASK, v, off);
    return v;
}

/* Sum of v over the block (blockDim.x == THREADS, a power of two) as a fixed
 * shared-memory tree; every thread gets the total. buf: THREADS doubles of
 * shared memory, free again when the call returns. */
template <unsigned THREADS>
static __device__ double block_sum(double v, double *buf) {
    static_assert((THREADS & (THREADS - 1)) == 0, "THREADS must be a power of two");
    const unsigned t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (unsigned s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s) buf[t] += buf[t + s];
        __syncthreads();
    }
    double total = buf[0];
    __syncthreads();
    return total;
}

/* Maximum of v over the block, as block_sum (the same tree, max for +). */
template <unsigned THREADS>
static __device__ double block_max(double v, double *buf) {
    static_assert((THREADS & (THREADS - 1)) == 0, "THREADS must be a power of two");
    const unsigned t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (unsigned s = THREADS / 2; s > 0; s >>= 1) {
        if (t < s && buf[t + s] > buf[t]) buf[t] = buf[t + s];
        __syncthreads();
    }
    double m = buf[0];
    __syncthreads();
    return m;
}

#endif
