/* Private to host/explain/explain*.c: the explanation work buffers. */
#ifndef FOIL_EXPLAIN_INTERNAL_H
#define FOIL_EXPLAIN_INTERNAL_H

#include "foil/explain.h"

struct foil_explain_work {
    foil_net *net;
    foil_backend *b;
    int max_images, max_batch, classes;
    int c, h, w;      /* image shape; row = c * h * w */
    size_t row;
    /* backend, (max_images, row) each */
    float *base;      /* baselines of the batch */
    float *noisy;     /* x + noise (one SmoothGrad draw) */
    float *one;       /* the method's attributions for one draw */
    float *diff;      /* x - baseline */
    float *cx, *cbase, *cattr; /* the images still refined by the adaptive steps */
    /* backend, per path point */
    float *xs;        /* (max_batch, row) path points */
    float *dlogits;   /* (max_batch, classes) */
    float *values;    /* (max_batch) F at each point */
    int32_t *rep;     /* (max_batch) the target of each point */
    /* backend, per image */
    int32_t *targets, *ctargets, *pred; /* (max_images) */
    float *fx, *fb, *sums;              /* (max_images) F(x), F(baseline), sum(attr) */
    float *alpha, *weight; /* (quad_cap) quadrature on the backend ... */
    int quad_cap;
    int q_rule, q_m;       /* ... of this rule and size (q_m 0: none yet) */
    /* host */
    float *host;               /* (max_images, row) baseline scratch */
    int32_t *rep_host;         /* (max_batch) */
    double *qa, *qw;           /* (quad_cap) */
    float *qf;                 /* (2, quad_cap) the same in float, for the upload */
    int rep_n, rep_m;          /* layout rep holds (n images x m points); 0: none */
    int *active;               /* (max_images) images still refined, by batch position */
    int32_t *ctarget_host;     /* (max_images) their targets */
    int64_t *cindex;           /* (max_images) their data set indices */
    float *fx_host, *sum_host; /* (max_images) */
    /* feature methods (explain_perturb.c) */
    int32_t *seg;              /* (max_images, plane) backend: the segments */
    uint8_t *masks;            /* (max_batch, plane) backend: a chunk of feature masks */
    int32_t *seg_host;         /* (max_images, plane) */
    float *xh;                 /* (max_images, row) the images, host */
    float *fw;                 /* (max_images, plane) feature weights */
    int *nfeat;                /* (max_images) segments per image */
    int maxf;                  /* the most segments of an image in the batch */
    /* gradshap (explain_gradshap.c), made at its first use */
    float *bg;                 /* (nbg, row) backend: the background */
    const float *bg_host;      /* what bg holds */
    int nbg;
    float *gs_base, *gs_diff;  /* (max_batch, row) */
    float *gs_alpha, *gs_wt;   /* (max_batch) */
    int32_t *gs_bidx, *gs_iidx; /* (max_batch) */
    int32_t *gs_bidx_host, *gs_iidx_host; /* (max_batch) */
    float *gs_alpha_host;      /* (max_batch) */
};

/* One set of images to explain: the whole batch, or the images the adaptive
 * steps are still refining (compacted). */
struct foil_explain_problem {
    const float *x, *base;     /* (n, row) backend */
    const int32_t *tgt;        /* (n) backend */
    const int32_t *tgt_host;   /* (n) */
    const int64_t *index;      /* (n) data set indices, or NULL for 0..n-1 */
    int n;
};
typedef foil_explain_problem ex_problem;

/* F at `count` inputs into value (count), backend memory (explain_gradient.c) */
int ex_f_at(foil_explain_work *w, foil_target_mode mode, float *value, const float *xin,
            const int32_t *tgt, int count, foil_err *err);
/* dF/dx at `count` inputs into net->dx (count, row) */
int ex_grad_at(foil_explain_work *w, foil_target_mode mode, const float *xin,
               const int32_t *tgt, int count, foil_err *err);

/* The run functions of the table (foil_explain_run_fn), explain_gradient.c */
int ex_saliency(foil_explain_work *w, const foil_explain_spec *s, float *out, const float *xin,
                const ex_problem *p, int m, foil_err *err);
int ex_grad_x_input(foil_explain_work *w, const foil_explain_spec *s, float *out,
                    const float *xin, const ex_problem *p, int m, foil_err *err);
int ex_ig(foil_explain_work *w, const foil_explain_spec *s, float *out, const float *xin,
          const ex_problem *p, int m, foil_err *err);

/* host/explain/explain_perturb.c: segments of the n images x (backend) into
 * w->seg / seg_host / nfeat / maxf, w->xh the images; fails on a
 * segmentation with fewer than 2 segments */
int ex_segment(foil_explain_work *w, const foil_explain_spec *s, const float *x,
               const int64_t *index_host, int n, foil_err *err);
/* the per-segment means of the segmented images into host (n, row) */
void ex_segment_means(const foil_explain_work *w, int n, float *host);
/* F of the perturbed images of p: rows (n * samples, stride) of feature
 * masks (host bytes; image i's rows first), the values into values (host,
 * n * samples), in forwards of at most w->max_batch */
int ex_masked_values(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p,
                     const uint8_t *masks, int samples, int stride, float *values,
                     foil_err *err);
/* attr (n, row, backend) = each pixel's feature weight w->fw[i * plane + seg] */
int ex_paint(foil_explain_work *w, float *attr, int n, foil_err *err);
/* F(x) of p into stats[i].f_x (host) */
int ex_fx(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p,
          foil_explain_stats *stats, foil_err *err);

/* The feature methods (foil_explain_perturb_fn): explain_lime.c,
 * explain_kernelshap.c, explain_perturb.c (ablation) */
int ex_lime(foil_explain_work *w, const foil_explain_spec *s, float *attr, const ex_problem *p,
            foil_explain_stats *stats, foil_err *err);
int ex_kernelshap(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                  const ex_problem *p, foil_explain_stats *stats, foil_err *err);
int ex_ablation(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                const ex_problem *p, foil_explain_stats *stats, foil_err *err);
/* explain_occlusion.c */
int ex_occlusion(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                 const ex_problem *p, foil_explain_stats *stats, foil_err *err);

/* explain_gradshap.c (a run method) */
int ex_gradshap(foil_explain_work *w, const foil_explain_spec *s, float *out, const float *xin,
                const ex_problem *p, int m, foil_err *err);

/* explain_sensitivity.c: max-sensitivity (foil_explain_faithfulness) of
 * attr (n, row, backend) made by spec s from x (backend) into out (n) */
int ex_sensitivity_max(foil_explain_work *w, const foil_explain_spec *s, const float *attr,
                       const float *x, const int32_t *target_host, const int64_t *index_host,
                       int n, float *out, foil_err *err);

/* host/explain/explain_baseline.c */
int ex_fill_baseline(foil_explain_work *w, const foil_explain_spec *s, float *base,
                     const float *x, const int64_t *index_host, int n, foil_err *err);

#endif
