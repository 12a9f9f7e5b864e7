/* sampler_impl.h -- what the sampler files share (internal to src/sampling/).
 *
 * Scratch buffers, the model call and step hook with their error codes, ComfyUI's
 * default noise sampler, and the per-sampler entry points the table in sampler.c
 * points at. Samplers use `goto out` cleanup with an `rc` so a failing model call or
 * an interrupt unwinds without leaks.
 */
#ifndef CI_SAMPLING_SAMPLER_IMPL_H
#define CI_SAMPLING_SAMPLER_IMPL_H

#include <stdlib.h>

#include "sampling/rng.h"
#include "sampling/sampler.h"

#define SMP_TRY(expr) do { if ((rc = (expr)) != SMP_OK) goto out; } while (0)

/* k scratch arrays of c->n floats in one allocation (free bufs[0] ... via smp_free). */
int smp_alloc(const smp_ctx *c, int k, float **bufs);
void smp_free(float **bufs);

/* denoised = D(x, sigma); uncond may be NULL. */
int smp_denoise(const smp_ctx *c, const float *x, float sigma, float *denoised, float *uncond);
/* The per-step hook (progress, preview, interrupt). */
int smp_step(const smp_ctx *c, int step, int total, const float *x, const float *denoised);

/* ComfyUI's default_noise_sampler: a generator seeded once per run with the node seed,
 * each draw one randn over the whole latent. */
typedef struct smp_noise { rng r; } smp_noise;
void smp_noise_init(smp_noise *ns, uint64_t seed);
void smp_noise_draw(smp_noise *ns, float *out, int64_t n);

/* get_ancestral_step in f32: the sigma to step down to and the noise to add back. */
void smp_ancestral_step(float sigma_from, float sigma_to, float eta, float *down, float *up);

/* torch.lerp(a, b, w) on the CPU: from the start below weight 0.5, from the end above. */
static inline float smp_lerp(float a, float b, float w) {
    return w < 0.5f ? a + w * (b - a) : b - (b - a) * (1.0f - w);
}

/* Solve a z = b (n <= SMP_SOLVE_MAX, partial pivoting, in double): the small linear
 * systems of UniPC and SA-Solver, which torch solves with LAPACK in f32. a and b are
 * overwritten. */
#define SMP_SOLVE_MAX 4
void smp_solve(int n, double a[SMP_SOLVE_MAX][SMP_SOLVE_MAX], double *b, double *z);

/* The samplers (sampler names map to these in sampler.c). */
int smp_euler(const smp_ctx *c, float *x, const float *s, int n);
int smp_euler_ancestral(const smp_ctx *c, float *x, const float *s, int n);
int smp_heun(const smp_ctx *c, float *x, const float *s, int n);
int smp_heunpp2(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpm_2(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpm_2_ancestral(const smp_ctx *c, float *x, const float *s, int n);
int smp_lms(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpm_fast(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpm_adaptive(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_2s_ancestral(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_2s_ancestral_cfg_pp(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_2m(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_2m_cfg_pp(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_sde(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_2m_sde(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_2m_sde_heun(const smp_ctx *c, float *x, const float *s, int n);
int smp_dpmpp_3m_sde(const smp_ctx *c, float *x, const float *s, int n);
int smp_euler_cfg_pp(const smp_ctx *c, float *x, const float *s, int n);
int smp_euler_ancestral_cfg_pp(const smp_ctx *c, float *x, const float *s, int n);
int smp_ddpm(const smp_ctx *c, float *x, const float *s, int n);
int smp_lcm(const smp_ctx *c, float *x, const float *s, int n);
int smp_ipndm(const smp_ctx *c, float *x, const float *s, int n);
int smp_ipndm_v(const smp_ctx *c, float *x, const float *s, int n);
int smp_deis(const smp_ctx *c, float *x, const float *s, int n);
int smp_res_multistep(const smp_ctx *c, float *x, const float *s, int n);
int smp_res_multistep_cfg_pp(const smp_ctx *c, float *x, const float *s, int n);
int smp_res_multistep_ancestral(const smp_ctx *c, float *x, const float *s, int n);
int smp_res_multistep_ancestral_cfg_pp(const smp_ctx *c, float *x, const float *s, int n);
int smp_gradient_estimation(const smp_ctx *c, float *x, const float *s, int n);
int smp_gradient_estimation_cfg_pp(const smp_ctx *c, float *x, const float *s, int n);
int smp_er_sde(const smp_ctx *c, float *x, const float *s, int n);
int smp_seeds_2(const smp_ctx *c, float *x, const float *s, int n);
int smp_exp_heun_2_x0(const smp_ctx *c, float *x, const float *s, int n);
int smp_exp_heun_2_x0_sde(const smp_ctx *c, float *x, const float *s, int n);
int smp_seeds_3(const smp_ctx *c, float *x, const float *s, int n);
int smp_sa_solver(const smp_ctx *c, float *x, const float *s, int n);
int smp_sa_solver_pece(const smp_ctx *c, float *x, const float *s, int n);
int smp_uni_pc(const smp_ctx *c, float *x, const float *s, int n);
int smp_uni_pc_bh2(const smp_ctx *c, float *x, const float *s, int n);

#endif
