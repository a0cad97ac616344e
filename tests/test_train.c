/* Training end to end through the CLI on synthetic data: the model learns,
 * the same seed gives a bit-identical checkpoint, resuming equals training
 * straight through, and eval writes the documented JSON. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "foil/checkpoint.h"
#include "foil/model.h"
#include "foil/model_def.h"
#include "synth.h"
#include "testutil.h"

static const char RECIPE[] =
    "name: tiny\n"
    "seed: 3\n"
    "model:\n"
    "  name: tiny\n"
    "  input: [1, 28, 28]\n"
    "  classes: 10\n"
    "  layers:\n"
    "    - conv2d: {filters: 4, kernel: 5, stride: 2, padding: same}\n"
    "    - relu\n"
    "    - maxpool: {size: 2}\n"
    "    - dropout: {rate: 0.2}\n"
    "    - flatten\n"
    "    - dense: {units: 10}\n"
    "train:\n"
    "  epochs: 2\n"
    "  batch_size: 32\n"
    "  optimizer: adam\n"
    "  lr: 0.003\n";

static double json_number(const char *path, const char *key) {
    size_t len;
    char *text = tu_slurp(path, &len);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    cJSON *v = o ? cJSON_GetObjectItem(o, key) : NULL;
    double r = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    cJSON_Delete(o);
    free(text);
    return r;
}

/* Parameters of two checkpoints are bit-identical. */
static int same_params(const char *a, const char *b) {
    foil_safetensors sa, sb;
    foil_err err;
    if (foil_st_read(a, &sa, &err) || foil_st_read(b, &sb, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 0;
    }
    int same = sa.ntensors == sb.ntensors;
    for (int i = 0; same && i < sa.ntensors; i++) {
        const foil_st_tensor *t = foil_st_find(&sb, sa.tensors[i].name);
        same = t && t->count == sa.tensors[i].count &&
               memcmp(t->data, sa.tensors[i].data, t->count * sizeof(float)) == 0;
    }
    foil_st_free(&sa);
    foil_st_free(&sb);
    return same;
}

static int run(const char *fmt, const char *a, const char *b) {
    char args[4096], err[1024];
    snprintf(args, sizeof args, fmt, a, b);
    int rc = tu_run_foil(args, err, sizeof err);
    if (rc != 0) fprintf(stderr, "foil %s -> %d: %s\n", args, rc, err);
    return rc;
}

/* The "epoch" numbers of metrics.json's epochs array; how many. */
static int epoch_numbers(const char *path, int *out, int cap) {
    char *text = tu_slurp(path, NULL);
    cJSON *o = text ? cJSON_Parse(text) : NULL, *e;
    cJSON *epochs = o ? cJSON_GetObjectItem(o, "epochs") : NULL;
    int n = 0;
    cJSON_ArrayForEach(e, epochs) {
        const cJSON *v = cJSON_GetObjectItem(e, "epoch");
        if (n < cap) out[n++] = cJSON_IsNumber(v) ? v->valueint : -1;
    }
    cJSON_Delete(o);
    free(text);
    return n;
}

/* Every parameter tensor starts 256-byte aligned in the buffer (a GPU
 * library never refuses one for its alignment); the padding is 0 after
 * init, moves no initial value (per-tensor streams), and files hold the
 * packed tensors only (pack/unpack round-trip). */
static void test_param_layout(void) {
    char path[1024];
    foil_err err;
    foil_model_def def;
    foil_model m;
    tu_source_path(path, sizeof path, "configs/models/madry.yaml"); /* 800 conv1 weights: padded */
    TU_CHECK(foil_model_def_load(&def, path, &err) == 0 && foil_model_build(&m, &def, &err) == 0,
             "%s", err.msg);
    int nt = foil_model_param_tensor(&m, -1, NULL, 0, NULL, NULL, NULL, NULL), aligned = 0;
    size_t total = 0;
    for (int t = 0; t < nt; t++) {
        char name[64];
        int ndim;
        int64_t shape[4];
        size_t off, count;
        foil_model_param_tensor(&m, t, name, sizeof name, &ndim, shape, &off, &count);
        aligned += off % FOIL_PARAM_ALIGN == 0;
        total += count;
    }
    TU_CHECK(aligned == nt && total == m.nvalues && m.nparams > m.nvalues,
             "%d of %d tensors aligned, %zu values in %zu floats", aligned, nt, m.nvalues,
             m.nparams);
    float *buf = malloc(m.nparams * sizeof(float)), *packed = malloc(m.nvalues * sizeof(float));
    float *back = malloc(m.nparams * sizeof(float));
    for (size_t i = 0; i < m.nparams; i++) buf[i] = NAN;
    foil_model_init_params(&m, buf, 3);
    size_t nonzero_pad = 0, at = 0;
    for (int i = 0; i < def.nlayers; i++) {
        const foil_layer *l = &m.layers[i];
        if (!l->w_count) continue;
        for (; at < l->w_off; at++) nonzero_pad += buf[at] != 0.0f;
        for (at = l->w_off + l->w_count; at < l->b_off; at++) nonzero_pad += buf[at] != 0.0f;
        at = l->b_off + l->b_count;
    }
    foil_model_pack(&m, packed, buf);
    foil_model_unpack(&m, back, packed);
    TU_CHECK(nonzero_pad == 0 && memcmp(buf, back, m.nparams * sizeof(float)) == 0,
             "the padding is 0 (%zu not) and pack/unpack round-trip", nonzero_pad);
    /* the first bias value is the one its tensor stream gives at element 0,
     * wherever the tensor sits */
    float bound = 1.0f / sqrtf((float)(m.layers[0].w_count / m.layers[0].b_count));
    float want = (2.0f * foil_rng_uniform(3, FOIL_STREAM(FOIL_RNG_INIT, 1), 0) - 1.0f) * bound;
    TU_CHECK(buf[m.layers[0].b_off] == want, "0.bias[0] %g, its stream gives %g",
             (double)buf[m.layers[0].b_off], (double)want);
    /* the tensor table: per-tensor fan-in (conv: in_c * kh * kw; dense: its
     * input width), every value inside its own bound, and no buffers in
     * these layers, so the trainable region is the whole buffer */
    size_t outside = 0, wrong_fan = 0;
    for (int t = 0; t < m.ntensors; t++) {
        const foil_tensor *x = &m.tensors[t];
        const foil_layer *l = &m.layers[x->layer];
        size_t fan = l->def.kind == FOIL_LAYER_CONV2D
                         ? (size_t)l->in_c * l->def.kernel_h * l->def.kernel_w : (size_t)l->in_c;
        wrong_fan += x->fan_in != fan || x->init != FOIL_INIT_FAN_IN || !x->trainable;
        float b = (float)(1.0 / sqrt((double)x->fan_in)); /* as foil_model_init_params */
        for (size_t j = 0; j < x->count; j++) outside += fabsf(buf[x->off + j]) > b;
    }
    TU_CHECK(wrong_fan == 0 && outside == 0 && m.ntrain == m.nparams,
             "tensor table: %zu wrong fan-in/rule, %zu values outside their bound, ntrain %zu of "
             "%zu", wrong_fan, outside, m.ntrain, m.nparams);
    free(buf), free(packed), free(back);
}

int main(void) {
    test_param_layout();
    synth_dataset("synth", 1200, 300);
    char data[1024], cfg[1024], out1[1024], out2[1024], out3[1024], p1[1200], p2[1200];
    tu_path(data, sizeof data, "synth");
    tu_write_file(cfg, sizeof cfg, "tiny.yaml", RECIPE, strlen(RECIPE));
    tu_path(out1, sizeof out1, "run1");
    tu_path(out2, sizeof out2, "run2");
    tu_path(out3, sizeof out3, "run3");
    setenv("FOIL_DATA", data, 1);

    TU_CHECK(run("train -q -c '%s' -o '%s'", cfg, out1) == 0, "first training run");
    snprintf(p1, sizeof p1, "%s/metrics.json", out1);
    double acc = json_number(p1, "test_accuracy");
    printf("synthetic test accuracy after 2 epochs: %.4f\n", acc);
    TU_CHECK(acc >= 0.9 && acc <= 1.0, "the tiny model learns the synthetic classes: %g", acc);

    TU_CHECK(run("train -q -c '%s' -o '%s'", cfg, out2) == 0, "second training run");
    snprintf(p1, sizeof p1, "%s/model.safetensors", out1);
    snprintf(p2, sizeof p2, "%s/model.safetensors", out2);
    TU_CHECK(tu_same_file(p1, p2), "same seed gives a bit-identical checkpoint");

    /* one epoch, then resume to two: the same weights as two straight epochs */
    TU_CHECK(run("train -q -c '%s' -o '%s' train.epochs=1", cfg, out3) == 0, "one epoch");
    snprintf(p2, sizeof p2, "%s/model.safetensors", out3);
    TU_CHECK(!same_params(p1, p2), "one epoch differs from two");
    TU_CHECK(run("train -q -c '%s' -o '%s' --resume", cfg, out3) == 0, "resume");
    TU_CHECK(same_params(p1, p2), "resumed training equals training straight through");
    char m1[1200], m3[1200], why[256];
    snprintf(m1, sizeof m1, "%s/metrics.json", out1);
    snprintf(m3, sizeof m3, "%s/metrics.json", out3);
    TU_CHECK(tu_same_epoch_log(m1, m3, why, sizeof why),
             "the resumed run's metrics.json logs both epochs as the straight run's: %s", why);

    /* a state from before the epoch log was kept: the log starts at the
     * resumed epoch and still grows on the next resume */
    char out4[1024], state[1200], m4[1200];
    tu_path(out4, sizeof out4, "run4");
    snprintf(state, sizeof state, "%s/train_state.safetensors", out4);
    snprintf(m4, sizeof m4, "%s/metrics.json", out4);
    TU_CHECK(run("train -q -c '%s' -o '%s' train.epochs=1", cfg, out4) == 0 &&
                 tu_set_meta(state, "history", "") == 0 &&
                 run("train -q -c '%s' -o '%s' --resume", cfg, out4) == 0 &&
                 run("train -q -c '%s' -o '%s' --resume train.epochs=3", cfg, out4) == 0,
             "train 1 epoch, drop the log, resume to 2, then to 3");
    int ep[8], ne = epoch_numbers(m4, ep, 8);
    TU_CHECK(ne == 2 && ep[0] == 2 && ep[1] == 3, "log without epoch 1: %d entries from %d", ne,
             ne ? ep[0] : 0);

    /* a different seed gives different weights (--overwrite: the folder
     * holds a checkpoint, which plain `train` refuses to replace) */
    TU_CHECK(run("train -q -c '%s' -o '%s' seed=4 train.epochs=1", cfg, out3) == 1,
             "a second train into a checkpoint's folder is refused");
    TU_CHECK(run("train -q -c '%s' -o '%s' --overwrite seed=4 train.epochs=1", cfg, out3) == 0,
             "seed 4");
    TU_CHECK(!same_params(p1, p2), "another seed gives other weights");

    /* eval writes the documented JSON */
    char json[1200];
    snprintf(json, sizeof json, "%s/eval.json", out1);
    TU_CHECK(run("eval -m '%s' --json '%s'", p1, json) == 0, "eval");
    size_t len;
    char *text = tu_slurp(json, &len);
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    TU_CHECK(o != NULL, "eval JSON parses");
    if (o) {
        cJSON *acc2 = cJSON_GetObjectItem(o, "accuracy"), *conf = cJSON_GetObjectItem(o, "confusion");
        TU_CHECK(cJSON_IsNumber(acc2) && fabs(acc2->valuedouble - acc) < 1e-6,
                 "eval accuracy equals the training run's");
        TU_CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "precision")) == 10 &&
                     cJSON_GetArraySize(cJSON_GetObjectItem(o, "recall")) == 10,
                 "10 precision and recall values");
        long total = 0;
        for (int r = 0; conf && r < cJSON_GetArraySize(conf); r++)
            for (int c = 0; c < 10; c++)
                total += (long)cJSON_GetArrayItem(cJSON_GetArrayItem(conf, r), c)->valuedouble;
        TU_CHECK(cJSON_GetArraySize(conf) == 10 && total == 300, "confusion 10x10 sums to 300");
    }
    cJSON_Delete(o);
    free(text);
    TU_CHECK(run("eval -m '%s' --limit 50 --json '%s'", p1, json) == 0, "eval --limit");
    TU_CHECK(json_number(json, "n") == 50, "--limit 50 evaluates 50 images");
    return tu_finish("test_train");
}
