/* sampler.h -- ComfyUI's KSampler samplers on plain float arrays.
 *
 * A sampler walks x from sigmas[0] down to sigmas[n-1] by calling a denoiser
 * D(x, sigma) -- the CFG'd x0 prediction of the whole batch -- and never sees a model,
 * a tensor or a conditioning: the node pack wires the UNet in through smp_model_fn.
 * Arithmetic follows comfy/k_diffusion/sampling.py operation by operation in f32, and
 * every random number comes from the generator ComfyUI uses on the CPU: the default
 * noise sampler (torch's mt19937 seeded with the node seed, one randn per draw) for
 * ancestral samplers, the Brownian tree for the SDE samplers.
 *
 * The table lists every name of ComfyUI's KSampler combo in its order, each with its
 * function (all are implemented today; an entry with fn == NULL would be refused with
 * SMP_ERR_UNSUPPORTED, so a validator can reject it by name).
 */
#ifndef CI_SAMPLING_SAMPLER_H
#define CI_SAMPLING_SAMPLER_H

#include <stdint.h>

#include "sampling/model_sampling.h"

enum {
    SMP_OK = 0,
    SMP_ERR_MODEL = -1,        /* the denoiser callback failed */
    SMP_INTERRUPTED = -2,      /* the progress callback asked to stop */
    SMP_ERR_NOMEM = -3,
    SMP_ERR_UNSUPPORTED = -4,  /* sampler name known but not implemented */
    SMP_ERR_ARG = -5,          /* bad sigmas / sizes */
};
const char *smp_strerror(int code);

/* D(x, sigma) for the whole batch x (n floats). When uncond_denoised is non-NULL the
 * callback must also write the unconditional prediction (cfg_pp samplers need it and
 * then expect it even at cfg 1). Returns 0, nonzero on failure. */
typedef int (*smp_model_fn)(void *ctx, const float *x, float sigma, float *denoised,
                            float *uncond_denoised);
/* Called once per sampler step with the step's x and denoised, as ComfyUI's KSampler
 * callback (previews, progress messages). Return nonzero to interrupt sampling. */
typedef int (*smp_progress_fn)(void *ctx, int step, int total, const float *x,
                               const float *denoised);

typedef struct smp_ctx {
    smp_model_fn model;
    void *model_ctx;
    smp_progress_fn progress;      /* may be NULL */
    void *progress_ctx;
    int64_t n;                     /* elements of x: batch * channels * h * w */
    uint64_t seed;                 /* the node seed: ancestral noise, Brownian tree */
    const model_sampling *ms;      /* the model's schedule (sa_solver's noise interval) */
} smp_ctx;

typedef int (*smp_sampler_fn)(const smp_ctx *c, float *x, const float *sigmas, int nsig);

typedef struct smp_sampler {
    const char *name;
    smp_sampler_fn fn;             /* NULL when not supported */
    int discard_penultimate;       /* KSampler builds steps+1 and drops sigma[-2] */
    int needs_uncond;              /* cfg_pp: the model must return uncond too */
    int inpaint_fresh_noise;       /* ddim: inpainting re-noise drawn from seed + 1 */
} smp_sampler;

extern const smp_sampler smp_samplers[];
extern const int smp_sampler_count;
/* The entry of a sampler name, or NULL if ComfyUI has no such sampler. */
const smp_sampler *smp_lookup(const char *name);

/* Run a sampler: x (n floats) in, the sampled latent out. nsig <= 1 leaves x as is.
 * Returns SMP_OK or an SMP_ERR_* / SMP_INTERRUPTED code. */
int smp_run(const smp_sampler *s, const smp_ctx *c, float *x, const float *sigmas, int nsig);

#endif
