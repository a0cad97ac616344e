/* KernelSHAP, as the `shap` package's KernelExplainer (Lundberg and Lee
 * 2017) with l1_reg off: only the M features that vary (some pixel differs
 * from the baseline) take part, the others get 0; coalition sizes are
 * enumerated completely, smallest (with their complements) first, while
 * the budget allows, and the rest is drawn by size from the Shapley kernel
 * with paired sampling (each drawn coalition and its complement), repeats
 * adding weight; the weighted least squares then has the efficiency
 * constraint sum(phi) = F(x) - F(baseline) eliminated exactly, and is
 * solved with LAPACK's dgelsd. With a budget of 2^M - 2 every coalition is
 * enumerated and the result is the exact Shapley values. */
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/philox.h"

/* The coalitions of one image, in M-space (one byte per varying feature). */
typedef struct coalitions {
    int m, cap, count;
    uint8_t *mask;  /* (cap, m) */
    double *weight; /* (cap) */
    int *slot;      /* (2 * cap) hash slots: row + 1, 0 empty */
    uint64_t seed, stream, ctr;
} coalitions;

static uint64_t hash_row(const uint8_t *r, int m) {
    uint64_t h = 1469598103934665603ull;
    for (int j = 0; j < m; j++) h = (h ^ r[j]) * 1099511628211ull;
    return h;
}

/* Appends row r with weight wt. */
static int append_row(coalitions *c, const uint8_t *r, double wt) {
    int k = c->count++;
    memcpy(c->mask + (size_t)k * c->m, r, (size_t)c->m);
    c->weight[k] = wt;
    return k;
}

/* A drawn row: appended (and remembered) when new, else wt is added to the
 * same row drawn before; returns its row index and whether it was new. As
 * shap, only drawn rows are remembered, not the enumerated ones (they have
 * other sizes) nor the complements. */
static int add_drawn(coalitions *c, const uint8_t *r, double wt, int *fresh) {
    size_t nslot = 2 * (size_t)c->cap, h = hash_row(r, c->m) % nslot;
    for (;; h = (h + 1) % nslot) {
        int k = c->slot[h] - 1;
        if (k < 0) break;
        if (!memcmp(c->mask + (size_t)k * c->m, r, (size_t)c->m)) {
            c->weight[k] += wt;
            *fresh = 0;
            return k;
        }
    }
    int k = append_row(c, r, wt);
    c->slot[h] = k + 1;
    *fresh = 1;
    return k;
}

static double binom(int n, int k) {
    double b = 1.0;
    for (int i = 1; i <= k; i++) b = b * (n - k + i) / i;
    return b;
}

static double uniform(coalitions *c) { return foil_rng_uniform(c->seed, c->stream, c->ctr++); }

/* shap's sampling plan for M features and a budget of n coalitions */
static int plan(coalitions *c, int n) {
    const int m = c->m, nsizes = m / 2, npaired = (m - 1) / 2; /* ceil, floor of (M - 1) / 2 */
    double *kw = malloc(sizeof(double) * (size_t)(3 * (nsizes + 1))), total = 0.0;
    double *rem = kw + nsizes + 1, *pick = rem + nsizes + 1;
    uint8_t *row = calloc((size_t)m, 1);
    int *idx = malloc(sizeof(int) * (size_t)m), rc = -1;
    if (!kw || !row || !idx) goto done;
    for (int s = 1; s <= nsizes; s++) {
        kw[s] = (m - 1.0) / ((double)s * (m - s)) * (s <= npaired ? 2.0 : 1.0);
        total += kw[s];
    }
    for (int s = 1; s <= nsizes; s++) rem[s] = kw[s] /= total;
    int full = 0;
    double left = n;
    for (int s = 1; s <= nsizes; s++) {
        double subsets = binom(m, s) * (s <= npaired ? 2.0 : 1.0);
        if (left * rem[s] / subsets < 1.0 - 1e-8) break;
        full++;
        left -= subsets;
        if (rem[s] < 1.0)
            for (int t = s + 1; t <= nsizes; t++) rem[t] /= 1.0 - rem[s];
        double wt = kw[s] / binom(m, s) / (s <= npaired ? 2.0 : 1.0);
        for (int j = 0; j < s; j++) idx[j] = j;
        for (;;) { /* every s-subset in lexicographic order, and its complement */
            memset(row, 0, (size_t)m);
            for (int j = 0; j < s; j++) row[idx[j]] = 1;
            append_row(c, row, wt);
            if (s <= npaired) {
                for (int j = 0; j < m; j++) row[j] ^= 1;
                append_row(c, row, wt);
            }
            int j = s - 1;
            while (j >= 0 && idx[j] == m - s + j) j--;
            if (j < 0) break;
            idx[j]++;
            for (int t = j + 1; t < s; t++) idx[t] = idx[t - 1] + 1;
        }
    }
    const int fixed = c->count;
    int samples_left = n - c->count;
    rc = 0;
    if (full == nsizes || samples_left <= 0) goto done;
    double psum = 0.0;
    for (int s = full + 1; s <= nsizes; s++) {
        pick[s] = kw[s] / (s <= npaired ? 2.0 : 1.0);
        psum += pick[s];
    }
    for (int draws = 0; samples_left > 0 && draws < 4 * (n - fixed); draws++) {
        double u = uniform(c) * psum, acc = 0.0;
        int s = full + 1;
        for (; s < nsizes; s++) {
            acc += pick[s];
            if (u < acc) break;
        }
        for (int j = 0; j < m; j++) idx[j] = j;
        memset(row, 0, (size_t)m);
        for (int j = 0; j < s; j++) { /* the first s of a random permutation */
            int k = j + (int)(uniform(c) * (m - j));
            if (k >= m) k = m - 1;
            int t = idx[j];
            idx[j] = idx[k], idx[k] = t;
            row[idx[j]] = 1;
        }
        int fresh, k = add_drawn(c, row, 1.0, &fresh);
        if (fresh) samples_left--;
        if (samples_left > 0 && s <= npaired) {
            for (int j = 0; j < m; j++) row[j] ^= 1;
            if (fresh) {
                append_row(c, row, 1.0);
                samples_left--;
            } else {
                c->weight[k + 1] += 1.0; /* its complement came right after it */
            }
        }
    }
    double wleft = 0.0, wsum = 0.0;
    for (int s = full + 1; s <= nsizes; s++) wleft += kw[s];
    for (int k = fixed; k < c->count; k++) wsum += c->weight[k];
    for (int k = fixed; k < c->count; k++) c->weight[k] *= wleft / wsum;
done:
    free(kw);
    free(row);
    free(idx);
    return rc;
}

/* The constrained weighted least squares: phi (m) from the coalitions'
 * values y, F(x) = fx and F(baseline) = f0. */
static int solve(const coalitions *c, const float *y, double fx, double f0, double *phi,
                 foil_err *err) {
    const int m = c->m, rows = c->count, cols = m - 1;
    /* dgelsd reads and writes max(rows, cols) entries of b */
    double *a = malloc(sizeof(double) * (size_t)rows * cols);
    double *b = calloc((size_t)(rows > cols ? rows : cols), sizeof(double));
    double *sv = malloc(sizeof(double) * (size_t)m);
    int rc = -1;
    if (!a || !b || !sv) {
        foil_fail(err, "KernelSHAP: out of memory for %d x %d", rows, cols);
        goto done;
    }
    for (int r = 0; r < rows; r++) {
        const uint8_t *z = c->mask + (size_t)r * m;
        double sw = sqrt(c->weight[r]);
        for (int j = 0; j < cols; j++) a[(size_t)r * cols + j] = sw * (z[j] - z[cols]);
        b[r] = sw * ((y[r] - f0) - z[cols] * (fx - f0));
    }
    lapack_int rank;
    lapack_int info = LAPACKE_dgelsd(LAPACK_ROW_MAJOR, rows, cols, 1, a, cols, b, 1, sv, -1.0,
                                     &rank);
    if (info != 0) {
        foil_fail(err, "KernelSHAP: the least squares did not converge (LAPACK dgelsd %d)",
                  (int)info);
        goto done;
    }
    double sum = 0.0;
    for (int j = 0; j < cols; j++) sum += phi[j] = b[j];
    phi[cols] = (fx - f0) - sum;
    rc = 0;
done:
    free(a), free(b), free(sv);
    return rc;
}

/* Features of image i whose pixels differ from the baseline somewhere. */
static int varying(const foil_explain_work *w, int i, const float *base_host, int *vi) {
    const size_t plane = (size_t)w->h * w->w;
    const int32_t *seg = w->seg_host + (size_t)i * plane;
    const float *x = w->xh + (size_t)i * w->row, *b = base_host + (size_t)i * w->row;
    uint8_t *vary = calloc((size_t)w->nfeat[i], 1);
    int m = 0;
    if (!vary) return -1;
    for (size_t q = 0; q < plane; q++)
        for (int ch = 0; ch < w->c; ch++)
            if (x[ch * plane + q] != b[ch * plane + q]) vary[seg[q]] = 1;
    for (int j = 0; j < w->nfeat[i]; j++)
        if (vary[j]) vi[m++] = j;
    free(vary);
    return m;
}

static int budget(const foil_explain_spec *s, int m) {
    long n = s->samples > 0 ? s->samples : 2L * m + 2048;
    if (m <= 30 && n > (1L << m) - 2) n = (1L << m) - 2;
    return (int)n;
}

int ex_kernelshap(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                  const ex_problem *p, foil_explain_stats *stats, foil_err *err) {
    const int n = p->n, stride = w->maxf;
    const size_t plane = (size_t)w->h * w->w;
    coalitions *co = calloc((size_t)n, sizeof *co);
    int *vi = malloc(sizeof(int) * (size_t)n * stride), most = 1, rc = -1;
    float *base_host = malloc(sizeof(float) * (size_t)n * w->row), *values = NULL;
    uint8_t *masks = NULL;
    double *phi = malloc(sizeof(double) * (size_t)stride);
    if (!co || !vi || !base_host || !phi) goto oom;
    if (w->b->download(w->b, base_host, p->base, sizeof(float) * (size_t)n * w->row)) {
        foil_fail(err, "%s", w->b->err.msg);
        goto done;
    }
    for (int i = 0; i < n; i++) {
        coalitions *c = &co[i];
        int m = varying(w, i, base_host, vi + (size_t)i * stride);
        if (m < 0) goto oom;
        c->m = m;
        if (m < 2) continue; /* 0 or 1 varying features: no regression */
        if (s->samples > 0 && s->samples < m) {
            foil_fail(err, "explain.samples: %d evaluations for the %d varying features of "
                      "image %lld; KernelSHAP needs at least one per feature", s->samples, m,
                      (long long)(p->index ? p->index[i] : i));
            goto done;
        }
        c->cap = budget(s, m);
        c->seed = s->seed;
        c->stream = FOIL_STREAM(FOIL_RNG_FEATURES,
                                (1ull << 40) | (uint64_t)(p->index ? p->index[i] : i));
        c->mask = malloc((size_t)c->cap * m);
        c->weight = malloc(sizeof(double) * c->cap);
        c->slot = calloc(2 * (size_t)c->cap, sizeof(int));
        if (!c->mask || !c->weight || !c->slot || plan(c, c->cap)) goto oom;
        if (c->count > most) most = c->count;
    }
    /* all images' coalitions in the full feature space, padded to `most` rows
     * (the padding all on: F(x), unused) */
    masks = malloc((size_t)n * most * stride);
    values = malloc(sizeof(float) * (size_t)n * most);
    if (!masks || !values) goto oom;
    memset(masks, 1, (size_t)n * most * stride);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < co[i].count; r++)
            for (int j = 0; j < co[i].m; j++)
                masks[((size_t)i * most + r) * stride + vi[(size_t)i * stride + j]] =
                    co[i].mask[(size_t)r * co[i].m + j];
    if (ex_fx(w, s, p, stats, err) || ex_masked_values(w, s, p, masks, most, stride, values, err))
        goto done;
    for (int i = 0; i < n; i++) {
        const coalitions *c = &co[i];
        const double fx = stats[i].f_x, f0 = stats[i].f_baseline;
        float *fw = w->fw + (size_t)i * plane;
        memset(fw, 0, sizeof(float) * (size_t)stride);
        if (c->m == 1) phi[0] = fx - f0;
        else if (c->m >= 2 && solve(c, values + (size_t)i * most, fx, f0, phi, err)) goto done;
        double sum = 0.0;
        for (int j = 0; j < c->m; j++) {
            fw[vi[(size_t)i * stride + j]] = (float)phi[j];
            sum += (float)phi[j];
        }
        stats[i].attr_sum = (float)sum;
        stats[i].delta = (float)(sum - (fx - f0));
        double floor = FOIL_EXPLAIN_REL_FLOOR * fmax(1.0, fmax(fabs(fx), fabs(f0)));
        stats[i].rel_delta = (float)(stats[i].delta / fmax(fabs(fx - f0), floor));
        stats[i].steps = c->count;
    }
    rc = ex_paint(w, attr, n, err);
    goto done;
oom:
    foil_fail(err, "KernelSHAP: out of memory for %d images", n);
done:
    for (int i = 0; co && i < n; i++) free(co[i].mask), free(co[i].weight), free(co[i].slot);
    free(co), free(vi), free(base_host), free(values), free(masks), free(phi);
    return rc;
}
