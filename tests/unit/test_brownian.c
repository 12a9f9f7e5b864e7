/* test_brownian.c -- SeedSequence and the Brownian tree against the spec's values.
 *
 * sd-numerics.md section 8.8 lists numpy SeedSequence states and two increments of a
 * torchsde BrownianTree(t0=0.0291675, t1=14.614642, shape [4], entropy 0), verified
 * against the real libraries. Also: increments add up over adjacent intervals, do not
 * depend on query order, and the sampler-facing noise has unit variance.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "sampling/brownian.h"

static void test_seed_sequence(void **state) {
    (void)state;
    uint32_t s[4];
    bt_seed_sequence(0, 0, 0, 0, 3, s);
    assert_int_equal(s[0], 4025752534u);
    assert_int_equal(s[1], 2687548107u);
    assert_int_equal(s[2], 2326983537u);
    bt_seed_sequence(0, 1, 0, 0, 4, s);
    assert_int_equal(s[0], 245430115u);
    assert_int_equal(s[1], 3436620678u);
    assert_int_equal(s[2], 4120055464u);
    assert_int_equal(s[3], 1627243804u);
    bt_seed_sequence(42, 0, 0, 0, 3, s);
    assert_int_equal(s[0], 387750627u);
    assert_int_equal(s[1], 2536650517u);
    assert_int_equal(s[2], 4078839648u);
}

static void assert_close(const float *got, const float *want, int n) {
    for (int i = 0; i < n; i++) {
        if (fabsf(got[i] - want[i]) > 1e-6f * fmaxf(1.0f, fabsf(want[i])))
            print_error("element %d: got %.9g want %.9g\n", i, got[i], want[i]);
        assert_true(fabsf(got[i] - want[i]) <= 1e-6f * fmaxf(1.0f, fabsf(want[i])));
    }
}

static void test_spec_increments(void **state) {
    (void)state;
    const float w_hi[4] = {-1.0189673f, 3.6350498f, -2.6077287f, -2.7947252f};
    const float w_lo[4] = {-0.6001421f, 0.0766085f, 0.8024992f, -1.3702096f};
    float w[4];
    /* both query orders give the same values: the tree depends on the points only */
    for (int order = 0; order < 2; order++) {
        bt_tree *t = bt_new(4, 0.0291675, 14.614642, 0);
        assert_non_null(t);
        if (order == 0) {
            assert_int_equal(bt_increment(t, 1.0, 14.614642, w), 0);
            assert_close(w, w_hi, 4);
            assert_int_equal(bt_increment(t, 0.0291675, 1.0, w), 0);
            assert_close(w, w_lo, 4);
        } else {
            assert_int_equal(bt_increment(t, 0.0291675, 1.0, w), 0);
            assert_close(w, w_lo, 4);
            assert_int_equal(bt_increment(t, 1.0, 14.614642, w), 0);
            assert_close(w, w_hi, 4);
        }
        bt_free(t);
    }
}

/* W(a,c) = W(a,b) + W(b,c), and noise() is -W / sqrt(interval) with unit variance. */
static void test_additivity_and_noise(void **state) {
    (void)state;
    enum { N = 4096 };
    float *ab = malloc(N * sizeof *ab), *bc = malloc(N * sizeof *bc), *ac = malloc(N * sizeof *ac);
    bt_tree *t = bt_new(N, 0.0291675, 14.614642, 123);
    assert_non_null(t);
    assert_int_equal(bt_increment(t, 0.5, 2.25, ab), 0);
    assert_int_equal(bt_increment(t, 2.25, 7.0, bc), 0);
    assert_int_equal(bt_increment(t, 0.5, 7.0, ac), 0);
    for (int i = 0; i < N; i++) assert_true(fabsf(ab[i] + bc[i] - ac[i]) < 1e-4f);
    assert_int_equal(bt_noise(t, 7.0f, 0.5f, ab), 0);
    double sum = 0, sq = 0;
    for (int i = 0; i < N; i++) {
        assert_true(fabsf(ab[i] - (-ac[i] / sqrtf(fabsf(0.5f - 7.0f)))) < 1e-5f);
        sum += ab[i];
        sq += (double)ab[i] * ab[i];
    }
    double mean = sum / N, var = sq / N - mean * mean;
    assert_true(fabs(mean) < 0.07);
    assert_true(fabs(var - 1.0) < 0.1);
    bt_free(t);
    free(ab); free(bc); free(ac);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_sequence),
        cmocka_unit_test(test_spec_increments),
        cmocka_unit_test(test_additivity_and_noise),
    };
    return cmocka_run_group_tests_name("brownian", tests, NULL, NULL);
}
