/* The attack ops' rows of the backend-op test table (tests/test_gpu_ops.c
 * includes this after its own F(), EXACT and harness): APGD's DLR loss,
 * step and bookkeeping, Square's proposals and bookkeeping, FAB-T's
 * difference, step and bookkeeping, DeepFool's step, CW-L2's margin,
 * bookkeeping and Adam step. Each family's tensors sit at fixed places
 * (its enum); tolerances are in test_gpu_ops.c's header comment. */
#ifndef FOIL_TEST_OP_ROWS_ATTACK_H
#define FOIL_TEST_OP_ROWS_ATTACK_H

/* ---- APGD: the DLR loss, the step, the schedule's bookkeeping ------------------ */

enum { D_LOGITS, D_LABELS, D_TARGETS, D_LOSS, D_DLOGITS, D_SLOSS };

static int dlr_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->dlr_loss(b, F(D_LOSS), F(D_DLOGITS), F(D_LOGITS), (const int32_t *)t[D_LABELS],
                       r->bias ? (const int32_t *)t[D_TARGETS] : NULL, r->n, r->classes);
}
static int dlr_fwd(foil_backend *b, void *const *t, const op_row *r) {
    return b->dlr_loss(b, F(D_SLOSS), NULL, F(D_LOGITS), (const int32_t *)t[D_LABELS],
                       r->bias ? (const int32_t *)t[D_TARGETS] : NULL, r->n, r->classes);
}

static void dlr_loss(op_table *tab, int n, int classes, int targeted) {
    char name[64];
    snprintf(name, sizeof name, "dlr_loss C=%d%s", classes, targeted ? " targeted" : "");
    op_row *r = op_add(tab, name);
    const size_t total = (size_t)n * classes;
    r->n = n, r->classes = classes, r->bias = targeted, r->run = dlr_run, r->twice = 1;
    op_set(r, D_LOGITS, OP_IN, total, -5, 5, 0);
    op_set(r, D_LABELS, OP_IN, (size_t)n, 0, (float)classes, 1);
    op_set(r, D_TARGETS, OP_IN, (size_t)n, 0, (float)classes, 1);
    op_set(r, D_LOSS, OP_OUT, (size_t)n, 0, 0, 0);
    op_set(r, D_DLOGITS, OP_OUT, total, 0, 0, 0);
    op_set(r, D_SLOSS, OP_SCRATCH, (size_t)n, 0, 0, 0);
    r->tol = (op_tol){1e-6, 1e-5, 1e-12}; /* a division: the GPU's may round differently */
    /* the loss is piecewise smooth (the sorted order): kinks are detected */
    r->fwd = dlr_fwd, r->fd_y = D_SLOSS, r->fd_scale = 1.0f, r->fd_h = 1e-3f;
    r->fd_tol = (op_tol){1e-3, 1e-2, 0};
    r->npairs = 1, r->pair[0][0] = D_LOGITS, r->pair[0][1] = D_DLOGITS;
}

enum { A_X, A_XP, A_G, A_X0, A_STEP };

static int apgd_step_run(foil_backend *b, void *const *t, const op_row *r) {
    foil_attack_hparams hp = {r->bias ? FOIL_NORM_L2 : FOIL_NORM_LINF, FOIL_STEP_SIGN,
                              (float)r->len / 1000.0f, 0.0f, 0.0f, 0};
    return b->apgd_step(b, F(A_X), F(A_XP), F(A_G), F(A_X0), F(A_STEP), r->alpha, r->n,
                        (size_t)r->in_dim, &hp);
}

/* eps_milli / 1000 is the radius */
static void apgd_step(op_table *tab, int n, int l2, int eps_milli, float alpha) {
    char name[64];
    snprintf(name, sizeof name, "apgd_step %s eps %g alpha %g", l2 ? "L2" : "Linf",
             eps_milli / 1000.0, (double)alpha);
    op_row *r = op_add(tab, name);
    const size_t total = (size_t)n * 784;
    r->n = n, r->in_dim = 784, r->bias = l2, r->len = (size_t)eps_milli, r->alpha = alpha;
    r->run = apgd_step_run, r->twice = 1;
    op_set(r, A_X, OP_INOUT, total, 0, 1, 0);
    op_set(r, A_XP, OP_INOUT, total, 0, 1, 0);
    op_set(r, A_G, OP_IN, total, -1, 1, 0);
    op_set(r, A_X0, OP_IN, total, 0, 1, 0);
    op_set(r, A_STEP, OP_IN, (size_t)n, 0, 2.0f * eps_milli / 1000.0f, 0);
    r->tol = l2 ? (op_tol){1e-6, 1e-5, 1e-12} : EXACT; /* L2: row norms in another order */
}

enum { U_STEP, U_LBEST, U_LPREV, U_BLAST, U_COUNT, U_RED, U_ROB, U_XB, U_GB, U_XA, U_X, U_G,
       U_LOSS, U_FOOL };

static foil_apgd_state state_of(void *const *t) {
    return (foil_apgd_state){F(U_STEP), F(U_LBEST), F(U_LPREV), F(U_BLAST),
                             (int32_t *)t[U_COUNT], (int32_t *)t[U_RED], (int32_t *)t[U_ROB]};
}
static int apgd_update_run(foil_backend *b, void *const *t, const op_row *r) {
    foil_apgd_state st = state_of(t);
    return b->apgd_update(b, &st, F(U_XB), F(U_GB), F(U_XA), F(U_X), F(U_G), F(U_LOSS),
                          (const int32_t *)t[U_FOOL], r->n, (size_t)r->in_dim);
}
static int apgd_checkpoint_run(foil_backend *b, void *const *t, const op_row *r) {
    foil_apgd_state st = state_of(t);
    return b->apgd_checkpoint(b, &st, F(U_X), F(U_G), F(U_XB), F(U_GB), r->classes, r->alpha,
                              r->n, (size_t)r->in_dim);
}

/* update (checkpoint 0) or checkpoint after k steps: losses, counts and
 * flags drawn so that every branch is taken */
static void apgd_book(op_table *tab, int n, int checkpoint, int k) {
    char name[64];
    snprintf(name, sizeof name, "apgd_%s n=%d", checkpoint ? "checkpoint" : "update", n);
    op_row *r = op_add(tab, name);
    const size_t total = (size_t)n * 784;
    r->n = n, r->in_dim = 784, r->classes = k, r->alpha = FOIL_APGD_RHO, r->tol = EXACT;
    r->run = checkpoint ? apgd_checkpoint_run : apgd_update_run, r->twice = 1;
    op_set(r, U_STEP, OP_INOUT, (size_t)n, 0, 1, 0);
    op_set(r, U_LBEST, OP_INOUT, (size_t)n, 0, 1, 0);
    op_set(r, U_LPREV, OP_INOUT, (size_t)n, 0, 1, 0);
    op_set(r, U_BLAST, OP_INOUT, (size_t)n, 0, 1, 0);
    op_set(r, U_COUNT, OP_INOUT, (size_t)n, 0, 2.0f * k, 1);
    op_set(r, U_RED, OP_INOUT, (size_t)n, 0, 2, 1);
    op_set(r, U_ROB, OP_INOUT, (size_t)n, 0, 2, 1);
    op_set(r, U_XB, OP_INOUT, total, 0, 1, 0);
    op_set(r, U_GB, OP_INOUT, total, -1, 1, 0);
    op_set(r, U_XA, OP_INOUT, total, 0, 1, 0);
    op_set(r, U_X, OP_INOUT, total, 0, 1, 0);
    op_set(r, U_G, OP_INOUT, total, -1, 1, 0);
    op_set(r, U_LOSS, OP_IN, (size_t)n, 0, 1, 0);
    op_set(r, U_FOOL, OP_IN, (size_t)n, 0, 2, 1);
}

/* ---- Square: proposals and bookkeeping ------------------------------------------- */

enum { Q_XN, Q_XB, Q_X0, Q_IDS, Q_MB, Q_QUER, Q_LOGITS, Q_LABELS };

/* rows r -> samples (7 r + 3) mod in_dim: distinct, out of order */
static int square_ids(foil_backend *b, void *const *t, const op_row *r) {
    (void)b;
    for (int i = 0; i < r->n; i++) ((int32_t *)t[Q_IDS])[i] = (7 * i + 3) % r->in_dim;
    return 0;
}
static int square_propose_run(foil_backend *b, void *const *t, const op_row *r) {
    foil_square_params sq = {r->bias ? FOIL_NORM_L2 : FOIL_NORM_LINF, r->alpha, r->cs.c,
                             r->cs.h, r->cs.w, r->classes, (int)r->len, 11, 2, 1000, NULL};
    return b->square_propose(b, F(Q_XN), F(Q_XB), F(Q_X0), (const int32_t *)t[Q_IDS], r->n, &sq);
}
static int square_update_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->square_update(b, F(Q_XB), F(Q_MB), (int32_t *)t[Q_QUER], F(Q_XN), F(Q_LOGITS),
                            (const int32_t *)t[Q_LABELS], (const int32_t *)t[Q_IDS], r->n,
                            r->classes, (size_t)r->cs.c * r->cs.h * r->cs.w);
}

/* n proposals for samples of c x h x w (in_dim samples, 7 must not divide
 * it), iteration t (0: the start) with a square of side s; l2: the L2
 * version (foil/square_l2.h; r->bias carries it), eps 1.5 */
static void square_propose(op_table *tab, int n, int samples, int c, int h, int w, int t,
                           int side, int l2) {
    char name[80];
    snprintf(name, sizeof name, "square_propose%s %d of %d, %dx%dx%d, t %d side %d",
             l2 ? " l2" : "", n, samples, c, h, w, t, side);
    op_row *r = op_add(tab, name);
    const size_t row = (size_t)c * h * w;
    r->n = n, r->in_dim = samples, r->cs.c = c, r->cs.h = h, r->cs.w = w, r->len = (size_t)t;
    r->classes = side, r->alpha = l2 ? 1.5f : 0.3f, r->bias = l2;
    r->run = square_propose_run, r->prep = square_ids;
    r->tol = EXACT, r->twice = 1;
    op_set(r, Q_XN, OP_OUT, (size_t)n * row, 0, 0, 0);
    op_set(r, Q_XB, OP_IN, (size_t)samples * row, 0, 1, 0);
    op_set(r, Q_X0, OP_IN, (size_t)samples * row, 0, 1, 0);
    op_set(r, Q_IDS, OP_IN, (size_t)n, 0, 1, 1);
}

/* margins of both signs: some samples already fooled, some proposals taken */
static void square_update(op_table *tab, int n, int samples, int classes) {
    char name[80];
    snprintf(name, sizeof name, "square_update %d of %d, C=%d", n, samples, classes);
    op_row *r = op_add(tab, name);
    const size_t row = 784;
    r->n = n, r->in_dim = samples, r->cs.c = 1, r->cs.h = 28, r->cs.w = 28, r->classes = classes;
    r->run = square_update_run, r->prep = square_ids, r->tol = EXACT, r->twice = 1;
    op_set(r, Q_XN, OP_IN, (size_t)n * row, 0, 1, 0);
    op_set(r, Q_XB, OP_INOUT, (size_t)samples * row, 0, 1, 0);
    op_set(r, Q_IDS, OP_IN, (size_t)n, 0, 1, 1);
    op_set(r, Q_MB, OP_INOUT, (size_t)samples, -1, 3, 0);
    op_set(r, Q_QUER, OP_INOUT, (size_t)samples, 0, 100, 1);
    op_set(r, Q_LOGITS, OP_IN, (size_t)n * classes, -2, 2, 0);
    op_set(r, Q_LABELS, OP_IN, (size_t)samples, 0, (float)classes, 1);
}

/* ---- FAB-T: the logit difference, the step, the bookkeeping -------------------- */

enum { B_X, B_X0, B_G, B_DIFF, B_ADV, B_DIST, B_FOOL, B_LOGITS, B_LAB, B_TGT, B_DZ };

static int fab_diff_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->fab_diff(b, F(B_DIFF), F(B_DZ), F(B_LOGITS), (const int32_t *)t[B_LAB],
                       (const int32_t *)t[B_TGT], r->n, r->classes);
}
/* r->bias: 1 for the L2 versions */
static int fab_step_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->fab_step(b, F(B_X), F(B_X0), F(B_G), F(B_DIFF), 1.05f, r->alpha,
                       r->bias ? FOIL_NORM_L2 : FOIL_NORM_LINF, r->n, (size_t)r->in_dim);
}
static int fab_update_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->fab_update(b, F(B_ADV), F(B_DIST), F(B_X), F(B_X0), (const int32_t *)t[B_FOOL], 0.9f,
                         r->bias ? FOIL_NORM_L2 : FOIL_NORM_LINF, r->n, (size_t)r->in_dim);
}

static void fab_diff(op_table *tab, int n, int classes) {
    char name[64];
    snprintf(name, sizeof name, "fab_diff C=%d", classes);
    op_row *r = op_add(tab, name);
    r->n = n, r->classes = classes, r->run = fab_diff_run, r->tol = EXACT, r->twice = 1;
    op_set(r, B_LOGITS, OP_IN, (size_t)n * classes, -5, 5, 0);
    op_set(r, B_LAB, OP_IN, (size_t)n, 0, (float)classes, 1);
    op_set(r, B_TGT, OP_IN, (size_t)n, 0, (float)classes, 1);
    op_set(r, B_DIFF, OP_OUT, (size_t)n, 0, 0, 0);
    op_set(r, B_DZ, OP_OUT, (size_t)n * classes, 0, 0, 0);
}

/* diff in [-d, d]: small, every hyperplane within reach; large, some rows
 * go to the box's corner */
static void fab_step(op_table *tab, int n, float d, float alpha_max, int l2) {
    char name[64];
    snprintf(name, sizeof name, "fab_step%s diff +-%g alpha_max %g", l2 ? " l2" : "", (double)d,
             (double)alpha_max);
    op_row *r = op_add(tab, name);
    const size_t total = (size_t)n * 784;
    r->n = n, r->in_dim = 784, r->alpha = alpha_max, r->run = fab_step_run, r->twice = 1;
    r->bias = l2;
    op_set(r, B_X, OP_INOUT, total, 0, 1, 0);
    op_set(r, B_X0, OP_IN, total, 0, 1, 0);
    op_set(r, B_G, OP_IN, total, -1, 1, 0);
    op_set(r, B_DIFF, OP_IN, (size_t)n, -d, d, 0);
    r->tol = (op_tol){1e-6, 1e-5, 1e-12}; /* row sums in another order */
}

/* L2: the distance is a row sum, in another order on the GPU; the rows'
 * distances are far enough from dist's range edges that the decisions agree */
static void fab_update(op_table *tab, int n, int l2) {
    op_row *r = op_add(tab, l2 ? "fab_update l2" : "fab_update");
    const size_t total = (size_t)n * 784;
    r->n = n, r->in_dim = 784, r->run = fab_update_run, r->twice = 1, r->bias = l2;
    r->tol = l2 ? (op_tol){1e-6, 1e-5, 1e-12} : EXACT;
    op_set(r, B_X, OP_INOUT, total, 0, 1, 0);
    op_set(r, B_X0, OP_IN, total, 0, 1, 0);
    op_set(r, B_ADV, OP_INOUT, total, 0, 1, 0);
    /* some rows closer, some not (L2: x - x0 of uniform rows has norm ~ 11.4) */
    op_set(r, B_DIST, OP_INOUT, (size_t)n, l2 ? 10.0f : 0.9f, l2 ? 13.0f : 1.0f, 0);
    op_set(r, B_FOOL, OP_IN, (size_t)n, 0, 2, 1);
}

/* ---- DeepFool's step ------------------------------------------------------------- */

enum { DF_X, DF_R, DF_X0, DF_DIFF, DF_G, DF_LAB, DF_ACT };

static int deepfool_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->deepfool_step(b, F(DF_X), F(DF_R), F(DF_X0), F(DF_DIFF), F(DF_G),
                            (const int32_t *)t[DF_LAB], (const int32_t *)t[DF_ACT], r->n,
                            r->classes, (size_t)r->in_dim, 0.02f);
}

static void deepfool_step(op_table *tab, int n, int classes) {
    char name[64];
    snprintf(name, sizeof name, "deepfool_step C=%d", classes);
    op_row *r = op_add(tab, name);
    const size_t total = (size_t)n * 784;
    r->n = n, r->in_dim = 784, r->classes = classes, r->run = deepfool_run, r->twice = 1;
    op_set(r, DF_X, OP_INOUT, total, 0, 1, 0);
    op_set(r, DF_R, OP_INOUT, total, -0.1f, 0.1f, 0);
    op_set(r, DF_X0, OP_IN, total, 0, 1, 0);
    op_set(r, DF_DIFF, OP_IN, (size_t)classes * n, -3, 3, 0);
    op_set(r, DF_G, OP_IN, (size_t)classes * total, -1, 1, 0);
    op_set(r, DF_LAB, OP_IN, (size_t)n, 0, (float)classes, 1);
    op_set(r, DF_ACT, OP_IN, (size_t)n, 0, 2, 1);
    r->tol = (op_tol){1e-6, 1e-5, 1e-12}; /* row norms in another order */
}

/* ---- CW-L2: the margin, the bookkeeping, the Adam step in tanh space ------------ */

/* the three rows' tensors: margin, bookkeeping, step */
enum { W_LOGITS, W_LAB, W_C, W_LOSS, W_DZ };
enum { U2_BEST, U2_ADV, U2_FOUND, U2_DIST, U2_X, U2_X0, U2_FOOL };
enum { T_W, T_M, T_V, T_X, T_G, T_X0, T_ACT };

static int cw_margin_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->cw_margin(b, F(W_LOSS), F(W_DZ), F(W_LOGITS), (const int32_t *)t[W_LAB], F(W_C),
                        r->alpha, r->n, r->classes);
}
static int cw_update_run(foil_backend *b, void *const *t, const op_row *r) {
    return b->cw_update(b, F(U2_BEST), F(U2_ADV), (int32_t *)t[U2_FOUND], F(U2_DIST), F(U2_X),
                        F(U2_X0), (const int32_t *)t[U2_FOOL], r->n, (size_t)r->in_dim);
}
static int cw_step_run(foil_backend *b, void *const *t, const op_row *r) {
    const foil_adam_hparams hp = {0.01f, 0.9f, 0.999f, 1e-8f, 0.0f, 3};
    return b->cw_step(b, F(T_W), F(T_M), F(T_V), F(T_X), F(T_G), F(T_X0),
                      (const int32_t *)t[T_ACT], r->n, (size_t)r->in_dim, &hp);
}

static void cw_rows(op_table *tab, int n) {
    const size_t total = (size_t)n * 784;
    op_row *r = op_add(tab, "cw_margin kappa 0.5");
    r->n = n, r->classes = 10, r->alpha = 0.5f, r->run = cw_margin_run, r->tol = EXACT;
    r->twice = 1;
    op_set(r, W_LOGITS, OP_IN, (size_t)n * 10, -3, 3, 0);
    op_set(r, W_LAB, OP_IN, (size_t)n, 0, 10, 1);
    op_set(r, W_C, OP_IN, (size_t)n, 0, 5, 0);
    op_set(r, W_LOSS, OP_OUT, (size_t)n, 0, 0, 0);
    op_set(r, W_DZ, OP_OUT, (size_t)n * 10, 0, 0, 0);
    r = op_add(tab, "cw_update");
    r->n = n, r->in_dim = 784, r->run = cw_update_run, r->twice = 1;
    r->tol = (op_tol){1e-6, 1e-5, 1e-12}; /* the distance: a sum in another order */
    op_set(r, U2_BEST, OP_INOUT, (size_t)n, 120, 140, 0); /* around the distances */
    op_set(r, U2_ADV, OP_INOUT, total, 0, 1, 0);
    op_set(r, U2_FOUND, OP_INOUT, (size_t)n, 0, 2, 1);
    op_set(r, U2_DIST, OP_OUT, (size_t)n, 0, 0, 0);
    op_set(r, U2_X, OP_IN, total, 0, 1, 0);
    op_set(r, U2_X0, OP_IN, total, 0, 1, 0);
    op_set(r, U2_FOOL, OP_IN, (size_t)n, 0, 2, 1);
    r = op_add(tab, "cw_step");
    r->n = n, r->in_dim = 784, r->run = cw_step_run, r->twice = 1;
    r->tol = (op_tol){1e-6, 1e-5, 1e-12}; /* tanhf and contractions may differ in the last bit */
    op_set(r, T_W, OP_INOUT, total, -3, 3, 0);
    op_set(r, T_M, OP_INOUT, total, -0.1f, 0.1f, 0);
    op_set(r, T_V, OP_INOUT, total, 0, 0.01f, 0);
    op_set(r, T_X, OP_INOUT, total, 0, 1, 0);
    op_set(r, T_G, OP_IN, total, -1, 1, 0);
    op_set(r, T_X0, OP_IN, total, 0, 1, 0);
    op_set(r, T_ACT, OP_IN, (size_t)n, 0, 2, 1);
}

#endif
