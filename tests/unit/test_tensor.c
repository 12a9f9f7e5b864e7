/* test_tensor.c -- tensor bookkeeping, float format conversions and the arena. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "tensor/arena.h"
#include "tensor/half.h"
#include "tensor/tensor.h"

static void test_dtypes(void **state) {
    (void)state;
    dtype dt;
    for (int i = 0; i < DT_COUNT; i++) {
        assert_int_equal(dtype_from_name(dtype_name((dtype)i), &dt), 0);
        assert_int_equal(dt, i);
    }
    assert_int_equal(dtype_from_name("F33", &dt), -1);
    assert_int_equal(dtype_size(DT_BF16), 2);
    assert_int_equal(dtype_size(DT_I64), 8);
    assert_string_equal(dtype_name(DT_F8_E4M3), "F8_E4M3");
}

static void test_new_view_reshape(void **state) {
    (void)state;
    int64_t ne[3] = {2, 3, 4};
    tensor *t = tensor_new(DT_F32, 3, ne);
    assert_non_null(t);
    assert_int_equal(tensor_numel(t), 24);
    assert_int_equal(t->nbytes, 96);
    assert_int_equal((uintptr_t)t->data % 64, 0);
    for (int i = 0; i < 24; i++) assert_true(((float *)t->data)[i] == 0.0f);
    int64_t r[2] = {-1, 6};
    assert_int_equal(tensor_reshape(t, 2, r), 0);
    assert_int_equal(t->ne[0], 4);
    assert_int_equal(t->ne[2], 1);
    int64_t bad[2] = {5, -1}, two[2] = {-1, -1};
    assert_int_equal(tensor_reshape(t, 2, bad), -1);
    assert_int_equal(tensor_reshape(t, 2, two), -1);
    float buf[6] = {0};
    int64_t vn[1] = {6};
    tensor *v = tensor_view(DT_F32, 1, vn, buf);
    assert_ptr_equal(v->data, buf);
    assert_int_equal(v->storage, T_BORROWED);
    tensor_free(v);
    tensor_free(t);
    int64_t huge[3] = {INT64_MAX / 2, 4, 4}, neg[1] = {-3};
    assert_null(tensor_new(DT_F32, 3, huge));
    assert_null(tensor_new(DT_F32, 1, neg));
    assert_null(tensor_new(DT_F32, 6, ne));
}

static void test_half_conversions(void **state) {
    (void)state;
    /* Every f16 value survives f16 -> f32 -> f16. */
    for (uint32_t h = 0; h < 0x10000; h++) {
        float f = half_to_f32((uint16_t)h);
        if (isnan(f)) continue;
        assert_int_equal(f32_to_half(f), h);
    }
    assert_true(half_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(half_to_f32(0x7bff) == 65504.0f);
    assert_int_equal(f32_to_half(65520.0f), 0x7c00);           /* rounds to inf */
    assert_int_equal(f32_to_half(1.0f + ldexpf(1.0f, -11)), 0x3c00);   /* tie to even */
    assert_int_equal(f32_to_half(ldexpf(1.0f, -25)), 0x0000);  /* tie to even (zero) */
    assert_int_equal(f32_to_half(ldexpf(3.0f, -25)), 0x0002);
    assert_int_equal(f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80);
    assert_int_equal(f32_to_bf16(1.0f + ldexpf(3.0f, -8)), 0x3f82);
    assert_true(bf16_to_f32(0xc040) == -3.0f);
    assert_true(f8e4m3_to_f32(0x7e) == 448.0f);
    assert_true(isnan(f8e4m3_to_f32(0x7f)));
    assert_true(f8e4m3_to_f32(0x01) == ldexpf(1.0f, -9));
    assert_true(f8e5m2_to_f32(0x7b) == 57344.0f);
}

static void test_to_f32(void **state) {
    (void)state;
    int64_t ne[1] = {4};
    uint16_t h[4] = {0x3c00, 0xc000, 0x3555, 0x0000};
    tensor *v = tensor_view(DT_F16, 1, ne, h), *f = tensor_to_f32(v);
    assert_true(((float *)f->data)[1] == -2.0f);
    assert_true(((float *)f->data)[2] == half_to_f32(0x3555));
    tensor_free(f);
    tensor_free(v);
    int64_t i64[4] = {-5, 0, 7, 1 << 20};
    v = tensor_view(DT_I64, 1, ne, i64);
    f = tensor_to_f32(v);
    assert_true(((float *)f->data)[0] == -5.0f);
    assert_true(((float *)f->data)[3] == 1048576.0f);
    tensor_free(f);
    tensor_free(v);
}

static void test_arena(void **state) {
    (void)state;
    arena *a = arena_new();
    int64_t ne[2] = {1000, 1000};
    tensor *t1 = arena_tensor(a, DT_F32, 2, ne);
    tensor *t2 = arena_tensor(a, DT_F32, 2, ne);
    assert_non_null(t1);
    assert_int_equal(t1->storage, T_ARENA);
    assert_int_equal((uintptr_t)t2->data % 64, 0);
    memset(t1->data, 1, t1->nbytes);
    memset(t2->data, 2, t2->nbytes);
    /* Growth never moves live tensors. */
    int64_t big[2] = {4000, 2000};
    tensor *t3 = arena_tensor(a, DT_F32, 2, big);
    assert_non_null(t3);
    assert_int_equal(((unsigned char *)t1->data)[12345], 1);
    size_t cap = arena_capacity(a), peak = arena_peak(a);
    assert_true(peak >= 3 * 4000000);
    tensor_free(t1);   /* a no-op for arena tensors */
    for (int i = 0; i < 3; i++) {
        arena_reset(a);
        arena_tensor(a, DT_F32, 2, ne);
        arena_tensor(a, DT_F32, 2, ne);
        arena_tensor(a, DT_F32, 2, big);
        assert_int_equal(arena_capacity(a), cap);
    }
    /* Marks give scratch back. */
    arena_reset(a);
    tensor *keep = arena_tensor(a, DT_F32, 2, ne);
    arena_mark m = arena_get_mark(a);
    arena_tensor(a, DT_F32, 2, big);
    size_t before = arena_peak(a);
    arena_release(a, m);
    tensor *again = arena_tensor(a, DT_F32, 2, big);
    assert_true(arena_peak(a) <= before);
    assert_ptr_not_equal(again->data, keep->data);
    tensor *k = tensor_keep(keep);
    assert_int_equal(k->storage, T_OWNED);
    tensor_free(k);
    /* The thread's current arena. */
    assert_null(arena_use(a));
    assert_ptr_equal(arena_current_get(), a);
    assert_ptr_equal(arena_use(NULL), a);
    arena_free(a);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtypes),           cmocka_unit_test(test_new_view_reshape),
        cmocka_unit_test(test_half_conversions), cmocka_unit_test(test_to_f32),
        cmocka_unit_test(test_arena),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
