/* Inference on a backend (foil/infer.h): data sets uploaded once, and
 * predictions over all of one in batches, softmax on the host. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/elementwise.h"
#include "foil/infer.h"

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

int foil_predict(foil_net *net, const foil_device_data *dd, int32_t *pred, float *probs,
                 foil_err *err) {
    const int classes = net->model->def.classes;
    float *logits = malloc(sizeof(float) * (size_t)net->max_batch * classes);
    if (!logits) return foil_fail(err, "out of memory");
    int rc = 0;
    for (int start = 0; start < dd->n && rc == 0; start += net->max_batch) {
        int bs = dd->n - start < net->max_batch ? dd->n - start : net->max_batch;
        const float *out;
        rc = foil_net_forward(net, dd->images + (size_t)start * dd->row, bs, 0, 0, 0, &out, err);
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
    return rc;
}
