/* foil run end to end on synthetic data with a tiny inline model: the report
 * and every file it references, reuse of the checkpoint and of unchanged
 * steps, a changed attack key redoing the sweep only, resuming after Ctrl-C,
 * one-line config errors, report.compare (methods side by side with their
 * faithfulness), and (when Debian's chromium is installed) the page
 * rendered headless with all its images loaded. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "synth.h"
#include "testutil.h"

static const char STUDY[] =
    "name: tiny_study\n"
    "seed: 3\n"
    "device: cpu\n"
    "model:\n"
    "  name: tiny\n"
    "  input: [1, 28, 28]\n"
    "  classes: 10\n"
    "  layers:\n"
    "    - conv2d: {filters: 4, kernel: 5, stride: 2, padding: same}\n"
    "    - relu\n"
    "    - maxpool: {size: 2}\n"
    "    - flatten\n"
    "    - dense: {units: 10}\n"
    "train: {epochs: 2, batch_size: 32, optimizer: adam, lr: 0.01}\n"
    "attack:\n"
    "  batch_size: 100\n"
    "  eps: [0, 0.1, 0.3]\n"
    "  attacks:\n"
    "    - fgsm\n"
    "    - pgd: {steps: 3, step: 0.1, label: pgd3}\n"
    "  examples: 4\n"
    "explain: {steps: 8, images: 4, batch: 4, chunk: 8}\n"
    "report: {grid_eps: 2}\n";

/* Runs foil with stdout and stderr into <tmp>/out.txt, loaded into out. */
static int foil(const char *args, char *out, size_t cap) {
    const char *bin = getenv("FOIL_BIN");
    char path[1024], cmd[8192];
    tu_path(path, sizeof path, "out.txt");
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s' 2>&1 </dev/null", bin ? bin : "foil", args, path);
    int st = system(cmd);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int exists(const char *dir, const char *rel) {
    char path[2048];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void check_report(const char *dir, int want_images) {
    char path[1200];
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = tu_slurp(path, NULL);
    TU_CHECK(html != NULL, "report.html written");
    if (!html) return;
    static const char *const KEYS[] = {
        "<!DOCTYPE html>", "id='run'", "id='clean'", "id='attacks'", "id='explain'", "id='shift'",
        "Clean accuracy", "Confusion matrix", "Robust accuracy vs eps", "Per-class recall vs eps",
        "Most fragile digit", "Completeness error", "Explanation shift", "Spearman", "<svg",
        "</svg>", "fp32", "precision", "seed", "foil version", "commit", "pgd3", "</html>"};
    for (size_t i = 0; i < sizeof KEYS / sizeof *KEYS; i++)
        TU_CHECK(strstr(html, KEYS[i]) != NULL, "the page holds '%s'", KEYS[i]);
    int images = tu_check_references(html, dir);
    TU_CHECK(images == want_images, "%d images on the page (%d)", want_images, images);
    free(html);
}

static void file_id(const char *path, struct stat *sb) {
    memset(sb, 0, sizeof *sb);
    TU_CHECK(stat(path, sb) == 0, "%s exists", path);
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_ino == b->st_ino;
}

static void check_reuse(const char *base, const char *dir) {
    char args[8192], out[65536], ckpt[1200], ckpt_bytes_path[1200];
    struct stat before, after;
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    file_id(ckpt, &before);
    size_t n0, n1;
    char *bytes0 = tu_slurp(ckpt, &n0);
    TU_CHECK(foil(base, out, sizeof out) == 0, "second run: %s", out);
    TU_CHECK(strstr(out, "train: reusing") != NULL, "the second run reuses the checkpoint");
    static const char *const SAME[] = {"eval: unchanged", "sweep: unchanged",
                                       "explain: unchanged", "shift: unchanged"};
    for (int i = 0; i < 4; i++) TU_CHECK(strstr(out, SAME[i]) != NULL, "second run: '%s'", SAME[i]);
    file_id(ckpt, &after);
    snprintf(ckpt_bytes_path, sizeof ckpt_bytes_path, "%s", ckpt);
    char *bytes1 = tu_slurp(ckpt_bytes_path, &n1);
    TU_CHECK(same_file(&before, &after) && bytes0 && bytes1 && n0 == n1 && !memcmp(bytes0, bytes1, n0),
             "the checkpoint is untouched");
    free(bytes0);
    free(bytes1);

    snprintf(args, sizeof args, "%s 'attack.eps=[0, 0.2]'", base);
    TU_CHECK(foil(args, out, sizeof out) == 0, "changed attack eps: %s", out);
    TU_CHECK(strstr(out, "train: reusing") && strstr(out, "eval: unchanged") &&
                 strstr(out, "explain: unchanged"), "a changed attack key keeps training: %s", out);
    TU_CHECK(!strstr(out, "sweep: unchanged") && !strstr(out, "shift: unchanged"),
             "a changed attack key redoes the sweep and the shift");
    file_id(ckpt, &after);
    TU_CHECK(same_file(&before, &after), "the checkpoint is still untouched");
    snprintf(args, sizeof args, "%s/sweep/sweep.csv", dir);
    char *csv = tu_slurp(args, NULL);
    TU_CHECK(csv && strstr(csv, "fgsm,fgsm,0.2,") && !strstr(csv, "fgsm,fgsm,0.1,"),
             "sweep.csv holds the new eps");
    free(csv);
    check_report(dir, 2 + 4 + 2); /* one eps > 0 now */
}

/* Ctrl-C during training (after the first epoch's checkpoint): foil saves
 * and exits 130; a rerun resumes. Inconclusive (not failed) when training
 * finished first. */
static void check_interrupt(const char *cfg, const char *data) {
    char dir[1024], ckpt[1200], out[65536], args[4096];
    tu_path(dir, sizeof dir, "interrupted");
    snprintf(ckpt, sizeof ckpt, "%s/model.safetensors", dir);
    snprintf(args, sizeof args, "run '%s' -o '%s' --data '%s' -q train.epochs=40", cfg, dir, data);
    pid_t pid = fork();
    if (pid == 0) {
        char cmd[8192];
        snprintf(cmd, sizeof cmd, "exec '%s' %s >/dev/null 2>&1", getenv("FOIL_BIN"), args);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    struct timespec nap = {0, 5000000};
    for (int i = 0; i < 4000 && !exists(dir, "model.safetensors"); i++) nanosleep(&nap, NULL);
    kill(pid, SIGINT);
    int st;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        printf("interrupt: the run ended before Ctrl-C (inconclusive)\n");
        return;
    }
    TU_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 130, "Ctrl-C in training: exit 130 after saving");
    TU_CHECK(foil(args, out, sizeof out) == 0, "rerun after Ctrl-C: %s", out);
    TU_CHECK(strstr(out, "train: resuming") != NULL, "the rerun resumes training: %s", out);
    TU_CHECK(exists(dir, "report.html"), "the rerun finishes the report");
}

static void expect_error(const char *cfg, const char *data, const char *extra, const char *word) {
    char args[4096], out[65536], dir[1024];
    tu_path(dir, sizeof dir, "bad");
    snprintf(args, sizeof args, "run '%s' -o '%s' --data '%s' -q %s", cfg, dir, data, extra);
    int rc = foil(args, out, sizeof out);
    int lines = 0;
    for (const char *p = out; *p; p++) lines += *p == '\n';
    TU_CHECK(rc == 1 && lines == 1 && strstr(out, word) && !strncmp(out, "foil: ", 6),
             "%s: exit %d, one line naming '%s': %s", extra, rc, word, out);
    printf("%-32s -> %s", extra, out);
}

/* report.compare: three methods (one with its own keys and label) on the
 * first 3 test images; faithfulness.csv has their finite means, each folder
 * is foil explain's output with the entry's keys in its config, the report
 * shows the table and 2 heatmaps per method, and a second run reuses it. */
static void check_compare(const char *cfg, const char *data) {
    char dir[1024], args[8192], out[65536], path[1200];
    tu_path(dir, sizeof dir, "compare_run");
    snprintf(args, sizeof args, "run '%s' -o '%s' --data '%s' -q report.compare_images=3 "
             "report.compare_shown=2 'report.compare=[saliency, {lime: {label: lime_black, "
             "baseline: black, samples: 64, features: {size: 7}}}, {kernelshap: {samples: 100, "
             "features: {size: 14}}}]'", cfg, dir, data);
    TU_CHECK(foil(args, out, sizeof out) == 0, "foil run with report.compare: %s", out);
    snprintf(path, sizeof path, "%s/compare/faithfulness.csv", dir);
    char *csv = tu_slurp(path, NULL);
    int rows = 0, finite = 1;
    for (const char *line = csv ? strchr(csv, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
        char label[64], method[32];
        int n;
        double v[5];
        if (sscanf(line + 1, "%63[^,],%31[^,],%d,%lf,%lf,%lf,%lf,%lf", label, method, &n, &v[0],
                   &v[1], &v[2], &v[3], &v[4]) == 8 && n == 3) {
            rows++;
            for (int k = 0; k < 5; k++) finite &= isfinite(v[k]) ? 1 : 0;
        }
    }
    TU_CHECK(csv && strstr(csv, "\nsaliency,saliency,3,") && strstr(csv, "\nlime_black,lime,3,") &&
                 strstr(csv, "\nkernelshap,kernelshap,3,") && rows == 3 && finite,
             "faithfulness.csv: 3 methods, finite means: %s", csv ? csv : "(missing)");
    free(csv);
    snprintf(path, sizeof path, "%s/compare/lime_black/config.yaml", dir);
    char *ycfg = tu_slurp(path, NULL);
    TU_CHECK(ycfg && strstr(ycfg, "method: lime") && strstr(ycfg, "baseline: black") &&
                 strstr(ycfg, "size: 7") && strstr(ycfg, "samples: 64"),
             "the entry's keys reach its explain config: %s", ycfg ? ycfg : "(missing)");
    free(ycfg);
    snprintf(path, sizeof path, "%s/compare/kernelshap/explain.csv", dir);
    char *ecsv = tu_slurp(path, NULL);
    TU_CHECK(ecsv && strstr(ecsv, ",sensitivity_max\n"), "compare/kernelshap/explain.csv");
    free(ecsv);
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = tu_slurp(path, NULL);
    TU_CHECK(html && strstr(html, "Methods compared") && strstr(html, "lime_black (lime)") &&
                 strstr(html, "max-sensitivity"), "the report's comparison section");
    int images = html ? tu_check_references(html, dir) : 0;
    TU_CHECK(images == 12 + 3 * 2, "report with the comparison: %d images (18)", images);
    free(html);
    TU_CHECK(foil(args, out, sizeof out) == 0 && strstr(out, "compare: unchanged"),
             "a second run reuses the comparison: %s", out);
}

/* A minimal-perturbation attack in the sweep: the report's radii table
 * agrees with sweep/radii.csv read here (images, right when clean,
 * adversarials found, their median L2 radius). */
static void check_radii(const char *cfg, const char *data) {
    char dir[1024], args[8192], out[65536], path[1200];
    tu_path(dir, sizeof dir, "radii_run");
    snprintf(args, sizeof args, "run '%s' -o '%s' --data '%s' -q 'attack.attacks=[{deepfool: "
             "{label: df}}]' attack.examples=0 report.shift=false", cfg, dir, data);
    TU_CHECK(foil(args, out, sizeof out) == 0, "foil run with DeepFool: %s", out);
    snprintf(path, sizeof path, "%s/sweep/radii.csv", dir);
    char *csv = tu_slurp(path, NULL);
    double radii[200];
    int n = 0, right = 0, found = 0;
    for (const char *line = csv ? strchr(csv, '\n') : NULL; line && line[1]; line = strchr(line + 1, '\n')) {
        int idx, truth, pred, used = 0;
        double l2;
        if (sscanf(line + 1, "deepfool,df,%d,%d,%d,%n", &idx, &truth, &pred, &used) != 3) continue;
        n++;
        if (truth != pred) continue;
        right++;
        if (sscanf(line + 1 + used, "%lf", &l2) == 1 && found < 200) radii[found++] = l2;
    }
    free(csv);
    for (int i = 1; i < found; i++) /* insertion sort: a few hundred values */
        for (int j = i; j > 0 && radii[j - 1] > radii[j]; j--) {
            double t = radii[j];
            radii[j] = radii[j - 1], radii[j - 1] = t;
        }
    TU_CHECK(n == 100 && found > 0, "radii.csv: %d images, %d adversarials", n, found);
    double median = found ? 0.5 * (radii[(found - 1) / 2] + radii[found / 2]) : NAN;
    char want[256];
    snprintf(want, sizeof want, "<tr><th>df</th><td style='text-align:left'>deepfool</td><td>%d"
             "</td><td>%d</td><td>%d</td><td>%.4f</td>", n, right, found, median);
    snprintf(path, sizeof path, "%s/report.html", dir);
    char *html = tu_slurp(path, NULL);
    TU_CHECK(html && strstr(html, "Robustness radii") && strstr(html, "Accuracy vs L2 radius") &&
                 strstr(html, want), "the report's radii: %s", want);
    free(html);
}

/* Headless Chromium: the page loads, every image decodes, a screenshot. */
static void check_browser(const char *dir) {
    if (system("command -v chromium >/dev/null 2>&1") != 0) {
        const char *need = getenv("FOIL_REQUIRE_BROWSER");
        TU_CHECK(!need || !*need, "FOIL_REQUIRE_BROWSER is set but chromium is not installed");
        printf("chromium not installed: headless rendering skipped\n");
        return;
    }
    char cmd[8192], dom[1200], shot[1200], profile[1024];
    snprintf(dom, sizeof dom, "%s/dom.html", tu_tmpdir());
    snprintf(shot, sizeof shot, "%s/report.png", tu_tmpdir());
    tu_path(profile, sizeof profile, "chromium-profile");
    const char *flags = "--headless --no-sandbox --disable-gpu --no-first-run "
                        "--allow-file-access-from-files --virtual-time-budget=5000";
    snprintf(cmd, sizeof cmd, "timeout 120 chromium %s --user-data-dir='%s' --dump-dom "
             "'file://%s/report.html' >'%s' 2>/dev/null", flags, profile, dir, dom);
    TU_CHECK(system(cmd) == 0, "chromium --dump-dom");
    char *text = tu_slurp(dom, NULL);
    TU_CHECK(text && strstr(text, "data-images-broken=\"0\"") &&
                 strstr(text, "data-images-loaded=\"12\""), "all 12 images load in the browser");
    free(text);
    snprintf(cmd, sizeof cmd, "timeout 120 chromium %s --user-data-dir='%s' --window-size=1280,2400 "
             "--screenshot='%s' 'file://%s/report.html' >/dev/null 2>&1", flags, profile, shot, dir);
    struct stat sb;
    TU_CHECK(system(cmd) == 0 && stat(shot, &sb) == 0 && sb.st_size > 20000,
             "a screenshot of the page: %s", shot);
}

int main(void) {
    synth_dataset("synth", 600, 100);
    char data[1024], cfg[1024], dir[1024], base[4096], out[65536];
    tu_path(data, sizeof data, "synth");
    tu_write_file(cfg, sizeof cfg, "study.yaml", STUDY, sizeof STUDY - 1);
    tu_path(dir, sizeof dir, "run");
    snprintf(base, sizeof base, "run '%s' -o '%s' --data '%s' -q", cfg, dir, data);
    int rc = foil(base, out, sizeof out);
    TU_CHECK(rc == 0, "foil run: exit %d: %s", rc, out);
    char want[1200];
    snprintf(want, sizeof want, "report: %s/report.html\n", dir);
    TU_CHECK(strstr(out, want) != NULL, "says where the report is");
    check_report(dir, 4 + 4 + 4); /* grids: 2 attacks x 2 eps; heatmaps; shift grids */
    check_browser(dir);
    check_reuse(base, dir);
    /* the study's inline model gives way to -m in the single commands, and a
     * path that YAML would misread is taken as it is */
    char args[8192], other[1024];
    tu_path(other, sizeof other, "single");
    snprintf(args, sizeof args, "mkdir -p '%s' && cp '%s/model.safetensors' '%s/[a] #1: b.st'",
             other, dir, other);
    TU_CHECK(system(args) == 0, "a checkpoint under an awkward name");
    snprintf(args, sizeof args, "attack -m '%s/[a] #1: b.st' -c '%s' -o '%s/attack' --data '%s' -q",
             other, cfg, other, data);
    TU_CHECK(foil(args, out, sizeof out) == 0, "foil attack -c STUDY (inline model): %s", out);
    snprintf(args, sizeof args, "shift -m '%s/model.safetensors' -c '%s' -o '%s/shift' --data '%s' -q",
             dir, cfg, other, data);
    TU_CHECK(foil(args, out, sizeof out) == 0, "foil shift -c STUDY (inline model): %s", out);
    check_interrupt(cfg, data);
    expect_error(cfg, data, "train.epochs=0", "train.epochs");
    expect_error(cfg, data, "explain.colour=red", "explain.colour");
    expect_error(cfg, data, "'attack.attacks=[fgsmm]'", "fgsmm");
    expect_error(cfg, data, "report.grid_eps=0", "report.grid_eps");
    check_compare(cfg, data);
    check_radii(cfg, data);
    expect_error(cfg, data, "'report.compare=[saliency, limee]'", "limee");
    expect_error(cfg, data, "'report.compare=[lime, lime]'", "label 'lime'");
    expect_error(cfg, data, "'report.compare=[{lime: {images: 4}}]'", "report.compare");
    /* known once the model is: the run stops at the step, after the others */
    snprintf(args, sizeof args, "run '%s' -o '%s/bad' --data '%s' -q "
             "'report.compare=[{occlusion: {window: 40}}]'", cfg, tu_tmpdir(), data);
    rc = foil(args, out, sizeof out);
    const char *last = out + strlen(out) - 1;
    while (last > out && last[-1] != '\n') last--;
    TU_CHECK(rc == 1 && !strncmp(last, "foil: compare: occlusion: explain.window: 40", 44),
             "a window too large for the image: %s", out);
    expect_error("/nonexistent/study.yaml", data, "", "study.yaml");
    TU_CHECK(foil("run --help", out, sizeof out) == 0 && strstr(out, "usage: foil run"), "--help");
    return tu_finish("test_run");
}
