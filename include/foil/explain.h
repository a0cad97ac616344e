/* Attributions, written once against the backend op table: vanilla
 * gradient saliency, gradient x input, Integrated Gradients (Sundararajan et
 * al. 2017) with five quadrature rules and five baselines, and SmoothGrad
 * (Smilkov et al. 2017) over any of them; and the perturbation methods on
 * features (foil/features.h): LIME (Ribeiro et al. 2016, as the `lime`
 * package's LimeImageExplainer), KernelSHAP (Lundberg and Lee 2017, as the
 * `shap` package's KernelExplainer) and feature ablation. Batches stay in
 * backend memory; IG streams its path points in chunks, so memory does not
 * grow with the steps, and the perturbation methods their perturbed images.
 *
 * The explained output F is the logit or the softmax probability of a target
 * class. Completeness: IG attributions sum to F(x) - F(baseline) up to the
 * quadrature error, reported per image as
 *   delta          = sum(attr) - (F(x) - F(baseline))
 *   relative delta = delta / max(|F(x) - F(baseline)|, FOIL_EXPLAIN_REL_FLOOR * max(1, |F(x)|, |F(baseline)|)) */
#ifndef FOIL_EXPLAIN_H
#define FOIL_EXPLAIN_H

#include <stdint.h>

#include "foil/config.h"
#include "foil/features.h"
#include "foil/net.h"

#define FOIL_EXPLAIN_REL_FLOOR 1e-4
/* Most IG points per image (Gauss-Legendre nodes take ~2 s to compute here). */
#define FOIL_EXPLAIN_MAX_STEPS 16384

typedef enum {
    FOIL_EXPLAIN_SALIENCY,     /* attr = dF/dx */
    FOIL_EXPLAIN_GRAD_X_INPUT, /* attr = dF/dx * (x - baseline): one-point IG, black = the usual */
    FOIL_EXPLAIN_IG,           /* Integrated Gradients */
    FOIL_EXPLAIN_SMOOTHGRAD,   /* SmoothGrad of the saliency (needs smooth_samples >= 1) */
    FOIL_EXPLAIN_LIME,         /* weighted ridge on random feature masks */
    FOIL_EXPLAIN_KERNELSHAP,   /* Shapley values by the Shapley kernel's weighted regression */
    FOIL_EXPLAIN_ABLATION,     /* F(x) - F(x with one feature off), per feature */
    FOIL_EXPLAIN_OCCLUSION,    /* sliding windows, as Captum's Occlusion */
    FOIL_EXPLAIN_GRADSHAP,     /* GradientSHAP / expected gradients over a background set */
    FOIL_EXPLAIN_METHOD_COUNT
} foil_explain_method;

/* Quadrature of the IG path integral over alpha in [0, 1] with m points
 * (m gradient evaluations per image for every rule):
 *   left      alpha_k = k / m,           w = 1 / m
 *   right     alpha_k = (k + 1) / m,     w = 1 / m
 *   midpoint  alpha_k = (k + 1/2) / m,   w = 1 / m
 *   trapezoid alpha_k = k / (m - 1),     w = 1 / (m - 1), halved at both ends (m >= 2)
 *   gauss-legendre: the m roots of P_m mapped to [0, 1] (exact for polynomials
 *                   of degree 2m - 1), by Newton iteration in double. */
typedef enum {
    FOIL_RULE_LEFT,
    FOIL_RULE_RIGHT,
    FOIL_RULE_MIDPOINT,
    FOIL_RULE_TRAPEZOID,
    FOIL_RULE_GAUSS_LEGENDRE,
    FOIL_RULE_COUNT
} foil_quad_rule;

typedef enum {
    FOIL_BASELINE_BLACK,   /* all 0 */
    FOIL_BASELINE_WHITE,   /* all 1 */
    FOIL_BASELINE_UNIFORM, /* U[0, 1) per pixel, from (seed, FOIL_RNG_NOISE, (0xFFFFFF << 32) | index) */
    FOIL_BASELINE_BLUR,    /* the image blurred with a Gaussian of blur_sigma pixels */
    FOIL_BASELINE_MEAN,    /* feature methods: each segment's mean (lime's default) */
    FOIL_BASELINE_IMAGE,   /* a given image (baseline_image) */
    FOIL_BASELINE_CONSTANT, /* every pixel baseline_value (a number in the config, as lime's hide_color) */
    FOIL_BASELINE_COUNT
} foil_baseline_kind;

/* Which class is explained. */
typedef enum { FOIL_CLASS_LABEL, FOIL_CLASS_PREDICTED, FOIL_CLASS_GIVEN } foil_class_rule;

/* Names as used in configs, flags and files ("gauss-legendre", "grad_x_input", ...). */
const char *foil_explain_method_name(foil_explain_method m);
const char *foil_quad_rule_name(foil_quad_rule r);
const char *foil_baseline_name(foil_baseline_kind k);
int foil_explain_method_parse(const char *name, foil_explain_method *m);
int foil_quad_rule_parse(const char *name, foil_quad_rule *r);
/* black, white, uniform, blur, mean; anything else is not a keyword (-1)
 * ("image" and "constant" are what a file name and a number give). */
int foil_baseline_parse(const char *name, foil_baseline_kind *k);

/* Nodes alpha (ascending, in [0, 1]) and weights (summing to 1) of a rule
 * with m points; 1 <= m <= FOIL_EXPLAIN_MAX_STEPS (trapezoid: m >= 2). */
int foil_quadrature(foil_quad_rule rule, int m, double *alpha, double *weight, foil_err *err);

typedef struct foil_explain_spec {
    foil_explain_method method;
    foil_target_mode output;     /* F = the target's logit or softmax probability */
    int steps;                   /* IG: path points per image */
    foil_quad_rule rule;         /* IG */
    int chunk;                   /* IG: at most this many path points of an image per
                                    forward pass (0: as many as the network holds) */
    double tolerance;            /* IG: > 0 doubles the steps of an image until its
                                    |relative delta| < tolerance, up to max_steps */
    int max_steps;
    foil_baseline_kind baseline; /* IG and grad_x_input */
    float blur_sigma;            /* FOIL_BASELINE_BLUR, pixels */
    const float *baseline_image; /* FOIL_BASELINE_IMAGE: host, (in_size) */
    float baseline_value;        /* FOIL_BASELINE_CONSTANT, in [0, 1] */
    int smooth_samples;          /* SmoothGrad: noisy copies x + N(0, sigma^2) averaged;
                                    0 = off (the method on x itself) */
    float smooth_sigma;          /* noise std in pixel units (inputs are in [0, 1]) */
    uint64_t seed;               /* uniform baseline, SmoothGrad noise, feature masks */
    /* feature methods: the baseline is what an "off" feature becomes */
    foil_features_spec features;
    int samples;                 /* evaluations per image: lime (default 1000), kernelshap
                                    (0: 2M + 2048 for M features that vary, at most 2^M - 2) */
    float kernel_width;          /* lime: the similarity kernel's width (0.25) */
    int window, stride;          /* occlusion: square window and stride, pixels (4, 2) */
    const float *background;     /* gradshap: host (nbackground, in_size), the baselines */
    int nbackground;
} foil_explain_spec;

/* A set of images being explained (private to host/explain/). */
typedef struct foil_explain_problem foil_explain_problem;
typedef struct foil_explain_work foil_explain_work;

/* A method's attributions out (n, row) for inputs x (the images, or one
 * noisy SmoothGrad copy) of problem p, at m points per image (path methods;
 * 1 otherwise), in backend memory. */
typedef int (*foil_explain_run_fn)(foil_explain_work *w, const foil_explain_spec *s, float *out,
                                   const float *x, const foil_explain_problem *p, int m,
                                   foil_err *err);
typedef struct foil_explain_stats foil_explain_stats;
/* A feature method: attributions attr (n, row, backend) of problem p, whose
 * segments and baseline (the fill) are set, and its per-image statistics
 * (f_x, attr_sum, delta, features, r2, intercept, steps; f_baseline is set). */
typedef int (*foil_explain_perturb_fn)(foil_explain_work *w, const foil_explain_spec *s,
                                       float *attr, const foil_explain_problem *p,
                                       foil_explain_stats *stats, foil_err *err);

/* What configs, the CLI and the batch loop need to know of a method: one row
 * per method in host/explain/explain_table.c. */
typedef struct foil_explain_method_info {
    const char *name;      /* configs, flags, files */
    int gradients;         /* needs input gradients (a backward pass per evaluation) */
    int path;              /* integrates over `steps` points per image on the path from the
                              baseline: rule, chunk, tolerance and max_steps apply */
    int baseline;          /* the attributions depend on the baseline */
    int completeness;      /* attributions sum to F(x) - F(baseline): delta is reported */
    int smoothing;         /* averages noisy copies by definition (samples >= 1, 16 when a
                              config names none) */
    int features;          /* perturbs features (foil/features.h): segments are made */
    /* perturb set (features, occlusion): run is NULL, no SmoothGrad */
    int default_samples;   /* evaluations (gradshap: gradient samples) per image when a config
                              names none */
    int sampled;           /* a run method evaluated at `samples` points per image */
    foil_explain_run_fn run;
    foil_explain_perturb_fn perturb;
} foil_explain_method_info;

/* The row of method m (NULL when out of range). */
const foil_explain_method_info *foil_explain_method_info_of(foil_explain_method m);

/* Points per image one forward pass evaluates when batches of `batch`
 * images are explained: a path method's chunk (or all its steps), a feature
 * method's chunk (perturbed images per image; 32 when 0), gradshap's draws
 * (or its chunk), at most
 * FOIL_EXPLAIN_MAX_BATCH / batch, at least 1; 1 for other methods. A
 * network for explaining holds batch times this many inputs. */
#define FOIL_EXPLAIN_MAX_BATCH 4096
int foil_explain_points_per_image(const foil_explain_spec *s, int batch);

/* Checks a spec (steps, rule, sizes); the message names the bad field. */
int foil_explain_spec_check(const foil_explain_spec *s, foil_err *err);

/* Per-image results (host). With SmoothGrad, f_x is the mean of F over the
 * noisy copies (the quantity the averaged attributions sum to). For saliency
 * completeness does not apply: delta and rel_delta are NaN. Feature
 * methods: attr_sum is the sum of the feature weights (every pixel of a
 * feature carries its weight), delta is KernelSHAP's sum(phi) - (F(x) -
 * F(baseline)) (NaN for the others), r2 and intercept are LIME's weighted
 * fit (NaN otherwise). */
struct foil_explain_stats {
    float f_x, f_baseline;
    float attr_sum;
    float delta, rel_delta;
    int steps;    /* path points used (1 for the gradient methods; feature methods: model
                     evaluations per image) */
    int features; /* feature methods: the image's segments (0 otherwise) */
    float r2, intercept;
};

/* Backend buffers for explaining up to max_images images at a time with a
 * network; max_images <= net->max_batch, and IG evaluates
 * max(1, net->max_batch / n) path points per image per forward pass. */
int foil_explain_work_create(foil_explain_work **w, foil_net *net, int max_images,
                             foil_err *err);
void foil_explain_work_destroy(foil_explain_work *w);

/* The classes to explain for n images x (n, in_size) in backend memory:
 * the labels (labels_host, n), the predictions, or `cls`. pred_host (n)
 * receives the predicted classes, target_host (n) the chosen ones. */
int foil_explain_targets(foil_explain_work *w, foil_class_rule rule, int cls, const float *x,
                         const int32_t *labels_host, int n, int32_t *pred_host,
                         int32_t *target_host, foil_err *err);

/* The baseline of each image into base (n, in_size), backend memory. index_host
 * (n): data set index of each image (seeds the uniform baseline; NULL: 0..n-1). */
int foil_explain_baseline(foil_explain_work *w, const foil_explain_spec *s, float *base,
                          const float *x, const int64_t *index_host, int n, foil_err *err);

/* Attributions attr (n, in_size) for n <= max_images images x (n, in_size),
 * both backend memory, for classes target_host (n). index_host (n): data set
 * index of each image, so that its noise does not depend on the batch it is
 * in (NULL: 0..n-1). stats (n, host) receives the per-image values. */
int foil_explain_batch(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                       const float *x, const int32_t *target_host, const int64_t *index_host,
                       int n, foil_explain_stats *stats, foil_err *err);

/* Faithfulness of attributions attr (n, in_size, backend) of images x (n,
 * in_size, backend) for classes target_host, any method (host/explain/
 * explain_faith.c): deletion and insertion AUC (RISE; FOIL_FAITH_STEP
 * pixels per step in attribution order, deletion to black, insertion from
 * the image blurred by FOIL_FAITH_BLUR pixels; the trapezoid mean of F over
 * the steps) and infidelity (Captum's, unnormalised: the mean over
 * FOIL_FAITH_DRAWS Gaussian perturbations of sigma FOIL_FAITH_SIGMA of
 * (I . attr - (F(x) - F(x - I)))^2) and max-sensitivity (Captum's
 * sensitivity_max: the largest relative change ||attr(x + d) - attr(x)|| /
 * ||attr(x)|| over FOIL_FAITH_SENS_DRAWS uniform perturbations d of radius
 * FOIL_FAITH_RADIUS, the explainer run again on each: s must be the spec
 * that made attr, and this costs that many more explanations). F is the
 * spec's explained output. Uses the work's buffers: call it after the
 * batch's outputs are read. */
#define FOIL_FAITH_STEP 28
#define FOIL_FAITH_BLUR 5.0f
#define FOIL_FAITH_DRAWS 10
#define FOIL_FAITH_SIGMA 0.003f
#define FOIL_FAITH_SENS_DRAWS 10
#define FOIL_FAITH_RADIUS 0.02f
typedef struct foil_faithfulness {
    float deletion_auc, insertion_auc, infidelity, sensitivity_max;
} foil_faithfulness;
int foil_explain_faithfulness(foil_explain_work *w, const foil_explain_spec *s,
                              const float *attr, const float *x, const int32_t *target_host,
                              const int64_t *index_host, int n, foil_faithfulness *out,
                              foil_err *err);

/* LIME's regression: the weighted ridge (penalty alpha, intercept not
 * penalised) of y (samples) on the binary masks m (samples rows of stride
 * bytes, the first nf used) with weights wt (samples): coef (nf),
 * *intercept and the weighted *r2. */
int foil_lime_ridge(const uint8_t *m, int samples, int stride, int nf, const float *y,
                    const double *wt, double alpha, double *coef, double *intercept, double *r2,
                    foil_err *err);

/* After a batch of a feature method: its images' segments (n, h * w) and
 * feature weights (n, *stride; image i's stats.features of them used), host
 * memory owned by w, valid until the next batch. */
void foil_explain_feature_outputs(const foil_explain_work *w, const int32_t **segments,
                                  const float **weights, int *stride);

/* An explain config (configs/explain/NAME.yaml): top-level name, seed, device,
 * model (checkpoint), data {dir, test_limit}, and an `explain` section; the
 * sections train, attack, report and sweep belong to other commands and are
 * left alone. See configs/explain/ig.yaml for every key and its default. */
typedef struct foil_explain_config {
    char name[64];
    char device[16];
    int tf32;                /* precision: tf32 */
    char model_path[FOIL_PATH_MAX]; /* "" when the config names none (-m gives it) */
    char data_dir[FOIL_PATH_MAX];
    int test_limit;
    foil_explain_spec spec;
    foil_class_rule target;
    int target_class;        /* FOIL_CLASS_GIVEN */
    char baseline_path[FOIL_PATH_MAX]; /* FOIL_BASELINE_IMAGE; the CLI loads it */
    int image_count;         /* images: N, the first N test images (0: all) ... */
    int *image_list;         /* ... or images: [i, j, ...], these (malloc'd, nlist) */
    int nlist;
    int batch;               /* images per batch */
    int heatmaps, scale;     /* write PNG heatmaps, pixel scale */
    int faithfulness;        /* also deletion / insertion AUC, infidelity and max-sensitivity
                                per image */
    int background;          /* gradshap: the first N training images are the background */
} foil_explain_config;

/* Parses a loaded config (after overrides); defaults go into the tree, so
 * emitting it afterwards gives the resolved config. Unknown keys are errors. */
int foil_explain_config_parse(foil_explain_config *c, foil_config *cfg, foil_err *err);
void foil_explain_config_free(foil_explain_config *c);

/* Host helpers. Gaussian blur of a (c, h, w) image, per channel, separable,
 * truncated at 3 sigma, weights renormalised at the borders (a constant image
 * stays constant); sigma <= 0 copies. */
int foil_blur(float *out, const float *in, int c, int h, int w, float sigma, foil_err *err);

/* A baseline image from a file: an IDX3 image file (gzip or raw; its first
 * image) or, for names ending in .f32 or .raw, exactly in_size little-endian
 * float32 values. *out: (in_size) malloc'd. Values must be finite. */
int foil_baseline_load(const char *path, size_t in_size, float **out, foil_err *err);

#endif
