/* Built instead of cuda/ when the CUDA toolkit or cuDNN is missing. */
#include <stdio.h>

#include "foil/backend.h"

foil_backend *foil_backend_cuda_create(int device, foil_err *err) {
    (void)device;
    foil_fail(err, "this foil was built without the CUDA backend (CUDA toolkit and cuDNN "
                   "were not found at build time)");
    return 0;
}

int foil_cuda_device_count(char *why, size_t cap) {
    if (why && cap) snprintf(why, cap, "this foil was built without the CUDA backend");
    return 0;
}
