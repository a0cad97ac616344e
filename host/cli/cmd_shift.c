/* foil shift -m MODEL -c CONFIG -o OUTDIR: how explanations move under attack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "foil/fileio.h"
#include "foil/shift.h"

static const char HELP[] =
    "usage: foil shift -m MODEL -c CONFIG -o OUTDIR [--limit N] [--topk F] [key=value ...]\n"
    "\n"
    "Attacks test images with every attack x eps of the config's `attack` section\n"
    "and explains them with its `explain` section (IG by default): IG of the clean\n"
    "image for the true class, and of the adversarial image for the true class and\n"
    "for the adversarial prediction. Per (attack, eps) it reports the Spearman rank\n"
    "correlation and top-k pixel IoU (k = --topk of the pixels, default 0.1) of clean\n"
    "vs adversarial attributions, the share of attribution mass on perturbed pixels\n"
    "and the median completeness errors, in OUTDIR/shift.csv, shift.json and a\n"
    "table; OUTDIR/shift/<attack>_eps<eps>.png show clean | IG(clean) | adversarial\n"
    "| IG(adv, true) | IG(adv, predicted) | perturbation. --limit N: the first N\n"
    "images (explain.images). See configs/shift/mnist.yaml.\n";

typedef struct shift_args {
    const char *model, *config, *outdir;
    double topk;
    cli_overrides over;
    cli_common common;
} shift_args;

static const char *const SUBS[] = {"shift", NULL};

/* The command line alone (usage errors: exit 2). */
static int parse_args(shift_args *a, int argc, char **argv, foil_err *err) {
    const char *topk = NULL;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_option(&a->common, argc, argv, &i, err);
        if (r < 0) return -1;
        if (r) continue;
        const char *o = argv[i];
        const char **dst = !strcmp(o, "-m") || !strcmp(o, "--model")    ? &a->model
                           : !strcmp(o, "-c") || !strcmp(o, "--config") ? &a->config
                           : !strcmp(o, "-o") || !strcmp(o, "--out")    ? &a->outdir
                           : !strcmp(o, "--topk")                       ? &topk
                                                                        : NULL;
        if (dst) {
            if (cli_value(argc, argv, &i, dst, err)) return -1;
            continue;
        }
        r = cli_take_override(&a->over, o, err);
        if (r < 0) return -1;
        if (!r) return foil_fail(err, "shift: unknown option '%s' (try foil shift --help)", o);
    }
    if (!a->config || !a->outdir) return foil_fail(err, "shift: needs -c CONFIG and -o OUTDIR");
    char *end = NULL;
    a->topk = topk ? strtod(topk, &end) : 0.1;
    if ((topk && (*topk == 0 || *end)) || !(a->topk > 0.0 && a->topk <= 1.0))
        return foil_fail(err, "--topk: expected a fraction in (0, 1], got '%s'", topk);
    return foil_check_outdir("-o", a->outdir, err);
}

static int load_config(const shift_args *a, foil_config *cfg, foil_err *err) {
    if (foil_config_load(cfg, a->config, err) || cli_apply_overrides(cfg, &a->over, err)) return -1;
    return cli_apply_common(cfg, &a->common, a->model, "explain.images", err);
}

/* The images: explain.images as a count (first N) or a list. */
static int choose_images(const foil_explain_config *c, int total, int32_t **out, int *n,
                         foil_err *err) {
    *n = c->image_list ? c->nlist : (c->image_count && c->image_count < total ? c->image_count : total);
    if (!(*out = malloc(sizeof(int32_t) * (size_t)(*n > 0 ? *n : 1)))) return foil_fail(err, "out of memory");
    for (int i = 0; i < *n; i++) {
        int idx = c->image_list ? c->image_list[i] : i;
        if (idx >= total)
            return foil_fail(err, "explain.images: image %d is past the end of the test set (%d images)",
                             idx, total);
        (*out)[i] = idx;
    }
    return 0;
}

typedef struct shift_job {
    foil_sweep sw;
    foil_explain_config ec;
    cli_model cm;
    cli_testset ts;
    int32_t *images;
    foil_shift_row *rows;
    char *resolved;
} shift_job;

static int write_outputs(const shift_job *j, int nrows, const char *outdir, foil_err *err) {
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/shift.csv", outdir) ||
        foil_shift_write_csv(j->rows, nrows, path, err) ||
        foil_path(path, err, "%s/shift.json", outdir) ||
        foil_shift_write_json(j->rows, nrows, path, err))
        return -1;
    foil_shift_print(j->rows, nrows, stdout);
    return 0;
}

static int run(shift_job *j, const shift_args *a, foil_config *cfg, foil_err *err) {
    if (foil_sweep_parse(&j->sw, cfg, err) || foil_explain_config_parse(&j->ec, cfg, err))
        return -1;
    if (!j->ec.model_path[0]) return foil_fail(err, "shift: no model (give -m MODEL or model:)");
    if (!(j->resolved = foil_config_emit_string(cfg->root)))
        return foil_fail(err, "cannot write the resolved config (out of memory, or text libyaml "
                              "refuses)");
    char path[FOIL_PATH_MAX];
    if (cli_out_open("-o", a->outdir, SUBS, err) ||
        foil_path(path, err, "%s/config.yaml", a->outdir) ||
        foil_write_file_atomic(path, j->resolved, strlen(j->resolved), err))
        return -1;
    if (!a->common.quiet) printf("# resolved config (%s)\n%s\n", path, j->resolved);
    fflush(stdout);
    const foil_explain_spec *spec = &j->ec.spec;
    int batch = j->ec.batch, points = foil_explain_points_per_image(spec, batch);
    int nimages;
    if (cli_model_open(&j->cm, j->ec.model_path, j->ec.device, j->ec.tf32, batch * points,
                       "explain.batch x IG points per pass", err) ||
        cli_testset_load(&j->ts, &j->cm, j->ec.data_dir, j->ec.test_limit, err) ||
        choose_images(&j->ec, j->ts.ds.n, &j->images, &nimages, err))
        return -1;
    foil_shift_io io = {&j->cm.net, &j->ts.ds, &j->ts.dd, j->images, nimages,
                        batch < nimages ? batch : nimages, a->topk, 4, a->outdir, a->common.quiet};
    int nrows;
    if (foil_shift_run(&j->sw, spec, &io, &j->rows, &nrows, err)) return -1;
    return write_outputs(j, nrows, a->outdir, err);
}

int cmd_shift(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(HELP, stdout);
            return 0;
        }
    foil_err err = {{0}};
    shift_args a = {0};
    foil_config cfg = {0};
    if (parse_args(&a, argc, argv, &err)) return cli_usage_error(&err);
    shift_job *j = calloc(1, sizeof *j);
    int rc = !j ? (foil_fail(&err, "out of memory"), 1)
                : load_config(&a, &cfg, &err) || run(j, &a, &cfg, &err) ? 1 : 0;
    if (rc) cli_error(&err);
    if (j) {
        cli_testset_free(&j->ts, &j->cm);
        cli_model_close(&j->cm);
        foil_explain_config_free(&j->ec);
        free(j->images);
        free(j->rows);
        free(j->resolved);
        free(j);
    }
    foil_config_free(&cfg);
    return rc;
}
