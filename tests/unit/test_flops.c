/* test_flops.c -- the FLOP counter (tensor/flops.h) counts 2*MACs of what ran.
 *
 * One conv (grouped, strided), one linear layer, one batched matmul and one attention
 * call (primitives and fused), each checked against the closed-form count; memory-bound ops add nothing.
 * ipex-benchmark divides these counts by time, so a wrong count is a wrong GFLOPS.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backend/backend.h"
#include "tensor/flops.h"
#include "tensor/ops.h"

static int setup(void **state) {
    (void)state;
    backend_config cfg = {ACCEL_CPU, OPT_O1, PREC_FP32, 0, 0};
    char err[256];
    return backend_init(&cfg, err, sizeof err);
}

static tensor *t4(int64_t a, int64_t b, int64_t c, int64_t d) {
    return tensor_new(DT_F32, 4, (int64_t[]){a, b, c, d});
}

static void test_conv(void **state) {
    (void)state;
    tensor *x = t4(2, 6, 9, 7), *w = t4(4, 3, 3, 3);   /* 2 groups, stride 2, pad 1 */
    double f0 = flops_total();
    tensor *y = op_conv2d(x, w, NULL, 2, 1, 2, ACT_NONE, NULL);
    assert_non_null(y);
    assert_true(y->ne[2] == 5 && y->ne[3] == 4);
    assert_true(flops_total() - f0 == 2.0 * (2 * 4 * 5 * 4) * (3 * 3 * 3));
    tensor_free(x), tensor_free(w), tensor_free(y);
}

static void test_linear_matmul(void **state) {
    (void)state;
    tensor *x = tensor_new(DT_F32, 3, (int64_t[]){2, 5, 8}), *w = tensor_new(DT_F32, 2, (int64_t[]){3, 8});
    double f0 = flops_total();
    tensor *y = op_linear(x, w, NULL, ACT_SILU, NULL);
    assert_non_null(y);
    assert_true(flops_total() - f0 == 2.0 * 10 * 8 * 3);
    tensor *b = tensor_new(DT_F32, 3, (int64_t[]){1, 8, 6});
    f0 = flops_total();
    tensor *m = op_matmul(x, b, 0, 1.0f);   /* batch 1 broadcast against 2 */
    assert_non_null(m);
    assert_true(flops_total() - f0 == 2.0 * 2 * 5 * 6 * 8);
    f0 = flops_total();
    tensor *s = op_softmax(m);
    assert_non_null(s);
    assert_true(flops_total() == f0);
    tensor_free(x), tensor_free(w), tensor_free(y), tensor_free(b), tensor_free(m), tensor_free(s);
}

/* The same count from the primitive path (O1) and the fused kernel (O3). */
static void test_attention(void **state) {
    (void)state;
    tensor *q = tensor_new(DT_F32, 3, (int64_t[]){2, 7, 12}), *k = tensor_new(DT_F32, 3, (int64_t[]){2, 5, 12});
    for (opt_level opt = OPT_O1; opt <= OPT_O3; opt += 2) {
        backend_config cfg = {ACCEL_CPU, opt, PREC_FP32, 0, 0};
        char err[256];
        assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
        double f0 = flops_total();
        tensor *y = op_attention(q, k, k, 3, NULL);   /* B 2, H 3, D 4, Lq 7, Lk 5 */
        assert_non_null(y);
        assert_true(flops_total() - f0 == 4.0 * 2 * 3 * 7 * 5 * 4);
        tensor_free(y);
    }
    tensor_free(q), tensor_free(k);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv),
        cmocka_unit_test(test_linear_matmul),
        cmocka_unit_test(test_attention),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
