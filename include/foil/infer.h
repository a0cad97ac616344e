/* Inference on a backend: a data set in backend memory and the predictions
 * of a network over all of it, batch by batch. */
#ifndef FOIL_INFER_H
#define FOIL_INFER_H

#include <stddef.h>
#include <stdint.h>

#include "foil/backend.h"
#include "foil/data.h"
#include "foil/error.h"
#include "foil/net.h"

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

/* Predicted classes (argmax of the logits) for all n samples, in batches of
 * net->max_batch. pred_host: (n). probs_host (may be NULL): (n, classes)
 * softmax probabilities. Logits that are not finite are an error naming
 * the image. */
int foil_predict(foil_net *net, const foil_device_data *dd, int32_t *pred_host,
                 float *probs_host, foil_err *err);

#endif
