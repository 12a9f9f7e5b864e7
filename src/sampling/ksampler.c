/* ksampler.c -- common_ksampler + KSampler.sample + CFGGuider.sample + KSAMPLER.sample.
 *
 * The order of operations is ComfyUI's: noise is generated for the raw latent shape
 * before anything else; the latent is scaled into model space only when it is not all
 * zeros (the result is the same either way); the sampler output is scaled back. When
 * the step range leaves nothing to do, the input latent is returned unchanged.
 * Inpainting (noise_mask): at every model call the kept region of x is replaced by
 * latent + noise * sigma and the kept region of the output by the latent; ddim draws
 * that noise from a generator seeded with seed + 1 (ComfyUI's "random" inpaint option).
 */
#include "sampling/ksampler.h"

#include <stdlib.h>
#include <string.h>

#include "sampling/rng.h"

void ks_params_default(ks_params *p) {
    p->denoise = 1.0;
    p->add_noise = 1;
    p->start_at_step = -1;
    p->end_at_step = -1;
    p->leftover_noise = 0;
}

float *ks_sigmas(const ks_params *p, int *count) {
    float *s = sched_ksampler_sigmas(p->scheduler, p->ms, p->steps, p->denoise,
                                     p->sampler->discard_penultimate, count);
    if (!s) return NULL;
    if (p->end_at_step >= 0 && p->end_at_step < *count - 1) {
        *count = p->end_at_step + 1;
        if (!p->leftover_noise) s[*count - 1] = 0.0f;
    }
    if (p->start_at_step >= 0) {
        if (p->start_at_step < *count - 1) {
            memmove(s, s + p->start_at_step, (size_t)(*count - p->start_at_step) * sizeof *s);
            *count -= p->start_at_step;
        } else {
            *count = 0;   /* ComfyUI returns the latent unchanged */
        }
    }
    return s;
}

/* KSamplerX0Inpaint: the denoiser seen by the sampler when a noise mask is set. */
typedef struct ks_inpaint {
    smp_model_fn inner;
    void *inner_ctx;
    int64_t n;
    const float *mask, *latent, *noise;
    float *x;   /* (n) scratch */
} ks_inpaint;

static int ks_inpaint_model(void *ctx, const float *x, float sigma, float *den, float *unc) {
    ks_inpaint *ip = ctx;
    for (int64_t i = 0; i < ip->n; i++) {
        float m = ip->mask[i], keep = 1.0f - m;
        ip->x[i] = x[i] * m + (ip->noise[i] * sigma + ip->latent[i]) * keep;
    }
    if (ip->inner(ip->inner_ctx, ip->x, sigma, den, unc)) return -1;
    for (int64_t i = 0; i < ip->n; i++) {
        float m = ip->mask[i];
        den[i] = den[i] * m + ip->latent[i] * (1.0f - m);
    }
    return 0;
}

static int all_zero(const float *v, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (v[i] != 0.0f) return 0;
    return 1;
}

int ks_sample(const ks_params *p, const ks_latent *in, smp_model_fn denoise, void *denoise_ctx,
              smp_progress_fn progress, void *progress_ctx, float *out) {
    if (!p->sampler || !p->ms || in->batch <= 0 || in->per_item <= 0 ||
        in->per_item > INT64_MAX / 4 / in->batch)
        return SMP_ERR_ARG;
    if (!p->sampler->fn) return SMP_ERR_UNSUPPORTED;
    const int64_t n = in->batch * in->per_item;
    memcpy(out, in->samples, (size_t)n * sizeof *out);
    int count = 0, rc = SMP_OK;
    float *sigmas = ks_sigmas(p, &count);
    float *buf = malloc((size_t)n * 4 * sizeof *buf);
    if (!sigmas || !buf) {
        rc = sigmas ? SMP_ERR_NOMEM : SMP_ERR_ARG;
        goto done;
    }
    if (count == 0) goto done;   /* nothing to sample: the latent comes back as it was */
    float *noise = buf, *latent = buf + n, *x = buf + 2 * n, *scratch = buf + 3 * n;
    if (p->add_noise) {
        if (rng_prepare_noise(p->seed, in->batch, in->per_item, in->batch_index, noise)) {
            rc = SMP_ERR_ARG;
            goto done;
        }
    } else {
        memset(noise, 0, (size_t)n * sizeof *noise);
    }
    if (all_zero(in->samples, n)) memcpy(latent, in->samples, (size_t)n * sizeof *latent);
    else ms_latent_in(p->ms, in->samples, latent, n);
    ms_noise_scaling(p->ms, sigmas[0], noise, latent, x, n);

    smp_ctx c = {.model = denoise, .model_ctx = denoise_ctx, .progress = progress,
                 .progress_ctx = progress_ctx, .n = n, .seed = p->seed, .ms = p->ms};
    ks_inpaint ip = {denoise, denoise_ctx, n, in->noise_mask, latent, noise, scratch};
    if (in->noise_mask) {
        if (p->sampler->inpaint_fresh_noise) {   /* x already holds the initial noise */
            rng r;
            rng_seed(&r, p->seed + 1);
            rng_randn(&r, noise, n);
        }
        c.model = ks_inpaint_model;
        c.model_ctx = &ip;
    }
    rc = smp_run(p->sampler, &c, x, sigmas, count);
    if (rc == SMP_OK) ms_latent_out(p->ms, x, out, n);
done:
    free(sigmas);
    free(buf);
    return rc;
}
