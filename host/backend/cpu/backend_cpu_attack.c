/* CPU reference: per-row attack ops (random start, step + projection, row
 * selection) and the small integer ops the attack loop needs on the device. */
#include <math.h>
#include <string.h>

#include "backend_cpu.h"
#include "foil/elementwise.h"

static int cpu_argmax(foil_backend *b, int32_t *out, const float *logits, int n, int classes) {
    (void)b;
    for (int i = 0; i < n; i++) out[i] = foil_row_argmax(logits + (size_t)i * classes, classes);
    return 0;
}

static int cpu_compare(foil_backend *b, int32_t *out, const int32_t *a, const int32_t *c, int n,
                       int equal) {
    (void)b;
    for (int i = 0; i < n; i++) out[i] = equal ? a[i] == c[i] : a[i] != c[i];
    return 0;
}

static double row_norm(const float *x, size_t row, int p) {
    double s = 0.0;
    for (size_t j = 0; j < row; j++) s += p == 1 ? fabs((double)x[j]) : (double)x[j] * x[j];
    return p == 1 ? s : sqrt(s);
}

/* L2 ball: delta = x - x0 shrunk to norm <= eps, then x clipped to [0, 1]
 * (clipping moves coordinates towards x0, so it never leaves the ball). */
static void project_l2_row(float *x, const float *x0, size_t row, float eps) {
    double s = 0.0;
    for (size_t j = 0; j < row; j++) s += (double)(x[j] - x0[j]) * (x[j] - x0[j]);
    float k = foil_l2_shrink((float)sqrt(s), eps);
    for (size_t j = 0; j < row; j++)
        x[j] = foil_clampf(x0[j] + (x[j] - x0[j]) * k, 0.0f, 1.0f);
}

static int cpu_attack_random_start(foil_backend *b, float *x_adv, const float *x0, int n,
                                   size_t row, const foil_attack_hparams *hp, uint64_t seed,
                                   uint64_t restart, int64_t first, const int32_t *index) {
    (void)b;
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        const int64_t k = first + (index ? index[i] : i);
        uint64_t stream = FOIL_STREAM(FOIL_RNG_ATTACK, (restart << 32) | (uint64_t)k);
        float *x = x_adv + (size_t)i * row;
        const float *o = x0 + (size_t)i * row;
        const float lo = hp->unclipped ? -INFINITY : 0.0f, hi = hp->unclipped ? INFINITY : 1.0f;
        if (hp->norm == FOIL_NORM_LINF) {
            for (size_t j = 0; j < row; j++)
                x[j] = foil_clampf(o[j] + (2.0f * foil_rng_uniform(seed, stream, j) - 1.0f) *
                                              hp->eps, lo, hi);
            continue;
        }
        /* uniform in the L2 ball: a normal direction, radius eps * u^(1/d) */
        double s = 0.0;
        for (size_t j = 0; j < row; j++) {
            x[j] = foil_rng_normal(seed, stream, j);
            s += (double)x[j] * x[j];
        }
        float u = foil_rng_uniform(seed, stream, 2 * ((row + 1) / 2)); /* past the normals */
        float r = hp->eps * powf(u, 1.0f / (float)row) / (float)(sqrt(s) + 1e-12);
        for (size_t j = 0; j < row; j++) x[j] = foil_clampf(o[j] + x[j] * r, lo, hi);
    }
    return 0;
}

static int cpu_attack_step(foil_backend *b, float *x_adv, float *velocity, const float *grad,
                           const float *x0, const int32_t *active, int n, size_t row,
                           const foil_attack_hparams *hp) {
    (void)b; /* the velocity buffer is checked in front (host/backend/check.c) */
    FOIL_PAR_FOR(n > 8)
    for (int i = 0; i < n; i++) {
        if (active && !active[i]) continue;
        float *x = x_adv + (size_t)i * row, *v = velocity ? velocity + (size_t)i * row : NULL;
        const float *g = grad + (size_t)i * row, *o = x0 + (size_t)i * row;
        float scale = 0.0f;
        if (hp->rule == FOIL_STEP_L2) scale = (float)(1.0 / (row_norm(g, row, 2) + 1e-12));
        if (hp->rule == FOIL_STEP_MOMENTUM_SIGN) {
            float inv_l1 = (float)(1.0 / (row_norm(g, row, 1) + 1e-12));
            for (size_t j = 0; j < row; j++) v[j] = hp->decay * v[j] + g[j] * inv_l1;
        }
        for (size_t j = 0; j < row; j++) {
            float d = foil_step_direction((int)hp->rule, g[j], v ? v[j] : 0.0f, scale);
            x[j] += hp->step * d;
            if (hp->norm == FOIL_NORM_LINF) x[j] = foil_project_linf(x[j], o[j], hp->eps);
        }
        if (hp->norm == FOIL_NORM_L2) project_l2_row(x, o, row, hp->eps);
    }
    return 0;
}

static int cpu_select_rows(foil_backend *b, float *dst, const float *src, const int32_t *mask,
                           int n, size_t row) {
    (void)b;
    for (int i = 0; i < n; i++)
        if (mask[i]) memcpy(dst + (size_t)i * row, src + (size_t)i * row, row * sizeof(float));
    return 0;
}

static int cpu_flag_nonfinite(foil_backend *b, int32_t *flags, const float *x, int n,
                              size_t row) {
    (void)b;
    for (int i = 0; i < n; i++) {
        const float *r = x + (size_t)i * row;
        int bad = 0;
        for (size_t j = 0; j < row && !bad; j++) bad = !foil_finitef(r[j]);
        if (bad) flags[i] = 1;
    }
    return 0;
}

void cpu_register_attack_ops(foil_backend *b) {
    b->argmax = cpu_argmax;
    b->compare = cpu_compare;
    b->attack_random_start = cpu_attack_random_start;
    b->attack_step = cpu_attack_step;
    b->select_rows = cpu_select_rows;
    b->flag_nonfinite = cpu_flag_nonfinite;
}
