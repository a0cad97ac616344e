/* Private to the CUDA backend: its context, error checks and launch helpers.
 * Nothing outside cuda/ includes a CUDA header. */
#ifndef FOIL_CUDA_COMMON_H
#define FOIL_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "foil/backend.h"

/* The three directions of a convolution. */
enum { CONV_FWD, CONV_BWD_DATA, CONV_BWD_FILTER, CONV_DIRS };

/* One direction's choice: its own convolution descriptor, whose math type
 * is the chosen heuristic entry's, the algorithm, its workspace, and what
 * must not be taken again for this shape (per math type, a bit per
 * algorithm): entries the heuristic reported unsupported or
 * non-deterministic, and algorithms that failed when they ran. */
typedef struct cuda_conv_dir {
    cudnnConvolutionDescriptor_t conv;
    int algo;
    cudnnMathType_t math;
    size_t workspace;
    unsigned bad[4];          /* indexed by cudnnMathType_t */
} cuda_conv_dir;

/* cuDNN descriptors and chosen algorithms for one convolution shape, made
 * once and cached (training and attacks reuse a handful of shapes). */
typedef struct cuda_conv_plan {
    foil_conv_shape shape;
    int pad_b, pad_r;         /* extra bottom/right padding cuDNN cannot express */
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cuda_conv_dir dir[CONV_DIRS];
    int tf32;                 /* the precision mode the algorithms were chosen for */
} cuda_conv_plan;

typedef struct cuda_ctx {
    int device;
    cudaStream_t stream;
    cublasHandle_t cublas;
    cudnnHandle_t cudnn;
    void *workspace;          /* shared by cuDNN calls; grown on demand */
    size_t workspace_size;
    float *pad_buf;           /* input padded for asymmetric 'same' convolutions */
    size_t pad_buf_size;      /* bytes */
    cuda_conv_plan *plans;
    int nplans, plans_cap;
    int debug_sync;           /* FOIL_CUDA_SYNC=1: synchronise after every op */
    int show_plans;           /* FOIL_CUDA_PLANS=1: print each convolution algorithm chosen */
    int tf32;
} cuda_ctx;

#ifdef __cplusplus
extern "C" {
#endif

/* Fills b->err with "cuda: <statement> failed at file:line: <why>"; returns -1. */
int cuda_fail(foil_backend *b, const char *stmt, const char *file, int line, const char *why);
/* Checks the last launch (and synchronises in debug mode). */
int cuda_after_launch(foil_backend *b, const char *what, const char *file, int line);
/* Grows the shared workspace to at least `bytes`; NULL + b->err on failure. */
void *cuda_workspace(foil_backend *b, size_t bytes);

/* Registration of the op families, one per .cu file. */
void cuda_register_layer_ops(foil_backend *b);   /* conv, pool, dense (cuDNN, cuBLAS) */
void cuda_register_elementwise_ops(foil_backend *b); /* relu, dropout, loss, optim, gather */
void cuda_register_attack_ops(foil_backend *b);
void cuda_register_apgd_ops(foil_backend *b);     /* DLR loss, APGD step and bookkeeping */
void cuda_register_square_ops(foil_backend *b);   /* Square attack proposals and bookkeeping */
void cuda_register_minimal_ops(foil_backend *b);      /* FAB-T, DeepFool, CW-L2 */
void cuda_register_explain_ops(foil_backend *b);
/* Frees the conv plans (cuda/conv_plan.cu). */
void cuda_conv_plans_free(cuda_ctx *ctx);

#ifdef __cplusplus
}

/* Debug-mode validation of class indices (cuda/elementwise_ops.cu; C++
 * linkage): begin hands out a device flag (NULL outside FOIL_CUDA_SYNC mode)
 * that kernels lower to the first bad row; end turns it into the CPU
 * backend's message. */
int cuda_label_check_begin(foil_backend *b, unsigned **bad_row);
int cuda_label_check_end(foil_backend *b, const unsigned *bad_row, const int32_t *labels,
                         const char *op, const char *what, int classes);
#endif

static inline cuda_ctx *cuda_ctx_of(foil_backend *b) { return (cuda_ctx *)b->ctx; }

#define CUDA_CHECK(b, call)                                                              \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess)                                                           \
            return cuda_fail((b), #call, __FILE__, __LINE__, cudaGetErrorString(e_));    \
    } while (0)

#define CUBLAS_CHECK(b, call)                                                            \
    do {                                                                                 \
        cublasStatus_t s_ = (call);                                                      \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                 \
            return cuda_fail((b), #call, __FILE__, __LINE__, cublasGetStatusString(s_)); \
    } while (0)

#define CUDNN_CHECK(b, call)                                                             \
    do {                                                                                 \
        cudnnStatus_t s_ = (call);                                                       \
        if (s_ != CUDNN_STATUS_SUCCESS)                                                  \
            return cuda_fail((b), #call, __FILE__, __LINE__, cudnnGetErrorString(s_));   \
    } while (0)

/* After every kernel launch: LAUNCH_CHECK(b, "relu_fwd"); */
#define LAUNCH_CHECK(b, what)                                                            \
    do {                                                                                 \
        if (cuda_after_launch((b), (what), __FILE__, __LINE__)) return -1;               \
    } while (0)

/* Grid size for n elements at `threads` per block, capped (grid-stride loops). */
static inline unsigned cuda_blocks(size_t n, unsigned threads) {
    size_t blocks = (n + threads - 1) / threads;
    if (blocks > 65535u * 8u) blocks = 65535u * 8u;
    return blocks ? (unsigned)blocks : 1u;
}

#endif
