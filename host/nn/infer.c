/* Inference on a backend (foil/infer.h): data sets uploaded once, and
 * predictions over all of one in batches, softmax on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/elementwise.h"
#include "foil/infer.h"
#include "net_internal.h"

int foil_device_data_upload(foil_device_data *dd, foil_backend *b, const foil_dataset *ds,
                            foil_err *err) {
    memset(dd, 0, sizeof *dd);
    dd->n = ds->n;
    dd->row = (size_t)ds->rows * ds->cols;
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)ds->n + 1);
    dd->images = foil_alloc_floats(b, dd->row * (size_t)ds->n);
    dd->labels = dd->images ? b->alloc(b, sizeof(int32_t) * (size_t)ds->n) : NULL;
    if (!labels || !dd->images || !dd->labels) {
        free(labels);
        foil_device_data_free(dd, b);
        if (!labels) return foil_fail(err, "out of host memory for a data set of %d images", ds->n);
        /* the backend's message names the bytes and its reason */
        return foil_fail(err, "a data set of %d images does not fit on %s: %s", ds->n, b->name,
                         b->err.msg);
    }
    for (int i = 0; i < ds->n; i++) labels[i] = ds->labels[i];
    int rc = b->upload(b, dd->images, ds->images, sizeof(float) * dd->row * (size_t)ds->n) ||
             b->upload(b, dd->labels, labels, sizeof(int32_t) * (size_t)ds->n);
    free(labels);
    if (rc) {
        foil_device_data_free(dd, b);
        return foil_fail(err, "%s", b->err.msg);
    }
    return 0;
}

void foil_device_data_free(foil_device_data *dd, foil_backend *b) {
    b->free(b, dd->images);
    b->free(b, dd->labels);
    dd->images = NULL;
    dd->labels = NULL;
}

/* ---- forward-only passes ------------------------------------------------------ */

static size_t pool_out_max(const foil_model *m) {
    size_t most = 0;
    for (int i = 0; i < m->def.nlayers; i++)
        if (m->layers[i].def.kind == FOIL_LAYER_MAXPOOL) {
            size_t o = foil_layer_out_size(&m->layers[i]);
            most = o > most ? o : most;
        }
    return most;
}

/* Whether layer i's output needs a buffer of its own: it is read later than
 * by the next layer, or more than once (a graph); the last layer's output is
 * copied out at once. */
static int kept(const foil_model *m, int i) {
    return i + 1 < m->def.nlayers && !m->layers[i].chained;
}

static size_t kept_floats(const foil_model *m) {
    size_t sum = 0;
    for (int i = 0; i < m->def.nlayers; i++)
        if (kept(m, i)) sum += foil_layer_out_size(&m->layers[i]);
    return sum;
}

size_t foil_infer_bytes(const foil_model *m, int batch) {
    size_t one = (2 * m->max_act + kept_floats(m)) * sizeof(float) +
                 pool_out_max(m) * sizeof(int32_t), all; /* < 2^40: foil_model_build's limits */
    return foil_mul_size(one, batch > 0 ? (size_t)batch : 0, &all) ? (size_t)-1 : all;
}

int foil_infer_batch_for(const foil_model *m, size_t bytes) {
    size_t one = foil_infer_bytes(m, 1), n = one ? bytes / one : 1;
    return n < 1 ? 1 : n > (size_t)INT32_MAX ? INT32_MAX : (int)n;
}

int foil_infer_create(foil_infer *inf, foil_net *net, int max_batch, foil_err *err) {
    memset(inf, 0, sizeof *inf);
    if (max_batch < 1)
        return foil_fail(err, "inference batch must be at least 1, got %d", max_batch);
    const foil_model *m = net->model;
    foil_backend *b = net->b;
    size_t act, pool;
    if (foil_mul_size(m->max_act, (size_t)max_batch, &act) ||
        foil_mul_size(pool_out_max(m) ? pool_out_max(m) : 1, (size_t)max_batch, &pool) ||
        pool > ((size_t)-1) / sizeof(int32_t))
        return foil_fail(err, "an inference batch of %d is too large for this model", max_batch);
    inf->net = net;
    inf->max_batch = max_batch;
    inf->buf[0] = foil_alloc_floats(b, act);
    inf->buf[1] = inf->buf[0] ? foil_alloc_floats(b, act) : NULL;
    inf->argmax = inf->buf[1] ? b->alloc(b, pool * sizeof(int32_t)) : NULL;
    int failed = !inf->argmax;
    for (int i = 0; i < m->def.nlayers && !failed; i++)
        if (kept(m, i)) {
            inf->keep[i] = foil_alloc_floats(b, foil_layer_out_size(&m->layers[i]) *
                                                    (size_t)max_batch);
            failed = !inf->keep[i];
        }
    if (failed) {
        foil_fail(err, "%s (forward-only buffers for %d samples at once)", b->err.msg, max_batch);
        foil_infer_destroy(inf);
        return -1;
    }
    return 0;
}

void foil_infer_borrow(foil_infer *inf, foil_net *net) {
    const foil_model *m = net->model;
    memset(inf, 0, sizeof *inf);
    inf->net = net;
    inf->max_batch = net->max_batch;
    inf->buf[0] = net->dbuf[0];
    inf->buf[1] = net->dbuf[1];
    inf->borrowed = 1;
    for (int i = 0; i < m->def.nlayers; i++) inf->keep[i] = net->acc[i]; /* the kept ones */
    size_t most = 0;
    for (int i = 0; i < m->def.nlayers; i++)
        if (m->layers[i].def.kind == FOIL_LAYER_MAXPOOL &&
            foil_layer_out_size(&m->layers[i]) > most) {
            most = foil_layer_out_size(&m->layers[i]);
            inf->argmax = net->argmax[i];
        }
}

void foil_infer_destroy(foil_infer *inf) {
    if (inf->net && !inf->borrowed) {
        foil_backend *b = inf->net->b;
        b->free(b, inf->buf[0]);
        b->free(b, inf->buf[1]);
        b->free(b, inf->argmax);
        for (int i = 0; i < FOIL_MAX_LAYERS; i++) b->free(b, inf->keep[i]);
    }
    memset(inf, 0, sizeof *inf);
}

/* One forward of n <= max_batch samples; *out is one of the buffers or x.
 * A layer read only by the next one writes into the ping-pong buffer its
 * inputs are not in (the only one alive then); a kept layer into its own. */
static int forward_once(foil_infer *inf, const float *x, int n, const float **out,
                        foil_err *err) {
    const foil_net *net = inf->net;
    const foil_model *m = net->model;
    const float *y[FOIL_MAX_LAYERS];
    for (int i = 0; i < m->def.nlayers; i++) {
        const foil_layer *l = &m->layers[i];
        const float *ins[FOIL_MAX_INPUTS] = {NULL};
        int busy0 = 0;
        for (int k = 0; k < l->nin; k++) {
            ins[k] = l->in[k] < 0 ? x : y[l->in[k]];
            busy0 |= ins[k] == inf->buf[0];
        }
        float *dst = kept(m, i) ? inf->keep[i] : inf->buf[busy0 ? 1 : 0];
        foil_layer_bufs io = {.out = dst, .argmax = inf->argmax};
        if (foil_layer_forward(net, i, ins, n, &io, err)) return -1;
        y[i] = io.y;
        /* a kept alias (flatten) of a ping-pong buffer must outlive that buffer */
        if (kept(m, i) && (io.y == inf->buf[0] || io.y == inf->buf[1])) {
            FOIL_OP(net->b, net->b->copy(net->b, dst, io.y,
                                         sizeof(float) * foil_layer_out_size(l) * (size_t)n),
                    err);
            y[i] = dst;
        }
    }
    *out = y[m->def.nlayers - 1];
    return 0;
}

int foil_infer_logits(foil_infer *inf, float *logits, const float *x, int n, foil_err *err) {
    const foil_model *m = inf->net->model;
    foil_backend *b = inf->net->b;
    const int classes = m->def.classes;
    for (int start = 0; start < n; start += inf->max_batch) {
        int bs = n - start < inf->max_batch ? n - start : inf->max_batch;
        const float *out;
        if (forward_once(inf, x + (size_t)start * m->in_size, bs, &out, err)) return -1;
        FOIL_OP(b, b->copy(b, logits + (size_t)start * classes, out,
                           sizeof(float) * (size_t)bs * classes), err);
    }
    return 0;
}

/* ---- predictions ------------------------------------------------------------- */

int foil_predict(foil_net *net, const foil_device_data *dd, int32_t *pred, float *probs,
                 foil_err *err) {
    const int classes = net->model->def.classes;
    foil_infer inf;
    foil_infer_borrow(&inf, net); /* between passes: nothing to backpropagate */
    float *logits = malloc(sizeof(float) * (size_t)net->max_batch * classes);
    if (!logits) return foil_fail(err, "out of memory");
    int rc = 0;
    for (int start = 0; start < dd->n && rc == 0; start += net->max_batch) {
        int bs = dd->n - start < net->max_batch ? dd->n - start : net->max_batch;
        const float *out;
        rc = forward_once(&inf, dd->images + (size_t)start * dd->row, bs, &out, err);
        if (rc == 0 && net->b->download(net->b, logits, out, sizeof(float) * (size_t)bs * classes))
            rc = foil_fail(err, "%s", net->b->err.msg);
        for (int i = 0; i < bs && rc == 0; i++) {
            const float *x = logits + (size_t)i * classes;
            for (int j = 0; j < classes && rc == 0; j++)
                if (!foil_finitef(x[j]))
                    rc = foil_fail(err, "image %d: the model's logits are not finite (NaN or "
                                        "infinity): the checkpoint or the data are broken",
                                   start + i);
            if (rc) break;
            int best = foil_row_argmax(x, classes);
            pred[start + i] = best;
            if (probs) {
                double sum = foil_softmax_sum(x, classes, x[best]);
                for (int j = 0; j < classes; j++)
                    probs[(size_t)(start + i) * classes + j] =
                        (float)(exp((double)(x[j] - x[best])) / sum);
            }
        }
    }
    free(logits);
    foil_infer_destroy(&inf);
    return rc;
}
