/* The explanation methods and what the rest of foil needs to know of each:
 * one row per method (foil_explain_method_info, foil/explain.h). Configs,
 * the CLI and the batch loop read these rows instead of testing methods.
 * Adding a method: its value in foil_explain_method, its run function in a
 * file of its own (declared in explain_internal.h), its row here
 * (docs/design.md). */
#include <string.h>

#include "explain_internal.h"

static const foil_explain_method_info METHODS[FOIL_EXPLAIN_METHOD_COUNT] = {
    [FOIL_EXPLAIN_SALIENCY] = {.name = "saliency", .gradients = 1, .run = ex_saliency},
    [FOIL_EXPLAIN_GRAD_X_INPUT] = {.name = "grad_x_input", .gradients = 1, .baseline = 1,
                                   .completeness = 1, .run = ex_grad_x_input},
    [FOIL_EXPLAIN_IG] = {.name = "ig", .gradients = 1, .path = 1, .baseline = 1,
                         .completeness = 1, .run = ex_ig},
    [FOIL_EXPLAIN_SMOOTHGRAD] = {.name = "smoothgrad", .gradients = 1, .smoothing = 1,
                                 .run = ex_saliency},
    [FOIL_EXPLAIN_LIME] = {.name = "lime", .baseline = 1, .features = 1,
                           .default_samples = 1000, .perturb = ex_lime},
    [FOIL_EXPLAIN_KERNELSHAP] = {.name = "kernelshap", .baseline = 1, .completeness = 1,
                                 .features = 1, .perturb = ex_kernelshap},
    [FOIL_EXPLAIN_ABLATION] = {.name = "ablation", .baseline = 1, .features = 1,
                               .perturb = ex_ablation},
    [FOIL_EXPLAIN_OCCLUSION] = {.name = "occlusion", .baseline = 1, .perturb = ex_occlusion},
    [FOIL_EXPLAIN_GRADSHAP] = {.name = "gradshap", .gradients = 1, .sampled = 1,
                               .default_samples = 16, .run = ex_gradshap},
};

const foil_explain_method_info *foil_explain_method_info_of(foil_explain_method m) {
    return (unsigned)m < FOIL_EXPLAIN_METHOD_COUNT ? &METHODS[m] : NULL;
}

const char *foil_explain_method_name(foil_explain_method m) {
    const foil_explain_method_info *i = foil_explain_method_info_of(m);
    return i ? i->name : "?";
}

int foil_explain_method_parse(const char *name, foil_explain_method *m) {
    for (int i = 0; name && i < FOIL_EXPLAIN_METHOD_COUNT; i++)
        if (strcmp(name, METHODS[i].name) == 0) {
            *m = (foil_explain_method)i;
            return 0;
        }
    return -1;
}

int foil_explain_points_per_image(const foil_explain_spec *s, int batch) {
    const foil_explain_method_info *i = foil_explain_method_info_of(s->method);
    if (!i || (!i->path && !i->perturb && !i->sampled)) return 1;
    int p;
    if (i->perturb) {
        p = s->chunk > 0 ? s->chunk : 32;
    } else { /* path steps or gradshap's draws, at most a chunk of them */
        const int points = i->sampled ? s->samples : s->steps;
        p = s->chunk > 0 && s->chunk < points ? s->chunk : points;
    }
    if (p < 1) p = 1;
    int cap = batch > 0 ? FOIL_EXPLAIN_MAX_BATCH / batch : 1;
    return p < cap ? p : (cap > 1 ? cap : 1);
}
