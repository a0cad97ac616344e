/* The Square attack (issue 19) on the CPU backend:
 *   - the square's side follows the reference's schedule (values printed by
 *     pyautoattack 0.2.0's p_selection: fixed, as AutoAttack runs it, and
 *     stretched to 5000 and 100 queries);
 *   - square_propose: the start is vertical stripes of +-eps; later
 *     proposals change exactly one s x s square of x_best by +-2 eps per
 *     channel, projected into the ball and [0, 1], at every position;
 *   - square_update: counts queries and takes proposals only for samples
 *     still robust, and only when the margin drops;
 *   - the attack, L-inf and L2 (its proposals: test_square_l2): in the
 *     eps-ball and [0, 1]; eps 0 leaves the images as
 *     they are; a robust sample takes exactly the query budget, and a
 *     sample broken at query q is broken with a budget of q and not of q - 1
 *     (schedule fixed);
 *     same seed same bits, another seed other bits; batches of 10 give the
 *     same bits as one batch; 300 queries break more samples than the start. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

static void test_schedule(void) {
    /* (t, side): query t + 1, from the reference's p_selection: AutoAttack's
     * fixed schedule (resc_schedule=False; foil: queries 10000), and the one
     * stretched to 5000 queries */
    static const int FIXED[][2] = {{1, 25},    {11, 25},   {12, 18},   {51, 18},
                                   {52, 13},   {201, 13},  {202, 9},   {1001, 6},
                                   {1002, 4},  {2001, 4},  {2002, 3},  {4999, 2}};
    static const int REF[][2] = {{1, 25},    {6, 25},    {7, 18},    {26, 18},
                                 {27, 13},   {101, 13},  {102, 9},   {1001, 4},
                                 {1002, 3},  {4001, 2},  {4002, 1},  {4999, 1}};
    for (size_t i = 0; i < sizeof REF / sizeof *REF; i++) {
        int s = foil_square_size(REF[i][0], 5000, 0.8f, 28, 28);
        TU_CHECK(s == REF[i][1], "5000 queries, t %d: side %d, the reference's %d", REF[i][0], s,
                 REF[i][1]);
        s = foil_square_size(FIXED[i][0], 10000, 0.8f, 28, 28);
        TU_CHECK(s == FIXED[i][1], "fixed schedule, t %d: side %d, the reference's %d",
                 FIXED[i][0], s, FIXED[i][1]);
    }
    TU_CHECK(foil_square_size(1, 100, 0.8f, 28, 28) == 25 &&
                 foil_square_size(2, 100, 0.8f, 28, 28) == 13 &&
                 foil_square_size(99, 100, 0.8f, 28, 28) == 1,
             "100 queries: the schedule is rescaled to the budget");
    TU_CHECK(foil_square_size(1, 5000, 1.0f, 5, 9) == 5, "the side is at most min(h, w)");
}

/* Rows of 2 x 6 x 7 (channels, h, w) around x0 = 0.5 (a pixel at 0.95 to
 * see the clip), x_best = x0. */
enum { C = 2, H = 6, W = 7, ROW = C * H * W, NS = 200 };

static void test_propose(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    TU_CHECK(b != NULL, "%s", err.msg);
    static float x0[NS * ROW], xb[NS * ROW], out[NS * ROW];
    static int32_t ids[NS];
    for (int i = 0; i < NS * ROW; i++) x0[i] = xb[i] = (i % ROW) == 3 ? 0.95f : 0.5f;
    for (int i = 0; i < NS; i++) ids[i] = NS - 1 - i; /* rows in reverse order */
    const float eps = 0.1f;
    foil_square_params sq = {FOIL_NORM_LINF, eps, C, H, W, 0, 0, 9, 0, 100, NULL};
    TU_CHECK(b->square_propose(b, out, xb, x0, ids, NS, &sq) == 0, "%s", b->err.msg);
    int stripes = 1, both = 0;
    for (int r = 0; r < NS; r++)
        for (int ch = 0; ch < C; ch++)
            for (int x = 0; x < W; x++) {
                const float *o = out + r * ROW + ch * H * W, *z = x0 + ids[r] * ROW + ch * H * W;
                const float d0 = o[W + x] - z[W + x]; /* row 1: never clipped */
                for (int y = 0; y < H; y++) {
                    const float d = o[y * W + x] - z[y * W + x];
                    const int clipped = z[y * W + x] > 0.9f && o[y * W + x] == 1.0f;
                    stripes &= (fabsf(d - d0) < 1e-6f || clipped) && fabsf(fabsf(d0) - eps) < 1e-6f;
                }
                both |= d0 > 0 ? 1 : 2;
            }
    TU_CHECK(stripes && both == 3, "the start: one sign of +-eps per column and channel");
    const int s = 3;
    sq.iteration = 4, sq.size = s;
    TU_CHECK(b->square_propose(b, out, xb, x0, ids, NS, &sq) == 0, "%s", b->err.msg);
    int seen[H][W] = {{0}}, ok = 1;
    for (int r = 0; r < NS; r++) {
        int top = H, left = W, bottom = -1, right = -1, changed = 0;
        for (int ch = 0; ch < C; ch++)
            for (int p = 0; p < H * W; p++) {
                const int j = ch * H * W + p;
                const float d = out[r * ROW + j] - xb[ids[r] * ROW + j];
                if (d == 0.0f) continue;
                changed++;
                ok &= fabsf(fabsf(d) - eps) < 1e-6f || (j == 3 && out[r * ROW + j] == 1.0f);
                top = p / W < top ? p / W : top, bottom = p / W > bottom ? p / W : bottom;
                left = p % W < left ? p % W : left, right = p % W > right ? p % W : right;
            }
        ok &= changed <= C * s * s && bottom - top == s - 1 && right - left == s - 1;
        if (bottom - top == s - 1) seen[top][left]++;
    }
    int positions = 0;
    for (int y = 0; y + s <= H; y++)
        for (int x = 0; x + s <= W; x++) positions += seen[y][x] > 0;
    printf("  side %d on %dx%d: %d of %d positions drawn by %d samples\n", s, H, W, positions,
           (H - s + 1) * (W - s + 1), NS);
    TU_CHECK(ok, "a proposal changes one %dx%d square by +-eps (x_best = x0)", s, s);
    TU_CHECK(positions == (H - s + 1) * (W - s + 1), "every position, the last row and column "
             "included");
    /* the same sample in another row of another batch draws the same proposal */
    static float one[ROW];
    int32_t id7[1] = {7};
    TU_CHECK(b->square_propose(b, one, xb, x0, id7, 1, &sq) == 0, "%s", b->err.msg);
    TU_CHECK(memcmp(one, out + (NS - 1 - 7) * ROW, sizeof one) == 0,
             "a sample's proposal does not depend on its row");
    sq.size = H + 1;
    TU_CHECK(b->square_propose(b, out, xb, x0, ids, 1, &sq) != 0, "a square larger than the image");
    b->destroy(b);
}

static void test_update(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    /* samples 0..3, evaluated in rows 0..3 as ids {2, 0, 3, 1} */
    float xb[4 * 2] = {0, 0, 1, 1, 2, 2, 3, 3}, xn[4 * 2] = {10, 10, 11, 11, 12, 12, 13, 13};
    float best[4] = {1.0f, 0.5f, -0.2f, 2.0f};
    int32_t q[4] = {5, 5, 5, 5}, y[4] = {0, 1, 0, 2}, ids[4] = {2, 0, 3, 1};
    float z[4 * 3] = {
        0.0f, 3.0f, 0.0f,  /* row 0, sample 2: fooled before, left alone */
        1.0f, 0.2f, 0.3f,  /* row 1, sample 0: margin 0.7 < 1.0: taken */
        0.0f, 0.0f, 2.5f,  /* row 2, sample 3: margin 2.5 > 2.0: counted, not taken */
        0.0f, 0.4f, 0.9f,  /* row 3, sample 1: margin -0.5: taken (broken) */
    };
    TU_CHECK(b->square_update(b, xb, best, q, xn, z, y, ids, 4, 3, 2) == 0, "%s", b->err.msg);
    TU_CHECK(fabsf(best[0] - 0.7f) < 1e-6f && fabsf(best[1] + 0.5f) < 1e-6f &&
                 best[2] == -0.2f && best[3] == 2.0f,
             "margins: %g %g %g %g", best[0], best[1], best[2], best[3]);
    TU_CHECK(q[0] == 6 && q[1] == 6 && q[2] == 5 && q[3] == 6, "queries %d %d %d %d", q[0], q[1],
             q[2], q[3]);
    TU_CHECK(xb[0] == 11 && xb[2] == 13 && xb[4] == 2 && xb[6] == 3, "taken rows: %g %g %g %g",
             xb[0], xb[2], xb[4], xb[6]);
    y[1] = 3;
    TU_CHECK(b->square_update(b, xb, best, q, xn, z, y, ids, 4, 3, 2) != 0 &&
                 strstr(b->err.msg, "label 3"), "a label out of range: %s", b->err.msg);
    b->destroy(b);
}

#define N CNN_N
#define IMG 784


/* Samples [i0, i0 + n) attacked into out (their queries into q when not
 * NULL); returns how many are misclassified, their flags into wrong. */
static int run(cnn_fixture *f, const foil_attack_spec *s, int i0, int n, float *out, int32_t *q,
               int *wrong) {
    foil_err err;
    int rc = foil_attack_run(&f->net, &f->w, s, out + i0 * IMG, f->x0 + i0 * IMG, f->y + i0, n,
                             i0, NULL, &err);
    TU_CHECK(rc == 0, "square: %s", rc ? err.msg : "");
    if (q) memcpy(q + i0, f->w.queries, sizeof(int32_t) * (size_t)n);
    const float *logits;
    int32_t pred[N];
    foil_net_forward(&f->net, out + i0 * IMG, n, 0, 0, 0, &logits, &err);
    f->b->argmax(f->b, pred, logits, n, 10);
    int count = 0;
    for (int i = 0; i < n; i++) {
        int w = pred[i] != f->y[i0 + i];
        if (wrong) wrong[i0 + i] = w;
        count += w;
    }
    return count;
}

/* The largest distance of a sample from x0 in the attack's norm. */
static double worst_distance(const float *a, const float *x0, foil_norm norm) {
    double worst = 0.0;
    for (int i = 0; i < N; i++) {
        double d = 0.0;
        for (int k = 0; k < IMG; k++) {
            const double v = fabs((double)a[i * IMG + k] - x0[i * IMG + k]);
            d = norm == FOIL_NORM_L2 ? d + v * v : fmax(d, v);
        }
        worst = fmax(worst, norm == FOIL_NORM_L2 ? sqrt(d) : d);
    }
    return worst;
}

static void test_attack(foil_norm norm, float eps) {
    static cnn_fixture f, g;
    static float a[N * IMG], again[N * IMG], split[N * IMG], other[N * IMG];
    static int32_t q[N], qq[N];
    int wrong[N], wrong_q[N];
    cnn_setup(&f, N);
    cnn_setup(&g, 10);
    foil_attack_spec s = {.kind = FOIL_ATTACK_SQUARE, .eps = eps, .queries = 300,
                          .p_init = FOIL_SQUARE_P_INIT, .restarts = 1, .seed = 5, .norm = norm};
    const int broken = run(&f, &s, 0, N, a, q, wrong);
    run(&f, &s, 0, N, again, NULL, NULL);
    run(&g, &s, 0, 10, split, NULL, NULL), run(&g, &s, 10, 10, split, NULL, NULL);
    run(&g, &s, 20, 4, split, NULL, NULL);
    const double worst = worst_distance(a, f.x0, norm);
    int outside = 0, budget = 1, qmax = 0;
    for (int i = 0; i < N * IMG; i++) outside += !(a[i] >= 0.0f && a[i] <= 1.0f);
    for (int i = 0; i < N; i++) {
        budget &= wrong[i] ? q[i] >= 1 && q[i] <= s.queries : q[i] == s.queries;
        qmax = q[i] > qmax ? q[i] : qmax;
    }
    printf("  %s eps %.3f, %d queries: %d of %d broken, largest perturbation %.6f\n",
           foil_norm_name(norm), (double)s.eps, s.queries, broken, N, worst);
    TU_CHECK(outside == 0 && worst <= s.eps * (1 + (norm == FOIL_NORM_L2 ? 1e-5 : 1e-6)),
             "in the ball (%g) and [0, 1] (%d outside)", worst, outside);
    TU_CHECK(budget, "a robust sample takes exactly %d queries, a broken one at most that",
             s.queries);
    TU_CHECK(broken > 0 && broken < N, "some samples broken, some not (%d): the checks below "
             "need both", broken);
    TU_CHECK(memcmp(a, again, sizeof a) == 0, "same seed, same bits");
    foil_attack_spec stretched = s;
    stretched.rescale_schedule = 1;
    run(&f, &stretched, 0, N, other, NULL, NULL);
    TU_CHECK(memcmp(a, other, sizeof a) != 0, "rescale_schedule changes the search");
    TU_CHECK(memcmp(a, split, sizeof a) == 0, "batches of 10 give the same bits");
    /* a sample broken at query q: broken with budget q, not with q - 1 (the
     * schedule is fixed: a smaller budget runs a prefix of the same search) */
    int checked = 0;
    for (int i = 0; i < N && checked < 3; i++) {
        if (!wrong[i] || q[i] < 2) continue;
        foil_attack_spec t = s;
        t.queries = q[i];
        run(&f, &t, 0, N, other, qq, wrong_q);
        TU_CHECK(wrong_q[i] && qq[i] == q[i], "sample %d broken at query %d: with that budget "
                 "broken %d after %d", i, q[i], wrong_q[i], qq[i]);
        t.queries = q[i] - 1;
        run(&f, &t, 0, N, other, qq, wrong_q);
        TU_CHECK(!wrong_q[i] && qq[i] == q[i] - 1, "sample %d: with %d queries not broken",
                 i, q[i] - 1);
        checked++;
    }
    TU_CHECK(checked > 0, "no sample broken after the start to check the count on");
    foil_attack_spec start = s;
    start.queries = 1;
    const int at_start = run(&f, &start, 0, N, other, NULL, NULL);
    printf("  the start alone breaks %d, %d queries %d\n", at_start, s.queries, broken);
    TU_CHECK(broken > at_start, "the search breaks more than its start (%d vs %d)", broken,
             at_start);
    s.seed = 6;
    run(&f, &s, 0, N, other, NULL, NULL);
    TU_CHECK(memcmp(a, other, sizeof a) != 0, "another seed, other bits");
    s.eps = 0.0f;
    run(&f, &s, 0, N, other, NULL, NULL);
    TU_CHECK(memcmp(other, f.x0, sizeof other) == 0, "eps 0 leaves the images as they are");
    cnn_teardown(&f);
    cnn_teardown(&g);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* OpenBLAS's kernels as foil picks them (same bits per batch) */
    printf("schedule\n");
    test_schedule();
    printf("proposals\n");
    test_propose();
    printf("update\n");
    test_update();
    printf("attack\n");
    test_attack(FOIL_NORM_LINF, 0.02f);
    printf("attack, L2\n");
    test_attack(FOIL_NORM_L2, 0.3f);
    return tu_finish("test_square");
}
