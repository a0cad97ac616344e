/* foil run over several models: RUNDIR/report.html, the models side by side
 * (foil_report_study over each model's own report data), and
 * RUNDIR/summary.md, its headline table in Markdown. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "foil/fileio.h"
#include "foil/strbuf.h"
#include "run_models.h"

/* How a model was trained, in words. */
static void training_words(const foil_recipe *r, char *out, size_t cap) {
    const foil_adv_recipe *a = &r->adv;
    static const char *const SCHEDULE[] = {"", ", cyclic lr", ", step lr", ", cosine lr"};
    char adv[96];
    if (a->mode == FOIL_ADV_PGD)
        snprintf(adv, sizeof adv, "PGD-AT eps %g (%d steps of %g)", a->eps, a->steps, a->step);
    else if (a->mode == FOIL_ADV_FGSM_RS)
        snprintf(adv, sizeof adv, "FGSM-RS eps %g (alpha %g)", a->eps, a->alpha);
    else if (a->mode == FOIL_ADV_TRADES)
        snprintf(adv, sizeof adv, "TRADES eps %g, beta %g (%d steps of %g)", a->eps, a->beta,
                 a->steps, a->step);
    else
        snprintf(adv, sizeof adv, "natural");
    int k = (int)r->schedule.kind;
    snprintf(out, cap, "%s; %d epoch(s), %s lr %g%s, batch %d, seed %llu", adv, r->epochs,
             r->optimizer == FOIL_OPT_ADAM ? "Adam" : "SGD", r->lr,
             k >= 0 && k < 4 ? SCHEDULE[k] : "", r->batch_size, (unsigned long long)r->seed);
}

static const foil_report_fact *fact_of(const foil_report *r, const char *label) {
    for (int i = 0; i < r->nfacts; i++)
        if (strcmp(r->facts[i].label, label) == 0) return &r->facts[i];
    return NULL;
}

/* The study's facts: its file, folder and models, then those every model's
 * study shares (the first model's words for them). */
static void head_facts(const run_study *s, foil_report *h) {
    static const char *const SHARED[] = {"data", "attacks", "explanations", "device",
                                         "precision", "foil version", "commit"};
    foil_strbuf b = {0};
    for (int i = 0; i < s->all_over.n; i++) foil_sb_put(&b, " %s", s->all_over.v[i]);
    foil_report_fact_add(h, "study", "%s%s", s->config, b.s && !b.failed ? b.s : "");
    foil_sb_free(&b);
    foil_report_fact_add(h, "run folder", "%s", s->rundir);
    for (int i = 0; i < s->n; i++)
        foil_sb_put(&b, "%s%s: %s", i ? "; " : "", s->e[i].label,
                    s->e[i].recipe[0] ? s->e[i].recipe : s->e[i].model);
    foil_report_fact_add(h, "models", "%s", b.s && !b.failed ? b.s : "");
    foil_sb_free(&b);
    for (size_t k = 0; k < sizeof SHARED / sizeof *SHARED; k++) {
        const foil_report_fact *f = fact_of(s->ctx[0]->report, SHARED[k]);
        if (f) foil_report_fact_add(h, f->label, "%s", f->value);
    }
}

/* | model | training | clean | <attack> eps <largest> ... | */
static char *summary_text(const foil_report_study *st, const run_study *s) {
    foil_strbuf sb = {0}, *b = &sb;
    const foil_report *ref = NULL;
    for (int m = 0; m < st->nmodels && !ref; m++)
        if (st->models[m].r->nsweep) ref = st->models[m].r;
    foil_sb_put(b, "### foil run %s (%d model%s)\n\n", s->config, s->n, s->n == 1 ? "" : "s");
    for (int i = 0; i < st->head->nfacts; i++)
        foil_sb_put(b, "- %s: %s\n", st->head->facts[i].label, st->head->facts[i].value);
    foil_sb_put(b, "- %s\n\n| model | training | clean accuracy |", st->head->generated);
    int nrows = ref ? ref->nsweep : 0;
    for (int i = 0; i < nrows; i++)
        if (ref->sweep[i].eps > 0.0f)
            foil_sb_put(b, " %s eps %g |", ref->sweep[i].label, (double)ref->sweep[i].eps);
    foil_sb_put(b, "\n|---|---|---:|");
    for (int i = 0; i < nrows; i++)
        if (ref->sweep[i].eps > 0.0f) foil_sb_put(b, "---:|");
    foil_sb_put(b, "\n");
    for (int m = 0; m < st->nmodels; m++) {
        const foil_report *r = st->models[m].r;
        foil_sb_put(b, "| %s | %s | ", st->models[m].label, st->models[m].training);
        if (r->clean) foil_sb_put(b, "%.4f |", r->clean->accuracy);
        else foil_sb_put(b, "n/a |");
        for (int i = 0; i < nrows; i++) {
            const foil_sweep_row *w = &ref->sweep[i], *x = NULL;
            if (w->eps <= 0.0f) continue;
            for (int j = 0; j < r->nsweep && !x; j++)
                if (strcmp(r->sweep[j].label, w->label) == 0 && fabsf(r->sweep[j].eps - w->eps) < 1e-6f)
                    x = &r->sweep[j];
            if (x) foil_sb_put(b, " %.4f |", x->accuracy);
            else foil_sb_put(b, " n/a |");
        }
        foil_sb_put(b, "\n");
    }
    return foil_sb_take(b);
}

int run_models_write_report(const run_study *s, foil_err *err) {
    foil_report *head = calloc(1, sizeof *head);
    foil_report_study *st = calloc(1, sizeof *st);
    if (!head || !st) return free(head), free(st), foil_fail(err, "out of memory");
    time_t now = time(NULL);
    struct tm tm;
    snprintf(head->title, sizeof head->title, "foil study: %s (%d model%s)", s->name, s->n,
             s->n == 1 ? "" : "s");
    if (localtime_r(&now, &tm))
        strftime(head->generated, sizeof head->generated, "%Y-%m-%d %H:%M %Z", &tm);
    head_facts(s, head);
    st->head = head;
    st->shown = s->ctx[0]->o.compare_shown > 0 ? s->ctx[0]->o.compare_shown : 6;
    st->nmodels = s->n;
    for (int i = 0; i < s->n; i++) {
        foil_report_model *m = &st->models[i];
        snprintf(m->label, sizeof m->label, "%s", s->e[i].label);
        snprintf(m->dir, sizeof m->dir, "models/%s", s->e[i].label);
        training_words(&s->ctx[i]->train->r, m->training, sizeof m->training);
        m->r = s->ctx[i]->report;
        char rel[FOIL_PATH_MAX], caption[FOIL_NAME_MAX + 32];
        snprintf(rel, sizeof rel, "models/%s/report.html", s->e[i].label);
        snprintf(caption, sizeof caption, "%s: its own report", s->e[i].label);
        foil_report_link_add(head, rel, caption);
    }
    foil_report_link_add(head, "summary.md", "the headline table in Markdown");
    char path[FOIL_PATH_MAX];
    int rc = foil_path(path, err, "%s/report.html", s->rundir) ||
             foil_report_study_write(st, path, err);
    char *md = rc ? NULL : summary_text(st, s);
    if (!rc && !md) rc = foil_fail(err, "out of memory");
    if (!rc)
        rc = foil_path(path, err, "%s/summary.md", s->rundir) ||
             foil_write_file_atomic(path, md, strlen(md), err);
    free(md);
    free(head);
    free(st);
    return rc ? -1 : 0;
}
