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

static int replay_eps(void *ctx, const float *x_in, int nbatch, const int *ids, int64_t h, int64_t w,
                      float t, float *out) {
    replay *r = ctx;
    r->calls++;
    r->last_nbatch = nbatch;
    assert_true(t == r->want_t);
    assert_true(h == 8 && w == 8);
    for (int b = 0; b < nbatch; b++) {
        assert_int_equal(ids[b], b);   /* positive first, then negative */
        assert_close_rel(x_in + b * PER, r->want_xc, PER, 1e-6, "unet input");
        memcpy(out + b * PER, ids[b] == 0 ? r->eps_cond : r->eps_uncond, PER * sizeof(float));
    }
    return 0;
}

static cfg_guider *plain_guider(const model_sampling *ms, cfg_eps_fn eps, void *ctx, double cfg) {
    const cfg_cond pos = cfg_cond_full(0), neg = cfg_cond_full(1);
    return cfg_new(ms, eps, ctx, &pos, 1, &neg, 1, 1, 4, 8, 8, cfg);
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
        cfg_guider *g = plain_guider(&ms, replay_eps, &r, 7.0);
        assert_non_null(g);
        float den[PER], unc[PER];
        assert_int_equal(cfg_denoise(g, x, sigma[0], den, unc), 0);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.last_nbatch, 2);
        assert_close_rel(unc, du, PER, 1e-6, "uncond denoised");
        assert_close_rel(den, dcfg, PER, 1e-6, "cfg denoised");
        /* cfg 1: one batch of 1, result = cond; with a CFG++ caller, the batch of 2 again */
        cfg_free(g);
        g = plain_guider(&ms, replay_eps, &r, 1.0);
        assert_int_equal(cfg_denoise(g, x, sigma[0], den, NULL), 0);
        assert_int_equal(r.last_nbatch, 1);
        assert_close_rel(den, dc, PER, 1e-6, "cond denoised");
        assert_int_equal(cfg_denoise(g, x, sigma[0], den, unc), 0);
        assert_int_equal(r.last_nbatch, 2);
        assert_close_rel(unc, du, PER, 1e-6, "uncond denoised at cfg 1");
        cfg_free(g);
        free(sigma); free(x); free(xc); free(t); free(ec); free(eu); free(dc); free(du); free(dcfg);
    }
}

/* A model whose eps is a constant per conditioning id, recording its calls. */
typedef struct const_eps {
    int calls, nbatch[4], ids[4][8];
    int64_t h[4], w[4];
} const_eps;

static float eps_of(int id) { return 0.25f * (float)(id + 1); }

static int const_eps_fn(void *ctx, const float *x_in, int nbatch, const int *ids, int64_t h, int64_t w,
                        float t, float *out) {
    const_eps *e = ctx;
    (void)x_in; (void)t;
    if (e->calls < 4) {
        e->nbatch[e->calls] = nbatch;
        e->h[e->calls] = h;
        e->w[e->calls] = w;
        for (int b = 0; b < nbatch && b < 8; b++) e->ids[e->calls][b] = ids[b];
    }
    e->calls++;
    for (int b = 0; b < nbatch; b++)
        for (int64_t i = 0; i < 4 * h * w; i++) out[b * 4 * h * w + i] = eps_of(ids[b]);
    return 0;
}

/* ConditioningCombine: two full-frame positives are averaged, all in one model call. */
static void test_cfg_combined_conds(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    const cfg_cond pos[2] = {cfg_cond_full(0), cfg_cond_full(2)}, neg = cfg_cond_full(1);
    const_eps e = {0};
    cfg_guider *g = cfg_new(&ms, const_eps_fn, &e, pos, 2, &neg, 1, 1, 4, 8, 8, 5.0);
    float x[PER], den[PER];
    for (int i = 0; i < PER; i++) x[i] = 0.1f * (float)(i % 7);
    const float sigma = 3.0f;
    assert_int_equal(cfg_denoise(g, x, sigma, den, NULL), 0);
    assert_int_equal(e.calls, 1);
    assert_int_equal(e.nbatch[0], 3);
    assert_int_equal(e.ids[0][0], 0);
    assert_int_equal(e.ids[0][1], 2);
    assert_int_equal(e.ids[0][2], 1);
    for (int i = 0; i < PER; i++) {
        float d0 = x[i] - eps_of(0) * sigma, d2 = x[i] - eps_of(2) * sigma, d1 = x[i] - eps_of(1) * sigma;
        float cond = ((0.0f + d2 * 1.0f) + d0 * 1.0f) / ((1e-37f + 1.0f) + 1.0f);
        float unc = (0.0f + d1 * 1.0f) / (1e-37f + 1.0f);
        assert_true(den[i] == unc + (cond - unc) * 5.0f);
    }
    cfg_free(g);
}

/* ConditioningSetArea: an 8x8 positive at (4, 4) of a 16x16 latent runs on its crop
 * (with a same-area copy of the negative), blends in with 8-cell feathering, and the
 * rest of the latent only sees the full-frame conditionings. */
static void test_cfg_area_cond(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    cfg_cond pos[2] = {cfg_cond_full(0), cfg_cond_full(2)}, neg = cfg_cond_full(1);
    pos[1].area[0] = 8; pos[1].area[1] = 8; pos[1].area[2] = 4; pos[1].area[3] = 4;
    pos[1].strength = 0.5f;
    const_eps e = {0};
    cfg_guider *g = cfg_new(&ms, const_eps_fn, &e, pos, 2, &neg, 1, 1, 4, 16, 16, 1.0);
    enum { L = 4 * 16 * 16 };
    float x[L], den[L], unc[L];
    for (int i = 0; i < L; i++) x[i] = 0.01f * (float)(i % 13);
    const float sigma = 2.0f;
    assert_int_equal(cfg_denoise(g, x, sigma, den, unc), 0);
    assert_int_equal(e.calls, 2);
    assert_true(e.h[0] == 16 && e.w[0] == 16 && e.nbatch[0] == 2);
    assert_int_equal(e.ids[0][0], 0);
    assert_int_equal(e.ids[0][1], 1);
    assert_true(e.h[1] == 8 && e.w[1] == 8 && e.nbatch[1] == 2);
    assert_int_equal(e.ids[1][0], 2);
    assert_int_equal(e.ids[1][1], 1);   /* the negative, restricted to the same area */
    for (int c = 0; c < 4; c++)
        for (int r = 0; r < 16; r++)
            for (int q = 0; q < 16; q++) {
                int i = (c * 16 + r) * 16 + q;
                float d0 = x[i] - eps_of(0) * sigma, d2 = x[i] - eps_of(2) * sigma, d1 = x[i] - eps_of(1) * sigma;
                float want = d0, want_unc = d1;
                if (r >= 4 && r < 12 && q >= 4 && q < 12) {
                    int a = r - 4, b = q - 4;   /* feathered on all four sides */
                    float m = 0.5f;
                    m *= (float)((1.0 / 8) * (a + 1));
                    m *= (float)((1.0 / 8) * (8 - a));
                    m *= (float)((1.0 / 8) * (b + 1));
                    m *= (float)((1.0 / 8) * (8 - b));
                    float mu = m;   /* the negative's copy keeps the positive's area and strength */
                    want = ((0.0f + d0) + d2 * m) / ((1e-37f + 1.0f) + m);
                    want_unc = ((0.0f + d1) + d1 * mu) / ((1e-37f + 1.0f) + mu);
                }
                assert_true(fabsf(den[i] - want) <= 1e-6f * fmaxf(1.0f, fabsf(want)));
                assert_true(fabsf(unc[i] - want_unc) <= 1e-6f * fmaxf(1.0f, fabsf(want_unc)));
            }
    cfg_free(g);
}

/* A conditioning limited to part of the schedule drops out outside it. */
static void test_cfg_timestep_range(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    cfg_cond pos[2] = {cfg_cond_full(0), cfg_cond_full(2)}, neg = cfg_cond_full(1);
    pos[1].start_percent = 0.5;   /* only from the middle of the schedule on */
    const_eps e = {0};
    cfg_guider *g = cfg_new(&ms, const_eps_fn, &e, pos, 2, &neg, 1, 1, 4, 8, 8, 1.0);
    float x[PER] = {0}, den[PER];
    assert_int_equal(cfg_denoise(g, x, 14.0f, den, NULL), 0);   /* early: only id 0 */
    assert_int_equal(e.nbatch[0], 1);
    assert_true(den[0] == -eps_of(0) * 14.0f);
    assert_int_equal(cfg_denoise(g, x, 0.5f, den, NULL), 0);    /* late: both */
    assert_int_equal(e.nbatch[1], 2);
    cfg_free(g);
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

/* The same for a batch of two items. */
static int gauss_model2(void *ctx, const float *x, float sigma, float *den, float *unc) {
    (void)ctx; (void)unc;
    float k = 0.64f / (0.64f + sigma * sigma);
    for (int i = 0; i < 2 * PER; i++) den[i] = 0.5f + k * (x[i] - 0.5f);
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

/* The KSamplerAdvanced two-pass workflow: steps 0..4 with leftover noise, then 4..10
 * without adding noise, equals one 10-step run (up to the latent scale round trip). */
static void test_advanced_two_passes(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    float zeros[PER] = {0}, half[PER], two[PER], one[PER];
    ks_params p = {.ms = &ms, .sampler = smp_lookup("euler"), .scheduler = SCHED_KARRAS,
                   .steps = 10, .seed = 77};
    ks_params_default(&p);
    ks_latent in = {1, PER, zeros, NULL, NULL};
    assert_int_equal(ks_sample(&p, &in, gauss_model, NULL, NULL, NULL, one), SMP_OK);
    p.start_at_step = 0;
    p.end_at_step = 4;
    p.leftover_noise = 1;
    assert_int_equal(ks_sample(&p, &in, gauss_model, NULL, NULL, NULL, half), SMP_OK);
    p.start_at_step = 4;
    p.end_at_step = 10000;
    p.leftover_noise = 0;
    p.add_noise = 0;
    ks_latent mid = {1, PER, half, NULL, NULL};
    assert_int_equal(ks_sample(&p, &mid, gauss_model, NULL, NULL, NULL, two), SMP_OK);
    for (int i = 0; i < PER; i++) assert_true(fabsf(two[i] - one[i]) <= 1e-5f * fmaxf(1.0f, fabsf(one[i])));
    /* and the first pass really stopped early: still noisy */
    double diff = 0;
    for (int i = 0; i < PER; i++) diff = fmax(diff, fabs(half[i] - one[i]));
    assert_true(diff > 1.0);
}

/* batch_index: each item's noise is the per-item draw its index names. */
static void test_batch_index_noise(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    float zeros[2 * PER] = {0}, out[2 * PER], single[PER];
    ks_params p = {.ms = &ms, .sampler = smp_lookup("euler"), .scheduler = SCHED_NORMAL,
                   .steps = 3, .seed = 9};
    ks_params_default(&p);
    const int64_t idx[2] = {1, 1};
    ks_latent two = {2, PER, zeros, idx, NULL}, one = {1, PER, zeros, NULL, NULL};
    assert_int_equal(ks_sample(&p, &two, gauss_model2, NULL, NULL, NULL, out), SMP_OK);
    assert_memory_equal(out, out + PER, PER * sizeof(float));   /* same index, same noise */
    assert_int_equal(ks_sample(&p, &one, gauss_model, NULL, NULL, NULL, single), SMP_OK);
    assert_memory_not_equal(out, single, PER * sizeof(float));  /* draw 1, not draw 0 */
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
        cmocka_unit_test(test_cfg_combined_conds),
        cmocka_unit_test(test_cfg_area_cond),
        cmocka_unit_test(test_cfg_timestep_range),
        cmocka_unit_test(test_advanced_sigmas),
        cmocka_unit_test(test_pipeline_composes),
        cmocka_unit_test(test_advanced_two_passes),
        cmocka_unit_test(test_batch_index_noise),
        cmocka_unit_test(test_nothing_to_do_and_errors),
        cmocka_unit_test(test_inpaint_masks),
    };
    return cmocka_run_group_tests_name("cfg_ksampler", tests, NULL, NULL);
}
