/* Faults, each through the real foil binary:
 *   - Ctrl-C (SIGINT) during training saves a checkpoint (exit 130), and
 *     --resume then gives bit-identical weights to an uninterrupted run;
 *   - SIGKILL while the optimizer state or the model is being written leaves
 *     the previous checkpoint intact, loadable and resumable;
 *   - a diverging loss (NaN) stops training with one line and keeps the last
 *     checkpoint byte for byte;
 *   - a full disk (/dev/full) and a read-only folder are one-line errors;
 *   - an allocation that cannot succeed (an absurd batch under a memory
 *     limit) is a one-line error, not a crash;
 *   - a second foil writing the same folder is refused. */
#include <dirent.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "foil/checkpoint.h"
#include "foil/model.h"
#include "synth.h"
#include "testutil.h"

/* Slow enough that one Ctrl-C lands mid-epoch: 2000 images one at a time. */
static const char SMALL[] =
    "name: faults\nseed: 5\ndevice: cpu\n"
    "model:\n  name: small\n  input: [1, 28, 28]\n  classes: 10\n  layers:\n"
    "    - conv2d: {filters: 32, kernel: 5, stride: 1, padding: same}\n"
    "    - relu\n    - maxpool: {size: 2}\n    - flatten\n    - dense: {units: 10}\n"
    "train: {epochs: 2, batch_size: 1, optimizer: adam, lr: 0.001}\n";

/* Linear (no ReLU to die): plain SGD with a huge step diverges to NaN. */
static const char LINEAR[] =
    "name: linear\nseed: 5\ndevice: cpu\n"
    "model:\n  name: linear\n  input: [1, 28, 28]\n  classes: 10\n  layers:\n"
    "    - conv2d: {filters: 4, kernel: 5, stride: 2, padding: same}\n"
    "    - flatten\n    - dense: {units: 10}\n"
    "train: {epochs: 1, batch_size: 32, optimizer: sgd, lr: 0.00001}\n";

/* 13 MB of parameters, 200 images per epoch: much of the time goes into
 * writing checkpoints, where SIGKILL is aimed. */
static const char WIDE[] =
    "name: wide\nseed: 5\ndevice: cpu\n"
    "model:\n  name: wide\n  input: [1, 28, 28]\n  classes: 10\n  layers:\n"
    "    - flatten\n    - dense: {units: 4096}\n    - relu\n    - dense: {units: 10}\n"
    "data: {train_limit: 200}\n"
    "train: {epochs: 1000, batch_size: 50, optimizer: adam, lr: 0.0001}\n";

/* A checkpoint loads as a model; its metadata value for key in out. */
static int loads(const char *path, const char *key, char *out, size_t cap) {
    foil_model m;
    float *params;
    char *v = NULL;
    foil_err e;
    if (foil_model_load(path, &m, &params, key, &v, &e)) {
        printf("%s: %s\n", path, e.msg);
        return 0;
    }
    snprintf(out, cap, "%s", v ? v : "");
    free(v);
    free(params);
    return 1;
}

static void check_sigint(const char *cfg, const char *data) {
    char args[4096], dir[1024], ref[1024], out[8192], path[1200], v[64];
    tu_path(ref, sizeof ref, "sigint_ref");
    tu_path(dir, sizeof dir, "sigint");
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q", cfg, ref, data);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "uninterrupted run: %s", out);

    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q", cfg, dir, data);
    pid_t pid = tu_spawn(args, "sigint.txt", 0, 0);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    for (int i = 0; i < 4000 && !tu_exists(path); i++) tu_sleep_ms(5);
    tu_sleep_ms(400);
    kill(pid, SIGINT);
    int code = tu_wait(pid, NULL);
    tu_read_log("sigint.txt", out, sizeof out);
    if (code == 0) {
        printf("sigint: training ended before Ctrl-C (inconclusive)\n");
        return;
    }
    TU_CHECK(code == 130, "Ctrl-C: exit 130 after saving, got %d: %s", code, out);
    TU_CHECK(tu_one_line_error(out, "interrupted", "--resume"), "Ctrl-C: one line: %s", out);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    TU_CHECK(loads(path, "epoch_step", v, sizeof v), "the interrupted checkpoint loads");
    printf("sigint: %s", out);
    printf("sigint: checkpoint saved at epoch_step %s\n", v);
    TU_CHECK(atoi(v) > 0, "Ctrl-C 0.4 s into epoch 1 saves mid-epoch (epoch_step %s)", v);

    /* a mid-epoch checkpoint resumes only with the same batches */
    snprintf(args, sizeof args,
             "train -c '%s' -o '%s' --data '%s' -q --resume train.batch_size=2", cfg, dir, data);
    code = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, "batch_size", "same values"),
             "mid-epoch resume with another batch size is refused: %d: %s", code, out);

    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q --resume", cfg, dir, data);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "resume after Ctrl-C: %s", out);
    foil_model ma, mb;
    float *pa = NULL, *pb = NULL;
    foil_err e;
    char pref[1200];
    snprintf(pref, sizeof pref, "%s/model.safetensors", ref);
    int ok = foil_model_load(pref, &ma, &pa, NULL, NULL, &e) == 0 &&
             foil_model_load(path, &mb, &pb, NULL, NULL, &e) == 0;
    TU_CHECK(ok && ma.nparams == mb.nparams && !memcmp(pa, pb, ma.nparams * sizeof(float)),
             "interrupted + resumed weights equal the uninterrupted run's");
    char ma_json[1200], mb_json[1200], why[256];
    snprintf(ma_json, sizeof ma_json, "%s/metrics.json", ref);
    snprintf(mb_json, sizeof mb_json, "%s/metrics.json", dir);
    TU_CHECK(tu_same_epoch_log(ma_json, mb_json, why, sizeof why),
             "the epoch cut by Ctrl-C is logged as in the uninterrupted run: %s", why);
    free(pa);
    free(pb);
}

/* A second foil writing the same folder is refused while the first runs. */
static void check_lock(const char *cfg, const char *data) {
    char args[4096], dir[1024], out[8192], path[1200];
    tu_path(dir, sizeof dir, "locked");
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q train.epochs=50", cfg, dir,
             data);
    pid_t pid = tu_spawn(args, "lock_first.txt", 0, 0);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    for (int i = 0; i < 4000 && !tu_exists(path); i++) tu_sleep_ms(5);
    int code = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, dir, "another foil process"),
             "a second foil train into the same folder: %d: %s", code, out);
    printf("lock: %s", out);
    kill(pid, SIGTERM); /* as a scheduler stops a job: saved, 128 + SIGTERM */
    code = tu_wait(pid, NULL);
    tu_read_log("lock_first.txt", out, sizeof out);
    TU_CHECK(code == 128 + SIGTERM && strstr(out, "interrupted"), "SIGTERM: exit %d: %s", code,
             out);
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q --overwrite train.epochs=1",
             cfg, dir, data);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "the lock dies with its process: %s", out);
}

static void check_nan(const char *cfg, const char *data) {
    char args[4096], dir[1024], out[8192], model[1200], state[1200], copy_m[1200], copy_s[1200];
    tu_path(dir, sizeof dir, "nan");
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q", cfg, dir, data);
    TU_CHECK(tu_run_logged(args, 0, 0, out, sizeof out) == 0, "a gentle first epoch: %s", out);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(state, sizeof state, "%s/train_state.safetensors", dir);
    size_t n;
    char *bytes = tu_slurp(model, &n);
    tu_write_file(copy_m, sizeof copy_m, "nan_model_copy", bytes ? bytes : "", bytes ? n : 0);
    free(bytes);
    bytes = tu_slurp(state, &n);
    tu_write_file(copy_s, sizeof copy_s, "nan_state_copy", bytes ? bytes : "", bytes ? n : 0);
    free(bytes);

    snprintf(args, sizeof args,
             "train -c '%s' -o '%s' --data '%s' -q --resume --allow-changes train.epochs=2 "
             "train.lr=100", cfg, dir, data);
    int code = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, "diverged", "kept the checkpoint of epoch 1"),
             "huge lr: exit 1 and one line, got %d: %s", code, out);
    printf("nan: %s", out);
    TU_CHECK(tu_same_file(model, copy_m) && tu_same_file(state, copy_s),
             "the last good checkpoint and its optimizer state are untouched");

    tu_path(dir, sizeof dir, "nan_fresh");
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q train.lr=100", cfg, dir, data);
    code = tu_run_logged(args, 0, 0, out, sizeof out);
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    TU_CHECK(code == 1 && tu_one_line_error(out, "diverged", "no checkpoint written") && !tu_exists(model),
             "diverging from the start writes no checkpoint: %d: %s", code, out);
}

/* The name of a temporary file of `file` in dir, if one is there. */
static int writing(const char *dir, const char *file) {
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = strlen(file);
    int found = 0;
    while (d && !found && (e = readdir(d)))
        found = strncmp(e->d_name, file, n) == 0 && strncmp(e->d_name + n, ".tmp.", 5) == 0;
    if (d) closedir(d);
    return found;
}

/* SIGKILL the moment `file` is being written (with an earlier checkpoint on
 * disk); the checkpoint loads; with finish, one more epoch resumes from it. */
static void kill_while_writing(const char *cfg, const char *data, const char *dir, const char *file,
                               int resume, int finish) {
    char args[4096], out[8192], model[1200], v[64];
    snprintf(model, sizeof model, "%s/model.safetensors", dir);
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q%s", cfg, dir, data,
             resume ? " --resume" : "");
    pid_t pid = tu_spawn(args, "kill.txt", 0, 0);
    int hit = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (tu_exists(model) && writing(dir, file)) {
            kill(pid, SIGKILL);
            hit = 1;
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 60 || waitpid(pid, NULL, WNOHANG) == pid) break;
        struct timespec nap = {0, 100000};
        nanosleep(&nap, NULL);
    }
    if (!hit) kill(pid, SIGKILL);
    int code = tu_wait(pid, NULL);
    TU_CHECK(hit && code == 128 + SIGKILL, "killed while writing %s (exit %d)", file, code);
    TU_CHECK(loads(model, "epoch", v, sizeof v), "after SIGKILL in %s the checkpoint loads", file);
    int epoch = atoi(v);
    printf("sigkill while writing %s: checkpoint of epoch %d intact\n", file, epoch);
    if (!finish) return;
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q --resume train.epochs=%d",
             cfg, dir, data, epoch + 1);
    int rc = tu_run_logged(args, 0, 0, out, sizeof out);
    TU_CHECK(rc == 0, "resume after SIGKILL in %s: %d: %s", file, rc, out);
    TU_CHECK(!writing(dir, "model.safetensors") && !writing(dir, "train_state.safetensors"),
             "the killed run's temporary files are cleaned up");
}

static void check_sigkill(const char *cfg, const char *data) {
    char dir[1024];
    tu_path(dir, sizeof dir, "sigkill");
    kill_while_writing(cfg, data, dir, "train_state.safetensors", 0, 1);
    /* killed in the model write (the new state is on disk, the previous one
     * kept), resumed from the kept one, killed again in the next state write */
    kill_while_writing(cfg, data, dir, "model.safetensors", 1, 0);
    kill_while_writing(cfg, data, dir, "train_state.safetensors", 1, 1);
}

static void check_full_disk(const char *ckpt, const char *data) {
    struct stat sb;
    if (stat("/dev/full", &sb) != 0 || !S_ISCHR(sb.st_mode)) {
        printf("no /dev/full: full-disk check skipped\n");
        return;
    }
    char args[4096], out[8192];
    static const char *const OPTS[] = {"--json", "--csv"};
    for (int i = 0; i < 2; i++) {
        snprintf(args, sizeof args, "eval -m '%s' --data '%s' --device cpu -q %s /dev/full", ckpt, data, OPTS[i]);
        int code = tu_run_logged(args, 0, 0, out, sizeof out);
        TU_CHECK(code == 1 && tu_one_line_error(out, "/dev/full", "No space left"),
                 "%s /dev/full: %d: %s", OPTS[i], code, out);
        printf("full disk: %s", out);
    }
    TU_CHECK(stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode), "/dev/full is still a device");
}

static void check_read_only(const char *cfg, const char *ckpt, const char *data) {
    char ro[1024], args[4096], out[8192], path[1200];
    uid_t uid = 0;
    if (geteuid() == 0) { /* root ignores permissions: run as nobody */
        uid = 65534;
        if (tu_run_logged("--version", 0, uid, out, sizeof out) != 0) {
            printf("cannot run foil as uid 65534 (%s): read-only check skipped\n", out);
            return;
        }
    }
    tu_path(ro, sizeof ro, "read_only");
    TU_CHECK(mkdir(ro, 0555) == 0 || chmod(ro, 0555) == 0, "a read-only folder");
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q", cfg, ro, data);
    int code = tu_run_logged(args, 0, uid, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, ro, "Permission denied"), "train -o RO: %d: %s",
             code, out);
    printf("read-only: %s", out);
    snprintf(args, sizeof args, "train -c '%s' -o '%s/sub' --data '%s' -q", cfg, ro, data);
    code = tu_run_logged(args, 0, uid, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, ro, "Permission denied"), "train -o RO/sub: %d: %s",
             code, out);
    printf("read-only: %s", out);
    snprintf(args, sizeof args, "eval -m '%s' --data '%s' --device cpu -q --json '%s/eval.json'", ckpt, data, ro);
    code = tu_run_logged(args, 0, uid, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, ro, "Permission denied"), "eval --json RO/x: %d: %s",
             code, out);
    DIR *d = opendir(ro);
    int entries = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) entries += e->d_name[0] != '.';
    if (d) closedir(d);
    snprintf(path, sizeof path, "%s", ro);
    TU_CHECK(entries == 0, "nothing was created in %s", path);
}

#if defined(__SANITIZE_ADDRESS__)
#define FOIL_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FOIL_TEST_ASAN 1
#endif
#endif

static void check_allocation(const char *cfg, const char *ckpt, const char *data) {
#ifdef FOIL_TEST_ASAN
    (void)cfg, (void)ckpt, (void)data;
    printf("AddressSanitizer build: the memory-limit check is skipped (ASan reserves more "
           "address space than the limit)\n");
#else
    char args[4096], out[8192], dir[1024];
    snprintf(args, sizeof args, "eval -m '%s' --data '%s' --device cpu -q --batch 65536", ckpt, data);
    int code = tu_run_logged(args, 1024, 0, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, "65536", "set by --batch"),
             "eval --batch 65536 in 1 GiB: %d: %s", code, out);
    printf("allocation: %s", out);
    tu_path(dir, sizeof dir, "huge_batch");
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q train.batch_size=65536",
             cfg, dir, data);
    code = tu_run_logged(args, 1024, 0, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, "65536", "train.batch_size"),
             "train batch 65536 in 1 GiB: %d: %s", code, out);
    printf("allocation: %s", out);
    /* the batch in use is the evaluation's: the message says which */
    snprintf(args, sizeof args, "train -c '%s' -o '%s' --data '%s' -q --overwrite "
             "train.eval_batch=65536", cfg, dir, data);
    code = tu_run_logged(args, 1024, 0, out, sizeof out);
    TU_CHECK(code == 1 && tu_one_line_error(out, "65536", "train.eval_batch"),
             "train eval_batch 65536 in 1 GiB: %d: %s", code, out);
    printf("allocation: %s", out);
#endif
}

int main(void) {
    synth_dataset("synth", 2000, 200);
    char data[1024], small[1024], linear[1024], wide[1024], ckpt[1200];
    tu_path(data, sizeof data, "synth");
    tu_write_file(small, sizeof small, "small.yaml", SMALL, sizeof SMALL - 1);
    tu_write_file(linear, sizeof linear, "linear.yaml", LINEAR, sizeof LINEAR - 1);
    tu_write_file(wide, sizeof wide, "wide.yaml", WIDE, sizeof WIDE - 1);
    check_sigint(small, data);
    check_lock(small, data);
    check_nan(linear, data);
    check_sigkill(wide, data);
    snprintf(ckpt, sizeof ckpt, "%s/sigint_ref/model.safetensors", tu_tmpdir());
    check_full_disk(ckpt, data);
    check_read_only(small, ckpt, data);
    check_allocation(small, ckpt, data);
    return tu_finish("test_faults");
}
