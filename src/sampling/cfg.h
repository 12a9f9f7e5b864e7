/* cfg.h -- classifier-free guidance around an eps-predicting model, one call per step.
 *
 * The guider is the denoiser samplers call (it implements smp_model_fn): it scales x
 * by c_in, converts sigma to the integer timestep, runs the model ONCE on a batch of
 * 2B (cond items first, then uncond) -- or B cond items when cfg is 1 and nobody needs
 * the uncond prediction, as ComfyUI skips it -- turns eps (or v) into denoised values
 * and returns uncond + cfg * (cond - uncond). Conditioning is the eps callback's
 * business: it knows which half of the batch is which.
 */
#ifndef CI_SAMPLING_CFG_H
#define CI_SAMPLING_CFG_H

#include <stdint.h>

#include "sampling/model_sampling.h"

/* Raw model output for x_in (nbatch items of per_item floats): items [0, B) take the
 * positive conditioning, [B, 2B) the negative one. Returns 0, nonzero on failure. */
typedef int (*cfg_eps_fn)(void *ctx, const float *x_in, int nbatch, float timestep, float *out);

typedef struct cfg_guider {
    const model_sampling *ms;
    cfg_eps_fn eps;
    void *eps_ctx;
    int batch;               /* B: items in the latent */
    int64_t per_item;        /* floats per item */
    double cfg;
    float *x_in, *out;       /* (2B, per_item) scratch each */
} cfg_guider;

/* 0, or -1 when out of memory / bad sizes. */
int cfg_init(cfg_guider *g, const model_sampling *ms, cfg_eps_fn eps, void *eps_ctx, int batch,
             int64_t per_item, double cfg);
void cfg_free(cfg_guider *g);
/* smp_model_fn: ctx is the cfg_guider. uncond_denoised non-NULL forces the uncond
 * half even at cfg 1 (ComfyUI's disable_cfg1_optimization for CFG++ samplers). */
int cfg_denoise(void *ctx, const float *x, float sigma, float *denoised, float *uncond_denoised);

#endif
