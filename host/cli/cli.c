#include "cli.h"

#include "foil/backend.h"
#include "foil/fileio.h"
#include "foil/strbuf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int cli_value(int argc, char **argv, int *i, const char **out, foil_err *err) {
    if (*i + 1 >= argc) return foil_fail(err, "%s needs a value", argv[*i]);
    *out = argv[++*i];
    return 0;
}

int cli_common_option(cli_common *c, int argc, char **argv, int *i, foil_err *err) {
    const char *a = argv[*i], *v = NULL;
    if (strcmp(a, "--data") == 0 || strcmp(a, "--device") == 0 || strcmp(a, "--limit") == 0) {
        if (cli_value(argc, argv, i, &v, err)) return -1;
        if (a[2] == 'd' && a[3] == 'a') c->data = v;
        else if (a[2] == 'd') c->device = v;
        else {
            char *end;
            long n = strtol(v, &end, 10);
            if (*v == 0 || *end != 0 || n < 0 || n > 1L << 30)
                return foil_fail(err, "--limit: expected a count >= 0, got '%s'", v);
            c->limit = (int)n;
        }
        return 1;
    }
    if (strcmp(a, "--precision") == 0) {
        if (cli_value(argc, argv, i, &v, err)) return -1;
        if (strcmp(v, "fp32") != 0 && strcmp(v, "tf32") != 0)
            return foil_fail(err, "--precision: expected fp32 or tf32, got '%s'", v);
        c->precision = v;
        return 1;
    }
    if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
        c->quiet = 1;
        return 1;
    }
    return 0;
}

const char *cli_data_dir(const cli_common *c, const char *fallback) {
    if (c->data) return c->data;
    const char *env = getenv("FOIL_DATA");
    if (env && *env) return env;
    return fallback ? fallback : "data/raw/mnist";
}

int cli_mkdirs(const char *path, foil_err *err) {
    char buf[FOIL_PATH_MAX];
    if (foil_path(buf, err, "%s", path)) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return foil_fail(err, "%s: cannot create folder: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return foil_fail(err, "%s: cannot create folder: %s", buf, strerror(errno));
    struct stat sb;
    if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return foil_fail(err, "%s: not a folder", buf);
    return 0;
}

int cli_error(const foil_err *err) {
    fprintf(stderr, "foil: %s\n", err->msg);
    return CLI_EXIT_ERROR;
}

int cli_usage_error(const foil_err *err) {
    fprintf(stderr, "foil: %s\n", err->msg);
    return CLI_EXIT_USAGE;
}

int cli_take_override(cli_overrides *o, const char *arg, foil_err *err) {
    if (arg[0] == '-' || !strchr(arg, '=')) return 0;
    if (o->n >= CLI_MAX_OVERRIDES)
        return foil_fail(err, "too many key=value overrides (at most %d); put them in a config "
                              "file", CLI_MAX_OVERRIDES);
    o->v[o->n++] = arg;
    return 1;
}

int cli_apply_overrides(foil_config *cfg, const cli_overrides *o, foil_err *err) {
    for (int i = 0; i < o->n; i++)
        if (foil_config_override(cfg, o->v[i], err)) return -1;
    return 0;
}

/* Whether name[0, len) ends like a file foil writes: only such temporary
 * files are foil's to remove (a user's notes.tmp.2023 is not). */
static int foil_output_name(const char *name, size_t len) {
    static const char *const ENDS[] = {".safetensors", ".json", ".csv", ".yaml", ".png", ".md",
                                       ".html", "-idx3-ubyte", NULL};
    for (int i = 0; ENDS[i]; i++) {
        size_t k = strlen(ENDS[i]);
        if (len > k && memcmp(name + len - k, ENDS[i], k) == 0) return 1;
    }
    return 0;
}

/* Removes "<name>.tmp.<pid>" files of dead writers from one folder. */
static void clean_dir(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[FOIL_PATH_MAX];
    foil_err ignored;
    while (d && (e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp.");
        if (!t || t == e->d_name || !foil_output_name(e->d_name, (size_t)(t - e->d_name))) continue;
        char *end;
        long pid = strtol(t + 5, &end, 10);
        if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        struct stat sb;
        if (foil_path(path, &ignored, "%s/%s", dir, e->d_name) == 0 && lstat(path, &sb) == 0 &&
            S_ISREG(sb.st_mode))
            remove(path);
    }
    if (d) closedir(d);
}

void cli_clean_stale(const char *dir, const char *const *subs) {
    char sub[FOIL_PATH_MAX];
    foil_err ignored;
    clean_dir(dir);
    for (int i = 0; subs && subs[i]; i++)
        if (foil_path(sub, &ignored, "%s/%s", dir, subs[i]) == 0) clean_dir(sub);
}

int cli_out_open(const char *what, const char *dir, const char *const *subs, foil_err *err) {
    if (foil_check_outdir(what, dir, err) || cli_mkdirs(dir, err) || cli_lock_dir(dir, err))
        return -1;
    cli_clean_stale(dir, subs);
    return 0;
}

int cli_check_out_file(const char *option, const char *path, foil_err *err) {
    struct stat sb;
    if (!path || !*path) return foil_fail(err, "%s: empty file name", option);
    if (strlen(path) >= FOIL_PATH_MAX - 32)
        return foil_fail(err, "%s: %s: path too long (%zu bytes)", option, path, strlen(path));
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return foil_fail(err, "%s: %s is a folder, not a file", option, path);
    return 0;
}

const char *cli_checksums_path(void) {
    struct stat sb;
    if (stat("data/mnist.sha256", &sb) == 0) return "data/mnist.sha256";
    return FOIL_SOURCE_DIR "/data/mnist.sha256";
}

foil_backend *cli_backend_create(const char *device, int tf32, foil_err *err) {
    foil_err notice;
    foil_backend *b = foil_backend_create(device, &notice, err);
    if (b && notice.msg[0]) fprintf(stderr, "foil: note: %s\n", notice.msg);
    if (b && tf32 && b->set_precision(b, 1)) {
        foil_fail(err, "precision tf32: %s", b->err.msg);
        b->destroy(b);
        return NULL;
    }
    return b;
}

/* key=<value as a YAML scalar>: plain when it is safely plain, else quoted,
 * so that any path works. malloc'd; NULL when out of memory. */
static char *assignment(const char *key, const char *s) {
    int plain = *s != 0;
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("_./+~", *p) || (*p == '-' && p != s);
    foil_strbuf b = {0};
    foil_sb_put(&b, "%s=%s", key, plain ? s : "\"");
    for (const char *p = s; !plain && *p; p++) {
        if (*p == '"' || *p == '\\') foil_sb_append(&b, "\\", 1);
        foil_sb_append(&b, p, 1);
    }
    if (!plain) foil_sb_append(&b, "\"", 1);
    return foil_sb_take(&b);
}

int cli_set_string(foil_config *cfg, const char *key, const char *value, int replace,
                   foil_err *err) {
    char *a = assignment(key, value);
    if (!a) return foil_fail(err, "%s: out of memory", key);
    int rc = replace ? foil_config_replace(cfg, a, err) : foil_config_override(cfg, a, err);
    free(a);
    return rc;
}

int cli_override(foil_config *cfg, const char *key, const char *value, foil_err *err) {
    if (!value) return 0;
    foil_strbuf b = {0};
    foil_sb_put(&b, "%s=%s", key, value);
    char *a = foil_sb_take(&b);
    if (!a) return foil_fail(err, "%s: out of memory", key);
    int rc = foil_config_override(cfg, a, err);
    free(a);
    return rc;
}

int cli_apply_common(foil_config *cfg, const cli_common *c, const char *model,
                     const char *limit_key, foil_err *err) {
    const char *data = c->data ? c->data : getenv("FOIL_DATA");
    char limit[32];
    snprintf(limit, sizeof limit, "%d", c->limit);
    if ((model && cli_set_string(cfg, "model", model, 1, err)) ||
        (data && *data && cli_set_string(cfg, "data.dir", data, 0, err)))
        return -1;
    return cli_override(cfg, "device", c->device, err) ||
                   cli_override(cfg, "precision", c->precision, err) ||
                   cli_override(cfg, limit_key, c->limit ? limit : NULL, err)
               ? -1
               : 0;
}

int cli_lock_dir(const char *dir, foil_err *err) {
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/.lock", dir)) return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return foil_fail(err, "%s: cannot create: %s", path, strerror(errno));
    struct flock lk;
    memset(&lk, 0, sizeof lk);
    lk.l_type = F_WRLCK;
    lk.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
    if (fcntl(fd, F_SETLK, &lk) != 0) {
        int e = errno;
        close(fd);
        if (e == EACCES || e == EAGAIN)
            return foil_fail(err, "%s: another foil process is writing this folder", dir);
        return foil_fail(err, "%s: cannot lock: %s", path, strerror(e));
    }
    return 0;
}
