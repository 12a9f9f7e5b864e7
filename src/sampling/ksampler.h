/* ksampler.h -- what the KSampler and KSamplerAdvanced nodes do around a sampler.
 *
 * Given a latent, a denoiser (normally a cfg_guider) and the node's widgets, this
 * builds the sigma list (scheduler, denoise, start/end steps, leftover noise), draws
 * the initial noise exactly as ComfyUI (prepare_noise, or zeros without add_noise),
 * scales the latent into the model's space, starts from latent + noise * sigma_0 (or
 * sqrt(1 + sigma_0^2) at full denoise), runs the sampler with the inpainting blend
 * when a noise mask is given, and scales back. Pure arithmetic on float arrays.
 */
#ifndef CI_SAMPLING_KSAMPLER_H
#define CI_SAMPLING_KSAMPLER_H

#include <stdint.h>

#include "sampling/model_sampling.h"
#include "sampling/sampler.h"
#include "sampling/schedulers.h"

typedef struct ks_params {
    const model_sampling *ms;
    const smp_sampler *sampler;
    sched_kind scheduler;
    int steps;
    double denoise;               /* KSampler; KSamplerAdvanced uses 1.0 */
    uint64_t seed;
    int add_noise;                /* KSamplerAdvanced add_noise (KSampler: 1) */
    int start_at_step;            /* KSamplerAdvanced; -1 = none (KSampler) */
    int end_at_step;              /* KSamplerAdvanced; -1 = none (KSampler) */
    int leftover_noise;           /* return_with_leftover_noise (KSampler: 0) */
} ks_params;

/* KSampler node defaults for everything KSamplerAdvanced adds. */
void ks_params_default(ks_params *p);

/* The sigmas the sampler will walk (heap, *count may be 0 or 1: nothing to do). */
float *ks_sigmas(const ks_params *p, int *count);

typedef struct ks_latent {
    int64_t batch, per_item;      /* latent shape [batch, per_item] (per_item = C*H*W) */
    const float *samples;         /* (batch, per_item) input latent */
    const int64_t *batch_index;   /* latent["batch_index"] or NULL */
    const float *noise_mask;      /* (batch, per_item) at latent resolution, or NULL */
} ks_latent;

/* Run the node: out receives batch*per_item floats. denoise is the denoiser (a
 * cfg_guider's cfg_denoise). Returns SMP_OK or an SMP_* error code. */
int ks_sample(const ks_params *p, const ks_latent *in, smp_model_fn denoise, void *denoise_ctx,
              smp_progress_fn progress, void *progress_ctx, float *out);

#endif
