/* schedulers.c -- sigma lists exactly as comfy/samplers.py computes them.
 *
 * Each scheduler mirrors its Python counterpart's arithmetic: which values are
 * doubles (Python floats, numpy) and which are f32 tensors, and in what order they
 * combine. torch.linspace uses the two-sided formula with a fused multiply-add
 * (first half from the start, second half from the end), so it is spelled out here
 * rather than approximated by a + i*step.
 */
#include "sampling/schedulers.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const sched_names[SCHED_COUNT] = {
    "simple", "sgm_uniform", "karras", "exponential", "ddim_uniform",
    "beta", "normal", "linear_quadratic", "kl_optimal",
};

int sched_lookup(const char *name) {
    for (int i = 0; i < SCHED_COUNT; i++)
        if (!strcmp(name, sched_names[i])) return i;
    return -1;
}

void sched_linspace_f32(float a, float b, int n, float *out) {
    if (n == 1) { out[0] = a; return; }
    float step = (b - a) / (float)(n - 1);
    for (int i = 0; i < n; i++)
        out[i] = i < n / 2 ? fmaf(step, (float)i, a) : fmaf(-step, (float)(n - 1 - i), b);
}

void sched_linspace_f64(double a, double b, int n, double *out) {
    if (n == 1) { out[0] = a; return; }
    double step = (b - a) / (double)(n - 1);
    for (int i = 0; i < n; i++)
        out[i] = i < n / 2 ? fma(step, (double)i, a) : fma(-step, (double)(n - 1 - i), b);
}

/* ---- regularized incomplete beta and its inverse (for the beta scheduler) ---- */

/* Continued fraction of I_x(a,b) (modified Lentz), valid for x < (a+1)/(a+b+2). */
static double beta_cf(double x, double a, double b) {
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 10000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d; if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c; if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d; if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c; if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < 1e-16) break;
    }
    return h;
}

static double beta_inc(double x, double a, double b) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    double lfront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1.0) / (a + b + 2.0)) return exp(lfront) * beta_cf(x, a, b) / a;
    return 1.0 - exp(lfront) * beta_cf(1.0 - x, b, a) / b;
}

double sched_beta_ppf(double p, double a, double b) {
    if (p <= 0.0) return 0.0;
    if (p >= 1.0) return 1.0;
    if (a == b && p == 0.5) return 0.5;   /* exact by symmetry */
    /* I_x is increasing in x: bisect until the interval stops shrinking. */
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 2000; i++) {
        double mid = 0.5 * (lo + hi);
        if (mid <= lo || mid >= hi) break;
        if (beta_inc(mid, a, b) < p) lo = mid; else hi = mid;
    }
    return 0.5 * (lo + hi);
}

/* ---- the schedulers ---- */

static int sched_simple(const model_sampling *ms, int steps, float *out) {
    double ss = (double)MS_TIMESTEPS / steps;
    for (int k = 0; k < steps; k++) out[k] = ms->sigmas[MS_TIMESTEPS - 1 - (int)(k * ss)];
    out[steps] = 0.0f;
    return steps + 1;
}

/* normal and sgm_uniform: evenly spaced timesteps from t(sigma_max) to t(sigma_min). */
static int sched_normal(const model_sampling *ms, int steps, int sgm, float *out) {
    float start = ms_timestep(ms, ms->sigma_max), end = ms_timestep(ms, ms->sigma_min);
    int n = steps, append_zero = 1;
    if (!sgm && fabsf(ms_sigma(ms, end)) <= 1e-5f) { n = steps + 1; append_zero = 0; }
    float *ts = malloc((size_t)(steps + 2) * sizeof *ts);
    if (!ts) return -1;
    if (sgm) sched_linspace_f32(start, end, steps + 1, ts);
    else sched_linspace_f32(start, end, n, ts);
    for (int k = 0; k < n; k++) out[k] = ms_sigma(ms, ts[k]);
    free(ts);
    if (append_zero) out[n++] = 0.0f;
    return n;
}

static int sched_karras(const model_sampling *ms, int steps, float *out) {
    const double rho = 7.0;
    double min_inv = pow(ms->sigma_min, 1.0 / rho), max_inv = pow(ms->sigma_max, 1.0 / rho);
    sched_linspace_f32(0.0f, 1.0f, steps, out);
    float diff = (float)(min_inv - max_inv), base = (float)max_inv;
    for (int k = 0; k < steps; k++) out[k] = powf(base + out[k] * diff, (float)rho);
    out[steps] = 0.0f;
    return steps + 1;
}

static int sched_exponential(const model_sampling *ms, int steps, float *out) {
    sched_linspace_f32((float)log(ms->sigma_max), (float)log(ms->sigma_min), steps, out);
    for (int k = 0; k < steps; k++) out[k] = expf(out[k]);
    out[steps] = 0.0f;
    return steps + 1;
}

static int sched_ddim_uniform(const model_sampling *ms, int steps, float *out) {
    int x = 1, n = 0;
    int append_zero = fabs((double)ms->sigmas[1]) > 1e-5;
    if (!append_zero) steps += 1;
    int ss = MS_TIMESTEPS / steps > 1 ? MS_TIMESTEPS / steps : 1;
    /* Collected upward from index 1, then reversed; the 0 goes last. */
    for (; x < MS_TIMESTEPS; x += ss) out[n++] = ms->sigmas[x];
    for (int i = 0; i < n / 2; i++) {
        float t = out[i]; out[i] = out[n - 1 - i]; out[n - 1 - i] = t;
    }
    if (append_zero) out[n++] = 0.0f;
    return n;
}

static int sched_beta(const model_sampling *ms, int steps, float *out) {
    const double alpha = 0.6, beta = 0.6, total = MS_TIMESTEPS - 1;
    int n = 0;
    double last_t = -1.0;
    for (int k = 0; k < steps; k++) {
        double u = 1.0 - (double)k / steps;   /* 1 - numpy.linspace(0, 1, steps, endpoint=False) */
        double t = rint(sched_beta_ppf(u, alpha, beta) * total);
        if (t != last_t) out[n++] = ms->sigmas[(int)t];
        last_t = t;
    }
    out[n++] = 0.0f;
    return n;
}

static int sched_linear_quadratic(const model_sampling *ms, int steps, float *out) {
    const double threshold = 0.025;
    if (steps == 1) {
        out[0] = 1.0f * ms->sigma_max;
        out[1] = 0.0f * ms->sigma_max;
        return 2;
    }
    int lin = steps / 2, quad = steps - lin;
    double diff = lin - threshold * steps;
    double qc = diff / (lin * (double)quad * quad);
    double lc = threshold / lin - 2 * diff / ((double)quad * quad);
    double c0 = qc * ((double)lin * lin);
    for (int i = 0; i < steps; i++) {
        double v = i < lin ? i * threshold / lin : qc * ((double)i * i) + lc * i + c0;
        out[i] = (float)(1.0 - v) * ms->sigma_max;
    }
    out[steps] = (float)(1.0 - 1.0) * ms->sigma_max;
    return steps + 1;
}

static int sched_kl_optimal(const model_sampling *ms, int steps, float *out) {
    float amin = (float)atan(ms->sigma_min), amax = (float)atan(ms->sigma_max);
    for (int k = 0; k < steps; k++) {
        float r = (float)k / (float)(steps - 1);
        out[k] = tanf(r * amin + (1.0f - r) * amax);
    }
    out[steps] = 0.0f;
    return steps + 1;
}

float *sched_sigmas(sched_kind kind, const model_sampling *ms, int steps, int *count) {
    if (steps < 1 || steps > 100000 || kind < 0 || kind >= SCHED_COUNT) return NULL;
    /* ddim_uniform can yield up to 1000 values whatever the step count. */
    size_t cap = (size_t)steps + 2 > MS_TIMESTEPS + 1 ? (size_t)steps + 2 : MS_TIMESTEPS + 1;
    float *out = malloc(cap * sizeof *out);
    if (!out) return NULL;
    int n = -1;
    switch (kind) {
    case SCHED_SIMPLE:           n = sched_simple(ms, steps, out); break;
    case SCHED_SGM_UNIFORM:      n = sched_normal(ms, steps, 1, out); break;
    case SCHED_KARRAS:           n = sched_karras(ms, steps, out); break;
    case SCHED_EXPONENTIAL:      n = sched_exponential(ms, steps, out); break;
    case SCHED_DDIM_UNIFORM:     n = sched_ddim_uniform(ms, steps, out); break;
    case SCHED_BETA:             n = sched_beta(ms, steps, out); break;
    case SCHED_NORMAL:           n = sched_normal(ms, steps, 0, out); break;
    case SCHED_LINEAR_QUADRATIC: n = sched_linear_quadratic(ms, steps, out); break;
    case SCHED_KL_OPTIMAL:       n = sched_kl_optimal(ms, steps, out); break;
    case SCHED_COUNT:            break;
    }
    if (n < 0) { free(out); return NULL; }
    *count = n;
    return out;
}

static float *sched_discarding(sched_kind kind, const model_sampling *ms, int steps,
                               int discard_penultimate, int *count) {
    float *s = sched_sigmas(kind, ms, steps + (discard_penultimate ? 1 : 0), count);
    if (s && discard_penultimate && *count >= 2) {
        s[*count - 2] = s[*count - 1];
        (*count)--;
    }
    return s;
}

float *sched_ksampler_sigmas(sched_kind kind, const model_sampling *ms, int steps,
                             double denoise, int discard_penultimate, int *count) {
    if (denoise > 0.9999) return sched_discarding(kind, ms, steps, discard_penultimate, count);
    if (denoise <= 0.0 || steps < 1) {
        *count = 0;
        return malloc(sizeof(float));
    }
    double total = (double)steps / denoise;
    if (total > 100000) return NULL;
    float *s = sched_discarding(kind, ms, (int)total, discard_penultimate, count);
    if (s && *count > steps + 1) {
        /* keep the last steps+1 values: sigmas[-(steps+1):] */
        memmove(s, s + (*count - (steps + 1)), (size_t)(steps + 1) * sizeof *s);
        *count = steps + 1;
    }
    return s;
}
