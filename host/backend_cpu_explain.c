/* CPU reference: explanation ops (target outputs, IG path points and
 * accumulation, Gaussian noise, row sums). */
#include "backend_cpu.h"

void cpu_register_explain_ops(foil_backend *b) {
    (void)b; /* filled in with the explanations (issue 4) */
}
