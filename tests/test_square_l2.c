/* The Square attack's L2 proposals (foil/square_l2.h) on the CPU backend:
 *   - the window weights eta by hand, and the L2 window side (odd, >= 3,
 *     within the image) on the reference's p schedule;
 *   - the start: windows of side h / 5 tiling the centre, zero outside
 *     them, every window and channel of the same norm, the whole of norm eps
 *     (no pixel clipped: x0 = 0.5);
 *   - a step from a point of norm eps (windows placed by the draws the
 *     header documents): pixels outside W1 and W2 stay, W2 outside W1 goes
 *     back to x0, W1 changes, the norm stays eps; the same sample in another row gives
 *     the same bits, another iteration other bits;
 *   - in [0, 1] and the ball when pixels clip. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "foil/attack.h"
#include "foil/square_l2.h"
#include "testutil.h"

enum { C = 1, H = 28, W = 28, ROW = C * H * W, NS = 40 };

static double l2(const float *a, const float *b, int n) {
    double s = 0.0;
    for (int i = 0; i < n; i++) s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return sqrt(s);
}

static void test_weights(void) {
    const double centre = 1.0 + 1.0 / 4 + 1.0 / 9;
    TU_CHECK(fabs(foil_square_eta(5, 5, 2, 2) - centre) < 1e-15 &&
                 fabs(foil_square_eta(5, 5, 0, 4) - 1.0 / 9) < 1e-15 &&
                 fabs(foil_square_eta(5, 5, 1, 2) - (1.0 / 4 + 1.0 / 9)) < 1e-15,
             "eta on 5x5: centre 1 + 1/4 + 1/9, ring 1/4 + 1/9, corner 1/9");
    TU_CHECK(fabs(foil_square_eta(2, 5, 1, 2) - centre) < 1e-15 &&
                 fabs(foil_square_eta(2, 5, 0, 0) - 1.0 / 9) < 1e-15,
             "eta on a 2x5 rectangle: centre (1, 2), corner (0, 0)");
    /* sides: p 0.8 -> 25; after t 11 (p 0.4) round(17.7) = 18 -> 19; p 0.2 -> 13; small p -> 3 */
    TU_CHECK(foil_square_size_l2(1, 10000, 0.8f, 28, 28) == 25 &&
                 foil_square_size_l2(12, 10000, 0.8f, 28, 28) == 19 &&
                 foil_square_size_l2(52, 10000, 0.8f, 28, 28) == 13 &&
                 foil_square_size_l2(9000, 10000, 0.8f, 28, 28) == 3,
             "L2 sides 25, 19, 13, 3 (%d %d %d %d)", foil_square_size_l2(1, 10000, 0.8f, 28, 28),
             foil_square_size_l2(12, 10000, 0.8f, 28, 28),
             foil_square_size_l2(52, 10000, 0.8f, 28, 28),
             foil_square_size_l2(9000, 10000, 0.8f, 28, 28));
    TU_CHECK(foil_square_size_l2(1, 10000, 1.0f, 6, 9) == 5, "at most the largest odd side in "
             "min(h, w)");
}

static void test_start_and_step(void) {
    foil_err err;
    foil_backend *b = foil_backend_cpu_create(&err);
    TU_CHECK(b != NULL, "%s", err.msg);
    static float x0[NS * ROW], start[NS * ROW], step[NS * ROW], one[ROW], again[NS * ROW];
    static int32_t ids[NS];
    for (int i = 0; i < NS * ROW; i++) x0[i] = 0.5f;
    for (int i = 0; i < NS; i++) ids[i] = i;
    const float eps = 1.0f;
    foil_square_params sq = {FOIL_NORM_L2, eps, C, H, W, 0, 0, 3, 0, 0, NULL};
    TU_CHECK(b->square_propose(b, start, x0, x0, ids, NS, &sq) == 0, "%s", b->err.msg);
    int zero_outside = 1, same_norm = 1, on_sphere = 1;
    double w0 = -1.0;
    for (int r = 0; r < NS; r++) {
        const float *d = start + r * ROW;
        on_sphere &= fabs(l2(d, x0, ROW) - eps) < 1e-5;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (y < 1 || y >= 26 || x < 1 || x >= 26) zero_outside &= d[y * W + x] == 0.5f;
        for (int a = 0; a < 5; a++)
            for (int c = 0; c < 5; c++) {
                double ss = 0.0;
                for (int i = 0; i < 5; i++)
                    for (int j = 0; j < 5; j++) {
                        const double v = d[(1 + 5 * a + i) * W + 1 + 5 * c + j] - 0.5;
                        ss += v * v;
                    }
                if (w0 < 0) w0 = ss;
                same_norm &= fabs(ss - w0) < 1e-5 * w0;
            }
    }
    TU_CHECK(zero_outside, "the start is zero outside the 5x5 windows of the centre");
    TU_CHECK(same_norm && on_sphere, "every window of the same norm, the whole of norm eps");

    sq.iteration = 7, sq.size = 5;
    TU_CHECK(b->square_propose(b, step, start, x0, ids, NS, &sq) == 0, "%s", b->err.msg);
    int outside_same = 1, w2_back = 1, norm_ok = 1, w1_moved = 0, w2_pixels = 0;
    for (int r = 0; r < NS; r++) {
        const float *p = step + r * ROW, *q = start + r * ROW;
        const uint64_t st = FOIL_STREAM(FOIL_RNG_SQUARE, (uint64_t)r);
        int e[4];
        for (int k = 0; k < 4; k++)
            e[k] = foil_square_edge(foil_square_word(sq.seed, st, sq.iteration, (uint32_t)k),
                                    k % 2 ? W : H, sq.size);
        norm_ok &= fabs(l2(p, x0, ROW) - eps) < 1e-5;
        for (int k = 0; k < ROW; k++) {
            const int y = k / W, x = k % W;
            const int in1 = y >= e[0] && y < e[0] + 5 && x >= e[1] && x < e[1] + 5;
            const int in2 = y >= e[2] && y < e[2] + 5 && x >= e[3] && x < e[3] + 5;
            if (in1) w1_moved += fabsf(p[k] - q[k]) > 1e-4f;
            else if (in2) w2_back &= p[k] == 0.5f, w2_pixels++;
            else outside_same &= fabsf(p[k] - q[k]) < 2e-6f;
        }
    }
    TU_CHECK(norm_ok, "a step keeps the norm at eps");
    TU_CHECK(outside_same, "a step leaves the pixels outside its two windows alone");
    TU_CHECK(w2_back && w2_pixels > 0, "W2 outside W1 goes back to x0 (%d pixels)", w2_pixels);
    TU_CHECK(w1_moved > NS * 5, "W1 takes the mass (%d pixels moved)", w1_moved);
    int32_t id5[1] = {5};
    TU_CHECK(b->square_propose(b, one, start, x0, id5, 1, &sq) == 0, "%s", b->err.msg);
    TU_CHECK(memcmp(one, step + 5 * ROW, sizeof one) == 0, "a sample's proposal does not depend "
             "on its row");
    sq.iteration = 8;
    TU_CHECK(b->square_propose(b, again, start, x0, ids, NS, &sq) == 0, "%s", b->err.msg);
    TU_CHECK(memcmp(again, step, sizeof again) != 0, "another iteration, other draws");

    /* clipping: x0 at 0 and 1 alternately */
    for (int i = 0; i < NS * ROW; i++) x0[i] = (i / 3) % 2 ? 1.0f : 0.0f;
    sq.iteration = 0;
    TU_CHECK(b->square_propose(b, start, x0, x0, ids, NS, &sq) == 0, "%s", b->err.msg);
    sq.iteration = 3, sq.size = 9;
    TU_CHECK(b->square_propose(b, step, start, x0, ids, NS, &sq) == 0, "%s", b->err.msg);
    int inside = 1;
    for (int r = 0; r < NS; r++) {
        inside &= l2(start + r * ROW, x0 + r * ROW, ROW) <= eps * (1 + 1e-5) &&
                  l2(step + r * ROW, x0 + r * ROW, ROW) <= eps * (1 + 1e-5);
        for (int k = 0; k < ROW; k++)
            inside &= start[r * ROW + k] >= 0.0f && start[r * ROW + k] <= 1.0f &&
                      step[r * ROW + k] >= 0.0f && step[r * ROW + k] <= 1.0f;
    }
    TU_CHECK(inside, "clipped proposals stay in [0, 1] and the ball");
    b->destroy(b);
}

int main(void) {
    printf("weights and sides\n");
    test_weights();
    printf("start and step\n");
    test_start_and_step();
    return tu_finish("test_square_l2");
}
