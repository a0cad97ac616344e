/* GPU memory running out, on the CUDA emulator (FOIL_EMU_MEMORY caps its
 * device memory): an upload or a network too large for the GPU fails with
 * foil's one-line error naming the size, the failure is not sticky (smaller
 * allocations and a forward pass work afterwards). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/model_def.h"
#include "foil/train.h"
#include "parity.h"
#include "synth.h"

static const char MODEL[] =
    "name: tiny\ninput: [1, 28, 28]\nclasses: 10\nlayers:\n"
    "  - conv2d: {filters: 4, kernel: 3, padding: same}\n  - relu\n  - maxpool: {size: 2}\n"
    "  - flatten\n  - dense: {units: 10}\n";

int main(void) {
    setenv("FOIL_EMU_MEMORY", "2M", 1); /* read by the emulator at every allocation */
    foil_backend *gpu = parity_gpu_or_skip();
    foil_err err;
    char dir[1024], path[1024];
    synth_dataset("synth", 1000, 10); /* 1000 x 784 floats: 3.1 MB */
    tu_path(dir, sizeof dir, "synth");
    foil_dataset ds;
    TU_CHECK(foil_dataset_load(&ds, dir, "train", 0, &err) == 0, "data: %s", err.msg);

    foil_device_data dd;
    int rc = foil_device_data_upload(&dd, gpu, &ds, &err);
    printf("upload of 3.1 MB into 2 MB: %s\n", rc ? err.msg : "succeeded");
    TU_CHECK(rc != 0 && strstr(err.msg, "1000 images") &&
                 strstr(err.msg, "cannot allocate 3136000 bytes") &&
                 strstr(err.msg, "out of memory") && !strchr(err.msg, '\n'),
             "a too large upload fails with one line naming the cause: '%s'", err.msg);

    foil_model m;
    foil_model_def def;
    tu_write_file(path, sizeof path, "tiny.yaml", MODEL, strlen(MODEL));
    TU_CHECK(foil_model_def_load(&def, path, &err) == 0 && foil_model_build(&m, &def, &err) == 0,
             "model: %s", err.msg);
    foil_net net;
    rc = foil_net_create(&net, &m, gpu, 100000, &err);
    printf("a network for batches of 100000: %s\n", rc ? err.msg : "succeeded");
    TU_CHECK(rc != 0 && strstr(err.msg, "cannot allocate"), "a too large network fails: '%s'",
             err.msg);

    /* not sticky: a small network runs a forward pass */
    TU_CHECK(foil_net_create(&net, &m, gpu, 16, &err) == 0, "small network after OOM: %s",
             err.msg);
    float *params = malloc(m.nparams * sizeof(float));
    foil_model_init_params(&m, params, 3);
    float *x = parity_upload(gpu, ds.images, sizeof(float) * 16 * 784);
    const float *logits = NULL;
    TU_CHECK(gpu->upload(gpu, net.params, params, m.nparams * sizeof(float)) == 0 &&
                 foil_net_forward(&net, x, 16, 0, 0, 0, &logits, &err) == 0,
             "forward after OOM: %s / %s", err.msg, gpu->err.msg);
    gpu->free(gpu, x);

    foil_net_destroy(&net);
    free(params);
    foil_dataset_free(&ds);
    gpu->destroy(gpu);
    return tu_finish("test_emu_oom");
}
