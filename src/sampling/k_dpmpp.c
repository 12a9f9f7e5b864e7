/* k_dpmpp.c -- DPM-Solver++ samplers and the CFG++ variants.
 *
 * Work in t = lambda = -log(sigma) (half log-SNR for these VE-parameterised models);
 * steps are exponential integrators on the data prediction D. 2s_ancestral is single
 * step with a midpoint evaluation and ancestral noise; 2m is two-step multistep;
 * the SDE variants (2m_sde, 2m_sde_heun, 3m_sde, sde) add Brownian-tree noise. The
 * CFG++ variants re-noise with the unconditional prediction instead of the guided
 * one, so the model callback returns both. Scalars are f32 as ComfyUI's 0-d tensors
 * are; the last step to sigma 0 relies on IEEE infinities exactly as torch does
 * (exp(-inf) = 0, expm1(-inf) = -1).
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

#include "sampling/brownian.h"

static float lam(float sigma) { return -logf(sigma); }

/* DPM-Solver++(2S) with ancestral noise; cfg_pp re-noises with the uncond prediction. */
static int dpmpp_2s_ancestral(const smp_ctx *c, float *x, const float *s, int nsig, int cfg_pp) {
    float *b[5] = {0};
    int rc = smp_alloc(c, 5, b);
    if (rc) return rc;
    float *den = b[0], *unc = cfg_pp ? b[1] : NULL, *x2 = b[2], *den2 = b[3], *noise = b[4];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, unc));
        float down, up;
        smp_ancestral_step(s[i], s[i + 1], 1.0f, &down, &up);
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (down == 0.0f) {
            float dt = down - s[i];
            for (int64_t k = 0; k < c->n; k++) {
                if (cfg_pp) x[k] = den[k] + (x[k] - unc[k]) / s[i] * down;
                else x[k] = x[k] + (x[k] - den[k]) / s[i] * dt;
            }
        } else {
            float t = lam(s[i]), tn = lam(down), h = tn - t, sm = t + 0.5f * h;
            float a = expf(-sm) / expf(-t), e1 = expm1f(-h * 0.5f);
            for (int64_t k = 0; k < c->n; k++) {
                float base = cfg_pp ? x[k] + (den[k] - unc[k]) : x[k];
                x2[k] = a * base - e1 * den[k];
            }
            /* cfg_pp: the second call overwrites unc, and ComfyUI uses that new one below */
            SMP_TRY(smp_denoise(c, x2, expf(-sm), den2, unc));
            float a2 = expf(-tn) / expf(-t), e2 = expm1f(-h);
            for (int64_t k = 0; k < c->n; k++) {
                float base = cfg_pp ? x[k] + (den[k] - unc[k]) : x[k];
                x[k] = a2 * base - e2 * den2[k];
            }
        }
        if (s[i + 1] > 0.0f) {
            smp_noise_draw(&ns, noise, c->n);
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + noise[k] * up;
        }
    }
out:
    smp_free(b);
    return rc;
}

int smp_dpmpp_2s_ancestral(const smp_ctx *c, float *x, const float *s, int n) {
    return dpmpp_2s_ancestral(c, x, s, n, 0);
}
int smp_dpmpp_2s_ancestral_cfg_pp(const smp_ctx *c, float *x, const float *s, int n) {
    return dpmpp_2s_ancestral(c, x, s, n, 1);
}

int smp_dpmpp_2m(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[2] = {0};
    int rc = smp_alloc(c, 2, b);
    if (rc) return rc;
    float *den = b[0], *old = b[1];
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        float t = lam(s[i]), tn = lam(s[i + 1]), h = tn - t;
        float a = expf(-tn) / expf(-t), e = expm1f(-h);
        if (i == 0 || s[i + 1] == 0.0f) {
            for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] - e * den[k];
        } else {
            float r = (t - lam(s[i - 1])) / h, q = 1.0f / (2.0f * r), p = 1.0f + q;
            for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] - e * (p * den[k] - q * old[k]);
        }
        memcpy(old, den, (size_t)c->n * sizeof *old);
    }
out:
    smp_free(b);
    return rc;
}

int smp_dpmpp_2m_cfg_pp(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[3] = {0};
    int rc = smp_alloc(c, 3, b);
    if (rc) return rc;
    float *den = b[0], *unc = b[1], *old_unc = b[2];
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, unc));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        float t = lam(s[i]), tn = lam(s[i + 1]), h = tn - t, eh = expf(-h);
        if (i == 0 || s[i + 1] == 0.0f) {
            for (int64_t k = 0; k < c->n; k++) x[k] = (den[k] + -eh * unc[k]) + eh * x[k];
        } else {
            float r = (t - lam(s[i - 1])) / h, q = expm1f(-h) * (1.0f / (2.0f * r));
            for (int64_t k = 0; k < c->n; k++) {
                float mix = -eh * unc[k] - q * (den[k] - old_unc[k]);
                x[k] = (den[k] + mix) + eh * x[k];
            }
        }
        memcpy(old_unc, unc, (size_t)c->n * sizeof *unc);
    }
out:
    smp_free(b);
    return rc;
}

/* Euler (eta 0) and Euler ancestral (eta 1) with CFG++: the step direction comes
 * from the unconditional prediction, the landing point from the guided one. */
static int euler_cfg_pp(const smp_ctx *c, float *x, const float *s, int nsig, float eta) {
    float *b[3] = {0};
    int rc = smp_alloc(c, 3, b);
    if (rc) return rc;
    float *den = b[0], *unc = b[1], *noise = b[2];
    smp_noise ns;
    smp_noise_init(&ns, c->seed);
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, unc));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
            continue;
        }
        float alpha_s = s[i] * expf(lam(s[i])), alpha_t = s[i + 1] * expf(lam(s[i + 1]));
        float down, up;
        smp_ancestral_step(s[i] / alpha_s, s[i + 1] / alpha_t, eta, &down, &up);
        down = alpha_t * down;
        for (int64_t k = 0; k < c->n; k++) {
            float d = (x[k] - alpha_s * unc[k]) / s[i];
            x[k] = alpha_t * den[k] + down * d;
        }
        if (eta > 0.0f) {
            smp_noise_draw(&ns, noise, c->n);
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + alpha_t * noise[k] * up;
        }
    }
out:
    smp_free(b);
    return rc;
}

int smp_euler_cfg_pp(const smp_ctx *c, float *x, const float *s, int n) {
    return euler_cfg_pp(c, x, s, n, 0.0f);
}
int smp_euler_ancestral_cfg_pp(const smp_ctx *c, float *x, const float *s, int n) {
    return euler_cfg_pp(c, x, s, n, 1.0f);
}

/* The Brownian tree every SDE sampler builds: over [smallest non-zero, largest]. */
static bt_tree *sde_tree(const smp_ctx *c, const float *s, int nsig) {
    float lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < nsig; i++) {
        if (s[i] > 0.0f && s[i] < lo) lo = s[i];
        if (s[i] > hi) hi = s[i];
    }
    if (!(lo <= hi)) lo = hi;   /* no positive sigma: a degenerate, never-queried tree */
    return bt_new(c->n, lo, hi, c->seed);
}

/* DPM-Solver++ (stochastic), r = 1/2, eta = 1: two evaluations and two Brownian
 * increments per step. */
int smp_dpmpp_sde(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[4] = {0};
    bt_tree *tree = sde_tree(c, s, nsig);
    int rc = tree ? smp_alloc(c, 4, b) : SMP_ERR_NOMEM;
    if (rc) { bt_free(tree); return rc; }
    float *den = b[0], *x2 = b[1], *den2 = b[2], *noise = b[3];
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
            continue;
        }
        float ls = lam(s[i]), lt = lam(s[i + 1]), h = lt - ls, ls1 = ls + 0.5f * h;
        float s1 = expf(-ls1);
        float alpha_s = s[i] * expf(ls), alpha_s1 = s1 * expf(ls1), alpha_t = s[i + 1] * expf(lt);
        float down, up;
        smp_ancestral_step(expf(-ls), expf(-ls1), 1.0f, &down, &up);
        float hh = lam(down) - ls;
        float a = alpha_s1 / alpha_s * expf(-hh), e = alpha_s1 * expm1f(-hh);
        SMP_TRY(bt_noise(tree, s[i], s1, noise));
        for (int64_t k = 0; k < c->n; k++) x2[k] = (a * x[k] - e * den[k]) + alpha_s1 * noise[k] * up;
        SMP_TRY(smp_denoise(c, x2, s1, den2, NULL));
        smp_ancestral_step(expf(-ls), expf(-lt), 1.0f, &down, &up);
        hh = lam(down) - ls;
        a = alpha_t / alpha_s * expf(-hh);
        e = alpha_t * expm1f(-hh);
        SMP_TRY(bt_noise(tree, s[i], s[i + 1], noise));
        for (int64_t k = 0; k < c->n; k++) {
            float dd = 0.0f * den[k] + 1.0f * den2[k];   /* (1 - 1/(2r)) D + 1/(2r) D2 */
            x[k] = (a * x[k] - e * dd) + alpha_t * noise[k] * up;
        }
    }
out:
    smp_free(b);
    bt_free(tree);
    return rc;
}

/* DPM-Solver++(2M) SDE (eta 1) with the midpoint or Heun correction. */
static int dpmpp_2m_sde(const smp_ctx *c, float *x, const float *s, int nsig, int heun) {
    float *b[3] = {0};
    bt_tree *tree = sde_tree(c, s, nsig);
    int rc = tree ? smp_alloc(c, 3, b) : SMP_ERR_NOMEM;
    if (rc) { bt_free(tree); return rc; }
    float *den = b[0], *old = b[1], *noise = b[2];
    float h_last = 0.0f;
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
        } else {
            float ls = lam(s[i]), lt = lam(s[i + 1]), h = lt - ls, h_eta = h * 2.0f;
            float alpha_t = s[i + 1] * expf(lt), phi = -expm1f(-h_eta);
            float a = s[i + 1] / s[i] * expf(-h), e = alpha_t * phi;
            for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] + e * den[k];
            if (i > 0) {
                float inv_r = 1.0f / (h_last / h);
                float q = heun ? alpha_t * (phi / -h_eta + 1.0f) * inv_r : 0.5f * alpha_t * phi * inv_r;
                for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + q * (den[k] - old[k]);
            }
            SMP_TRY(bt_noise(tree, s[i], s[i + 1], noise));
            float amp = sqrtf(-expm1f(-2.0f * h));
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + noise[k] * s[i + 1] * amp;
            h_last = h;
        }
        memcpy(old, den, (size_t)c->n * sizeof *old);
    }
out:
    smp_free(b);
    bt_free(tree);
    return rc;
}

int smp_dpmpp_2m_sde(const smp_ctx *c, float *x, const float *s, int n) {
    return dpmpp_2m_sde(c, x, s, n, 0);
}
int smp_dpmpp_2m_sde_heun(const smp_ctx *c, float *x, const float *s, int n) {
    return dpmpp_2m_sde(c, x, s, n, 1);
}

/* DPM-Solver++(3M) SDE (eta 1): second and third order corrections from the last two
 * denoised values once they exist. */
int smp_dpmpp_3m_sde(const smp_ctx *c, float *x, const float *s, int nsig) {
    float *b[4] = {0};
    bt_tree *tree = sde_tree(c, s, nsig);
    int rc = tree ? smp_alloc(c, 4, b) : SMP_ERR_NOMEM;
    if (rc) { bt_free(tree); return rc; }
    float *den = b[0], *den1 = b[1], *den2 = b[2], *noise = b[3];
    float h = 0.0f, h1 = 0.0f, h2 = 0.0f;
    int have = 0;   /* how many previous (denoised, h) pairs exist */
    for (int i = 0; i + 1 < nsig; i++) {
        SMP_TRY(smp_denoise(c, x, s[i], den, NULL));
        SMP_TRY(smp_step(c, i, nsig - 1, x, den));
        if (s[i + 1] == 0.0f) {
            memcpy(x, den, (size_t)c->n * sizeof *x);
        } else {
            float ls = lam(s[i]), lt = lam(s[i + 1]);
            h = lt - ls;
            float h_eta = h * 2.0f, alpha_t = s[i + 1] * expf(lt);
            float a = s[i + 1] / s[i] * expf(-h), e = alpha_t * -expm1f(-h_eta);
            for (int64_t k = 0; k < c->n; k++) x[k] = a * x[k] + e * den[k];
            float phi2 = expm1f(-h_eta) / h_eta + 1.0f;
            if (have >= 2) {
                float r0 = h1 / h, r1 = h2 / h, phi3 = phi2 / h_eta - 0.5f;
                float c2 = alpha_t * phi2, c3 = alpha_t * phi3;
                for (int64_t k = 0; k < c->n; k++) {
                    float d10 = (den[k] - den1[k]) / r0, d11 = (den1[k] - den2[k]) / r1;
                    float d1 = d10 + (d10 - d11) * r0 / (r0 + r1), d2 = (d10 - d11) / (r0 + r1);
                    x[k] = x[k] + c2 * d1 - c3 * d2;
                }
            } else if (have == 1) {
                float r = h1 / h, c2 = alpha_t * phi2;
                for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + c2 * ((den[k] - den1[k]) / r);
            }
            SMP_TRY(bt_noise(tree, s[i], s[i + 1], noise));
            float amp = sqrtf(-expm1f(-2.0f * h));
            for (int64_t k = 0; k < c->n; k++) x[k] = x[k] + noise[k] * s[i + 1] * amp;
        }
        /* shift the history (also after the final step, as ComfyUI does) */
        float *tmp = den2;
        den2 = den1; den1 = den; den = tmp;
        h2 = h1; h1 = h;
        if (have < 2) have++;
    }
out:
    smp_free(b);   /* b[0] is still the block start; only the local names rotated */
    bt_free(tree);
    return rc;
}
