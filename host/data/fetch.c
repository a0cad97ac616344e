/* Fetching the four MNIST files into a folder, each verified against its
 * SHA-256 before it gets its final name: a copy or download goes to
 * "<dest>/<name>.tmp.<pid>", is fsync'd and hashed, and only then renamed, so a
 * reader never sees a partial or wrong file under the real name. Downloads run
 * curl (or wget) directly with fork/exec, no shell, so URLs are never parsed by
 * one. */
#include "foil/data.h"
#include "foil/fileio.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFILES 4
#define PATH_CAP 4096

static const char *const MNIST_FILES[NFILES] = {
    "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};

/* Tried in order when no source is given (yann.lecun.com no longer serves them). */
static const char *const MIRRORS[] = {"https://ossci-datasets.s3.amazonaws.com/mnist/",
                                      "https://storage.googleapis.com/cvdf-datasets/mnist/"};

/* "<a><sep><b>" into out, or an error if it does not fit. */
static int join(char *out, const char *a, const char *sep, const char *b, foil_err *err) {
    int n = snprintf(out, PATH_CAP, "%s%s%s", a, sep, b);
    if (n < 0 || n >= PATH_CAP) return foil_fail(err, "%s: path too long", a);
    return 0;
}

/* Parses one sha256sum line: 64 hex digits, a space, ' ' or '*' (binary
 * mode), the name. Stores the hash if the name is one of ours. */
static int parse_sum_line(char *line, char sums[NFILES][65]) {
    line[strcspn(line, "\r\n")] = 0;
    if (line[0] == 0 || line[0] == '#') return 0;
    for (int i = 0; i < 64; i++)
        if (!isxdigit((unsigned char)line[i])) return -1;
    if (line[64] != ' ' || (line[65] != ' ' && line[65] != '*') || line[66] == 0) return -1;
    for (int f = 0; f < NFILES; f++) {
        if (strcmp(line + 66, MNIST_FILES[f]) != 0) continue;
        for (int i = 0; i < 64; i++) sums[f][i] = (char)tolower((unsigned char)line[i]);
        sums[f][64] = 0;
    }
    return 0;
}

static int read_sums(const char *path, char sums[NFILES][65], foil_err *err) {
    FILE *f = foil_fopen_read(path, 0, err);
    if (!f) return -1;
    for (int i = 0; i < NFILES; i++) sums[i][0] = 0;
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        lineno++;
        if (parse_sum_line(line, sums) != 0)
            rc = foil_fail(err, "%s:%d: not a sha256sum line (\"<64 hex digits>  <name>\")",
                           path, lineno);
    }
    fclose(f);
    for (int i = 0; rc == 0 && i < NFILES; i++)
        if (!sums[i][0]) rc = foil_fail(err, "%s: no checksum for %s", path, MNIST_FILES[i]);
    return rc;
}

/* mkdir -p: creates each missing prefix of dir. */
static int mkdir_p(const char *dir, foil_err *err) {
    char buf[PATH_CAP];
    struct stat st;
    if (!dir[0]) return foil_fail(err, "fetch: empty destination folder name");
    if (join(buf, dir, "", "", err) != 0) return -1;
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char saved = *p;
        *p = 0;
        /* An existing folder may answer EACCES or EROFS rather than EEXIST. */
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) {
            int saved_errno = errno;
            if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
                return foil_fail(err, "%s: cannot create folder: %s", buf, strerror(saved_errno));
        }
        *p = saved;
        if (saved == 0) break;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return foil_fail(err, "%s: not a folder", dir);
    return 0;
}

static int fsync_path(const char *path, int flags, foil_err *err) {
    int fd = open(path, flags);
    if (fd < 0) return foil_fail(err, "%s: cannot open: %s", path, strerror(errno));
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    if (rc != 0) return foil_fail(err, "%s: fsync failed: %s", path, strerror(saved));
    return 0;
}

static int write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w, n -= (size_t)w;
    }
    return 0;
}

/* Copies src to a new file tmp and fsyncs it. */
static int copy_file(const char *src, const char *tmp, foil_err *err) {
    int in = foil_open_read(src, 0, err);
    if (in < 0) return -1;
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        close(in);
        return foil_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    }
    char buf[1 << 16];
    int rc = 0;
    for (;;) {
        ssize_t r = read(in, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) rc = foil_fail(err, "%s: read error: %s", src, strerror(errno));
        if (r <= 0) break;
        if (write_all(out, buf, (size_t)r) != 0) {
            rc = foil_fail(err, "%s: write error: %s", tmp, strerror(errno));
            break;
        }
    }
    if (rc == 0 && fsync(out) != 0)
        rc = foil_fail(err, "%s: fsync failed: %s", tmp, strerror(errno));
    if (close(out) != 0 && rc == 0)
        rc = foil_fail(err, "%s: close failed: %s", tmp, strerror(errno));
    close(in);
    return rc;
}

/* The last non-empty line of text, trimmed, into out ("" when none). */
static void last_line(const char *text, char *out, size_t cap) {
    const char *end = text + strlen(text);
    while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ')) end--;
    const char *start = end;
    while (start > text && start[-1] != '\n') start--;
    size_t n = (size_t)(end - start) < cap - 1 ? (size_t)(end - start) : cap - 1;
    memcpy(out, start, n);
    out[n] = 0;
}

/* Runs argv[0] (looked up in PATH) and returns its exit status; 127 when it
 * could not be executed, 128+signal when killed. What it writes on stderr
 * is kept (the last line in why), so that the caller's one line can give
 * the tool's own reason instead of the tool printing its own lines. */
static int run_tool(char *const argv[], char *why, size_t cap) {
    int fds[2];
    why[0] = 0;
    if (pipe(fds) != 0) return -1;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC); /* the tool gets the pipe as its stderr only */
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) dup2(null, 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    char text[4096] = "", buf[1024];
    size_t len = 0;
    for (;;) { /* keep the last bytes: the reason comes at the end */
        ssize_t r = read(fds[0], buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        if (len + (size_t)r >= sizeof text) {
            size_t drop = len + (size_t)r - (sizeof text - 1);
            drop = drop > len ? len : drop;
            memmove(text, text + drop, len - drop);
            len -= drop;
        }
        size_t take = (size_t)r < sizeof text - 1 - len ? (size_t)r : sizeof text - 1 - len;
        memcpy(text + len, buf + (size_t)r - take, take);
        len += take;
        text[len] = 0;
    }
    close(fds[0]);
    last_line(text, why, cap);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

/* Downloads url to tmp with curl, or with wget where curl is not installed;
 * a failure says why in the tool's words ("Could not resolve host: ..."). */
static int download(const char *url, const char *tmp, foil_err *err) {
    char *curl[] = {"curl", "-fsSL", "--retry", "2", "-o", (char *)tmp, (char *)url, NULL};
    char *wget[] = {"wget", "-nv", "--tries=3", "-O", (char *)tmp, (char *)url, NULL};
    const char *tool = "curl";
    char why[512];
    int st = run_tool(curl, why, sizeof why);
    if (st == 127) {
        tool = "wget";
        st = run_tool(wget, why, sizeof why);
    }
    if (st == 127) return foil_fail(err, "%s: neither curl nor wget could be run", url);
    const char *reason = strncmp(why, "curl: ", 6) == 0 ? why + 6 : why;
    if (st != 0)
        return foil_fail(err, "%s: %s exit status %d: %s", url, tool, st,
                         *reason ? reason : "download failed");
    return fsync_path(tmp, O_RDONLY, err);
}

/* Hashes tmp; on a match renames it to dest (then fsyncs the folder so the
 * rename survives a crash), otherwise removes it. `src` names the origin. */
static int verify_install(const char *tmp, const char *dest, const char *dir, const char *src,
                          const char *want, const char *sums_path, foil_err *err) {
    char got[65];
    if (foil_sha256_file(tmp, got, err) != 0) return -1;
    if (strcmp(got, want) != 0)
        return foil_fail(err, "%s: checksum mismatch: got sha256 %s, %s says %s", src, got,
                         sums_path, want);
    if (rename(tmp, dest) != 0)
        return foil_fail(err, "%s: cannot rename to %s: %s", tmp, dest, strerror(errno));
    return fsync_path(dir, O_RDONLY, err);
}

/* Copies or downloads one file from a source prefix into tmp, verifies it
 * and installs it as dest; tmp never outlives a failure. */
static int fetch_from(const char *from, const char *name, const char *dir, const char *dest,
                      const char *want, const char *sums_path, foil_err *err) {
    char src[PATH_CAP], tmp[PATH_CAP], pid[32];
    int url = !strncmp(from, "http://", 7) || !strncmp(from, "https://", 8) ||
              !strncmp(from, "file://", 7);
    size_t flen = strlen(from);
    const char *sep = flen && from[flen - 1] == '/' ? "" : "/";
    snprintf(pid, sizeof pid, ".tmp.%ld", (long)getpid());
    if (join(src, from, sep, name, err) != 0 || join(tmp, dest, "", pid, err) != 0) return -1;
    int rc = url ? download(src, tmp, err) : copy_file(src, tmp, err);
    if (rc == 0) rc = verify_install(tmp, dest, dir, src, want, sums_path, err);
    if (rc != 0) unlink(tmp);
    return rc;
}

static int fetch_one(const char *dir, const char *from, const char *name, const char *want,
                     const char *sums_path, foil_err *err) {
    char dest[PATH_CAP], have[65];
    if (join(dest, dir, "/", name, err) != 0) return -1;
    if (access(dest, F_OK) == 0) {
        if (foil_sha256_file(dest, have, err) == 0 && strcmp(have, want) == 0) {
            fprintf(stderr, "fetch: %s ... ok (cached)\n", name);
            return 0;
        }
        fprintf(stderr, "fetch: %s: existing file fails its checksum, fetching again\n", name);
    }
    int rc = -1;
    if (from) {
        rc = fetch_from(from, name, dir, dest, want, sums_path, err);
    } else {
        const size_t nm = sizeof MIRRORS / sizeof MIRRORS[0];
        for (size_t m = 0; rc != 0 && m < nm; m++) {
            rc = fetch_from(MIRRORS[m], name, dir, dest, want, sums_path, err);
            /* one line per mirror; the last one's reason ends the error */
            if (rc != 0 && m + 1 < nm)
                fprintf(stderr, "fetch: %s: %s\n", name, err ? err->msg : "failed");
        }
        if (rc != 0)
            foil_fail_prefix(err, "%s: no mirror worked (give --from DIR_OR_URL or FOIL_MIRROR); "
                                  "the last", dest);
    }
    if (rc == 0) fprintf(stderr, "fetch: %s ... ok\n", name);
    return rc;
}

int foil_data_fetch(const char *dest_dir, const char *from, const char *sums_path,
                    foil_err *err) {
    char sums[NFILES][65];
    if (read_sums(sums_path, sums, err) != 0 || mkdir_p(dest_dir, err) != 0) return -1;
    for (int i = 0; i < NFILES; i++)
        if (fetch_one(dest_dir, from, MNIST_FILES[i], sums[i], sums_path, err) != 0) return -1;
    return 0;
}
