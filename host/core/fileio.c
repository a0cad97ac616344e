/* Paths, names, reading regular files and the atomic write: see
 * include/foil/fileio.h. */
#include "foil/fileio.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- paths */

int foil_path(char out[FOIL_PATH_MAX], foil_err *err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, FOIL_PATH_MAX, fmt, ap);
    va_end(ap);
    if (n >= 0 && n < FOIL_PATH_MAX) return 0;
    if (n < 0) {
        out[0] = 0;
        return foil_fail(err, "cannot format a path");
    }
    /* out holds the first FOIL_PATH_MAX - 1 bytes: enough to show where */
    foil_fail(err, "%s...: path too long (%d bytes, at most %d)", out, n, FOIL_PATH_MAX - 1);
    out[0] = 0; /* never usable by mistake */
    return -1;
}

int foil_check_outdir(const char *what, const char *dir, foil_err *err) {
    if (!dir || !*dir) return foil_fail(err, "%s: empty folder name", what);
    size_t n = strlen(dir), most = FOIL_PATH_MAX - FOIL_PATH_ROOM - 1;
    if (n > most)
        return foil_fail(err, "%s: %s: folder path too long (%zu bytes; at most %zu, to leave "
                              "room for the files foil writes in it)", what, dir, n, most);
    return 0;
}

int foil_check_name(const char *key, const char *name, foil_err *err) {
    size_t n = strlen(name);
    int ok = n > 0 && n < FOIL_NAME_MAX && name[0] != '.';
    for (const char *p = name; *p && ok; p++)
        ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
             *p == '_' || *p == '-' || *p == '+' || *p == '.';
    if (ok) return 0;
    return foil_fail(err, "%s: '%s' cannot be part of a file name (1 to %d letters, digits, "
                          "'_', '-', '+' or '.', not starting with '.')", key, name,
                     FOIL_NAME_MAX - 1);
}

/* ---------------------------------------------------------------- reading */

static const char *file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a folder";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a plain file";
}

int foil_open_read(const char *path, int flags, foil_err *err) {
    if (!path || !*path) return foil_fail(err, "empty file name");
    if ((flags & FOIL_READ_STDIN) && (!strcmp(path, "-") || !strcmp(path, "/dev/stdin"))) {
        int fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) return foil_fail(err, "%s: cannot read standard input: %s", path, strerror(errno));
        return fd;
    }
    /* O_NONBLOCK: opening a FIFO must not wait for a writer before the check */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return foil_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return foil_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return foil_fail(err, "%s: not a regular file (%s)", path, file_kind(sb.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return foil_fail(err, "%s: cannot open: %s", path, strerror(e));
    }
    return fd;
}

FILE *foil_fopen_read(const char *path, int flags, foil_err *err) {
    int fd = foil_open_read(path, flags, err);
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        foil_fail(err, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
    }
    return f;
}

/* ---------------------------------------------------------------- atomic write */

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) { /* should not happen for regular files; avoid spinning */
            errno = EIO;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Without syncing the folder, a crash right after rename can lose the new name. */
static int sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else dir = strndup(path, (size_t)(slash - path));
    if (!dir) return -1;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e == EINVAL) return 0; /* folder fsync unsupported here: nothing to do */
    errno = e;
    return rc;
}

static int write_parts_special(const char *path, const foil_part *parts, int nparts,
                               foil_err *err) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return foil_fail(err, "%s: cannot open for writing: %s", path, strerror(errno));
    int ok = 1;
    for (int i = 0; i < nparts && ok; i++) ok = write_all(fd, parts[i].data, parts[i].len) == 0;
    int e = errno;
    if (close(fd) != 0 && ok) ok = 0, e = errno;
    return ok ? 0 : foil_fail(err, "%s: write failed: %s", path, strerror(e));
}

int foil_write_parts_atomic(const char *path, const foil_part *parts, int nparts, foil_err *err) {
    if (!path || !*path) return foil_fail(err, "empty output file name");
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        if (S_ISDIR(sb.st_mode)) return foil_fail(err, "%s: is a folder, not a file", path);
        return write_parts_special(path, parts, nparts, err);
    }
    size_t cap = strlen(path) + 32;
    char *tmp = malloc(cap);
    if (!tmp) return foil_fail(err, "%s: out of memory", path);
    snprintf(tmp, cap, "%s.tmp.%ld", path, (long)getpid());
    unlink(tmp); /* only a dead process with our pid can have left it */

    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        foil_fail(err, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    const char *step = "write";
    int ok = 1;
    for (int i = 0; i < nparts && ok; i++) ok = write_all(fd, parts[i].data, parts[i].len) == 0;
    if (ok) {
        step = "fsync";
        ok = fsync(fd) == 0;
    }
    int e = errno;
    /* close can report deferred write errors (NFS, quota), so its result counts */
    if (close(fd) != 0 && ok) {
        step = "close";
        ok = 0;
        e = errno;
    }
    if (ok) {
        step = "rename";
        ok = rename(tmp, path) == 0;
        e = errno;
    }
    if (!ok) {
        unlink(tmp);
        free(tmp);
        return foil_fail(err, "%s: %s failed: %s", path, step, strerror(e));
    }
    free(tmp);
    /* The new file is in place; a failure here only means it may not be durable. */
    if (sync_parent_dir(path) != 0)
        return foil_fail(err, "%s: written, but fsync of its folder failed: %s", path,
                         strerror(errno));
    return 0;
}

int foil_write_file_atomic(const char *path, const void *data, size_t len, foil_err *err) {
    foil_part p = {data, len};
    return foil_write_parts_atomic(path, &p, 1, err);
}

int foil_write_json_atomic(const char *path, const struct cJSON *json, foil_err *err) {
    char *text = cJSON_Print(json);
    if (!text) return foil_fail(err, "%s: out of memory formatting JSON", path);
    int rc = foil_write_file_atomic(path, text, strlen(text), err);
    cJSON_free(text);
    return rc;
}
