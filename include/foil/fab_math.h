/* FAB's projection (Croce and Hein 2020, "Minimally distorted adversarial
 * examples with a fast adaptive boundary attack"), element by element,
 * shared by the CPU backend and the CUDA kernels (FOIL_HD as in
 * foil/elementwise.h); the row sums around it are each backend's.
 *
 * The L-inf projection of a point t onto the hyperplane <w, x> = beta
 * inside the box [0, 1]: the step d of least max |d_i| with <w, t + d> =
 * beta. With delta = beta - <w, t>, coordinate i helps by moving in
 * direction dir_i = sign(delta w_i) with room_i (1 - t_i upwards, t_i
 * downwards); at radius lambda the most <w, d> can change is g(lambda) =
 * sum_i |w_i| min(lambda, room_i), increasing. The step is dir_i min(lambda,
 * room_i) with g(lambda) = |delta|, found by bisection on lambda and then
 * solved exactly on the coordinates whose room exceeds it; when even
 * g(max room) < |delta| the hyperplane is out of reach and the step goes to
 * the box's corner (dir_i room_i), as the reference's projection_linf.
 * Coordinates with w_i = 0 never move.
 *
 * The L2 projection (l2 = 1, the reference's projection_l2) is the same
 * search with coordinate i moving dir_i min(lambda |w_i|, room_i) (the
 * least-norm step is lambda w clipped to the box): its knee, the lambda
 * from which it has moved all its room, is room_i / |w_i| instead of
 * room_i, and a free coordinate adds w_i^2 lambda to <w, d> instead of
 * |w_i| lambda. */
#ifndef FOIL_FAB_MATH_H
#define FOIL_FAB_MATH_H

#include "foil/elementwise.h"

#define FOIL_FAB_BISECT 40 /* bisection steps on lambda (room in [0, 1]: 2^-40) */

/* The direction of coordinate i (0 when it cannot help) and its room. */
FOIL_HD float foil_fab_dir(float w, double delta) {
    return w == 0.0f || delta == 0.0 ? 0.0f : ((w > 0.0f) == (delta > 0.0) ? 1.0f : -1.0f);
}
FOIL_HD float foil_fab_room(float t, float dir) { return dir > 0.0f ? 1.0f - t : t; }

/* Where a coordinate has moved all its room, and what it adds per unit of
 * lambda before that. */
FOIL_HD double foil_fab_knee(float w, double room, int l2) {
    return l2 ? room / fabs((double)w) : room;
}
FOIL_HD double foil_fab_slope(float w, int l2) {
    return l2 ? (double)w * w : fabs((double)w);
}

/* One coordinate's step for lambda (corner: lambda at least every knee). */
FOIL_HD float foil_fab_step(float t, float w, double delta, float lambda, int l2) {
    const float dir = foil_fab_dir(w, delta), room = foil_fab_room(t, dir);
    const float move = l2 ? lambda * fabsf(w) : lambda;
    return dir * (room < move ? room : move);
}

/* |w_i| min(lambda (|w_i|), room_i) in double: g's terms. */
FOIL_HD double foil_fab_gain(float t, float w, double delta, double lambda, int l2) {
    const float dir = foil_fab_dir(w, delta);
    if (dir == 0.0f) return 0.0;
    const double room = foil_fab_room(t, dir);
    const double move = l2 ? lambda * fabs((double)w) : lambda;
    return fabs((double)w) * (room < move ? room : move);
}

/* FAB's next iterate from the projections d1 of x1 and d2 of x0 (both on
 * the same hyperplane), alpha from their sizes: the step past the
 * hyperplane by eta, biased towards x0 by alpha, clipped to [0, 1]. */
FOIL_HD float foil_fab_mix(float x1, float d1, float x0, float d2, float eta, float alpha) {
    const float a = FOIL_ADD(x1, FOIL_MUL(eta, d1)), c = FOIL_ADD(x0, FOIL_MUL(eta, d2));
    return foil_clampf(FOIL_ADD(FOIL_MUL(a, FOIL_SUB(1.0f, alpha)), FOIL_MUL(c, alpha)), 0.0f,
                       1.0f);
}

/* alpha = min(max(a1 / (a1 + a2), 0), alpha_max), a = max(||d||, 1e-8). */
FOIL_HD float foil_fab_alpha(float a1, float a2, float alpha_max) {
    a1 = a1 > 1e-8f ? a1 : 1e-8f, a2 = a2 > 1e-8f ? a2 : 1e-8f;
    const float r = a1 / (a1 + a2);
    return r < alpha_max ? r : alpha_max;
}

/* CW-L2 in tanh space: x = (tanh(w) + 1) / 2, and the gradient with
 * respect to w of ||x - x0||^2 + (a term whose input gradient is g). */
FOIL_HD float foil_cw_x(float w) { return FOIL_MUL(0.5f, FOIL_ADD(tanhf(w), 1.0f)); }
FOIL_HD float foil_cw_grad(float w, float x, float x0, float g) {
    const float t = tanhf(w);
    const float dx = FOIL_ADD(FOIL_MUL(2.0f, FOIL_SUB(x, x0)), g);
    return FOIL_MUL(dx, FOIL_MUL(0.5f, FOIL_SUB(1.0f, FOIL_MUL(t, t))));
}

#endif
