/* test_schedulers.c -- the sigma table and all nine schedulers against ComfyUI.
 *
 * schedulers.json holds what comfy.samplers.KSampler(...).sigmas gave for every
 * scheduler x steps {1,4,10,20} x denoise {1, 0.6} x {ordinary, discard-penultimate}
 * sampler, plus the model's 1000-entry tables. Tables must match bit for bit; the
 * lists to 1e-6 relative (the spec allows an ulp where torch uses SLEEF vector math).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/model_sampling.h"
#include "sampling/schedulers.h"
#include "support/sampling_fixture.h"

static cJSON *load_fixture(void) {
    char *text = fixture_slurp("schedulers.json", NULL);
    assert_non_null(text);
    /* Python wrote kl_optimal's 1-step NaN as a bare NaN, which is not JSON. */
    for (char *p = text; (p = strstr(p, "NaN")); p += 3) memcpy(p, "\"N\"", 3);
    cJSON *root = cJSON_Parse(text);
    free(text);
    assert_non_null(root);
    return root;
}

static void test_sigma_table(void **state) {
    (void)state;
    cJSON *root = load_fixture();
    cJSON *msj = cJSON_GetObjectItem(root, "model_sampling");
    cJSON *sig = cJSON_GetObjectItem(msj, "sigmas_table_float32");
    cJSON *lsig = cJSON_GetObjectItem(msj, "log_sigmas_table_float32");
    assert_int_equal(cJSON_GetArraySize(sig), MS_TIMESTEPS);
    model_sampling ms;
    ms_init_sd15(&ms);
    int bad = 0;
    for (int i = 0; i < MS_TIMESTEPS; i++) {
        bad += ms.sigmas[i] != (float)cJSON_GetArrayItem(sig, i)->valuedouble;
        bad += ms.log_sigmas[i] != (float)cJSON_GetArrayItem(lsig, i)->valuedouble;
    }
    assert_int_equal(bad, 0);
    assert_true(ms.sigma_min == (float)cJSON_GetObjectItem(msj, "sigma_min")->valuedouble);
    assert_true(ms.sigma_max == (float)cJSON_GetObjectItem(msj, "sigma_max")->valuedouble);
    cJSON *ex;
    cJSON_ArrayForEach(ex, cJSON_GetObjectItem(msj, "timestep_of_sigma_examples")) {
        float sigma = (float)cJSON_GetArrayItem(ex, 0)->valuedouble;
        assert_true(ms_timestep(&ms, sigma) == (float)cJSON_GetArrayItem(ex, 1)->valuedouble);
    }
    cJSON_Delete(root);
}

static void test_every_scheduler_case(void **state) {
    (void)state;
    cJSON *root = load_fixture();
    model_sampling ms;
    ms_init_sd15(&ms);
    int cases = 0, failed = 0;
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases")) {
        const char *name = cJSON_GetObjectItem(c, "scheduler")->valuestring;
        int steps = cJSON_GetObjectItem(c, "steps")->valueint;
        double denoise = cJSON_GetObjectItem(c, "denoise")->valuedouble;
        int discard = cJSON_IsTrue(cJSON_GetObjectItem(c, "discard_penultimate"));
        cJSON *want = cJSON_GetObjectItem(c, "sigmas");
        int kind = sched_lookup(name), n = -1;
        assert_true(kind >= 0);
        float *got = sched_ksampler_sigmas(kind, &ms, steps, denoise, discard, &n);
        assert_non_null(got);
        int ok = n == cJSON_GetArraySize(want);
        for (int i = 0; ok && i < n; i++) {
            cJSON *wj = cJSON_GetArrayItem(want, i);
            double w = cJSON_IsString(wj) ? NAN : wj->valuedouble, g = got[i];
            if (isnan(w) ? !isnan(g) : fabs(g - w) > 1e-6 * fabs(w)) ok = 0;
        }
        if (!ok) {
            print_error("%s steps=%d denoise=%g discard=%d: got %d values:", name, steps, denoise,
                        discard, n);
            for (int i = 0; i < n; i++) print_error(" %.9g", got[i]);
            print_error("\n");
            failed++;
        }
        cases++;
        free(got);
    }
    cJSON_Delete(root);
    assert_int_equal(cases, 144);
    assert_int_equal(failed, 0);
}

static void test_names_and_bad_input(void **state) {
    (void)state;
    model_sampling ms;
    ms_init_sd15(&ms);
    assert_int_equal(sched_lookup("karras"), SCHED_KARRAS);
    assert_int_equal(sched_lookup("Karras"), -1);
    int n = 7;
    assert_null(sched_sigmas(SCHED_NORMAL, &ms, 0, &n));
    float *none = sched_ksampler_sigmas(SCHED_NORMAL, &ms, 20, 0.0, 0, &n);
    assert_non_null(none);
    assert_int_equal(n, 0);
    free(none);
    /* ddim_uniform at 30 steps gives 31 (1000 is not a multiple of 30). */
    float *d = sched_sigmas(SCHED_DDIM_UNIFORM, &ms, 30, &n);
    assert_int_equal(n, 32);
    free(d);
}

/* Symmetric Beta(0.6, 0.6): ppf(1-p) = 1 - ppf(p), and I(ppf(p)) round-trips. */
static void test_beta_ppf(void **state) {
    (void)state;
    assert_true(sched_beta_ppf(0.5, 0.6, 0.6) == 0.5);
    assert_true(sched_beta_ppf(1.0, 0.6, 0.6) == 1.0);
    assert_true(sched_beta_ppf(0.0, 0.6, 0.6) == 0.0);
    for (double p = 0.05; p < 1.0; p += 0.05)
        assert_true(fabs(sched_beta_ppf(p, 0.6, 0.6) + sched_beta_ppf(1.0 - p, 0.6, 0.6) - 1.0) < 1e-14);
    /* Beta(1,1) is uniform and Beta(2,1) has cdf x^2. */
    assert_true(fabs(sched_beta_ppf(0.3, 1.0, 1.0) - 0.3) < 1e-15);
    assert_true(fabs(sched_beta_ppf(0.25, 2.0, 1.0) - 0.5) < 1e-15);
}

/* The model wrapper's arithmetic, against the formulas in double. */
static void test_model_sampling_helpers(void **state) {
    (void)state;
    model_sampling eps, v;
    ms_init_sd15(&eps);
    ms_init_discrete(&v, MS_V, 0.00085, 0.012, MS_SD15_LATENT_SCALE);
    assert_memory_equal(eps.sigmas, v.sigmas, sizeof eps.sigmas);
    const float x[3] = {1.5f, -0.25f, 3.0f}, out[3] = {0.5f, 2.0f, -1.0f};
    float d[3], xin[3];
    const float sigma = 2.5f;
    ms_denoised(&eps, sigma, x, out, d, 3);
    for (int i = 0; i < 3; i++) assert_true(fabs(d[i] - (x[i] - out[i] * 2.5)) < 1e-6);
    ms_denoised(&v, sigma, x, out, d, 3);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(d[i] - (x[i] / 7.25 - out[i] * 2.5 / sqrt(7.25))) < 1e-6);
    ms_scale_input(sigma, x, xin, 3);
    for (int i = 0; i < 3; i++) assert_true(fabs(xin[i] - x[i] / sqrt(7.25)) < 1e-6);
    /* percent_to_sigma: the ends are special, the middle interpolates the table */
    assert_true(ms_percent_to_sigma(&eps, 0.0) == 999999999.9);
    assert_true(ms_percent_to_sigma(&eps, 1.0) == 0.0);
    assert_true(ms_percent_to_sigma(&eps, 0.5) == ms_sigma(&eps, 499.5f));
    assert_true(ms_sigma(&eps, 2000.0f) == ms_sigma(&eps, 999.0f) && ms_sigma(&eps, -3.0f) == ms_sigma(&eps, 0.0f));
    assert_true(fabsf(ms_sigma(&eps, 999.0f) - eps.sigma_max) < 1e-5f);   /* exp(log) round trip */
    /* every table sigma maps back to its own index */
    for (int t = 0; t < MS_TIMESTEPS; t++) assert_true(ms_timestep(&eps, eps.sigmas[t]) == (float)t);
    float lat[2] = {1.0f, -2.0f}, back[2];
    ms_latent_in(&eps, lat, back, 2);
    assert_true(back[0] == 0.18215f && back[1] == -2.0f * 0.18215f);
    ms_latent_out(&eps, back, back, 2);
    assert_true(fabsf(back[0] - 1.0f) < 1e-6f && fabsf(back[1] + 2.0f) < 1e-6f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sigma_table),
        cmocka_unit_test(test_every_scheduler_case),
        cmocka_unit_test(test_names_and_bad_input),
        cmocka_unit_test(test_beta_ppf),
        cmocka_unit_test(test_model_sampling_helpers),
    };
    return cmocka_run_group_tests_name("schedulers", tests, NULL, NULL);
}
