/* CUDA attack ops: not written yet (issue 5/6). */
#include "cuda_common.h"

extern "C" void cuda_register_attack_ops(foil_backend *b) { (void)b; }
