/* foil attack -m MODEL -c SWEEP.yaml -o OUTDIR [--limit N] [key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "foil/fileio.h"
#include "foil/strbuf.h"
#include "foil/sweep.h"

static const char HELP[] =
    "usage: foil attack -m MODEL -c SWEEP.yaml -o OUTDIR [--limit N] [key=value ...]\n"
    "       foil attack -m MODEL -o OUTDIR --attack NAME --eps E1,E2,... [--steps N]\n"
    "                   [--step S] [--restarts R] [--norm linf|l2] [--queries Q]\n"
    "                   [--version fast|standard] [--limit N]\n"
    "\n"
    "Attacks the test set with every attack of the sweep at every eps and writes\n"
    "into OUTDIR: sweep.csv and sweep.json (one row per attack x eps: accuracy,\n"
    "macro recall, recall_0.., least-recalled class, success rate among initially\n"
    "correct images, Linf/L2/L0 of the perturbations), examples/*.png (clean |\n"
    "adversarial | perturbation for the example images) with examples/index.csv,\n"
    "config.yaml (resolved), and with save_idx=true adversarial/*-idx3-ubyte.\n"
    "APGD (apgd_ce, apgd_dlr, apgd_t) takes --steps (default 100), --restarts and\n"
    "--norm (linf, the default, or l2); apgd_t runs once per target, the classes\n"
    "of the next-largest clean logits (key target_classes, default 9;\n"
    "docs/attacks.md). square (the Square attack, no gradients) takes --queries\n"
    "(default 5000, the start included), --restarts and --norm. fab_t (FAB-T,\n"
    "minimal perturbation over the top 9 other classes) takes --steps (default\n"
    "100), --restarts and --norm. autoattack runs the AutoAttack cascade,\n"
    "--version standard (APGD-CE, APGD-T, FAB-T, Square: the default) or fast\n"
    "(APGD-CE, APGD-T), each stage on the images still robust, and prints what\n"
    "each broke; a sweep entry can list its stages (attacks: [apgd_ce, square]).\n"
    "deepfool and cw_l2 (L2, the least perturbation; --steps, default 50 and\n"
    "1000) also write OUTDIR/radii.csv: each image's L2 and L-inf radius.\n";
/* then the attacks' names (from the attack table), then */
static const char HELP_END[] =
    "-m overrides the sweep's model; --limit N attacks the first N test images;\n"
    "--data, --device as for every command.\n";

typedef struct attack_args {
    const char *model, *config, *outdir;
    const char *name, *eps, *steps, *step, *restarts, *norm, *queries, *version; /* one-off */
    cli_overrides over;
    cli_common common;
} attack_args;

/* Sub-folders foil attack writes (for cleaning up after a killed run). */
static const char *const SUBS[] = {"examples", "adversarial", NULL};

/* The command line alone (usage errors: exit 2). */
static int parse_args(attack_args *a, int argc, char **argv, foil_err *err) {
    for (int i = 1; i < argc; i++) {
        int r = cli_common_option(&a->common, argc, argv, &i, err);
        if (r < 0) return -1;
        if (r) continue;
        const char *o = argv[i];
        const char **dst = !strcmp(o, "-m") || !strcmp(o, "--model")    ? &a->model
                           : !strcmp(o, "-c") || !strcmp(o, "--config") ? &a->config
                           : !strcmp(o, "-o") || !strcmp(o, "--out")    ? &a->outdir
                           : !strcmp(o, "--attack")                     ? &a->name
                           : !strcmp(o, "--eps")                        ? &a->eps
                           : !strcmp(o, "--steps")                      ? &a->steps
                           : !strcmp(o, "--step")                       ? &a->step
                           : !strcmp(o, "--restarts")                   ? &a->restarts
                           : !strcmp(o, "--norm")                       ? &a->norm
                           : !strcmp(o, "--queries")                    ? &a->queries
                           : !strcmp(o, "--version")                    ? &a->version
                                                                        : NULL;
        if (dst) {
            if (cli_value(argc, argv, &i, dst, err)) return -1;
            continue;
        }
        r = cli_take_override(&a->over, o, err);
        if (r < 0) return -1;
        if (!r) return foil_fail(err, "attack: unknown option '%s' (try foil attack --help)", o);
    }
    if (!a->outdir) return foil_fail(err, "attack: needs -o OUTDIR");
    if (!a->config && !a->name) return foil_fail(err, "attack: needs -c SWEEP.yaml or --attack NAME");
    if (!a->name && (a->steps || a->step || a->restarts || a->norm || a->queries || a->version))
        return foil_fail(err, "attack: --steps, --step, --restarts, --norm, --queries and "
                              "--version need --attack");
    return foil_check_outdir("-o", a->outdir, err);
}

/* "attacks=[{name: {steps: N, step: S, ..., version: V}}]" from --attack
 * and friends (the sweep's parser says which keys an attack takes). */
static char *one_off(const attack_args *a) {
    foil_strbuf b = {0};
    const char *sep = "";
    foil_sb_put(&b, "attacks=[{%s: {", a->name);
    const char *keys[6] = {"steps", "step", "restarts", "norm", "queries", "version"},
               *vals[6] = {a->steps, a->step, a->restarts, a->norm, a->queries, a->version};
    for (int k = 0; k < 6; k++)
        if (vals[k]) foil_sb_put(&b, "%s%s: %s", sep, keys[k], vals[k]), sep = ", ";
    foil_sb_put(&b, "}}]");
    return foil_sb_take(&b);
}

static int load_config(const attack_args *a, foil_config *cfg, foil_err *err) {
    if (a->config ? foil_config_load(cfg, a->config, err)
                  : foil_config_parse(cfg, "<command line>", "{}", 2, err))
        return -1;
    if (a->name) {
        char *o = one_off(a);
        int rc = o ? foil_config_override(cfg, o, err) : foil_fail(err, "out of memory");
        free(o);
        if (rc) return -1;
    }
    if (a->eps) {
        foil_strbuf b = {0};
        foil_sb_put(&b, "[%s]", a->eps);
        char *list = foil_sb_take(&b);
        int rc = list ? cli_override(cfg, "eps", list, err) : foil_fail(err, "out of memory");
        free(list);
        if (rc) return -1;
    }
    if (cli_apply_overrides(cfg, &a->over, err)) return -1;
    return cli_apply_common(cfg, &a->common, a->model, "data.test_limit", err);
}

static int write_outputs(const foil_sweep_row *rows, int n, const char *outdir, foil_err *err) {
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/sweep.csv", outdir) || foil_sweep_write_csv(rows, n, path, err) ||
        foil_path(path, err, "%s/sweep.json", outdir) || foil_sweep_write_json(rows, n, path, err))
        return -1;
    foil_sweep_print(rows, n, stdout);
    return 0;
}

static int run(const attack_args *a, foil_config *cfg, foil_err *err) {
    foil_sweep *sw = calloc(1, sizeof *sw);
    cli_model cm = {0};
    cli_testset ts = {0};
    foil_sweep_row *rows = NULL;
    char *resolved = NULL, path[FOIL_PATH_MAX];
    int nrows = 0, rc = -1;
    if (!sw) return foil_fail(err, "out of memory");
    if (foil_sweep_parse(sw, cfg, err)) goto done;
    if (!sw->model_path[0]) {
        foil_fail(err, "attack: no model (give -m MODEL or model: in the sweep)");
        goto done;
    }
    if (!(resolved = foil_config_emit_string(cfg->root))) {
        foil_fail(err, "cannot write the resolved config (out of memory, or text libyaml "
                       "refuses)");
        goto done;
    }
    if (cli_out_open("-o", a->outdir, SUBS, err) ||
        foil_path(path, err, "%s/config.yaml", a->outdir) ||
        foil_write_file_atomic(path, resolved, strlen(resolved), err))
        goto done;
    if (!a->common.quiet) printf("# resolved config (%s)\n%s\n", path, resolved);
    fflush(stdout);
    if (cli_model_open(&cm, sw->model_path, sw->device, sw->tf32, sw->batch_size, "batch_size",
                       err) ||
        cli_testset_load(&ts, &cm, sw->data_dir, sw->test_limit, err))
        goto done;
    foil_sweep_io io = {&cm.net, &ts.ds, &ts.dd, a->outdir, a->common.quiet};
    if (foil_sweep_run(sw, &io, &rows, &nrows, err) || write_outputs(rows, nrows, a->outdir, err))
        goto done;
    rc = 0;
done:
    free(rows);
    free(resolved);
    cli_testset_free(&ts, &cm);
    cli_model_close(&cm);
    free(sw);
    return rc;
}

int cmd_attack(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(HELP, stdout);
            fputs("Attacks:", stdout);
            for (int k = 0; k < FOIL_ATTACK_COUNT; k++)
                printf("%s %s", k ? "," : "", foil_attack_name((foil_attack_kind)k));
            fputs(" (see configs/sweeps/*.yaml).\n", stdout);
            fputs(HELP_END, stdout);
            return 0;
        }
    foil_err err = {{0}};
    attack_args a = {0};
    foil_config cfg = {0};
    if (parse_args(&a, argc, argv, &err)) return cli_usage_error(&err);
    int rc = load_config(&a, &cfg, &err) || run(&a, &cfg, &err) ? cli_error(&err) : 0;
    foil_config_free(&cfg);
    return rc;
}
