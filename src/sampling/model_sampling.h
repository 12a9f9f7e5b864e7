/* model_sampling.h -- the discrete DDPM schedule of SD1.x/2.x/SDXL as ComfyUI uses it.
 *
 * One table of 1000 sigmas (scaled-linear betas, f64 cumulative product, stored f32),
 * the sigma <-> timestep maps (nearest index in log space one way, log-linear
 * interpolation the other), the per-evaluation scalings of the model wrapper
 * (c_in, eps / v prediction to denoised), the initial noise scaling, and the latent
 * format scale (0.18215 for SD1.x). Everything the samplers and schedulers need to
 * know about "the model" without touching a model.
 */
#ifndef CI_SAMPLING_MODEL_SAMPLING_H
#define CI_SAMPLING_MODEL_SAMPLING_H

#include <stdint.h>

#define MS_TIMESTEPS 1000
#define MS_SD15_LATENT_SCALE 0.18215f

typedef enum { MS_EPS, MS_V } ms_prediction;

typedef struct model_sampling {
    ms_prediction prediction;
    float sigmas[MS_TIMESTEPS];      /* (timestep) increasing, sigma of each DDPM step */
    float log_sigmas[MS_TIMESTEPS];  /* (timestep) f32(log(f64 sigma)) */
    float sigma_min, sigma_max;      /* sigmas[0], sigmas[999] */
    float latent_scale;              /* process_latent_in multiplies by this */
} model_sampling;

/* betas = linspace(sqrt(linear_start), sqrt(linear_end), 1000)^2 (SD: 0.00085, 0.012). */
void ms_init_discrete(model_sampling *ms, ms_prediction pred, double linear_start,
                      double linear_end, float latent_scale);
/* The SD1.x configuration: eps, 0.00085..0.012, latent scale 0.18215. */
void ms_init_sd15(model_sampling *ms);

/* Integer timestep (as float) whose log sigma is nearest to log(sigma); first on ties. */
float ms_timestep(const model_sampling *ms, float sigma);
/* Sigma at a fractional timestep, log-linear between table entries, t clamped. */
float ms_sigma(const model_sampling *ms, float t);
/* Start/end percent of a sampling run to sigma (0 -> 999999999.9, 1 -> 0). */
double ms_percent_to_sigma(const model_sampling *ms, double percent);

/* x_in[i] = x[i] / sqrt(sigma^2 + 1): what the UNet receives. */
void ms_scale_input(float sigma, const float *x, float *x_in, int64_t n);
/* denoised from the raw model output at `sigma` (eps: x - out*sigma; v: see .c). */
void ms_denoised(const model_sampling *ms, float sigma, const float *x, const float *out,
                 float *denoised, int64_t n);
/* Starting point x = latent + noise * (sqrt(1+sigma0^2) when sigma0 is the maximum
 * noise level, else sigma0). latent may be NULL (zeros). */
void ms_noise_scaling(const model_sampling *ms, float sigma0, const float *noise,
                      const float *latent, float *x, int64_t n);
void ms_latent_in(const model_sampling *ms, const float *in, float *out, int64_t n);
void ms_latent_out(const model_sampling *ms, const float *in, float *out, int64_t n);

#endif
