/* k_dpm_solver.c -- DPM-Solver fast (fixed orders) and adaptive (embedded 2/3 pair).
 *
 * Both work in t = -log(sigma) with the noise prediction eps(x, t) = (x - D)/sigma and
 * only use the schedule's end points: ComfyUI passes sigma_max = sigmas[0] and
 * sigma_min = the last non-zero sigma, and dpm_fast spends exactly nsig-1 model
 * evaluations. eta is 0 for both in KSampler, so they draw no noise that matters.
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

#include "sampling/schedulers.h"

static float sig(float t) { return expf(-t); }

/* Scratch of one DPM-Solver step: the cached eps at t, r1 and r2, the intermediate
 * point and the model output. */
typedef struct dpm_work {
    float *eps, *eps1, *eps2, *u, *den;
    int have1;          /* eps1 cached (dpm_adaptive shares it between orders 2 and 3) */
} dpm_work;

static int eps_at(const smp_ctx *c, const float *x, float t, float *eps, float *den) {
    float sigma = sig(t);
    int rc = smp_denoise(c, x, sigma, den, NULL);
    if (rc) return rc;
    for (int64_t k = 0; k < c->n; k++) eps[k] = (x[k] - den[k]) / sigma;
    return SMP_OK;
}

/* First order: out = x - sigma(t_next) * expm1(h) * eps. */
static void dpm1(const smp_ctx *c, const float *x, float t, float tn, const dpm_work *w, float *out) {
    float a = sig(tn) * expm1f(tn - t);
    for (int64_t k = 0; k < c->n; k++) out[k] = x[k] - a * w->eps[k];
}

static int dpm2(const smp_ctx *c, const float *x, float t, float tn, float r1, dpm_work *w,
                float *out) {
    float h = tn - t, s1 = t + r1 * h;
    if (!w->have1) {
        float a = sig(s1) * expm1f(r1 * h);
        for (int64_t k = 0; k < c->n; k++) w->u[k] = x[k] - a * w->eps[k];
        int rc = eps_at(c, w->u, s1, w->eps1, w->den);
        if (rc) return rc;
        w->have1 = 1;
    }
    float a = sig(tn) * expm1f(h), b = sig(tn) / (float)(2.0 * r1) * expm1f(h);
    for (int64_t k = 0; k < c->n; k++)
        out[k] = x[k] - a * w->eps[k] - b * (w->eps1[k] - w->eps[k]);
    return SMP_OK;
}

static int dpm3(const smp_ctx *c, const float *x, float t, float tn, dpm_work *w, float *out) {
    const double r1 = 1.0 / 3.0, r2 = 2.0 / 3.0;
    float h = tn - t, s2 = t + (float)r2 * h;
    int rc = dpm2(c, x, t, tn, (float)r1, w, out);   /* fills eps1 at t + h/3 */
    if (rc) return rc;
    float r2h = (float)r2 * h;
    float a = sig(s2) * expm1f(r2h);
    float b = sig(s2) * (float)(r2 / r1) * (expm1f(r2h) / r2h - 1.0f);
    for (int64_t k = 0; k < c->n; k++)
        w->u[k] = x[k] - a * w->eps[k] - b * (w->eps1[k] - w->eps[k]);
    rc = eps_at(c, w->u, s2, w->eps2, w->den);
    if (rc) return rc;
    float a3 = sig(tn) * expm1f(h), b3 = sig(tn) / (float)r2 * (expm1f(h) / h - 1.0f);
    for (int64_t k = 0; k < c->n; k++)
        out[k] = x[k] - a3 * w->eps[k] - b3 * (w->eps2[k] - w->eps[k]);
    return SMP_OK;
}

/* ComfyUI's sigma_min for these two: the last sigma, or the one before a final 0. */
static float last_sigma(const float *s, int nsig) {
    return s[nsig - 1] == 0.0f ? s[nsig - 2] : s[nsig - 1];
}

int smp_dpm_fast(const smp_ctx *c, float *x, const float *s, int nsig) {
    float smin = last_sigma(s, nsig), smax = s[0];
    if (!(smin > 0.0f) || !(smax > 0.0f)) return SMP_ERR_ARG;
    int nfe = nsig - 1, m = nfe / 3 + 1;
    float *b[7] = {0};
    float *ts = malloc((size_t)(m + 1) * sizeof *ts);
    int rc = ts ? smp_alloc(c, 7, b) : SMP_ERR_NOMEM;
    if (rc) { free(ts); return rc; }
    dpm_work w = {b[0], b[1], b[2], b[3], b[4], 0};
    float *den = b[5], *out = b[6];
    sched_linspace_f32(-logf(smax), -logf(smin), m + 1, ts);
    /* orders: [3]*(m-2) + [2, 1] when nfe % 3 == 0, else [3]*(m-1) + [nfe % 3] */
    for (int i = 0; i < m; i++) {
        int order = nfe % 3 == 0 ? (i < m - 2 ? 3 : (i == m - 2 ? 2 : 1)) : (i < m - 1 ? 3 : nfe % 3);
        float t = ts[i], tn = ts[i + 1];
        w.have1 = 0;
        SMP_TRY(eps_at(c, x, t, w.eps, den));
        for (int64_t k = 0; k < c->n; k++) den[k] = x[k] - sig(t) * w.eps[k];
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (order == 1) dpm1(c, x, t, tn, &w, out);
        else if (order == 2) SMP_TRY(dpm2(c, x, t, tn, 0.5f, &w, out));
        else SMP_TRY(dpm3(c, x, t, tn, &w, out));
        memcpy(x, out, (size_t)c->n * sizeof *x);
    }
out:
    free(ts);
    smp_free(b);
    return rc;
}

/* A run that keeps rejecting (a broken denoiser) must end: ComfyUI would loop on. */
#define DPM_ADAPTIVE_MAX_TRIES 100000

/* PID step-size controller with ComfyUI's defaults (p 0, i 1, d 0, order 3): the
 * proposed factor is (1/err)^(1/3), softened by 1 + atan(f - 1). */
static int pid_accept(double *h, double err) {
    double factor = pow(1.0 / (err + 1e-8), 1.0 / 3.0);
    factor = 1.0 + atan(factor - 1.0);
    *h *= factor;
    return factor >= 0.81;
}

int smp_dpm_adaptive(const smp_ctx *c, float *x, const float *s, int nsig) {
    float smin = last_sigma(s, nsig), smax = s[0];
    if (!(smin > 0.0f) || !(smax > 0.0f)) return SMP_ERR_ARG;
    float *b[9] = {0};
    int rc = smp_alloc(c, 9, b);
    if (rc) return rc;
    dpm_work w = {b[0], b[1], b[2], b[3], b[4], 0};
    float *den = b[5], *x_low = b[6], *x_high = b[7], *x_prev = b[8];
    const float atol = 0.0078f, rtol = 0.05f;
    float t_start = -logf(smax), t_end = -logf(smin), sc = t_start;
    double h = 0.05;
    int forward = t_end > t_start, steps = 0;
    if (!forward) h = -h;
    memcpy(x_prev, x, (size_t)c->n * sizeof *x);
    while (forward ? sc < t_end - 1e-5f : sc > t_end + 1e-5f) {
        if (steps >= DPM_ADAPTIVE_MAX_TRIES) { rc = SMP_ERR_ARG; goto out; }
        float t = sc + (float)h;
        t = forward ? fminf(t_end, t) : fmaxf(t_end, t);
        w.have1 = 0;
        SMP_TRY(eps_at(c, x, sc, w.eps, den));
        for (int64_t k = 0; k < c->n; k++) den[k] = x[k] - sig(sc) * w.eps[k];
        SMP_TRY(dpm2(c, x, sc, t, 1.0f / 3.0f, &w, x_low));
        SMP_TRY(dpm3(c, x, sc, t, &w, x_high));
        double sq = 0.0;
        for (int64_t k = 0; k < c->n; k++) {
            float delta = fmaxf(atol, rtol * fmaxf(fabsf(x_low[k]), fabsf(x_prev[k])));
            float q = (x_low[k] - x_high[k]) / delta;
            sq += (double)q * q;
        }
        float err = (float)sqrt(sq) / (float)sqrt((double)c->n);
        if (pid_accept(&h, err)) {
            memcpy(x_prev, x_low, (size_t)c->n * sizeof *x);
            memcpy(x, x_high, (size_t)c->n * sizeof *x);
            sc = t;
        }
        SMP_TRY(smp_step(c, steps++, nsig - 1, x, den));
    }
out:
    smp_free(b);
    return rc;
}
