/* foil run: RUNDIR/summary.md, the headline of a study in Markdown (the
 * table docs/results.md quotes): clean accuracy; per attack and eps the
 * robust accuracy, the least-recalled class and the explanation shift; the
 * completeness error; the methods compared. Built from the report's data,
 * so it always agrees with report.html. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/fileio.h"
#include "foil/strbuf.h"
#include "run.h"

static const char *fact(const foil_report *r, const char *label) {
    for (int i = 0; i < r->nfacts; i++)
        if (strcmp(r->facts[i].label, label) == 0) return r->facts[i].value;
    return "n/a";
}

/* The shift row of (label, eps), or NULL. */
static const foil_shift_row *shift_of(const foil_report *r, const foil_sweep_row *s) {
    for (int i = 0; i < r->nshift; i++)
        if (strcmp(r->shift[i].label, s->label) == 0 && fabsf(r->shift[i].eps - s->eps) < 1e-6f)
            return &r->shift[i];
    return NULL;
}

/* The class with the lowest recall of those with test images (the first of
 * equals; 0 when the metrics have none). */
static int least_recalled(const foil_metrics *m) {
    int k = foil_metrics_least_recalled(m);
    return k < 0 ? 0 : k;
}

static void attack_table(const foil_report *r, foil_strbuf *b) {
    int nshift = r->nshift ? r->shift[0].n : 0;
    foil_sb_put(b, "| attack | eps | robust accuracy | least-recalled class (recall) |");
    if (nshift)
        foil_sb_put(b, " %s Spearman clean vs adv (%d images) | top-k IoU |",
                    r->method[0] ? r->method : "ig", nshift);
    foil_sb_put(b, "\n|---|---:|---:|---|");
    if (nshift) foil_sb_put(b, "---:|---:|");
    foil_sb_put(b, "\n");
    for (int i = 0; i < r->nsweep; i++) {
        const foil_sweep_row *s = &r->sweep[i];
        foil_sb_put(b, "| %s | %g | %.4f | %d (%.3f) |", s->label, (double)s->eps, s->accuracy,
            s->least_class, s->recall[s->least_class]);
        if (!nshift) {
            foil_sb_put(b, "\n");
            continue;
        }
        const foil_shift_row *h = shift_of(r, s);
        if (h) foil_sb_put(b, " %.3f | %.3f |\n", h->spearman_true, h->iou_true);
        else foil_sb_put(b, " - | - |\n");
    }
}

static char *summary_text(const run_ctx *c, const foil_report *r) {
    foil_strbuf sb = {0}, *b = &sb;
    foil_sb_put(b, "### foil run %s\n\n", c->a.config);
    foil_sb_put(b, "- model: %s\n- data: %s\n- training: %s\n", fact(r, "model"),
        fact(r, "data"), fact(r, "training"));
    if (c->sweep) foil_sb_put(b, "- attacks: %s\n", fact(r, "attacks"));
    if (c->explain) foil_sb_put(b, "- explanations: %s\n", fact(r, "explanations"));
    foil_sb_put(b, "- device %s, precision %s, seed %s\n- foil %s, commit %s, %s\n\n",
        fact(r, "device"), fact(r, "precision"), fact(r, "seed"), fact(r, "foil version"),
        fact(r, "commit"), r->generated);
    if (r->clean)
        foil_sb_put(b, "Clean accuracy **%.4f** on %d test images (least-recalled class %d: %.3f).\n\n",
            r->clean->accuracy, r->clean->n, least_recalled(r->clean),
            r->clean->recall[least_recalled(r->clean)]);
    if (r->nsweep) attack_table(r, b);
    const foil_report_completeness *cp = &r->completeness;
    if (cp->n)
        foil_sb_put(b, "\nCompleteness error |sum(attr) - (F(x) - F(baseline))| / "
            "|F(x) - F(baseline)| over %d clean images (%s, %d points): median %.3g, p95 %.3g, "
            "max %.3g.\n", cp->n, cp->method, cp->steps, cp->median, cp->p95, cp->max);
    if (r->ncompare)
        foil_sb_put(b, "\n| method | images | deletion AUC | insertion AUC | infidelity | "
                       "max-sensitivity |\n|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < r->ncompare; i++) {
        const foil_report_faith *f = &r->compare[i];
        foil_sb_put(b, "| %s | %d | %.4f | %.4f | %.3g | %.3g |\n", f->label, f->n, f->deletion,
                    f->insertion, f->infidelity, f->sensitivity);
    }
    return foil_sb_take(b);
}

int run_write_summary(const run_ctx *c, const foil_report *r, foil_err *err) {
    char path[FOIL_PATH_MAX];
    if (foil_path(path, err, "%s/summary.md", c->rundir)) return -1;
    char *text = summary_text(c, r);
    if (!text) return foil_fail(err, "%s: out of memory", path);
    int rc = foil_write_file_atomic(path, text, strlen(text), err);
    free(text);
    return rc;
}
