/* Wall-clock seconds for timings (monotonic: the differences are what
 * count). */
#ifndef FOIL_CLOCK_H
#define FOIL_CLOCK_H

#include <time.h>

static inline double foil_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
