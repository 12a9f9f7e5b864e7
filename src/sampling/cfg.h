/* cfg.h -- classifier-free guidance: ComfyUI's sampling_function / calc_cond_batch.
 *
 * The guider is the denoiser samplers call (it implements smp_model_fn). Each side
 * (positive, negative) is a list of conditionings; the common case is one full-frame
 * conditioning per side, and then the model runs ONCE on a batch of 2B (positive items
 * first, then negative) -- or on B positive items when cfg is 1 and nobody needs the
 * negative prediction, as ComfyUI skips it. Each conditioning may cover only an area
 * of the latent (ConditioningSetArea: the model then runs on that crop, with feathered
 * 8-cell edges), carry a strength, and be limited to a range of the schedule; a side's
 * prediction is the strength-weighted average of its conditionings' denoised values.
 * The guider returns uncond + cfg * (cond - uncond).
 *
 * What a conditioning *is* (context tensors, pooled output, control) stays with the
 * caller: the guider only passes each item's conditioning id to the eps callback.
 */
#ifndef CI_SAMPLING_CFG_H
#define CI_SAMPLING_CFG_H

#include <stdint.h>

#include "sampling/model_sampling.h"

/* One conditioning entry of a side. */
typedef struct cfg_cond {
    int id;                     /* the caller's handle, passed back to the eps callback */
    int64_t area[4];            /* h, w, y, x in latent cells; h == 0 or w == 0: whole latent */
    float strength;             /* 1 by default (ConditioningSetArea's strength) */
    double start_percent;       /* active while start <= progress <= end (default 0, 1) */
    double end_percent;
} cfg_cond;

/* A full-frame conditioning with default strength and range. */
cfg_cond cfg_cond_full(int id);

/* Raw model output for nbatch items of x_in, each (C, h, w): item b uses conditioning
 * ids[b]. (h, w) is the latent size, or an area's crop. Returns 0, nonzero on failure. */
typedef int (*cfg_eps_fn)(void *ctx, const float *x_in, int nbatch, const int *ids, int64_t h,
                          int64_t w, float timestep, float *out);

typedef struct cfg_guider cfg_guider;

/* Positive and negative lists are copied (with ComfyUI's matching-area negatives and
 * positives added for every area conditioning). latent: batch x channels x h x w.
 * NULL when out of memory or the sizes are bad. */
cfg_guider *cfg_new(const model_sampling *ms, cfg_eps_fn eps, void *eps_ctx, const cfg_cond *pos,
                    int npos, const cfg_cond *neg, int nneg, int batch, int channels, int64_t h,
                    int64_t w, double cfg);
void cfg_free(cfg_guider *g);
/* smp_model_fn: ctx is the cfg_guider. uncond_denoised non-NULL forces the negative
 * side even at cfg 1 (ComfyUI's disable_cfg1_optimization for CFG++ samplers). */
int cfg_denoise(void *ctx, const float *x, float sigma, float *denoised, float *uncond_denoised);

#endif
