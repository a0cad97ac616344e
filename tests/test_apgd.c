/* APGD (issue 19) on the CPU backend:
 *   - the checkpoints for 100 and 1000 iterations are the paper's w_j =
 *     ceil(p_j N), p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} -
 *     0.03, 0.06);
 *   - the schedule ops on scripted loss sequences halve the step exactly
 *     when the paper's two conditions say (a rising loss never; a constant
 *     one at every checkpoint; 16 of 22 rising steps at the first, 17 not; a
 *     sawtooth whose best does not improve at every second checkpoint) and
 *     send a halving sample back to its best point and gradient;
 *   - the DLR loss's gradient (untargeted and targeted) matches central
 *     differences in double;
 *   - APGD-CE, -DLR and -T, L-inf and L2, stay in the eps-ball and [0, 1],
 *     give the same bits for the same seed and do not depend on the batch;
 *     on a small CNN APGD-CE breaks at least as many samples as PGD-40. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/elementwise.h"
#include "small_cnn.h"
#include "testutil.h"

static void test_checkpoints(void) {
    const int sizes[] = {100, 1000};
    for (int s = 0; s < 2; s++) {
        const int n = sizes[s];
        int len[64], want[64], nw = 0;
        double p0 = 0.0, p1 = 0.22;
        while ((int)ceil(p1 * n - 1e-9) <= n) {
            want[nw++] = (int)ceil(p1 * n - 1e-9);
            double next = p1 + fmax(p1 - p0 - 0.03, 0.06);
            p0 = p1, p1 = next;
        }
        int k = foil_apgd_checkpoints(n, len, 64), at = 0, same = k == nw;
        printf("  %d iterations: checkpoints after", n);
        for (int j = 0; j < k && j < 64; j++) {
            at += len[j];
            printf(" %d", at);
            same &= j < nw && at == want[j];
        }
        printf(" steps\n");
        TU_CHECK(same, "%d iterations: %d checkpoints, the paper has %d", n, k, nw);
    }
    TU_CHECK(foil_apgd_checkpoints(1, NULL, 0) == 1, "one iteration: one checkpoint");
}

/* The paper's rule, on the host, for one scripted sequence: losses[0] is the
 * start, losses[1..n] the iterates; returns the step after each checkpoint. */
static int rule(const float *loss, int n, float eta, float *steps_out) {
    int len[64], nck = foil_apgd_checkpoints(n, len, 64), at = 0, reduced = 1;
    float best = loss[0], best_last = -INFINITY;
    for (int j = 0; j < nck; j++) {
        int up = 0;
        for (int i = at + 1; i <= at + len[j]; i++) {
            up += loss[i] > loss[i - 1];
            best = fmaxf(best, loss[i]);
        }
        at += len[j];
        int halve = up <= 0.75f * len[j] || (!reduced && best_last >= best);
        if (halve) eta *= 0.5f;
        reduced = halve, best_last = best;
        steps_out[j] = eta;
    }
    return nck;
}

#define ROWS 4
#define ITERS 100

/* The schedule ops on four scripted rows of 2 floats: x of iterate i is
 * (i, -i), its gradient (10 i, 0), so where a row goes back is visible. */
static void test_schedule(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    TU_CHECK(b != NULL, "%s", err.msg);
    static float script[ROWS][ITERS + 1];
    for (int i = 0; i <= ITERS; i++) {
        script[0][i] = (float)i;           /* rising: never halves */
        script[1][i] = 1.0f;               /* constant: halves at every checkpoint */
        script[2][i] = i == 0 ? 10.0f : (float)((i - 1) % 5); /* sawtooth below the start */
        script[3][i] = 0.0f;
    }
    for (int i = 1; i <= 22; i++) script[3][i] = i <= 16 ? (float)i : 16.0f - 0.1f * i;
    float step[ROWS], lb[ROWS], lp[ROWS], bl[ROWS];
    int32_t count[ROWS], reduced[ROWS], robust[ROWS], fooled[ROWS] = {0};
    foil_apgd_state st = {step, lb, lp, bl, count, reduced, robust};
    float x[ROWS * 2], g[ROWS * 2], xb[ROWS * 2], gb[ROWS * 2], xa[ROWS * 2], loss[ROWS];
    for (int r = 0; r < ROWS; r++) {
        step[r] = 0.6f, lb[r] = -INFINITY, lp[r] = INFINITY, bl[r] = -INFINITY;
        count[r] = 0, reduced[r] = 1, robust[r] = 1;
    }
    int len[64], nck = foil_apgd_checkpoints(ITERS, len, 64), j = 0, since = 0, ok = 1;
    float want[ROWS][64];
    for (int r = 0; r < ROWS; r++) rule(script[r], ITERS, 0.6f, want[r]);
    for (int i = 0; i <= ITERS; i++) {
        for (int r = 0; r < ROWS; r++) {
            x[2 * r] = (float)i, x[2 * r + 1] = (float)-i;
            g[2 * r] = 10.0f * i, g[2 * r + 1] = 0.0f;
            loss[r] = script[r][i];
        }
        ok &= b->apgd_update(b, &st, xb, gb, xa, x, g, loss, fooled, ROWS, 2) == 0;
        if (i == 0 || j >= nck || ++since < len[j]) continue;
        ok &= b->apgd_checkpoint(b, &st, x, g, xb, gb, len[j], FOIL_APGD_RHO, ROWS, 2) == 0;
        for (int r = 0; r < ROWS; r++) {
            int halved = j == 0 ? step[r] < 0.6f : step[r] < want[r][j - 1];
            /* the best point's iterate: the first of the largest losses */
            int bi = 0;
            for (int t = 1; t <= i; t++) bi = script[r][t] > script[r][bi] ? t : bi;
            TU_CHECK(step[r] == want[r][j], "row %d, checkpoint %d (iteration %d): step %g, "
                     "the rule says %g", r, j, i, (double)step[r], (double)want[r][j]);
            if (halved)
                TU_CHECK(x[2 * r] == (float)bi && g[2 * r] == 10.0f * bi,
                         "row %d halves at checkpoint %d and goes back to iterate %d (x %g)", r,
                         j, bi, (double)x[2 * r]);
        }
        since = 0, j++;
    }
    TU_CHECK(ok && j == nck, "the ops ran (%d of %d checkpoints)", j, nck);
    printf("  steps after %d checkpoints: rising %g, constant %g, sawtooth %g, 16/22 %g\n", nck,
           (double)step[0], (double)step[1], (double)step[2], (double)step[3]);
    TU_CHECK(step[0] == 0.6f && step[1] == 0.6f / (float)(1 << nck),
             "a rising loss keeps 2 eps, a constant one halves %d times", nck);
    TU_CHECK(want[2][0] == 0.6f && want[2][1] == 0.3f && want[2][2] == 0.3f,
             "the sawtooth: no halving at the first checkpoint (80%% rising), one at the second "
             "(no better loss)");
    TU_CHECK(want[3][0] == 0.3f, "16 of 22 rising steps halve (<= 0.75 x 22)");
    script[3][17] = 17.0f; /* 17 of 22 */
    float again[64];
    rule(script[3], ITERS, 0.6f, again);
    TU_CHECK(again[0] == 0.6f, "17 of 22 rising steps do not halve");
    b->destroy(b);
}

static void test_dlr_gradient(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    const int n = 6, c = 10;
    float z[6 * 10], dz[6 * 10], loss[6];
    int32_t y[6], t[6];
    for (int i = 0; i < n * c; i++) z[i] = 4.0f * foil_rng_uniform(2, 3, (uint64_t)i) - 2.0f;
    for (int i = 0; i < n; i++) y[i] = i % c, t[i] = (i * 3 + 1) % c;
    for (int targeted = 0; targeted < 2; targeted++) {
        TU_CHECK(b->dlr_loss(b, loss, dz, z, y, targeted ? t : NULL, n, c) == 0, "%s", b->err.msg);
        double worst = 0.0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < c; j++) {
                float zp[10], zm[10];
                memcpy(zp, z + i * c, sizeof zp), memcpy(zm, z + i * c, sizeof zm);
                const float h = 1e-3f;
                zp[j] += h, zm[j] -= h;
                double fd = ((double)foil_dlr_row(zp, c, y[i], targeted ? t[i] : -1, NULL) -
                             foil_dlr_row(zm, c, y[i], targeted ? t[i] : -1, NULL)) / (2.0 * h);
                worst = fmax(worst, fabs(fd - dz[i * c + j]));
            }
        printf("  DLR%s: loss[0] %.4f, |gradient - central difference| <= %.2e\n",
               targeted ? " (targeted)" : "", (double)loss[0], worst);
        TU_CHECK(worst < 2e-2, "DLR%s gradient off by %g", targeted ? " targeted" : "", worst);
    }
    int32_t bad[1] = {12};
    TU_CHECK(b->dlr_loss(b, loss, dz, z, bad, NULL, 1, c) != 0 && strstr(b->err.msg, "12"),
             "a label out of range: %s", b->err.msg);
    TU_CHECK(b->dlr_loss(b, loss, dz, z, y, t, 1, 3) != 0 && strstr(b->err.msg, "at least 4"),
             "targeted DLR on 3 classes: %s", b->err.msg);
    b->destroy(b);
}

#define N CNN_N


/* Samples [i0, i0 + n) attacked into out; returns how many are misclassified. */
static int run(cnn_fixture *f, const foil_attack_spec *s, int i0, int n, float *out) {
    foil_err err;
    const size_t row = f->m.in_size;
    int rc = foil_attack_run(&f->net, &f->w, s, out + i0 * row, f->x0 + i0 * row, f->y + i0, n,
                             i0, NULL, &err);
    TU_CHECK(rc == 0, "%s: %s", foil_attack_name(s->kind), rc ? err.msg : "");
    const float *logits;
    int32_t pred[N];
    foil_net_forward(&f->net, out + i0 * row, n, 0, 0, 0, &logits, &err);
    f->b->argmax(f->b, pred, logits, n, 10);
    int wrong = 0;
    for (int i = 0; i < n; i++) wrong += pred[i] != f->y[i0 + i];
    return wrong;
}

static double worst_norm(const cnn_fixture *f, const float *adv, foil_norm norm, int *outside) {
    const size_t row = f->m.in_size;
    double worst = 0.0;
    *outside = 0;
    for (int i = 0; i < N; i++) {
        double l2 = 0.0, linf = 0.0;
        for (size_t j = 0; j < row; j++) {
            float v = adv[i * row + j], d = v - f->x0[i * row + j];
            *outside += !(v >= 0.0f && v <= 1.0f);
            l2 += (double)d * d, linf = fmax(linf, fabs(d));
        }
        worst = fmax(worst, norm == FOIL_NORM_L2 ? sqrt(l2) : linf);
    }
    return worst;
}

static void test_attacks(void) {
    static cnn_fixture f, g;
    static float a[N * 784], again[N * 784], split[N * 784], pgd_out[N * 784];
    cnn_setup(&f, N);
    cnn_setup(&g, 10); /* batches of at most 10 */
    const foil_attack_kind kinds[] = {FOIL_ATTACK_APGD_CE, FOIL_ATTACK_APGD_DLR, FOIL_ATTACK_APGD_T};
    for (int k = 0; k < 3; k++)
        for (int l2 = 0; l2 < 2; l2++) {
            foil_attack_spec s = {.kind = kinds[k], .eps = l2 ? 0.15f : 0.008f, .steps = 20,
                                  .restarts = 1, .random_start = 1, .seed = 5,
                                  .norm = l2 ? FOIL_NORM_L2 : FOIL_NORM_LINF,
                                  .target_classes = 3};
            int wrong = run(&f, &s, 0, N, a);
            run(&f, &s, 0, N, again);
            run(&g, &s, 0, 10, split), run(&g, &s, 10, 10, split), run(&g, &s, 20, 4, split);
            int outside;
            double worst = worst_norm(&f, a, s.norm, &outside);
            printf("  %-8s %s eps %.3f: %2d of %d misclassified, largest perturbation %.6f\n",
                   foil_attack_name(s.kind), l2 ? "L2  " : "Linf", (double)s.eps, wrong, N, worst);
            TU_CHECK(outside == 0 && worst <= s.eps * (1 + 1e-5) + 1e-6,
                     "%s: in the ball (%g) and [0, 1] (%d outside)", foil_attack_name(s.kind),
                     worst, outside);
            TU_CHECK(memcmp(a, again, sizeof a) == 0, "%s: same seed, same bits",
                     foil_attack_name(s.kind));
            TU_CHECK(memcmp(a, split, sizeof a) == 0, "%s: batches of 10 give the same bits",
                     foil_attack_name(s.kind));
        }
    foil_attack_spec ap = {.kind = FOIL_ATTACK_APGD_CE, .eps = 0.006f, .steps = 100,
                           .restarts = 1, .random_start = 1, .seed = 5};
    foil_attack_spec pgd = {.kind = FOIL_ATTACK_PGD, .eps = 0.006f, .steps = 40, .restarts = 1,
                            .random_start = 1, .seed = 5};
    int wa = run(&f, &ap, 0, N, a), wp = run(&f, &pgd, 0, N, pgd_out);
    printf("  eps 0.006: APGD-CE-100 misclassifies %d of %d, PGD-40 %d\n", wa, N, wp);
    TU_CHECK(wa >= wp, "APGD-CE (%d) is not weaker than PGD-40 (%d)", wa, wp);
    cnn_teardown(&f);
    cnn_teardown(&g);
}

int main(int argc, char **argv) {
    (void)argc;
    foil_cpu_restart(argv); /* OpenBLAS's kernels as foil picks them (same bits per batch) */
    printf("checkpoints\n");
    test_checkpoints();
    printf("schedule on scripted losses\n");
    test_schedule();
    printf("DLR gradient\n");
    test_dlr_gradient();
    printf("attacks\n");
    test_attacks();
    return tu_finish("test_apgd");
}
