/* cfg.c -- CFGGuider + sampling_function + BaseModel.apply_model, for one full-frame
 * positive and one negative conditioning.
 *
 * With a single full-frame cond per side, ComfyUI's area/mask weighting divides by a
 * count of 1 (+1e-37, lost in f32), so the combination below is exact. At cfg == 1
 * (math.isclose) the uncond batch is not run and its prediction counts as zeros,
 * which makes the result cond * cfg, i.e. cond.
 */
#include "sampling/cfg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cfg_init(cfg_guider *g, const model_sampling *ms, cfg_eps_fn eps, void *eps_ctx, int batch,
             int64_t per_item, double cfg) {
    memset(g, 0, sizeof *g);
    if (batch <= 0 || per_item <= 0 || (uint64_t)per_item > SIZE_MAX / 8 / sizeof(float) / (unsigned)batch)
        return -1;
    size_t n = (size_t)2 * (size_t)batch * (size_t)per_item;
    g->x_in = malloc(n * sizeof(float));
    g->out = malloc(n * sizeof(float));
    if (!g->x_in || !g->out) {
        cfg_free(g);
        return -1;
    }
    g->ms = ms;
    g->eps = eps;
    g->eps_ctx = eps_ctx;
    g->batch = batch;
    g->per_item = per_item;
    g->cfg = cfg;
    return 0;
}

void cfg_free(cfg_guider *g) {
    free(g->x_in);
    free(g->out);
    g->x_in = g->out = NULL;
}

/* Python's math.isclose(a, b) with its default rel_tol 1e-9. */
static int isclose(double a, double b) { return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b)); }

int cfg_denoise(void *ctx, const float *x, float sigma, float *denoised, float *uncond_denoised) {
    cfg_guider *g = ctx;
    int64_t n = (int64_t)g->batch * g->per_item;
    int with_uncond = uncond_denoised || !isclose(g->cfg, 1.0);
    ms_scale_input(sigma, x, g->x_in, n);
    if (with_uncond) memcpy(g->x_in + n, g->x_in, (size_t)n * sizeof(float));
    if (g->eps(g->eps_ctx, g->x_in, with_uncond ? 2 * g->batch : g->batch, ms_timestep(g->ms, sigma), g->out))
        return -1;
    float *cond = g->out, *uncond = g->out + n;
    ms_denoised(g->ms, sigma, x, cond, cond, n);
    const float scale = (float)g->cfg;
    if (!with_uncond) {
        for (int64_t i = 0; i < n; i++) denoised[i] = (cond[i] - 0.0f) * scale + 0.0f;
        return 0;
    }
    ms_denoised(g->ms, sigma, x, uncond, uncond, n);
    for (int64_t i = 0; i < n; i++) denoised[i] = uncond[i] + (cond[i] - uncond[i]) * scale;
    if (uncond_denoised) memcpy(uncond_denoised, uncond, (size_t)n * sizeof(float));
    return 0;
}
