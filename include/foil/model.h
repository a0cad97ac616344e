/* CNNs: the definition (a list of layers, each reading the previous one's
 * output unless it names its inputs, so that a residual connection is an
 * `add` of two earlier outputs), the parameter layout (one contiguous
 * buffer) and checkpoints. Reading and writing definitions as YAML is in
 * foil/model_def.h, a network on a backend in foil/net.h. */
#ifndef FOIL_MODEL_H
#define FOIL_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "foil/error.h"

#define FOIL_MAX_LAYERS 64

typedef enum {
    FOIL_LAYER_CONV2D,
    FOIL_LAYER_MAXPOOL,
    FOIL_LAYER_RELU,
    FOIL_LAYER_FLATTEN,
    FOIL_LAYER_DENSE,
    FOIL_LAYER_DROPOUT,
    FOIL_LAYER_ADD     /* the sum of two inputs of one shape */
} foil_layer_kind;

#define FOIL_MAX_INPUTS 2
#define FOIL_FROM_INPUT (-1) /* in foil_layer_def.from: the network's input */

typedef enum { FOIL_PAD_SAME, FOIL_PAD_VALID, FOIL_PAD_EXPLICIT } foil_pad_mode;

typedef struct foil_layer_def {
    foil_layer_kind kind;
    int filters, kernel_h, kernel_w, stride_h, stride_w; /* conv2d */
    foil_pad_mode pad_mode;
    int pad_h, pad_w;    /* explicit padding (conv2d) */
    int pool, pool_stride; /* maxpool window and stride */
    int units;           /* dense */
    float rate;          /* dropout */
    /* inputs: earlier layers' indices or FOIL_FROM_INPUT; nfrom 0 reads the
     * previous layer (the network input for layer 0). add needs two. */
    int nfrom;
    int from[FOIL_MAX_INPUTS];
} foil_layer_def;

typedef struct foil_model_def {
    char name[64];
    int in_c, in_h, in_w;
    int classes;
    int nlayers;
    foil_layer_def layers[FOIL_MAX_LAYERS];
} foil_model_def;

/* A layer with its shapes and where its parameters sit. */
typedef struct foil_layer {
    foil_layer_def def;
    int nin;                   /* inputs, resolved: layer indices or FOIL_FROM_INPUT */
    int in[FOIL_MAX_INPUTS];
    int uses;                  /* layers reading this one's output (0 for the last) */
    int chained;               /* read once, by the next layer: no buffer of its own is
                                  needed for its output's gradient (or, forward-only,
                                  for its output) */
    int in_c, in_h, in_w;    /* input shape per sample */
    int out_c, out_h, out_w; /* output shape per sample */
    int pad_h, pad_w;        /* resolved top/left padding (conv2d) */
    int t0, nt;              /* its tensors: model->tensors[t0 .. t0 + nt) */
    size_t w_off, w_count;   /* its "weight" tensor in the parameter buffer (0 count: none) */
    size_t b_off, b_count;   /* its "bias" */
} foil_layer;

/* How a tensor starts: PyTorch's default for conv and linear layers
 * (U(-1/sqrt(fan_in), 1/sqrt(fan_in))), or a constant (batch norm's scale
 * and running variance start at 1, its shift and running mean at 0). */
typedef enum { FOIL_INIT_FAN_IN, FOIL_INIT_ZERO, FOIL_INIT_ONE } foil_init_rule;

/* One tensor of the parameter buffer. Trainable tensors (parameters) sit in
 * the buffer's first region, [0, ntrain), which is all that gradients and
 * the optimizer cover; non-trainable ones (buffers, such as running
 * statistics) follow in [ntrain, nparams). Files hold both, in table order
 * (layer by layer, as a PyTorch state_dict). */
typedef struct foil_tensor {
    int layer;
    const char *role;        /* "weight", "bias", ...: the name is "<layer>.<role>" */
    int trainable;
    int ndim;
    int64_t shape[4];
    size_t off, count;       /* floats in the parameter buffer */
    foil_init_rule init;
    size_t fan_in;           /* FOIL_INIT_FAN_IN */
} foil_tensor;

#define FOIL_MAX_TENSORS (4 * FOIL_MAX_LAYERS)

/* Every parameter tensor starts at a multiple of this many floats (256
 * bytes) in the parameter buffer, so that a GPU library never refuses one
 * for its alignment; the floats between tensors are 0 and in no file. */
#define FOIL_PARAM_ALIGN 64

typedef struct foil_model {
    foil_model_def def;
    foil_layer layers[FOIL_MAX_LAYERS];
    int ntensors;
    foil_tensor tensors[FOIL_MAX_TENSORS];
    size_t nparams;    /* floats in the parameter buffer, the alignment padding included */
    size_t ntrain;     /* its trainable region [0, ntrain): what gradients and steps cover */
    size_t nvalues;    /* parameters: the tensors' elements (what files hold) */
    size_t in_size;    /* floats per input sample */
    size_t max_act;    /* largest per-sample activation (floats), input included */
    int input_uses;    /* layers reading the network input (1 for a sequential model) */
} foil_model;

/* Computes shapes and the parameter layout; fails on shapes that do not fit
 * (kernel larger than the input, dense before flatten, last layer not
 * `classes` wide, ...). */
int foil_model_build(foil_model *m, const foil_model_def *def, foil_err *err);

/* Fills host params (nparams floats) by each tensor's init rule; the
 * FOIL_INIT_FAN_IN draws come from the Philox stream (seed, FOIL_RNG_INIT,
 * tensor number, element), so the padding moves no value. The padding is set
 * to 0. */
void foil_model_init_params(const foil_model *m, float *params_host, uint64_t seed);

/* packed (nvalues) = the tensors of buf (nparams) one after another, as a
 * file holds them; unpack is the inverse (the padding set to 0). */
void foil_model_pack(const foil_model *m, float *packed, const float *buf);
void foil_model_unpack(const foil_model *m, float *buf, const float *packed);
/* The SHA-256 of the parameters in file order (the packed form): what a
 * save id holds, whatever the padding. */
int foil_model_params_sha256(const foil_model *m, const float *params, char hex[65],
                             foil_err *err);

/* Name of tensor t ("3.weight", as PyTorch's nn.Sequential) and its shape
 * (model->tensors[t]); returns the number of tensors when t < 0. */
int foil_model_param_tensor(const foil_model *m, int t, char *name, size_t cap, int *ndim,
                            int64_t shape[4], size_t *offset, size_t *count);

/* Checkpoints: safetensors with the parameters and metadata "model" (the
 * definition as YAML) plus any extra key/value pairs. Atomic. */
int foil_model_save(const char *path, const foil_model *m, const float *params_host,
                    const char *const *meta, int nmeta, foil_err *err);
/* Loads a checkpoint: builds the model from its metadata and copies the
 * parameters (malloc'd, nparams floats). Refuses a corrupt file (see
 * foil_st_read; an older foil file is checked against the SHA-256 in its
 * save_id) and parameters that are not finite. meta_out (may be NULL)
 * receives a malloc'd copy of the metadata value for meta_key (or NULL if
 * absent). */
int foil_model_load(const char *path, foil_model *m, float **params_host,
                    const char *meta_key, char **meta_out, foil_err *err);
/* Likewise with several keys: values[i] for the NULL-terminated keys[i]
 * (each malloc'd, or NULL when absent). */
int foil_model_load_meta(const char *path, foil_model *m, float **params_host,
                         const char *const *keys, char **values, foil_err *err);

#endif
