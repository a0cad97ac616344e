#include "cli.h"

#include "foil/backend.h"

#include <errno.h>
#include <fcntl.h>
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
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return foil_fail(err, "%s: path too long", path);
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
    return 1;
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

/* A scalar for an override: plain when it is safely plain, else quoted. */
static void yaml_scalar(char *out, size_t cap, const char *s) {
    int plain = *s != 0;
    for (const char *p = s; *p && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                strchr("_./+~", *p) || (*p == '-' && p != s);
    if (plain) {
        snprintf(out, cap, "%s", s);
        return;
    }
    size_t n = 0;
    if (cap < 3) return;
    out[n++] = '"';
    for (; *s && n + 3 < cap; s++) {
        if (*s == '"' || *s == '\\') out[n++] = '\\';
        out[n++] = *s;
    }
    out[n++] = '"';
    out[n] = 0;
}

int cli_set_string(foil_config *cfg, const char *key, const char *value, int replace,
                   foil_err *err) {
    char v[2200], buf[2400];
    yaml_scalar(v, sizeof v, value);
    if (snprintf(buf, sizeof buf, "%s=%s", key, v) >= (int)sizeof buf)
        return foil_fail(err, "%s: value too long", key);
    return replace ? foil_config_replace(cfg, buf, err) : foil_config_override(cfg, buf, err);
}

int cli_override(foil_config *cfg, const char *key, const char *value, foil_err *err) {
    if (!value) return 0;
    char buf[2200];
    if (snprintf(buf, sizeof buf, "%s=%s", key, value) >= (int)sizeof buf)
        return foil_fail(err, "%s: value too long", key);
    return foil_config_override(cfg, buf, err);
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
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
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
