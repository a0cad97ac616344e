/* Small test helpers shared by every tests/test_*.c: checks that count failures,
 * a per-test scratch folder, and running the foil CLI to check exit codes and
 * error lines. A test returns tu_finish() (0 all passed, 1 a check failed). */
#ifndef FOIL_TESTUTIL_H
#define FOIL_TESTUTIL_H

#include <stddef.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

typedef struct tu_state {
    int checks;
    int failures;
} tu_state;

extern tu_state tu;  /* per test executable; the only global, test code only */

#define TU_CHECK(cond, ...)                                                   \
    do {                                                                      \
        tu.checks++;                                                          \
        if (!(cond)) {                                                        \
            tu.failures++;                                                    \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fputc('\n', stderr);                                              \
        }                                                                     \
    } while (0)

/* Prints "N checks, M failures" and returns the process exit code. */
int tu_finish(const char *name);

/* Skips the whole test (exit 77) with a reason. */
void tu_skip(const char *reason);

/* The test's own scratch folder (created empty); path joined with name. */
const char *tu_tmpdir(void);
void tu_path(char *out, size_t cap, const char *name);

/* Writes bytes to a file under the scratch folder; returns the full path in out. */
void tu_write_file(char *out, size_t cap, const char *name, const void *data, size_t len);

/* Writes gzip-compressed bytes to a file (zlib); returns the path in out. */
void tu_write_gz(char *out, size_t cap, const char *name, const void *data, size_t len);

/* Runs the foil CLI with a shell-quoted argument string, e.g.
 * tu_run_foil("eval -m x.safetensors", err, sizeof err). Returns the exit code
 * (or 128+signal), and the last line the program wrote to stderr. */
int tu_run_foil(const char *args, char *stderr_last, size_t cap);

/* Path to the real MNIST folder, or NULL when it is not there. */
const char *tu_mnist_dir(void);

/* A whole file, malloc'd and NUL-terminated (NULL when unreadable); its
 * length in *len when len is not NULL. */
char *tu_slurp(const char *path, size_t *len);

/* Path of a file in the source tree, e.g. "configs/quickstart.yaml". */
void tu_source_path(char *out, size_t cap, const char *rel);

/* Rewrites one metadata value of a safetensors file (foil_st_write: the
 * same tensors and other metadata); 0 on success. */
int tu_set_meta(const char *path, const char *key, const char *value);

/* Whether two files hold the same bytes (both readable). */
int tu_same_file(const char *a, const char *b);

/* Whether two metrics.json files (foil train) log the same epochs: numbers,
 * losses and accuracies equal (times aside). The first difference in why. */
int tu_same_epoch_log(const char *a, const char *b, char *why, size_t cap);

/* Starts `foil ARGS` (a shell-quoted string) with stdout and stderr into the
 * scratch file log; as_mb > 0 caps its address space, uid > 0 runs it as
 * that user. The pid is foil's own (the shell execs it). */
pid_t tu_spawn(const char *args, const char *log, long as_mb, uid_t uid);
/* Waits for it: the exit status, 128 + the signal when killed; what it used
 * in ru (may be NULL; ru_maxrss is its peak resident memory in KiB). */
int tu_wait(pid_t pid, struct rusage *ru);
/* The scratch file log, whole (at most cap - 1 bytes). */
void tu_read_log(const char *log, char *out, size_t cap);
/* tu_spawn, tu_wait and the output in out (log.txt). */
int tu_run_logged(const char *args, long as_mb, uid_t uid, char *out, size_t cap);
/* Whether out is one line "foil: ..." holding w1 and w2 (w2 may be NULL),
 * after any "foil: note: ..." lines. */
int tu_one_line_error(const char *out, const char *w1, const char *w2);
int tu_exists(const char *path);
/* An HTML page's src='...' and href='...' (not anchors) each name a file
 * under dir and nothing points at the network (checked); the number of
 * images. */
int tu_check_references(const char *html, const char *dir);
void tu_sleep_ms(long ms);

#endif
