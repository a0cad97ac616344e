/* foil's CUDA emulator: what tests can ask it that CUDA has no call for.
 * C and C++; link foil_emu. */
#ifndef FOIL_EMU_H
#define FOIL_EMU_H

#include <stdint.h>

typedef struct foil_emu_counts {
    uint64_t launches;      /* kernel launches */
    uint64_t to_device;     /* cudaMemcpyAsync host -> device */
    uint64_t to_host;       /* cudaMemcpyAsync device -> host */
    uint64_t syncs;         /* cudaStreamSynchronize */
} foil_emu_counts;

#ifdef __cplusplus
extern "C" {
#endif
/* The counts since the process started. */
void foil_emu_get_counts(foil_emu_counts *out);
#ifdef __cplusplus
}
#endif

#endif
