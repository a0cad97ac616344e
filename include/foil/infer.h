/* Inference on a backend: a forward-only pass (logits of any number of
 * samples, activations not kept, two buffers reused), a data set in backend
 * memory, and the predictions of a network over all of it. */
#ifndef FOIL_INFER_H
#define FOIL_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "foil/backend.h"
#include "foil/data.h"
#include "foil/error.h"
#include "foil/net.h"

/* Forward-only inference with a network's parameters: per forward at most
 * max_batch samples, in two activation buffers that every layer reuses
 * (plus the max-pool switches), so memory is 2 x the largest activation,
 * not the sum over layers as for training. */
typedef struct foil_infer {
    foil_net *net;
    int max_batch;
    float *buf[2];   /* (max_batch, max_act) each */
    int32_t *argmax; /* (max_batch, largest max-pool output) */
    /* (max_batch, out) for the layers read later than by the next one or
     * more than once (graphs; NULL for sequential models) */
    float *keep[FOIL_MAX_LAYERS];
    int borrowed;    /* the buffers are the network's */
} foil_infer;

/* Backend bytes a forward-only pass over `batch` samples of m holds. */
size_t foil_infer_bytes(const foil_model *m, int batch);
/* The largest batch whose buffers fit in `bytes` (at least 1). */
int foil_infer_batch_for(const foil_model *m, size_t bytes);

int foil_infer_create(foil_infer *inf, foil_net *net, int max_batch, foil_err *err);
/* The same on buffers the network already has (its gradient buffers and
 * the largest max-pool switches; max_batch = net->max_batch): no memory
 * more, but the network's last forward can no longer be backpropagated.
 * foil_infer_destroy frees nothing of a borrowed one. */
void foil_infer_borrow(foil_infer *inf, foil_net *net);
void foil_infer_destroy(foil_infer *inf);

/* logits (n, classes), backend memory, of n >= 0 samples x (n, in_size),
 * in forwards of at most max_batch samples (evaluation mode: no dropout).
 * The same numbers as foil_net_forward on the same batches. */
int foil_infer_logits(foil_infer *inf, float *logits, const float *x, int n, foil_err *err);

/* Data set copied to backend memory: images (n, rows*cols), labels (n). */
typedef struct foil_device_data {
    int n;
    size_t row;
    float *images;
    int32_t *labels;
} foil_device_data;

int foil_device_data_upload(foil_device_data *dd, foil_backend *b, const foil_dataset *ds,
                            foil_err *err);
void foil_device_data_free(foil_device_data *dd, foil_backend *b);

/* Predicted classes (argmax of the logits) for all n samples, forward-only in
 * batches of net->max_batch. pred_host: (n). probs_host (may be NULL):
 * (n, classes) softmax probabilities. Logits that are not finite are an
 * error naming the image. Runs on the network's own buffers
 * (foil_infer_borrow): call it between passes, not between a forward and
 * its backward. */
int foil_predict(foil_net *net, const foil_device_data *dd, int32_t *pred_host,
                 float *probs_host, foil_err *err);

#endif
