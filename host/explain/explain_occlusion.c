/* Occlusion, as Captum's Occlusion (Zeiler and Fergus 2014): a window of
 * window x window pixels (all channels) slides over the image in steps of
 * `stride`, ceil((size - window) / stride) + 1 positions per axis, the last
 * cut by the border; each pixel's attribution is the mean, over the windows
 * that cover it, of F(x) - F(x with the window set to the baseline). The
 * occluded images are made on the backend (`occlude`); only the values come
 * back. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "explain_internal.h"
#include "foil/elementwise.h"

/* The windows of the spec over w's images; fails naming the key. */
static int windows(const foil_explain_work *w, const foil_explain_spec *s, foil_window_shape *ws,
                   foil_err *err) {
    if (s->window < 1 || s->window > w->h || s->window > w->w)
        return foil_fail(err, "explain.window: %d; the window must fit the %dx%d image",
                         s->window, w->h, w->w);
    if (s->stride < 1 || s->stride > s->window)
        return foil_fail(err, "explain.stride: %d; must be 1 to the window (%d)", s->stride,
                         s->window);
    *ws = (foil_window_shape){w->h, w->w, s->window, s->window, s->stride, s->stride, 0, 0};
    ws->ny = (w->h - s->window + s->stride - 1) / s->stride + 1;
    ws->nx = (w->w - s->window + s->stride - 1) / s->stride + 1;
    return 0;
}

/* F of every occluded image of p into values (host, n * ny * nx). */
static int occluded_values(foil_explain_work *w, const foil_explain_spec *s, const ex_problem *p,
                           const foil_window_shape *ws, float *values, foil_err *err) {
    foil_backend *b = w->b;
    const int64_t per = (int64_t)ws->ny * ws->nx, total = per * p->n;
    for (int64_t first = 0; first < total; first += w->max_batch) {
        const int count = (int)(total - first < w->max_batch ? total - first : w->max_batch);
        for (int r = 0; r < count; r++) w->rep_host[r] = p->tgt_host[(first + r) / per];
        w->rep_n = 0; /* rep no longer holds an IG layout */
        FOIL_OP(b, b->upload(b, w->rep, w->rep_host, sizeof(int32_t) * (size_t)count), err);
        FOIL_OP(b, b->occlude(b, w->xs, p->x, p->base, first, count, w->c, ws), err);
        if (ex_f_at(w, s->output, w->values, w->xs, w->rep, count, err)) return -1;
        FOIL_OP(b, b->download(b, values + first, w->values, sizeof(float) * (size_t)count), err);
    }
    for (int64_t r = 0; r < total; r++)
        if (!foil_finitef(values[r]))
            return foil_fail(err, "image %lld: the explained output of an occluded copy is not "
                             "finite (NaN or infinity): the checkpoint or the data are broken",
                             (long long)(p->index ? p->index[r / per] : r / per));
    return 0;
}

int ex_occlusion(foil_explain_work *w, const foil_explain_spec *s, float *attr,
                 const ex_problem *p, foil_explain_stats *stats, foil_err *err) {
    foil_window_shape ws;
    if (windows(w, s, &ws, err)) return -1;
    const int n = p->n, per = ws.ny * ws.nx;
    const size_t plane = (size_t)w->h * w->w;
    float *values = malloc(sizeof(float) * (size_t)n * per);
    double *sum = malloc(sizeof(double) * plane);
    int *cover = malloc(sizeof(int) * plane), rc = -1;
    if (!values || !sum || !cover) {
        foil_fail(err, "occlusion: out of memory for %d x %d windows", n, per);
        goto done;
    }
    if (ex_fx(w, s, p, stats, err) || occluded_values(w, s, p, &ws, values, err)) goto done;
    for (int i = 0; i < n; i++) {
        memset(sum, 0, sizeof(double) * plane);
        memset(cover, 0, sizeof(int) * plane);
        for (int k = 0; k < per; k++) {
            const int y0 = (k / ws.nx) * ws.sh, x0 = (k % ws.nx) * ws.sw;
            const double d = (double)stats[i].f_x - values[(size_t)i * per + k];
            for (int y = y0; y < y0 + ws.wh && y < ws.h; y++)
                for (int x = x0; x < x0 + ws.ww && x < ws.w; x++) {
                    sum[(size_t)y * ws.w + x] += d;
                    cover[(size_t)y * ws.w + x]++;
                }
        }
        double total = 0.0;
        for (size_t q = 0; q < plane; q++) {
            const float a = cover[q] ? (float)(sum[q] / cover[q]) : 0.0f;
            for (int c = 0; c < w->c; c++) w->host[(size_t)i * w->row + c * plane + q] = a;
            total += (double)a * w->c;
        }
        stats[i].attr_sum = (float)total;
        stats[i].features = 0;
        stats[i].steps = per;
    }
    if (w->b->upload(w->b, attr, w->host, sizeof(float) * (size_t)n * w->row)) {
        foil_fail(err, "%s", w->b->err.msg);
        goto done;
    }
    rc = 0;
done:
    free(values), free(sum), free(cover);
    return rc;
}
