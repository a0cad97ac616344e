/* foil attack -m MODEL -c SWEEP.yaml -o OUTDIR [--limit N] [key=value ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "foil/checkpoint.h"
#include "foil/sweep.h"

static const char HELP[] =
    "usage: foil attack -m MODEL -c SWEEP.yaml -o OUTDIR [--limit N] [key=value ...]\n"
    "       foil attack -m MODEL -o OUTDIR --attack NAME --eps E1,E2,... [--steps N]\n"
    "                   [--step S] [--restarts R] [--limit N]\n"
    "\n"
    "Attacks the test set with every attack of the sweep at every eps and writes\n"
    "into OUTDIR: sweep.csv and sweep.json (one row per attack x eps: accuracy,\n"
    "macro recall, recall_0.., least-recalled class, success rate among initially\n"
    "correct images, Linf/L2/L0 of the perturbations), examples/*.png (clean |\n"
    "adversarial | perturbation for the example images) with examples/index.csv,\n"
    "config.yaml (resolved), and with save_idx=true adversarial/*-idx3-ubyte.\n"
    "Attacks: fgsm, bim, pgd, pgd_l2, mifgsm (see configs/sweeps/*.yaml).\n"
    "-m overrides the sweep's model; --limit N attacks the first N test images;\n"
    "--data, --device as for every command.\n";

typedef struct attack_args {
    const char *model, *config, *outdir;
    char *one_off; /* "attacks=[{name: {...}}]" built from --attack and friends */
    cli_common common;
} attack_args;

/* Builds the one-off attack entry from --attack/--steps/--step/--restarts. */
static int one_off(attack_args *a, const char *name, const char *steps, const char *step,
                   const char *restarts, foil_err *err) {
    if (!name) {
        if (steps || step || restarts) return foil_fail(err, "attack: --steps, --step and --restarts need --attack");
        return 0;
    }
    char buf[512];
    int n = snprintf(buf, sizeof buf, "attacks=[{%s: {", name);
    if (steps) n += snprintf(buf + n, sizeof buf - (size_t)n, "steps: %s, ", steps);
    if (step) n += snprintf(buf + n, sizeof buf - (size_t)n, "step: %s, ", step);
    if (restarts) n += snprintf(buf + n, sizeof buf - (size_t)n, "restarts: %s, ", restarts);
    if (n > 2 && buf[n - 2] == ',') n -= 2;
    snprintf(buf + n, sizeof buf - (size_t)n, "}}]");
    if (!(a->one_off = strdup(buf))) return foil_fail(err, "out of memory");
    return 0;
}

static int parse_args(attack_args *a, foil_config *cfg, int argc, char **argv, foil_err *err) {
    const char *over[256], *name = NULL, *eps = NULL, *steps = NULL, *step = NULL, *rs = NULL;
    int nover = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_common_option(&a->common, argc, argv, &i, err);
        if (r < 0) return -1;
        if (r) continue;
        const char *o = argv[i];
        const char **dst = !strcmp(o, "-m") || !strcmp(o, "--model")    ? &a->model
                           : !strcmp(o, "-c") || !strcmp(o, "--config") ? &a->config
                           : !strcmp(o, "-o") || !strcmp(o, "--out")    ? &a->outdir
                           : !strcmp(o, "--attack")                     ? &name
                           : !strcmp(o, "--eps")                        ? &eps
                           : !strcmp(o, "--steps")                      ? &steps
                           : !strcmp(o, "--step")                       ? &step
                           : !strcmp(o, "--restarts")                   ? &rs
                                                                        : NULL;
        if (dst) {
            if (cli_value(argc, argv, &i, dst, err)) return -1;
        } else if (o[0] != '-' && strchr(o, '=') && nover < 256) {
            over[nover++] = o;
        } else {
            return foil_fail(err, "attack: unknown option '%s' (try foil attack --help)", o);
        }
    }
    if (!a->outdir) return foil_fail(err, "attack: needs -o OUTDIR");
    if (!a->config && !name) return foil_fail(err, "attack: needs -c SWEEP.yaml or --attack NAME");
    if (a->config ? foil_config_load(cfg, a->config, err)
                  : foil_config_parse(cfg, "<command line>", "{}", 2, err))
        return -1;
    if (one_off(a, name, steps, step, rs, err)) return -1;
    char buf[1200];
    if (a->one_off && foil_config_override(cfg, a->one_off, err)) return -1;
    snprintf(buf, sizeof buf, "[%s]", eps ? eps : "");
    if (cli_override(cfg, "eps", eps ? buf : NULL, err)) return -1;
    for (int i = 0; i < nover; i++)
        if (foil_config_override(cfg, over[i], err)) return -1;
    return cli_apply_common(cfg, &a->common, a->model, "data.test_limit", err);
}

static int write_outputs(const foil_sweep_row *rows, int n, const char *outdir, foil_err *err) {
    char path[1200];
    snprintf(path, sizeof path, "%s/sweep.csv", outdir);
    if (foil_sweep_write_csv(rows, n, path, err)) return -1;
    snprintf(path, sizeof path, "%s/sweep.json", outdir);
    if (foil_sweep_write_json(rows, n, path, err)) return -1;
    foil_sweep_print(rows, n, stdout);
    return 0;
}

static int run(attack_args *a, foil_config *cfg, foil_err *err) {
    foil_sweep *sw = calloc(1, sizeof *sw);
    cli_model cm = {0};
    cli_testset ts = {0};
    foil_sweep_row *rows = NULL;
    char *resolved = NULL, path[1200];
    int nrows = 0, rc = -1;
    if (!sw) return foil_fail(err, "out of memory");
    if (foil_sweep_parse(sw, cfg, err)) goto done;
    if (!sw->model_path[0]) {
        foil_fail(err, "attack: no model (give -m MODEL or model: in the sweep)");
        goto done;
    }
    if (!(resolved = foil_config_emit_string(cfg->root)) || cli_mkdirs(a->outdir, err)) {
        if (!resolved) foil_fail(err, "out of memory");
        goto done;
    }
    snprintf(path, sizeof path, "%s/config.yaml", a->outdir);
    if (foil_write_file_atomic(path, resolved, strlen(resolved), err)) goto done;
    if (!a->common.quiet) printf("# resolved config (%s)\n%s\n", path, resolved);
    fflush(stdout);
    if (cli_model_open(&cm, sw->model_path, sw->device, sw->tf32, sw->batch_size, err) ||
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
            return 0;
        }
    foil_err err = {{0}};
    attack_args a = {0};
    foil_config cfg = {0};
    int rc = parse_args(&a, &cfg, argc, argv, &err) || run(&a, &cfg, &err) ? 1 : 0;
    if (rc) cli_error(&err);
    free(a.one_off);
    foil_config_free(&cfg);
    return rc;
}
