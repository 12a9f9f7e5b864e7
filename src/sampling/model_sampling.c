/* model_sampling.c -- ComfyUI's ModelSamplingDiscrete (+ EPS / V_PREDICTION), in C.
 *
 * The table is built exactly as torch builds it: torch.linspace in f64 (two-sided
 * formula, see sched_linspace_f64), squared, cumulative product in f64, sigma in f64,
 * then the f32 table and the f32 of the f64 log. All per-element scalings are f32
 * operations in the same order as the Python expressions, so results match ComfyUI's
 * CPU float32 run to the bit where the operations are the same.
 */
#include "sampling/model_sampling.h"

#include <math.h>

#include "sampling/schedulers.h"

void ms_init_discrete(model_sampling *ms, ms_prediction pred, double linear_start,
                      double linear_end, float latent_scale) {
    double betas[MS_TIMESTEPS];
    sched_linspace_f64(sqrt(linear_start), sqrt(linear_end), MS_TIMESTEPS, betas);
    double acp = 1.0;
    for (int i = 0; i < MS_TIMESTEPS; i++) {
        acp *= 1.0 - betas[i] * betas[i];
        double sigma = sqrt((1.0 - acp) / acp);
        ms->sigmas[i] = (float)sigma;
        ms->log_sigmas[i] = (float)log(sigma);
    }
    ms->prediction = pred;
    ms->sigma_min = ms->sigmas[0];
    ms->sigma_max = ms->sigmas[MS_TIMESTEPS - 1];
    ms->latent_scale = latent_scale;
}

void ms_init_sd15(model_sampling *ms) {
    ms_init_discrete(ms, MS_EPS, 0.00085, 0.012, MS_SD15_LATENT_SCALE);
}

float ms_timestep(const model_sampling *ms, float sigma) {
    float ls = logf(sigma);
    int best = 0;
    float best_dist = fabsf(ls - ms->log_sigmas[0]);
    for (int i = 1; i < MS_TIMESTEPS; i++) {
        float d = fabsf(ls - ms->log_sigmas[i]);
        if (d < best_dist) { best = i; best_dist = d; }
    }
    return (float)best;
}

float ms_sigma(const model_sampling *ms, float t) {
    if (t < 0.0f) t = 0.0f;
    if (t > (float)(MS_TIMESTEPS - 1)) t = (float)(MS_TIMESTEPS - 1);
    float lo = floorf(t);
    int lo_i = (int)lo, hi_i = (int)ceilf(t);
    float w = t - lo;
    float log_sigma = (1.0f - w) * ms->log_sigmas[lo_i] + w * ms->log_sigmas[hi_i];
    return expf(log_sigma);
}

double ms_percent_to_sigma(const model_sampling *ms, double percent) {
    if (percent <= 0.0) return 999999999.9;
    if (percent >= 1.0) return 0.0;
    return ms_sigma(ms, (float)((1.0 - percent) * 999.0));
}

void ms_scale_input(float sigma, const float *x, float *x_in, int64_t n) {
    float denom = sqrtf(sigma * sigma + 1.0f);
    for (int64_t i = 0; i < n; i++) x_in[i] = x[i] / denom;
}

void ms_denoised(const model_sampling *ms, float sigma, const float *x, const float *out,
                 float *denoised, int64_t n) {
    if (ms->prediction == MS_EPS) {
        for (int64_t i = 0; i < n; i++) denoised[i] = x[i] - out[i] * sigma;
        return;
    }
    /* v: x * sd^2 / (sigma^2 + sd^2) - out * sigma * sd / sqrt(sigma^2 + sd^2), sd = 1 */
    float s2 = sigma * sigma + 1.0f, root = sqrtf(s2);
    for (int64_t i = 0; i < n; i++) denoised[i] = x[i] / s2 - out[i] * sigma / root;
}

void ms_noise_scaling(const model_sampling *ms, float sigma0, const float *noise,
                      const float *latent, float *x, int64_t n) {
    /* ComfyUI's max_denoise: sigma0 is (close to) the top of the schedule or above. */
    double smax = ms->sigma_max, s0 = sigma0;
    int max_denoise = fabs(smax - s0) <= 1e-5 * fmax(fabs(smax), fabs(s0)) || s0 > smax;
    float scale = max_denoise ? sqrtf(1.0f + sigma0 * sigma0) : sigma0;
    for (int64_t i = 0; i < n; i++) x[i] = noise[i] * scale + (latent ? latent[i] : 0.0f);
}

void ms_latent_in(const model_sampling *ms, const float *in, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = in[i] * ms->latent_scale;
}

void ms_latent_out(const model_sampling *ms, const float *in, float *out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = in[i] / ms->latent_scale;
}
