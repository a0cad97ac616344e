/* Device selection for --device auto|cpu|cuda. */
#include <stdio.h>
#include <string.h>

#include "foil/backend.h"

foil_backend *foil_backend_create(const char *device, foil_err *notice, foil_err *err) {
    if (notice) notice->msg[0] = 0;
    if (!device || strcmp(device, "auto") == 0) {
        foil_err why = {{0}};
        foil_backend *b = foil_backend_cuda_create(0, &why);
        if (b) return b;
#ifdef FOIL_HAVE_CUDA
        /* no GPU is the usual case; a GPU the backend failed on is news */
        if (notice && foil_cuda_device_count(NULL, 0) > 0)
            foil_fail(notice, "a GPU is present but the CUDA backend did not start (%s); "
                      "running on the CPU (--device cuda makes this an error)", why.msg);
        else if (notice)
            foil_fail(notice, "%s; running on the CPU", why.msg);
#endif
        return foil_backend_cpu_create(err);
    }
    if (strcmp(device, "cpu") == 0) return foil_backend_cpu_create(err);
    if (strcmp(device, "cuda") == 0) return foil_backend_cuda_create(0, err);
    foil_fail(err, "--device: unknown device '%s' (choose one of: auto, cpu, cuda)", device);
    return NULL;
}
