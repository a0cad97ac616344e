/* Private to the CPU backend: its context and the ops split across files. */
#ifndef FOIL_BACKEND_CPU_H
#define FOIL_BACKEND_CPU_H

#include "foil/backend.h"

/* Loops whose iterations write disjoint outputs run on all cores when built
 * with OpenMP (the results do not depend on the thread count); `cond` keeps
 * small loops serial. */
#define FOIL_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#define FOIL_PAR_FOR(cond) FOIL_PRAGMA(omp parallel for schedule(static) if (cond))
#else
#define FOIL_PAR_FOR(cond)
#endif

typedef struct cpu_ctx {
    float *col;        /* im2col workspace, (C*R*S, OH*OW) floats for one image */
    size_t col_cap;    /* floats allocated */
} cpu_ctx;

/* Grows the im2col workspace; NULL + b->err on failure. */
float *cpu_workspace(foil_backend *b, size_t floats);

/* host/backend/cpu/backend_cpu_layers.c */
int cpu_conv2d_fwd(foil_backend *b, float *out, const float *in, const float *w,
                   const float *bias, const foil_conv_shape *cs);
int cpu_conv2d_bwd_data(foil_backend *b, float *din, const float *dout, const float *w,
                        const foil_conv_shape *cs);
int cpu_conv2d_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                          const float *in, const foil_conv_shape *cs);
int cpu_maxpool_fwd(foil_backend *b, float *out, int32_t *argmax, const float *in,
                    const foil_pool_shape *ps);
int cpu_maxpool_bwd(foil_backend *b, float *din, const float *dout, const int32_t *argmax,
                    const foil_pool_shape *ps);
int cpu_dense_fwd(foil_backend *b, float *out, const float *in, const float *w,
                  const float *bias, int n, int in_dim, int out_dim);
int cpu_dense_bwd_data(foil_backend *b, float *din, const float *dout, const float *w, int n,
                       int in_dim, int out_dim);
int cpu_dense_bwd_filter(foil_backend *b, float *dw, float *dbias, const float *dout,
                         const float *in, int n, int in_dim, int out_dim);

/* host/backend/cpu/backend_cpu_attack.c and host/backend/cpu/backend_cpu_explain.c */
void cpu_register_attack_ops(foil_backend *b);
void cpu_register_apgd_ops(foil_backend *b);
void cpu_register_square_ops(foil_backend *b);
void cpu_register_minimal_ops(foil_backend *b);
void cpu_register_explain_ops(foil_backend *b);

#endif
