/* Stands in for libFuzzer in ordinary builds: runs a fuzz target's
 * LLVMFuzzerTestOneInput on every file of a corpus folder, so the seed corpus
 * and its regression inputs are checked by every ctest run (and under ASan by
 * scripts/sanitize.sh). A failed check in the target aborts, failing the test.
 * As libFuzzer's -rss_limit_mb does, a 2 GiB address-space limit (not under
 * ASan, which reserves more) makes an input that asks for gigabytes fail.
 *   replay_<target> CORPUS_DIR */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    uint8_t *buf = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
    int ok = buf && fread(buf, 1, (size_t)n, f) == (size_t)n;
    fclose(f);
    if (ok) LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
#if !defined(__SANITIZE_ADDRESS__) && !defined(FOIL_REPLAY_NO_LIMIT)
    struct rlimit rl = {(rlim_t)2 << 30, (rlim_t)2 << 30};
    setrlimit(RLIMIT_AS, &rl);
#endif
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "%s: cannot open the corpus folder\n", argv[1]);
        return 1;
    }
    struct dirent *e;
    int files = 0, bad = 0;
    char path[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
        if (run_file(path) != 0) {
            fprintf(stderr, "%s: cannot read\n", path);
            bad++;
        }
        files++;
    }
    closedir(d);
    printf("%s: %d inputs replayed, %d unreadable\n", argv[1], files, bad);
    return bad || files == 0 ? 1 : 0;
}
