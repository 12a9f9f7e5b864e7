/* k_stochastic.c -- samplers that re-noise from the default noise sampler every step:
 * ddpm (ancestral DDPM posterior in VP variables), lcm (jump to D, re-noise to the
 * next sigma), er_sde (extended reverse-time SDE, 3 stages) and seeds_2 / seeds_3
 * (stochastic exponential derivative-free solvers) and the exponential Heun pair built
 * on SEEDS-2, all with s_noise = 1.
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

int smp_ddpm(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[2] = {0};
    int rc = smp_alloc(c, 2, b);
    if (rc) return rc;
    float *den = b[0], *noise = b[1];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        float sig = s[i], next = s[i + 1];
        float ac = 1.0f / (sig * sig + 1.0f), ac_prev = 1.0f / (next * next + 1.0f);
        float alpha = ac / ac_prev;
        float a = sqrtf(1.0f / alpha), one_minus = 1.0f - alpha, root = sqrtf(1.0f - ac);
        float in_scale = sqrtf(1.0f + sig * sig), out_scale = sqrtf(1.0f + next * next);
        float amp = sqrtf((1.0f - alpha) * (1.0f - ac_prev) / (1.0f - ac));
        if (next > 0.0f) smp_noise_draw(&ns, noise, c->n);
        for (int64_t k = 0; k < c->n; k++) {
            float xv = x[k] / in_scale, eps = (x[k] - den[k]) / sig;
            float mu = a * (xv - one_minus * eps / root);
            if (next > 0.0f) mu += amp * noise[k];
            x[k] = next != 0.0f ? mu * out_scale : mu;
        }
    }
out:
    smp_free(b);
    return rc;
}

int smp_lcm(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[2] = {0};
    int rc = smp_alloc(c, 2, b);
    if (rc) return rc;
    float *den = b[0], *noise = b[1];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        memcpy(x, den, (size_t)c->n * sizeof *x);
        if (s[i + 1] > 0.0f) {   /* noise_scaling below the top: x = noise * sigma + D */
            smp_noise_draw(&ns, noise, c->n);
            for (int64_t k = 0; k < c->n; k++) x[k] = noise[k] * s[i + 1] + den[k];
        }
    }
out:
    smp_free(b);
    return rc;
}

/* ER-SDE's default noise scaler: x * (exp(x^0.3) + 10). */
static float er_scaler(float v) { return v * (expf(powf(v, 0.3f)) + 10.0f); }

#define ER_POINTS 200

int smp_er_sde(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[5] = {0};
    float *lam = malloc((size_t)nsig * sizeof *lam);
    int rc = lam ? smp_alloc(c, 5, b) : SMP_ERR_NOMEM;
    if (rc) { free(lam); return rc; }
    float *den = b[0], *old = b[1], *den_d = b[2], *old_d = b[3], *noise = b[4];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i < nsig; i++) lam[i] = expf(-(-logf(s[i])));   /* sigma / alpha */
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        int stage = i + 1 < 3 ? i + 1 : 3;
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
        } else {
            float ls = lam[i], lt = lam[i + 1];
            float alpha_s = s[i] / ls, alpha_t = s[i + 1] / lt, r_alpha = alpha_t / alpha_s;
            float r = er_scaler(lt) / er_scaler(ls);
            float a = r_alpha * r, e = alpha_t * (1.0f - r);
            for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] + e * den[k];
            if (stage >= 2) {
                float dt = lt - ls, step = -dt / (float)ER_POINTS;
                double sum1 = 0.0, sum2 = 0.0;
                for (int p = 0; p < ER_POINTS; p++) {
                    float pos = lt + (float)p * step, sc = er_scaler(pos);
                    sum1 += 1.0f / sc;
                    sum2 += (pos - ls) / sc;
                }
                float s1 = (float)sum1 * step, su = (float)sum2 * step, nt = er_scaler(lt);
                float q2 = alpha_t * (dt + s1 * nt), div = ls - lam[i - 1];
                for (int64_t k = 0; k < c->n; k++) {
                    den_d[k] = (den[k] - old[k]) / div;
                    x[k] = x[k] + q2 * den_d[k];
                }
                if (stage >= 3) {
                    float q3 = alpha_t * ((dt * dt) / 2.0f + su * nt), div3 = (ls - lam[i - 2]) / 2.0f;
                    for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + q3 * ((den_d[k] - old_d[k]) / div3);
                }
                memcpy(old_d, den_d, (size_t)c->n * sizeof *old_d);
            }
            float amp = sqrtf(lt * lt - (ls * ls) * (r * r));
            amp = isnan(amp) ? 0.0f : amp;
            smp_noise_draw(&ns, noise, c->n);
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + alpha_t * noise[k] * amp;
        }
        memcpy(old, den, (size_t)c->n * sizeof *old);
    }
out:
    free(lam);
    smp_free(b);
    return rc;
}

/* One SEEDS stage: x_new = sigma_to/sigma * exp(-r h) * x - alpha * (combination of D's),
 * plus the stage's share of the SDE noise, which carries over between stages. */
typedef struct seeds_state {
    float *noise, *sde, *draw;
    smp_noise ns;
} seeds_state;

/* sde = sde * exp(f) + sqrt(-expm1(2f)) * fresh noise; x += sde * sigma_to. With
 * first set, sde starts as sqrt(-expm1(2f)) * fresh noise. */
static void seeds_noise(const smp_ctx *c, seeds_state *st, float *x, float f, float sigma_to,
                        int first) {
    float e = expf(f), amp = sqrtf(-expm1f(f * 2.0f));
    smp_noise_draw(&st->ns, st->draw, c->n);
    for (int64_t k = 0; k < c->n; k++) {
        st->sde[k] = first ? amp * st->draw[k] : st->sde[k] * e + amp * st->draw[k];
        x[k] = x[k] + st->sde[k] * sigma_to;
    }
}

static float ei_phi2(float h) { return (expm1f(h) - h) / h; }

/* SEEDS-2 with midpoint fraction r. phi2 = 0: the second stage uses lerp(D, D2, 1/2r)
 * with phi_1 (seeds_2, r = 1/2); phi2 = 1: the phi_2 weights of upstream ComfyUI's
 * newer seeds_2, which with r = 1 is the exponential Heun method (exp_heun_2_x0, eta 0;
 * exp_heun_2_x0_sde, eta 1). With eta 0 no noise is drawn at all. */
static int seeds_2(const smp_ctx *c, float *x, const float *s, int nsig, float r, float eta, int phi2) {
    float *b[5] = {0};
    int rc = smp_alloc(c, 5, b);
    if (rc) return rc;
    float *den = b[0], *x2 = b[1], *den2 = b[2];
    seeds_state st = {.sde = b[3], .draw = b[4]};
    smp_noise_init(&st.ns, c->seed);
    const int inject = eta > 0.0f;
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
            continue;
        }
        float ls = -logf(s[i]), lt = -logf(s[i + 1]), h = lt - ls, h_eta = h * (eta + 1.0f);
        float ls1 = smp_lerp(ls, lt, r), s1 = expf(-ls1);
        float alpha_s1 = s1 * expf(ls1), alpha_t = s[i + 1] * expf(lt);
        float a = s1 / s[i] * expf(-r * h * eta), e = alpha_s1 * expm1f(-r * h_eta);
        for (int64_t k = 0; k < c->n; k++) x2[k] = a * x[k] - e * den[k];
        if (inject) seeds_noise(c, &st, x2, -r * h * eta, s1, 1);
        SMP_TRY(smp_denoise(c, x2, s1, den2, NULL));
        a = s[i + 1] / s[i] * expf(-h * eta);
        if (phi2) {
            float b2 = ei_phi2(-h_eta) / r, b1 = expm1f(-h_eta) - b2;
            for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] - alpha_t * (b1 * den[k] + b2 * den2[k]);
        } else {
            e = alpha_t * expm1f(-h_eta);
            float fac = (float)(1.0 / (2.0 * r));
            for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] - e * smp_lerp(den[k], den2[k], fac);
        }
        if (inject) seeds_noise(c, &st, x, (r - 1.0f) * h * eta, s[i + 1], 0);
    }
out:
    smp_free(b);
    return rc;
}

int smp_seeds_2(const smp_ctx *c, float *x, const float *s, int n) { return seeds_2(c, x, s, n, 0.5f, 1.0f, 0); }
int smp_exp_heun_2_x0(const smp_ctx *c, float *x, const float *s, int n) {
    return seeds_2(c, x, s, n, 1.0f, 0.0f, 1);
}
int smp_exp_heun_2_x0_sde(const smp_ctx *c, float *x, const float *s, int n) {
    return seeds_2(c, x, s, n, 1.0f, 1.0f, 1);
}

int smp_seeds_3(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[6] = {0};
    int rc = smp_alloc(c, 6, b);
    if (rc) return rc;
    float *den = b[0], *xs = b[1], *den2 = b[2], *den3 = b[3];
    seeds_state st = {.sde = b[4], .draw = b[5]};
    smp_noise_init(&st.ns, c->seed);
    const double r1 = 1.0 / 3.0, r2 = 2.0 / 3.0;
    const float r1f = (float)r1, r2f = (float)r2;
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
            continue;
        }
        float ls = -logf(s[i]), lt = -logf(s[i + 1]), h = lt - ls, h_eta = h * 2.0f;
        float ls1 = smp_lerp(ls, lt, r1f), ls2 = smp_lerp(ls, lt, r2f);
        float s1 = expf(-ls1), s2 = expf(-ls2);
        float alpha_s1 = s1 * expf(ls1), alpha_s2 = s2 * expf(ls2), alpha_t = s[i + 1] * expf(lt);
        /* stage 1: to s1 */
        float a = s1 / s[i] * expf((float)-r1 * h), e = alpha_s1 * expm1f((float)-r1 * h_eta);
        for (int64_t k = 0; k < c->n; k++) xs[k] = a * x[k] - e * den[k];
        seeds_noise(c, &st, xs, (float)-r1 * h, s1, 1);
        SMP_TRY(smp_denoise(c, xs, s1, den2, NULL));
        /* stage 2: to s2 */
        float a32 = (float)(r2 / r1) * ei_phi2((float)-r2 * h_eta);
        float a31 = expm1f((float)-r2 * h_eta) - a32;
        a = s2 / s[i] * expf((float)-r2 * h);
        for (int64_t k = 0; k < c->n; k++) xs[k] = a * x[k] - alpha_s2 * (a31 * den[k] + a32 * den2[k]);
        seeds_noise(c, &st, xs, (float)(r1 - r2) * h, s2, 0);
        SMP_TRY(smp_denoise(c, xs, s2, den3, NULL));
        /* stage 3: to sigma_next */
        float b3 = ei_phi2(-h_eta) / r2f, b1 = expm1f(-h_eta) - b3;
        a = s[i + 1] / s[i] * expf(-h);
        for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] - alpha_t * (b1 * den[k] + b3 * den3[k]);
        seeds_noise(c, &st, x, (float)(r2 - 1.0) * h, s[i + 1], 0);
    }
out:
    smp_free(b);
    return rc;
}
