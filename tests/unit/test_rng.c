/* test_rng.c -- torch-compatible RNG against ComfyUI's own outputs, bit for bit.
 *
 * Every fixture of rng.safetensors: randn(n) for both kernels (n < 16 scalar double
 * path, n >= 16 vectorised path with its tail rule), generator state carried across
 * calls, and prepare_noise for every seed (0 and 2^64-1 included) and shape.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sampling/rng.h"
#include "support/sampling_fixture.h"

static const uint64_t SEEDS[] = {0, 1, 42, 123456789, 4294967301ull, 18446744073709551615ull};
static const int NS[] = {1, 2, 3, 4, 8, 15, 16, 17, 32, 100};

static void assert_bits(const float *want, const float *got, int64_t n, const char *what) {
    int64_t bad = 0;
    for (int64_t i = 0; i < n; i++) bad += memcmp(&want[i], &got[i], 4) != 0;
    if (bad) print_error("%s: %lld of %lld values differ\n", what, (long long)bad, (long long)n);
    assert_int_equal(bad, 0);
}

static void check_fixture(const char *name, const float *got, int64_t n) {
    int64_t numel = 0;
    float *want = fixture_f32("rng.safetensors", name, &numel);
    assert_non_null(want);
    assert_int_equal(numel, n);
    assert_bits(want, got, n, name);
    free(want);
}

static void test_mt19937_first_words(void **state) {
    (void)state;
    rng r;
    rng_seed(&r, 0);
    const uint32_t want[] = {2357136044u, 2546248239u, 3071714933u, 3626093760u};
    for (int i = 0; i < 4; i++) assert_int_equal(rng_u32(&r), want[i]);
}

static void test_randn_every_n(void **state) {
    (void)state;
    const uint64_t seeds[] = {0, 42};
    for (int s = 0; s < 2; s++)
        for (size_t k = 0; k < sizeof NS / sizeof NS[0]; k++) {
            char name[96];
            float got[100];
            rng r;
            rng_seed(&r, seeds[s]);
            rng_randn(&r, got, NS[k]);
            snprintf(name, sizeof name, "randn.seed%llu.n%d", (unsigned long long)seeds[s], NS[k]);
            check_fixture(name, got, NS[k]);
        }
}

static void test_randn_state_carries_over(void **state) {
    (void)state;
    const uint64_t seeds[] = {0, 42};
    for (int s = 0; s < 2; s++) {
        char name[96];
        float first[4], second[16];
        rng r;
        rng_seed(&r, seeds[s]);
        rng_randn(&r, first, 4);
        rng_randn(&r, second, 16);
        snprintf(name, sizeof name, "randn.seed%llu.seq_n4_then_n16.first", (unsigned long long)seeds[s]);
        check_fixture(name, first, 4);
        snprintf(name, sizeof name, "randn.seed%llu.seq_n4_then_n16.second", (unsigned long long)seeds[s]);
        check_fixture(name, second, 16);
    }
}

static void test_prepare_noise_every_seed(void **state) {
    (void)state;
    static const struct { int64_t batch, h, w; const char *tag; } shapes[] = {
        {1, 8, 8, "1x4x8x8"}, {2, 8, 8, "2x4x8x8"}, {1, 64, 64, "1x4x64x64"}};
    for (size_t s = 0; s < sizeof SEEDS / sizeof SEEDS[0]; s++)
        for (size_t k = 0; k < 3; k++) {
            int64_t per = 4 * shapes[k].h * shapes[k].w, n = shapes[k].batch * per;
            float *got = malloc((size_t)n * sizeof *got);
            char name[96];
            assert_int_equal(rng_prepare_noise(SEEDS[s], shapes[k].batch, per, NULL, got), 0);
            snprintf(name, sizeof name, "prepare_noise.seed%llu.%s", (unsigned long long)SEEDS[s],
                     shapes[k].tag);
            check_fixture(name, got, n);
            free(got);
        }
}

/* batch_index: item b takes draw batch_index[b] of a per-item sequence. */
static void test_prepare_noise_batch_index(void **state) {
    (void)state;
    const int64_t per = 256, idx[3] = {2, 0, 2};
    float got[3 * 256], seq[3][256];
    rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < 3; i++) rng_randn(&r, seq[i], per);
    assert_int_equal(rng_prepare_noise(42, 3, per, idx, got), 0);
    assert_bits(seq[2], got, per, "item 0");
    assert_bits(seq[0], got + per, per, "item 1");
    assert_bits(seq[2], got + 2 * per, per, "item 2");
    /* The first draw of a per-item sequence is the fixture for batch 1. */
    check_fixture("prepare_noise.seed42.1x4x8x8", seq[0], per);
    const int64_t neg[1] = {-1};
    assert_int_equal(rng_prepare_noise(42, 1, per, neg, got), -1);
}

static void test_deterministic_twice(void **state) {
    (void)state;
    float a[1000], b[1000];
    assert_int_equal(rng_prepare_noise(18446744073709551615ull, 1, 1000, NULL, a), 0);
    assert_int_equal(rng_prepare_noise(18446744073709551615ull, 1, 1000, NULL, b), 0);
    assert_bits(a, b, 1000, "second run");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mt19937_first_words),
        cmocka_unit_test(test_randn_every_n),
        cmocka_unit_test(test_randn_state_carries_over),
        cmocka_unit_test(test_prepare_noise_every_seed),
        cmocka_unit_test(test_prepare_noise_batch_index),
        cmocka_unit_test(test_deterministic_twice),
    };
    return cmocka_run_group_tests_name("rng", tests, NULL, NULL);
}
