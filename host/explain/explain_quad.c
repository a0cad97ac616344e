/* Quadrature rules for the IG path integral on [0, 1], and the names of the
 * rules and baselines (the methods' are in explain_table.c). */
#include <math.h>
#include <string.h>

#include "foil/explain.h"

static const char *const RULES[FOIL_RULE_COUNT] = {"left", "right", "midpoint", "trapezoid",
                                                   "gauss-legendre"};
static const char *const BASELINES[FOIL_BASELINE_COUNT] = {"black", "white", "uniform", "blur",
                                                           "mean", "image", "constant"};

static int find(const char *const *names, int n, const char *name) {
    for (int i = 0; name && i < n; i++)
        if (strcmp(name, names[i]) == 0) return i;
    return -1;
}

const char *foil_quad_rule_name(foil_quad_rule r) {
    return (unsigned)r < FOIL_RULE_COUNT ? RULES[r] : "?";
}
const char *foil_baseline_name(foil_baseline_kind k) {
    return (unsigned)k < FOIL_BASELINE_COUNT ? BASELINES[k] : "?";
}

int foil_quad_rule_parse(const char *name, foil_quad_rule *r) {
    int i = find(RULES, FOIL_RULE_COUNT, name);
    if (i < 0 && name && strcmp(name, "gauss_legendre") == 0) i = FOIL_RULE_GAUSS_LEGENDRE;
    if (i < 0) return -1;
    *r = (foil_quad_rule)i;
    return 0;
}

int foil_baseline_parse(const char *name, foil_baseline_kind *k) {
    int i = find(BASELINES, FOIL_BASELINE_IMAGE, name); /* "image" is not a keyword */
    if (i < 0) return -1;
    *k = (foil_baseline_kind)i;
    return 0;
}

/* P_m(x) and P_m'(x) by the three-term recurrence
 * k P_k = (2k - 1) x P_{k-1} - (k - 1) P_{k-2}. */
static void legendre(int m, double x, double *p, double *dp) {
    double p0 = 1.0, p1 = x;
    for (int k = 2; k <= m; k++) {
        double p2 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p0) / k;
        p0 = p1;
        p1 = p2;
    }
    *p = m == 0 ? 1.0 : p1;
    *dp = m * (x * p1 - p0) / (x * x - 1.0); /* roots are strictly inside (-1, 1) */
}

/* Roots of P_m from Tricomi's initial guess
 *   x_i = (1 - 1/(8m^2) + 1/(8m^3)) cos(pi (4i + 3) / (4m + 2)),
 * refined by Newton; w_i = 2 / ((1 - x_i^2) P_m'(x_i)^2). The roots are
 * symmetric about 0, so only the positive half is computed: O(m^2) in all,
 * about a second for m = 16384. The guesses descend in x, so alpha = (1 - x) / 2
 * ascends. */
static void gauss_legendre(int m, double *alpha, double *weight) {
    const double pi = 3.14159265358979323846;
    const double shrink = 1.0 - 1.0 / (8.0 * m * m) + 1.0 / (8.0 * m * m * m);
    for (int i = 0; i < (m + 1) / 2; i++) {
        double x = shrink * cos(pi * (4 * i + 3) / (4.0 * m + 2.0)), p, dp;
        for (int it = 0; it < 100; it++) {
            legendre(m, x, &p, &dp);
            double dx = p / dp;
            x -= dx;
            if (fabs(dx) < 1e-15) break;
        }
        if (2 * i + 1 == m) x = 0.0; /* the middle root of an odd m is exactly 0 */
        legendre(m, x, &p, &dp);
        double w = 1.0 / ((1.0 - x * x) * dp * dp); /* half of 2 / (...): [0, 1] is half as long */
        alpha[i] = 0.5 * (1.0 - x), weight[i] = w;
        alpha[m - 1 - i] = 0.5 * (1.0 + x), weight[m - 1 - i] = w;
    }
}

int foil_quadrature(foil_quad_rule rule, int m, double *alpha, double *weight, foil_err *err) {
    if (m < 1 || (rule == FOIL_RULE_TRAPEZOID && m < 2))
        return foil_fail(err, "steps: %d is too few for the %s rule (at least %d)", m,
                         foil_quad_rule_name(rule), rule == FOIL_RULE_TRAPEZOID ? 2 : 1);
    if ((unsigned)rule >= FOIL_RULE_COUNT) return foil_fail(err, "unknown quadrature rule %d", rule);
    if (m > FOIL_EXPLAIN_MAX_STEPS)
        return foil_fail(err, "steps: %d is more than the %d IG allows", m, FOIL_EXPLAIN_MAX_STEPS);
    if (rule == FOIL_RULE_GAUSS_LEGENDRE) {
        gauss_legendre(m, alpha, weight);
        return 0;
    }
    for (int k = 0; k < m; k++) {
        switch (rule) {
        case FOIL_RULE_LEFT: alpha[k] = (double)k / m; break;
        case FOIL_RULE_RIGHT: alpha[k] = (double)(k + 1) / m; break;
        case FOIL_RULE_MIDPOINT: alpha[k] = (k + 0.5) / m; break;
        default: alpha[k] = (double)k / (m - 1); break;
        }
        weight[k] = rule == FOIL_RULE_TRAPEZOID ? 1.0 / (m - 1) : 1.0 / m;
    }
    if (rule == FOIL_RULE_TRAPEZOID) weight[0] *= 0.5, weight[m - 1] *= 0.5;
    return 0;
}
