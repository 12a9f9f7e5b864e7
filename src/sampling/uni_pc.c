/* uni_pc.c -- UniPC (bh1 / bh2), multistep predictor-corrector, as ComfyUI wraps it.
 *
 * ComfyUI runs UniPC in VP variables: x is divided by sqrt(1 + sigma_0^2), sigmas
 * act as the continuous time, the model is turned into a data predictor
 * m(x, sigma) = (x - std * eps) / alpha, and a final sigma of 0 becomes 0.001. Order
 * is min(3, steps - 1), warming up with lower orders and lowering again at the end;
 * every step but the last runs the corrector, whose model value is the next history
 * entry, so each step costs one model call. Coefficients solve the small Vandermonde
 * systems of the paper (in double here; torch solves them in f32).
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

/* The VP schedule of ComfyUI's SigmaConvert, f32 like its tensors. */
static float log_alpha(float s) { return 0.5f * logf(1.0f / (s * s + 1.0f)); }
static float alpha_of(float s) { return expf(log_alpha(s)); }
static float std_of(float s) { return sqrtf(1.0f - expf(2.0f * log_alpha(s))); }
static float lambda_of(float s) {
    float lm = log_alpha(s);
    return lm - 0.5f * logf(1.0f - expf(2.0f * lm));
}

typedef struct unipc {
    const smp_ctx *c;
    int bh2;
    float *hist[3];      /* model values, hist[0] the oldest, hist[len-1] the newest */
    float hist_t[3];
    int len;
    float *xin, *den, *xt_, *mt;
} unipc;

/* Data prediction m(x, sigma) into out. */
static int unipc_model(unipc *u, const float *x, float sigma, float *out) {
    const smp_ctx *c = u->c;
    float scale = sqrtf(sigma * sigma + 1.0f), sd = std_of(sigma), al = alpha_of(sigma);
    for (int64_t k = 0; k < c->n; k++) u->xin[k] = x[k] * scale;
    int rc = smp_denoise(c, u->xin, sigma, u->den, NULL);
    if (rc) return rc;
    for (int64_t k = 0; k < c->n; k++) {
        float eps = (u->xin[k] - u->den[k]) / sigma;
        out[k] = (x[k] - sd * eps) / al;
    }
    return SMP_OK;
}

/* One step from the newest history point to sigma t with the given order; x in/out.
 * With the corrector, the model value at the new point lands in u->mt. */
static int unipc_update(unipc *u, float *x, float t, int order, int corrector) {
    const smp_ctx *c = u->c;
    const float *m0 = u->hist[u->len - 1];
    float t0 = u->hist_t[u->len - 1];
    float lam0 = lambda_of(t0), lam_t = lambda_of(t), h = lam_t - lam0;
    float sigma_t = std_of(t), sigma0 = std_of(t0), alpha_t = expf(log_alpha(t));
    float rks[3], hh = -h, phi1 = expm1f(hh), phik = phi1 / hh - 1.0f;
    const float *mk[2] = {NULL, NULL};
    for (int i = 1; i < order; i++) {
        rks[i - 1] = (lambda_of(u->hist_t[u->len - 1 - i]) - lam0) / h;
        mk[i - 1] = u->hist[u->len - 1 - i];
    }
    rks[order - 1] = 1.0f;
    float bh = u->bh2 ? expm1f(hh) : hh, b[3];
    double rmat[SMP_SOLVE_MAX][SMP_SOLVE_MAX];
    float fact = 1.0f;
    for (int i = 1; i <= order; i++) {
        for (int k = 0; k < order; k++) rmat[i - 1][k] = powf(rks[k], (float)(i - 1));
        b[i - 1] = phik * fact / bh;
        fact *= (float)(i + 1);
        phik = phik / hh - 1.0f / fact;
    }
    double rp[SMP_SOLVE_MAX] = {0}, rc_[SMP_SOLVE_MAX] = {0}, a[SMP_SOLVE_MAX][SMP_SOLVE_MAX], bb[SMP_SOLVE_MAX];
    if (order == 2) rp[0] = 0.5;
    else if (order == 3) {
        for (int r = 0; r < 2; r++) { bb[r] = b[r]; for (int k = 0; k < 2; k++) a[r][k] = rmat[r][k]; }
        smp_solve(2, a, bb, rp);
    }
    if (order == 1) rc_[0] = 0.5;
    else {
        for (int r = 0; r < order; r++) { bb[r] = b[r]; for (int k = 0; k < order; k++) a[r][k] = rmat[r][k]; }
        smp_solve(order, a, bb, rc_);
    }
    float ratio = sigma_t / sigma0, ap = alpha_t * phi1, ab = alpha_t * bh;
    float rhop[2] = {(float)rp[0], (float)rp[1]}, rhoc[3] = {(float)rc_[0], (float)rc_[1], (float)rc_[2]};
    for (int64_t k = 0; k < c->n; k++) {
        float base = ratio * x[k] - ap * m0[k], pred = 0.0f;
        for (int j = 0; j + 1 < order; j++) pred += (mk[j][k] - m0[k]) / rks[j] * rhop[j];
        u->xt_[k] = base;
        x[k] = order > 1 ? base - ab * pred : base;
    }
    if (!corrector) return SMP_OK;
    int rc = unipc_model(u, x, t, u->mt);
    if (rc) return rc;
    for (int64_t k = 0; k < c->n; k++) {
        float corr = 0.0f;
        for (int j = 0; j + 1 < order; j++) corr += (mk[j][k] - m0[k]) / rks[j] * rhoc[j];
        x[k] = u->xt_[k] - ab * (corr + rhoc[order - 1] * (u->mt[k] - m0[k]));
    }
    return SMP_OK;
}

/* Append (or, when full, shift in) the model value mt at time t. */
static void unipc_push(unipc *u, int cap, const float *m, float t) {
    if (u->len < cap) {
        memcpy(u->hist[u->len], m, (size_t)u->c->n * sizeof *m);
        u->hist_t[u->len++] = t;
        return;
    }
    float *oldest = u->hist[0];
    for (int i = 0; i + 1 < cap; i++) { u->hist[i] = u->hist[i + 1]; u->hist_t[i] = u->hist_t[i + 1]; }
    u->hist[cap - 1] = oldest;
    if (oldest != m) memcpy(oldest, m, (size_t)u->c->n * sizeof *m);
    u->hist_t[cap - 1] = t;
}

static int uni_pc(const smp_ctx *c, float *x, const float *sigmas, int nsig, int bh2) {
    float *b[7] = {0};
    float *ts = malloc((size_t)nsig * sizeof *ts);
    int rc = ts ? smp_alloc(c, 7, b) : SMP_ERR_NOMEM;
    if (rc) { free(ts); return rc; }
    unipc u = {.c = c, .bh2 = bh2, .hist = {b[0], b[1], b[2]},
               .xin = b[3], .den = b[4], .xt_ = b[5], .mt = b[6]};
    memcpy(ts, sigmas, (size_t)nsig * sizeof *ts);
    if (ts[nsig - 1] == 0.0f) ts[nsig - 1] = 0.001f;
    int steps = nsig - 1, order = nsig - 2 < 3 ? nsig - 2 : 3;
    float in_scale = sqrtf(1.0f + ts[0] * ts[0]);
    for (int64_t k = 0; k < c->n; k++) x[k] = x[k] / in_scale;
    int cap = order > 0 ? order : 1;
    for (int si = 0; si < steps; si++) {
        if (si == 0) {
            SMP_TRY(unipc_model(&u, x, ts[0], u.mt));
            unipc_push(&u, cap, u.mt, ts[0]);
        } else if (si < order) {
            SMP_TRY(unipc_update(&u, x, ts[si], si, 1));
            unipc_push(&u, cap, u.mt, ts[si]);
        } else {
            int last = si == steps - 1 ? si + 1 : si;
            for (int st = si; st <= last; st++) {
                int ord = order < steps + 1 - st ? order : steps + 1 - st;
                int corrector = st != steps;
                SMP_TRY(unipc_update(&u, x, ts[st], ord, corrector));
                /* ComfyUI shifts the time list even after the final step */
                unipc_push(&u, cap, corrector ? u.mt : u.hist[u.len - 1], ts[st]);
            }
        }
        SMP_TRY(smp_step(c, si, steps, x, u.hist[u.len - 1]));
    }
    float out_scale = alpha_of(ts[nsig - 1]);
    for (int64_t k = 0; k < c->n; k++) x[k] = x[k] / out_scale;
out:
    free(ts);
    smp_free(b);
    return rc;
}

int smp_uni_pc(const smp_ctx *c, float *x, const float *s, int n) { return uni_pc(c, x, s, n, 0); }
int smp_uni_pc_bh2(const smp_ctx *c, float *x, const float *s, int n) { return uni_pc(c, x, s, n, 1); }
