/* foil's CUDA emulator: what tests can ask it that CUDA has no call for.
 * C and C++; link foil_emu. */
#ifndef FOIL_EMU_H
#define FOIL_EMU_H

#include <stdint.h>

/* Directions of the convolution counters: forward, backward data, backward filter. */
enum { FOIL_EMU_FWD, FOIL_EMU_BWD_DATA, FOIL_EMU_BWD_FILTER };

typedef struct foil_emu_counts {
    uint64_t launches;      /* kernel launches */
    uint64_t to_device;     /* cudaMemcpyAsync host -> device */
    uint64_t to_host;       /* cudaMemcpyAsync device -> host */
    uint64_t syncs;         /* cudaStreamSynchronize */
    uint64_t conv[3][8];    /* convolutions run, per direction and algorithm */
    uint64_t conv_refused[3][8]; /* refused by FOIL_EMU_CUDNN_FAIL */
    uint64_t device_bytes;  /* device memory allocated now (FOIL_EMU_MEMORY caps it) */
} foil_emu_counts;

#ifdef __cplusplus
extern "C" {
#endif
/* The counts since the process started. */
void foil_emu_get_counts(foil_emu_counts *out);

/* FOIL_EMU_CUDNN_FAIL, read at every convolution: a comma-separated list of
 * fwd:N, bwd_data:N, bwd_filter:N; those algorithms return
 * CUDNN_STATUS_NOT_SUPPORTED when they run (as an algorithm that rejects
 * the pointers' alignment does), after the heuristic offered them. */
#ifdef __cplusplus
}
#endif

#endif
