/* sampler.c -- the sampler table, and the plumbing every sampler shares.
 *
 * The table is ComfyUI's KSampler list, in its order. The exp_heun_2_x0 pair is newer
 * than the ComfyUI commit the fixtures come from; it follows upstream's later seeds_2. `_gpu` variants only differ in
 * ComfyUI by building the Brownian tree on the model's device; on the CPU (what we
 * reproduce) that is the same tree, so they map to the same function. ddim is euler
 * in ComfyUI except for inpainting: its masked re-noise comes from seed + 1.
 */
#include "sampling/sampler_impl.h"

#include <math.h>
#include <string.h>

const smp_sampler smp_samplers[] = {
    {"euler", smp_euler, 0, 0, 0},
    {"euler_cfg_pp", smp_euler_cfg_pp, 0, 1, 0},
    {"euler_ancestral", smp_euler_ancestral, 0, 0, 0},
    {"euler_ancestral_cfg_pp", smp_euler_ancestral_cfg_pp, 0, 1, 0},
    {"heun", smp_heun, 0, 0, 0},
    {"heunpp2", smp_heunpp2, 0, 0, 0},
    {"exp_heun_2_x0", smp_exp_heun_2_x0, 0, 0, 0},
    {"exp_heun_2_x0_sde", smp_exp_heun_2_x0_sde, 0, 0, 0},
    {"dpm_2", smp_dpm_2, 1, 0, 0},
    {"dpm_2_ancestral", smp_dpm_2_ancestral, 1, 0, 0},
    {"lms", smp_lms, 0, 0, 0},
    {"dpm_fast", smp_dpm_fast, 0, 0, 0},
    {"dpm_adaptive", smp_dpm_adaptive, 0, 0, 0},
    {"dpmpp_2s_ancestral", smp_dpmpp_2s_ancestral, 0, 0, 0},
    {"dpmpp_2s_ancestral_cfg_pp", smp_dpmpp_2s_ancestral_cfg_pp, 0, 1, 0},
    {"dpmpp_sde", smp_dpmpp_sde, 0, 0, 0},
    {"dpmpp_sde_gpu", smp_dpmpp_sde, 0, 0, 0},
    {"dpmpp_2m", smp_dpmpp_2m, 0, 0, 0},
    {"dpmpp_2m_cfg_pp", smp_dpmpp_2m_cfg_pp, 0, 1, 0},
    {"dpmpp_2m_sde", smp_dpmpp_2m_sde, 0, 0, 0},
    {"dpmpp_2m_sde_gpu", smp_dpmpp_2m_sde, 0, 0, 0},
    {"dpmpp_2m_sde_heun", smp_dpmpp_2m_sde_heun, 0, 0, 0},
    {"dpmpp_2m_sde_heun_gpu", smp_dpmpp_2m_sde_heun, 0, 0, 0},
    {"dpmpp_3m_sde", smp_dpmpp_3m_sde, 0, 0, 0},
    {"dpmpp_3m_sde_gpu", smp_dpmpp_3m_sde, 0, 0, 0},
    {"ddpm", smp_ddpm, 0, 0, 0},
    {"lcm", smp_lcm, 0, 0, 0},
    {"ipndm", smp_ipndm, 0, 0, 0},
    {"ipndm_v", smp_ipndm_v, 0, 0, 0},
    {"deis", smp_deis, 0, 0, 0},
    {"res_multistep", smp_res_multistep, 0, 0, 0},
    {"res_multistep_cfg_pp", smp_res_multistep_cfg_pp, 0, 1, 0},
    {"res_multistep_ancestral", smp_res_multistep_ancestral, 0, 0, 0},
    {"res_multistep_ancestral_cfg_pp", smp_res_multistep_ancestral_cfg_pp, 0, 1, 0},
    {"gradient_estimation", smp_gradient_estimation, 0, 0, 0},
    {"gradient_estimation_cfg_pp", smp_gradient_estimation_cfg_pp, 0, 1, 0},
    {"er_sde", smp_er_sde, 0, 0, 0},
    {"seeds_2", smp_seeds_2, 0, 0, 0},
    {"seeds_3", smp_seeds_3, 0, 0, 0},
    {"sa_solver", smp_sa_solver, 0, 0, 0},
    {"sa_solver_pece", smp_sa_solver_pece, 0, 0, 0},
    {"ddim", smp_euler, 0, 0, 1},
    {"uni_pc", smp_uni_pc, 1, 0, 0},
    {"uni_pc_bh2", smp_uni_pc_bh2, 1, 0, 0},
};
const int smp_sampler_count = (int)(sizeof smp_samplers / sizeof smp_samplers[0]);

const smp_sampler *smp_lookup(const char *name) {
    for (int i = 0; i < smp_sampler_count; i++)
        if (!strcmp(smp_samplers[i].name, name)) return &smp_samplers[i];
    return NULL;
}

const char *smp_strerror(int code) {
    switch (code) {
    case SMP_OK: return "ok";
    case SMP_ERR_MODEL: return "model evaluation failed";
    case SMP_INTERRUPTED: return "interrupted";
    case SMP_ERR_NOMEM: return "out of memory";
    case SMP_ERR_UNSUPPORTED: return "sampler not supported yet";
    case SMP_ERR_ARG: return "invalid sampler arguments";
    }
    return "unknown sampler error";
}

int smp_run(const smp_sampler *s, const smp_ctx *c, float *x, const float *sigmas, int nsig) {
    if (!s) return SMP_ERR_ARG;
    if (!s->fn) return SMP_ERR_UNSUPPORTED;
    if (!c || !c->model || c->n <= 0 || nsig < 0 || (nsig > 0 && !sigmas)) return SMP_ERR_ARG;
    if (nsig <= 1) return SMP_OK;
    return s->fn(c, x, sigmas, nsig);
}

int smp_alloc(const smp_ctx *c, int k, float **bufs) {
    float *block = malloc((size_t)k * (size_t)c->n * sizeof(float));
    if (!block) return SMP_ERR_NOMEM;
    for (int i = 0; i < k; i++) bufs[i] = block + (size_t)i * (size_t)c->n;
    return SMP_OK;
}

void smp_free(float **bufs) {
    free(bufs[0]);
    bufs[0] = NULL;
}

int smp_denoise(const smp_ctx *c, const float *x, float sigma, float *denoised, float *uncond) {
    return c->model(c->model_ctx, x, sigma, denoised, uncond) ? SMP_ERR_MODEL : SMP_OK;
}

int smp_step(const smp_ctx *c, int step, int total, const float *x, const float *denoised) {
    if (c->progress && c->progress(c->progress_ctx, step, total, x, denoised)) return SMP_INTERRUPTED;
    return SMP_OK;
}

void smp_noise_init(smp_noise *ns, uint64_t seed) { rng_seed(&ns->r, seed); }

void smp_noise_draw(smp_noise *ns, float *out, int64_t n) { rng_randn(&ns->r, out, n); }

void smp_ancestral_step(float sigma_from, float sigma_to, float eta, float *down, float *up) {
    if (eta == 0.0f) {
        *down = sigma_to;
        *up = 0.0f;
        return;
    }
    float st2 = sigma_to * sigma_to, sf2 = sigma_from * sigma_from;
    float u = eta * sqrtf(st2 * (sf2 - st2) / sf2);
    *up = u < sigma_to ? u : sigma_to;
    *down = sqrtf(st2 - *up * *up);
}

void smp_solve(int n, double a[SMP_SOLVE_MAX][SMP_SOLVE_MAX], double *b, double *z) {
    for (int col = 0; col < n; col++) {
        int piv = col;
        for (int r = col + 1; r < n; r++)
            if (fabs(a[r][col]) > fabs(a[piv][col])) piv = r;
        for (int k = 0; k < n; k++) { double t = a[col][k]; a[col][k] = a[piv][k]; a[piv][k] = t; }
        double t = b[col]; b[col] = b[piv]; b[piv] = t;
        for (int r = col + 1; r < n; r++) {
            double f = a[r][col] / a[col][col];
            for (int k = col; k < n; k++) a[r][k] -= f * a[col][k];
            b[r] -= f * b[col];
        }
    }
    for (int r = n - 1; r >= 0; r--) {
        double acc = b[r];
        for (int k = r + 1; k < n; k++) acc -= a[r][k] * z[k];
        z[r] = acc / a[r][r];
    }
}
