/* foil: adversarial robustness and explainability research engine. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "foil_commit.h"

static const char USAGE[] =
    "foil " FOIL_VERSION ": train, attack and explain CNNs on MNIST-format data\n"
    "\n"
    "usage: foil <command> [options]\n"
    "\n"
    "commands:\n"
    "  run CONFIG [-o RUNDIR] [key=value ...]\n"
    "                 the whole study: train (or reuse), eval, attack sweep, IG,\n"
    "                 explanation shift; writes RUNDIR/report.html (runs/<name>)\n"
    "  devices        the backends usable here (cpu with its BLAS kernels, and cuda\n"
    "                 when a GPU is usable)\n"
    "  data fetch [--from DIR_OR_URL] [--data DIR]\n"
    "                 fetch the four MNIST files into data/raw/mnist (or DIR) and\n"
    "                 verify their SHA-256 (--from or $FOIL_MIRROR: a local folder or\n"
    "                 a URL prefix; default: the public mirrors)\n"
    "  train -c CONFIG -o OUTDIR [--resume] [key=value ...]\n"
    "                 train a model; writes OUTDIR/model.safetensors, config.yaml,\n"
    "                 metrics.json\n"
    "  eval -m MODEL [--json FILE] [--csv FILE]\n"
    "                 accuracy, per-class precision/recall/F1 and the confusion matrix\n"
    "  attack -m MODEL -c SWEEP.yaml -o OUTDIR [key=value ...]\n"
    "                 epsilon sweeps of FGSM, BIM, PGD, PGD-L2, MI-FGSM: accuracy and\n"
    "                 per-class recall vs eps, example grids (sweep.csv, sweep.json)\n"
    "  explain -m MODEL -o OUTDIR [-c CONFIG] [--method M] [--steps N] [--rule R]\n"
    "          [--baseline B] [--target T] [--indices i,j,k] [key=value ...]\n"
    "                 gradient attributions (IG, saliency, SmoothGrad) for test images;\n"
    "                 writes OUTDIR/explain.csv, attributions.safetensors, img_*.png\n"
    "  shift -m MODEL -c CONFIG -o OUTDIR [--limit N] [--topk F]\n"
    "                 how IG attributions move under attack, per attack x eps\n"
    "                 (OUTDIR/shift.csv, shift.json, shift/*.png)\n"
    "\n"
    "options for every command:\n"
    "  --data DIR     folder with the MNIST-format IDX files (gz or raw);\n"
    "                 default $FOIL_DATA, else the config's data.dir, else data/raw/mnist\n"
    "  --device D     auto, cpu or cuda (default auto)\n"
    "  --precision P  fp32 or tf32 (TF32 tensor cores for GPU convolutions and\n"
    "                 GEMMs; default fp32, the CPU is always fp32)\n"
    "  --limit N      use the first N test images\n"
    "  -q, --quiet    no progress output\n"
    "\n"
    "Run 'foil <command> --help' for more.\n";

/* foil devices: the backends this build can use here, one per line. */
static int cmd_devices(void) {
    foil_err err = {{0}};
    char cpu[160];
    foil_cpu_describe(cpu, sizeof cpu);
    printf("cpu (%s)\n", cpu);
    foil_backend *b = foil_backend_cuda_create(0, &err);
    if (!b) {
        printf("# no cuda: %s\n", err.msg);
        return 0;
    }
    printf("cuda\n");
    b->destroy(b);
    return 0;
}

int main(int argc, char **argv) {
    foil_cpu_restart(argv);
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(USAGE, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("foil %s (commit %s%s)\n", FOIL_VERSION, FOIL_BUILD_COMMIT,
               FOIL_BUILD_DIRTY ? ", uncommitted changes" : "");
        return 0;
    }
    if (strcmp(argv[1], "data") == 0) return cmd_data(argc - 1, argv + 1);
    if (strcmp(argv[1], "train") == 0) return cmd_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "eval") == 0) return cmd_eval(argc - 1, argv + 1);
    if (strcmp(argv[1], "attack") == 0) return cmd_attack(argc - 1, argv + 1);
    if (strcmp(argv[1], "explain") == 0) return cmd_explain(argc - 1, argv + 1);
    if (strcmp(argv[1], "shift") == 0) return cmd_shift(argc - 1, argv + 1);
    if (strcmp(argv[1], "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(argv[1], "devices") == 0) return cmd_devices();
    fprintf(stderr, "foil: unknown command '%s' (try foil --help)\n", argv[1]);
    return 2;
}
