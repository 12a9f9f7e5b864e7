/* test_cfg_ksampler.c -- the CFG guider and the KSampler driver.
 *
 * CFG: replaying ComfyUI's captured UNet eps (unet.safetensors) through the guider must
 * reproduce its UNet input, timestep, per-cond denoised and CFG result; cond and uncond
 * go out in one batch; cfg 1 skips the uncond half unless a CFG++ sampler asks for it.
 * KSampler: sigma slicing for KSamplerAdvanced, "nothing to do" cases returning the
 * latent, the full pipeline equal to its parts composed by hand, inpainting masks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/cfg.h"
#include "sampling/ksampler.h"
#include "sampling/rng.h"
#include "support/sampling_fixture.h"

#define PER 256   /* [1, 4, 8, 8] */

static float *fx(const char *name) {
    int64_t n = 0;
    float *v = fixture_f32("unet.safetensors", name, &n);
    assert_non_null(v);
    return v;
}

static void assert_close_rel(const float *got, const float *want, int64_t n, double rel, const char *what) {
    double scale = 0, err = 0;
    for (int64_t i = 0; i < n; i++) {
        scale = fmax(scale, fabs(want[i]));
        err = fmax(err, fabs((double)got[i] - want[i]));
    }
    if (err > rel * scale) print_error("%s: max error %g of scale %g\n", what, err, scale);
    assert_true(err <= rel * scale);
}

/* Replays the captured eps, checking what the guider feeds the "UNet". */
typedef struct replay {
    const float *eps_cond, *eps_uncond, *want_xc;
    float want_t;
    int calls, last_nbatch;
} replay;

static int replay_eps(void *ctx, const float *x_in, int nbatch, float t, float *out) {
    replay *r = ctx;
    r->calls++;
    r->last_nbatch = nbatch;
    assert_true(t == r->want_t);
    for (int b = 0; b < nbatch; b++) {
        assert_close_rel(x_in + b * PER, r->want_xc, PER, 1e-6, "unet input");
        memcpy(out + b * PER, b == 0 ? r->eps_cond : r->eps_uncond, PER * sizeof(float));
    }
    return 0;
}

static void test_cfg_against_comfyui(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    for (int s = 0; s < 3; s++) {
        char name[64];
#define F(field) (snprintf(name, sizeof name, "unet.s%d." field, s), fx(name))
        float *sigma = F("sigma"), *x = F("x"), *xc = F("unet_input_xc"), *t = F("unet_timestep");
        float *ec = F("eps_cond"), *eu = F("eps_uncond"), *dc = F("denoised_cond");
        float *du = F("denoised_uncond"), *dcfg = F("denoised_cfg");
#undef F
        replay r = {ec, eu, xc, t[0], 0, 0};
        cfg_guider g;
        assert_int_equal(cfg_init(&g, &ms, replay_eps, &r, 1, PER, 7.0), 0);
        float den[PER], unc[PER];
        assert_int_equal(cfg_denoise(&g, x, sigma[0], den, unc), 0);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.last_nbatch, 2);
        assert_close_rel(unc, du, PER, 1e-6, "uncond denoised");
        assert_close_rel(den, dcfg, PER, 1e-6, "cfg denoised");
        /* cfg 1: one batch of 1, result = cond; with a CFG++ caller, the batch of 2 again */
        g.cfg = 1.0;
        assert_int_equal(cfg_denoise(&g, x, sigma[0], den, NULL), 0);
        assert_int_equal(r.last_nbatch, 1);
        assert_close_rel(den, dc, PER, 1e-6, "cond denoised");
        assert_int_equal(cfg_denoise(&g, x, sigma[0], den, unc), 0);
        assert_int_equal(r.last_nbatch, 2);
        assert_close_rel(unc, du, PER, 1e-6, "uncond denoised at cfg 1");
        cfg_free(&g);
        free(sigma); free(x); free(xc); free(t); free(ec); free(eu); free(dc); free(du); free(dcfg);
    }
}

static void test_advanced_sigmas(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    ks_params p = {.ms = &ms, .sampler = smp_lookup("euler"), .scheduler = SCHED_NORMAL, .steps = 10};
    ks_params_default(&p);
    int n_full, n;
    float *full = ks_sigmas(&p, &n_full);
    assert_int_equal(n_full, 11);
    /* steps 3..7 of 10, finishing at 0 ... */
    p.start_at_step = 3;
    p.end_at_step = 7;
    float *s = ks_sigmas(&p, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(s, full + 3, 4 * sizeof(float));
    assert_true(s[4] == 0.0f);
    free(s);
    /* ... or keeping the leftover noise */
    p.leftover_noise = 1;
    s = ks_sigmas(&p, &n);
    assert_memory_equal(s, full + 3, 5 * sizeof(float));
    free(s);
    /* start at or past the end: nothing to do */
    p.start_at_step = 7;
    s = ks_sigmas(&p, &n);
    assert_int_equal(n, 0);
    free(s);
    p.start_at_step = 0;
    p.end_at_step = 0;
    s = ks_sigmas(&p, &n);
    assert_int_equal(n, 0);
    free(s);
    free(full);
}

/* Denoiser of Gaussian data (see test_samplers.c) for the pipeline tests. */
static int gauss_model(void *ctx, const float *x, float sigma, float *den, float *unc) {
    (void)ctx; (void)unc;
    float k = 0.64f / (0.64f + sigma * sigma);
    for (int i = 0; i < PER; i++) den[i] = 0.5f + k * (x[i] - 0.5f);
    return 0;
}

/* ks_sample = prepare_noise, latent in, noise scaling, sampler, latent out. */
static void test_pipeline_composes(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    float latent[PER], out[PER], noise[PER], x[PER];
    for (int i = 0; i < PER; i++) latent[i] = 0.01f * (float)(i % 17) - 0.08f;
    for (int variant = 0; variant < 2; variant++) {
        ks_params p = {.ms = &ms, .sampler = smp_lookup("dpmpp_2m"), .scheduler = SCHED_KARRAS,
                       .steps = 6, .seed = 42};
        ks_params_default(&p);
        p.denoise = variant ? 0.6 : 1.0;
        ks_latent in = {1, PER, latent, NULL, NULL};
        assert_int_equal(ks_sample(&p, &in, gauss_model, NULL, NULL, NULL, out), SMP_OK);
        int n;
        float *s = ks_sigmas(&p, &n);
        assert_int_equal(rng_prepare_noise(42, 1, PER, NULL, noise), 0);
        /* full denoise starts at sqrt(1 + sigma0^2) * noise, partial at sigma0 * noise */
        float scale = variant ? s[0] : sqrtf(1.0f + s[0] * s[0]);
        for (int i = 0; i < PER; i++) x[i] = noise[i] * scale + latent[i] * 0.18215f;
        smp_ctx c = {.model = gauss_model, .n = PER, .seed = 42};
        assert_int_equal(smp_run(p.sampler, &c, x, s, n), SMP_OK);
        for (int i = 0; i < PER; i++) assert_true(out[i] == x[i] / 0.18215f);
        free(s);
    }
}

static void test_nothing_to_do_and_errors(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    float latent[PER], out[PER];
    for (int i = 0; i < PER; i++) latent[i] = (float)i;
    ks_params p = {.ms = &ms, .sampler = smp_lookup("euler"), .scheduler = SCHED_NORMAL, .steps = 5};
    ks_params_default(&p);
    ks_latent in = {1, PER, latent, NULL, NULL};
    p.denoise = 0.0;
    assert_int_equal(ks_sample(&p, &in, gauss_model, NULL, NULL, NULL, out), SMP_OK);
    assert_memory_equal(out, latent, sizeof latent);
    p.denoise = 1.0;
    p.start_at_step = 5;
    assert_int_equal(ks_sample(&p, &in, gauss_model, NULL, NULL, NULL, out), SMP_OK);
    assert_memory_equal(out, latent, sizeof latent);
    const smp_sampler missing = {"not_implemented", NULL, 0, 0, 0};
    p.sampler = &missing;
    assert_int_equal(ks_sample(&p, &in, gauss_model, NULL, NULL, NULL, out), SMP_ERR_UNSUPPORTED);
    in.batch = 0;
    p.sampler = smp_lookup("euler");
    assert_int_equal(ks_sample(&p, &in, gauss_model, NULL, NULL, NULL, out), SMP_ERR_ARG);
}

/* Mask 1 everywhere = no mask; mask 0 everywhere = the latent comes back. */
static void test_inpaint_masks(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    float latent[PER], ones[PER], zeros[PER], a[PER], b[PER];
    for (int i = 0; i < PER; i++) { latent[i] = 0.3f * sinf((float)i); ones[i] = 1.0f; zeros[i] = 0.0f; }
    const char *names[] = {"euler", "ddim"};
    for (int k = 0; k < 2; k++) {
        ks_params p = {.ms = &ms, .sampler = smp_lookup(names[k]), .scheduler = SCHED_NORMAL,
                       .steps = 8, .seed = 5};
        ks_params_default(&p);
        ks_latent plain = {1, PER, latent, NULL, NULL}, full = {1, PER, latent, NULL, ones};
        ks_latent none = {1, PER, latent, NULL, zeros};
        assert_int_equal(ks_sample(&p, &plain, gauss_model, NULL, NULL, NULL, a), SMP_OK);
        assert_int_equal(ks_sample(&p, &full, gauss_model, NULL, NULL, NULL, b), SMP_OK);
        assert_memory_equal(a, b, sizeof a);
        assert_int_equal(ks_sample(&p, &none, gauss_model, NULL, NULL, NULL, b), SMP_OK);
        for (int i = 0; i < PER; i++) assert_true(fabsf(b[i] - latent[i]) < 1e-4f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cfg_against_comfyui),
        cmocka_unit_test(test_advanced_sigmas),
        cmocka_unit_test(test_pipeline_composes),
        cmocka_unit_test(test_nothing_to_do_and_errors),
        cmocka_unit_test(test_inpaint_masks),
    };
    return cmocka_run_group_tests_name("cfg_ksampler", tests, NULL, NULL);
}
