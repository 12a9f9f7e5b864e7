/* schedulers.h -- ComfyUI's nine KSampler schedulers: step count -> sigma list.
 *
 * Each returns the descending noise levels a sampler walks through, normally
 * steps+1 values ending in 0 (ddim_uniform and beta may give a different count, as
 * ComfyUI's do). Values are what torch computes on the CPU in float32, with the
 * torch.linspace point formula reproduced exactly.
 */
#ifndef CI_SAMPLING_SCHEDULERS_H
#define CI_SAMPLING_SCHEDULERS_H

#include "sampling/model_sampling.h"

typedef enum {
    SCHED_SIMPLE, SCHED_SGM_UNIFORM, SCHED_KARRAS, SCHED_EXPONENTIAL, SCHED_DDIM_UNIFORM,
    SCHED_BETA, SCHED_NORMAL, SCHED_LINEAR_QUADRATIC, SCHED_KL_OPTIMAL,
    SCHED_COUNT
} sched_kind;

/* Names in ComfyUI's order (the KSampler combo lists them this way). */
extern const char *const sched_names[SCHED_COUNT];
/* Index of a scheduler name, or -1. */
int sched_lookup(const char *name);

/* Heap array of the sigmas for `steps` >= 1 steps; *count receives its length.
 * NULL on bad arguments or out of memory. */
float *sched_sigmas(sched_kind kind, const model_sampling *ms, int steps, int *count);

/* KSampler's list: the schedule for `steps` (or, for denoise < 1, the last steps+1
 * sigmas of the schedule for int(steps/denoise) steps), built one step longer with
 * the penultimate sigma deleted when discard_penultimate (dpm_2, dpm_2_ancestral,
 * uni_pc, uni_pc_bh2). denoise <= 0 gives an empty list (*count 0, non-NULL). */
float *sched_ksampler_sigmas(sched_kind kind, const model_sampling *ms, int steps,
                             double denoise, int discard_penultimate, int *count);

/* torch.linspace(a, b, n) in f32 / f64 (PyTorch >= 2 CPU formula). */
void sched_linspace_f32(float a, float b, int n, float *out);
void sched_linspace_f64(double a, double b, int n, double *out);

/* Inverse of the regularized incomplete beta function I_x(a, b) = p (scipy's
 * betaincinv / beta.ppf), for a, b > 0 and p in [0, 1]. */
double sched_beta_ppf(double p, double a, double b);

#endif
