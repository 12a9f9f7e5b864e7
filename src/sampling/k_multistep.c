/* k_multistep.c -- linear multistep samplers on d = (x - D)/sigma or on D:
 * ipndm (fixed Adams-Bashforth weights), ipndm_v (variable-step weights), deis
 * (DEIS "tab": weights by numerical integration of the VP exponential integrator),
 * res_multistep (second-order exponential multistep, optionally ancestral / CFG++)
 * and gradient_estimation.
 *
 * History buffers hold the previous derivatives, newest last, as ComfyUI's lists do.
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

#include "sampling/schedulers.h"

/* The last `cap` derivatives, buf[0] the newest (buf[j] is j steps back once that many
 * exist; callers never read further back than the step count). Rotation moves pointers. */
typedef struct hist {
    float *buf[4];
    int cap;
} hist;

static void hist_push(hist *h, const float *d, int64_t n) {
    float *slot = h->buf[h->cap - 1];   /* the oldest (or unused) array is recycled */
    for (int k = h->cap - 1; k > 0; k--) h->buf[k] = h->buf[k - 1];
    h->buf[0] = slot;
    memcpy(slot, d, (size_t)n * sizeof *slot);
}

/* ipndm: fixed Adams-Bashforth weights over `div` (x += dt * sum / div, as ComfyUI
 * spells each order out). ipndm_v: weights from the sigma spacing, div 1. */
static void ipndm_coeffs(const float *s, int i, int order, int variable, float *cf, float *div) {
    static const float fixed[4][4] = {{1, 0, 0, 0}, {3, -1, 0, 0}, {23, -16, 5, 0}, {55, -59, 37, -9}};
    static const float fixed_div[4] = {1, 2, 12, 24};
    *div = 1.0f;
    if (!variable || order == 1) {
        memcpy(cf, fixed[order - 1], sizeof fixed[0]);
        *div = fixed_div[order - 1];
        return;
    }
    float hn = s[i + 1] - s[i], h1 = s[i] - s[i - 1];
    if (order == 2) {
        cf[0] = (2 + (hn / h1)) / 2;
        cf[1] = -(hn / h1) / 2;
        return;
    }
    float h2 = s[i - 1] - s[i - 2];
    float temp1 = (1 - hn / (3 * (hn + h1)) * (hn * (hn + h1)) / (h1 * (h1 + h2))) / 2;
    if (order == 3) {
        cf[0] = (2 + (hn / h1)) / 2 + temp1;
        cf[1] = -(hn / h1) / 2 - (1 + h1 / h2) * temp1;
        cf[2] = temp1 * h1 / h2;
        return;
    }
    float h3 = s[i - 2] - s[i - 3];
    float temp2 = ((1 - hn / (3 * (hn + h1))) / 2 + (1 - hn / (2 * (hn + h1))) * hn / (6 * (hn + h1 + h2))) *
                  (hn * (hn + h1) * (hn + h1 + h2)) / (h1 * (h1 + h2) * (h1 + h2 + h3));
    float q = h1 * (h1 + h2) / (h2 * (h2 + h3));
    cf[0] = (2 + (hn / h1)) / 2 + temp1 + temp2;
    cf[1] = -(hn / h1) / 2 - (1 + h1 / h2) * temp1 - (1 + (h1 / h2) + q) * temp2;
    cf[2] = temp1 * h1 / h2 + ((h1 / h2) + q * (1 + h2 / h3)) * temp2;
    cf[3] = -temp2 * q * h1 / h2;
}

static int ipndm(const smp_ctx *c, float *x, const float *s, int nsig, int variable) {
    float *b[6] = {0};
    int rc = smp_alloc(c, 6, b);
    if (rc) return rc;
    float *den = b[0], *d = b[1];
    hist h = {{b[2], b[3], b[4], b[5]}, 4};   /* d_cur and the 3 before it */
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        for (int64_t k = 0; k < c->n; k++) d[k] = (x[k] - den[k]) / s[i];
        hist_push(&h, d, c->n);
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
            continue;
        }
        int order = i + 1 < 4 ? i + 1 : 4;
        float cf[4] = {0}, div, dt = s[i + 1] - s[i];
        ipndm_coeffs(s, i, order, variable, cf, &div);
        for (int64_t k = 0; k < c->n; k++) {
            float acc = cf[0] * h.buf[0][k];
            for (int j = 1; j < order; j++) acc += cf[j] * h.buf[j][k];
            x[k] = x[k] + dt * acc / div;
        }
    }
out:
    smp_free(b);
    return rc;
}

int smp_ipndm(const smp_ctx *c, float *x, const float *s, int n) { return ipndm(c, x, s, n, 0); }
int smp_ipndm_v(const smp_ctx *c, float *x, const float *s, int n) { return ipndm(c, x, s, n, 1); }

/* ---- DEIS ("tab", max order 3) ---- */

#define DEIS_N 10000

/* VP time of a sigma with DEIS's fixed constants (eps_s 1e-3, sigma 0.002..80). */
typedef struct deis_vp { float beta_d, beta_min; } deis_vp;

static deis_vp deis_constants(void) {
    const float eps_s = 1e-3f;
    float lmin = logf(0.002f * 0.002f + 1.0f), lmax = logf(80.0f * 80.0f + 1.0f);
    deis_vp v;
    v.beta_d = 2.0f * (lmin / eps_s - lmax) / (float)(1e-3 - 1.0);
    v.beta_min = lmax - 0.5f * v.beta_d;
    return v;
}

static float deis_t(deis_vp v, float sigma) {
    return (sqrtf(v.beta_min * v.beta_min + 2.0f * v.beta_d * logf(sigma * sigma + 1.0f)) - v.beta_min) / v.beta_d;
}

/* Coefficients of step i for the `order` history times t[i], t[i-1], ...: the integral
 * over [t_i, t_i+1] of the exponential-integrator weight times each Lagrange basis
 * polynomial, by the same 10000-point Riemann sum as ComfyUI. */
static void deis_coeffs(deis_vp v, const float *t, int i, int order, float *cf) {
    float b0 = v.beta_min, b1 = v.beta_d + v.beta_min;
    float taus[DEIS_N];
    sched_linspace_f32(t[i], t[i + 1], DEIS_N, taus);
    float dtau = (t[i + 1] - t[i]) / (float)DEIS_N;
    double sum[3] = {0, 0, 0};
    for (int k = 0; k < DEIS_N; k++) {
        float tau = taus[k];
        float alpha = expf(-0.5f * tau * tau * (b1 - b0) - tau * b0);
        float dlog = -(tau * (b1 - b0) + b0);
        float g = -0.5f * dlog / sqrtf(alpha * (1.0f - alpha));
        for (int j = 0; j < order; j++) {
            float poly = 1.0f;
            for (int m = 0; m < order; m++)
                if (m != j) poly *= (tau - t[i - m]) / (t[i - j] - t[i - m]);
            sum[j] += (double)(g * poly);
        }
    }
    for (int j = 0; j < order; j++) cf[j] = (float)sum[j] * dtau;
}

int smp_deis(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[5] = {0};
    float *t = malloc((size_t)nsig * sizeof *t);
    int rc = t ? smp_alloc(c, 5, b) : SMP_ERR_NOMEM;
    if (rc) { free(t); return rc; }
    float *den = b[0], *d = b[1];
    hist h = {{b[2], b[3], b[4], NULL}, 3};
    deis_vp v = deis_constants();
    for (int i = 0; i < nsig; i++) t[i] = deis_t(v, s[i]);
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        for (int64_t k = 0; k < c->n; k++) d[k] = (x[k] - den[k]) / s[i];
        hist_push(&h, d, c->n);
        int order = i + 1 < 3 ? i + 1 : 3;
        if (s[i + 1] <= 0.0f) order = 1;
        if (order == 1) {
            float dt = s[i + 1] - s[i];
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + dt * d[k];
            continue;
        }
        float cf[3];
        deis_coeffs(v, t, i, order, cf);
        for (int64_t k = 0; k < c->n; k++) {
            float acc = x[k] + cf[0] * h.buf[0][k];
            for (int j = 1; j < order; j++) acc = acc + cf[j] * h.buf[j][k];
            x[k] = acc;
        }
    }
out:
    free(t);
    smp_free(b);
    return rc;
}

/* ---- res_multistep (+ ancestral, + CFG++) ---- */

static float nan_to_zero(float v) { return isnan(v) ? 0.0f : v; }

static int res_multistep(const smp_ctx *c, float *x, const float *s, int nsig, float eta, int cfg_pp) {
    float *b[4] = {0};
    int rc = smp_alloc(c, 4, b);
    if (rc) return rc;
    float *den = b[0], *unc = cfg_pp ? b[1] : NULL, *old = b[2], *noise = b[3];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    float old_down = 0.0f;
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, unc));
        float down, up;
        smp_ancestral_step(s[i], s[i + 1], eta, &down, &up);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (down == 0.0f || i == 0) {
            float dt = down - s[i];
            for (int64_t k = 0; k < c->n; k++) {
                if (cfg_pp) x[k] = den[k] + (x[k] - unc[k]) / s[i] * down;
                else x[k] = x[k] + (x[k] - den[k]) / s[i] * dt;
            }
        } else {
            float t = -logf(s[i]), t_old = -logf(old_down), t_next = -logf(down);
            float t_prev = -logf(s[i - 1]), h = t_next - t, c2 = (t_prev - t_old) / h;
            float phi1 = expm1f(-h) / -h, phi2 = (phi1 - 1.0f) / -h;
            float b1 = nan_to_zero(phi1 - phi2 / c2), b2 = nan_to_zero(phi2 / c2), e = expf(-h);
            for (int64_t k = 0; k < c->n; k++) {
                if (cfg_pp) x[k] = e * (x[k] + (den[k] - unc[k])) + h * (b1 * unc[k] + b2 * old[k]);
                else x[k] = e * x[k] + h * (b1 * den[k] + b2 * old[k]);
            }
        }
        if (s[i + 1] > 0.0f && eta > 0.0f) {
            smp_noise_draw(&ns, noise, c->n);
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + noise[k] * up;
        }
        memcpy(old, cfg_pp ? unc : den, (size_t)c->n * sizeof *old);
        old_down = down;
    }
out:
    smp_free(b);
    return rc;
}

int smp_res_multistep(const smp_ctx *c, float *x, const float *s, int n) {
    return res_multistep(c, x, s, n, 0.0f, 0);
}
int smp_res_multistep_cfg_pp(const smp_ctx *c, float *x, const float *s, int n) {
    return res_multistep(c, x, s, n, 0.0f, 1);
}
int smp_res_multistep_ancestral(const smp_ctx *c, float *x, const float *s, int n) {
    return res_multistep(c, x, s, n, 1.0f, 0);
}
int smp_res_multistep_ancestral_cfg_pp(const smp_ctx *c, float *x, const float *s, int n) {
    return res_multistep(c, x, s, n, 1.0f, 1);
}

/* ---- gradient estimation (gamma 2) ---- */

static int gradient_estimation(const smp_ctx *c, float *x, const float *s, int nsig, int cfg_pp) {
    float *b[4] = {0};
    int rc = smp_alloc(c, 4, b);
    if (rc) return rc;
    float *den = b[0], *unc = cfg_pp ? b[1] : NULL, *d = b[2], *old_d = b[3];
    const float gamma_minus_1 = 1.0f;
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, unc));
        for (int64_t k = 0; k < c->n; k++) d[k] = (x[k] - (cfg_pp ? unc : den)[k]) / s[i];
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        float dt = s[i + 1] - s[i];
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
        } else {
            for (int64_t k = 0; k < c->n; k++) {
                x[k] = cfg_pp ? den[k] + d[k] * s[i + 1] : x[k] + d[k] * dt;
                if (i >= 1) x[k] = x[k] + gamma_minus_1 * (d[k] - old_d[k]) * dt;
            }
        }
        float *tmp = old_d; old_d = d; d = tmp;
    }
out:
    smp_free(b);
    return rc;
}

int smp_gradient_estimation(const smp_ctx *c, float *x, const float *s, int n) {
    return gradient_estimation(c, x, s, n, 0);
}
int smp_gradient_estimation_cfg_pp(const smp_ctx *c, float *x, const float *s, int n) {
    return gradient_estimation(c, x, s, n, 1);
}
