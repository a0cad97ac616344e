/* foil explain -m MODEL -o OUTDIR [-c CONFIG] [flags] [key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "explain_run.h"
#include "foil/fileio.h"
#include "foil/strbuf.h"

static const char HELP[] =
    "usage: foil explain -m MODEL -o OUTDIR [-c CONFIG] [--method M] [--steps N]\n"
    "                    [--rule R] [--baseline B] [--target T] [--limit N]\n"
    "                    [--indices i,j,k] [--faithfulness] [--data DIR] [--device D] [-q]\n"
    "                    [key=value ...]\n"
    "\n"
    "Explains the model's output for test images with gradient attributions or\n"
    "with a feature method (lime, kernelshap, ablation: features switched off to\n"
    "the baseline) and writes into OUTDIR:\n"
    "  explain.csv                 one row per image: index, label, predicted, target,\n"
    "                              f_x, f_baseline, attr_sum, completeness_delta,\n"
    "                              relative_delta, steps (nan where it does not apply);\n"
    "                              feature methods add features, r2, intercept;\n"
    "                              --faithfulness adds deletion_auc, insertion_auc,\n"
    "                              infidelity, sensitivity_max (explain.faithfulness;\n"
    "                              max-sensitivity explains 10 more times per image)\n"
    "  attributions.safetensors    attributions and inputs (n, C, H, W); indices,\n"
    "                              labels, predicted, targets, f_x, f_baseline,\n"
    "                              relative_delta, steps (n) as float32; feature\n"
    "                              methods add segments (n, H, W) int32 and\n"
    "                              feature_weights (n, most features); the method\n"
    "                              and resolved config in __metadata__\n"
    "  img_NNNNN.png               digit | heatmap (blue < 0 < red) | overlay, per image\n"
    "  config.yaml                 the resolved config (printed too)\n"
    "and a Markdown summary of the completeness errors on stdout.\n"
    "\n";
/* then the --method line (the names from the method table), then */
static const char HELP_END[] =
    "  --steps N     IG path points (gradient evaluations per image) (explain.steps)\n"
    "  --rule R      left | right | midpoint | trapezoid | gauss-legendre (explain.rule)\n"
    "  --baseline B  black | white | uniform | blur | mean (feature methods: each\n"
    "                segment's mean, lime's default) | a pixel value in [0, 1] (every\n"
    "                pixel that constant, lime's hide_color) | FILE (an IDX3 image file,\n"
    "                its first image; or raw float32 named *.f32 / *.raw)\n"
    "                (explain.baseline)\n"
    "  --target T    label | predicted | a class number             (explain.target)\n"
    "  --limit N     the first N test images; --indices i,j,k these  (explain.images)\n"
    "Other keys: explain.output (logit | prob), explain.tolerance (> 0: double the\n"
    "steps until |relative delta| < tolerance, up to explain.max_steps),\n"
    "explain.smoothgrad.samples / .sigma (SmoothGrad over any method),\n"
    "explain.blur_sigma, explain.chunk, explain.batch, explain.heatmaps, explain.scale,\n"
    "seed; feature methods: explain.samples (evaluations per image; lime 1000,\n"
    "kernelshap 0 = 2M + 2048), explain.features {kind: grid | slic | quickshift,\n"
    "size, regularization, min_size, kernel_size, max_dist, ratio}, explain.kernel_width\n"
    "(lime), explain.window / explain.stride (occlusion: 4, 2), explain.background\n"
    "(gradshap: the first N training images, 100; samples: its draws, 16); see\n"
    "configs/explain/ig.yaml and lime.yaml. -m overrides the config's model.\n";

typedef struct explain_args {
    const char *model, *config, *outdir;
    cli_common common;
} explain_args;

/* The flag that maps to a config key, or NULL. */
static const char *flag_key(const char *o) {
    static const char *const MAP[][2] = {{"--method", "explain.method"},
                                         {"--steps", "explain.steps"},
                                         {"--rule", "explain.rule"},
                                         {"--baseline", "explain.baseline"},
                                         {"--target", "explain.target"},
                                         {"--indices", "explain.images"}};
    for (size_t i = 0; i < sizeof MAP / sizeof *MAP; i++)
        if (strcmp(o, MAP[i][0]) == 0) return MAP[i][1];
    return NULL;
}

/* 1: -m, 2: -c, 3: -o (or their long forms), 0: another argument. */
static int path_option(const char *o) {
    static const char *const OPTS[] = {"-m", "--model", "-c", "--config", "-o", "--out"};
    for (int i = 0; i < 6; i++)
        if (strcmp(o, OPTS[i]) == 0) return 1 + i / 2;
    return 0;
}

/* "3,14,159": only indices. */
static int indices_ok(const char *v) {
    int ok = *v != 0 && *v != ',';
    for (const char *p = v; *p && ok; p++)
        ok = (*p >= '0' && *p <= '9') || (*p == ',' && p[1] != ',' && p[1] != 0);
    return ok;
}

/* The command line alone (usage errors: exit 2); apply_args applies it. */
static int parse_args(explain_args *a, int argc, char **argv, foil_err *err) {
    int indices = 0;
    cli_overrides over = {0};
    for (int i = 1; i < argc; i++) {
        int r = cli_common_option(&a->common, argc, argv, &i, err), k = path_option(argv[i]);
        const char *o = argv[i], *v;
        if (r < 0) return -1;
        if (r) continue;
        const char **dst = k == 1 ? &a->model : k == 2 ? &a->config : k == 3 ? &a->outdir : NULL;
        if (!strcmp(o, "--faithfulness")) continue; /* explain.faithfulness=true */
        if (dst || flag_key(o)) {
            if (cli_value(argc, argv, &i, dst ? dst : &v, err)) return -1;
            if (!strcmp(o, "--indices") && !indices_ok(v))
                return foil_fail(err, "--indices: expected comma-separated test image indices, "
                                      "got '%s'", v);
            indices |= !strcmp(o, "--indices");
            continue;
        }
        r = cli_take_override(&over, o, err);
        if (r < 0) return -1;
        if (!r) return foil_fail(err, "explain: unknown option '%s' (try foil explain --help)", o);
    }
    if (indices && a->common.limit)
        return foil_fail(err, "explain: --limit and --indices do not go together");
    if (!a->outdir) return foil_fail(err, "explain: needs -o OUTDIR");
    return foil_check_outdir("-o", a->outdir, err);
}

/* Flags and key=value overrides, in command-line order, onto the config. */
static int apply_args(foil_config *cfg, int argc, char **argv, foil_err *err) {
    cli_common ignored = {0};
    foil_err e;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *key = flag_key(o);
        if (cli_common_option(&ignored, argc, argv, &i, &e) || path_option(o)) {
            i += path_option(o) != 0; /* cli_common_option moved past its own value */
        } else if (!strcmp(o, "--faithfulness")) {
            if (foil_config_override(cfg, "explain.faithfulness=true", err)) return -1;
        } else if (key) {
            const char *v = argv[++i];
            foil_strbuf b = {0};
            foil_sb_put(&b, strcmp(o, "--indices") ? "%s" : "[%s]", v);
            char *value = foil_sb_take(&b);
            int rc = value ? cli_override(cfg, key, value, err) : foil_fail(err, "out of memory");
            free(value);
            if (rc) return -1;
        } else if (foil_config_override(cfg, o, err)) {
            return -1;
        }
    }
    return 0;
}

static int load_config(const explain_args *a, foil_config *cfg, int argc, char **argv,
                       foil_err *err) {
    if (a->config ? foil_config_load(cfg, a->config, err)
                  : foil_config_parse(cfg, "<command line>", "{}", 2, err))
        return -1;
    if (apply_args(cfg, argc, argv, err)) return -1;
    return cli_apply_common(cfg, &a->common, a->model, "explain.images", err);
}

/* Writes and prints the resolved config, then checks what the config needs. */
static int setup(explain_run *r, const explain_args *a, foil_config *cfg, foil_err *err) {
    if (foil_explain_config_parse(&r->c, cfg, err)) return -1;
    if (!(r->resolved = foil_config_emit_string(cfg->root)))
        return foil_fail(err, "cannot write the resolved config (out of memory, or text libyaml "
                              "refuses)");
    if (!r->c.model_path[0]) return foil_fail(err, "explain: needs -m MODEL (or model: in the config)");
    char path[FOIL_PATH_MAX];
    if (cli_out_open("-o", a->outdir, NULL, err) ||
        foil_path(path, err, "%s/config.yaml", a->outdir) ||
        foil_write_file_atomic(path, r->resolved, strlen(r->resolved), err))
        return -1;
    if (!a->common.quiet) printf("# resolved config (%s)\n%s\n", path, r->resolved);
    fflush(stdout);
    return 0;
}

int cmd_explain(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(HELP, stdout);
            char names[256] = "";
            for (int m = 0; m < FOIL_EXPLAIN_METHOD_COUNT; m++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                         m ? " | " : "", foil_explain_method_name((foil_explain_method)m));
            printf("  --method M    %-47s (explain.method)\n", names);
            fputs(HELP_END, stdout);
            return 0;
        }
    foil_err err = {{0}};
    explain_args a = {0};
    foil_config cfg = {0};
    explain_run *r = calloc(1, sizeof *r);
    int rc = 1;
    if (!r) {
        foil_fail(&err, "out of memory");
        goto out;
    }
    if (parse_args(&a, argc, argv, &err)) {
        free(r);
        return cli_usage_error(&err);
    }
    if (load_config(&a, &cfg, argc, argv, &err) || setup(r, &a, &cfg, &err)) goto out;
    r->outdir = a.outdir;
    r->quiet = a.common.quiet;
    if (explain_run_all(r, &err) || explain_write_outputs(r, &err)) goto out;
    explain_print_summary(r, stdout);
    rc = 0;
out:
    if (rc) cli_error(&err);
    if (r) explain_run_free(r);
    free(r);
    foil_config_free(&cfg);
    return rc;
}
