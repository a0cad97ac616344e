/* Optimizer state and checkpoints during training. Saving keeps the previous
 * optimizer state as train_state.prev.safetensors, writes the new state, then
 * the model, each atomically and both stamped with one save id (the step and
 * a SHA-256 of the parameters: another run's files do not match, and the
 * same run gives the same bytes); the previous state goes once the model is
 * written. A run killed anywhere in between leaves a model whose save id
 * matches one of the two states, and resuming picks that one (and makes it
 * the current state again): the pair is never mixed, even with the files of
 * another run in the folder. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "foil/checkpoint.h"
#include "foil/model_def.h"
#include "foil/strbuf.h"
#include "foil/hash.h"
#include "train_state.h"

typedef struct ckpt_paths {
    char model[FOIL_PATH_MAX], state[FOIL_PATH_MAX], prev[FOIL_PATH_MAX];
} ckpt_paths;

static int paths(const char *outdir, ckpt_paths *p, foil_err *err) {
    return foil_path(p->model, err, "%s/model.safetensors", outdir) ||
                   foil_path(p->state, err, "%s/train_state.safetensors", outdir) ||
                   foil_path(p->prev, err, "%s/train_state.prev.safetensors", outdir)
               ? -1
               : 0;
}

/* The save id of a checkpoint or state file ("step:N" for files from before
 * save ids); -1 when unreadable (corrupt included), unstamped or with an id
 * too long to be foil's. */
static int file_stamp(const char *path, char *out, size_t cap) {
    foil_safetensors st;
    foil_err e;
    if (foil_st_read(path, &st, &e)) return -1;
    const char *id = foil_st_meta(&st, "save_id"), *step = foil_st_meta(&st, "step");
    int n = id ? snprintf(out, cap, "%s", id) : step ? snprintf(out, cap, "step:%s", step) : -1;
    foil_st_free(&st);
    return n >= 0 && (size_t)n < cap ? 0 : -1;
}

/* The state file saved together with the model, or NULL. */
static const char *matching_state(const char *model, const char *state, const char *prev) {
    char want[128], have[128];
    if (file_stamp(model, want, sizeof want)) return NULL;
    if (file_stamp(state, have, sizeof have) == 0 && strcmp(have, want) == 0) return state;
    if (file_stamp(prev, have, sizeof have) == 0 && strcmp(have, want) == 0) return prev;
    return NULL;
}

int foil_train_can_resume(const char *outdir) {
    ckpt_paths p;
    foil_err e;
    return paths(outdir, &p, &e) == 0 && matching_state(p.model, p.state, p.prev) != NULL;
}

/* The finished epochs as text, one line each: "epoch loss accuracy seconds
 * robust guard" (%.17g: the numbers read back exactly; nan where adversarial
 * training measured nothing). malloc'd; NULL when out of memory. */
static char *history_text(const foil_train_result *res) {
    size_t cap = 160 * (size_t)res->epochs_logged + 1, len = 0;
    char *t = malloc(cap);
    if (!t) return NULL;
    t[0] = 0;
    for (int i = 0; i < res->epochs_logged; i++)
        len += (size_t)snprintf(t + len, cap - len, "%d %.17g %.17g %.17g %.17g %.17g\n",
                                res->first_epoch + i, res->epoch_loss[i], res->epoch_accuracy[i],
                                res->epoch_seconds[i], res->epoch_robust[i], res->epoch_guard[i]);
    return t;
}

/* Reads history_text back into res (lines of four numbers, from before
 * adversarial training, read with robust and guard NaN): a run of
 * consecutive epochs ending at `done` (the last finished one). A run that
 * starts after epoch 1 (the state came from before the history was kept,
 * then was resumed) is kept as it is; anything else (edited, garbled)
 * leaves the log empty from done + 1. */
static void history_load(const char *text, int done, foil_train_result *res) {
    const int cap = (int)(sizeof res->epoch_loss / sizeof res->epoch_loss[0]);
    int n = 0, first = 0;
    const char *p = text;
    res->first_epoch = done + 1;
    res->epochs_logged = 0;
    while (p && *p && n < cap) {
        char line[256];
        size_t len = strcspn(p, "\n");
        if (len >= sizeof line) return;
        memcpy(line, p, len);
        line[len] = 0;
        int e, got;
        double l, a, s, rb = NAN, g = NAN;
        got = sscanf(line, "%d %lf %lf %lf %lf %lf", &e, &l, &a, &s, &rb, &g);
        if (got != 4 && got != 6) return;
        if (n == 0) first = e;
        if (e != first + n || e < 1 || e > done) return;
        res->epoch_loss[n] = l, res->epoch_accuracy[n] = a, res->epoch_seconds[n] = s;
        res->epoch_robust[n] = rb, res->epoch_guard[n] = g;
        n++;
        p += len;
        while (*p == '\n' || *p == ' ') p++;
    }
    if (n > 0 && first + n - 1 == done && !(p && *p)) {
        res->first_epoch = first;
        res->epochs_logged = n;
    }
}

/* Whether text is a whole decimal integer in [lo, hi] (its value in *out). */
static int meta_int(const char *text, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = text ? strtol(text, &end, 10) : 0;
    if (!text || end == text || *end || errno || v < lo || v > hi) return 0;
    if (out) *out = v;
    return 1;
}

/* The guard's best parameters and epoch, when the state has them and the
 * caller keeps a guard (buf: room for nparams floats). */
static int load_guard(train_state *ts, foil_net *net, const foil_safetensors *st,
                      const char *path, float *buf, foil_err *err) {
    const foil_st_tensor *g = foil_st_find(st, "guard_best");
    const char *epoch = foil_st_meta(st, "guard_epoch");
    long e;
    ts->guard_epoch = 0;
    if (!ts->guard_best || !g || !epoch) return 0;
    if (g->count != net->model->nvalues || g->i32 || !meta_int(epoch, 1, ts->epoch, &e))
        return foil_fail(err, "%s: corrupt guard state (epoch '%s'); cannot resume", path, epoch);
    foil_model_unpack(net->model, buf, g->data);
    if (net->b->upload(net->b, ts->guard_best, buf, net->model->nparams * sizeof(float)))
        return foil_fail(err, "%s", net->b->err.msg);
    ts->guard_epoch = (int)e;
    return 0;
}

static int load_state(train_state *ts, foil_net *net, const char *path, foil_train_result *res,
                      foil_err *err) {
    foil_safetensors st;
    if (foil_st_read(path, &st, err)) return -1;
    int rc = -1;
    foil_backend *b = net->b;
    const foil_st_tensor *m = foil_st_find(&st, "m"), *v = foil_st_find(&st, "v");
    const char *epoch = foil_st_meta(&st, "epoch"), *step = foil_st_meta(&st, "step");
    const char *epoch_step = foil_st_meta(&st, "epoch_step");
    const char *batch = foil_st_meta(&st, "batch_size"), *seed = foil_st_meta(&st, "seed");
    /* the moments are saved in file order (the tensors packed, as the
     * model's parameters are), and padded back for the buffer */
    const foil_model *md = net->model;
    size_t n = md->nvalues, nb = md->nparams;
    float *buf = malloc(sizeof(float) * (2 * nb + 1));
    if (!buf) {
        foil_fail(err, "%s: out of memory", path);
    } else if (!m || !v || !epoch || !step || m->count != n || v->count != n || m->i32 ||
               v->i32) {
        foil_fail(err, "%s: not a training state for this model", path);
    } else if ((foil_model_unpack(md, buf, m->data), foil_model_unpack(md, buf + nb, v->data),
                b->upload(b, ts->m, buf, nb * sizeof(float))) ||
               b->upload(b, ts->v, buf + nb, nb * sizeof(float))) {
        foil_fail(err, "%s", b->err.msg);
    } else if (!meta_int(epoch, 0, FOIL_MAX_EPOCHS, NULL) || !meta_int(step, 0, LONG_MAX, NULL) ||
               (epoch_step && !meta_int(epoch_step, 0, INT_MAX, NULL)) ||
               (batch && !meta_int(batch, 1, INT_MAX, NULL))) {
        foil_fail(err, "%s: corrupt training state (epoch '%s', epoch_step '%s', step '%s'); "
                  "cannot resume", path, epoch, epoch_step ? epoch_step : "", step);
    } else {
        ts->epoch = atoi(epoch);
        ts->step = atol(step);
        ts->epoch_step = epoch_step ? atoi(epoch_step) : 0;
        ts->saved_batch = batch ? atoi(batch) : 0;
        ts->saved_seed = seed ? strtoull(seed, NULL, 10) : 0;
        ts->saved = 1, ts->saved_epoch = ts->epoch, ts->saved_epoch_step = ts->epoch_step;
        const char *ls = foil_st_meta(&st, "epoch_loss_sum");
        const char *secs = foil_st_meta(&st, "epoch_seconds");
        /* NaN: a mid-epoch state from before the loss sum was saved */
        ts->part_loss_sum = !ts->epoch_step ? 0.0 : ls ? strtod(ls, NULL) : NAN;
        ts->part_seconds = ts->epoch_step && secs ? strtod(secs, NULL) : 0.0;
        history_load(foil_st_meta(&st, "history"), ts->epoch, res);
        rc = load_guard(ts, net, &st, path, buf, err);
    }
    free(buf);
    foil_st_free(&st);
    return rc;
}

/* What the checkpoint was trained with: meta[0] its step, meta[1] its
 * resolved config, meta[2] the changes earlier resumes accepted, meta[3]
 * the epoch after which the guard stopped it. */
enum { META_STEP, META_CONFIG, META_CHANGES, META_GUARD, META_COUNT };

/* Loads the parameters (the definition must be the config's) and meta. */
static int load_model(foil_net *net, const char *path, char *meta[META_COUNT], foil_err *err) {
    static const char *const KEYS[] = {"step", "config", "resume_changes", "guard_stopped", NULL};
    foil_model m;
    float *params;
    if (foil_model_load_meta(path, &m, &params, KEYS, meta, err)) return -1;
    char *a = foil_model_def_to_yaml(&m.def), *b = foil_model_def_to_yaml(&net->model->def);
    int rc = -1;
    if (!a || !b || strcmp(a, b) != 0)
        foil_fail(err, "%s: the checkpoint's model differs from the config's; cannot resume", path);
    else if (!meta[META_STEP])
        foil_fail(err, "%s: no step in the metadata; cannot resume", path);
    else if (net->b->upload(net->b, net->params, params, m.nparams * sizeof(float)))
        foil_fail(err, "%s", net->b->err.msg);
    else
        rc = 0;
    free(a);
    free(b);
    free(params);
    return rc;
}

/* Why no state matches the model: a state file that is there but does not
 * read (corrupt) says so; otherwise it is missing or from another save. */
static int no_state(const ckpt_paths *pa, const char *step, foil_err *err) {
    foil_safetensors st;
    foil_err why;
    struct stat sb;
    if (stat(pa->state, &sb) == 0) {
        if (foil_st_read(pa->state, &st, &why) != 0)
            return foil_fail(err, "%s; cannot resume from it", why.msg);
        foil_st_free(&st);
    }
    return foil_fail(err, "%s: no optimizer state saved with it (step %s; %s is missing or from "
                          "another save); cannot resume", pa->model, step, pa->state);
}

/* The recipe must be the one the checkpoint was trained with, unless the
 * caller allows changes: those are then recorded (after earlier ones). */
static int check_recipe(train_state *ts, const ckpt_paths *pa, char *meta[META_COUNT],
                        const foil_train_options *opt, foil_err *err) {
    char *changes = NULL;
    if (!meta[META_CONFIG] || !opt->resolved_config) return 0; /* nothing to compare */
    if (foil_recipe_changes(meta[META_CONFIG], opt->resolved_config, &changes, err))
        return foil_fail_prefix(err, "%s: comparing the recipes", pa->model);
    int rc = 0;
    if (*changes && !opt->allow_changes) {
        rc = foil_fail(err, "%s: the recipe differs from the one it was trained with (%s); "
                            "resume with the same values, or add --allow-changes to continue "
                            "anyway (recorded in the checkpoint)", pa->model, changes);
    } else if (*changes) {
        foil_strbuf b = {0};
        const char *before = meta[META_CHANGES];
        foil_sb_put(&b, "%s%sfrom epoch %d step %d: %s", before ? before : "",
                    before ? "; " : "", ts->epoch + 1, ts->epoch_step, changes);
        if (!(ts->changes = foil_sb_take(&b))) rc = foil_fail(err, "out of memory");
    } else if (meta[META_CHANGES] && !(ts->changes = strdup(meta[META_CHANGES]))) {
        rc = foil_fail(err, "out of memory");
    }
    free(changes);
    return rc;
}

int train_state_init(train_state *ts, foil_net *net, const foil_recipe *r,
                     const foil_train_options *opt, foil_train_result *res, float *guard_best,
                     foil_err *err) {
    memset(ts, 0, sizeof *ts);
    ts->guard_best = guard_best;
    size_t n = net->model->nparams;
    ts->m = foil_alloc_floats(net->b, n);
    ts->v = foil_alloc_floats(net->b, n);
    if (!ts->m || !ts->v) return foil_fail(err, "%s", net->b->err.msg);
    res->first_epoch = 1, res->epochs_logged = 0;
    if (!opt->resume) return 0;
    ckpt_paths pa;
    char *meta[META_COUNT] = {NULL};
    if (paths(opt->outdir, &pa, err) || load_model(net, pa.model, meta, err)) return -1;
    const char *use = matching_state(pa.model, pa.state, pa.prev);
    int rc = meta[META_GUARD]
                 ? foil_fail(err, "%s: the overfitting guard stopped this run after epoch %s "
                                  "and kept its best epoch's weights; it is finished, nothing to "
                                  "resume", pa.model, meta[META_GUARD])
             : !use ? no_state(&pa, meta[META_STEP], err)
                    : load_state(ts, net, use, res, err) || check_recipe(ts, &pa, meta, opt, err);
    for (int i = 0; i < META_COUNT; i++) free(meta[i]);
    if (rc) return -1;
    /* the pair is model + train_state again, so the next save keeps the right one */
    if (use == pa.prev && rename(pa.prev, pa.state) != 0)
        return foil_fail(err, "%s: cannot restore it as %s: %s", pa.prev, pa.state,
                         strerror(errno));
    /* the rest of an epoch is only the same with the same batches */
    if (ts->epoch_step > 0 && ts->saved_batch &&
        (ts->saved_batch != r->batch_size || ts->saved_seed != r->seed))
        return foil_fail(err, "%s: saved in the middle of epoch %d with batch_size %d and seed "
                         "%llu; resume it with the same values (now %d and %llu)", pa.model,
                         ts->epoch + 1, ts->saved_batch, (unsigned long long)ts->saved_seed,
                         r->batch_size, (unsigned long long)r->seed);
    return 0;
}

int train_state_step(train_state *ts, foil_net *net, const foil_recipe *r, double lr,
                     foil_err *err) {
    foil_backend *b = net->b;
    size_t n = net->model->ntrain; /* the buffers after it are not stepped */
    int rc;
    if (r->optimizer == FOIL_OPT_SGD) {
        foil_sgd_hparams hp = {(float)lr, (float)r->momentum, (float)r->weight_decay,
                               r->nesterov};
        rc = b->sgd_step(b, net->params, ts->m, net->grads, n, &hp);
    } else {
        foil_adam_hparams hp = {(float)lr, (float)r->beta1, (float)r->beta2, (float)r->eps,
                                (float)r->weight_decay, (int)(ts->step + 1)};
        rc = b->adam_step(b, net->params, ts->m, ts->v, net->grads, n, &hp);
    }
    return rc ? foil_fail(err, "%s", b->err.msg) : 0;
}

int train_state_save(train_state *ts, foil_net *net, const foil_recipe *r,
                     const foil_train_options *opt, const foil_train_result *res,
                     foil_err *err) {
    /* p: the parameter buffer (padding included, for foil_model_save);
     * m and v: the moments packed in file order, as load_state reads them */
    const foil_model *md = net->model;
    size_t nb = md->nparams, n = md->nvalues;
    const int guard = ts->guard_best && ts->guard_epoch > 0;
    float *host = malloc((3 * nb + 2 * n + (guard ? nb + n : 0)) * sizeof(float) + 1);
    char *history = history_text(res);
    if (!host || !history) {
        free(host);
        free(history);
        return foil_fail(err, "out of memory saving the checkpoint");
    }
    float *p = host, *mb = host + nb, *vb = host + 2 * nb, *m = host + 3 * nb, *v = m + n;
    foil_backend *b = net->b;
    int rc = -1;
    if (b->download(b, p, net->params, nb * sizeof(float)) ||
        b->download(b, mb, ts->m, nb * sizeof(float)) ||
        b->download(b, vb, ts->v, nb * sizeof(float))) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    foil_model_pack(md, m, mb);
    foil_model_pack(md, v, vb);
    float *gb = guard ? v + n : NULL, *g = guard ? gb + nb : NULL; /* padded, then packed */
    if (guard && b->download(b, gb, ts->guard_best, nb * sizeof(float))) {
        foil_fail(err, "%s", b->err.msg);
        goto done;
    }
    if (guard) foil_model_pack(md, g, gb);
    ckpt_paths pa;
    char epoch[32], epoch_step[32], step[32], acc[32], seed[32], batch[32], id[96];
    char gepoch[32], stopped[32];
    char loss_sum[40], secs[40];
    char sha[FOIL_SHA256_HEX];
    if (paths(opt->outdir, &pa, err) || foil_model_params_sha256(md, p, sha, err))
        goto done;
    snprintf(id, sizeof id, "%ld-%.32s", ts->step, sha);
    snprintf(batch, sizeof batch, "%d", r->batch_size);
    snprintf(epoch, sizeof epoch, "%d", ts->epoch);
    snprintf(epoch_step, sizeof epoch_step, "%d", ts->epoch_step);
    snprintf(step, sizeof step, "%ld", ts->step);
    /* the accuracy of the last finished epoch (NaN before the first); after
     * the guard fired, that of the weights it kept */
    double last = res->epochs_logged ? res->epoch_accuracy[res->epochs_logged - 1] : NAN;
    snprintf(acc, sizeof acc, "%.6f", res->guard_fired ? res->test_accuracy : last);
    snprintf(gepoch, sizeof gepoch, "%d", ts->guard_epoch);
    snprintf(stopped, sizeof stopped, "%d", res->guard_epoch);
    snprintf(loss_sum, sizeof loss_sum, "%.17g", ts->part_loss_sum);
    snprintf(secs, sizeof secs, "%.17g", ts->part_seconds);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    foil_st_entry e[3] = {{"m", 1, {(int64_t)n}, m, 0}, {"v", 1, {(int64_t)n}, v, 0},
                          {"guard_best", 1, {(int64_t)n}, g, 0}};
    const char *smeta[] = {"epoch", epoch, "epoch_step", epoch_step, "step", step,
                           "save_id", id, "batch_size", batch, "seed", seed,
                           "epoch_loss_sum", loss_sum, "epoch_seconds", secs,
                           "history", history, "guard_epoch", gepoch, "guard_stopped", stopped};
    const int nsmeta = 9 + guard + (guard && res->guard_fired);
    if (rename(pa.state, pa.prev) != 0 && errno != ENOENT) {
        foil_fail(err, "%s: cannot keep it as %s: %s", pa.state, pa.prev, strerror(errno));
        goto done;
    }
    if (foil_st_write(pa.state, e, guard ? 3 : 2, smeta, nsmeta, err)) goto done;
    const char *mmeta[] = {"epoch", epoch, "epoch_step", epoch_step, "step", step,
                           "save_id", id, "test_accuracy", acc, "seed", seed,
                           "config", opt->resolved_config ? opt->resolved_config : "",
                           "foil_version", FOIL_VERSION, "guard_stopped", stopped,
                           "resume_changes", ts->changes};
    /* guard_stopped only when it fired; resume_changes only when there are some */
    const char *const *mm = mmeta;
    const char *mcopy[20];
    int nm = 0;
    for (int i = 0; i < 10; i++) {
        if ((i == 8 && !res->guard_fired) || (i == 9 && !ts->changes)) continue;
        mcopy[2 * nm] = mm[2 * i], mcopy[2 * nm + 1] = mm[2 * i + 1], nm++;
    }
    rc = foil_model_save(pa.model, net->model, p, mcopy, nm, err);
    if (rc == 0) {
        ts->saved = 1, ts->saved_epoch = ts->epoch, ts->saved_epoch_step = ts->epoch_step;
        remove(pa.prev);
    }
done:
    free(host);
    free(history);
    return rc;
}

void train_state_free(train_state *ts, foil_backend *b) {
    b->free(b, ts->m);
    b->free(b, ts->v);
    free(ts->changes);
    ts->m = ts->v = NULL;
    ts->changes = NULL;
}
