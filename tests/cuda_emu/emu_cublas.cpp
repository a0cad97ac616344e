/* foil's CUDA emulator: cublasSgemm and the handle calls around it, with the
 * argument checks cuBLAS makes (sizes, leading dimensions) and more (every
 * matrix must lie inside one device allocation; alpha and beta are host
 * pointers, cuBLAS's default pointer mode). Column-major, as cuBLAS. */
#include <stdio.h>

#include "cublas_v2.h"
#include "emu_internal.h"

using namespace foil_emu;

struct foil_emu_cublas {
    cudaStream_t stream;
    cublasMath_t math;
};

namespace {

cublasStatus_t invalid(const char *fmt, int a, int b, int c) {
    char msg[256];
    snprintf(msg, sizeof msg, fmt, a, b, c);
    say("cublasSgemm: %s", msg);
    return CUBLAS_STATUS_INVALID_VALUE;
}

/* A stored (rows, cols) matrix with leading dimension ld fits in device memory. */
bool matrix_ok(const float *p, int rows, int cols, int ld) {
    if (rows == 0 || cols == 0) return true;
    size_t elems = (size_t)(cols - 1) * (size_t)ld + (size_t)rows;
    return is_device_range(p, elems * sizeof(float));
}

float operand(const cublasHandle_t h, float x) {
    return h->math == CUBLAS_TF32_TENSOR_OP_MATH ? round_tf32(x) : x;
}

} /* namespace */

extern "C" {

cublasStatus_t cublasCreate(cublasHandle_t *handle) {
    if (!handle) return CUBLAS_STATUS_INVALID_VALUE;
    *handle = new foil_emu_cublas{nullptr, CUBLAS_DEFAULT_MATH};
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy(cublasHandle_t handle) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    delete handle;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (!is_stream(stream)) return CUBLAS_STATUS_INVALID_VALUE;
    handle->stream = stream;
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (mode != CUBLAS_DEFAULT_MATH && mode != CUBLAS_PEDANTIC_MATH &&
        mode != CUBLAS_TF32_TENSOR_OP_MATH && mode != CUBLAS_TENSOR_OP_MATH)
        return CUBLAS_STATUS_INVALID_VALUE;
    handle->math = mode;
    return CUBLAS_STATUS_SUCCESS;
}

const char *cublasGetStatusString(cublasStatus_t status) {
    switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    }
    return "CUBLAS_STATUS_UNKNOWN";
}

cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa,
                           cublasOperation_t transb, int m, int n, int k, const float *alpha,
                           const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc) {
    if (!handle) return CUBLAS_STATUS_NOT_INITIALIZED;
    if ((transa != CUBLAS_OP_N && transa != CUBLAS_OP_T) ||
        (transb != CUBLAS_OP_N && transb != CUBLAS_OP_T))
        return invalid("transa %d / transb %d (N and T only)", transa, transb, 0);
    if (m < 0 || n < 0 || k < 0) return invalid("m %d, n %d, k %d", m, n, k);
    /* stored shapes: op(A) is (m, k), op(B) is (k, n) */
    int a_rows = transa == CUBLAS_OP_N ? m : k, a_cols = transa == CUBLAS_OP_N ? k : m;
    int b_rows = transb == CUBLAS_OP_N ? k : n, b_cols = transb == CUBLAS_OP_N ? n : k;
    if (lda < (a_rows > 1 ? a_rows : 1)) return invalid("lda %d < %d rows of A", lda, a_rows, 0);
    if (ldb < (b_rows > 1 ? b_rows : 1)) return invalid("ldb %d < %d rows of B", ldb, b_rows, 0);
    if (ldc < (m > 1 ? m : 1)) return invalid("ldc %d < m %d", ldc, m, 0);
    if (!alpha || !beta || is_device_pointer(alpha) || is_device_pointer(beta))
        return invalid("alpha and beta must be host pointers (pointer mode host)", 0, 0, 0);
    if (!is_stream(handle->stream)) return CUBLAS_STATUS_EXECUTION_FAILED;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    if (!matrix_ok(C, m, n, ldc) || (k > 0 && (!matrix_ok(A, a_rows, a_cols, lda) ||
                                               !matrix_ok(B, b_rows, b_cols, ldb))))
        return invalid("A (%d x k), B (k x %d) or C (%d rows) is not inside device memory",
                       m, n, m);
    gpu_denormals keep;
    const float al = *alpha, be = *beta;
    for (int j = 0; j < n; j++)
        for (int i = 0; i < m; i++) {
            double acc = 0.0;
            for (int l = 0; l < k; l++) {
                float a = transa == CUBLAS_OP_N ? A[(size_t)l * lda + i] : A[(size_t)i * lda + l];
                float b = transb == CUBLAS_OP_N ? B[(size_t)j * ldb + l] : B[(size_t)l * ldb + j];
                acc += (double)operand(handle, a) * (double)operand(handle, b);
            }
            float *c = &C[(size_t)j * ldc + i];
            /* beta == 0: C is not read (it may hold NaN) */
            *c = be == 0.0f ? al * (float)acc : al * (float)acc + be * *c;
        }
    return CUBLAS_STATUS_SUCCESS;
}

} /* extern "C" */
