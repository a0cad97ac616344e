/* foil run: RUNDIR/state.json, what each finished step was computed from.
 * A step is recorded only after all its outputs are written, and forgotten
 * before it starts again, so an interrupted step is never taken as done. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "foil/fileio.h"
#include "run.h"

int run_file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int run_files_exist(const char *rundir, const char *const *names) {
    char path[FOIL_PATH_MAX];
    foil_err e;
    for (int i = 0; names[i]; i++)
        if (foil_path(path, &e, "%s/%s", rundir, names[i]) || !run_file_exists(path)) return 0;
    return 1;
}

char *run_read_text(const char *path) {
    foil_err e;
    FILE *f = foil_fopen_read(path, 0, &e);
    if (!f) return NULL;
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n >= 0 && n < (64L << 20) && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)n + 1))) {
        if (fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        } else {
            buf[n] = 0;
        }
    }
    fclose(f);
    return buf;
}

/* A missing or unreadable state.json is an empty one: every step runs. */
int run_state_load(run_state *s, const char *rundir, foil_err *err) {
    if (foil_path(s->path, err, "%s/state.json", rundir)) return -1;
    char *text = run_read_text(s->path);
    s->root = text ? cJSON_Parse(text) : NULL;
    free(text);
    if (s->root && !cJSON_IsObject(cJSON_GetObjectItem(s->root, "steps"))) {
        cJSON_Delete(s->root);
        s->root = NULL;
    }
    if (!s->root) {
        s->root = cJSON_CreateObject();
        if (!s->root || !cJSON_AddObjectToObject(s->root, "steps"))
            return foil_fail(err, "out of memory");
    }
    return 0;
}

static cJSON *step_entry(const run_state *s, const char *step) {
    return cJSON_GetObjectItem(cJSON_GetObjectItem(s->root, "steps"), step);
}

int run_state_matches(const run_state *s, const char *step, const char *fingerprint) {
    const char *fp = cJSON_GetStringValue(cJSON_GetObjectItem(step_entry(s, step), "fingerprint"));
    return fp && strcmp(fp, fingerprint) == 0;
}

double run_state_seconds(const run_state *s, const char *step) {
    cJSON *v = cJSON_GetObjectItem(step_entry(s, step), "seconds");
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

/* The device of the latest step that recorded one. */
const char *run_state_device(const run_state *s) {
    static const char *const ORDER[] = {"shift", "explain", "sweep", "eval", "train"};
    for (int i = 0; i < 5; i++) {
        const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(step_entry(s, ORDER[i]), "device"));
        if (d && *d) return d;
    }
    return NULL;
}

static int save(run_state *s, foil_err *err) {
    return foil_write_json_atomic(s->path, s->root, err);
}

int run_state_forget(run_state *s, const char *step, foil_err *err) {
    cJSON *steps = cJSON_GetObjectItem(s->root, "steps");
    if (!cJSON_GetObjectItem(steps, step)) return 0;
    cJSON_DeleteItemFromObject(steps, step);
    return save(s, err);
}

int run_state_record(run_state *s, const char *step, const char *fingerprint, double seconds,
                     const char *device, foil_err *err) {
    cJSON *steps = cJSON_GetObjectItem(s->root, "steps"), *e = cJSON_CreateObject();
    if (!e) return foil_fail(err, "out of memory");
    cJSON_DeleteItemFromObject(steps, step);
    cJSON_AddItemToObject(steps, step, e);
    if (!cJSON_AddStringToObject(e, "fingerprint", fingerprint) ||
        !cJSON_AddNumberToObject(e, "seconds", seconds) ||
        !cJSON_AddStringToObject(e, "device", device ? device : ""))
        return foil_fail(err, "out of memory");
    return save(s, err);
}

void run_state_free(run_state *s) {
    cJSON_Delete(s->root);
    s->root = NULL;
}

void run_clean_stale(const char *rundir) {
    static const char *const SUB[] = {"sweep", "sweep/examples", "sweep/adversarial",
                                      "explain", "shift", "shift/shift", NULL};
    cli_clean_stale(rundir, SUB);
}
