/* The HTML report of a study (foil run): one self-contained page with inline
 * CSS and SVG plots and no script from the network; images are PNG files
 * beside the page, referenced by relative paths. Sections:
 *   run      model, data, device, precision, seed, version, commit; step timings
 *   clean    accuracy, per-class precision/recall/F1, the confusion matrix
 *   attacks  robust accuracy vs eps per attack (SVG line plot), the sweep
 *            table, per-class recall vs eps as a heatmap table, the radii of
 *            the minimal-perturbation attacks (accuracy vs radius), example
 *            grids
 *   explain  heatmaps of clean images (the explain section's method), the
 *            completeness error; the methods compared (report.compare): one
 *            heatmap row per method for the same images, the faithfulness table
 *   shift    the explanation-shift table, Spearman vs eps (SVG), attributions
 *            of clean and adversarial images
 * A section whose data is absent says so instead of failing. */
#ifndef FOIL_REPORT_H
#define FOIL_REPORT_H

#include <stddef.h>

#include "foil/metrics.h"
#include "foil/shift.h"
#include "foil/sweep.h"

#define FOIL_REPORT_MAX_FACTS 24
#define FOIL_REPORT_MAX_STEPS 8
#define FOIL_REPORT_MAX_IMAGES 64
#define FOIL_REPORT_MAX_LINKS 24
#define FOIL_REPORT_MAX_COMPARE 8

typedef struct foil_report_fact { /* one row of the run table */
    char label[48];
    char value[464];
} foil_report_fact;

typedef struct foil_report_step {
    char name[32];
    double seconds;   /* < 0: not run */
    int reused;       /* outputs of an earlier run, inputs unchanged */
} foil_report_step;

typedef struct foil_report_image {
    char path[256];   /* relative to the page */
    char caption[128];
    char group[FOIL_NAME_MAX]; /* a gallery starts a new line when the group changes */
} foil_report_image;

typedef struct foil_report_images {
    int n;
    foil_report_image items[FOIL_REPORT_MAX_IMAGES];
} foil_report_images;

/* Completeness of the clean attributions: |relative delta| over the images. */
typedef struct foil_report_completeness {
    int n;            /* images with a defined delta; 0: none */
    int steps;        /* points (evaluations) per image */
    char method[64];  /* e.g. "ig, gauss-legendre rule, black baseline" */
    double median, p95, max;
} foil_report_completeness;

/* One method of the comparison: faithfulness means over its images. */
typedef struct foil_report_faith {
    char label[64];
    char method[32];
    int n;
    double deletion, insertion, infidelity, sensitivity, seconds;
} foil_report_faith;

/* A minimal-perturbation attack's radii (sweep/radii.csv): per norm (0: L2,
 * 1: L-inf), the share of the test images still classified right within
 * radius r, at npts radii from 0 to the largest found. */
#define FOIL_REPORT_MAX_RADII 4
#define FOIL_REPORT_RADIUS_POINTS 64
typedef struct foil_report_radii {
    char label[FOIL_NAME_MAX];
    char attack[32];
    int n;            /* images */
    int right;        /* classified right when clean */
    int found;        /* of those, with an adversarial found */
    double median[2]; /* the median radius of those found */
    int npts;
    double r[2][FOIL_REPORT_RADIUS_POINTS], acc[2][FOIL_REPORT_RADIUS_POINTS];
} foil_report_radii;

typedef struct foil_report {
    char title[128];
    char generated[64];                 /* date and time, shown in the header */
    int nfacts;
    foil_report_fact facts[FOIL_REPORT_MAX_FACTS];
    int nsteps;
    foil_report_step steps[FOIL_REPORT_MAX_STEPS];
    const foil_metrics *clean;          /* NULL: no evaluation */
    const foil_sweep_row *sweep;        /* nsweep rows, in sweep order */
    int nsweep;
    const foil_shift_row *shift;
    int nshift;
    int nradii;                         /* minimal-perturbation attacks of the sweep */
    foil_report_radii radii[FOIL_REPORT_MAX_RADII];
    foil_report_images examples;        /* sweep grids: clean | adversarial | perturbation */
    char method[32];                    /* the explain section's method ("" : none) */
    int completeness_applies;           /* the method's attributions sum to F(x) - F(base) */
    foil_report_images heatmaps;        /* clean: digit | heatmap | overlay */
    foil_report_images shift_grids;     /* clean | attr | adversarial | attr (true) | (pred) | delta */
    foil_report_completeness completeness;
    int ncompare;                       /* report.compare, in config order */
    foil_report_faith compare[FOIL_REPORT_MAX_COMPARE];
    foil_report_images compare_maps;    /* per method (the group) the same images */
    int nlinks;                         /* result files: path + caption */
    foil_report_image links[FOIL_REPORT_MAX_LINKS];
} foil_report;

/* A study of several models side by side (foil run with `models`): one
 * page over the models' own reports, each in its folder beside the page.
 *   run          the study's facts; the models: training, clean and robust
 *                accuracy, time, a link to each model's own report
 *   robustness   accuracy vs eps of every model and attack in one plot, the
 *                accuracies side by side, per-class recall
 *   explanations the same clean images' heatmaps under each model, the
 *                faithfulness of the compared methods per model
 *   shift        the explanation shift of each model side by side */
#define FOIL_REPORT_MAX_MODELS 8

typedef struct foil_report_model {
    char label[FOIL_NAME_MAX];
    char dir[256];            /* its folder, relative to the study's page */
    char training[192];       /* how it was trained, in words */
    const foil_report *r;     /* its own report (image paths relative to dir) */
} foil_report_model;

typedef struct foil_report_study {
    const foil_report *head;  /* title, generated, facts and links of the study */
    int shown;                /* heatmaps per model in the explanation rows */
    int nmodels;
    foil_report_model models[FOIL_REPORT_MAX_MODELS];
} foil_report_study;

char *foil_report_study_html(const foil_report_study *s);
int foil_report_study_write(const foil_report_study *s, const char *path, foil_err *err);

/* Adds a fact / step / image (silently ignored past the array sizes; text is
 * truncated to the field). */
void foil_report_fact_add(foil_report *r, const char *label, const char *fmt, ...)
    FOIL_PRINTF(3, 4);
void foil_report_step_add(foil_report *r, const char *name, double seconds, int reused);
void foil_report_image_add(foil_report_images *set, const char *path, const char *caption,
                           const char *group);
void foil_report_link_add(foil_report *r, const char *path, const char *caption);

/* The page as a malloc'd NUL-terminated string (NULL when out of memory). */
char *foil_report_html(const foil_report *r);

/* Writes the page atomically (temporary file, fsync, rename). */
int foil_report_write(const foil_report *r, const char *path, foil_err *err);

#endif
