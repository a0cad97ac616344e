/* Issue 13, the inputs that used to lose data or hang (docs/hardening.md):
 * long output paths (never cut), names from configs that become file names,
 * folders that already hold results, FIFOs given as inputs, compressed data
 * that expands far past what is asked for, and the messages that must come
 * before any work. Each check failed on the code before the fix. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "synth.h"
#include "testutil.h"

static const char RECIPE[] =
    "name: h\nseed: 2\ndevice: cpu\n"
    "model:\n  input: [1, 28, 28]\n  layers: [flatten, {dense: {units: 10}}]\n"
    "train: {epochs: 1, batch_size: 64, lr: 0.01}\n";

/* A study as small as one: training, eval, FGSM at two eps, IG of 2 images. */
static const char STUDY[] =
    "seed: 2\ndevice: cpu\n"
    "model:\n  input: [1, 28, 28]\n  layers: [flatten, {dense: {units: 10}}]\n"
    "train: {epochs: 1, batch_size: 64, lr: 0.01}\n"
    "attack: {batch_size: 50, eps: [0, 0.1], attacks: [fgsm], examples: 2}\n"
    "explain: {steps: 4, images: 2, batch: 2}\n"
    "report: {shift: false}\n";

static char g_data[1024], g_recipe[1024], g_model[1100];

static const char *last_of(const char *out) { /* the last line of a log */
    const char *end = out + strlen(out), *p = end;
    while (p > out && (p[-1] == '\n')) p--;
    while (p > out && p[-1] != '\n') p--;
    return p;
}

/* `<base>/<dirs of 200 c's>.../<tail of b's>` of exactly len bytes; made
 * as folders up to the last component when make. */
static char *long_path(const char *base, size_t len, char c, int make) {
    char *p = malloc(len + 256);
    size_t n = (size_t)snprintf(p, len + 256, "%s", base);
    while (n + 201 < len) {
        p[n++] = '/';
        memset(p + n, c, 200);
        n += 200;
        p[n] = 0;
        if (make) mkdir(p, 0755);
    }
    p[n++] = '/';
    while (n < len) p[n++] = 'b';
    p[n] = 0;
    return p;
}

/* Paths longer than the fixed buffers were: the files land inside the
 * folder asked for, never at the cut prefix next to it. */
static void long_paths(void) {
    char base[1024], args[16384], out[8192], cut[1300];
    tu_path(base, sizeof base, "long");
    mkdir(base, 0755);
    char *dir = long_path(base, 1300, 'a', 1); /* train's buffers were 1200 */
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s'", g_recipe, dir, g_data);
    int rc = tu_run_logged(args, 0, 0, out, sizeof out);
    char *ckpt = malloc(strlen(dir) + 32);
    sprintf(ckpt, "%s/model.safetensors", dir);
    TU_CHECK(rc == 0 && tu_exists(ckpt), "train -o <1300 bytes>: exit %d, checkpoint inside: %s",
             rc, last_of(out));
    snprintf(cut, sizeof cut, "%.1199s", ckpt); /* where the cut path pointed */
    TU_CHECK(!tu_exists(cut), "nothing at the cut prefix %.60s...", cut + strlen(cut) - 60);
    free(ckpt);
    free(dir);

    dir = long_path(base, 1100, 'd', 1); /* foil run's rundir was 1024 */
    char study[1024];
    tu_write_file(study, sizeof study, "long_study.yaml", STUDY, strlen(STUDY));
    snprintf(args, sizeof args, "run '%s' -q -o '%s' --data '%s'", study, dir, g_data);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    char *report = malloc(strlen(dir) + 32);
    sprintf(report, "%s/report.html", dir);
    TU_CHECK(rc == 0 && tu_exists(report), "run -o <1100 bytes>: exit %d: %s", rc, last_of(out));
    snprintf(cut, sizeof cut, "%.1023s", dir);
    TU_CHECK(!tu_exists(cut), "no run at the cut prefix");
    free(report);
    free(dir);

    /* too long to leave room for foil's own names: refused before any work */
    dir = long_path(base, 3700, 'e', 0);
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s'", g_recipe, dir, g_data);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    char first[1300];
    snprintf(first, sizeof first, "%.*s", (int)strlen(base) + 201, dir); /* its first folder */
    TU_CHECK(rc == 2 && tu_one_line_error(out, "too long", "-o") && !tu_exists(first),
             "train -o <3700 bytes>: exit %d (expected 2), nothing created: %s", rc, out);
    printf("long -o: %s", out);

    /* a message keeps its reason however long the path it names */
    snprintf(args, sizeof args, "eval -m '%s.safetensors' --data '%s'", dir, g_data);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 1 && strlen(out) < 600 && strstr(out, "No such file or directory\n"),
             "a 3700-byte path: the message is cut in the middle, not the end: %s", out);
    printf("long path message: %s", out);
    free(dir);
}

/* Names from a config that become file names. */
static void names(void) {
    char args[4096], out[8192], path[1024];
    const char *s = "name: ../../escaped\nseed: 1\ndevice: cpu\nmodel:\n  layers: [flatten, "
                    "{dense: {units: 10}}]\ntrain: {epochs: 1}\n";
    tu_write_file(path, sizeof path, "escape.yaml", s, strlen(s));
    if (system("rm -rf ../escaped") != 0) return; /* left by an older foil? */
    snprintf(args, sizeof args, "run '%s' -q --data '%s'", path, g_data);
    int rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "name", "file name") && !tu_exists("../escaped"),
             "study name '../../escaped': exit %d: %s", rc, out);
    printf("study name: %s", out);

    /* a label of 63 characters goes whole through the sweep and the shift */
    const char *lab = "a_label_of_sixty_three_characters_for_the_sweep_and_the_shift__";
    char study[2048], run_dir[1200], shift_csv[1300];
    snprintf(study, sizeof study,
             "seed: 2\ndevice: cpu\nmodel:\n  input: [1, 28, 28]\n  layers: [flatten, "
             "{dense: {units: 10}}]\ntrain: {epochs: 1}\nattack: {eps: [0.1], attacks: "
             "[{fgsm: {label: %s}}], examples: 0}\nexplain: {steps: 2, images: 2, batch: 2}\n",
             lab);
    tu_write_file(path, sizeof path, "label_study.yaml", study, strlen(study));
    snprintf(run_dir, sizeof run_dir, "%s/label_run", tu_tmpdir());
    snprintf(args, sizeof args, "run '%s' -q -o '%s' --data '%s' --limit 4", path, run_dir,
             g_data);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    snprintf(shift_csv, sizeof shift_csv, "%s/shift/shift.csv", run_dir);
    char *csv = tu_slurp(shift_csv, NULL);
    TU_CHECK(rc == 0 && csv && strstr(csv, lab), "a 63-character label in shift.csv: %d: %s", rc,
             csv ? csv : last_of(out));
    free(csv);

    /* a label of 6000 characters: the message keeps its reason */
    char *huge = malloc(6100);
    memset(huge, 'x', 6000);
    huge[6000] = 0;
    char *text = malloc(6200);
    snprintf(text, 6200, "eps: [0.1]\nattacks: [{fgsm: {label: %s}}]\n", huge);
    tu_write_file(path, sizeof path, "huge_label.yaml", text, strlen(text));
    snprintf(args, sizeof args, "attack -q -m '%s' -c '%s' -o '%s/huge' --data '%s'", g_model,
             path, tu_tmpdir(), g_data);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "label", "cannot be part of a file name"),
             "a 6000-character label: %d: %.300s", rc, out);
    free(huge);
    free(text);

    const char *bad[3][2] = {
        {"attacks: [{fgsm: {label: ../../x}}]\n", "label"},
        {"attacks: [{fgsm: {label: abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcd}}]\n",
         "label"},
        {"attacks: [fgsm, {pgd: {steps: 2, label: fgsm}}]\n", "taken"}};
    for (int i = 0; i < 3; i++) {
        char sweep[4096];
        snprintf(sweep, sizeof sweep, "eps: [0.1]\n%s", bad[i][0]);
        tu_write_file(path, sizeof path, "bad_label.yaml", sweep, strlen(sweep));
        snprintf(args, sizeof args, "attack -q -m '%s' -c '%s' -o '%s/labelled' --data '%s'",
                 g_model, path, tu_tmpdir(), g_data);
        rc = tu_run_logged(args, 0, 0, out, sizeof out);
        TU_CHECK(rc == 1 && tu_one_line_error(out, bad[i][1], "attacks"),
                 "attack label %d: exit %d: %s", i, rc, out);
        printf("label %d: %s", i, out);
    }
}

/* Folders that hold results already, or another foil's. */
static void folders(void) {
    char args[8192], out[8192], dir[1024], ckpt[1200], copy[1200];
    tu_path(dir, sizeof dir, "twice");
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s'", g_recipe, dir, g_data);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "first train: %s", out);
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    size_t n;
    char *bytes = tu_slurp(ckpt, &n);
    tu_write_file(copy, sizeof copy, "twice_copy", bytes, n);
    free(bytes);
    int rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "already there", "--resume") &&
                 tu_same_file(ckpt, copy),
             "a second train without --resume: exit %d, checkpoint kept: %s", rc, out);
    printf("twice: %s", out);

    /* foil attack takes the folder's lock */
    char lock[1200], sweep[1024];
    tu_path(dir, sizeof dir, "locked_attack");
    mkdir(dir, 0755);
    snprintf(lock, sizeof lock, "%s/.lock", dir);
    int fd = open(lock, O_RDWR | O_CREAT, 0644);
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    TU_CHECK(fd >= 0 && fcntl(fd, F_SETLK, &lk) == 0, "the test holds %s", lock);
    const char *sw = "eps: [0.1]\nattacks: [fgsm]\nexamples: 2\n";
    tu_write_file(sweep, sizeof sweep, "sweep.yaml", sw, strlen(sw));
    snprintf(args, sizeof args, "attack -q -m '%s' -c '%s' -o '%s' --data '%s'", g_model, sweep,
             dir, g_data);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "another foil process", NULL),
             "attack into a locked folder: exit %d: %s", rc, out);
    close(fd); /* the lock goes with the descriptor */

    /* temporary files a killed attack left are removed by the next one */
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char stale[2][1300];
    mkdir(strcat(strcpy(stale[0], dir), "/examples"), 0755);
    snprintf(stale[0], sizeof stale[0], "%s/sweep.csv.tmp.%ld", dir, (long)dead);
    snprintf(stale[1], sizeof stale[1], "%s/examples/fgsm_eps0.100.png.tmp.%ld", dir, (long)dead);
    for (int i = 0; i < 2; i++) tu_write_file(lock, sizeof lock, stale[i] + strlen(tu_tmpdir()) + 1, "x", 1);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 0 && !tu_exists(stale[0]) && !tu_exists(stale[1]),
             "attack removes a dead run's temporary files: exit %d: %s", rc, last_of(out));
}

/* Exit code of `foil ARGS` within 20 s, or -1 (killed) when it blocks. */
static int run_bounded(const char *args, char *out, size_t cap) {
    pid_t pid = tu_spawn(args, "fifo_log.txt", 0, 0);
    int st = -1;
    for (int i = 0; i < 2000; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid) break;
        tu_sleep_ms(10);
        st = -1;
    }
    if (st == -1) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    tu_read_log("fifo_log.txt", out, cap);
    return st == -1 ? -1 : WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* A FIFO (or any non-regular file) given as an input is refused at once;
 * standard input still works for a config. */
static void fifos(void) {
    char fifo[1024], args[4096], out[8192], dir[1024];
    tu_path(fifo, sizeof fifo, "a_fifo");
    TU_CHECK(mkfifo(fifo, 0644) == 0, "mkfifo: %s", strerror(errno));
    const char *cases[3][2] = {{"eval -m '%s' --data '%s'", "-m FIFO"},
                               {"train -q -c '%s' -o x_unused --data '%s'", "-c FIFO"},
                               {"attack -q -m '%s' -c '%s' -o x_unused --data '%s'", "sweep FIFO"}};
    for (int i = 0; i < 3; i++) {
        if (i == 2) snprintf(args, sizeof args, cases[i][0], g_model, fifo, g_data);
        else snprintf(args, sizeof args, cases[i][0], fifo, g_data);
        int rc = run_bounded(args, out, sizeof out);
        TU_CHECK(rc == 1 && tu_one_line_error(out, "not a regular file", "FIFO"),
                 "%s: exit %d (-1: blocked): %s", cases[i][1], rc, out);
    }
    /* a FIFO in place of the test images */
    synth_dataset("fifo_data", 64, 20);
    char images[1200];
    tu_path(dir, sizeof dir, "fifo_data");
    snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", dir);
    unlink(images);
    mkfifo(images, 0644);
    snprintf(args, sizeof args, "eval -m '%s' --data '%s'", g_model, dir);
    int rc = run_bounded(args, out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "not a regular file", NULL),
             "IDX FIFO: exit %d: %s", rc, out);
    printf("fifo: %s", out);

    /* standard input: a pipe is fine for -c - */
    char cmd[8192];
    const char *bin = getenv("FOIL_BIN");
    tu_path(dir, sizeof dir, "from_stdin");
    snprintf(cmd, sizeof cmd, "cat '%s' | '%s' train -q -c - -o '%s' --data '%s' >/dev/null 2>&1",
             g_recipe, bin ? bin : "foil", dir, g_data);
    TU_CHECK(system(cmd) == 0, "a config on standard input still trains");
}

/* gzip IDX files of n images (28x28) with a header that says hdr_n, all
 * zero pixels (compressed at level 1: a few hundred KB), and n labels. */
static void bomb(const char *dir_name, uint32_t hdr_n, uint32_t n) {
    char path[1024], name[256];
    snprintf(name, sizeof name, "%s/t10k-images-idx3-ubyte.gz", dir_name);
    tu_path(path, sizeof path, name);
    gzFile g = gzopen(path, "wb1");
    const uint8_t h[16] = {0, 0, 8, 3, (uint8_t)(hdr_n >> 24), (uint8_t)(hdr_n >> 16),
                           (uint8_t)(hdr_n >> 8), (uint8_t)hdr_n, 0, 0, 0, 28, 0, 0, 0, 28};
    gzwrite(g, h, 16);
    static uint8_t zeros[784 * 1000];
    for (uint32_t i = 0; i < n; i += 1000) gzwrite(g, zeros, (unsigned)sizeof zeros);
    gzclose(g);
    snprintf(name, sizeof name, "%s/t10k-labels-idx1-ubyte.gz", dir_name);
    tu_path(path, sizeof path, name);
    g = gzopen(path, "wb1");
    const uint8_t lh[8] = {0, 0, 8, 1, (uint8_t)(hdr_n >> 24), (uint8_t)(hdr_n >> 16),
                           (uint8_t)(hdr_n >> 8), (uint8_t)hdr_n};
    gzwrite(g, lh, 8);
    for (uint32_t i = 0; i < hdr_n; i += 1000) gzwrite(g, zeros, hdr_n - i < 1000 ? hdr_n - i : 1000);
    gzclose(g);
}

/* Peak resident memory (KiB) of `foil ARGS`, and its exit status. */
static long peak_kib(const char *args, const char *log, int *rc) {
    struct rusage ru;
    *rc = tu_wait(tu_spawn(args, log, 0, 0), &ru);
    return ru.ru_maxrss;
}

/* --limit bounds what is decompressed and held; the header bounds the rest.
 * Measured against the same eval of a small data set (the CUDA libraries
 * alone can take 200 MB). */
static void resource_bounds(void) {
    char dir[1024], args[4096], out[8192];
    int rc;
    snprintf(args, sizeof args, "eval -m '%s' --data '%s' --device cpu", g_model, g_data);
    long base = peak_kib(args, "base.txt", &rc);
    synth_dataset("bomb", 64, 20); /* train files; t10k replaced below */
    bomb("bomb", 400000, 400000);  /* 314 MB of pixels, 1.25 GB as floats */
    tu_path(dir, sizeof dir, "bomb");
    snprintf(args, sizeof args, "eval -m '%s' --data '%s' --limit 10 --device cpu", g_model, dir);
    long kib = peak_kib(args, "bomb.txt", &rc);
    tu_read_log("bomb.txt", out, sizeof out);
    printf("eval --limit 10 of a 400000-image gzip: exit %d, peak RSS %ld MB (%ld MB for 40 "
           "images)\n", rc, kib / 1024, base / 1024);
    TU_CHECK(rc == 0 && kib < base + 100 * 1024, "--limit 10: exit %d, %ld MB over %ld: %s", rc,
             kib / 1024, base / 1024, last_of(out));

    synth_dataset("liar", 64, 20);
    bomb("liar", 10, 400000); /* the header promises 10 images */
    tu_path(dir, sizeof dir, "liar");
    snprintf(args, sizeof args, "eval -m '%s' --data '%s' --device cpu", g_model, dir);
    kib = peak_kib(args, "liar.txt", &rc);
    tu_read_log("liar.txt", out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "trailing", NULL) && kib < base + 100 * 1024,
             "a header promising 10 images over 400000: exit %d, %ld MB over %ld: %s", rc,
             kib / 1024, base / 1024, out);
    printf("liar: %s", out);

    /* an honest header past the cap is refused before anything is inflated;
     * a limit keeps it readable */
    synth_dataset("honest", 64, 20);
    bomb("honest", 6000000, 1000); /* 4.7 GB promised */
    tu_path(dir, sizeof dir, "honest");
    snprintf(args, sizeof args, "eval -m '%s' --data '%s' --device cpu", g_model, dir);
    kib = peak_kib(args, "honest.txt", &rc);
    tu_read_log("honest.txt", out, sizeof out);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "more than", "--limit") && kib < base + 100 * 1024,
             "6000000 images: exit %d, %ld MB: %s", rc, kib / 1024, out);
    snprintf(args, sizeof args, "eval -m '%s' --data '%s' --device cpu --limit 500", g_model, dir);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "the same with --limit 500: %s",
             last_of(out));
}

/* Failures that used to come after the work, or said the wrong thing. */
static void messages(void) {
    char args[40000], out[8192], path[1024], dir[1024];
    /* a label the model has no class for: named by file and index, at load */
    synth_dataset("label12", 64, 20);
    tu_path(dir, sizeof dir, "label12");
    char labels[1200];
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", dir);
    size_t n;
    gzFile g = gzopen(labels, "rb");
    uint8_t lab[8 + 64];
    n = (size_t)gzread(g, lab, sizeof lab);
    gzclose(g);
    lab[8 + 37] = 12;
    tu_write_gz(path, sizeof path, "label12/train-labels-idx1-ubyte.gz", lab, n);
    char out_dir[1200];
    snprintf(out_dir, sizeof out_dir, "%s/label12_run", tu_tmpdir());
    snprintf(args, sizeof args, "train -q -c '%s' -o '%s' --data '%s'", g_recipe, out_dir, dir);
    int rc = tu_run_logged(args, 0, 0, out, sizeof out);
    char ckpt[1300];
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", out_dir);
    TU_CHECK(rc == 1 && tu_one_line_error(out, "sample 37", "label 12") &&
                 strstr(out, "train-labels") && !tu_exists(ckpt),
             "label 12 of sample 37: exit %d, no checkpoint: %s", rc, out);
    printf("label: %s", out);

    /* examples: N over a smaller --limit shows what there is */
    const char *sw = "eps: [0.1]\nattacks: [fgsm]\nexamples: 8\n";
    tu_write_file(path, sizeof path, "ex8.yaml", sw, strlen(sw));
    snprintf(args, sizeof args, "attack -q -m '%s' -c '%s' -o '%s/ex8' --data '%s' --limit 5",
             g_model, path, tu_tmpdir(), g_data);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 0, "examples: 8 with --limit 5: exit %d: %s", rc, last_of(out));

    /* foil run: indices past the test set are found before training */
    const char *bad[2] = {"attack.examples=[0,7]", "explain.images=[0,30]"};
    for (int i = 0; i < 2; i++) {
        char study[1024];
        tu_write_file(study, sizeof study, "idx_study.yaml", STUDY, strlen(STUDY));
        snprintf(dir, sizeof dir, "%s/idx_run%d", tu_tmpdir(), i);
        snprintf(args, sizeof args, "run '%s' -q -o '%s' --data '%s' --limit 5 %s", study, dir,
                 g_data, bad[i]);
        rc = tu_run_logged(args, 0, 0, out, sizeof out);
        snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
        TU_CHECK(rc == 1 && tu_one_line_error(last_of(out), "past the end", NULL) &&
                     !tu_exists(ckpt),
                 "%s with --limit 5: exit %d, no training: %s", bad[i], rc, out);
        printf("%s: %s", bad[i], out);
    }

    /* 257 overrides say so */
    int len = snprintf(args, sizeof args, "train -q -c '%s' -o '%s/many'", g_recipe, tu_tmpdir());
    for (int i = 0; i < 257; i++) len += snprintf(args + len, sizeof args - (size_t)len, " seed=%d", i);
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 2 && tu_one_line_error(out, "too many", "256"), "257 overrides: %d: %s", rc,
             out);

    /* --json '' is refused before anything is read */
    snprintf(args, sizeof args, "eval -m '%s/no_such_model' --json ''", tu_tmpdir());
    rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 2 && tu_one_line_error(out, "--json", "empty"), "--json '': %d: %s", rc, out);

    /* no network: one line per mirror at most, ending with the tool's reason */
    char bin[1024], curl[1200], cmd[8192];
    tu_path(bin, sizeof bin, "fakebin");
    mkdir(bin, 0755);
    snprintf(curl, sizeof curl, "%s/curl", bin);
    const char *script = "#!/bin/sh\necho 'curl: (6) Could not resolve host: example.invalid' >&2\n"
                         "exit 6\n";
    tu_write_file(path, sizeof path, "fakebin/curl", script, strlen(script));
    chmod(curl, 0755);
    const char *foil = getenv("FOIL_BIN");
    snprintf(cmd, sizeof cmd,
             "env -u FOIL_MIRROR PATH='%s':\"$PATH\" '%s' data fetch --data '%s/nonet' "
             ">/dev/null 2>'%s/nonet.txt'",
             bin, foil ? foil : "foil", tu_tmpdir(), tu_tmpdir());
    rc = system(cmd);
    snprintf(path, sizeof path, "%s/nonet.txt", tu_tmpdir());
    char *log = tu_slurp(path, NULL);
    int lines = 0;
    for (const char *p = log; p && *p; p++) lines += *p == '\n';
    TU_CHECK(rc != 0 && log && lines == 2 && strstr(last_of(log), "Could not resolve host") &&
                 !strstr(log, "curl: ("),
             "fetch without network: %d lines (expected: one per mirror), ends with the reason: "
             "%s", lines, log ? log : "");
    printf("no network:\n%s", log ? log : "");
    free(log);
}

int main(void) {
    synth_trained_model(RECIPE, g_data, g_recipe, g_model);
    long_paths();
    names();
    folders();
    fifos();
    resource_bounds();
    messages();
    return tu_finish("test_hardening_io");
}
