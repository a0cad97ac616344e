/* Similarity of two attribution maps: rank correlation, top-k overlap, and
 * where the attribution mass sits relative to the perturbation. */
#include <math.h>
#include <stdlib.h>

#include "foil/shift.h"

typedef struct keyed {
    float key;
    size_t index;
} keyed;

static int by_key(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->index < b->index ? -1 : (a->index > b->index);
}

/* Average ranks (1-based) of x into rank; ties share their mean rank. */
static int ranks(const float *x, size_t n, double *rank) {
    keyed *k = malloc(sizeof *k * (n ? n : 1));
    if (!k) return -1;
    for (size_t i = 0; i < n; i++) k[i] = (keyed){x[i], i};
    qsort(k, n, sizeof *k, by_key);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && k[j + 1].key == k[i].key) j++;
        double r = 0.5 * (double)(i + j) + 1.0;
        for (size_t t = i; t <= j; t++) rank[k[t].index] = r;
        i = j + 1;
    }
    free(k);
    return 0;
}

double foil_spearman(const float *a, const float *b, size_t n) {
    double *ra = malloc(sizeof(double) * (n ? n : 1)), *rb = malloc(sizeof(double) * (n ? n : 1));
    double r = 0.0;
    if (ra && rb && ranks(a, n, ra) == 0 && ranks(b, n, rb) == 0) {
        double mean = 0.5 * (double)(n + 1), sab = 0, saa = 0, sbb = 0;
        for (size_t i = 0; i < n; i++) {
            double da = ra[i] - mean, db = rb[i] - mean;
            sab += da * db, saa += da * da, sbb += db * db;
        }
        r = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : 0.0;
    }
    free(ra);
    free(rb);
    return r;
}

/* mark[i] = 1 for the top k entries of |x|. */
static int top_k(const float *x, size_t n, size_t k, unsigned char *mark) {
    keyed *s = malloc(sizeof *s * (n ? n : 1));
    if (!s) return -1;
    for (size_t i = 0; i < n; i++) s[i] = (keyed){-fabsf(x[i]), i}; /* largest first */
    qsort(s, n, sizeof *s, by_key);
    for (size_t i = 0; i < n; i++) mark[i] = 0;
    for (size_t i = 0; i < k && i < n; i++) mark[s[i].index] = 1;
    free(s);
    return 0;
}

double foil_topk_iou(const float *a, const float *b, size_t n, double frac) {
    size_t k = (size_t)ceil(frac * (double)n);
    unsigned char *ma = malloc(n ? n : 1), *mb = malloc(n ? n : 1);
    double iou = 0.0;
    if (ma && mb && k > 0 && top_k(a, n, k, ma) == 0 && top_k(b, n, k, mb) == 0) {
        size_t inter = 0, uni = 0;
        for (size_t i = 0; i < n; i++) inter += ma[i] & mb[i], uni += ma[i] | mb[i];
        iou = uni ? (double)inter / (double)uni : 0.0;
    }
    free(ma);
    free(mb);
    return iou;
}

double foil_mass_on_perturbed(const float *attr, const float *delta, size_t n) {
    double on = 0.0, all = 0.0;
    for (size_t i = 0; i < n; i++) {
        double m = fabs((double)attr[i]);
        all += m;
        if (fabsf(delta[i]) > 1.0f / 255.0f) on += m;
    }
    return all > 0.0 ? on / all : 0.0;
}
