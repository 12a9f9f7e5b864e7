/* sa_solver.c -- SA-Solver (stochastic Adams, data prediction), predictor order 3,
 * corrector order 4, optionally PECE, as comfy/k_diffusion/sa_solver.py.
 *
 * In lambda = -log(sigma): each step integrates the exponentially weighted Lagrange
 * interpolant of the last few denoised values. The weights b_i solve a small
 * Vandermonde system against closed-form integrals of exp((1 + tau^2) x) x^p.
 * tau is 1 for sigmas between percent_to_sigma(0.2) and percent_to_sigma(0.8) and 0
 * elsewhere: noise is injected only in the middle of the schedule. The small systems
 * are solved in double; torch solves them in f32.
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

#define SA_PRED_ORDER 3
#define SA_CORR_ORDER 4

/* The b coefficients for interpolation nodes lam[0..n) (oldest first), stepping from
 * lambda_s to lambda_t and landing at sigma_next. */
static void sa_coeffs(float sigma_next, const float *lam, int n, float lambda_s, float lambda_t,
                      double tau, float *b) {
    double tau_mul = 1.0 + tau * tau, s = lambda_s, t = lambda_t, h = t - s;
    double prod[SMP_SOLVE_MAX], expc[SMP_SOLVE_MAX], a[SMP_SOLVE_MAX][SMP_SOLVE_MAX], lag[SMP_SOLVE_MAX];
    for (int p = 0; p < n; p++) prod[p] = pow(t, p) - pow(s, p) * exp(-tau_mul * h);
    /* (1 + tau^2) * integral of exp((1 + tau^2) x) x^p from s to t, exp((1 + tau^2) t) out:
     * sum over j <= p of (-1)^(p-j) p!/j! / tau_mul^(p-j) * prod[j] */
    for (int p = 0; p < n; p++) {
        double acc = 0.0;
        for (int j = 0; j <= p; j++) {
            double c = exp(lgamma(p + 1.0) - lgamma(j + 1.0) - (tau > 0 ? (p - j) * log(tau_mul) : 0.0));
            acc += ((p - j) % 2 ? -c : c) * prod[j];
        }
        expc[p] = acc;
    }
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) a[r][c] = pow(lam[c], r);
    smp_solve(n, a, expc, lag);
    float alpha_t = sigma_next * expf(lambda_t);
    for (int k = 0; k < n; k++) b[k] = alpha_t * (float)lag[k];
}

/* x_new = ratio * x + sum_k b[k] * hist[k] over the newest `order` denoised values. */
static void sa_combine(const smp_ctx *c, float *dst, const float *x, float ratio, float *const *hist,
                       const float *b, int order) {
    for (int64_t e = 0; e < c->n; e++) {
        float acc = 0.0f;
        for (int k = 0; k < order; k++) acc += hist[k][e] * b[k];
        dst[e] = ratio * x[e] + acc;
    }
}

static int sa_solver(const smp_ctx *c, float *x, const float *s, int nsig, int pece) {
    if (!c->ms) return SMP_ERR_ARG;
    enum { HIST = SA_CORR_ORDER };
    float *b[HIST + 3] = {0};
    float *lam = malloc((size_t)nsig * sizeof *lam);
    int rc = lam ? smp_alloc(c, HIST + 3, b) : SMP_ERR_NOMEM;
    if (rc) { free(lam); return rc; }
    float *ring[HIST] = {b[0], b[1], b[2], b[3]}, *x_pred = b[HIST], *noise = b[HIST + 1];
    float *hist[HIST];   /* ring slots oldest -> newest for the current step */
    int len = 0;
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i < nsig; i++) lam[i] = -logf(s[i]);
    const double start = ms_percent_to_sigma(c->ms, 0.2), end = ms_percent_to_sigma(c->ms, 0.8);
    const int lower_to_end = s[nsig - 1] == 0.0f;
    double tau = 0.0;
    float h = 0.0f;
    memcpy(x_pred, x, (size_t)c->n * sizeof *x);
    for (int i = 0; i + 1 < nsig; i++) {
        float *den = ring[i % HIST];
        SMP_TRY(smp_denoise(c, x_pred, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x_pred, den));
        if (len < HIST) len++;
        for (int k = 0; k < len; k++) hist[k] = ring[(i - len + 1 + k + HIST) % HIST];
        int pred_order = len < SA_PRED_ORDER ? len : SA_PRED_ORDER;
        int corr_order = (i == 0 || (s[i + 1] == 0.0f && !pece)) ? 0 : (len < SA_CORR_ORDER ? len : SA_CORR_ORDER);
        if (lower_to_end) {
            if (pred_order > nsig - 2 - i) pred_order = nsig - 2 - i;
            if (corr_order > nsig - 1 - i) corr_order = nsig - 1 - i;
        }
        if (corr_order == 0) {
            memcpy(x, x_pred, (size_t)c->n * sizeof *x);
        } else {
            float bc[SA_CORR_ORDER];
            sa_coeffs(s[i], lam + i - corr_order + 1, corr_order, lam[i - 1], lam[i], tau, bc);
            float ratio = s[i] / s[i - 1] * expf(-(float)(tau * tau) * h);
            sa_combine(c, x, x, ratio, hist + len - corr_order, bc, corr_order);
            if (tau > 0)
                for (int64_t e = 0; e < c->n; e++) x[e] = x[e] + noise[e];
            if (pece) SMP_TRY(smp_denoise(c, x, s[i], hist[len - 1], NULL));
        }
        if (s[i + 1] == 0.0f) {
            memcpy(x, hist[len - 1], (size_t)c->n * sizeof *x);
            continue;
        }
        tau = (start >= s[i + 1] && s[i + 1] >= end) ? 1.0 : 0.0;
        float bp[SA_PRED_ORDER];
        sa_coeffs(s[i + 1], lam + i - pred_order + 1, pred_order, lam[i], lam[i + 1], tau, bp);
        h = lam[i + 1] - lam[i];
        float ratio = s[i + 1] / s[i] * expf(-(float)(tau * tau) * h);
        sa_combine(c, x_pred, x, ratio, hist + len - pred_order, bp, pred_order);
        if (tau > 0) {
            float amp = sqrtf(-expm1f(-2.0f * (float)(tau * tau) * h));
            smp_noise_draw(&ns, noise, c->n);
            for (int64_t e = 0; e < c->n; e++) {
                noise[e] = noise[e] * s[i + 1] * amp;
                x_pred[e] = x_pred[e] + noise[e];
            }
        }
    }
out:
    free(lam);
    smp_free(b);
    return rc;
}

int smp_sa_solver(const smp_ctx *c, float *x, const float *s, int n) { return sa_solver(c, x, s, n, 0); }
int smp_sa_solver_pece(const smp_ctx *c, float *x, const float *s, int n) { return sa_solver(c, x, s, n, 1); }
