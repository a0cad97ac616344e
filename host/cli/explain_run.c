/* foil explain: choosing the images, opening the model and data, and running
 * the batches. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "foil/clock.h"
#include "explain_run.h"

/* Images the config asks for when known before loading (0: all). */
static int wanted(const foil_explain_config *c) { return c->image_list ? c->nlist : c->image_count; }

/* Test images to load: up to the largest index asked for, within test_limit. */
static int load_limit(const foil_explain_config *c) {
    int need = c->image_count;
    for (int i = 0; i < c->nlist; i++) need = c->image_list[i] + 1 > need ? c->image_list[i] + 1 : need;
    if (need == 0) return c->test_limit;
    return c->test_limit && c->test_limit < need ? c->test_limit : need;
}

static int choose_images(explain_run *r, foil_err *err) {
    const foil_explain_config *c = &r->c;
    const int total = r->ts.ds.n;
    r->n = c->image_list ? c->nlist : (c->image_count && c->image_count < total ? c->image_count : total);
    if (!(r->index = malloc(sizeof(int32_t) * (size_t)r->n))) return foil_fail(err, "out of memory");
    for (int i = 0; i < r->n; i++) {
        int idx = c->image_list ? c->image_list[i] : i;
        if (idx >= total)
            return foil_fail(err, "explain.images: image %d is past the end of the test set "
                                  "(%d images in %s)", idx, total, r->ts.dir);
        r->index[i] = idx;
    }
    return 0;
}

static int allocate(explain_run *r, int batch, foil_err *err) {
    foil_backend *b = r->cm.b;
    size_t n = (size_t)r->n;
    r->label = malloc(sizeof(int32_t) * n);
    r->pred = malloc(sizeof(int32_t) * n);
    r->target = malloc(sizeof(int32_t) * n);
    r->stats = calloc(n, sizeof(foil_explain_stats));
    r->attr = malloc(sizeof(float) * n * r->row);
    r->inputs = malloc(sizeof(float) * n * r->row);
    const size_t plane = (size_t)r->cm.model.def.in_h * r->cm.model.def.in_w;
    r->features = foil_explain_method_info_of(r->c.spec.method)->features;
    if (r->c.faithfulness && !(r->faith = calloc(n, sizeof *r->faith)))
        return foil_fail(err, "out of memory for %d images", r->n);
    if (r->features &&
        (!(r->segments = malloc(sizeof(int32_t) * n * plane)) ||
         !(r->fweights = malloc(sizeof(float) * n * plane))))
        return foil_fail(err, "out of memory for %d images' segments", r->n);
    r->idx_dev = b->alloc(b, sizeof(int32_t) * (size_t)batch);
    r->x_dev = foil_alloc_floats(b, (size_t)batch * r->row);
    r->attr_dev = foil_alloc_floats(b, (size_t)batch * r->row);
    if (!r->label || !r->pred || !r->target || !r->stats || !r->attr || !r->inputs ||
        !r->idx_dev || !r->x_dev || !r->attr_dev)
        return foil_fail(err, "out of memory for %d images", r->n);
    return foil_explain_work_create(&r->w, &r->cm.net, batch, err);
}

static int open_all(explain_run *r, int *batch, foil_err *err) {
    const foil_explain_config *c = &r->c;
    int known = wanted(c);
    *batch = known > 0 && known < c->batch ? known : c->batch;
    int max_batch = *batch * foil_explain_points_per_image(&c->spec, *batch);
    if (cli_model_open(&r->cm, c->model_path, c->device, c->tf32, max_batch,
                       "explain.batch x IG points per pass (explain.chunk)", err) ||
        cli_testset_load(&r->ts, &r->cm, c->data_dir, load_limit(c), err) ||
        choose_images(r, err))
        return -1;
    r->row = r->cm.model.in_size;
    if (*batch > r->n) *batch = r->n;
    if (c->spec.baseline == FOIL_BASELINE_IMAGE &&
        foil_baseline_load(c->baseline_path, r->row, &r->baseline_img, err))
        return -1;
    if (foil_explain_method_info_of(c->spec.method)->sampled) {
        if (foil_dataset_load(&r->background, c->data_dir, "train", c->background, err))
            return foil_fail_prefix(err, "explain.background");
        if (r->background.n < 1 || (size_t)r->background.rows * r->background.cols != r->row)
            return foil_fail(err, "explain.background: %d training images of %dx%d in %s; "
                             "gradshap needs at least one of the model's input size",
                             r->background.n, r->background.rows, r->background.cols,
                             c->data_dir);
    }
    return allocate(r, *batch, err);
}

/* Explains images [i0, i0 + nb) of the list. */
static int run_batch(explain_run *r, const foil_explain_spec *s, int i0, int nb, foil_err *err) {
    foil_backend *b = r->cm.b;
    int64_t idx64[4096];
    for (int i = 0; i < nb; i++) {
        idx64[i] = r->index[i0 + i];
        r->label[i0 + i] = r->ts.ds.labels[r->index[i0 + i]];
        memcpy(r->inputs + (size_t)(i0 + i) * r->row,
               r->ts.ds.images + (size_t)r->index[i0 + i] * r->row, sizeof(float) * r->row);
    }
    if (b->upload(b, r->idx_dev, r->index + i0, sizeof(int32_t) * (size_t)nb) ||
        b->gather_rows(b, r->x_dev, r->ts.dd.images, r->idx_dev, nb, r->row))
        return foil_fail(err, "%s", b->err.msg);
    if (foil_explain_targets(r->w, r->c.target, r->c.target_class, r->x_dev, r->label + i0, nb,
                             r->pred + i0, r->target + i0, err) ||
        foil_explain_batch(r->w, s, r->attr_dev, r->x_dev, r->target + i0, idx64, nb,
                           r->stats + i0, err))
        return -1;
    if (b->download(b, r->attr + (size_t)i0 * r->row, r->attr_dev, sizeof(float) * nb * r->row))
        return foil_fail(err, "%s", b->err.msg);
    if (r->features) {
        const int32_t *seg;
        const float *fw;
        int stride;
        foil_explain_feature_outputs(r->w, &seg, &fw, &stride);
        memcpy(r->segments + (size_t)i0 * stride, seg, sizeof(int32_t) * (size_t)nb * stride);
        memcpy(r->fweights + (size_t)i0 * stride, fw, sizeof(float) * (size_t)nb * stride);
    }
    if (r->faith && foil_explain_faithfulness(r->w, s, r->attr_dev, r->x_dev, r->target + i0,
                                              idx64, nb, r->faith + i0, err))
        return -1;
    return 0;
}

int explain_run_all(explain_run *r, foil_err *err) {
    int batch;
    if (open_all(r, &batch, err)) return -1;
    foil_explain_spec s = r->c.spec;
    s.baseline_image = r->baseline_img;
    s.background = r->background.images;
    s.nbackground = r->background.n;
    if (foil_explain_spec_check(&s, err)) return -1;
    if (!r->quiet)
        fprintf(stderr, "explain: %s of %d test images with %s (%zu parameters), device %s\n",
                foil_explain_method_name(s.method), r->n, r->cm.model.def.name,
                r->cm.model.nvalues, r->cm.b->name);
    double t0 = foil_now_s();
    for (int i0 = 0; i0 < r->n; i0 += batch) {
        int nb = r->n - i0 < batch ? r->n - i0 : batch;
        if (run_batch(r, &s, i0, nb, err)) return -1;
        if (!r->quiet)
            fprintf(stderr, "explain: %d/%d images, %.1f s\n", i0 + nb, r->n, foil_now_s() - t0);
    }
    r->seconds = foil_now_s() - t0;
    return 0;
}

void explain_run_free(explain_run *r) {
    if (r->cm.b) {
        foil_backend *b = r->cm.b;
        foil_explain_work_destroy(r->w);
        b->free(b, r->idx_dev);
        b->free(b, r->x_dev);
        b->free(b, r->attr_dev);
    }
    cli_testset_free(&r->ts, &r->cm);
    cli_model_close(&r->cm);
    foil_explain_config_free(&r->c);
    free(r->resolved);
    free(r->baseline_img);
    foil_dataset_free(&r->background);
    free(r->index);
    free(r->label);
    free(r->pred);
    free(r->target);
    free(r->stats);
    free(r->attr);
    free(r->inputs);
    free(r->segments);
    free(r->fweights);
    free(r->faith);
}
