/* test_precision.c -- bf16 / fp16 compute against the double reference, with bounds.
 *
 * bf16 keeps 8 significant bits (relative step 2^-8 = 3.9e-3); products accumulate in
 * f32, so the error of a dot product is a few rounding steps of its inputs: the bound
 * is 1e-2 of the largest reference magnitude. fp16 (11 bits) gets 4e-3. A precision
 * this oneDNN cannot run on this CPU falls back to the nearest one (logged); the test
 * then checks the fallback's bound and that the output carries the fallback dtype.
 * int8 (conv and linear; s8 activations per tensor, s8 weights per channel) gets 3e-2,
 * and must differ from fp32 by more than 1e-5, which shows the int8 path ran.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "backend/engine.h"
#include "support/tensor_ref.h"
#include "tensor/ops.h"

static double bound_for(dtype dt) { return dt == DT_BF16 ? 1e-2 : dt == DT_F16 ? 4e-3 : 1e-5; }

static dtype use_precision(precision p, opt_level opt) {
    backend_config cfg = {ACCEL_CPU, opt, p, 0, 0};
    char err[256];
    assert_int_equal(backend_init(&cfg, err, sizeof err), 0);
    return backend_compute_dt();
}

static void check(const tensor *y, dtype dt, const double *want, int64_t n, const char *what) {
    assert_non_null(y);
    assert_int_equal(y->dt, dt);
    double e = ref_rel_err(y, want, n);
    if (!(e <= bound_for(dt))) fail_msg("%s in %s: rel err %g > %g", what, dtype_name(dt), e, bound_for(dt));
}

static void run_all(precision p) {
    uint64_t seed = 77;
    int64_t xn[4] = {2, 32, 9, 9}, wn[4] = {48, 32, 3, 3}, bn[1] = {48};
    tensor *x = ref_rand(&seed, 4, xn), *w = ref_rand(&seed, 4, wn), *b = ref_rand(&seed, 1, bn);
    double *want = alloc_ref(2 * 48 * 81);
    ref_conv2d(x, w, b, 1, 1, 1, want);
    for (opt_level opt = OPT_O1; opt <= OPT_O2; opt++) {
        dtype dt = use_precision(p, opt);
        tensor *y = op_conv2d(x, w, b, 1, 1, 1, ACT_NONE, NULL);
        check(y, dt, want, 2 * 48 * 81, "conv2d");
        /* Ops chain in the compute dtype: feed the output back. */
        tensor *z = op_group_norm(y, 8, NULL, NULL, 1e-5f, ACT_SILU);
        assert_non_null(z);
        assert_int_equal(z->dt, dt);
        tensor_free(z);
        tensor_free(y);
    }
    free(want);

    int64_t ln[3] = {2, 77, 320}, lw[2] = {640, 320}, lb[1] = {640};
    tensor *lx = ref_rand(&seed, 3, ln), *lwt = ref_rand(&seed, 2, lw), *lbt = ref_rand(&seed, 1, lb);
    want = alloc_ref(2 * 77 * 640);
    ref_linear(lx, lwt, lbt, want);
    dtype dt = use_precision(p, OPT_O2);
    tensor *y = op_linear(lx, lwt, lbt, ACT_NONE, NULL);
    check(y, dt, want, 2 * 77 * 640, "linear");
    tensor_free(y);
    free(want);

    int64_t qn[3] = {2, 300, 64};
    tensor *q = ref_rand(&seed, 3, qn), *k = ref_rand(&seed, 3, qn), *v = ref_rand(&seed, 3, qn);
    want = alloc_ref(2 * 300 * 64);
    ref_attention(q, k, v, 2, NULL, want);
    for (opt_level opt = OPT_O2; opt <= OPT_O3; opt++) {   /* primitives, then fused */
        dt = use_precision(p, opt);
        y = op_attention(q, k, v, 2, NULL);
        check(y, dt, want, 2 * 300 * 64, opt == OPT_O3 ? "fused attention" : "attention");
        tensor_free(y);
    }
    free(want);

    tensor *t[] = {x, w, b, lx, lwt, lbt, q, k, v};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

static void test_bf16(void **state) {
    (void)state;
    run_all(PREC_BF16);
}

static void test_fp16(void **state) {
    (void)state;
    run_all(PREC_FP16);
}

static void int8_check(const tensor *y, const double *want, int64_t n, const char *what) {
    assert_non_null(y);
    assert_int_equal(y->dt, DT_F32);
    double e = ref_rel_err(y, want, n);
    if (!(e <= 3e-2 && e > 1e-5)) fail_msg("%s in int8: rel err %g", what, e);
}

static void test_int8(void **state) {
    (void)state;
    uint64_t seed = 91;
    int64_t xn[4] = {2, 32, 9, 9}, wn[4] = {48, 32, 3, 3}, bn[1] = {48}, rn[4] = {2, 48, 9, 9};
    tensor *x = ref_rand(&seed, 4, xn), *w = ref_rand(&seed, 4, wn), *b = ref_rand(&seed, 1, bn);
    tensor *res = ref_rand(&seed, 4, rn);
    int64_t n = 2 * 48 * 81;
    double *want = alloc_ref(n);
    ref_conv2d(x, w, b, 1, 1, 1, want);
    for (int64_t i = 0; i < n; i++) want[i] = ref_act(want[i], ACT_SILU) + ((float *)res->data)[i];
    int64_t ln[3] = {2, 77, 320}, lw[2] = {640, 320}, lb[1] = {640};
    tensor *lx = ref_rand(&seed, 3, ln), *lwt = ref_rand(&seed, 2, lw), *lbt = ref_rand(&seed, 1, lb);
    double *lwant = alloc_ref(2 * 77 * 640);
    ref_linear(lx, lwt, lbt, lwant);
    for (int64_t i = 0; i < 2 * 77 * 640; i++) lwant[i] = ref_act(lwant[i], ACT_GELU);
    for (opt_level opt = OPT_O0; opt <= OPT_O2; opt++) {
        use_precision(PREC_INT8, opt);
        for (int rep = 0; rep < 2; rep++) {   /* the second call reuses the s8 weights */
            tensor *y = op_conv2d(x, w, b, 1, 1, 1, ACT_SILU, res);
            int8_check(y, want, n, "conv2d");
            tensor_free(y);
            y = op_linear(lx, lwt, lbt, ACT_GELU, NULL);
            int8_check(y, lwant, 2 * 77 * 640, "linear");
            tensor_free(y);
        }
    }
    /* 1x1 output with N > 1: the per-channel post-op operands broadcast right. */
    int64_t pn[4] = {2, 32, 3, 3};
    tensor *px = ref_rand(&seed, 4, pn);
    double *pwant = alloc_ref(2 * 48);
    ref_conv2d(px, w, b, 1, 0, 1, pwant);
    use_precision(PREC_INT8, OPT_O2);
    tensor *py = op_conv2d(px, w, b, 1, 0, 1, ACT_NONE, NULL);
    int8_check(py, pwant, 2 * 48, "conv2d 1x1 output");
    tensor_free(py);
    tensor_free(px);
    free(pwant);
    free(want);
    free(lwant);
    tensor *t[] = {x, w, b, res, lx, lwt, lbt};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) tensor_free(t[i]);
}

/* fp32 stays exact to 1e-5 after a lower precision ran (no state leaks between settings). */
static void test_back_to_fp32(void **state) {
    (void)state;
    assert_int_equal(use_precision(PREC_BF16, OPT_O2), use_precision(PREC_BF16, OPT_O2));
    assert_int_equal(use_precision(PREC_FP32, OPT_O2), DT_F32);
    run_all(PREC_FP32);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_fp16),
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_back_to_fp32),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    backend_shutdown();
    return rc;
}
