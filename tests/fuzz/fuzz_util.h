/* Helpers shared by the libFuzzer targets in this folder (not library code):
 * a per-process scratch file for readers that only take a path, and the
 * checks every failed call must pass (a non-empty, one-line message). */
#ifndef FOIL_FUZZ_UTIL_H
#define FOIL_FUZZ_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "foil/error.h"

/* Stops the run with a message: libFuzzer reports the abort as a crash and
 * saves the input that caused it. */
#define FUZZ_CHECK(cond, ...)                                                 \
    do {                                                                      \
        if (!(cond)) {                                                        \
            fprintf(stderr, "fuzz check failed (%s:%d): ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
            abort();                                                          \
        }                                                                     \
    } while (0)

/* A failed library call must leave a non-empty one-line message. */
static inline void fuzz_check_err(const foil_err *err, const char *call) {
    FUZZ_CHECK(err->msg[0] != 0, "%s failed without a message", call);
    for (const char *p = err->msg; *p; p++)
        FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f,
                   "%s: message has control character 0x%02x: %s", call, (unsigned char)*p,
                   err->msg);
}

/* Scratch files live in /dev/shm when it is there (no disk I/O per run),
 * else in $TMPDIR or /tmp; the pid keeps parallel fuzzers (-jobs) apart. */
static inline void fuzz_tmp_path(char *out, size_t cap, const char *tag) {
    struct stat sb;
    const char *dir = getenv("TMPDIR");
    if (stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0)
        dir = "/dev/shm";
    else if (!dir || !*dir)
        dir = "/tmp";
    snprintf(out, cap, "%s/foil-fuzz-%s.%ld", dir, tag, (long)getpid());
}

/* Replaces the file's contents with data; aborts if that fails (a harness
 * problem, not a finding, but it must not pass silently). */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0, "harness: cannot create %s: %s", path, strerror(errno));
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        if (w < 0 && errno == EINTR) continue;
        FUZZ_CHECK(w > 0, "harness: cannot write %s: %s", path, strerror(errno));
        data += w;
        size -= (size_t)w;
    }
    FUZZ_CHECK(close(fd) == 0, "harness: cannot close %s: %s", path, strerror(errno));
}

#endif
