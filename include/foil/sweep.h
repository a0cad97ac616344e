/* Epsilon sweeps: for each attack and each eps, attack the test set and report
 * accuracy, macro and per-class recall, the least-recalled class, the attack
 * success rate among initially correct samples, and perturbation norms. */
#ifndef FOIL_SWEEP_H
#define FOIL_SWEEP_H

#include <stdio.h>

#include "foil/attack.h"
#include "foil/config.h"
#include "foil/data.h"
#include "foil/infer.h"

#define FOIL_SWEEP_MAX_ATTACKS 16
#define FOIL_SWEEP_MAX_EPS 64
#define FOIL_SWEEP_MAX_EXAMPLES 64
#define FOIL_MAX_CLASSES 64

typedef struct foil_sweep_attack {
    foil_attack_spec spec;  /* spec.eps is set per eps */
    char label[FOIL_NAME_MAX]; /* display and file name, e.g. "pgd40" (default: the attack name) */
    int neps;
    float eps[FOIL_SWEEP_MAX_EPS];
} foil_sweep_attack;

typedef struct foil_sweep {
    char name[64];
    char model_path[FOIL_PATH_MAX]; /* "" when the command line gives -m */
    char data_dir[FOIL_PATH_MAX];
    char device[16];
    int tf32;               /* precision: tf32 */
    int test_limit;
    int batch_size;
    uint64_t seed;
    int nattacks;
    foil_sweep_attack attacks[FOIL_SWEEP_MAX_ATTACKS];
    int nexamples;          /* test images shown in the example grids */
    int examples[FOIL_SWEEP_MAX_EXAMPLES];
    int examples_first;     /* examples: N (the first N, fewer on a smaller test set), not a list */
    int save_idx;           /* write every adversarial set as an IDX file */
} foil_sweep;

/* Parses a sweep file: name, seed, device, model, data at the top level, and
 * batch_size, eps, attacks, examples, save_idx at the top level too or in an
 * `attack` section (configs shared with foil shift and foil run). Sections of
 * other commands (train, explain, report) are left alone; other unknown keys
 * are errors. */
int foil_sweep_parse(foil_sweep *sw, foil_config *cfg, foil_err *err);

typedef struct foil_sweep_row {
    foil_attack_kind kind;
    foil_norm norm;         /* the ball eps bounds (foil_attack_norm of the spec) */
    char label[FOIL_NAME_MAX];
    float eps;
    int n, classes;
    double accuracy, macro_recall;
    double recall[FOIL_MAX_CLASSES]; /* NaN for a class with no test images */
    int least_class;        /* the least-recalled class (of those with test images) */
    double success_rate;    /* misclassified after attack among initially correct */
    double target_rate;     /* targeted attacks: share on target; else -1 */
    double linf_mean, linf_max, l2_mean, l2_max, l0_mean, l0_max;
    double seconds;
    /* autoattack: its stages, the test images each broke of those still
     * robust before it, and how many the clean model classified right */
    int nstages;
    foil_attack_kind stages[FOIL_CASCADE_MAX];
    int stage_broken[FOIL_CASCADE_MAX];
    double stage_seconds[FOIL_CASCADE_MAX];
    int clean_right;
} foil_sweep_row;

/* Everything a sweep runs on: the network, the test set on the host (for
 * norms and metrics) and in backend memory, and where to write. */
typedef struct foil_sweep_io {
    foil_net *net;
    const foil_dataset *test;
    const foil_device_data *dtest;
    const char *outdir;
    int quiet;
} foil_sweep_io;

/* Runs every (attack, eps); rows (nattacks * sum of neps, in order) are
 * malloc'd into *rows. Writes example grids and, with save_idx, IDX files. */
int foil_sweep_run(const foil_sweep *sw, const foil_sweep_io *io, foil_sweep_row **rows,
                   int *nrows, foil_err *err);

/* sweep.csv (header: attack,variant,eps,n,accuracy,macro_recall,success_rate,
 * target_rate,least_recalled_class,linf_mean,linf_max,l2_mean,l2_max,l0_mean,
 * l0_max,seconds,recall_0..recall_{C-1}), sweep.json, and a Markdown table. */
int foil_sweep_write_csv(const foil_sweep_row *rows, int n, const char *path, foil_err *err);
int foil_sweep_write_json(const foil_sweep_row *rows, int n, const char *path, foil_err *err);
void foil_sweep_print(const foil_sweep_row *rows, int n, FILE *out);

#endif
