/* foil's CUDA emulator, device side: what kernels in cuda/ use (thread and
 * block indices, __syncthreads, warp shuffles, atomics, rounding intrinsics)
 * and the launch that stands in for kernel<<<grid, block, shmem, stream>>>(...)
 * (tests/cuda_emu/translate.cmake rewrites the launches into
 * foil_emu::launch("kernel", kernel, foil_emu::config(grid, block, ...), ...)).
 *
 * A kernel runs on the calling host thread, block after block, each CUDA
 * thread of a block on a fiber of its own (emu_runtime.cpp): a thread runs
 * until it ends or waits at __syncthreads or a shuffle, which release when
 * every thread of the block (of the warp) waits there; a barrier that some
 * threads never reach is reported as divergent. Pointer arguments must be
 * device pointers (or NULL). */
#ifndef FOIL_EMU_DEVICE_H
#define FOIL_EMU_DEVICE_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <type_traits>
#include <utility>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
/* One copy per block: blocks run one after another on this host thread. */
#define __shared__ static thread_local

struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1)
        : x(vx), y(vy), z(vz) {}
};

namespace foil_emu {

struct thread_ctx {
    uint3 thread_idx, block_idx;
    dim3 block_dim, grid_dim;
};
/* __thread, not thread_local: no TLS wrapper call in every kernel (and GCC 12
 * with UBSan miscompiles the wrapper's null check) */
extern __thread thread_ctx *current;

struct launch_config {
    dim3 grid, block;
    size_t shmem;
    cudaStream_t stream;
};
inline launch_config config(dim3 grid, dim3 block, size_t shmem = 0, cudaStream_t stream = 0) {
    return launch_config{grid, block, shmem, stream};
}

/* emu_runtime.cpp */
void run_grid(const char *name, const launch_config &cfg, void (*body)(void *), void *arg);
/* Whether p is NULL or points into a live device allocation; else reports
 * "kernel <name>: argument <index> ..." and sets the launch error. */
bool check_kernel_pointer(const char *name, int index, const void *p);
void syncthreads();
uint64_t shfl_xor_bits(unsigned mask, uint64_t bits, int lane_mask);

template <class F> void invoke(void *f) { (*static_cast<F *>(f))(); }

template <class T> bool check_arg(const char *name, int index, const T &v) {
    if constexpr (std::is_pointer_v<T>)
        return check_kernel_pointer(name, index, static_cast<const void *>(v));
    else
        return true;
}

template <class Tuple, size_t... I>
bool check_args(const char *name, const Tuple &t, std::index_sequence<I...>) {
    (void)name, (void)t; /* unused for kernels without arguments */
    return (check_arg(name, (int)I, std::get<I>(t)) && ... && true);
}

/* Arguments are converted to the kernel's parameter types once, as CUDA
 * copies them at the launch; every thread gets its own copy. */
template <class... P, class... A>
void launch(const char *name, void (*kernel)(P...), const launch_config &cfg, A &&...args) {
    static_assert(sizeof...(P) == sizeof...(A), "kernel launched with the wrong argument count");
    std::tuple<P...> params = std::tuple<P...>(std::forward<A>(args)...);
    if (!check_args(name, params, std::index_sequence_for<P...>{})) return;
    auto body = [&]() { std::apply(kernel, params); };
    run_grid(name, cfg, &invoke<decltype(body)>, &body);
}

} /* namespace foil_emu */

#define threadIdx (foil_emu::current->thread_idx)
#define blockIdx (foil_emu::current->block_idx)
#define blockDim (foil_emu::current->block_dim)
#define gridDim (foil_emu::current->grid_dim)
#define warpSize 32

static inline void __syncthreads(void) { foil_emu::syncthreads(); }

template <class T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask) {
    static_assert(sizeof(T) <= sizeof(uint64_t) && std::is_trivially_copyable_v<T>,
                  "__shfl_xor_sync: 8-byte values at most");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = foil_emu::shfl_xor_bits(mask, bits, lane_mask);
    memcpy(&v, &bits, sizeof v);
    return v;
}

/* Blocks run one at a time on one host thread: a plain read-modify-write is atomic. */
static inline unsigned atomicMin(unsigned *addr, unsigned v) {
    unsigned old = *addr;
    if (v < old) *addr = v;
    return old;
}
static inline int atomicMin(int *addr, int v) {
    int old = *addr;
    if (v < old) *addr = v;
    return old;
}
static inline float atomicAdd(float *addr, float v) {
    float old = *addr;
    *addr = old + v;
    return old;
}

/* Correctly rounded single operations (the emulator is built with
 * -ffp-contract=off, so nothing is fused into an FMA here). */
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }

static inline int min(int a, int b) { return a < b ? a : b; }
static inline int max(int a, int b) { return a > b ? a : b; }
static inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
static inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }

#endif
