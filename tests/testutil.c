/* wait4 (a child's own resource use) is a BSD call, not POSIX */
#define _DEFAULT_SOURCE
#include "testutil.h"

#include <cjson/cJSON.h>

#include "foil/checkpoint.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

tu_state tu;

int tu_finish(const char *name) {
    printf("%s: %d checks, %d failures\n", name, tu.checks, tu.failures);
    if (tu.checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    return tu.failures ? 1 : 0;
}

void tu_skip(const char *reason) {
    printf("SKIP: %s\n", reason);
    exit(77);
}

const char *tu_tmpdir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char *env = getenv("FOIL_TEST_TMP");
        char cmd[1200];
        if (snprintf(dir, sizeof dir, "%s", env ? env : "/tmp/foil_test") >= (int)sizeof dir ||
            snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", dir, dir) >= (int)sizeof cmd ||
            system(cmd) != 0) {
            fprintf(stderr, "cannot create %s\n", dir);
            exit(1);
        }
    }
    return dir;
}

void tu_path(char *out, size_t cap, const char *name) {
    if (snprintf(out, cap, "%s/%s", tu_tmpdir(), name) >= (int)cap) {
        fprintf(stderr, "path too long: %s\n", name);
        exit(1);
    }
}

void tu_write_file(char *out, size_t cap, const char *name, const void *data, size_t len) {
    tu_path(out, cap, name);
    FILE *f = fopen(out, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", out);
        exit(1);
    }
}

void tu_write_gz(char *out, size_t cap, const char *name, const void *data, size_t len) {
    tu_path(out, cap, name);
    gzFile g = gzopen(out, "wb");
    if (!g || (len && gzwrite(g, data, (unsigned)len) != (int)len) || gzclose(g) != Z_OK) {
        fprintf(stderr, "cannot write %s\n", out);
        exit(1);
    }
}

int tu_run_foil(const char *args, char *stderr_last, size_t cap) {
    const char *bin = getenv("FOIL_BIN");
    if (!bin) bin = "foil";
    char errfile[1024], cmd[8192];
    tu_path(errfile, sizeof errfile, "last_stderr.txt");
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null 2>'%s' </dev/null", bin, args, errfile);
    int st = system(cmd);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (stderr_last && cap) {
        stderr_last[0] = 0;
        FILE *f = fopen(errfile, "r");
        char line[2048];
        while (f && fgets(line, sizeof line, f)) {
            size_t n = strlen(line);
            while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
            if (n) snprintf(stderr_last, cap, "%s", line);
        }
        if (f) fclose(f);
    }
    return code;
}

const char *tu_mnist_dir(void) {
    const char *d = getenv("FOIL_TEST_DATA");
    if (!d || !*d) return NULL;
    char p[1200];
    struct stat sb;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", d);
    if (stat(p, &sb) == 0) return d;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", d);
    if (stat(p, &sb) == 0) return d;
    return NULL;
}

void tu_source_path(char *out, size_t cap, const char *rel) {
    const char *src = getenv("FOIL_SOURCE_DIR");
    snprintf(out, cap, "%s/%s", src ? src : ".", rel);
}

char *tu_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *buf = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (buf) buf[n] = 0;
    fclose(f);
    if (len) *len = buf ? (size_t)n : 0;
    return buf;
}

int tu_set_meta(const char *path, const char *key, const char *value) {
    foil_safetensors st;
    foil_err err;
    if (foil_st_read(path, &st, &err)) return -1;
    foil_st_entry *e = calloc((size_t)st.ntensors + 1, sizeof *e);
    const char **meta = calloc(2 * (size_t)st.nmeta + 1, sizeof *meta);
    for (int i = 0; e && i < st.ntensors; i++) {
        e[i].name = st.tensors[i].name;
        e[i].ndim = st.tensors[i].ndim;
        memcpy(e[i].shape, st.tensors[i].shape, sizeof e[i].shape);
        e[i].data = st.tensors[i].data;
        e[i].i32 = st.tensors[i].i32;
    }
    for (int i = 0; meta && i < st.nmeta; i++) {
        meta[2 * i] = st.meta_keys[i];
        meta[2 * i + 1] = strcmp(st.meta_keys[i], key) == 0 ? value : st.meta_values[i];
    }
    int rc = e && meta ? foil_st_write(path, e, st.ntensors, meta, st.nmeta, &err) : -1;
    free(e);
    free(meta);
    foil_st_free(&st);
    return rc;
}

int tu_same_file(const char *a, const char *b) {
    size_t na, nb;
    char *x = tu_slurp(a, &na), *y = tu_slurp(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

static cJSON *epoch_log(const char *path, cJSON **root) {
    char *text = tu_slurp(path, NULL);
    *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    cJSON *e = *root ? cJSON_GetObjectItem(*root, "epochs") : NULL;
    return cJSON_IsArray(e) ? e : NULL;
}

static double field(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItem(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1e300;
}

int tu_same_epoch_log(const char *a, const char *b, char *why, size_t cap) {
    cJSON *ra, *rb, *ea = epoch_log(a, &ra), *eb = epoch_log(b, &rb);
    int same = 0;
    snprintf(why, cap, "same");
    if (!ea || !eb) {
        snprintf(why, cap, "no epochs array in %s", ea ? b : a);
    } else if (cJSON_GetArraySize(ea) != cJSON_GetArraySize(eb)) {
        snprintf(why, cap, "%d vs %d epochs", cJSON_GetArraySize(ea), cJSON_GetArraySize(eb));
    } else {
        static const char *const KEYS[] = {"epoch", "loss", "test_accuracy"};
        same = 1;
        for (int i = 0; same && i < cJSON_GetArraySize(ea); i++)
            for (int k = 0; same && k < 3; k++) {
                double x = field(cJSON_GetArrayItem(ea, i), KEYS[k]);
                double y = field(cJSON_GetArrayItem(eb, i), KEYS[k]);
                if (x != y || x == -1e300) {
                    snprintf(why, cap, "entry %d: %s %.17g vs %.17g", i, KEYS[k], x, y);
                    same = 0;
                }
            }
    }
    cJSON_Delete(ra);
    cJSON_Delete(rb);
    return same;
}

/* ---- running foil as a child process (test_faults, test_hardening_*) ---- */

pid_t tu_spawn(const char *args, const char *log, long as_mb, uid_t uid) {
    char path[1024];
    tu_path(path, sizeof path, log);
    if (uid > 0) { /* the log must be writable by that user */
        FILE *f = fopen(path, "w");
        if (f) fclose(f);
        chmod(path, 0666);
    }
    const char *bin = getenv("FOIL_BIN");
    size_t cap = strlen(args) + strlen(path) + 1024;
    char *cmd = malloc(cap);
    if (!cmd) return -1;
    snprintf(cmd, cap, "exec '%s' %s >'%s' 2>&1 </dev/null", bin ? bin : "foil", args, path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (as_mb > 0) {
            struct rlimit rl = {(rlim_t)as_mb << 20, (rlim_t)as_mb << 20};
            if (setrlimit(RLIMIT_AS, &rl) != 0) _exit(126);
        }
        if (uid > 0 && (setgid((gid_t)uid) != 0 || setuid(uid) != 0)) _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    free(cmd);
    return pid;
}

int tu_wait(pid_t pid, struct rusage *ru) {
    int st;
    struct rusage own;
    if (pid <= 0 || wait4(pid, &st, 0, ru ? ru : &own) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void tu_read_log(const char *log, char *out, size_t cap) {
    char path[1024];
    tu_path(path, sizeof path, log);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = 0;
    if (f) fclose(f);
}

int tu_run_logged(const char *args, long as_mb, uid_t uid, char *out, size_t cap) {
    int code = tu_wait(tu_spawn(args, "log.txt", as_mb, uid), NULL);
    tu_read_log("log.txt", out, cap);
    return code;
}

int tu_one_line_error(const char *out, const char *w1, const char *w2) {
    /* "foil: note: ..." lines (auto falling back to the CPU) are not errors */
    while (strncmp(out, "foil: note: ", 12) == 0 && strchr(out, '\n')) out = strchr(out, '\n') + 1;
    const char *nl = strchr(out, '\n');
    return nl && nl[1] == 0 && strncmp(out, "foil: ", 6) == 0 && strstr(out, w1) &&
           (!w2 || strstr(out, w2));
}

int tu_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

void tu_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int tu_check_references(const char *html, const char *dir) {
    int images = 0;
    static const char *const ATTRS[] = {"src='", "href='"};
    for (int a = 0; a < 2; a++)
        for (const char *p = strstr(html, ATTRS[a]); p; p = strstr(p + 1, ATTRS[a])) {
            const char *v = p + strlen(ATTRS[a]), *end = strchr(v, '\'');
            char rel[1024], path[2048];
            if (!end || end - v >= (long)sizeof rel) continue;
            snprintf(rel, sizeof rel, "%.*s", (int)(end - v), v);
            if (rel[0] == '#') continue;
            snprintf(path, sizeof path, "%s/%s", dir, rel);
            TU_CHECK(!strstr(rel, "://"), "no network reference: %s", rel);
            TU_CHECK(tu_exists(path), "referenced file exists: %s", rel);
            images += a == 0;
        }
    TU_CHECK(!strstr(html, "src=\"") && !strstr(html, "href=\"http"), "all references checked");
    return images;
}
