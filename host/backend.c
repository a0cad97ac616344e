/* Device selection for --device auto|cpu|cuda. */
#include <stdio.h>
#include <string.h>

#include "foil/backend.h"

foil_backend *foil_backend_create(const char *device, foil_err *err) {
    if (!device || strcmp(device, "auto") == 0) {
        /* The CUDA backend is not built yet (issue 5); auto means the CPU. */
        return foil_backend_cpu_create(err);
    }
    if (strcmp(device, "cpu") == 0) return foil_backend_cpu_create(err);
    if (strcmp(device, "cuda") == 0) {
        foil_fail(err, "--device cuda: this foil was built without the CUDA backend");
        return NULL;
    }
    foil_fail(err, "--device: unknown device '%s' (choose one of: auto, cpu, cuda)", device);
    return NULL;
}
