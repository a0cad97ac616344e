/* foil's CUDA emulator: what its runtime, cuBLAS and cuDNN parts share. */
#ifndef FOIL_EMU_INTERNAL_H
#define FOIL_EMU_INTERNAL_H

#include <stddef.h>

#include "cuda_runtime.h"

namespace foil_emu {

/* Prints "foil cuda emulator: ..." to stderr. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* say(), then abort(): for misuse the emulator cannot turn into an error code. */
[[noreturn]] void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether [p, p + bytes) lies inside one live device allocation. */
bool is_device_range(const void *p, size_t bytes);
/* Whether p points into a live device allocation. */
bool is_device_pointer(const void *p);
/* Whether s is the default stream (NULL) or a live stream. */
bool is_stream(cudaStream_t s);
/* Counts a convolution of direction dir (FOIL_EMU_FWD, ...) with algorithm
 * algo: run, or refused by FOIL_EMU_CUDNN_FAIL. */
void count_conv(int dir, int algo, bool refused);

/* tf32: rounds x to TF32 (10 mantissa bits, round to nearest even), as tensor
 * cores read fp32 operands. */
float round_tf32(float x);

/* While alive: denormals kept (FTZ and DAZ off in MXCSR), as nvcc builds
 * kernels and as cuBLAS runs by default; foil's CPU backend sets both on
 * its threads. */
struct gpu_denormals {
    unsigned saved;
    gpu_denormals() : saved(__builtin_ia32_stmxcsr()) { __builtin_ia32_ldmxcsr(saved & ~0x8040u); }
    ~gpu_denormals() { __builtin_ia32_ldmxcsr(saved); }
    gpu_denormals(const gpu_denormals &) = delete;
    gpu_denormals &operator=(const gpu_denormals &) = delete;
};

} /* namespace foil_emu */

#endif
