/* k_karras.c -- the Karras et al. family: euler, euler_ancestral, heun, heunpp2,
 * dpm_2, dpm_2_ancestral, lms.
 *
 * All of them step along the probability-flow ODE in sigma with the derivative
 * d = (x - D(x, sigma)) / sigma; the ancestral ones step down to sigma_down and add
 * fresh noise of size sigma_up from the default noise sampler. s_churn is 0 (the
 * only value KSampler uses), so the churn branches of k-diffusion do not exist here.
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

static void to_d(int64_t n, const float *x, const float *den, float sigma, float *d) {
    for (int64_t i = 0; i < n; i++) d[i] = (x[i] - den[i]) / sigma;
}

int smp_euler(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[1] = {0};
    int rc = smp_alloc(c, 1, b);
    if (rc) return rc;
    float *den = b[0];
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        float dt = s[i + 1] - s[i];
        for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + (x[k] - den[k]) / s[i] * dt;
    }
out:
    smp_free(b);
    return rc;
}

int smp_euler_ancestral(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[2] = {0};
    int rc = smp_alloc(c, 2, b);
    if (rc) return rc;
    float *den = b[0], *noise = b[1];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        float down, up;
        smp_ancestral_step(s[i], s[i + 1], 1.0f, &down, &up);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (down == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
            continue;
        }
        smp_noise_draw(&ns, noise, c->n);
        float dt = down - s[i];
        for (int64_t k = 0; k < c->n; k++)
            x[k] = (x[k] + (x[k] - den[k]) / s[i] * dt) + noise[k] * up;
    }
out:
    smp_free(b);
    return rc;
}

int smp_heun(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[4] = {0};
    int rc = smp_alloc(c, 4, b);
    if (rc) return rc;
    float *den = b[0], *d = b[1], *x2 = b[2], *den2 = b[3];
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        to_d(c->n, x, den, s[i], d);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        float dt = s[i + 1] - s[i];
        if (s[i + 1] == 0.0f) {
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + d[k] * dt;
            continue;
        }
        for (int64_t k = 0; k < c->n; k++) x2[k] = x[k] + d[k] * dt;
        SMP_TRY(smp_denoise(c, x2, s[i + 1], den2, NULL));
        for (int64_t k = 0; k < c->n; k++) {
            float d2 = (x2[k] - den2[k]) / s[i + 1];
            x[k] = x[k] + (d[k] + d2) / 2.0f * dt;
        }
    }
out:
    smp_free(b);
    return rc;
}

/* Heun++: a third evaluation two sigmas ahead, weights from sigma_0. k-diffusion also
 * draws an unused randn_like from torch's global generator each step; that draw
 * changes nothing ComfyUI computes afterwards, so it is not reproduced. */
int smp_heunpp2(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[6] = {0};
    int rc = smp_alloc(c, 6, b);
    if (rc) return rc;
    float *den = b[0], *d = b[1], *x2 = b[2], *d2 = b[3], *x3 = b[4], *dtmp = b[5];
    const float s_end = s[nsig - 1];
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        to_d(c->n, x, den, s[i], d);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        float dt = s[i + 1] - s[i];
        if (s[i + 1] == s_end) {
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + d[k] * dt;
            continue;
        }
        for (int64_t k = 0; k < c->n; k++) x2[k] = x[k] + d[k] * dt;
        SMP_TRY(smp_denoise(c, x2, s[i + 1], dtmp, NULL));
        to_d(c->n, x2, dtmp, s[i + 1], d2);
        if (s[i + 2] == s_end) {
            float w = 2.0f * s[0], w2 = s[i + 1] / w, w1 = 1.0f - w2;
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + (d[k] * w1 + d2[k] * w2) * dt;
            continue;
        }
        float dt2 = s[i + 2] - s[i + 1];
        for (int64_t k = 0; k < c->n; k++) x3[k] = x2[k] + d2[k] * dt2;
        SMP_TRY(smp_denoise(c, x3, s[i + 2], dtmp, NULL));
        float w = 3.0f * s[0], w2 = s[i + 1] / w, w3 = s[i + 2] / w, w1 = 1.0f - w2 - w3;
        for (int64_t k = 0; k < c->n; k++) {
            float d3 = (x3[k] - dtmp[k]) / s[i + 2];
            x[k] = x[k] + (w1 * d[k] + w2 * d2[k] + w3 * d3) * dt;
        }
    }
out:
    smp_free(b);
    return rc;
}

/* One DPM-Solver-2 step from sigma to target through the log-midpoint; x updated. */
static int dpm2_step(const smp_ctx *c, float *x, const float *d, float sigma, float target,
                     float *x2, float *den2) {
    float mid = expf(smp_lerp(logf(sigma), logf(target), 0.5f));
    float dt1 = mid - sigma, dt2 = target - sigma;
    for (int64_t k = 0; k < c->n; k++) x2[k] = x[k] + d[k] * dt1;
    int rc = smp_denoise(c, x2, mid, den2, NULL);
    if (rc) return rc;
    for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + (x2[k] - den2[k]) / mid * dt2;
    return SMP_OK;
}

int smp_dpm_2(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[4] = {0};
    int rc = smp_alloc(c, 4, b);
    if (rc) return rc;
    float *den = b[0], *d = b[1], *x2 = b[2], *den2 = b[3];
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        to_d(c->n, x, den, s[i], d);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            float dt = s[i + 1] - s[i];
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + d[k] * dt;
        } else {
            SMP_TRY(dpm2_step(c, x, d, s[i], s[i + 1], x2, den2));
        }
    }
out:
    smp_free(b);
    return rc;
}

int smp_dpm_2_ancestral(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[5] = {0};
    int rc = smp_alloc(c, 5, b);
    if (rc) return rc;
    float *den = b[0], *d = b[1], *x2 = b[2], *den2 = b[3], *noise = b[4];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        float down, up;
        smp_ancestral_step(s[i], s[i + 1], 1.0f, &down, &up);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        to_d(c->n, x, den, s[i], d);
        if (down == 0.0f) {
            float dt = down - s[i];
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + d[k] * dt;
            continue;
        }
        SMP_TRY(dpm2_step(c, x, d, s[i], down, x2, den2));
        smp_noise_draw(&ns, noise, c->n);
        for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + noise[k] * up;
    }
out:
    smp_free(b);
    return rc;
}

/* Integral over [t[i], t[i+1]] of the Lagrange basis polynomial j on the nodes
 * t[i], t[i-1], ..., t[i-order+1], in double (exact where scipy's quad is). */
static double lms_coeff(int order, const double *t, int i, int j) {
    double poly[5] = {1.0, 0, 0, 0, 0};   /* coefficients, lowest power first */
    int deg = 0;
    for (int k = 0; k < order; k++) {
        if (k == j) continue;
        double denom = t[i - j] - t[i - k], root = t[i - k];
        /* poly *= (tau - root) / denom */
        for (int p = deg + 1; p >= 0; p--) {
            double hi = p > 0 ? poly[p - 1] : 0.0, lo = p <= deg ? poly[p] : 0.0;
            poly[p] = (hi - root * lo) / denom;
        }
        deg++;
    }
    double a = t[i], bnd = t[i + 1], sum = 0.0;
    for (int p = deg; p >= 0; p--)
        sum += poly[p] * (pow(bnd, p + 1) - pow(a, p + 1)) / (p + 1);
    return sum;
}

int smp_lms(const smp_ctx *c, float *x, const float *s, int nsig) {
    enum { ORDER = 4 };
    float *b[ORDER + 1] = {0};
    double *t = malloc((size_t)nsig * sizeof *t);
    int rc = t ? smp_alloc(c, ORDER + 1, b) : SMP_ERR_NOMEM;
    if (rc) { free(t); return rc; }
    for (int i = 0; i < nsig; i++) t[i] = s[i];
    float *den = b[0], **ds = b + 1;   /* ds ring: derivative of step i in ds[i % ORDER] */
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        to_d(c->n, x, den, s[i], ds[i % ORDER]);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
            continue;
        }
        int order = i + 1 < ORDER ? i + 1 : ORDER;
        float coeff[ORDER];
        for (int j = 0; j < order; j++) coeff[j] = (float)lms_coeff(order, t, i, j);
        for (int64_t k = 0; k < c->n; k++) {
            float acc = 0.0f;
            for (int j = 0; j < order; j++) acc += coeff[j] * ds[(i - j) % ORDER][k];
            x[k] = x[k] + acc;
        }
    }
out:
    free(t);
    smp_free(b);
    return rc;
}
